//! `funknn`: import FunkNN weights and evaluate continuous images and their derivatives.
//! The work happens in `funknn-core`; this binary parses options and reports errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::{Parser, Subcommand};
use funknn_core::colormap::{abs_quantile, diverging_rgb, sequential_rgb};
use funknn_core::dataset::{Degradation, ImageFolder, TrainMode};
use funknn_core::ensemble::value_image;
use funknn_core::eval::{evaluate_folder, Scale};
use funknn_core::image_io::{match_channels, read_images};
use funknn_core::init::InitScheme;
use funknn_core::render::{mean_gradient_and_laplacian, render_tiles, value_to_u8};
use funknn_core::train::{checkpoint_dir, TrainConfig, Trainer};
use funknn_core::weights::write_atomic;
use funknn_core::{
    Activation, Config, EvalOptions, Evaluator, FunkNN, Jet, JetOrder, KernelKind, Network,
};

mod commands {
    pub mod ct;
}

// Training allocates and frees many tensor-sized buffers per step; glibc returns each one to
// the kernel (mmap/munmap) and pays a page fault per page the next time. mimalloc keeps them:
// a training step took 1.6 s with glibc's allocator and 0.9 s with this one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        #[command(flatten)]
        architecture: ArchitectureArgs,
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
    /// Train a FunkNN for super-resolution on a folder of PNG/JPEG photographs. Checkpoints
    /// go to OUT/checkpoint; a killed run continues with --resume.
    Train(TrainArgs),
    /// SNR and PSNR of FunkNN against bilinear, bicubic and Lanczos-3 on a folder of images
    /// (centre crops, antialiased bilinear downsampling) at ×2, ×3, ×4 and ×4 via two ×2 steps.
    Eval {
        /// Model folder; default: the embedded funknn-mlp-photo.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Folder of PNG/JPEG test images.
        #[arg(long)]
        data: PathBuf,
        /// Largest side of the high-resolution centre crop.
        #[arg(long, default_value_t = 512)]
        max_side: usize,
        /// Scales to test (comma-separated; non-integer allowed).
        #[arg(long, value_delimiter = ',', default_values_t = [2.0, 3.0, 4.0])]
        scales: Vec<f64>,
        /// Also write the table as Markdown to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Score FunkNN's mean over the 8 flips and transposes of the input (8× slower).
        #[arg(long)]
        self_ensemble: bool,
    },
    /// Super-resolve a PNG/JPEG to any size (non-integer scales too), tile by tile.
    Upsample {
        /// Input PNG or JPEG (grey or RGB).
        input: PathBuf,
        /// Output PNG or JPEG.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        size: SizeArgs,
        #[command(flatten)]
        model: ModelArgs,
        /// Average the model over the 8 flips and transposes of the input: a little
        /// sharper and cleaner, 8× slower.
        #[arg(long)]
        self_ensemble: bool,
    },
    /// Computed tomography: simulate sinograms of phantoms, reconstruct them (FBP, TV).
    Ct(commands::ct::CtArgs),
    /// Draw the gradient magnitude and the Laplacian of the continuous image as colour maps:
    /// PREFIX-gradient.png (sequential) and PREFIX-laplacian.png (diverging).
    Derivatives {
        /// Input PNG or JPEG.
        input: PathBuf,
        /// Output prefix.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        size: SizeArgs,
        #[command(flatten)]
        model: ModelArgs,
    },
}

/// The model architecture, for `import` and `train`.
#[derive(clap::Args)]
struct ArchitectureArgs {
    /// Patch network: mlp or cnn.
    #[arg(long, default_value = "mlp")]
    network: Network,
    /// Activation: relu, sin, gelu, silu or tanh.
    #[arg(long, default_value = "relu")]
    activation: Activation,
    /// Interpolation kernel: bicubic, cubic_conv, bilinear or bspline.
    #[arg(long, default_value = "bicubic")]
    kernel: KernelKind,
    /// Image channels (1 grey, 3 RGB).
    #[arg(long, default_value_t = 3)]
    channels: usize,
}

impl ArchitectureArgs {
    fn config(&self, source: Option<String>) -> Config {
        Config {
            network: self.network,
            activation: self.activation,
            kernel: self.kernel,
            channels: self.channels,
            source,
            ..Config::default()
        }
    }
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Folder of training images (PNG/JPEG, at least --crop pixels on each side).
    #[arg(long)]
    data: PathBuf,
    /// Output folder: the model (config.json, model.safetensors, train.json), losses.csv,
    /// loss.png and the checkpoint.
    #[arg(short, long)]
    output: PathBuf,
    /// Continue the run in OUTPUT/checkpoint (its saved settings win over these flags).
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    architecture: ArchitectureArgs,
    /// factor (input n in [N/8, N/2), target 2n), continuous or single.
    #[arg(long, default_value = "factor")]
    mode: TrainMode,
    /// Factor mode: each batch's scale is an integer drawn from 2..=MAX_FACTOR (2: the
    /// official ×2; on photographs, 4 did not improve ×4: see docs/training.md).
    #[arg(long, default_value_t = 2)]
    max_factor: usize,
    /// Side N of the random crops.
    #[arg(long, default_value_t = 128)]
    crop: usize,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Target pixels per image and step.
    #[arg(long, default_value_t = 512)]
    points: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Steps between learning-rate decays (0: constant).
    #[arg(long, default_value_t = 0)]
    lr_step: usize,
    /// Factor of each learning-rate decay.
    #[arg(long, default_value_t = 0.5)]
    lr_gamma: f64,
    /// Feed the MLP plain patches, as the official code does, instead of centred ones
    /// (centring trains much faster on photographs; the saved model is the same kind).
    #[arg(long)]
    plain_patches: bool,
    /// Cosine decay of the learning rate to 0 over the run (instead of --lr-step).
    #[arg(long)]
    cosine: bool,
    /// Optimisation steps (default 1000). With --resume, a new total for the run: longer to
    /// extend it, or the steps already taken to stop it and write the model now.
    #[arg(long)]
    steps: Option<usize>,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Initialisation: he (default: trains the deep ReLU MLP well) or pytorch (the
    /// official code's, which stalls at the interpolation baseline on photographs).
    #[arg(long, default_value = "he")]
    init: InitScheme,
    /// Downscale training images so that their longer side is at most this (0: keep).
    #[arg(long, default_value_t = 0)]
    max_side: usize,
    /// What the low-resolution input is downsampled from: target (the input is the
    /// target's downsample, the relation `funknn eval` tests) or crop (the official code:
    /// input and target both downsampled from the crop; its models sharpen too little).
    #[arg(long, default_value = "target")]
    degradation: Degradation,
    /// Random flips and transposes of the crops.
    #[arg(long)]
    augment: bool,
    /// Store the final weights as f16.
    #[arg(long)]
    f16: bool,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct SizeArgs {
    /// Scale factor (any positive number, e.g. 4 or 2.5).
    #[arg(long)]
    scale: Option<f64>,
    /// Output size as WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size)]
    size: Option<(usize, usize)>,
}

/// A model shipped in `weights/` and embedded in the binary, so that `funknn` works from any
/// directory after `cargo install`.
struct Shipped {
    name: &'static str,
    config: &'static str,
    weights: &'static [u8],
}

/// The default super-resolution model.
const MLP_PHOTO: Shipped = Shipped {
    name: "funknn-mlp-photo",
    config: include_str!("../../../weights/funknn-mlp-photo/config.json"),
    weights: include_bytes!("../../../weights/funknn-mlp-photo/model.safetensors"),
};

/// The default model for derivatives: smooth (sine activation, B-spline kernel).
const SIN_BSPLINE_PHOTO: Shipped = Shipped {
    name: "funknn-sin-bspline-photo",
    config: include_str!("../../../weights/funknn-sin-bspline-photo/config.json"),
    weights: include_bytes!("../../../weights/funknn-sin-bspline-photo/model.safetensors"),
};

/// A model folder, or the embedded default.
fn load_model(dir: Option<&Path>, default: &Shipped) -> Result<FunkNN> {
    match dir {
        Some(dir) => FunkNN::load(dir, DType::F32, &Device::Cpu)
            .with_context(|| format!("loading model {}", dir.display())),
        None => FunkNN::from_bytes(
            default.config,
            default.weights,
            DType::F32,
            &Device::Cpu,
            default.name,
        )
        .with_context(|| format!("loading the embedded model {}", default.name)),
    }
}

#[derive(clap::Args)]
struct ModelArgs {
    /// Model folder (config.json + model.safetensors); default: the embedded
    /// funknn-mlp-photo for upsample, funknn-sin-bspline-photo for derivatives (see
    /// weights/).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Points per tile: bounds memory whatever the output size.
    #[arg(long, default_value_t = 65_536)]
    tile: usize,
}

fn parse_size(s: &str) -> std::result::Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| v.trim().parse::<usize>().map_err(|e| format!("{v:?}: {e}"));
    Ok((parse(w)?, parse(h)?))
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
            architecture,
            f16,
            output,
        } => {
            let config = architecture.config(Some(format!("imported from {}", from.display())));
            import(&from, &config, f16, &output)
        }
        Command::Points {
            model,
            image,
            points,
            derivatives,
            f64,
            output,
        } => points_command(&model, &image, &points, derivatives, f64, &output),
        Command::Train(args) => train(&args),
        Command::Ct(args) => commands::ct::run(&args),
        Command::Eval {
            model,
            data,
            max_side,
            scales,
            markdown,
            self_ensemble,
        } => eval(
            model.as_deref(),
            &data,
            max_side,
            &scales,
            markdown.as_deref(),
            self_ensemble,
        ),
        Command::Upsample {
            input,
            output,
            size,
            model,
            self_ensemble,
        } => upsample(&input, &output, &size, &model, self_ensemble),
        Command::Derivatives {
            input,
            output,
            size,
            model,
        } => derivatives(&input, &output, &size, &model),
    }
}

fn eval(
    model_dir: Option<&Path>,
    data: &Path,
    max_side: usize,
    factors: &[f64],
    markdown: Option<&Path>,
    self_ensemble: bool,
) -> Result<()> {
    let model = load_model(model_dir, &MLP_PHOTO)?;
    let mut scales = Vec::new();
    for &factor in factors {
        if !factor.is_finite() || factor <= 1.0 || factor > 16.0 {
            bail!("scale {factor}: scales must be in (1, 16]");
        }
        scales.push(Scale {
            factor,
            recursive: false,
        });
        if factor == 4.0 {
            scales.push(Scale {
                factor,
                recursive: true,
            });
        }
    }
    let table = evaluate_folder(&model, data, max_side, &scales, self_ensemble, |path| {
        tracing::info!("evaluated {}", path.display());
    })
    .with_context(|| format!("evaluating on {}", data.display()))?;
    let md = table.to_markdown();
    println!("{md}");
    if let Some(path) = markdown {
        write_atomic(path, |tmp| {
            std::fs::write(tmp, md.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
                what: "markdown",
                message: e.to_string(),
            })
        })?;
    }
    Ok(())
}

fn train(args: &TrainArgs) -> Result<()> {
    let checkpoint = checkpoint_dir(&args.output);
    let mut trainer = if args.resume {
        let mut t = Trainer::resume(&checkpoint)
            .with_context(|| format!("resuming from {}", checkpoint.display()))?;
        if let Some(steps) = args.steps {
            t.set_total_steps(steps)?;
        }
        tracing::info!(
            "resuming at step {} of {}",
            t.step_count(),
            t.config().steps
        );
        t
    } else {
        if checkpoint.exists() {
            bail!(
                "{} holds a run already: pass --resume to continue it, or choose another --output",
                args.output.display()
            );
        }
        let config = TrainConfig {
            model: args.architecture.config(None),
            mode: args.mode,
            max_factor: args.max_factor,
            crop: args.crop,
            batch: args.batch,
            points: args.points,
            lr: args.lr,
            lr_step: args.lr_step,
            lr_gamma: args.lr_gamma,
            cosine: args.cosine,
            centre_patches: !args.plain_patches,
            steps: args.steps.unwrap_or(1000),
            checkpoint_every: args.checkpoint_every,
            seed: args.seed,
            init: args.init,
            max_side: args.max_side,
            degradation: args.degradation,
            augment: args.augment,
        };
        Trainer::new(config)?
    };
    let config = trainer.config().clone();
    let data = ImageFolder::open(
        &args.data,
        config.model.channels,
        config.crop,
        config.max_side,
    )
    .with_context(|| format!("reading training images in {}", args.data.display()))?;
    tracing::info!(
        "{} training images; {} steps of {}×{} points",
        data.len(),
        config.steps,
        config.batch,
        config.points
    );
    let bar = indicatif::ProgressBar::new(config.steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} steps {msg} [{elapsed_precise} < {eta_precise}, {per_sec}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(trainer.step_count() as u64);
    let kernel = config.model.kernel;
    // Mean L1 over the last `window` steps, and its ratio to the plain interpolation's on the
    // same batches: below 1 means the network adds something.
    let recent = |t: &Trainer, window: usize| {
        let (l, b) = (t.losses(), t.baselines());
        let from = l.len().saturating_sub(window.max(1));
        let loss: f32 = l[from..].iter().sum::<f32>() / (l.len() - from).max(1) as f32;
        let base: f32 = b[from.min(b.len())..].iter().sum();
        let base = base / (b.len().saturating_sub(from)).max(1) as f32;
        format!("L1 {loss:.4} = {:.3} × {kernel}'s", loss / base)
    };
    while !trainer.done() {
        trainer.step(&data)?;
        bar.set_message(format!(
            "{} lr {:.1e}",
            recent(&trainer, 50),
            config.lr_at(trainer.step_count())
        ));
        bar.inc(1);
        let step = trainer.step_count();
        if config.checkpoint_every > 0 && step % config.checkpoint_every == 0 && !trainer.done() {
            trainer.save_checkpoint(&checkpoint)?;
            // A line per checkpoint too: the bar is hidden when stderr is not a terminal.
            tracing::info!(
                "step {step}/{}: {} (last {} steps), checkpoint saved",
                config.steps,
                recent(&trainer, config.checkpoint_every),
                config.checkpoint_every
            );
        }
    }
    bar.finish_and_clear();
    trainer.save_checkpoint(&checkpoint)?;
    let command: Vec<String> = std::env::args().collect();
    let storage = if args.f16 { DType::F16 } else { DType::F32 };
    trainer
        .save_model(&args.output, storage, &command.join(" "))
        .with_context(|| format!("writing the model to {}", args.output.display()))?;
    let baselines = trainer.baselines();
    let csv: String = std::iter::once("step,l1,interpolation_l1\n".to_string())
        .chain(trainer.losses().iter().enumerate().map(|(i, l)| {
            let b = baselines.get(i).map_or(String::new(), |b| b.to_string());
            format!("{},{l},{b}\n", i + 1)
        }))
        .collect();
    write_atomic(&args.output.join("losses.csv"), |tmp| {
        std::fs::write(tmp, csv.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
            what: "losses.csv",
            message: e.to_string(),
        })
    })?;
    let (w, h, rgb) = funknn_core::plot::loss_curve(trainer.losses(), trainer.baselines(), 50);
    save_picture(
        &args.output.join("loss.png"),
        &rgb,
        w as usize,
        h as usize,
        3,
    )?;
    tracing::info!(
        "wrote {} (final L1 {:.4} after {} steps)",
        args.output.display(),
        trainer.losses().last().copied().unwrap_or(f32::NAN),
        trainer.step_count()
    );
    Ok(())
}

/// The model and the input picture with the model's channel count, and the output size.
fn load_for_rendering(
    input: &Path,
    size: &SizeArgs,
    args: &ModelArgs,
    default: &Shipped,
) -> Result<(FunkNN, Tensor, usize, usize, usize)> {
    let model = load_model(args.model.as_deref(), default)?;
    let picture = funknn_core::image_io::read_picture(input, &Device::Cpu)?;
    let (in_channels, h, w) = picture.dims3()?;
    let (out_h, out_w) = funknn_core::render::output_size(h, w, size.scale, size.size)?;
    let image = match_channels(&picture.unsqueeze(0)?, model.config().channels)?;
    Ok((model, image, in_channels, out_h, out_w))
}

fn progress(rows: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(rows as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} rows [{elapsed_precise} < {eta_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

/// Encodes an 8-bit image by the output's extension, atomically.
fn save_picture(
    path: &Path,
    data: &[u8],
    width: usize,
    height: usize,
    channels: usize,
) -> Result<()> {
    let format = image::ImageFormat::from_path(path)
        .ok()
        .filter(|f| matches!(f, image::ImageFormat::Png | image::ImageFormat::Jpeg))
        .with_context(|| {
            format!(
                "{}: the output must end in .png, .jpg or .jpeg",
                path.display()
            )
        })?;
    let color = if channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    write_atomic(path, |tmp| {
        image::save_buffer_with_format(tmp, data, width as u32, height as u32, color, format)
            .map_err(|e| funknn_core::Error::Invalid {
                what: "output image",
                message: e.to_string(),
            })
    })
    .with_context(|| format!("writing {}", path.display()))
}

fn upsample(
    input: &Path,
    output: &Path,
    size: &SizeArgs,
    args: &ModelArgs,
    self_ensemble: bool,
) -> Result<()> {
    // Check the output name before hours of work.
    if image::ImageFormat::from_path(output).is_err() {
        bail!(
            "{}: the output must end in .png, .jpg or .jpeg",
            output.display()
        );
    }
    let (model, image, in_channels, out_h, out_w) =
        load_for_rendering(input, size, args, &MLP_PHOTO)?;
    let channels = model.config().channels;
    let mut pixels = vec![0u8; out_h * out_w * channels];
    let bar = progress(out_h, "upsampling");
    let on_tile = |row: usize, rows: usize, jet: &Jet| {
        let tile = value_to_u8(jet)?;
        pixels[row * out_w * channels..(row + rows) * out_w * channels].copy_from_slice(&tile);
        bar.inc(rows as u64);
        Ok(())
    };
    let continuous = value_image(&model, &image, self_ensemble, EvalOptions::default())?;
    render_tiles(continuous.as_ref(), out_h, out_w, args.tile, on_tile)?;
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

fn derivatives(input: &Path, prefix: &Path, size: &SizeArgs, args: &ModelArgs) -> Result<()> {
    let (model, image, _, out_h, out_w) =
        load_for_rendering(input, size, args, &SIN_BSPLINE_PHOTO)?;
    let evaluator = Evaluator::new(&model, &image, JetOrder::Laplacian, EvalOptions::default())?;
    let mut gradient = Vec::with_capacity(out_h * out_w);
    let mut laplacian = Vec::with_capacity(out_h * out_w);
    let bar = progress(out_h, "derivatives");
    render_tiles(&evaluator, out_h, out_w, args.tile, |_, rows, jet| {
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
        "wrote {}-gradient.png (|∇u| up to {g_max:.3}) and {}-laplacian.png (Δu within ±{l_range:.3})",
        prefix.display(),
        prefix.display()
    );
    Ok(())
}

fn import(from: &Path, config: &Config, f16: bool, output: &Path) -> Result<()> {
    let model = FunkNN::import(from, config, DType::F32, &Device::Cpu)
        .with_context(|| format!("importing {}", from.display()))?;
    let storage = if f16 { DType::F16 } else { DType::F32 };
    model
        .save(output, storage)
        .with_context(|| format!("writing model folder {}", output.display()))?;
    tracing::info!(
        "wrote {} ({} {} {}, {} parameters)",
        output.display(),
        config.network,
        config.activation,
        config.kernel,
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
