//! `funknn eval-generator`: a generator's reconstruction SNR and test likelihood, the
//! Fréchet distance of its samples on a classifier's features (with two references), and,
//! with a FunkNN, its scale consistency.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use funknn_core::hub::HubOptions;
use funknn_core::{write_atomic, FunkNN};
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_gen::{evaluate_generator, frechet_scores, FeatureClassifier, Generator};

use crate::models::{choose_prior, PriorChoice};
use crate::progress;

/// The options of `funknn eval-generator`.
#[derive(clap::Args)]
pub struct EvalGeneratorArgs {
    /// Generator: a folder or a hub repo id owner/name (or owner/name@revision).
    #[arg(long)]
    pub generator: String,
    /// FunkNN for the scale-consistency score (folder or hub repo id).
    #[arg(long)]
    pub model: Option<String>,
    /// Test images: `fashion-mnist` (its 10,000 test images), a folder with Fashion-MNIST's
    /// IDX files, or a folder of pictures (no Fréchet distance then: it needs the training
    /// set as a reference).
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Classifier whose features the Fréchet distance uses (folder or hub repo id; default:
    /// the shipped funknn-fashion-classifier).
    #[arg(long)]
    pub classifier: Option<String>,
    /// Samples (and reference images) for the Fréchet distance (0: skip it).
    #[arg(long, default_value_t = 2000)]
    pub fd_samples: usize,
    /// Sampling temperature of the Fréchet distance's samples (default: the sampling
    /// prior's `temperature` in config.json, else 1).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// The prior samples are drawn from: `auto` (the generator's Gaussian mixture when it
    /// has one, else its flow), `flow` (the paper's RealNVP) or `mixture`.
    #[arg(long, value_enum, default_value = "auto")]
    pub prior: PriorChoice,
    /// Use only the first N test images (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Prior samples for the scale-consistency score.
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images encoded at once.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Also write the table as Markdown to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

pub fn run(args: &EvalGeneratorArgs) -> Result<()> {
    if args.batch == 0 {
        bail!("--batch must be positive");
    }
    let hub = HubOptions::from_env();
    let generator = Generator::load_from(&args.generator, &hub, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading generator {}", args.generator))?;
    let generator = choose_prior(generator, args.prior)?;
    let funknn = match &args.model {
        Some(spec) => Some(
            FunkNN::load_from(spec, &hub, DType::F32, &Device::Cpu)
                .with_context(|| format!("loading model {spec}"))?,
        ),
        None => None,
    };
    let a = &generator.config().autoencoder;
    let idx_dir = if args.data == "fashion-mnist" {
        Some(std::path::Path::new(FASHION_MNIST_DIR))
    } else {
        let dir = std::path::Path::new(&args.data);
        let idx = ["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"];
        idx.iter().any(|f| dir.join(f).is_file()).then_some(dir)
    };
    let test = if let Some(dir) = idx_dir {
        ImageSet::fashion_mnist(dir, Split::Test, args.limit)?
    } else {
        ImageSet::folder(
            std::path::Path::new(&args.data),
            a.resolution,
            a.channels,
            args.limit,
        )?
    };
    let bar = progress::items(test.len() as u64, "encoding");
    let mut scores = evaluate_generator(
        &generator,
        funknn.as_ref(),
        &test,
        args.samples,
        args.seed,
        args.batch,
        |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    match idx_dir {
        Some(dir) if args.fd_samples > 0 => {
            let classifier = match &args.classifier {
                Some(spec) => FeatureClassifier::load_from(spec, &hub, &Device::Cpu)
                    .with_context(|| format!("loading classifier {spec}"))?,
                None => funknn_weights_fashion::FASHION_CLASSIFIER.load(&Device::Cpu)?,
            };
            let train = ImageSet::fashion_mnist(dir, Split::Train, 0)?;
            let n = args.fd_samples;
            let bar = progress::items((test.len() + 3 * n) as u64, "Fréchet distance");
            scores.frechet = Some(frechet_scores(
                &generator,
                &classifier,
                &train,
                &test,
                n,
                args.temperature
                    .unwrap_or_else(|| generator.config().sampling_temperature()),
                args.seed,
                args.batch,
                |k| bar.inc(k as u64),
            )?);
            bar.finish_and_clear();
        }
        Some(_) => {}
        None => tracing::info!("no Fréchet distance: {} is not Fashion-MNIST", args.data),
    }
    let md = scores.to_markdown();
    println!("{md}");
    if let Some(path) = &args.markdown {
        write_atomic(path, |tmp| {
            std::fs::write(tmp, md.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
                what: "markdown",
                message: format!("{}: {e}", tmp.display()),
            })
        })
        .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
