//! `funknn train-generator`: the paper's generator (autoencoder, then RealNVP prior) on
//! Fashion-MNIST or a folder of pictures.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::DType;
use funknn_core::picture::{loss_curve, write_picture, BitDepth, Raster, WriteOptions};
use funknn_core::write_atomic;
use funknn_gen::train::{
    GeneratorTrainConfig, GeneratorTrainer, ImageSet, Phase, Split, FASHION_MNIST_DIR,
    OFFICIAL_PYRAMID_WEIGHTS,
};
use funknn_gen::{AutoencoderConfig, FlowConfig, GeneratorConfig};

use crate::models::load_generator;
use crate::output::save_picture;
use crate::progress;

/// The options of `funknn train-generator`.
#[derive(clap::Args)]
pub struct TrainGeneratorArgs {
    /// Training images: `fashion-mnist` (the Debian package dataset-fashion-mnist, padded to
    /// 32² grey), a folder with Fashion-MNIST's IDX files, or a folder of pictures (resized).
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Output folder: the generator (config.json, model.safetensors, train.json), losses.csv,
    /// loss curves, preview sheets and the checkpoint.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Continue the run in OUTPUT/checkpoint (its saved settings win over these flags).
    #[arg(long)]
    pub resume: bool,
    /// Image side: 32, 64 or 128.
    #[arg(long, default_value_t = 32)]
    pub resolution: usize,
    /// Image channels: 1 (grey) or 3.
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Multiplies the autoencoder's hidden channels (1: the official widths).
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Latent dimension (official: 256).
    #[arg(long, default_value_t = 256)]
    pub latent: usize,
    /// Couplings of the RealNVP prior (official: 5).
    #[arg(long, default_value_t = 5)]
    pub depth: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Autoencoder steps (default 2000). With --resume during the autoencoder phase: a new
    /// total (the steps taken end the phase now).
    #[arg(long)]
    pub autoencoder_steps: Option<usize>,
    /// Prior steps after them. With --resume: a new total (longer to extend the run).
    #[arg(long)]
    pub flow_steps: Option<usize>,
    /// Autoencoder learning rate (Adam).
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Steps between learning-rate decays in each phase (0: constant).
    #[arg(long, default_value_t = 0)]
    pub lr_step: usize,
    /// Factor of each decay.
    #[arg(long, default_value_t = 0.5)]
    pub lr_gamma: f64,
    /// Weight of the mean squared error.
    #[arg(long, default_value_t = 1.0)]
    pub mse_weight: f64,
    /// Weight of the Laplacian-pyramid L1 loss (the official VGG style loss needs ImageNet
    /// weights that are not shipped: see docs/generation.md).
    #[arg(long, default_value_t = 1.0)]
    pub pyramid_weight: f64,
    /// The pyramid's weight per level, finest band first, then the coarsest residual's
    /// (official: 1,2,4,8). `1,0,0,0`, the finest band alone, is the loss whose gradient
    /// trained the shipped generator (docs/generation.md).
    #[arg(long, value_delimiter = ',', default_values_t = OFFICIAL_PYRAMID_WEIGHTS)]
    pub pyramid_level_weights: Vec<f64>,
    /// Weight of the latents' mean square (official: 0.01).
    #[arg(long, default_value_t = 0.01)]
    pub latent_weight: f64,
    /// Prior learning rate (Adam).
    #[arg(long, default_value_t = 1e-4)]
    pub flow_lr: f64,
    /// Prior weight decay.
    #[arg(long, default_value_t = 1e-5)]
    pub flow_weight_decay: f64,
    /// Standard deviation of Gaussian noise added to the latents the prior is fitted to
    /// (0: none, as the official code; the shipped prior used 0.05).
    #[arg(long, default_value_t = 0.0)]
    pub flow_noise: f64,
    /// Start from this generator's autoencoder (a folder or a hub id; its architecture
    /// replaces --resolution, --channels, --width and --latent) instead of random weights;
    /// with `--autoencoder-steps 0` the run fits a fresh prior to it.
    #[arg(long)]
    pub autoencoder_from: Option<String>,
    /// Steps between checkpoints and preview sheets (0: only at the end).
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N training images (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Store the final weights as f16.
    #[arg(long)]
    pub f16: bool,
}

fn load_data(args: &TrainGeneratorArgs, config: &GeneratorConfig) -> Result<ImageSet> {
    training_images(&args.data, args.limit, config)
}

/// The training images `data` names (`fashion-mnist`, a folder of IDX files or of
/// pictures), the first `limit` (0: all), checked against the generator's size.
pub fn training_images(data: &str, limit: usize, config: &GeneratorConfig) -> Result<ImageSet> {
    let dir = if data == "fashion-mnist" {
        PathBuf::from(FASHION_MNIST_DIR)
    } else {
        PathBuf::from(data)
    };
    let idx = dir.join("train-images-idx3-ubyte.gz").is_file()
        || dir.join("train-images-idx3-ubyte").is_file();
    if data == "fashion-mnist" || idx {
        let ae = &config.autoencoder;
        if (ae.resolution, ae.channels) != (32, 1) {
            bail!("Fashion-MNIST is 32×32 grey: pass --resolution 32 --channels 1");
        }
        Ok(ImageSet::fashion_mnist(&dir, Split::Train, limit)?)
    } else {
        let ae = &config.autoencoder;
        Ok(ImageSet::folder(&dir, ae.resolution, ae.channels, limit)?)
    }
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |tmp| {
        std::fs::write(tmp, text.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
            what: "output",
            message: format!("{}: {e}", tmp.display()),
        })
    })
    .with_context(|| format!("writing {}", path.display()))
}

fn preview(trainer: &GeneratorTrainer, data: &ImageSet, out: &Path) -> Result<()> {
    let images = trainer.preview(data, 8)?;
    let tiles = (0..images.dim(0)?)
        .map(|i| Ok(Raster::from_tensor(&images.get(i)?, BitDepth::Eight)?))
        .collect::<Result<Vec<_>>>()?;
    let sheet = Raster::contact_sheet(&tiles, 16, 2)?;
    let path = out.join(format!("preview-{:06}.png", trainer.step_count()));
    write_picture(&path, &sheet, &WriteOptions::default())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: &TrainGeneratorArgs) -> Result<()> {
    let checkpoint = args.output.join("checkpoint");
    let mut trainer = if args.resume {
        let mut t = GeneratorTrainer::resume(&checkpoint)
            .with_context(|| format!("resuming from {}", checkpoint.display()))?;
        if let Some(steps) = args.autoencoder_steps {
            t.set_autoencoder_steps(steps)?;
        }
        if let Some(steps) = args.flow_steps {
            t.set_flow_steps(steps)?;
        }
        tracing::info!("resuming at step {} of {}", t.step_count(), t.total_steps());
        t
    } else {
        if checkpoint.exists() {
            bail!(
                "{} holds a run already: pass --resume to continue it, or choose another --output",
                args.output.display()
            );
        }
        let config = GeneratorTrainConfig {
            generator: GeneratorConfig {
                architecture: funknn_gen::ARCHITECTURE.into(),
                autoencoder: AutoencoderConfig {
                    latent_dim: args.latent,
                    resolution: args.resolution,
                    channels: args.channels,
                    width: args.width,
                },
                flow: FlowConfig {
                    latent_dim: args.latent,
                    depth: args.depth,
                },
                source: None,
                temperature: None,
                mixture: None,
            },
            batch: args.batch,
            autoencoder_steps: args.autoencoder_steps.unwrap_or(2000),
            flow_steps: args.flow_steps.unwrap_or(2000),
            lr: args.lr,
            lr_step: args.lr_step,
            lr_gamma: args.lr_gamma,
            mse_weight: args.mse_weight,
            pyramid_weight: args.pyramid_weight,
            pyramid_level_weights: args.pyramid_level_weights.clone(),
            latent_weight: args.latent_weight,
            flow_lr: args.flow_lr,
            flow_weight_decay: args.flow_weight_decay,
            flow_noise: args.flow_noise,
            autoencoder_from: None,
            checkpoint_every: args.checkpoint_every,
            seed: args.seed,
        };
        let source = match &args.autoencoder_from {
            Some(spec) => Some((
                load_generator(Some(spec))
                    .with_context(|| format!("loading --autoencoder-from {spec}"))?,
                spec,
            )),
            None => None,
        };
        let mut config = config;
        if let Some((g, _)) = &source {
            // The source's architecture wins over --resolution, --width, --latent, ….
            config.generator.autoencoder = g.config().autoencoder.clone();
            config.generator.flow.latent_dim = g.config().autoencoder.latent_dim;
        }
        let mut trainer = GeneratorTrainer::new(config)?;
        if let Some((g, spec)) = &source {
            trainer.start_from_autoencoder(g, spec)?;
        }
        trainer
    };
    let config = trainer.config().clone();
    let data = load_data(args, &config.generator).context("reading the training images")?;
    tracing::info!(
        "{}; {} + {} steps of {}",
        data.source,
        config.autoencoder_steps,
        config.flow_steps,
        config.batch
    );
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let bar = progress::steps(trainer.total_steps() as u64);
    bar.set_position(trainer.step_count() as u64);
    while !trainer.done() {
        trainer.step(&data)?;
        let l = trainer.losses();
        let recent = |v: &[f32]| {
            let from = v.len().saturating_sub(50);
            let finite: Vec<f32> = v[from..]
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            finite.iter().sum::<f32>() / finite.len().max(1) as f32
        };
        let message = match trainer.phase() {
            Phase::Autoencoder => format!(
                "autoencoder loss {:.4} (MSE {:.5})",
                recent(&l.autoencoder),
                recent(&l.autoencoder_mse)
            ),
            _ if l.flow.is_empty() => format!("autoencoder loss {:.4}", recent(&l.autoencoder)),
            _ => format!(
                "prior NLL {:.2}, {} batches skipped",
                recent(&l.flow),
                trainer.skipped()
            ),
        };
        bar.set_message(message.clone());
        bar.inc(1);
        let step = trainer.step_count();
        if config.checkpoint_every > 0 && step % config.checkpoint_every == 0 && !trainer.done() {
            trainer.save_checkpoint(&checkpoint)?;
            preview(&trainer, &data, &args.output)?;
            tracing::info!(
                "step {step}/{}: {message}, checkpoint saved",
                trainer.total_steps()
            );
        }
    }
    bar.finish_and_clear();
    trainer.save_checkpoint(&checkpoint)?;
    preview(&trainer, &data, &args.output)?;
    let command: Vec<String> = std::env::args().collect();
    let storage = if args.f16 { DType::F16 } else { DType::F32 };
    trainer
        .save_model(&args.output, storage, &command.join(" "))
        .with_context(|| format!("writing the generator to {}", args.output.display()))?;
    let l = trainer.losses();
    let mut csv = String::from("step,phase,loss,mse\n");
    for (i, (loss, mse)) in l.autoencoder.iter().zip(&l.autoencoder_mse).enumerate() {
        csv.push_str(&format!("{},autoencoder,{loss},{mse}\n", i + 1));
    }
    for (i, nll) in l.flow.iter().enumerate() {
        csv.push_str(&format!("{},prior,{nll},\n", l.autoencoder.len() + i + 1));
    }
    write_text(&args.output.join("losses.csv"), &csv)?;
    if !l.autoencoder.is_empty() {
        let (w, h, rgb) = loss_curve(&l.autoencoder, &l.autoencoder_mse, 50);
        save_picture(
            &args.output.join("loss-autoencoder.png"),
            &rgb,
            w as usize,
            h as usize,
            3,
        )?;
    }
    let finite: Vec<f32> = l.flow.iter().copied().filter(|x| x.is_finite()).collect();
    if !finite.is_empty() {
        // The NLL can be negative: draw it above its minimum on the log scale.
        let low = finite.iter().copied().fold(f32::INFINITY, f32::min);
        let shifted: Vec<f32> = finite.iter().map(|x| x - low + 1.0).collect();
        let (w, h, rgb) = loss_curve(&shifted, &[], 50);
        save_picture(
            &args.output.join("loss-prior.png"),
            &rgb,
            w as usize,
            h as usize,
            3,
        )?;
    }
    tracing::info!(
        "wrote {} ({} steps in {:.1} min)",
        args.output.display(),
        trainer.step_count(),
        trainer.seconds() / 60.0
    );
    Ok(())
}
