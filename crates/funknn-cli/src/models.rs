//! Which model a command runs: a folder the user names, or one embedded from
//! `funknn-weights`, so that `funknn` works from any directory after `cargo install`.

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use funknn_core::hub::HubOptions;
use funknn_core::FunkNN;
use funknn_gen::Generator;
use funknn_weights::ShippedModel;

/// A model folder or hub repo id, or the embedded default.
pub fn load_model(spec: Option<&str>, default: &ShippedModel) -> Result<FunkNN> {
    match spec {
        Some(spec) => FunkNN::load_from(spec, &HubOptions::from_env(), DType::F32, &Device::Cpu)
            .with_context(|| format!("loading model {spec}")),
        None => default
            .load(DType::F32, &Device::Cpu)
            .with_context(|| format!("loading the embedded model {}", default.name)),
    }
}

/// A generator folder or hub repo id, or the embedded funknn-gen-fashion.
pub fn load_generator(spec: Option<&str>) -> Result<Generator> {
    match spec {
        Some(spec) => Generator::load_from(spec, &HubOptions::from_env(), DType::F32, &Device::Cpu)
            .with_context(|| format!("loading generator {spec}")),
        None => funknn_weights_fashion::GEN_FASHION
            .load(DType::F32, &Device::Cpu)
            .context("loading the embedded generator funknn-gen-fashion"),
    }
}
