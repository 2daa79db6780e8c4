//! `funknn fit-mixture`: a Gaussian mixture fitted to a generator's training latents, saved
//! with the generator as its sampling prior.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::DType;
use funknn_core::write_atomic;
use funknn_gen::{fit_mixture, MixtureFit};

use crate::commands::train_generator::training_images;
use crate::models::load_generator;
use crate::progress;

/// The options of `funknn fit-mixture`.
#[derive(clap::Args)]
pub struct FitMixtureArgs {
    /// Generator: a folder or a hub repo id owner/name (or owner/name@revision). Default:
    /// the embedded funknn-gen-fashion.
    #[arg(long)]
    pub generator: Option<String>,
    /// Output folder: the generator with the mixture (config.json, model.safetensors) and
    /// fit-mixture.json (settings, wall time, log-likelihood per iteration).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Training images whose latents the mixture fits: `fashion-mnist`, a folder with
    /// Fashion-MNIST's IDX files, or a folder of pictures.
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Use only the first N training images (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Mixture components (full covariances; 20 drew the best Fashion-MNIST samples).
    #[arg(long, default_value_t = 20)]
    pub components: usize,
    /// At most this many EM iterations.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
    /// Stop when the mean log-likelihood per latent changes by less than this (nats).
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// Added to each covariance's diagonal.
    #[arg(long, default_value_t = 1e-6)]
    pub regularisation: f64,
    /// Lloyd iterations of the k-means++ start.
    #[arg(long, default_value_t = 20)]
    pub kmeans_iterations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images encoded at once.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Store the weights as f16.
    #[arg(long)]
    pub f16: bool,
}

pub fn run(args: &FitMixtureArgs) -> Result<()> {
    if args.output.join(funknn_gen::WEIGHTS_FILE).exists() {
        bail!(
            "{} already holds a model: give a new output folder",
            args.output.display()
        );
    }
    if args.batch == 0 {
        bail!("--batch must be positive");
    }
    let fit = MixtureFit {
        components: args.components,
        iterations: args.iterations,
        tolerance: args.tolerance,
        regularisation: args.regularisation,
        kmeans_iterations: args.kmeans_iterations,
        seed: args.seed,
    };
    let t0 = Instant::now();
    let generator = load_generator(args.generator.as_deref())?;
    let images = training_images(&args.data, args.limit, generator.config())
        .context("reading the training images")?;
    let bar = progress::items(images.len() as u64, "encoding");
    let latents = generator.encode(images.images(), args.batch, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let bar = progress::steps(args.iterations as u64);
    let (mixture, report) = fit_mixture(&latents, &fit, |_, ll| {
        bar.set_message(format!("log-likelihood {ll:.2} nats"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let mut generator = generator.with_mixture(mixture)?;
    let source = generator.config().source.clone().unwrap_or_default();
    generator.set_source(format!(
        "{source}; sampling mixture: funknn fit-mixture --components {} (fit-mixture.json)",
        args.components
    ));
    let storage = if args.f16 { DType::F16 } else { DType::F32 };
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let wall = t0.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "data": images.source,
        "latents": latents.dim(0)?,
        "components": args.components,
        "iterations": args.iterations,
        "tolerance": args.tolerance,
        "regularisation": args.regularisation,
        "kmeans_iterations": args.kmeans_iterations,
        "seed": args.seed,
        "converged": report.converged,
        "log_likelihood": report.log_likelihood,
        "wall_seconds": wall,
    });
    // The summary first: a folder with weights always says how they were made.
    let path = args.output.join("fit-mixture.json");
    write_atomic(&path, |tmp| {
        std::fs::write(
            tmp,
            serde_json::to_string_pretty(&summary).unwrap_or_default(),
        )
        .map_err(|e| funknn_core::Error::Invalid {
            what: "output",
            message: format!("{}: {e}", tmp.display()),
        })
    })
    .with_context(|| format!("writing {}", path.display()))?;
    generator
        .save(&args.output, storage)
        .with_context(|| format!("saving {}", args.output.display()))?;
    let ll = report.log_likelihood.last().copied().unwrap_or(f64::NAN);
    tracing::info!(
        "{} components on {} latents: log-likelihood {ll:.2} nats per latent after {} iterations ({}), {wall:.0} s; wrote {}",
        args.components,
        latents.dim(0)?,
        report.log_likelihood.len(),
        if report.converged { "converged" } else { "not converged" },
        args.output.display()
    );
    Ok(())
}
