//! `funknn eval`: super-resolution SNR and PSNR against classical interpolators, or with
//! `--derivatives`, gradient and Laplacian SNR against the B-spline, Keys and bicubic.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use funknn_core::eval::derivatives::evaluate_derivatives_folder;
use funknn_core::eval::{evaluate_folder, Scale};
use funknn_core::write_atomic;
use funknn_weights::{GELU_BSPLINE_PHOTO, MLP_PHOTO};

use crate::models::load_model;

/// The options of `funknn eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model folder or hub repo id owner/name (or owner/name@revision); default: the embedded
    /// funknn-mlp-photo, or funknn-gelu-bspline-photo with --derivatives.
    #[arg(long)]
    pub model: Option<String>,
    /// Folder of test pictures (PNG, JPEG, WebP, TIFF or BMP).
    #[arg(long)]
    pub data: PathBuf,
    /// Largest side of the high-resolution centre crop.
    #[arg(long, default_value_t = 512)]
    pub max_side: usize,
    /// Scales to test (comma-separated; non-integer allowed).
    #[arg(long, value_delimiter = ',', default_values_t = [2.0, 3.0, 4.0])]
    pub scales: Vec<f64>,
    /// Also write the table as Markdown to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Score FunkNN's mean over the 8 flips and transposes of the input (8× slower).
    #[arg(long)]
    pub self_ensemble: bool,
    /// Score derivatives instead of values: the gradient and Laplacian at the HR pixel
    /// centres against those of the HR image's cubic B-spline interpolant.
    #[arg(long, conflicts_with = "self_ensemble")]
    pub derivatives: bool,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let (data, max_side, self_ensemble) = (&args.data, args.max_side, args.self_ensemble);
    for &factor in &args.scales {
        if !factor.is_finite() || factor <= 1.0 || factor > 16.0 {
            bail!("scale {factor}: scales must be in (1, 16]");
        }
    }
    if args.derivatives {
        let model = load_model(args.model.as_deref(), &GELU_BSPLINE_PHOTO)?;
        let table = evaluate_derivatives_folder(&model, data, max_side, &args.scales, |path| {
            tracing::info!("evaluated {}", path.display());
        })
        .with_context(|| format!("evaluating derivatives on {}", data.display()))?;
        return write_table(&table.to_markdown(), args);
    }
    let model = load_model(args.model.as_deref(), &MLP_PHOTO)?;
    let mut scales = Vec::new();
    for &factor in &args.scales {
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
    write_table(&table.to_markdown(), args)
}

/// Prints the table, and writes it to `--markdown` if given.
fn write_table(md: &str, args: &EvalArgs) -> Result<()> {
    println!("{md}");
    if let Some(path) = &args.markdown {
        write_atomic(path, |tmp| {
            std::fs::write(tmp, md.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
                what: "markdown",
                message: e.to_string(),
            })
        })?;
    }
    Ok(())
}
