//! One iteration of the generative-prior solvers, beside `benches/official/inverse_step.py`
//! (the official `IP_solver.py` loops on this CPU, random weights):
//! - CT at 128² and 256²: the latent through the flow and a 64² grey decoder (official
//!   widths), the MLP ReLU FunkNN rendered at every pixel centre, the grid ray transform
//!   (200 angles in ±70°, N bins), the misfit, backward, Adam;
//! - the gradient problem: 10,000 points, sine MLP FunkNN (RGB, cubic convolution kernel, as
//!   the official derivative experiments), misfit of ∇u plus the TV term, backward, Adam;
//!   and the same with a Laplacian misfit.
//!
//! `cargo bench -p funknn-benches --bench inverse`

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use criterion::{criterion_group, criterion_main, Criterion};
use funknn_core::{Activation, Config, FunkNN, KernelKind, Network, Rng};
use funknn_gen::{
    AutoencoderConfig, Decoder, FlowConfig, FunctionalGenerator, Generator, GeneratorConfig,
    RealNvp,
};
use funknn_inverse::{
    CtForward, ForwardModel, GradientForward, GradientObservations, ImageGrid, ParallelGeometry,
    PoissonForward, PoissonObservations, PriorSolver, PriorSolverConfig, RayTransform,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn prior(
    channels: usize,
    activation: Activation,
    kernel: KernelKind,
) -> FunctionalGenerator<RealNvp, Decoder> {
    let config = GeneratorConfig {
        architecture: funknn_gen::ARCHITECTURE.into(),
        autoencoder: AutoencoderConfig {
            latent_dim: 256,
            resolution: 64,
            channels,
            width: 1.0,
        },
        flow: FlowConfig {
            latent_dim: 256,
            depth: 5,
        },
        source: None,
        temperature: None,
        mixture: None,
    };
    // Saved and loaded again, as `funknn solve` loads a generator: weights that are
    // constants, not variables, so that the latent phase computes no weight gradients.
    let (generator, _) = Generator::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
    let dir = std::env::temp_dir().join(format!("funknn-bench-generator-{}", std::process::id()));
    generator.save(&dir, DType::F32).unwrap();
    let generator = Generator::load(&dir, DType::F32, &Device::Cpu).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let funknn_config = Config {
        network: Network::Mlp,
        activation,
        kernel,
        channels,
        ..Config::default()
    };
    let (funknn, _) = FunkNN::random(&funknn_config, 0, DType::F32, &Device::Cpu).unwrap();
    FunctionalGenerator::new(generator.prior, generator.autoencoder.decoder, funknn).unwrap()
}

fn random_points(n: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| [rng.uniform() as f32, rng.uniform() as f32])
        .collect()
}

/// One latent-phase step: objective, backward, Adam.
fn bench_step(
    c: &mut Criterion,
    name: &str,
    f: &FunctionalGenerator<RealNvp, Decoder>,
    forward: &dyn ForwardModel,
    config: &PriorSolverConfig,
) {
    let solver = PriorSolver::new(f, vec![]);
    let base = Var::from_tensor(&solver.start(config).unwrap()).unwrap();
    let params = ParamsAdamW {
        lr: config.latent_lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vec![base.clone()], params).unwrap();
    let mut g = c.benchmark_group("prior_step");
    g.sample_size(10);
    g.bench_function(name, |b| {
        b.iter(|| {
            let (loss, ..) = solver.objective(forward, base.as_tensor(), config).unwrap();
            opt.backward_step(&loss).unwrap();
        })
    });
    g.finish();
}

fn ct(c: &mut Criterion) {
    funknn_benches::tune_runtime();
    let f = prior(1, Activation::Relu, KernelKind::Bicubic);
    for n in [128, 256] {
        let rt = RayTransform::new(
            ImageGrid::square(n).unwrap(),
            ParallelGeometry::limited_view(n).unwrap(),
        )
        .unwrap();
        let sinogram = Tensor::rand(0f32, 1., 200 * n, &Device::Cpu)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let forward = CtForward::new(rt, &sinogram).unwrap();
        let config = PriorSolverConfig {
            latent_lr: 0.1,
            ..Default::default()
        };
        bench_step(c, &format!("ct_{n}"), &f, &forward, &config);
    }
}

fn derivatives(c: &mut Criterion) {
    funknn_benches::tune_runtime();
    let f = prior(3, Activation::Sin, KernelKind::CubicConv);
    let points = random_points(10_000, 1);
    let config = PriorSolverConfig {
        latent_lr: 1e-2,
        tv_weight: 1.0,
        ..Default::default()
    };
    let g = Tensor::randn(0f32, 1., 10_000 * 6, &Device::Cpu)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let obs = GradientObservations::new(points.clone(), 3, g).unwrap();
    bench_step(
        c,
        "gradient_10k",
        &f,
        &GradientForward::new(&obs).unwrap(),
        &config,
    );
    let l = Tensor::randn(0f32, 1., 10_000 * 3, &Device::Cpu)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let boundary = vec![[0.0f32, 0.5]];
    let obs = PoissonObservations::new(points, 3, l, boundary, vec![0.0; 3]).unwrap();
    bench_step(
        c,
        "laplacian_10k",
        &f,
        &PoissonForward::new(&obs, 1.0).unwrap(),
        &config,
    );
}

criterion_group!(benches, ct, derivatives);
criterion_main!(benches);
