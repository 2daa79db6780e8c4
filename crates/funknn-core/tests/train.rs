//! Training on tiny synthetic data: resume exactness, learning, bad data.

use std::path::{Path, PathBuf};

use funknn_core::dataset::{ImageFolder, TrainMode};
use funknn_core::train::{TrainConfig, Trainer};

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("funknn-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Smooth synthetic "photographs": sums of a few sinusoids per channel.
fn synthetic_images(dir: &Path, count: u32) {
    for k in 0..count {
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            let (x, y) = (x as f32 / 48.0, y as f32 / 40.0);
            let v = |a: f32, b: f32| (127.0 + 100.0 * (a * x + b * y + k as f32).sin()) as u8;
            image::Rgb([v(7.0, 3.0), v(2.0, 9.0), v(5.0 + k as f32, 5.0)])
        });
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        mode: TrainMode::Factor,
        crop: 32,
        batch: 2,
        points: 32,
        lr: 1e-3,
        lr_step: 4,
        steps: 8,
        checkpoint_every: 0,
        seed: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn resumed_run_matches_an_unbroken_one() {
    let dir = folder("resume");
    synthetic_images(&dir, 3);
    let data = ImageFolder::open(&dir, 3, 32).unwrap();
    let mut whole = Trainer::new(tiny_config()).unwrap();
    while !whole.done() {
        whole.step(&data).unwrap();
    }
    let mut first = Trainer::new(tiny_config()).unwrap();
    for _ in 0..5 {
        first.step(&data).unwrap();
    }
    let ckpt = dir.join("ckpt");
    first.save_checkpoint(&ckpt).unwrap();
    // Saving twice replaces the checkpoint in place.
    first.save_checkpoint(&ckpt).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&ckpt).unwrap();
    assert_eq!(resumed.step_count(), 5);
    while !resumed.done() {
        resumed.step(&data).unwrap();
    }
    assert_eq!(whole.losses().len(), 8);
    assert_eq!(whole.losses(), resumed.losses(), "the resumed run diverged");
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "temporary checkpoint folders left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn training_lowers_the_loss() {
    let dir = folder("learn");
    synthetic_images(&dir, 2);
    let data = ImageFolder::open(&dir, 3, 32).unwrap();
    let mut t = Trainer::new(TrainConfig {
        steps: 60,
        lr_step: 0,
        ..tiny_config()
    })
    .unwrap();
    while !t.done() {
        t.step(&data).unwrap();
    }
    let l = t.losses();
    let early: f32 = l[..10].iter().sum::<f32>() / 10.0;
    let late: f32 = l[l.len() - 10..].iter().sum::<f32>() / 10.0;
    assert!(late < 0.8 * early, "loss went from {early} to {late}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_training_folders_are_clear_errors() {
    let dir = folder("bad");
    let err = ImageFolder::open(&dir, 3, 32).err().unwrap().to_string();
    assert!(err.contains("no PNG or JPEG"), "{err}");
    synthetic_images(&dir, 1);
    let err = ImageFolder::open(&dir, 3, 64).err().unwrap().to_string();
    assert!(err.contains("at least 64"), "{err}");
    std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = ImageFolder::open(&dir, 3, 32).err().unwrap().to_string();
    assert!(err.contains("broken.png"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
