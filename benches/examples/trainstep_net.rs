//! Wall time of single training steps (64 images × 512 points, as `benches/train.rs`) for
//! one network, when criterion's ten samples would take too long:
//! `cargo run --release -p funknn-benches --example trainstep_net -- cnn 2`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use funknn_core::dataset::{ImageFolder, TrainMode};
use funknn_core::train::{TrainConfig, Trainer};
use funknn_core::{Activation, Config, KernelKind, Network};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let network: Network = args[1].parse().expect("mlp or cnn");
    let steps: usize = args[2].parse().expect("steps");
    let batch: usize = args.get(3).map_or(64, |b| b.parse().expect("batch"));
    let dir = std::env::temp_dir().join(format!("funknn-trainstep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for k in 0..4u32 {
        let img = image::RgbImage::from_fn(256, 256, |x, y| {
            let v = |a: u32| ((x * a + y * (a + k)) % 251) as u8;
            image::Rgb([v(3), v(5), v(7)])
        });
        img.save(dir.join(format!("{k}.png"))).expect("png");
    }
    let data = ImageFolder::open(&dir, 3, 128, 0).expect("data");
    let config = TrainConfig {
        model: Config {
            network,
            activation: Activation::Relu,
            kernel: KernelKind::Bicubic,
            ..Config::default()
        },
        mode: TrainMode::Factor,
        batch,
        points: 512,
        steps: usize::MAX,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config).expect("trainer");
    for i in 0..steps {
        let t = Instant::now();
        trainer.step(&data).expect("step");
        println!("step {i}: {:.2} s", t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
