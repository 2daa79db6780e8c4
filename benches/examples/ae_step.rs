//! Minimum and median wall time of the autoencoder training step (batch 64, grey, the
//! official widths), steadier than criterion's mean on a noisy VM for comparing two builds:
//! `cargo run --release -p funknn-benches --example ae_step -- [RESOLUTION] [STEPS]`
use candle_core::{Device, Tensor};
use funknn_gen::train::{GeneratorTrainConfig, GeneratorTrainer, ImageSet};
use funknn_gen::AutoencoderConfig;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    funknn_benches::tune_runtime();
    let a: Vec<String> = std::env::args().collect();
    let resolution: usize = a.get(1).map_or(Ok(64), |s| s.parse())?;
    let steps: usize = a.get(2).map_or(Ok(12), |s| s.parse())?;
    let mut config = GeneratorTrainConfig::default();
    config.generator.autoencoder = AutoencoderConfig {
        resolution,
        ..Default::default()
    };
    config.autoencoder_steps = 1_000_000;
    config.checkpoint_every = 0;
    let mut t = GeneratorTrainer::new(config)?;
    let images = Tensor::rand(0f32, 1f32, (256, 1, resolution, resolution), &Device::Cpu)?;
    let data = ImageSet::from_tensor(images, "uniform noise");
    t.step(&data)?;
    let mut times = Vec::new();
    for _ in 0..steps {
        let s = Instant::now();
        t.step(&data)?;
        times.push(s.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "autoencoder step {resolution}²: min {:.3} s, median {:.3} s",
        times[0],
        times[times.len() / 2]
    );
    Ok(())
}
