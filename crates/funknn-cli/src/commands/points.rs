//! `funknn points`: a model evaluated on an image at arbitrary points, with derivatives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use funknn_core::hub::HubOptions;
use funknn_core::picture::{match_channels, read_images};
use funknn_core::{write_atomic, EvalOptions, FunkNN, JetOrder};

/// The options of `funknn points`.
#[derive(clap::Args)]
pub struct PointsArgs {
    /// Model: a folder (config.json + model.safetensors) or a hub repo id owner/name (or owner/name@revision).
    #[arg(long)]
    pub model: String,
    /// A picture file (PNG, JPEG, WebP, TIFF or BMP; its colour channels), or .safetensors with `image` (C,H,W) or (N,C,H,W) f32 in [0, 1].
    #[arg(long)]
    pub image: PathBuf,
    /// .safetensors with `points` (P,2) or (N,P,2): (x, y) in the unit square, x along the width.
    #[arg(long)]
    pub points: PathBuf,
    /// none, gradient, laplacian or hessian.
    #[arg(long, default_value = "none")]
    pub derivatives: JetOrder,
    /// Compute in f64 (slower; for checks).
    #[arg(long)]
    pub f64: bool,
    /// Output .safetensors: value (N,P,C), gradient (N,P,C,2) as (∂x, ∂y), laplacian
    /// (N,P,C), hessian (N,P,C,3) as (xx, xy, yy).
    #[arg(short, long)]
    pub output: PathBuf,
}

fn read_points(path: &Path, n_images: usize) -> Result<Tensor> {
    if !path.is_file() {
        bail!("points file {} not found", path.display());
    }
    let mut tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("reading points {}", path.display()))?;
    let points = tensors
        .remove("points")
        .with_context(|| format!("{}: no tensor named \"points\"", path.display()))?;
    let points = match points.dims() {
        [_, 2] => points.unsqueeze(0)?.repeat((n_images, 1, 1))?,
        [n, _, 2] if *n == n_images => points,
        dims => bail!(
            "{}: points must be (P, 2) or ({n_images}, P, 2) to match the images, got {dims:?}",
            path.display()
        ),
    };
    Ok(points)
}

pub fn run(args: &PointsArgs) -> Result<()> {
    let (model_dir, image, output) = (&args.model, &args.image, &args.output);
    let (order, f64) = (args.derivatives, args.f64);
    let dtype = if f64 { DType::F64 } else { DType::F32 };
    let device = Device::Cpu;
    let model = FunkNN::load_from(model_dir, &HubOptions::from_env(), dtype, &device)
        .with_context(|| format!("loading model {model_dir}"))?;
    let images = read_images(image, &device)
        .with_context(|| format!("reading image {}", image.display()))?;
    let channels = model.config().channels;
    if images.dim(1)? != channels {
        if image
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
        {
            bail!(
                "{}: the image has {} channels, the model expects {channels}",
                image.display(),
                images.dim(1)?
            );
        }
        tracing::warn!(
            "converting the image from {} to {channels} channels",
            images.dim(1)?
        );
    }
    let images = match_channels(&images, channels)?.to_dtype(dtype)?;
    let points = read_points(&args.points, images.dim(0)?)?.to_dtype(dtype)?;
    let jet = model
        .evaluate(&images, &points, order, EvalOptions::default())
        .context("evaluating the model")?;
    let mut out: HashMap<String, Tensor> = HashMap::new();
    let f32 = |t: Tensor| t.to_dtype(DType::F32);
    out.insert("value".into(), f32(jet.value()?)?);
    if let Some(g) = jet.gradient()? {
        out.insert("gradient".into(), f32(g)?);
    }
    if let Some(l) = jet.laplacian()? {
        out.insert("laplacian".into(), f32(l)?);
    }
    if let Some(h) = jet.hessian()? {
        out.insert("hessian".into(), f32(h)?);
    }
    write_atomic(output, |tmp| Ok(candle_core::safetensors::save(&out, tmp)?))
        .with_context(|| format!("writing {}", output.display()))?;
    tracing::info!(
        "wrote {} ({} points per image)",
        output.display(),
        points.dim(1)?
    );
    Ok(())
}
