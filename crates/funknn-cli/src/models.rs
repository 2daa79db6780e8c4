//! Which model a command runs: a folder the user names, or one embedded from
//! `funknn-weights`, so that `funknn` works from any directory after `cargo install`.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use funknn_core::FunkNN;
use funknn_weights::ShippedModel;

/// A model folder, or the embedded default.
pub fn load_model(dir: Option<&Path>, default: &ShippedModel) -> Result<FunkNN> {
    match dir {
        Some(dir) => FunkNN::load(dir, DType::F32, &Device::Cpu)
            .with_context(|| format!("loading model {}", dir.display())),
        None => default
            .load(DType::F32, &Device::Cpu)
            .with_context(|| format!("loading the embedded model {}", default.name)),
    }
}
