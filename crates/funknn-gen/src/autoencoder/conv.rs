//! The 3×3 'same' convolution both halves of the autoencoder are made of.

use candle_core::{Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use crate::Result;

/// PyTorch's `Conv2d(cin, cout, 3, padding='same')`: for an odd kernel, one pixel of zeros
/// on every side. Weights `[cout, cin, 3, 3]`, bias `[cout]`.
pub(crate) fn conv3x3(cin: usize, cout: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    Ok(candle_nn::conv2d(cin, cout, 3, cfg, vb)?)
}

pub(crate) fn relu_conv(conv: &Conv2d, x: &Tensor) -> Result<Tensor> {
    Ok(conv.forward(x)?.relu()?)
}
