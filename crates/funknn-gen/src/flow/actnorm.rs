//! Glow's activation normalisation: a learned per-dimension affine map.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::Result;

/// Glow's ActNorm as normflows has it: `z·exp(s) + t` with `s`, `t` of shape `(1, D)`,
/// initialised from the first batch of data (see [`crate::RealNvp::actnorm_init`]).
#[derive(Debug, Clone)]
pub struct ActNorm {
    s: Tensor,
    t: Tensor,
}

impl ActNorm {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(ActNorm {
            s: vb.get_with_hints((1, dim), "s", Init::Const(0.0))?,
            t: vb.get_with_hints((1, dim), "t", Init::Const(0.0))?,
        })
    }

    /// The log-scale and shift `(s, t)`, each `(1, D)`.
    pub(crate) fn parameters(&self) -> (&Tensor, &Tensor) {
        (&self.s, &self.t)
    }

    pub fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let out = z.broadcast_mul(&self.s.exp()?)?.broadcast_add(&self.t)?;
        Ok((out, self.log_det(z)?))
    }

    pub fn inverse(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let out = z
            .broadcast_sub(&self.t)?
            .broadcast_mul(&self.s.neg()?.exp()?)?;
        Ok((out, self.log_det(z)?.neg()?))
    }

    fn log_det(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        Ok(self.s.sum_all()?.broadcast_as(n)?.contiguous()?)
    }

    /// The data-dependent initialisation for inputs `z` `(N, D)` arriving from the data side:
    /// `s = log(std + 1e-6)`, `t = mean`, so that the inverse whitens them (normflows'
    /// `ActNorm.inverse` on its first batch; std with Bessel's correction, as torch's).
    pub fn data_init(z: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = z.dim(0)?;
        let mean = z.mean_keepdim(0)?;
        let var = (z.broadcast_sub(&mean)?.sqr()?.sum_keepdim(0)? / (n.max(2) - 1) as f64)?;
        let s = (var.sqrt()? + 1e-6)?.log()?;
        Ok((s, mean))
    }
}
