//! Affine layers on jets: the value gets the bias, every derivative part does not.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::jet::Jet;
use crate::Result;

/// A fully connected layer `y = x Wᵀ + b`, weights `[out, in]` as in PyTorch.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Linear {
            weight: vb.get((out_dim, in_dim), "weight")?,
            bias: vb.get(out_dim, "bias")?,
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// `x Wᵀ` on all parts of a jet `(K, B, in)` in one matmul, without the bias.
    pub fn forward_parts(&self, x: &Jet) -> Result<Jet> {
        let (k, b, f) = x.parts().dims3()?;
        let out = self.weight.dim(0)?;
        let y = x.parts().reshape((k * b, f))?.matmul(&self.weight.t()?)?;
        Jet::new(y.reshape((k, b, out))?, x.order())
    }
}

/// A 2×2-style convolution with PyTorch's `padding='same'` for even kernels: zeros are added
/// after the data only (one row at the bottom, one column at the right for k = 2).
#[derive(Debug, Clone)]
pub struct SameConv2d {
    weight: Tensor,
    bias: Tensor,
}

impl SameConv2d {
    pub fn new(in_ch: usize, out_ch: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        Ok(SameConv2d {
            weight: vb.get((out_ch, in_ch, kernel, kernel), "weight")?,
            bias: vb.get(out_ch, "bias")?,
        })
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// `[out, in, kh, kw]`, as in PyTorch.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Bias shaped to broadcast over `(B, C, H, W)`.
    pub fn bias_4d(&self) -> Result<Tensor> {
        Ok(self.bias.reshape((1, self.bias.dim(0)?, 1, 1))?)
    }

    /// The convolution of all parts `(K, B, C, H, W)` at once, without the bias.
    pub fn forward_parts(&self, x: &Jet) -> Result<Jet> {
        let dims = x.parts().dims().to_vec();
        let (k, b, c, h, w) = (dims[0], dims[1], dims[2], dims[3], dims[4]);
        let ks = self.weight.dim(2)?;
        let out = self.weight.dim(0)?;
        // PyTorch 'same': total padding k−1, split as (k−1)/2 before and the rest after.
        let before = (ks - 1) / 2;
        let after = ks - 1 - before;
        let y = x
            .parts()
            .reshape((k * b, c, h, w))?
            .pad_with_zeros(2, before, after)?
            .pad_with_zeros(3, before, after)?
            .conv2d(&self.weight, 0, 1, 1, 1)?;
        Jet::new(y.reshape((k, b, out, h, w))?, x.order())
    }
}
