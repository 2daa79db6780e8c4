//! The generative-prior solvers on tiny synthetic problems (random generator and FunkNN, no
//! shipped weights): the loss's gradient with respect to the latent against finite
//! differences, recovery of a planted solution for CT, gradients and Poisson, and the
//! errors on bad input.

use candle_core::{DType, Device, Tensor, Var};
use funknn_core::{Activation, Config, FunkNN, JetOrder, KernelKind};
use funknn_gen::{
    AutoencoderConfig, Decoder, FlowConfig, FunctionalGenerator, Generator, GeneratorConfig,
    RealNvp,
};
use funknn_inverse::*;

const LATENT: usize = 8;

/// A random generator (32², latent 8) with a trainable decoder, and a smooth FunkNN.
fn prior(channels: usize) -> (FunctionalGenerator<RealNvp, Decoder>, Vec<Var>) {
    prior_in(channels, DType::F32)
}

/// [`prior`] in `dtype` (f64 runs the graph; f32 the graph-free frozen jet).
fn prior_in(channels: usize, dtype: DType) -> (FunctionalGenerator<RealNvp, Decoder>, Vec<Var>) {
    let config = GeneratorConfig {
        architecture: funknn_gen::ARCHITECTURE.into(),
        autoencoder: AutoencoderConfig {
            latent_dim: LATENT,
            resolution: 32,
            channels,
            width: 0.25,
        },
        flow: FlowConfig {
            latent_dim: LATENT,
            depth: 2,
        },
        source: None,
        temperature: None,
        mixture: None,
    };
    let (generator, _) = Generator::random(&config, 5, dtype, &Device::Cpu).unwrap();
    let funknn_config = Config {
        activation: Activation::Gelu,
        kernel: KernelKind::Bspline,
        channels,
        ..Config::default()
    };
    let (funknn, _) = FunkNN::random(&funknn_config, 1, dtype, &Device::Cpu).unwrap();
    let (decoder, vars) = generator.trainable_decoder().unwrap();
    let f = FunctionalGenerator::new(generator.prior, decoder, funknn).unwrap();
    (f, vars.into_iter().map(|(_, v)| v).collect())
}

fn planted_base() -> Tensor {
    Tensor::new(
        &[[0.8f32, -0.5, 0.3, 1.1, -0.9, 0.2, -0.4, 0.6]],
        &Device::Cpu,
    )
    .unwrap()
}

fn grid_points(n: usize) -> Vec<[f32; 2]> {
    let g = ImageGrid::square(n).unwrap();
    (0..n)
        .flat_map(|i| {
            (0..n).map(move |j| {
                let c = g.centre(i, j);
                [c[0] as f32, c[1] as f32]
            })
        })
        .collect()
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The forward models of the three problems, observing the planted solution.
fn problems(
    f: &FunctionalGenerator<RealNvp, Decoder>,
    dtype: DType,
) -> Vec<(&'static str, Box<dyn ForwardModel>)> {
    let solver = PriorSolver::new(f, vec![]);
    let latent = solver
        .latent_of(&planted_base().to_dtype(dtype).unwrap())
        .unwrap();
    let n = 12;
    let points = grid_points(n);
    let pts = prior::points_tensor("points", &points).unwrap();
    let jet = f.jet(&latent, &pts, JetOrder::Laplacian).unwrap();
    // CT on a 12² grid.
    let rt = RayTransform::new(
        ImageGrid::square(n).unwrap(),
        ParallelGeometry::uniform(30, 140.0, n).unwrap(),
    )
    .unwrap();
    let image = to_vec(&jet.value().unwrap());
    let sinogram = LinearOperator::<f32>::apply_vec(&rt, &image).unwrap();
    let ct = CtForward::new(rt, &sinogram).unwrap();
    // Gradients at the grid's pixel centres.
    let grad =
        GradientObservations::new(points.clone(), 1, to_vec(&jet.gradient().unwrap().unwrap()))
            .unwrap();
    let gradient = GradientForward::new(&grad).unwrap();
    // Laplacian inside, values on the boundary.
    let boundary: Vec<[f32; 2]> = (0..n)
        .flat_map(|k| {
            let t = (k as f32 + 0.5) / n as f32;
            [[t, 0.0], [1.0, t], [t, 1.0], [0.0, t]]
        })
        .collect();
    let bpts = prior::points_tensor("boundary", &boundary).unwrap();
    let bvals = to_vec(
        &f.jet(&latent, &bpts, JetOrder::Value)
            .unwrap()
            .value()
            .unwrap(),
    );
    let obs = PoissonObservations::new(
        points,
        1,
        to_vec(&jet.laplacian().unwrap().unwrap()),
        boundary,
        bvals,
    )
    .unwrap();
    let poisson = PoissonForward::new(&obs, 10.0).unwrap();
    vec![
        ("ct", Box::new(ct)),
        ("gradient", Box::new(gradient)),
        ("poisson", Box::new(poisson)),
    ]
}

#[test]
fn loss_gradients_with_respect_to_the_latent_match_finite_differences() {
    // In f64, where a step of 1e-6 resolves the gradient between the kinks of the decoder's
    // ReLUs (the f32 frozen jet equals this graph: funknn-core's frozen_jet tests).
    let (f, _) = prior_in(1, DType::F64);
    let solver = PriorSolver::new(&f, vec![]);
    let config = PriorSolverConfig {
        tv_weight: 0.01,
        likelihood_weight: 0.01,
        range_weight: 0.5,
        ..PriorSolverConfig::default()
    };
    let base0 = Tensor::new(
        &[[0.1f64, -0.2, 0.05, 0.3, 0.0, -0.1, 0.2, 0.1]],
        &Device::Cpu,
    )
    .unwrap();
    let direction = Tensor::new(
        &[[0.3f64, 0.1, -0.4, 0.2, 0.5, -0.3, 0.1, 0.2]],
        &Device::Cpu,
    )
    .unwrap();
    for (name, forward) in problems(&f, DType::F64) {
        let var = Var::from_tensor(&base0).unwrap();
        let (loss, _, _, _) = solver
            .objective(forward.as_ref(), var.as_tensor(), &config)
            .unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(var.as_tensor()).unwrap();
        let analytic: f64 = (g * &direction)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar()
            .unwrap();
        let at = |t: f64| -> f64 {
            let b = (&base0 + (&direction * t).unwrap()).unwrap();
            let (l, _, _, _) = solver.objective(forward.as_ref(), &b, &config).unwrap();
            l.to_dtype(DType::F64).unwrap().to_scalar().unwrap()
        };
        let h = 1e-6;
        let fd = (at(h) - at(-h)) / (2.0 * h);
        let rel = (analytic - fd).abs() / fd.abs().max(1e-6);
        assert!(
            rel < 1e-5,
            "{name}: backprop {analytic:e}, finite differences {fd:e} (relative {rel:e})"
        );
    }
}

#[test]
fn each_solver_recovers_a_planted_solution() {
    let (f, vars) = prior(1);
    let solver = PriorSolver::new(&f, vars);
    let config = PriorSolverConfig {
        latent_steps: 150,
        latent_lr: 0.05,
        decoder_steps: 0,
        ..PriorSolverConfig::default()
    };
    let truth_latent = solver.latent_of(&planted_base()).unwrap();
    let check = grid_points(16);
    let check_pts = prior::points_tensor("check", &check).unwrap();
    let truth = to_vec(
        &f.jet(&truth_latent, &check_pts, JetOrder::Value)
            .unwrap()
            .value()
            .unwrap(),
    );
    for (name, forward) in problems(&f, DType::F32) {
        let mut first = None;
        let solution = solver
            .solve(forward.as_ref(), &config, &mut |s| {
                first.get_or_insert(s.misfit);
                Ok(())
            })
            .unwrap();
        let last = solution.losses.last().unwrap().1;
        let first = first.unwrap();
        assert!(
            last < 1e-2 * first,
            "{name}: the misfit fell from {first:e} to {last:e} only"
        );
        let image = to_vec(
            &f.jet(&solution.latent, &check_pts, JetOrder::Value)
                .unwrap()
                .value()
                .unwrap(),
        );
        let p = psnr(&image, &truth, None).unwrap();
        assert!(
            p > 30.0,
            "{name}: the recovered image is at {p:.1} dB from the planted one"
        );
    }
}

#[test]
fn phase_two_moves_the_decoder_and_lowers_the_misfit() {
    let (f, vars) = prior(1);
    let before: Vec<f32> = to_vec(vars[0].as_tensor());
    let solver = PriorSolver::new(&f, vars.clone());
    let (_, forward) = problems(&f, DType::F32).into_iter().next().unwrap();
    let config = PriorSolverConfig {
        latent_steps: 5,
        decoder_steps: 20,
        decoder_lr: 1e-5,
        ..PriorSolverConfig::default()
    };
    let solution = solver
        .solve(forward.as_ref(), &config, &mut |_| Ok(()))
        .unwrap();
    let after: Vec<f32> = to_vec(vars[0].as_tensor());
    assert!(
        before.iter().zip(&after).any(|(a, b)| a != b),
        "the decoder did not change"
    );
    let m = &solution.losses;
    assert!(
        m[m.len() - 1].1 < m[5].1,
        "phase 2 did not lower the misfit: {m:?}"
    );
    // The latent stayed where phase 1 left it.
    assert_eq!(solution.latent.dims(), &[1, LATENT]);
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    // Points outside the square, non-finite values, mismatched shapes.
    let err = GradientObservations::new(vec![[0.5, 1.5]], 1, vec![0.0, 0.0]).unwrap_err();
    assert!(err.to_string().contains("outside the unit square"), "{err}");
    let err = GradientObservations::new(vec![[0.5, f32::NAN]], 1, vec![0.0, 0.0]).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    let err = GradientObservations::new(vec![[0.5, 0.5]], 1, vec![0.0]).unwrap_err();
    assert!(err.to_string().contains("gradient"), "{err}");
    let err = GradientObservations::new(vec![[0.5, 0.5]], 1, vec![0.0, f32::INFINITY]).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    let err = PoissonObservations::new(vec![[0.5, 0.5]], 1, vec![1.0], vec![[0.0, 0.5]], vec![])
        .unwrap_err();
    assert!(err.to_string().contains("boundary_values"), "{err}");
    // A generator of one channel and observations of three.
    let (f, _) = prior(1);
    let obs = GradientObservations::new(vec![[0.5, 0.5]], 3, vec![0.0; 6]).unwrap();
    let forward = GradientForward::new(&obs).unwrap();
    let err = PriorSolver::new(&f, vec![])
        .solve(
            &forward,
            &PriorSolverConfig {
                decoder_steps: 0,
                ..Default::default()
            },
            &mut |_| Ok(()),
        )
        .unwrap_err();
    assert!(err.to_string().contains("channel"), "{err}");
    // Phase 2 without the decoder's variables.
    let obs = GradientObservations::new(vec![[0.5, 0.5]], 1, vec![0.0; 2]).unwrap();
    let forward = GradientForward::new(&obs).unwrap();
    let err = PriorSolver::new(&f, vec![])
        .solve(&forward, &PriorSolverConfig::default(), &mut |_| Ok(()))
        .unwrap_err();
    assert!(err.to_string().contains("decoder"), "{err}");
}

#[test]
fn observation_files_round_trip_and_name_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("funknn-obs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let g = GradientObservations::new(vec![[0.25, 0.5], [1.0, 0.0]], 1, vec![1.0, 2.0, 3.0, 4.0])
        .unwrap();
    let path = dir.join("g.safetensors");
    g.save(&path).unwrap();
    assert_eq!(GradientObservations::load(&path).unwrap(), g);
    let p = PoissonObservations::new(
        vec![[0.3, 0.3]],
        1,
        vec![-2.0],
        vec![[0.0, 0.5], [1.0, 0.5]],
        vec![0.0, 0.1],
    )
    .unwrap();
    let path = dir.join("p.safetensors");
    p.save(&path).unwrap();
    assert_eq!(PoissonObservations::load(&path).unwrap(), p);
    // A gradient file read as Poisson data: the missing tensor is named.
    let err = PoissonObservations::load(&dir.join("g.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("boundary_points"), "{err}");
    let err = GradientObservations::load(&dir.join("missing.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn simulated_gradients_are_the_interpolants_and_sparse_keeps_the_largest() {
    // u = a smooth ramp sampled on 16²: its B-spline interpolant's gradient is nearly (1, 0)
    // inside.
    let pixels: Vec<f32> = (0..256).map(|k| ((k % 16) as f32 + 0.5) / 16.0).collect();
    let image = ImagePhantom::new(&pixels, 1, 16, 16).unwrap();
    let grid = ImageGrid::square(32).unwrap();
    let dense = simulate_gradient(&image, &grid, None, None, 0).unwrap();
    assert_eq!(dense.points.len(), 1024);
    let centre = 16 * 32 + 16;
    assert!((dense.gradient[2 * centre] - 1.0).abs() < 1e-4);
    assert!(dense.gradient[2 * centre + 1].abs() < 1e-4);
    let sparse = simulate_gradient(&image, &grid, Some(0.25), None, 0).unwrap();
    assert_eq!(sparse.points.len(), 256);
    let mag = |g: &[f32]| -> Vec<f32> { g.chunks(2).map(|v| v[0] * v[0] + v[1] * v[1]).collect() };
    let (all, kept) = (mag(&dense.gradient), mag(&sparse.gradient));
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let least_kept = kept.iter().cloned().fold(f32::INFINITY, f32::min);
    assert!(least_kept >= sorted[255] - 1e-6);
    let err = simulate_gradient(&image, &grid, Some(1.5), None, 0).unwrap_err();
    assert!(err.to_string().contains("sparse"), "{err}");
    let poisson = simulate_poisson(
        &image,
        PoissonSampling {
            interior: 100,
            boundary_per_side: 8,
        },
        Some(30.0),
        1,
    )
    .unwrap();
    assert_eq!(
        (poisson.points.len(), poisson.boundary_points.len()),
        (100, 32)
    );
}

#[test]
fn point_operators_are_exact_transposes_and_tikhonov_integrates_gradients() {
    let grid = ImageGrid::new(11, 13).unwrap();
    let mut rng = funknn_core::Rng::new(4);
    let points: Vec<[f32; 2]> = (0..200)
        .map(|_| [rng.uniform() as f32, rng.uniform() as f32])
        .collect();
    for q in [
        PointQuantity::Value,
        PointQuantity::Gradient,
        PointQuantity::Laplacian,
    ] {
        let op = PointOperator::new(&grid, &points, q).unwrap();
        let x: Vec<f64> = (0..grid.len()).map(|_| rng.normal()).collect();
        let y: Vec<f64> = (0..LinearOperator::<f64>::range_len(&op))
            .map(|_| rng.normal())
            .collect();
        let ax = op.apply_vec(&x).unwrap();
        let aty = op.adjoint_vec(&y).unwrap();
        let lhs: f64 = ax.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&aty).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0),
            "{q:?}: {lhs} vs {rhs}"
        );
    }
    // Dense central-difference gradients of an image integrate back to it (up to the
    // constant, fixed by the border).
    let n = 24;
    let g = ImageGrid::square(n).unwrap();
    let truth: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = ((k / n) as f64, (k % n) as f64);
            (-(((i - 11.0).powi(2) + (j - 12.5).powi(2)) / 20.0)).exp()
        })
        .collect();
    let op = PointOperator::new(&g, &grid_points(n), PointQuantity::Gradient).unwrap();
    let data = op.apply_vec(&truth).unwrap();
    let config = TikhonovConfig {
        lambda: 0.0,
        iterations: 5000,
        tolerance: 1e-12,
    };
    let (mut x, _) = tikhonov_reconstruct(&op, &data, &config).unwrap();
    zero_border_mean(&mut x, &g).unwrap();
    let mut t = truth.clone();
    zero_border_mean(&mut t, &g).unwrap();
    let p = psnr(&x, &t, None).unwrap();
    assert!(p > 40.0, "least-squares integration at {p:.1} dB");
}
