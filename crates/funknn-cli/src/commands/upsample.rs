//! `funknn upsample`: a picture super-resolved to any size, tile by tile.

use std::path::PathBuf;

use anyhow::{bail, Result};
use funknn_core::picture::{render_tiles, value_to_u8};
use funknn_core::{value_image, EvalOptions, Jet};
use funknn_weights::MLP_PHOTO;

use crate::args::{ModelArgs, SizeArgs};
use crate::commands::load_for_rendering;
use crate::output::save_picture;
use crate::progress;

/// The options of `funknn upsample`.
#[derive(clap::Args)]
pub struct UpsampleArgs {
    /// Input PNG or JPEG (grey or RGB).
    pub input: PathBuf,
    /// Output PNG or JPEG.
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
}

pub fn run(args: &UpsampleArgs) -> Result<()> {
    let (input, output) = (&args.input, &args.output);
    // Check the output name before hours of work.
    if image::ImageFormat::from_path(output).is_err() {
        bail!(
            "{}: the output must end in .png, .jpg or .jpeg",
            output.display()
        );
    }
    let (model, image, in_channels, out_h, out_w) =
        load_for_rendering(input, &args.size, &args.model, &MLP_PHOTO)?;
    let channels = model.config().channels;
    let mut pixels = vec![0u8; out_h * out_w * channels];
    let bar = progress::rows(out_h, "upsampling");
    let on_tile = |row: usize, rows: usize, jet: &Jet| {
        let tile = value_to_u8(jet)?;
        pixels[row * out_w * channels..(row + rows) * out_w * channels].copy_from_slice(&tile);
        bar.inc(rows as u64);
        Ok(())
    };
    let continuous = value_image(&model, &image, args.self_ensemble, EvalOptions::default())?;
    render_tiles(continuous.as_ref(), out_h, out_w, args.model.tile, on_tile)?;
    bar.finish_and_clear();
    // A grey input stays grey, even through an RGB model.
    let pixels = if in_channels == 1 && channels == 3 {
        pixels.chunks(3).map(|p| p[0]).collect()
    } else {
        pixels
    };
    let out_channels = if in_channels == 1 { 1 } else { channels };
    save_picture(output, &pixels, out_w, out_h, out_channels)?;
    tracing::info!("wrote {} ({out_w}×{out_h})", output.display());
    Ok(())
}
