//! # funknn-weights-fashion
//!
//! The Fashion-MNIST models trained for this project, embedded in the crate (each folder is
//! laid out as a Hugging Face hub repo: `config.json`, `model.safetensors`, `README.md`
//! model card):
//! - [`GEN_FASHION`]: the paper's generator (convolutional autoencoder at half the official
//!   width, RealNVP prior on its 256-d latent) with a Gaussian mixture on the same latents to
//!   sample from, 32² grey garments;
//! - [`MLP_FASHION`]: the grey FunkNN that renders its samples at any size;
//! - [`FASHION_CLASSIFIER`]: the classifier whose features give `funknn eval-generator` its
//!   Fréchet distance.
//!
//! ```
//! use candle_core::{DType, Device};
//! use funknn_gen::{standard_normal, FunctionalGenerator, LatentPrior};
//!
//! let generator = funknn_weights_fashion::GEN_FASHION.load(DType::F32, &Device::Cpu)?;
//! let funknn = funknn_weights_fashion::MLP_FASHION.load(DType::F32, &Device::Cpu)?;
//! // Samples from the mixture; `generator.prior` (the flow) is what inverse problems use.
//! let prior = generator.sampling_prior();
//! let f = FunctionalGenerator::new(prior, generator.autoencoder.decoder, funknn)?;
//! let latent = f.prior().sample_from(&standard_normal(1, 256, 0)?, 1.0)?;
//! let garment = f.render(&latent, 96, 96, 1 << 14)?; // (1, 1, 96, 96)
//! assert_eq!(garment.dims(), &[1, 1, 96, 96]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device};
use funknn_gen::{FeatureClassifier, Generator};
pub use funknn_weights::ShippedModel;

/// A generator folder embedded in the crate (autoencoder and prior in one
/// `model.safetensors`, official tensor names).
#[derive(Debug, Clone, Copy)]
pub struct ShippedGenerator {
    pub name: &'static str,
    pub config: &'static str,
    pub weights: &'static [u8],
    pub card: &'static str,
}

impl ShippedGenerator {
    /// The generator, with its weights converted to `dtype` on `device`.
    pub fn load(&self, dtype: DType, device: &Device) -> funknn_gen::Result<Generator> {
        Generator::from_bytes(self.config, self.weights, dtype, device, self.name)
    }
}

/// A feature classifier folder embedded in the crate.
#[derive(Debug, Clone, Copy)]
pub struct ShippedClassifier {
    pub name: &'static str,
    pub config: &'static str,
    pub weights: &'static [u8],
    pub card: &'static str,
}

impl ShippedClassifier {
    /// The classifier (f32) on `device`.
    pub fn load(&self, device: &Device) -> funknn_gen::Result<FeatureClassifier> {
        FeatureClassifier::from_bytes(self.config, self.weights, device, self.name)
    }
}

macro_rules! shipped {
    ($kind:ident, $name:literal) => {
        $kind {
            name: $name,
            config: include_str!(concat!("../", $name, "/config.json")),
            weights: include_bytes!(concat!("../", $name, "/model.safetensors")),
            card: include_str!(concat!("../", $name, "/README.md")),
        }
    };
}

/// The paper's generator trained on Fashion-MNIST, 32² grey: the default generator of
/// `funknn sample`.
pub const GEN_FASHION: ShippedGenerator = shipped!(ShippedGenerator, "funknn-gen-fashion");

/// Grey FunkNN trained on Fashion-MNIST's 32² images: renders [`GEN_FASHION`]'s samples at
/// any size (the default model of `funknn sample`).
pub const MLP_FASHION: ShippedModel = shipped!(ShippedModel, "funknn-mlp-fashion");

/// The Fashion-MNIST classifier of `funknn eval-generator`'s Fréchet distance.
pub const FASHION_CLASSIFIER: ShippedClassifier =
    shipped!(ShippedClassifier, "funknn-fashion-classifier");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_model_loads_with_its_folder_name() {
        let funknn = MLP_FASHION.load(DType::F32, &Device::Cpu).unwrap();
        assert_eq!(funknn.config().channels, 1);
        let generator = GEN_FASHION.load(DType::F32, &Device::Cpu).unwrap();
        let a = &generator.config().autoencoder;
        assert_eq!((a.resolution, a.channels), (32, 1));
        let mixture = generator.mixture.as_ref().expect("the sampling mixture");
        assert_eq!(mixture.config().components, 20);
        let classifier = FASHION_CLASSIFIER.load(&Device::Cpu).unwrap();
        assert_eq!(classifier.config().classes, 10);
        for (name, card) in [
            (MLP_FASHION.name, MLP_FASHION.card),
            (GEN_FASHION.name, GEN_FASHION.card),
            (FASHION_CLASSIFIER.name, FASHION_CLASSIFIER.card),
        ] {
            assert!(card.starts_with(&format!("# {name}")), "{name}");
        }
    }
}
