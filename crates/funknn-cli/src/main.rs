//! `funknn`: import FunkNN weights and evaluate continuous images and their derivatives.
//! The work happens in `funknn-core`; this binary parses options and reports errors, one
//! file per subcommand in `commands/`.

mod args;
mod commands;
mod grey_input;
mod models;
mod output;
mod progress;
mod runtime;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    Import(commands::import::ImportArgs),
    /// Evaluate a model on an image at arbitrary points, with derivatives.
    Points(commands::points::PointsArgs),
    /// Train a FunkNN for super-resolution on a folder of photographs. Checkpoints
    /// go to OUT/checkpoint; a killed run continues with --resume.
    Train(commands::train::TrainArgs),
    /// SNR and PSNR of FunkNN against bilinear, bicubic and Lanczos-3 on a folder of images
    /// (centre crops, antialiased bilinear downsampling) at ×2, ×3, ×4 and ×4 via two ×2 steps.
    Eval(commands::eval::EvalArgs),
    /// Super-resolve a picture to any size (non-integer scales too), tile by tile.
    Upsample(commands::upsample::UpsampleArgs),
    /// Computed tomography: simulate sinograms of phantoms, reconstruct them (FBP, TV).
    Ct(commands::ct::CtArgs),
    /// Draw the gradient magnitude and the Laplacian of the continuous image as colour maps:
    /// PREFIX-gradient.png (sequential) and PREFIX-laplacian.png (diverging).
    Derivatives(commands::derivatives::DerivativesArgs),
    /// Sample images from a generator (autoencoder + its sampling prior), at its own size or,
    /// through a FunkNN, at any size: DIR/0000.png, ... and an optional contact sheet.
    Sample(commands::sample::SampleArgs),
    /// Train the paper's generator (autoencoder, then RealNVP prior) on Fashion-MNIST or a
    /// folder of pictures. Checkpoints go to OUT/checkpoint; a killed run continues with --resume.
    TrainGenerator(commands::train_generator::TrainGeneratorArgs),
    /// Score a generator: reconstruction SNR and test likelihood on held-out images, the
    /// Fréchet distance of its samples on a classifier's features and, with a FunkNN, scale
    /// consistency.
    EvalGenerator(commands::eval_generator::EvalGeneratorArgs),
    /// Inverse problems with the generative prior: limited-view CT, images from their
    /// gradients or from their Laplacian (Poisson), and classical baselines for the latter.
    Solve(commands::solve::SolveArgs),
    /// Simulate derivative observations of an image (exact derivatives of its B-spline
    /// interpolant) for `funknn solve gradient|poisson`.
    Simulate(commands::simulate::SimulateArgs),
    /// Fit a Gaussian mixture to a generator's training latents and save it with the
    /// generator as the prior `sample` and `eval-generator` draw from (a few minutes).
    FitMixture(commands::fit_mixture::FitMixtureArgs),
    /// Train the small Fashion-MNIST classifier whose features give eval-generator its
    /// Fréchet distance (a few minutes on a CPU).
    TrainClassifier(commands::train_classifier::TrainClassifierArgs),
}

fn main() {
    runtime::tune();
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
        Command::Import(args) => commands::import::run(&args),
        Command::Points(args) => commands::points::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Upsample(args) => commands::upsample::run(&args),
        Command::Ct(args) => commands::ct::run(&args),
        Command::Derivatives(args) => commands::derivatives::run(&args),
        Command::Sample(args) => commands::sample::run(&args),
        Command::TrainGenerator(args) => commands::train_generator::run(&args),
        Command::EvalGenerator(args) => commands::eval_generator::run(&args),
        Command::TrainClassifier(args) => commands::train_classifier::run(&args),
        Command::FitMixture(args) => commands::fit_mixture::run(&args),
        Command::Solve(args) => commands::solve::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
    }
}
