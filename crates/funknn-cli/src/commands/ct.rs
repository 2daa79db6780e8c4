//! `funknn ct`: simulate CT data from phantoms and reconstruct it (FBP or TV). All the
//! computation is in `funknn-inverse`; this file parses options, reads and writes files, and
//! reports.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use funknn_inverse::io::{load_image, save_image, BitDepth, Sinogram};

use crate::grey_input::load_grey;
use funknn_inverse::{
    add_noise, psnr, snr, ssim, tv_reconstruct, EllipsesConfig, Fbp, FbpConfig, Filter, ImageGrid,
    ImagePhantom, Interpolation, MeshFreeConfig, ParallelGeometry, Phantom, RayTransform,
    Rendering, TvConfig,
};

/// Computed tomography: simulate sinograms of phantoms, reconstruct images from sinograms.
#[derive(clap::Args)]
pub struct CtArgs {
    #[command(subcommand)]
    command: CtCommand,
}

#[derive(clap::Subcommand)]
enum CtCommand {
    /// Simulate a parallel-beam sinogram of a phantom: exact line integrals (no pixel grid
    /// involved), optionally with Gaussian noise at an SNR.
    Simulate(SimulateArgs),
    /// Reconstruct an image from a sinogram file, by filtered back-projection or TV.
    Reconstruct(ReconstructArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PhantomKind {
    /// The modified Shepp–Logan phantom.
    SheppLogan,
    /// Random ellipses in the inscribed disc (seeded).
    Ellipses,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Method {
    /// Filtered back-projection.
    Fbp,
    /// TV-regularised least squares (Chambolle–Pock).
    Tv,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FilterArg {
    RamLak,
    SheppLogan,
    Cosine,
    Hann,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InterpolationArg {
    /// Joseph's method on a sharpened image (filter [−⅛, 5/4, −⅛] across the rays): the
    /// most accurate on pixel images, about as fast as linear.
    Sharpened,
    /// Joseph's method (linear), the fastest.
    Linear,
    /// Keys' cubic, a little more accurate.
    Cubic,
    /// Exact for the pixel model (Siddon's intersection lengths), about as fast as linear.
    Exact,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// The phantom.
    #[arg(long, value_enum, default_value = "shepp-logan")]
    phantom: PhantomKind,
    /// Instead of a phantom, the cubic B-spline interpolant of this grey image (a picture,
    /// .safetensors, or fashion-mnist:test:K): its sinogram by quadrature along the rays (mesh-free, no grid of the
    /// working size), and --truth-out its values at the pixel centres of --size.
    #[arg(long, conflicts_with = "phantom")]
    image: Option<PathBuf>,
    /// Seed of the random ellipses and of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image size N (for --truth-out, and the default number of detector bins).
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Number of angles: midpoints of a uniform partition of the angle range.
    #[arg(long, default_value_t = 200)]
    angles: usize,
    /// Angle range in degrees, centred on 0 (140: the official ±70°; 180: full view).
    #[arg(long, default_value_t = 140.0)]
    angle_range: f64,
    /// Detector bins on [−½, ½] (default: --size).
    #[arg(long)]
    detectors: Option<usize>,
    /// Add Gaussian noise with ‖noise‖/‖sinogram‖ = 10^(−SNR/20).
    #[arg(long)]
    noise_snr: Option<f64>,
    /// Output sinogram (.safetensors with sinogram, angles, offsets).
    #[arg(short, long)]
    output: PathBuf,
    /// Also write the phantom rendered at --size (exact pixel averages): a picture (PNG, TIFF, ...), or
    /// .safetensors with `image` (1, N, N).
    #[arg(long)]
    truth_out: Option<PathBuf>,
    /// PNG sample depth: 8 or 16.
    #[arg(long, value_enum, default_value = "8")]
    bit_depth: Depth,
}

#[derive(clap::Args)]
struct ReconstructArgs {
    /// Input sinogram (.safetensors with sinogram (A, D), angles (A), offsets (D)).
    #[arg(long)]
    data: PathBuf,
    /// fbp or tv.
    #[arg(long, value_enum, default_value = "fbp")]
    method: Method,
    /// Output image size N×N (default: the number of detector bins).
    #[arg(long)]
    size: Option<usize>,
    /// Output image: a picture (PNG, TIFF, WebP, JPEG; [0, 1] to the sample range, clipped) or .safetensors (`image`
    /// (1, N, N) f32, unclipped).
    #[arg(short, long)]
    output: PathBuf,
    /// A ground-truth image (a picture or .safetensors, N×N) to score against: prints PSNR, SNR
    /// and SSIM.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// FBP filter.
    #[arg(long, value_enum, default_value = "ram-lak")]
    filter: FilterArg,
    /// TV weight λ in ½‖Ax − y‖² + λ·TV(x) (TV in pixel units; the default suits the official
    /// 128² set-up with 30 dB noise).
    #[arg(long, default_value_t = TvConfig::default().lambda)]
    lambda: f64,
    /// TV iterations.
    #[arg(long, default_value_t = TvConfig::default().iterations)]
    iterations: usize,
    /// Let TV images go negative.
    #[arg(long)]
    no_positivity: bool,
    /// Interpolation of the ray transform inside TV.
    #[arg(long, value_enum, default_value = "sharpened")]
    interpolation: InterpolationArg,
    /// PNG sample depth: 8 or 16.
    #[arg(long, value_enum, default_value = "8")]
    bit_depth: Depth,
}

/// Runs `funknn ct …`.
pub fn run(args: &CtArgs) -> Result<()> {
    match &args.command {
        CtCommand::Simulate(a) => simulate(a),
        CtCommand::Reconstruct(a) => reconstruct(a),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum Depth {
    #[value(name = "8")]
    Eight,
    #[value(name = "16")]
    Sixteen,
}

pub(super) fn depth(d: Depth) -> BitDepth {
    match d {
        Depth::Eight => BitDepth::Eight,
        Depth::Sixteen => BitDepth::Sixteen,
    }
}

fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Output names are checked before any work, so a typo costs nothing and writes nothing.
pub(super) fn check_image_output(path: &Path) -> Result<()> {
    if !has_extension(path, &["safetensors"]) {
        funknn_core::picture::PictureFormat::from_path(path).with_context(|| {
            format!(
                "{}: image outputs are pictures or .safetensors",
                path.display()
            )
        })?;
    }
    Ok(())
}

fn simulate(a: &SimulateArgs) -> Result<()> {
    if !has_extension(&a.output, &["safetensors"]) {
        bail!(
            "{}: the sinogram output must be .safetensors",
            a.output.display()
        );
    }
    if let Some(t) = &a.truth_out {
        check_image_output(t)?;
    }
    let grid = ImageGrid::square(a.size).context("--size")?;
    let geometry =
        ParallelGeometry::uniform(a.angles, a.angle_range, a.detectors.unwrap_or(a.size))
            .context("geometry")?;
    let (sinogram, truth) = match &a.image {
        Some(path) => {
            let (g, pixels) = load_grey(path)?;
            let image = ImagePhantom::new(&pixels, 1, g.height, g.width)
                .with_context(|| format!("{}", path.display()))?;
            let truth = match &a.truth_out {
                Some(_) => Some(image.render(&grid)?),
                None => None,
            };
            (image.sinogram(&geometry, MeshFreeConfig::default())?, truth)
        }
        None => {
            let phantom = match a.phantom {
                PhantomKind::SheppLogan => Phantom::shepp_logan(),
                PhantomKind::Ellipses => {
                    Phantom::random_ellipses(&EllipsesConfig::default(), a.seed)?
                }
            };
            let truth = a
                .truth_out
                .as_ref()
                .map(|_| phantom.render(&grid, Rendering::PixelAverage));
            (phantom.sinogram(&geometry), truth)
        }
    };
    let mut data: Vec<f32> = sinogram.iter().map(|&v| v as f32).collect();
    if let Some(snr_db) = a.noise_snr {
        // The noise seed differs from the phantom's so that both can vary independently.
        add_noise(&mut data, snr_db, a.seed.wrapping_add(0x5eed)).context("--noise-snr")?;
    }
    let truth: Option<Vec<f32>> = truth.map(|t| t.iter().map(|&v| v as f32).collect());
    Sinogram::new(geometry.clone(), data)?.save(&a.output)?;
    if let (Some(path), Some(truth)) = (&a.truth_out, truth) {
        save_image(path, &truth, &grid, depth(a.bit_depth))?;
    }
    println!(
        "{}: {} angles × {} bins{}",
        a.output.display(),
        geometry.n_angles(),
        geometry.n_detectors(),
        a.noise_snr
            .map(|s| format!(", noise at {s} dB"))
            .unwrap_or_default()
    );
    Ok(())
}

/// PSNR, SNR and SSIM of `image` against `truth`, as computed and clipped to [0, 1] (the
/// intensity range, what a PNG output holds): two lines.
pub(super) fn print_scores(image: &[f32], truth: &[f32], grid: &ImageGrid) -> Result<()> {
    let clipped: Vec<f32> = image.iter().map(|v| v.clamp(0.0, 1.0)).collect();
    for (label, x) in [("", image), ("clipped to [0, 1]: ", &clipped[..])] {
        println!(
            "{label}PSNR {:.2} dB  SNR {:.2} dB  SSIM {:.4}",
            psnr(x, truth, None)?,
            snr(x, truth)?,
            ssim(x, truth, grid, None)?
        );
    }
    Ok(())
}

fn reconstruct(a: &ReconstructArgs) -> Result<()> {
    check_image_output(&a.output)?;
    let sino = Sinogram::load(&a.data)?;
    let n = a.size.unwrap_or(sino.geometry.n_detectors());
    let grid = ImageGrid::square(n).context("--size")?;
    let truth = match &a.truth {
        Some(path) => {
            let (g, t) = load_image(path)?;
            if g != grid {
                bail!(
                    "{}: the truth is {}×{} but the reconstruction is {n}×{n} (set --size)",
                    path.display(),
                    g.height,
                    g.width
                );
            }
            Some(t)
        }
        None => None,
    };
    let image = match a.method {
        Method::Fbp => {
            let filter = match a.filter {
                FilterArg::RamLak => Filter::RamLak,
                FilterArg::SheppLogan => Filter::SheppLogan,
                FilterArg::Cosine => Filter::Cosine,
                FilterArg::Hann => Filter::Hann,
            };
            let config = FbpConfig {
                filter,
                ..FbpConfig::default()
            };
            Fbp::new(grid, &sino.geometry, config)?.reconstruct(&sino.data)?
        }
        Method::Tv => {
            let interpolation = match a.interpolation {
                InterpolationArg::Sharpened => Interpolation::Sharpened,
                InterpolationArg::Linear => Interpolation::Linear,
                InterpolationArg::Cubic => Interpolation::Cubic,
                InterpolationArg::Exact => Interpolation::Exact,
            };
            let rt = RayTransform::with_interpolation(grid, sino.geometry.clone(), interpolation)?;
            let config = TvConfig {
                lambda: a.lambda,
                iterations: a.iterations,
                positivity: !a.no_positivity,
                ..TvConfig::default()
            };
            let bar = indicatif::ProgressBar::new(a.iterations as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "TV {bar:40} {pos}/{len} [{elapsed}<{eta}]",
                )
                .expect("static template"),
            );
            let mut tick = |_: usize| bar.inc(1);
            let (x, report) = tv_reconstruct(&rt, &sino.data, &config, Some(&mut tick))?;
            bar.finish_and_clear();
            println!(
                "TV: {} iterations, ‖A‖ = {:.4}, objective {:.6e}",
                report.iterations, report.operator_norm, report.objective
            );
            x
        }
    };
    save_image(&a.output, &image, &grid, depth(a.bit_depth))?;
    if let Some(t) = &truth {
        print_scores(&image, t, &grid)?;
    }
    println!("{}: {n}×{n}", a.output.display());
    Ok(())
}
