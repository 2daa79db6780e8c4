//! Times generator training steps on Fashion-MNIST: `cargo run --release -p funknn-gen
//! --example step_time -- WIDTH RESOLUTION`.

use funknn_gen::train::{
    GeneratorTrainConfig, GeneratorTrainer, ImageSet, Split, FASHION_MNIST_DIR,
};

fn main() -> funknn_gen::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let width: f64 = args.get(1).map_or(0.5, |s| s.parse().unwrap());
    let data =
        ImageSet::fashion_mnist(std::path::Path::new(FASHION_MNIST_DIR), Split::Train, 2000)?;
    let mut config = GeneratorTrainConfig::default();
    config.generator.autoencoder.resolution = 32;
    config.generator.autoencoder.width = width;
    config.autoencoder_steps = 4;
    config.flow_steps = 4;
    let mut t = GeneratorTrainer::new(config)?;
    while !t.done() {
        let s = std::time::Instant::now();
        t.step(&data)?;
        println!(
            "step {} {:?}: {:.3} s",
            t.step_count(),
            t.phase(),
            s.elapsed().as_secs_f64()
        );
    }
    println!("{:?}", t.losses());
    Ok(())
}
