//! The encoder: 3×3 convolutions and 2×2 max-pools down to 2×2, with the mean image added
//! back at each of the first four stages as sub-pixel channels, then a linear layer.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::autoencoder::config::AutoencoderConfig;
use crate::autoencoder::conv::{conv3x3, relu_conv, Conv3x3};
use crate::autoencoder::pool::max_pool_2x2;
use crate::{Error, Result};

/// The official `encoder` (tensor names `CNNs.{i}`, `CNNs_add.{2i}`, `CNNs_add.{2i+1}`,
/// `mlps.0`).
#[derive(Debug, Clone)]
pub struct Encoder {
    config: AutoencoderConfig,
    stage_in: Vec<Conv3x3>,
    stage_convs: Vec<(Conv3x3, Conv3x3)>,
    linear: Linear,
}

/// The official `squeeze(x, f)`: `(N, C, H, W)` to `(N, C·f², H/f, W/f)`, the channel of
/// sub-pixel (p, q) and input channel c being `(p·f + q)·C + c`.
pub fn space_to_depth(x: &Tensor, f: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    Ok(x.permute((0, 2, 3, 1))?
        .reshape((n, h / f, f, w / f, f, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .reshape((n, h / f, w / f, c * f * f))?
        .permute((0, 3, 1, 2))?
        .contiguous()?)
}

/// Spreads the `k` skip channels over `channels`: each repeated `channels / k` times in turn
/// (the official `repeat_interleave`), or, when the stage is narrower than the skip (a width
/// below 1), consecutive groups of `k / channels` averaged.
fn spread(skip: &Tensor, channels: usize) -> Result<Tensor> {
    let (n, k, h, w) = skip.dims4()?;
    if channels.is_multiple_of(k) {
        let r = channels / k;
        Ok(skip
            .unsqueeze(2)?
            .broadcast_as((n, k, r, h, w))?
            .reshape((n, channels, h, w))?)
    } else {
        Ok(skip.reshape((n, channels, k / channels, h, w))?.mean(2)?)
    }
}

impl Encoder {
    pub fn new(config: &AutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let (mut stage_in, mut stage_convs) = (Vec::new(), Vec::new());
        let mut prev = config.channels;
        for (i, c) in config.encoder_stages().into_iter().enumerate() {
            stage_in.push(conv3x3(prev, c, vb.pp(format!("CNNs.{i}")))?);
            let a = conv3x3(c, c, vb.pp(format!("CNNs_add.{}", 2 * i)))?;
            let b = conv3x3(c, c, vb.pp(format!("CNNs_add.{}", 2 * i + 1)))?;
            stage_convs.push((a, b));
            prev = c;
        }
        let linear =
            candle_nn::linear(4 * config.bottleneck(), config.latent_dim, vb.pp("mlps.0"))?;
        Ok(Encoder {
            config: config.clone(),
            stage_in,
            stage_convs,
            linear,
        })
    }

    /// Latents `(N, D)` of images `(N, C, H, W)` at the configured resolution.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let (c, r) = (self.config.channels, self.config.resolution);
        let n = match images.dims() {
            [n, cc, h, w] if *cc == c && *h == r && *w == r => *n,
            dims => {
                return Err(Error::Shape {
                    name: "images",
                    expected: format!("(N, {c}, {r}, {r})"),
                    got: dims.to_vec(),
                })
            }
        };
        let mean_image = images.mean_keepdim(1)?;
        let mut x = images.clone();
        for (i, (first, (a, b))) in self.stage_in.iter().zip(&self.stage_convs).enumerate() {
            x = relu_conv(first, &x)?;
            let mut xm = max_pool_2x2(&x)?;
            if i < 4 {
                let skip = space_to_depth(&mean_image, 1 << (i + 1))?;
                xm = (xm.clone() + spread(&skip, xm.dim(1)?)?)?;
            }
            x = (relu_conv(b, &relu_conv(a, &xm)?)? + xm)?;
        }
        Ok(self.linear.forward(&x.reshape((n, ()))?)?)
    }
}
