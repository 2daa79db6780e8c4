//! # funknn-weights
//!
//! The FunkNN models trained for this project, embedded in the crate, so that a program
//! that depends on it has them without a download. Each lives in this crate's folder as a
//! model folder (`config.json`, `model.safetensors`, `README.md` model card), the layout of
//! a Hugging Face hub repo; `funknn-core` loads the same folders from disk with
//! [`FunkNN::load`].
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use funknn_core::{EvalOptions, JetOrder};
//!
//! let model = funknn_weights::MLP_PHOTO.load(DType::F32, &Device::Cpu)?;
//! let image = Tensor::rand(0f32, 1., (1, 3, 16, 16), &Device::Cpu)?;
//! let points = Tensor::new(&[[[0.5f32, 0.5]]], &Device::Cpu)?;
//! let jet = model.evaluate(&image, &points, JetOrder::Value, EvalOptions::default())?;
//! assert_eq!(jet.value()?.dims(), &[1, 1, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device};
use funknn_core::FunkNN;

/// A model folder embedded in the crate.
#[derive(Debug, Clone, Copy)]
pub struct ShippedModel {
    /// The folder's name, e.g. `funknn-mlp-photo`.
    pub name: &'static str,
    /// `config.json`.
    pub config: &'static str,
    /// `model.safetensors`.
    pub weights: &'static [u8],
    /// `README.md`, the model card (data, command, wall time, evaluation tables).
    pub card: &'static str,
}

impl ShippedModel {
    /// The model, with its weights converted to `dtype` on `device`.
    pub fn load(&self, dtype: DType, device: &Device) -> funknn_core::Result<FunkNN> {
        FunkNN::from_bytes(self.config, self.weights, dtype, device, self.name)
    }
}

macro_rules! shipped {
    ($name:literal) => {
        ShippedModel {
            name: $name,
            config: include_str!(concat!("../", $name, "/config.json")),
            weights: include_bytes!(concat!("../", $name, "/model.safetensors")),
            card: include_str!(concat!("../", $name, "/README.md")),
        }
    };
}

/// Photograph super-resolution at any scale: the official MLP, ReLU, bicubic kernel, RGB.
/// The default model of `funknn upsample` and `funknn eval`.
pub const MLP_PHOTO: ShippedModel = shipped!("funknn-mlp-photo");

/// The smooth model (GELU MLP, cubic B-spline kernel), trained on its derivatives: its
/// gradient and Laplacian exist everywhere and beat those of plain interpolation. The
/// default model of `funknn derivatives`; read its card before PDE work.
pub const GELU_BSPLINE_PHOTO: ShippedModel = shipped!("funknn-gelu-bspline-photo");

/// Every shipped model.
pub const ALL: [ShippedModel; 2] = [MLP_PHOTO, GELU_BSPLINE_PHOTO];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_model_loads_with_its_folder_name() {
        for model in ALL {
            let funknn = model.load(DType::F32, &Device::Cpu).unwrap();
            assert_eq!(funknn.config().channels, 3, "{}", model.name);
            assert!(model.card.starts_with(&format!("# {}", model.name)));
        }
    }
}
