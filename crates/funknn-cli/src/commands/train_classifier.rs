//! `funknn train-classifier`: the small Fashion-MNIST classifier whose features give
//! `funknn eval-generator` its Fréchet distance.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use funknn_core::write_atomic;
use funknn_gen::classifier::{train_classifier, ClassifierTrainConfig};
use funknn_gen::train::{fashion_mnist_labels, ImageSet, Split, FASHION_MNIST_DIR};

use crate::progress;

/// The options of `funknn train-classifier`.
#[derive(clap::Args)]
pub struct TrainClassifierArgs {
    /// `fashion-mnist` (the Debian package dataset-fashion-mnist) or a folder with
    /// Fashion-MNIST's four IDX files.
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Output folder: config.json, model.safetensors, train.json (settings, wall time,
    /// accuracies), losses.csv.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Passes over the 60,000 training images.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Adam learning rate at the start (a half cosine to zero).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Random shift of up to this many pixels per batch (augmentation).
    #[arg(long, default_value_t = 2)]
    pub shift: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N training images (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

pub fn run(args: &TrainClassifierArgs) -> Result<()> {
    let dir = if args.data == "fashion-mnist" {
        Path::new(FASHION_MNIST_DIR)
    } else {
        Path::new(&args.data)
    };
    if args.output.join("model.safetensors").exists() {
        bail!(
            "{} already holds a model: give a new output folder",
            args.output.display()
        );
    }
    let train = ImageSet::fashion_mnist(dir, Split::Train, args.limit)?;
    let train_labels = fashion_mnist_labels(dir, Split::Train, args.limit)?;
    let test = ImageSet::fashion_mnist(dir, Split::Test, 0)?;
    let test_labels = fashion_mnist_labels(dir, Split::Test, 0)?;
    let config = ClassifierTrainConfig {
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        shift: args.shift,
        seed: args.seed,
        ..Default::default()
    };
    tracing::info!(
        "{}; {} epochs of batches of {}",
        train.source,
        args.epochs,
        args.batch
    );
    let start = std::time::Instant::now();
    let bar = progress::steps(0);
    let (model, varmap, losses) =
        train_classifier(&config, &train, &train_labels, |i, n, loss| {
            bar.set_length(n as u64);
            bar.set_position(i as u64);
            bar.set_message(format!("loss {loss:.4}"));
        })?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let test_accuracy = model.accuracy(test.images(), &test_labels, 500)?;
    let train_accuracy = model.accuracy(train.images(), &train_labels, 500)?;
    model
        .save(&varmap, &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let command: Vec<String> = std::env::args().collect();
    let record = serde_json::json!({
        "command": command.join(" "),
        "seconds": seconds,
        "settings": config,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
    });
    let csv: String = std::iter::once("step,loss\n".to_string())
        .chain(
            losses
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{},{l}\n", i + 1)),
        )
        .collect();
    for (name, text) in [
        ("train.json", serde_json::to_string_pretty(&record)? + "\n"),
        ("losses.csv", csv),
    ] {
        let path = args.output.join(name);
        write_atomic(&path, |tmp| {
            std::fs::write(tmp, text.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
                what: "output file",
                message: format!("{}: {e}", tmp.display()),
            })
        })
        .with_context(|| format!("writing {}", path.display()))?;
    }
    tracing::info!(
        "wrote {} ({:.1} min): test accuracy {:.2} %, training {:.2} %",
        args.output.display(),
        seconds / 60.0,
        100.0 * test_accuracy,
        100.0 * train_accuracy
    );
    Ok(())
}
