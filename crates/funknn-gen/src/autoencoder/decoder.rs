//! The decoder, the generator half of the autoencoder: a linear layer to a 2×2 bottleneck,
//! then per stage a nearest ×2 upsampling and three 3×3 convolutions with a residual.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::autoencoder::config::AutoencoderConfig;
use crate::autoencoder::conv::{conv3x3, relu_conv, Conv3x3};
use crate::autoencoder::upsample::upsample_nearest_2x;
use crate::generator::DiscreteGenerator;
use crate::{Error, Result};

/// The official `decoder` (tensor names `mlps.0`, `t_CNNs.{i}`, `CNNs.{2i}`, `CNNs.{2i+1}`).
/// Its output is not clamped to [0, 1], as in the official code.
#[derive(Debug, Clone)]
pub struct Decoder {
    config: AutoencoderConfig,
    linear: Linear,
    /// The first convolution of each stage (official `t_CNNs`).
    stage_in: Vec<Conv3x3>,
    /// The two further convolutions of each stage (official `CNNs`).
    stage_convs: Vec<(Conv3x3, Conv3x3)>,
}

impl Decoder {
    pub fn new(config: &AutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let bottleneck = config.bottleneck();
        let linear = candle_nn::linear(config.latent_dim, 4 * bottleneck, vb.pp("mlps.0"))?;
        let (mut stage_in, mut stage_convs) = (Vec::new(), Vec::new());
        let mut prev = bottleneck;
        for (i, (hidden, out)) in config.decoder_stages().into_iter().enumerate() {
            stage_in.push(conv3x3(prev, hidden, vb.pp(format!("t_CNNs.{i}")))?);
            let a = conv3x3(hidden, hidden, vb.pp(format!("CNNs.{}", 2 * i)))?;
            let b = conv3x3(hidden, out, vb.pp(format!("CNNs.{}", 2 * i + 1)))?;
            stage_convs.push((a, b));
            prev = out;
        }
        Ok(Decoder {
            config: config.clone(),
            linear,
            stage_in,
            stage_convs,
        })
    }

    pub fn config(&self) -> &AutoencoderConfig {
        &self.config
    }

    /// Images `(N, C, H, W)` for latents `(N, D)`.
    pub fn forward(&self, latent: &Tensor) -> Result<Tensor> {
        let d = self.config.latent_dim;
        let n = match latent.dims() {
            [n, dd] if *dd == d => *n,
            dims => {
                return Err(Error::Shape {
                    name: "latent",
                    expected: format!("(N, {d})"),
                    got: dims.to_vec(),
                })
            }
        };
        let mut x =
            self.linear
                .forward(latent)?
                .relu()?
                .reshape((n, self.config.bottleneck(), 2, 2))?;
        let last = self.stage_in.len() - 1;
        for (i, (first, (a, b))) in self.stage_in.iter().zip(&self.stage_convs).enumerate() {
            x = upsample_nearest_2x(&x)?;
            let xr = relu_conv(first, &x)?;
            if i < last {
                x = (relu_conv(b, &relu_conv(a, &xr)?)? + xr)?;
            } else {
                // The image stage: no residual, no activation on the output.
                x = b.forward(&relu_conv(a, &xr)?)?;
            }
        }
        Ok(x)
    }
}

impl DiscreteGenerator for Decoder {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn image_shape(&self) -> (usize, usize, usize) {
        let r = self.config.resolution;
        (self.config.channels, r, r)
    }

    fn generate(&self, latent: &Tensor) -> Result<Tensor> {
        self.forward(latent)
    }
}
