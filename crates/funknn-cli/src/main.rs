//! `funknn`: import FunkNN weights and evaluate continuous images and their derivatives.
//! The work happens in `funknn-core`; this binary parses options and reports errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::{Parser, Subcommand};
use funknn_core::image_io::{match_channels, read_images};
use funknn_core::weights::write_atomic;
use funknn_core::{Activation, Config, EvalOptions, FunkNN, JetOrder, KernelKind, Network};

#[derive(Parser)]
#[command(
    name = "funknn",
    version,
    about = "FunkNN: continuous images and their exact derivatives"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import weights (an official `funknn.pt` checkpoint or a .safetensors file) into a
    /// model folder (config.json + model.safetensors).
    Import {
        /// The checkpoint: .pt (`{'model_state_dict': ...}` or a bare state dict) or .safetensors.
        #[arg(long = "from")]
        from: PathBuf,
        /// Patch network: mlp or cnn.
        #[arg(long, default_value = "mlp")]
        network: Network,
        /// Activation: relu, sin, gelu, silu or tanh.
        #[arg(long, default_value = "relu")]
        activation: Activation,
        /// Interpolation kernel: bicubic, cubic_conv, bilinear or bspline.
        #[arg(long, default_value = "bicubic")]
        kernel: KernelKind,
        /// Image channels the model was trained on.
        #[arg(long, default_value_t = 3)]
        channels: usize,
        /// Store the weights as f16 (half the size).
        #[arg(long)]
        f16: bool,
        /// Output model folder.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Evaluate a model on an image at arbitrary points, with derivatives.
    Points {
        /// Model folder (config.json + model.safetensors).
        #[arg(long)]
        model: PathBuf,
        /// PNG/JPEG, or .safetensors with `image` (C,H,W) or (N,C,H,W) f32 in [0, 1].
        #[arg(long)]
        image: PathBuf,
        /// .safetensors with `points` (P,2) or (N,P,2): (x, y) in the unit square, x along the width.
        #[arg(long)]
        points: PathBuf,
        /// none, gradient, laplacian or hessian.
        #[arg(long, default_value = "none")]
        derivatives: JetOrder,
        /// Compute in f64 (slower; for checks).
        #[arg(long)]
        f64: bool,
        /// Output .safetensors: value (N,P,C), gradient (N,P,C,2) as (∂x, ∂y), laplacian
        /// (N,P,C), hessian (N,P,C,3) as (xx, xy, yy).
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Import {
            from,
            network,
            activation,
            kernel,
            channels,
            f16,
            output,
        } => import(&from, network, activation, kernel, channels, f16, &output),
        Command::Points {
            model,
            image,
            points,
            derivatives,
            f64,
            output,
        } => points_command(&model, &image, &points, derivatives, f64, &output),
    }
}

fn import(
    from: &Path,
    network: Network,
    activation: Activation,
    kernel: KernelKind,
    channels: usize,
    f16: bool,
    output: &Path,
) -> Result<()> {
    let config = Config {
        network,
        activation,
        kernel,
        channels,
        source: Some(format!("imported from {}", from.display())),
        ..Config::default()
    };
    let model = FunkNN::import(from, &config, DType::F32, &Device::Cpu)
        .with_context(|| format!("importing {}", from.display()))?;
    let storage = if f16 { DType::F16 } else { DType::F32 };
    model
        .save(output, storage)
        .with_context(|| format!("writing model folder {}", output.display()))?;
    tracing::info!(
        "wrote {} ({} {} {}, {} parameters)",
        output.display(),
        network,
        activation,
        kernel,
        model
            .parameters()
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum::<usize>()
    );
    Ok(())
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

fn points_command(
    model_dir: &Path,
    image: &Path,
    points: &Path,
    order: JetOrder,
    f64: bool,
    output: &Path,
) -> Result<()> {
    let dtype = if f64 { DType::F64 } else { DType::F32 };
    let device = Device::Cpu;
    let model = FunkNN::load(model_dir, dtype, &device)
        .with_context(|| format!("loading model {}", model_dir.display()))?;
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
    let points = read_points(points, images.dim(0)?)?.to_dtype(dtype)?;
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
