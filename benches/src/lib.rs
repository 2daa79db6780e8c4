//! Shared set-up of the funknn benchmarks.

// The `funknn` binary's process settings, from its own source, so that the benchmarks
// measure what the binary runs.
#[path = "../../crates/funknn-cli/src/runtime.rs"]
mod runtime;
pub use runtime::tune as tune_runtime;

use candle_core::{DType, Device, Tensor};
use funknn_core::{Activation, Config, FunkNN, KernelKind, Network, Rng};

/// Points per benchmark run, as the performance targets are stated.
pub const POINTS: usize = 65_536;

/// Multiply-adds ×2 per point of one jet part: the patch network's layers.
pub fn flops_per_point(network: Network) -> f64 {
    match network {
        // 243·512 + 512·512 + 512·256 + 256·256 + 256·128 + 128·128 + 128·64 + 64·64 + 64·64 + 64·3
        Network::Mlp => 2.0 * 650_000.0,
        // Eight 2×2 convs on 9×9, 4×4 and 2×2 maps with 64 channels, then the head.
        Network::Cnn => {
            let conv = |c_in: f64, side: f64| 2.0 * 64.0 * c_in * 4.0 * side * side;
            conv(3.0, 81.0f64.sqrt())
                + 3.0 * conv(64.0, 9.0)
                + 4.0 * conv(64.0, 4.0)
                + 2.0 * (256.0 * 64.0 + 2.0 * 64.0 * 64.0)
        }
    }
}

/// A randomly initialised model (speed does not depend on training).
pub fn model(network: Network, activation: Activation, kernel: KernelKind) -> FunkNN {
    let config = Config {
        network,
        activation,
        kernel,
        channels: 3,
        ..Config::default()
    };
    FunkNN::random(&config, 0, DType::F32, &Device::Cpu)
        .expect("model")
        .0
}

/// A 256×256 RGB image and `POINTS` random points on it.
pub fn inputs() -> (Tensor, Tensor) {
    let mut rng = Rng::new(1);
    let img: Vec<f32> = (0..3 * 256 * 256).map(|_| rng.uniform() as f32).collect();
    let pts: Vec<f32> = (0..2 * POINTS).map(|_| rng.uniform() as f32).collect();
    (
        Tensor::from_vec(img, (1, 3, 256, 256), &Device::Cpu).expect("image"),
        Tensor::from_vec(pts, (1, POINTS, 2), &Device::Cpu).expect("points"),
    )
}

/// A folder of four synthetic 256×256 RGB pictures for training-step benchmarks (remove it
/// when done).
pub fn synthetic_training_folder() -> std::path::PathBuf {
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

/// The benchmarked training step: `batch` images × 512 points, factor mode, 128² crops,
/// ReLU and the bicubic kernel, otherwise `funknn train`'s defaults.
pub fn train_step_config(network: Network, batch: usize) -> funknn_core::train::TrainConfig {
    funknn_core::train::TrainConfig {
        model: Config {
            network,
            activation: Activation::Relu,
            kernel: KernelKind::Bicubic,
            ..Config::default()
        },
        mode: funknn_core::train::TrainMode::Factor,
        // The official step's pairs: input and target both from the crop.
        degradation: funknn_core::train::Degradation::Crop,
        batch,
        points: 512,
        steps: usize::MAX,
        ..funknn_core::train::TrainConfig::default()
    }
}

/// 256 uniform-noise grey images at `resolution`² for the generator benchmarks (speed does
/// not depend on the data).
pub fn noise_images(resolution: usize) -> funknn_gen::train::ImageSet {
    let t = Tensor::rand(0f32, 1f32, (256, 1, resolution, resolution), &Device::Cpu)
        .expect("noise images");
    funknn_gen::train::ImageSet::from_tensor(t, "uniform noise")
}

/// A generator trainer at the official widths (batch 64, grey) that never finishes a phase
/// or writes a checkpoint: the autoencoder phase, or the prior phase when `flow`, with the
/// Laplacian-pyramid loss at `pyramid_weight` (0 leaves it out, as the official step without
/// `--pyramid`).
pub fn generator_trainer(
    resolution: usize,
    flow: bool,
    pyramid_weight: f64,
) -> funknn_gen::train::GeneratorTrainer {
    let mut config = funknn_gen::train::GeneratorTrainConfig {
        pyramid_weight,
        ..Default::default()
    };
    config.generator.autoencoder = funknn_gen::AutoencoderConfig {
        resolution,
        ..Default::default()
    };
    config.autoencoder_steps = if flow { 0 } else { 1_000_000 };
    config.flow_steps = 1_000_000;
    config.checkpoint_every = 0;
    funknn_gen::train::GeneratorTrainer::new(config).expect("generator trainer")
}
