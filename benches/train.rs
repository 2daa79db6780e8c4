//! One training step (64 images × 512 points, factor mode, 128² crops) for the MLP and the
//! CNN: forward through the differentiable path, L1 loss, backward, Adam.
//!
//! `cargo bench -p funknn-benches --bench train`

use criterion::{criterion_group, criterion_main, Criterion};

// The allocator of the `funknn` binary, whose training this measures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use funknn_core::dataset::{ImageFolder, TrainMode};
use funknn_core::train::{TrainConfig, Trainer};
use funknn_core::{Activation, Config, KernelKind, Network};

fn synthetic_folder() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("funknn-bench-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for k in 0..4u32 {
        let img = image::RgbImage::from_fn(256, 256, |x, y| {
            let v = |a: u32| ((x * a + y * (a + k)) % 251) as u8;
            image::Rgb([v(3), v(5), v(7)])
        });
        img.save(dir.join(format!("{k}.png"))).expect("png");
    }
    dir
}

fn train_step(c: &mut Criterion) {
    let dir = synthetic_folder();
    let data = ImageFolder::open(&dir, 3, 128, 0).expect("data");
    let mut g = c.benchmark_group("train_step_64x512");
    g.sample_size(10);
    for network in [Network::Mlp, Network::Cnn] {
        let config = TrainConfig {
            model: Config {
                network,
                activation: Activation::Relu,
                kernel: KernelKind::Bicubic,
                ..Config::default()
            },
            mode: TrainMode::Factor,
            batch: 64,
            points: 512,
            steps: usize::MAX,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(config).expect("trainer");
        g.bench_function(network.as_str(), |b| {
            b.iter(|| trainer.step(&data).expect("step"))
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, train_step);
criterion_main!(benches);
