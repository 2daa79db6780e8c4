//! Times generator training steps and decoding on random images:
//! `cargo run --release -p funknn-gen --example step_time -- WIDTH RESOLUTION [STEPS]`.

use candle_core::{Device, Tensor};
use funknn_gen::train::{GeneratorTrainConfig, GeneratorTrainer, ImageSet};

fn main() -> funknn_gen::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let width: f64 = args.get(1).map_or(0.5, |s| s.parse().expect("WIDTH"));
    let resolution: usize = args.get(2).map_or(32, |s| s.parse().expect("RESOLUTION"));
    let steps: usize = args.get(3).map_or(3, |s| s.parse().expect("STEPS"));
    let images = Tensor::rand(0f32, 1., (256, 1, resolution, resolution), &Device::Cpu)?;
    let data = ImageSet::from_tensor(images, "random");
    let mut config = GeneratorTrainConfig::default();
    config.generator.autoencoder.resolution = resolution;
    config.generator.autoencoder.width = width;
    config.autoencoder_steps = steps;
    config.flow_steps = steps;
    let mut t = GeneratorTrainer::new(config)?;
    while !t.done() {
        let phase = t.phase();
        let s = std::time::Instant::now();
        t.step(&data)?;
        println!("{phase:?} step: {:.3} s", s.elapsed().as_secs_f64());
    }
    let z = funknn_gen::standard_normal(64, 256, 0)?;
    let s = std::time::Instant::now();
    let out = t.generator().autoencoder.decoder.forward(&z)?;
    println!(
        "decode 64 at {:?}: {:.3} s",
        out.dims(),
        s.elapsed().as_secs_f64()
    );
    Ok(())
}
