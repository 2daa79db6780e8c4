//! RealNVP's masked affine coupling: `f(z) = b·z + (1 − b)·(z·exp(s(b·z)) + t(b·z))`.

use candle_core::{Module, Tensor};
use candle_nn::{Init, Linear, VarBuilder};

use crate::Result;

/// normflows' `MLP([D, 2D, D], init_zeros=True)`: Linear, ReLU, Linear, the last layer
/// zero-initialised so that a fresh coupling is the identity. Names `net.0`, `net.2`.
#[derive(Debug, Clone)]
pub struct CouplingNet {
    hidden: Linear,
    out: Linear,
}

impl CouplingNet {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let hidden = candle_nn::linear(dim, 2 * dim, vb.pp("net.0"))?;
        let vb = vb.pp("net.2");
        let w = vb.get_with_hints((dim, 2 * dim), "weight", Init::Const(0.0))?;
        let b = vb.get_with_hints(dim, "bias", Init::Const(0.0))?;
        Ok(CouplingNet {
            hidden,
            out: Linear::new(w, Some(b)),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.out.forward(&self.hidden.forward(x)?.relu()?)?)
    }

    /// The hidden and output layers (`net.0`, `net.2`).
    pub(crate) fn layers(&self) -> (&Linear, &Linear) {
        (&self.hidden, &self.out)
    }
}

/// The official `MaskedAffineFlow(b, t, s)`; tensor names `b` (the mask, a buffer), `s.*`,
/// `t.*`.
#[derive(Debug, Clone)]
pub struct MaskedAffineCoupling {
    /// `(1, D)`: 1 where the coupling passes the input through.
    mask: Tensor,
    s: CouplingNet,
    t: CouplingNet,
}

impl MaskedAffineCoupling {
    /// `even`: the mask keeps the even coordinates (the official `b`), else the odd ones.
    pub fn new(dim: usize, even: bool, vb: VarBuilder) -> Result<Self> {
        let keep = if even { 0 } else { 1 };
        let mask: Vec<f32> = (0..dim)
            .map(|i| if i % 2 == keep { 1.0 } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (1, dim), vb.device())?.to_dtype(vb.dtype())?;
        Ok(MaskedAffineCoupling {
            mask,
            s: CouplingNet::new(dim, vb.pp("s"))?,
            t: CouplingNet::new(dim, vb.pp("t"))?,
        })
    }

    /// The mask, for saving it as the official buffer.
    pub fn mask(&self) -> &Tensor {
        &self.mask
    }

    /// The scale and shift networks.
    pub(crate) fn nets(&self) -> (&CouplingNet, &CouplingNet) {
        (&self.s, &self.t)
    }

    fn scale_shift(&self, z: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let mask = self.mask.to_dtype(z.dtype())?;
        let masked = z.broadcast_mul(&mask)?;
        let scale = self.s.forward(&masked)?;
        let shift = self.t.forward(&masked)?;
        Ok((masked, scale, shift))
    }

    /// Towards the data: `(z′, log|det ∂z′/∂z|)`, the latter `(N)`.
    pub fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let (masked, scale, shift) = self.scale_shift(z)?;
        let free = self.mask.to_dtype(z.dtype())?.affine(-1.0, 1.0)?;
        let moved = (z * scale.exp()? + shift)?.broadcast_mul(&free)?;
        let log_det = scale.broadcast_mul(&free)?.sum(1)?;
        Ok(((masked + moved)?, log_det))
    }

    /// Towards the base: the inverse of [`Self::forward`] and its log-determinant.
    pub fn inverse(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let (masked, scale, shift) = self.scale_shift(z)?;
        let free = self.mask.to_dtype(z.dtype())?.affine(-1.0, 1.0)?;
        let moved = ((z - shift)? * scale.neg()?.exp()?)?.broadcast_mul(&free)?;
        let log_det = scale.broadcast_mul(&free)?.sum(1)?.neg()?;
        Ok(((masked + moved)?, log_det))
    }
}
