//! The latent prior's architecture.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Architecture of the official RealNVP prior (`flow_model.py`'s `real_nvp`): `depth`
/// masked affine couplings with alternating masks, each followed by an ActNorm, on a learnable
/// diagonal Gaussian.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowConfig {
    /// Latent dimension D (official: 256).
    pub latent_dim: usize,
    /// Couplings (official `flow_depth`: 5).
    pub depth: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            latent_dim: 256,
            depth: 5,
        }
    }
}

impl FlowConfig {
    pub fn validate(&self) -> Result<()> {
        if self.latent_dim < 2 || self.latent_dim > 65_536 {
            return Err(Error::invalid(
                "latent dimension",
                format!("{}: must be in 2..=65536", self.latent_dim),
            ));
        }
        if self.depth == 0 || self.depth > 256 {
            return Err(Error::invalid(
                "flow depth",
                format!("{}: must be in 1..=256", self.depth),
            ));
        }
        Ok(())
    }
}
