//! The flow's base distribution: a Gaussian with learnable mean and diagonal scale.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::Result;

/// normflows' `DiagGaussian(D)`: `loc` and `log_scale` of shape `(1, D)`.
#[derive(Debug, Clone)]
pub struct DiagGaussian {
    loc: Tensor,
    log_scale: Tensor,
}

impl DiagGaussian {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(DiagGaussian {
            loc: vb.get_with_hints((1, dim), "loc", Init::Const(0.0))?,
            log_scale: vb.get_with_hints((1, dim), "log_scale", Init::Const(0.0))?,
        })
    }

    /// `loc + exp(log_scale)·T·eps` for standard normal `eps` `(N, D)` at temperature T.
    pub fn sample_from(&self, eps: &Tensor, temperature: f64) -> Result<Tensor> {
        let eps = eps
            .to_dtype(self.loc.dtype())?
            .to_device(self.loc.device())?;
        let scale = (self.log_scale.exp()? * temperature)?;
        Ok(eps.broadcast_mul(&scale)?.broadcast_add(&self.loc)?)
    }

    /// `log N(w; loc, diag(exp(2·log_scale)))` per row: `(N)`.
    pub fn log_prob(&self, w: &Tensor) -> Result<Tensor> {
        let d = w.dim(1)? as f64;
        let standard = w
            .broadcast_sub(&self.loc)?
            .broadcast_div(&self.log_scale.exp()?)?;
        let per_dim = (standard.sqr()? * 0.5)?.broadcast_add(&self.log_scale)?;
        let constant = -0.5 * d * (2.0 * std::f64::consts::PI).ln();
        Ok(per_dim.sum(1)?.neg()?.affine(1.0, constant)?)
    }

    /// The mean, `(1, D)`.
    pub fn mean(&self) -> &Tensor {
        &self.loc
    }

    /// The log standard deviations, `(1, D)`.
    pub(crate) fn log_scale(&self) -> &Tensor {
        &self.log_scale
    }
}
