//! `funknn upsample`: a picture super-resolved to any size, tile by tile.

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::Device;
use funknn_core::picture::{
    output_size, upsample_picture, write_picture, BitDepth, Picture, PictureFormat,
    UpsampleOptions, WriteOptions,
};
use funknn_weights::MLP_PHOTO;

use crate::args::{ModelArgs, SizeArgs};
use crate::models::load_model;
use crate::progress;

/// The options of `funknn upsample`.
#[derive(clap::Args)]
pub struct UpsampleArgs {
    /// Input picture: PNG, JPEG, WebP, TIFF or BMP (8- or 16-bit; grey, grey+alpha, RGB,
    /// RGBA or palette). The EXIF orientation is applied.
    pub input: PathBuf,
    /// Output picture, by extension: .png, .jpg/.jpeg, .tif/.tiff or .webp (lossless). It
    /// keeps the input's channels, alpha and bit depth where the format holds them.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub size: SizeArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Average the model over the 8 flips and transposes of the input: a little
    /// sharper and cleaner, 8× slower.
    #[arg(long)]
    pub self_ensemble: bool,
    /// JPEG quality, 1 to 100.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
}

pub fn run(args: &UpsampleArgs) -> Result<()> {
    let (input, output) = (&args.input, &args.output);
    // Check the output name before hours of work.
    let format = PictureFormat::from_path(output)?;
    let model = load_model(args.model.model.as_deref(), &MLP_PHOTO)?;
    let picture = Picture::read(input, &Device::Cpu)?;
    let (_, h, w) = picture.colour.dims3()?;
    let (out_h, out_w) = output_size(h, w, args.size.scale, args.size.size)?;
    let depth = if picture.depth == BitDepth::Sixteen && !format.holds_16_bit() {
        tracing::warn!("{format:?} holds 8-bit samples: writing 8 bits (.png or .tif keep 16)");
        BitDepth::Eight
    } else {
        picture.depth
    };
    let keep_alpha = picture.alpha.is_some() && format.holds_alpha();
    if picture.alpha.is_some() && !keep_alpha {
        tracing::warn!("JPEG holds no alpha channel: dropping it (.png, .tif or .webp keep it)");
    }
    let options = UpsampleOptions {
        tile_points: args.model.tile,
        self_ensemble: args.self_ensemble,
        depth,
        keep_alpha,
    };
    let bar = progress::rows(out_h, "upsampling");
    let raster = upsample_picture(&model, &picture, out_h, out_w, &options, |rows| {
        bar.inc(rows as u64)
    })?;
    bar.finish_and_clear();
    let write = WriteOptions {
        jpeg_quality: args.quality,
    };
    write_picture(output, &raster, &write)
        .with_context(|| format!("writing {}", output.display()))?;
    tracing::info!("wrote {} ({out_w}×{out_h})", output.display());
    Ok(())
}
