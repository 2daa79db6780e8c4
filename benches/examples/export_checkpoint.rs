//! Writes the model of a `funknn train` checkpoint as a model folder, to evaluate a run
//! while it trains.
//!
//! `cargo run --release -p funknn-benches --example export_checkpoint -- RUN/checkpoint OUT`

use std::path::PathBuf;

use candle_core::DType;
use funknn_core::train::Trainer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [checkpoint, out] = args.as_slice() else {
        return Err("usage: export_checkpoint CHECKPOINT_DIR OUT_DIR".into());
    };
    let trainer = Trainer::resume(checkpoint)?;
    let command = format!(
        "exported from {} at step {}",
        checkpoint.display(),
        trainer.step_count()
    );
    trainer.save_model(out, DType::F32, &command)?;
    println!("{command} to {}", out.display());
    Ok(())
}
