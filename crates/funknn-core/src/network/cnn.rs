//! The paper's patch CNN: eight 2×2 convolutions with 64 channels, residual connections,
//! max-pools after layers 4 and 8, then an MLP head.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::config::Activation;
use crate::jet::Jet;
use crate::network::activation::activate_jet;
use crate::network::linear::SameConv2d;
use crate::network::mlp::{Mlp, CNN_HEAD_HIDDEN};
use crate::Result;

/// Channels of every convolution.
pub const CNN_CHANNELS: usize = 64;
/// Number of convolutions.
pub const CNN_LAYERS: usize = 8;
/// Convolution kernel side.
pub const CNN_KERNEL: usize = 2;

/// Side of the feature map after the two floor-halving max-pools.
pub fn pooled_side(patch_size: usize) -> usize {
    patch_size / 2 / 2
}

/// Layers `CNNs.{i}` and the head `MLP.{i}` (with `w.{i}` for the sine activation).
#[derive(Debug, Clone)]
pub struct Cnn {
    convs: Vec<SameConv2d>,
    head: Mlp,
    activation: Activation,
}

impl Cnn {
    pub fn new(
        channels: usize,
        patch_size: usize,
        activation: Activation,
        vb: VarBuilder,
    ) -> Result<Self> {
        let convs = (0..CNN_LAYERS)
            .map(|i| {
                let input = if i == 0 { channels } else { CNN_CHANNELS };
                SameConv2d::new(input, CNN_CHANNELS, CNN_KERNEL, vb.pp(format!("CNNs.{i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let side = pooled_side(patch_size);
        let head = Mlp::new(
            CNN_CHANNELS * side * side,
            &CNN_HEAD_HIDDEN,
            channels,
            activation,
            vb,
        )?;
        Ok(Cnn {
            convs,
            head,
            activation,
        })
    }

    pub fn convs(&self) -> &[SameConv2d] {
        &self.convs
    }

    pub fn head(&self) -> &Mlp {
        &self.head
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Maps a patch jet `(K, B, C, w, w)` to `(K, B, C)`.
    pub fn forward_jet(&self, patch: &Jet) -> Result<Jet> {
        let mut x = patch.clone();
        for (i, conv) in self.convs.iter().enumerate() {
            let pre = conv.forward_parts(&x)?;
            // The official code uses plain sin(z) here: no frequency in the conv stack.
            let y = activate_jet(self.activation, &pre, Some(&conv.bias_4d()?), None)?;
            x = match i {
                3 | 7 => max_pool_jet(&y)?,
                0 => y,
                _ => y.add(&x)?,
            };
        }
        let (k, b) = (x.parts().dim(0)?, x.parts().dim(1)?);
        let flat = x.map(|p| p.reshape((k, b, ())))?;
        self.head.forward_jet(&flat)
    }
}

/// 2×2 max-pool, stride 2, flooring odd sides. Every part follows the argmax of the value,
/// the derivative of the pooled value wherever the maximum is unique. Built from reshape
/// and a one-hot mask rather than candle's `max_pool2d`, whose backward is wrong.
pub fn max_pool_jet(x: &Jet) -> Result<Jet> {
    let dims = x.parts().dims().to_vec();
    let (k, b, c, h, w) = (dims[0], dims[1], dims[2], dims[3], dims[4]);
    let (hp, wp) = (h / 2, w / 2);
    let windows = x
        .parts()
        .narrow(3, 0, 2 * hp)?
        .narrow(4, 0, 2 * wp)?
        .reshape((k * b, c, hp, 2, wp, 2))?
        .permute((0, 1, 2, 4, 3, 5))?
        .reshape((k, b, c, hp, wp, 4))?;
    let value = windows.get(0)?.detach();
    let argmax = value.argmax_keepdim(4)?;
    let slots = Tensor::arange(0u32, 4, value.device())?.reshape((1, 1, 1, 1, 4))?;
    let one_hot = argmax.broadcast_eq(&slots)?.to_dtype(value.dtype())?;
    x.map(|_| windows.broadcast_mul(&one_hot.unsqueeze(0)?)?.sum(5))
}
