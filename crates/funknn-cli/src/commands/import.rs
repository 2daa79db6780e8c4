//! `funknn import`: official checkpoints and .safetensors weights into model folders.

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use funknn_core::FunkNN;

use crate::args::ArchitectureArgs;

/// The options of `funknn import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The checkpoint: .pt (`{'model_state_dict': ...}` or a bare state dict) or .safetensors.
    #[arg(long = "from")]
    pub from: PathBuf,
    #[command(flatten)]
    pub architecture: ArchitectureArgs,
    /// Store the weights as f16 (half the size).
    #[arg(long)]
    pub f16: bool,
    /// Output model folder.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: &ImportArgs) -> Result<()> {
    let (from, output) = (&args.from, &args.output);
    let config = args
        .architecture
        .config(Some(format!("imported from {}", from.display())));
    let model = FunkNN::import(from, &config, DType::F32, &Device::Cpu)
        .with_context(|| format!("importing {}", from.display()))?;
    let storage = if args.f16 { DType::F16 } else { DType::F32 };
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
