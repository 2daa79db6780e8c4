//! Wall time of single training steps (64 images × 512 points, as `benches/train.rs`) for
//! one network, when criterion's ten samples would take too long:
//! `cargo run --release -p funknn-benches --example trainstep_net -- cnn 2 [BATCH]`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use funknn_benches::{synthetic_training_folder, train_step_config};
use funknn_core::train::ImageFolder;
use funknn_core::train::Trainer;
use funknn_core::Network;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let network: Network = args[1].parse().expect("mlp or cnn");
    let steps: usize = args[2].parse().expect("steps");
    let batch: usize = args.get(3).map_or(64, |b| b.parse().expect("batch"));
    let dir = synthetic_training_folder();
    let data = ImageFolder::open(&dir, 3, 128, 0).expect("data");
    let config = train_step_config(network, batch);
    let mut trainer = Trainer::new(config).expect("trainer");
    for i in 0..steps {
        let t = Instant::now();
        trainer.step(&data).expect("step");
        println!("step {i}: {:.2} s", t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
