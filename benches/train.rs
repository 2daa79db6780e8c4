//! One training step (64 images × 512 points, factor mode, 128² crops) for the MLP and the
//! CNN: forward through the differentiable path, L1 loss, backward, Adam. Then the smooth
//! models' step (GELU or sine MLP, B-spline kernel) without and with the Sobolev terms on
//! `∇u` and `Δu` (graph-free through the Laplacian jets).
//!
//! `cargo bench -p funknn-benches --bench train`

use criterion::{criterion_group, criterion_main, Criterion};

// The allocator of the `funknn` binary, whose training this measures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use funknn_benches::{synthetic_training_folder, train_step_config};
use funknn_core::train::ImageFolder;
use funknn_core::train::Trainer;
use funknn_core::{Activation, KernelKind, Network};

fn train_step(c: &mut Criterion) {
    let dir = synthetic_training_folder();
    let data = ImageFolder::open(&dir, 3, 128, 0).expect("data");
    let mut g = c.benchmark_group("train_step_64x512");
    g.sample_size(10);
    for network in [Network::Mlp, Network::Cnn] {
        let config = train_step_config(network, 64);
        let mut trainer = Trainer::new(config).expect("trainer");
        g.bench_function(network.as_str(), |b| {
            b.iter(|| trainer.step(&data).expect("step"))
        });
    }
    for (name, activation, weights) in [
        ("gelu_bspline", Activation::Gelu, 0.0),
        ("gelu_bspline_sobolev", Activation::Gelu, 1.0),
        ("sin_bspline", Activation::Sin, 0.0),
        ("sin_bspline_sobolev", Activation::Sin, 1.0),
    ] {
        let mut config = train_step_config(Network::Mlp, 64);
        config.model.activation = activation;
        config.model.kernel = KernelKind::Bspline;
        config.gradient_weight = weights;
        config.laplacian_weight = weights;
        let mut trainer = Trainer::new(config).expect("trainer");
        g.bench_function(name, |b| b.iter(|| trainer.step(&data).expect("step")));
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, train_step);
criterion_main!(benches);
