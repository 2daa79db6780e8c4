//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};

/// `tests/fixtures/golden/` at the repository root: outputs of the official implementation
/// (see its README.txt). Committed, so a clone is all the tests need.
pub fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden");
    assert!(
        dir.join("funknn_mlp_relu.safetensors").is_file(),
        "golden files not found at {}",
        dir.display()
    );
    dir
}

pub fn golden() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        golden_dir().join("funknn_mlp_relu.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

pub fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    f64s(a)
        .iter()
        .zip(f64s(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

pub fn max_abs(a: &Tensor) -> f64 {
    f64s(a).iter().map(|x| x.abs()).fold(0.0, f64::max)
}

/// max |a − b| / max |b|.
pub fn rel_err(a: &Tensor, reference: &Tensor) -> f64 {
    max_abs_diff(a, reference) / max_abs(reference)
}

/// Rows `lo..hi` of dimension 1 (points), for comparing point kinds separately.
pub fn points_range(t: &Tensor, lo: usize, hi: usize) -> Tensor {
    t.narrow(1, lo, hi - lo).unwrap()
}

/// A fresh folder for one test, removed when the test passes (kept for a look if it fails).
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("funknn-core-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// Smooth synthetic "photographs" for training tests: `count` 48×40 RGB sums of a few
/// sinusoids per channel, saved as PNGs in `dir`.
pub fn synthetic_images(dir: &std::path::Path, count: u32) {
    for k in 0..count {
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            let (x, y) = (x as f32 / 48.0, y as f32 / 40.0);
            let v = |a: f32, b: f32| (127.0 + 100.0 * (a * x + b * y + k as f32).sin()) as u8;
            image::Rgb([v(7.0, 3.0), v(2.0, 9.0), v(5.0 + k as f32, 5.0)])
        });
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
}
