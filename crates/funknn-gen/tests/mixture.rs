//! The Gaussian-mixture sampling prior: its density against the closed form, its samples'
//! statistics, EM recovering a planted mixture, the gradient of its density against finite
//! differences, and its place in a generator folder (round trip, flow kept for the inverse
//! problems, clear errors).

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::max_abs_diff;
use funknn_gen::{
    fit_mixture, standard_normal, AutoencoderConfig, FlowConfig, GaussianMixture, Generator,
    GeneratorConfig, LatentPrior, MixtureConfig, MixtureFit, SamplingPrior,
};

const CPU: Device = Device::Cpu;

fn config(d: usize, k: usize) -> MixtureConfig {
    MixtureConfig {
        latent_dim: d,
        components: k,
        temperature: None,
    }
}

/// Three 2-D components, far apart, with different shapes.
fn planted() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let weights = vec![0.2, 0.5, 0.3];
    let means = vec![-6.0, 0.0, 0.0, 5.0, 6.0, -1.0];
    let tril = vec![
        1.0, 0.0, 0.5, 0.8, // L_0
        0.6, 0.0, -0.3, 0.4, // L_1
        1.5, 0.0, 0.0, 0.2, // L_2
    ];
    (weights, means, tril)
}

fn mixture(dtype: DType) -> GaussianMixture {
    let (w, m, l) = planted();
    GaussianMixture::from_parts(&config(2, 3), &w, &m, &l, dtype, &CPU).unwrap()
}

/// `log N(z; μ, L Lᵀ)` in 2-D by hand.
fn log_normal_2d(z: [f64; 2], mu: &[f64], l: &[f64]) -> f64 {
    let (a, c, d) = (l[0], l[2], l[3]);
    let y0 = (z[0] - mu[0]) / a;
    let y1 = (z[1] - mu[1] - c * y0) / d;
    -0.5 * (y0 * y0 + y1 * y1) - (a * d).ln() - (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn density_is_the_weighted_sum_of_the_closed_form_gaussians() {
    let (w, m, l) = planted();
    let g = mixture(DType::F64);
    let points = [
        [0.0, 0.0],
        [-6.0, 0.5],
        [3.0, 2.0],
        [6.0, -1.1],
        [-1.0, 7.0],
    ];
    let z = Tensor::from_vec(
        points.iter().flatten().copied().collect::<Vec<f64>>(),
        (5, 2),
        &CPU,
    )
    .unwrap();
    let got: Vec<f64> = g.log_prob(&z).unwrap().to_vec1().unwrap();
    for (p, got) in points.iter().zip(got) {
        let want: f64 = (0..3)
            .map(|k| w[k] * log_normal_2d(*p, &m[2 * k..2 * k + 2], &l[4 * k..4 * k + 4]).exp())
            .sum::<f64>()
            .ln();
        assert!((got - want).abs() < 1e-12, "{p:?}: {got} vs {want}");
    }
    // The mean is Σ π_k μ_k.
    let mean: Vec<f64> = g
        .mean_latent()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!((mean[0] - (0.2 * -6.0 + 0.3 * 6.0)).abs() < 1e-12);
    assert!((mean[1] - (0.5 * 5.0 - 0.3)).abs() < 1e-12);
}

#[test]
fn samples_have_the_mixtures_weights_means_and_covariances() {
    let (w, m, l) = planted();
    let g = mixture(DType::F64);
    let n = 60_000;
    let base = standard_normal(n, 2, 7).unwrap();
    for temperature in [1.0, 0.5] {
        let z: Vec<f64> = g
            .sample_from(&base, temperature)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // Well separated: the nearest mean says the component.
        let mut groups: Vec<Vec<[f64; 2]>> = vec![Vec::new(); 3];
        for p in z.chunks(2) {
            let k = (0..3)
                .min_by(|&a, &b| {
                    let da = (p[0] - m[2 * a]).powi(2) + (p[1] - m[2 * a + 1]).powi(2);
                    let db = (p[0] - m[2 * b]).powi(2) + (p[1] - m[2 * b + 1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            groups[k].push([p[0], p[1]]);
        }
        for k in 0..3 {
            let g = &groups[k];
            let share = g.len() as f64 / n as f64;
            assert!((share - w[k]).abs() < 0.01, "component {k}: share {share}");
            let c = g.len() as f64;
            let mean = [0, 1].map(|j| g.iter().map(|p| p[j]).sum::<f64>() / c);
            let cov = |a: usize, b: usize| {
                g.iter()
                    .map(|p| (p[a] - mean[a]) * (p[b] - mean[b]))
                    .sum::<f64>()
                    / c
            };
            let lk = &l[4 * k..4 * k + 4];
            let t2 = temperature * temperature;
            let want = [
                lk[0] * lk[0] * t2,
                lk[0] * lk[2] * t2,
                (lk[2] * lk[2] + lk[3] * lk[3]) * t2,
            ];
            let got = [cov(0, 0), cov(0, 1), cov(1, 1)];
            for j in 0..2 {
                assert!((mean[j] - m[2 * k + j]).abs() < 0.03, "component {k} mean");
            }
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() < 0.04 * want[0].max(want[2]),
                    "component {k}: {got:?} vs {want:?}"
                );
            }
        }
    }
    // A row's sample depends on its own base numbers only.
    let all = g.sample_from(&base.narrow(0, 0, 10).unwrap(), 1.0).unwrap();
    let few = g.sample_from(&base.narrow(0, 3, 2).unwrap(), 1.0).unwrap();
    assert_eq!(max_abs_diff(&all.narrow(0, 3, 2).unwrap(), &few), 0.0);
    assert!(g.sample_from(&base, 0.0).is_err());
    assert!(g
        .sample_from(&Tensor::zeros((4, 3), DType::F32, &CPU).unwrap(), 1.0)
        .is_err());
}

#[test]
fn em_recovers_a_planted_mixture_and_never_lowers_the_likelihood() {
    let (w, m, _) = planted();
    let truth = mixture(DType::F32);
    let z = truth
        .sample_from(&standard_normal(6000, 2, 1).unwrap(), 1.0)
        .unwrap();
    let fit = MixtureFit {
        components: 3,
        ..Default::default()
    };
    let (got, report) = fit_mixture(&z, &fit, |_, _| {}).unwrap();
    assert!(report.converged);
    for pair in report.log_likelihood.windows(2) {
        assert!(pair[1] >= pair[0] - 1e-4, "{:?}", report.log_likelihood);
    }
    let means: Vec<f32> = got.means().flatten_all().unwrap().to_vec1().unwrap();
    for k in 0..3 {
        // The fitted component nearest to the planted mean.
        let j = (0..3)
            .min_by(|&a, &b| {
                let d = |i: usize| {
                    (means[2 * i] as f64 - m[2 * k]).powi(2)
                        + (means[2 * i + 1] as f64 - m[2 * k + 1]).powi(2)
                };
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        assert!((got.weights()[j] - w[k]).abs() < 0.02, "weight {k}");
        assert!((means[2 * j] as f64 - m[2 * k]).abs() < 0.06, "mean {k}");
        assert!(
            (means[2 * j + 1] as f64 - m[2 * k + 1]).abs() < 0.06,
            "mean {k}"
        );
    }
    // The fitted density is as good as the truth's on fresh samples (within sampling noise).
    let fresh = truth
        .sample_from(&standard_normal(6000, 2, 2).unwrap(), 1.0)
        .unwrap();
    let mean_lp = |g: &GaussianMixture| -> f32 {
        g.log_prob(&fresh)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    assert!((mean_lp(&got) - mean_lp(&truth)).abs() < 0.02);
}

#[test]
fn density_gradient_matches_finite_differences() {
    let g = mixture(DType::F64);
    let z0 = vec![0.3, 1.7, -2.0, 0.4];
    let z = Var::from_vec(z0.clone(), (2, 2), &CPU).unwrap();
    let grads = g
        .log_prob(z.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let grad: Vec<f64> = grads
        .get(&z)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let f = |v: &[f64]| -> f64 {
        let t = Tensor::from_vec(v.to_vec(), (2, 2), &CPU).unwrap();
        g.log_prob(&t)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let h = 1e-6;
    for i in 0..4 {
        let (mut a, mut b) = (z0.clone(), z0.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (f(&a) - f(&b)) / (2.0 * h);
        assert!(
            (grad[i] - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "{i}: {} vs {fd}",
            grad[i]
        );
    }
}

#[test]
fn bad_parts_and_fits_are_refused() {
    let (w, m, l) = planted();
    let c = config(2, 3);
    let err = |w: &[f64], m: &[f64], l: &[f64]| {
        GaussianMixture::from_parts(&c, w, m, l, DType::F32, &CPU)
            .unwrap_err()
            .to_string()
    };
    assert!(err(&[0.2, 0.0, 0.3], &m, &l).contains("positive"));
    assert!(err(&w, &m[..4], &l).contains("expected 6"));
    let mut bad = l.clone();
    bad[3] = -0.1;
    assert!(err(&w, &m, &bad).contains("diagonal entry 1"));
    let mut nan = m.clone();
    nan[0] = f64::NAN;
    assert!(err(&w, &nan, &l).contains("not finite"));
    let few = Tensor::zeros((2, 2), DType::F32, &CPU).unwrap();
    let fit = MixtureFit {
        components: 3,
        ..Default::default()
    };
    assert!(fit_mixture(&few, &fit, |_, _| {})
        .unwrap_err()
        .to_string()
        .contains("2 latents"));
    let nan = Tensor::from_vec(vec![f32::NAN; 20], (10, 2), &CPU).unwrap();
    assert!(fit_mixture(&nan, &fit, |_, _| {})
        .unwrap_err()
        .to_string()
        .contains("not finite"));
    let zero = MixtureFit {
        components: 0,
        ..Default::default()
    };
    let z = Tensor::zeros((10, 2), DType::F32, &CPU).unwrap();
    assert!(fit_mixture(&z, &zero, |_, _| {}).is_err());
}

fn tiny_generator() -> Generator {
    let config = GeneratorConfig {
        architecture: funknn_gen::ARCHITECTURE.into(),
        autoencoder: AutoencoderConfig {
            latent_dim: 2,
            resolution: 32,
            channels: 1,
            width: 0.125,
        },
        flow: FlowConfig {
            latent_dim: 2,
            depth: 1,
        },
        source: None,
        temperature: Some(1.25),
        mixture: None,
    };
    Generator::random(&config, 3, DType::F32, &CPU).unwrap().0
}

#[test]
fn a_generator_folder_carries_its_mixture_and_keeps_its_flow() {
    let dir = std::env::temp_dir().join(format!("funknn-gen-mixture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let g = tiny_generator().with_mixture(mixture(DType::F32)).unwrap();
    assert_eq!(g.config().sampling_temperature(), 1.0);
    assert!(matches!(g.sampling_prior(), SamplingPrior::Mixture(_)));
    g.save(&dir, DType::F32).unwrap();
    let back = Generator::load(&dir, DType::F32, &CPU).unwrap();
    let base = standard_normal(50, 2, 4).unwrap();
    let a = g.sampling_prior().sample_from(&base, 1.0).unwrap();
    let b = back.sampling_prior().sample_from(&base, 1.0).unwrap();
    let diff = max_abs_diff(&a, &b);
    assert!(diff < 1e-6, "{diff}");
    // The flow is untouched: the inverse problems see the same prior as before.
    let flow_before = tiny_generator().prior.sample_from(&base, 1.0).unwrap();
    let flow_after = back.prior.sample_from(&base, 1.0).unwrap();
    assert_eq!(max_abs_diff(&flow_before, &flow_after), 0.0);
    let flow_only = back.clone().without_mixture();
    assert!(matches!(flow_only.sampling_prior(), SamplingPrior::Flow(_)));
    assert_eq!(flow_only.config().sampling_temperature(), 1.25);
    assert!(!flow_only
        .tensors()
        .keys()
        .any(|k| k.starts_with("mixture.")));

    // A wrong-shaped mixture tensor is an error naming it.
    let mut tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &CPU).unwrap();
    tensors.insert(
        "mixture.scale_tril".into(),
        Tensor::zeros((3, 4), DType::F32, &CPU).unwrap(),
    );
    let err = Generator::from_tensors(back.config(), tensors, DType::F32, &CPU, &dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("scale_tril"), "{err}");
    // A mixture of another dimension is refused.
    let wide = GaussianMixture::from_parts(
        &config(3, 1),
        &[1.0],
        &[0.0; 3],
        &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        DType::F32,
        &CPU,
    )
    .unwrap();
    assert!(tiny_generator().with_mixture(wide).is_err());
    // A mixture fitted in f32 joins an f64 generator in f64.
    let (g64, _) = Generator::random(tiny_generator().config(), 3, DType::F64, &CPU).unwrap();
    let g64 = g64.with_mixture(mixture(DType::F32)).unwrap();
    let z = g64.sampling_prior().sample_from(&base, 1.0).unwrap();
    assert_eq!(z.dtype(), DType::F64);
    let images = g64.autoencoder.decoder.forward(&z).unwrap();
    assert_eq!(images.dims(), &[50, 1, 32, 32]);
    assert!(g64.tensors().values().all(|t| t.dtype() == DType::F64));
    std::fs::remove_dir_all(&dir).unwrap();
}
