//! The mixture's part of a generator's `config.json`.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A Gaussian mixture of `components` full-covariance Gaussians in `latent_dim` dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixtureConfig {
    pub latent_dim: usize,
    pub components: usize,
    /// The default sampling temperature with this prior (none: 1, the fitted mixture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

/// At most this many components: each holds a D×D covariance factor.
pub const MAX_COMPONENTS: usize = 1024;

impl MixtureConfig {
    pub fn validate(&self) -> Result<()> {
        if self.latent_dim == 0 || self.latent_dim > 65_536 {
            return Err(Error::invalid(
                "mixture latent dimension",
                format!("{}: must be in 1..=65536", self.latent_dim),
            ));
        }
        if self.components == 0 || self.components > MAX_COMPONENTS {
            return Err(Error::invalid(
                "mixture components",
                format!("{}: must be in 1..={MAX_COMPONENTS}", self.components),
            ));
        }
        if let Some(t) = self.temperature {
            if !(t.is_finite() && t > 0.0 && t <= 10.0) {
                return Err(Error::invalid(
                    "mixture temperature",
                    format!("{t}: must be in (0, 10]"),
                ));
            }
        }
        Ok(())
    }

    /// Values in the packed lower triangle of one D×D factor.
    pub fn packed_len(&self) -> usize {
        self.latent_dim * (self.latent_dim + 1) / 2
    }
}
