//! `funknn simulate gradient|poisson`: derivative observations of an image, for
//! `funknn solve gradient|poisson`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use funknn_inverse::io::save_image;
use funknn_inverse::{
    simulate_gradient, simulate_poisson, ImageGrid, ImagePhantom, PoissonSampling,
};

use super::ct::{check_image_output, depth, Depth};
use crate::grey_input::load_grey;

/// Observations of an image's derivatives: the exact derivatives of its cubic B-spline
/// interpolant.
#[derive(clap::Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    command: SimulateCommand,
}

#[derive(clap::Subcommand)]
enum SimulateCommand {
    /// ∇u at the pixel centres of --size (all, or the --sparse fraction where |∇u| is
    /// largest): `points` (P, 2), `gradient` (P, 1, 2).
    Gradient(GradientArgs),
    /// Δu at scattered points and u on the square's boundary: `points`, `laplacian`,
    /// `boundary_points`, `boundary_values`.
    Poisson(PoissonArgs),
}

#[derive(clap::Args)]
struct Common {
    /// The image (grey picture, .safetensors, or fashion-mnist:test:K for the K-th
    /// Fashion-MNIST test image padded to 32²); its B-spline interpolant is the truth.
    #[arg(long)]
    image: PathBuf,
    /// Working size N (the gradient's grid; the default point counts of Poisson).
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Gaussian noise with ‖noise‖/‖data‖ = 10^(−SNR/20) (on the Laplacian for Poisson).
    #[arg(long)]
    noise_snr: Option<f64>,
    /// Seed of the noise and of the scattered points.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output observations (.safetensors).
    #[arg(short, long)]
    output: PathBuf,
    /// Also write the truth: the interpolant at the pixel centres of --size.
    #[arg(long)]
    truth_out: Option<PathBuf>,
    /// PNG sample depth of --truth-out: 8 or 16.
    #[arg(long, value_enum, default_value = "8")]
    bit_depth: Depth,
}

#[derive(clap::Args)]
struct GradientArgs {
    /// Keep only this fraction of the pixels, those with the largest |∇u| (the official
    /// sparse option: 0.2).
    #[arg(long)]
    sparse: Option<f64>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct PoissonArgs {
    /// Scattered points (uniform in the square, seeded). Default: N²/2.
    #[arg(long)]
    points: Option<usize>,
    /// Boundary points per side of the square. Default: N.
    #[arg(long)]
    boundary_points: Option<usize>,
    #[command(flatten)]
    common: Common,
}

/// Runs `funknn simulate …`.
pub fn run(args: &SimulateArgs) -> Result<()> {
    let c = match &args.command {
        SimulateCommand::Gradient(a) => &a.common,
        SimulateCommand::Poisson(a) => &a.common,
    };
    if !c
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
    {
        bail!(
            "{}: observations are written as .safetensors",
            c.output.display()
        );
    }
    if let Some(t) = &c.truth_out {
        check_image_output(t)?;
    }
    let grid = ImageGrid::square(c.size).context("--size")?;
    if c.size > 4096 {
        bail!("--size {}: at most 4096", c.size);
    }
    let (g, pixels) = load_grey(&c.image)?;
    let image = ImagePhantom::new(&pixels, 1, g.height, g.width)
        .with_context(|| format!("{}", c.image.display()))?;
    match &args.command {
        SimulateCommand::Gradient(a) => {
            let obs = simulate_gradient(&image, &grid, a.sparse, c.noise_snr, c.seed)?;
            obs.save(&c.output)?;
            println!("{}: ∇u at {} points", c.output.display(), obs.points.len());
        }
        SimulateCommand::Poisson(a) => {
            let d = PoissonSampling::for_size(c.size);
            let sampling = PoissonSampling {
                interior: a.points.unwrap_or(d.interior),
                boundary_per_side: a.boundary_points.unwrap_or(d.boundary_per_side),
            };
            let obs = simulate_poisson(&image, sampling, c.noise_snr, c.seed)?;
            obs.save(&c.output)?;
            println!(
                "{}: Δu at {} points, u at {} boundary points",
                c.output.display(),
                obs.points.len(),
                obs.boundary_points.len()
            );
        }
    }
    if let Some(path) = &c.truth_out {
        let truth: Vec<f32> = image.render(&grid)?.iter().map(|&v| v as f32).collect();
        save_image(path, &truth, &grid, depth(c.bit_depth))?;
    }
    Ok(())
}
