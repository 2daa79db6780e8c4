//! The paper's convolutional autoencoder (official `autoencoder_model.py`): only its decoder
//! generates; the encoder gives the latents the prior is fitted to.

pub(crate) mod config;
pub(crate) mod conv;
pub(crate) mod decoder;
pub(crate) mod encoder;
pub(crate) mod im2col;
pub(crate) mod pool;
pub(crate) mod threads;
pub(crate) mod upsample;
pub(crate) mod winograd;

pub use config::AutoencoderConfig;
pub use decoder::Decoder;
pub use encoder::{space_to_depth, Encoder};

use candle_nn::VarBuilder;

use crate::Result;

/// Encoder and decoder, under the official `autoencoder` module's names (`encoder.*`,
/// `decoder.*`).
#[derive(Debug, Clone)]
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Autoencoder {
    pub fn new(config: &AutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Autoencoder {
            encoder: Encoder::new(config, vb.pp("encoder"))?,
            decoder: Decoder::new(config, vb.pp("decoder"))?,
        })
    }
}
