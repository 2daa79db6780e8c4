//! A picture file's content super-resolved by a FunkNN: its colour channels through the
//! model, its alpha channel (if any) through the model's kernel alone.

use candle_core::Tensor;

use crate::engine::ensemble::value_image;
use crate::engine::interpolant::KernelInterpolant;
use crate::jet::JetOrder;
use crate::model::{EvalOptions, FunkNN};
use crate::picture::io::{match_channels, BitDepth, Picture, Raster, Samples};
use crate::picture::render::render_tiles;
use crate::Result;

/// How [`upsample_picture`] renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsampleOptions {
    /// Points per tile: bounds memory whatever the output size.
    pub tile_points: usize,
    /// Average the model over the 8 flips and transposes of the input (8× slower).
    pub self_ensemble: bool,
    /// Bits per sample of the result.
    pub depth: BitDepth,
    /// Render the picture's alpha channel, if it has one (else drop it).
    pub keep_alpha: bool,
}

impl Default for UpsampleOptions {
    fn default() -> Self {
        UpsampleOptions {
            tile_points: 65_536,
            self_ensemble: false,
            depth: BitDepth::Eight,
            keep_alpha: true,
        }
    }
}

/// Renders `picture` at `height × width` pixel centres. The colour channels go through
/// `model` (a grey picture through an RGB model comes back grey); the alpha channel is the
/// model's kernel interpolant of the input's alpha, because the network never learned
/// alpha, and the edge of a cut-out should stay where interpolation puts it. `on_rows` is
/// told how many output rows each tile finished.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use funknn_core::picture::{upsample_picture, BitDepth, Picture, UpsampleOptions};
/// use funknn_core::{Config, FunkNN};
///
/// let (model, _) = FunkNN::random(&Config::default(), 0, DType::F32, &Device::Cpu)?;
/// let picture = Picture {
///     colour: Tensor::rand(0f32, 1., (3, 8, 8), &Device::Cpu)?,
///     alpha: Some(Tensor::ones((1, 8, 8), DType::F32, &Device::Cpu)?),
///     depth: BitDepth::Sixteen,
/// };
/// let options = UpsampleOptions { depth: BitDepth::Sixteen, ..Default::default() };
/// let raster = upsample_picture(&model, &picture, 16, 12, &options, |_| {})?;
/// assert_eq!((raster.width, raster.height, raster.channels), (12, 16, 4));
/// assert_eq!(raster.depth(), BitDepth::Sixteen);
/// # Ok::<(), funknn_core::Error>(())
/// ```
pub fn upsample_picture(
    model: &FunkNN,
    picture: &Picture,
    height: usize,
    width: usize,
    options: &UpsampleOptions,
    mut on_rows: impl FnMut(usize),
) -> Result<Raster> {
    let in_channels = picture.colour.dim(0)?;
    let channels = model.config().channels;
    let image = match_channels(&picture.colour.unsqueeze(0)?, channels)?;
    let continuous = value_image(model, &image, options.self_ensemble, EvalOptions::default())?;
    let mut colour = Samples::new(options.depth);
    render_tiles(
        continuous.as_ref(),
        height,
        width,
        options.tile_points,
        |_, rows, jet| {
            colour.push_values(&values(&jet.value()?)?);
            on_rows(rows);
            Ok(())
        },
    )?;
    let alpha = match (&picture.alpha, options.keep_alpha) {
        (Some(alpha), true) => {
            let kernel = model.config().kernel;
            let interpolant =
                KernelInterpolant::new(kernel, &alpha.unsqueeze(0)?, JetOrder::Value)?;
            let mut samples = Samples::new(options.depth);
            render_tiles(
                &interpolant,
                height,
                width,
                options.tile_points,
                |_, _, jet| {
                    samples.push_values(&values(&jet.value()?)?);
                    Ok(())
                },
            )?;
            Some(samples)
        }
        _ => None,
    };
    let keep = if in_channels == 1 { 1 } else { channels };
    let samples = if keep == channels && alpha.is_none() {
        colour
    } else {
        Samples::compose(&colour, channels, keep, alpha.as_ref())?
    };
    Raster::new(width, height, keep + usize::from(alpha.is_some()), samples)
}

fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1()?)
}
