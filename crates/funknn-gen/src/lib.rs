//! # funknn-gen
//!
//! Functional generation with FunkNN (Khorashadizadeh et al., ICLR 2023): a discrete
//! generator makes a small image, and FunkNN turns it into a continuous one, sampled at any
//! resolution and differentiated exactly. The paper's generator is a convolutional
//! autoencoder whose decoder generates, with a RealNVP normalizing flow as the prior of its
//! latent; [`FunctionalGenerator`] composes prior → decoder → FunkNN and stays
//! differentiable end to end (the inverse problems optimise through it). A
//! [`GaussianMixture`] fitted to the same latents ([`fit_mixture`]) can ride along in a
//! generator folder as the prior samples are drawn from ([`Generator::sampling_prior`]): it
//! draws better garments than the flow.
//!
//! Tensor names are the official implementation's `state_dict` keys (`encoder.*`,
//! `decoder.*` of `autoencoder.pt`; `q0.*`, `flows.*` of `flow.pt`).

pub mod autoencoder;
pub mod classifier;
mod error;
pub mod eval;
pub mod flow;
mod folder;
mod functional;
mod generator;
mod init;
mod matmul;
pub mod mixture;
mod model;
pub mod train;

pub use autoencoder::{Autoencoder, AutoencoderConfig, Decoder, Encoder};
pub use classifier::{ClassifierConfig, FeatureClassifier};
pub use error::{Error, Result};
pub use eval::{
    evaluate_generator, frechet_scores, frechet_scores_of_latents, FrechetScores, GeneratorScores,
};
pub use flow::{FlowConfig, RealNvp};
pub use folder::{CONFIG_FILE, WEIGHTS_FILE};
pub use functional::FunctionalGenerator;
pub use generator::{standard_normal, DiscreteGenerator, LatentPrior};
pub use mixture::{fit_mixture, GaussianMixture, MixtureConfig, MixtureFit};
pub use model::{
    Generator, GeneratorConfig, SamplingPrior, ARCHITECTURE, FLOW_PREFIX, MIXTURE_PREFIX,
};
