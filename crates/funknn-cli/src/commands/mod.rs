//! One module per subcommand: its options and what it runs.

pub mod ct;
pub mod derivatives;
pub mod eval;
pub mod eval_generator;
pub mod fit_mixture;
pub mod import;
pub mod points;
pub mod sample;
pub mod simulate;
pub mod solve;
pub mod train;
pub mod train_classifier;
pub mod train_generator;
pub mod upsample;

use std::path::Path;

use anyhow::Result;
use candle_core::{Device, Tensor};
use funknn_core::picture::match_channels;
use funknn_core::FunkNN;
use funknn_weights::ShippedModel;

use crate::args::{ModelArgs, SizeArgs};
use crate::models::load_model;

/// The model and the input picture with the model's channel count, and the output size.
pub fn load_for_rendering(
    input: &Path,
    size: &SizeArgs,
    args: &ModelArgs,
    default: &ShippedModel,
) -> Result<(FunkNN, Tensor, usize, usize, usize)> {
    let model = load_model(args.model.as_deref(), default)?;
    let picture = funknn_core::picture::read_picture(input, &Device::Cpu)?;
    let (in_channels, h, w) = picture.dims3()?;
    let (out_h, out_w) = funknn_core::picture::output_size(h, w, size.scale, size.size)?;
    let image = match_channels(&picture.unsqueeze(0)?, model.config().channels)?;
    Ok((model, image, in_channels, out_h, out_w))
}
