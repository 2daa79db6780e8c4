//! The 3×3 'same' convolution both halves of the autoencoder are made of.

use candle_core::{Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use crate::autoencoder::im2col;
use crate::Result;

/// PyTorch's `Conv2d(cin, cout, 3, padding='same')`: for an odd kernel, one pixel of zeros
/// on every side. Weights `[cout, cin, 3, 3]`, bias `[cout]`. On the CPU in f32 and f64 it
/// runs the im2col kernel of `im2col.rs` (forward and backward); elsewhere candle's.
#[derive(Debug, Clone)]
pub(crate) struct Conv3x3 {
    inner: Conv2d,
}

impl Conv3x3 {
    pub fn new(cin: usize, cout: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(Conv3x3 {
            inner: candle_nn::conv2d(cin, cout, 3, cfg, vb)?,
        })
    }
}

impl Conv3x3 {
    /// The convolution, then `max(·, 0)` if `relu` (fused on the CPU).
    fn apply(&self, x: &Tensor, relu: bool) -> candle_core::Result<Tensor> {
        match self.inner.bias() {
            Some(b) if im2col::supported(x) && x.dtype() == self.inner.weight().dtype() => {
                im2col::conv3x3(x, self.inner.weight(), b, relu)
            }
            _ if relu => self.inner.forward(x)?.relu(),
            _ => self.inner.forward(x),
        }
    }
}

impl Module for Conv3x3 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x, false)
    }
}

pub(crate) fn conv3x3(cin: usize, cout: usize, vb: VarBuilder) -> Result<Conv3x3> {
    Conv3x3::new(cin, cout, vb)
}

pub(crate) fn relu_conv(conv: &Conv3x3, x: &Tensor) -> Result<Tensor> {
    Ok(conv.apply(x, true)?)
}
