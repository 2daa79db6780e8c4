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

/// Which of a generator's priors samples are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PriorChoice {
    /// The Gaussian mixture when the generator has one, else the flow.
    Auto,
    /// The paper's RealNVP flow (at the generator's `temperature`).
    Flow,
    /// The Gaussian mixture (`funknn fit-mixture`); an error if there is none.
    Mixture,
}

/// `generator` set to sample from `choice`.
pub fn choose_prior(generator: Generator, choice: PriorChoice) -> Result<Generator> {
    match choice {
        PriorChoice::Auto => Ok(generator),
        PriorChoice::Flow => Ok(generator.without_mixture()),
        PriorChoice::Mixture if generator.mixture.is_none() => anyhow::bail!(
            "--prior mixture: this generator has no sampling mixture (make one with \
             funknn fit-mixture)"
        ),
        PriorChoice::Mixture => Ok(generator),
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
