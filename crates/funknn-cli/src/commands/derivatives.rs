//! `funknn derivatives`: colour maps of the gradient magnitude and the Laplacian.

use std::path::PathBuf;

use anyhow::Result;
use funknn_core::picture::{
    abs_quantile, diverging_rgb, mean_gradient_and_laplacian, render_tiles, sequential_rgb,
};
use funknn_core::{EvalOptions, Evaluator, JetOrder};
use funknn_weights::GELU_BSPLINE_PHOTO;

use crate::args::{ModelArgs, SizeArgs};
use crate::commands::load_for_rendering;
use crate::output::save_picture;
use crate::progress;

/// The options of `funknn derivatives`.
#[derive(clap::Args)]
pub struct DerivativesArgs {
    /// Input picture: PNG, JPEG, WebP, TIFF or BMP.
    pub input: PathBuf,
    /// Output prefix.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub size: SizeArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: &DerivativesArgs) -> Result<()> {
    let (input, prefix) = (&args.input, &args.output);
    let (model, image, _, out_h, out_w) =
        load_for_rendering(input, &args.size, &args.model, &GELU_BSPLINE_PHOTO)?;
    let evaluator = Evaluator::new(&model, &image, JetOrder::Laplacian, EvalOptions::default())?;
    let mut gradient = Vec::with_capacity(out_h * out_w);
    let mut laplacian = Vec::with_capacity(out_h * out_w);
    let bar = progress::rows(out_h, "derivatives");
    render_tiles(&evaluator, out_h, out_w, args.model.tile, |_, rows, jet| {
        let (g, l) = mean_gradient_and_laplacian(jet)?;
        gradient.extend_from_slice(&g);
        laplacian.extend_from_slice(&l);
        bar.inc(rows as u64);
        Ok(())
    })?;
    bar.finish_and_clear();
    let name = |suffix: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let g_max = abs_quantile(&gradient, 0.995);
    let l_range = abs_quantile(&laplacian, 0.99);
    save_picture(
        &name("-gradient.png"),
        &sequential_rgb(&gradient, g_max),
        out_w,
        out_h,
        3,
    )?;
    save_picture(
        &name("-laplacian.png"),
        &diverging_rgb(&laplacian, l_range),
        out_w,
        out_h,
        3,
    )?;
    tracing::info!(
        "wrote {}-gradient.png (inferno, dark to bright: |∇u| from 0 to {g_max:.3}, its 99.5th percentile) and {}-laplacian.png (blue to red: Δu from −{l_range:.3} to +{l_range:.3}, the 99th percentile of |Δu|; values beyond are clipped)",
        prefix.display(),
        prefix.display()
    );
    Ok(())
}
