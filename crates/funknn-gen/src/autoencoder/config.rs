//! The autoencoder's architecture: the official one at 64² and 128², one stage fewer at 32²,
//! and a width multiplier so that it trains on a CPU.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

fn one() -> f64 {
    1.0
}

/// Architecture of the paper's convolutional autoencoder (official `autoencoder_model.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderConfig {
    /// Latent dimension D (official: 256).
    pub latent_dim: usize,
    /// Image side: 32, 64 or 128.
    pub resolution: usize,
    /// Image channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Multiplies every hidden channel count (1: the official widths).
    #[serde(default = "one")]
    pub width: f64,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        AutoencoderConfig {
            latent_dim: 256,
            resolution: 64,
            channels: 1,
            width: 1.0,
        }
    }
}

/// Channels of the 2×2 bottleneck at width 1 (the official `c_last` and the decoder's start).
const BOTTLENECK: usize = 256;

impl AutoencoderConfig {
    /// Checks sizes and that the encoder's mean-image skips fit every stage's channels.
    pub fn validate(&self) -> Result<()> {
        if ![32, 64, 128].contains(&self.resolution) {
            return Err(Error::invalid(
                "autoencoder resolution",
                format!("{}: must be 32, 64 or 128", self.resolution),
            ));
        }
        if ![1, 3].contains(&self.channels) {
            return Err(Error::invalid(
                "autoencoder channels",
                format!("{}: must be 1 or 3", self.channels),
            ));
        }
        if self.latent_dim == 0 || self.latent_dim > 65_536 {
            return Err(Error::invalid(
                "latent dimension",
                format!("{}: must be in 1..=65536", self.latent_dim),
            ));
        }
        if !(self.width.is_finite() && (0.05..=4.0).contains(&self.width)) {
            return Err(Error::invalid(
                "autoencoder width",
                format!("{}: must be in [0.05, 4]", self.width),
            ));
        }
        for (i, &c) in self.encoder_stages().iter().enumerate().take(4) {
            let f2 = 1usize << (2 * (i + 1));
            if !c.is_multiple_of(f2) && !f2.is_multiple_of(c) {
                return Err(Error::invalid(
                    "autoencoder width",
                    format!(
                        "{}: encoder stage {i} has {c} channels, which neither divide nor are \
                         divided by the {f2} sub-pixels of its mean-image skip",
                        self.width
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A hidden channel count at this width.
    pub fn scaled(&self, channels: usize) -> usize {
        ((channels as f64 * self.width).round() as usize).max(1)
    }

    /// Channels of the 2×2 bottleneck.
    pub fn bottleneck(&self) -> usize {
        self.scaled(BOTTLENECK)
    }

    /// Output channels of the encoder's stages, each followed by a 2×2 max-pool: four at 32²,
    /// and one (64²) or two (128²) more at the bottleneck width, down to 2×2.
    pub fn encoder_stages(&self) -> Vec<usize> {
        let mut stages = vec![64, 128, 128, 256];
        match self.resolution {
            64 => stages.push(BOTTLENECK),
            128 => stages.extend([256, BOTTLENECK]),
            _ => {}
        }
        stages.into_iter().map(|c| self.scaled(c)).collect()
    }

    /// Output channels of the decoder's stages, each after a nearest ×2 upsampling from
    /// 2×2; the last is the image. `(hidden, output)` per stage: the last stage works at
    /// 64 hidden channels (scaled) and outputs the image channels.
    pub fn decoder_stages(&self) -> Vec<(usize, usize)> {
        let stages: &[usize] = match self.resolution {
            32 => &[128, 128, 64],
            64 => &[256, 128, 128, 64],
            _ => &[256, 256, 128, 128, 64],
        };
        let mut out: Vec<(usize, usize)> = stages
            .iter()
            .map(|&c| (self.scaled(c), self.scaled(c)))
            .collect();
        out.push((self.scaled(64), self.channels));
        out
    }
}
