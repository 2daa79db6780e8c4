//! Where a `funknn train` step goes: batch sampling, the gradient, and the rest (Adam),
//! on a folder of photographs with the shipped model's settings:
//! `cargo run --release -p funknn-benches --example step_phases -- DIR [POINTS] [STEPS]`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use funknn_core::train::{l1_gradients, TrainConfig, Trainer};
use funknn_core::train::{Degradation, ImageFolder, TrainMode};
use funknn_core::Rng;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let points: usize = args.get(2).map_or(256, |p| p.parse().expect("points"));
    let steps: usize = args.get(3).map_or(20, |p| p.parse().expect("steps"));
    let config = TrainConfig {
        crop: 256,
        points,
        augment: true,
        mode: TrainMode::Factor,
        degradation: Degradation::Target,
        max_side: 768,
        steps: usize::MAX,
        ..TrainConfig::default()
    };
    let data = ImageFolder::open(&dir, 3, config.crop, config.max_side).expect("data");
    let mut trainer = Trainer::new(config.clone()).expect("trainer");
    let model = trainer.model().expect("model");
    let mut rng = Rng::new(7);
    let (mut t_sample, mut t_grad, mut t_step) = (0.0, 0.0, 0.0);
    for _ in 0..steps {
        let t = Instant::now();
        let (images, pts, targets) = data.sample(&config.batch_spec(), &mut rng).expect("batch");
        t_sample += t.elapsed().as_secs_f64();
        let t = Instant::now();
        l1_gradients(&model, &images, &pts, &targets, true).expect("gradient");
        t_grad += t.elapsed().as_secs_f64();
        let t = Instant::now();
        trainer.step(&data).expect("step");
        t_step += t.elapsed().as_secs_f64();
    }
    let ms = |s: f64| 1e3 * s / steps as f64;
    println!(
        "per step: whole {:.1} ms = sample {:.1} + gradient {:.1} + rest {:.1}",
        ms(t_step),
        ms(t_sample),
        ms(t_grad),
        ms(t_step - t_sample - t_grad)
    );
}
