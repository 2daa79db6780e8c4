//! `funknn train`: a FunkNN trained for super-resolution on a folder of photographs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::DType;
use funknn_core::network::InitScheme;
use funknn_core::train::{
    checkpoint_dir, Degradation, ImageFolder, ScaleConsistency, TrainConfig, TrainMode, Trainer,
};
use funknn_core::write_atomic;
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};

use crate::args::ArchitectureArgs;
use crate::output::save_picture;

/// The options of `funknn train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Folder of training images (PNG, JPEG, WebP, TIFF or BMP, at least --crop pixels on each
    /// side), or `fashion-mnist`: the 60,000 training images of the Debian package
    /// dataset-fashion-mnist, padded to 32² grey (for the generator's FunkNN).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: the model (config.json, model.safetensors, train.json), losses.csv,
    /// loss.png and the checkpoint.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Continue the run in OUTPUT/checkpoint (its saved settings win over these flags).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub architecture: ArchitectureArgs,
    /// factor (input n in [N/8, N/2), target 2n), continuous or single.
    #[arg(long, default_value = "factor")]
    pub mode: TrainMode,
    /// Factor mode: each batch's scale is an integer drawn from 2..=MAX_FACTOR (2: the
    /// official ×2; on photographs, 4 did not improve ×4: see docs/training.md).
    #[arg(long, default_value_t = 2)]
    pub max_factor: usize,
    /// Side N of the random crops.
    #[arg(long, default_value_t = 128)]
    pub crop: usize,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Target pixels per image and step.
    #[arg(long, default_value_t = 512)]
    pub points: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Steps between learning-rate decays (0: constant).
    #[arg(long, default_value_t = 0)]
    pub lr_step: usize,
    /// Factor of each learning-rate decay.
    #[arg(long, default_value_t = 0.5)]
    pub lr_gamma: f64,
    /// Feed the MLP plain patches, as the official code does, instead of centred ones
    /// (centring trains much faster on photographs; the saved model is the same kind).
    #[arg(long)]
    pub plain_patches: bool,
    /// Cosine decay of the learning rate to 0 over the run (instead of --lr-step).
    #[arg(long)]
    pub cosine: bool,
    /// Optimisation steps (default 1000). With --resume, a new total for the run: longer to
    /// extend it, or the steps already taken to stop it and write the model now.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Initialisation: he (default: trains the deep ReLU MLP well) or pytorch (the
    /// official code's, which stalls at the interpolation baseline on photographs).
    #[arg(long, default_value = "he")]
    pub init: InitScheme,
    /// Downscale training images so that their longer side is at most this (0: keep).
    #[arg(long, default_value_t = 0)]
    pub max_side: usize,
    /// What the low-resolution input is downsampled from: target (the input is the
    /// target's downsample, the relation `funknn eval` tests) or crop (the official code:
    /// input and target both downsampled from the crop; its models sharpen too little).
    #[arg(long, default_value = "target")]
    pub degradation: Degradation,
    /// Random flips and transposes of the crops.
    #[arg(long)]
    pub augment: bool,
    /// Weight of the L1 loss on the gradient ∇u/side against the target's exact (B-spline)
    /// gradient: Sobolev training for derivatives (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub gradient_weight: f64,
    /// Weight of the L1 loss on the Laplacian Δu/side² against the target's exact one.
    #[arg(long, default_value_t = 0.0)]
    pub laplacian_weight: f64,
    /// Start from this model's weights (folder or hub repo id) instead of a fresh
    /// initialisation; its activation and kernel may differ from the run's.
    #[arg(long, conflicts_with = "resume")]
    pub init_from: Option<String>,
    /// Weight of the scale-consistency term: FunkNN renders a window of a full-resolution
    /// crop at --consistency-factor times its resolution, antialiased back down it is
    /// compared (L1) with the crop's pixels (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub consistency_weight: f64,
    /// Scale of the scale-consistency term's rendering.
    #[arg(long, default_value_t = 4)]
    pub consistency_factor: usize,
    /// Side, in pixels, of the window each crop of the scale-consistency term compares.
    #[arg(long, default_value_t = 8)]
    pub consistency_window: usize,
    /// Full-resolution crops per step for the scale-consistency term.
    #[arg(long, default_value_t = 2)]
    pub consistency_images: usize,
    /// Store the final weights as f16.
    #[arg(long)]
    pub f16: bool,
}

pub fn run(args: &TrainArgs) -> Result<()> {
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
            gradient_weight: args.gradient_weight,
            laplacian_weight: args.laplacian_weight,
            init_from: None,
            consistency: ScaleConsistency {
                weight: args.consistency_weight,
                factor: args.consistency_factor,
                window: args.consistency_window,
                images: args.consistency_images,
            },
        };
        let mut trainer = Trainer::new(config)?;
        if let Some(spec) = &args.init_from {
            let source = crate::models::load_model(Some(spec), &funknn_weights::MLP_PHOTO)?;
            trainer
                .warm_start(&source, spec)
                .with_context(|| format!("starting from {spec}"))?;
        }
        trainer
    };
    let config = trainer.config().clone();
    let data = if args.data == Path::new("fashion-mnist") {
        let dir = Path::new(FASHION_MNIST_DIR);
        let set = ImageSet::fashion_mnist(dir, Split::Train, 0).context("reading Fashion-MNIST")?;
        let images = funknn_core::picture::match_channels(set.images(), config.model.channels)?;
        ImageFolder::from_images(&images, "fashion-mnist")?
    } else {
        ImageFolder::open(
            &args.data,
            config.model.channels,
            config.crop,
            config.max_side,
        )
        .with_context(|| format!("reading training images in {}", args.data.display()))?
    };
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
        let mut line = format!("L1 {loss:.4} = {:.3} × {kernel}'s", loss / base);
        let d = t.derivative_losses();
        if !d.is_empty() {
            // The derivative terms alone, as fractions of the interpolation's.
            let from = d.len().saturating_sub(window.max(1));
            let sum = |k: usize| d[from..].iter().map(|v| v[k] as f64).sum::<f64>();
            line += &format!(
                " (∇ {:.3}×, Δ {:.3}×)",
                sum(0) / sum(1).max(1e-30),
                sum(2) / sum(3).max(1e-30)
            );
        }
        let s = t.consistency_losses();
        if !s.is_empty() {
            let from = s.len().saturating_sub(window.max(1));
            let mean = s[from..].iter().sum::<f32>() / (s.len() - from).max(1) as f32;
            line += &format!(", consistency {mean:.4}");
        }
        line
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
    let derivatives = trainer.derivative_losses();
    let consistency = trainer.consistency_losses();
    let mut header = match derivatives.is_empty() {
        true => "step,l1,interpolation_l1".to_string(),
        false => "step,l1,interpolation_l1,gradient_l1,interpolation_gradient_l1,laplacian_l1,interpolation_laplacian_l1".to_string(),
    };
    if !consistency.is_empty() {
        header += ",consistency_l1";
    }
    header += "\n";
    let csv: String = std::iter::once(header)
        .chain(trainer.losses().iter().enumerate().map(|(i, l)| {
            let b = baselines.get(i).map_or(String::new(), |b| b.to_string());
            let d = derivatives.get(i).map_or(String::new(), |d| {
                format!(",{},{},{},{}", d[0], d[1], d[2], d[3])
            });
            let s = consistency
                .get(i)
                .map_or(String::new(), |s| format!(",{s}"));
            format!("{},{l},{b}{d}{s}\n", i + 1)
        }))
        .collect();
    write_atomic(&args.output.join("losses.csv"), |tmp| {
        std::fs::write(tmp, csv.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
            what: "losses.csv",
            message: e.to_string(),
        })
    })?;
    let (w, h, rgb) = funknn_core::picture::loss_curve(trainer.losses(), trainer.baselines(), 50);
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
