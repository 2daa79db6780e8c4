//! `funknn solve ct|gradient|poisson`: inverse problems with the continuous generative prior
//! (and, for the derivative problems, the classical baselines). The solvers are in
//! `funknn-inverse`; this file reads the data, reports progress and writes the image.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use funknn_core::{FunkNN, KernelKind};
use funknn_gen::{Decoder, FunctionalGenerator, RealNvp};
use funknn_inverse::io::{load_image, save_image, BitDepth, Sinogram};
use funknn_inverse::{
    integrate_gradient, poisson_reconstruct, psnr, tikhonov_reconstruct, tv_reconstruct,
    zero_border_mean, CtForward, ForwardModel, GradientForward, GradientObservations, ImageGrid,
    LinearOperator, Phase, PointOperator, PointQuantity, PoissonConfig, PoissonForward,
    PoissonObservations, PriorSolver, PriorSolverConfig, RayTransform, Scaled, Stacked,
    TikhonovConfig, TvConfig,
};

use super::ct::{check_image_output, depth, print_scores, Depth};
use crate::models::{load_generator, load_model};
use crate::progress;

/// Inverse problems solved with a generator + FunkNN prior.
#[derive(clap::Args)]
pub struct SolveArgs {
    #[command(subcommand)]
    command: SolveCommand,
}

#[derive(clap::Subcommand)]
enum SolveCommand {
    /// Limited-view CT: the image is the FunkNN rendering of the generator's output at
    /// --size, projected by the grid ray transform (the sinogram file's geometry).
    Ct(CtSolveArgs),
    /// An image from its gradient at points (`points` (P, 2), `gradient` (P, C, 2)).
    Gradient(GradientSolveArgs),
    /// An image from its Laplacian at points and its boundary values (`points`,
    /// `laplacian`, `boundary_points`, `boundary_values`).
    Poisson(PoissonSolveArgs),
}

#[derive(clap::Args)]
struct CtSolveArgs {
    /// Sinogram (.safetensors with sinogram (A, D), angles (A), offsets (D)).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Method {
    /// The generative prior (two phases: latent, then decoder weights).
    Prior,
    /// Classical: Tikhonov-regularised least squares on the pixel grid (CG); with
    /// --lambda 0, least-squares integration.
    Tikhonov,
    /// Classical: TV-regularised least squares on the pixel grid (Chambolle–Pock).
    Tv,
    /// Classical (poisson only): the Laplacian interpolated onto the grid (Tikhonov, λ =
    /// --lambda, default 1e-3), then the grid Poisson equation with the boundary values as
    /// Dirichlet data.
    Grid,
    /// Classical (gradient only, dense observations at every pixel centre): least-squares
    /// integration, a Neumann Poisson solve by the discrete cosine transform (FFT).
    Integrate,
}

#[derive(clap::Args)]
struct GradientSolveArgs {
    /// Observations (.safetensors with points (P, 2), gradient (P, C, 2)).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value = "prior")]
    method: Method,
    #[command(flatten)]
    classical: ClassicalArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct PoissonSolveArgs {
    /// Observations (.safetensors with points (P, 2), laplacian (P, C), boundary_points
    /// (B, 2), boundary_values (B, C)).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value = "prior")]
    method: Method,
    /// β, the weight of the boundary term `β·mean((u − g)²)` beside the Laplacian's
    /// `mean((Δu − f)²)/mean(f²)` (prior); the classical methods weight the boundary rows
    /// by √β relative to the Laplacian rows scaled to unit mean square.
    #[arg(long, default_value_t = 100.0)]
    boundary_weight: f64,
    #[command(flatten)]
    classical: ClassicalArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct ClassicalArgs {
    /// λ of the classical methods (Tikhonov: weight of ½‖∇x‖²; TV: weight of TV(x); both
    /// in pixel units, on data scaled to unit mean square). Default: 1e-4 for Tikhonov,
    /// 1e-3 for TV.
    #[arg(long)]
    lambda: Option<f64>,
    /// Iterations of the classical methods (CG or PDHG).
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
}

#[derive(clap::Args)]
struct CommonArgs {
    /// Working size N: the image is N×N.
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Output image: a picture ([0, 1] to the sample range, clipped) or .safetensors
    /// (`image` (1, N, N) f32, unclipped).
    #[arg(short, long)]
    output: PathBuf,
    /// Ground truth (N×N picture or .safetensors): PSNR in the progress bar and PSNR, SNR,
    /// SSIM at the end.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Generator folder or hub repo id (default: the embedded funknn-gen-fashion).
    #[arg(long)]
    generator: Option<String>,
    /// What makes the generator's images continuous: a FunkNN folder or hub repo id, or
    /// interpolant:KERNEL (bspline, cubic_conv, bicubic, bilinear), the plain kernel
    /// interpolant (a FunkNN whose network is zero). Default: interpolant:bspline, whose
    /// derivatives are exact and C² (the shipped funknn-mlp-fashion super-resolves: it draws
    /// garments sharper than the smooth images these problems are posed on; see
    /// docs/inverse.md).
    #[arg(long)]
    model: Option<String>,
    /// Phase 1 steps (the latent). Default: 100.
    #[arg(long)]
    latent_steps: Option<usize>,
    /// Phase 1 Adam learning rate. Default: 0.05.
    #[arg(long)]
    latent_lr: Option<f64>,
    /// Phase 2 steps (the decoder's weights, latent fixed). Default: 1000.
    #[arg(long)]
    decoder_steps: Option<usize>,
    /// Phase 2 Adam learning rate. Default: 3e-4.
    #[arg(long)]
    decoder_lr: Option<f64>,
    /// Weight of the prior's negative log-likelihood per latent dimension. Default: 0.
    #[arg(long)]
    likelihood_weight: Option<f64>,
    /// Weight of the total variation mean |∇u| (exact, from the jets; on the forward model's
    /// points for ct, on every pixel centre of the working grid otherwise). Default: 1e-3
    /// (gradient), 0 (ct, poisson).
    #[arg(long)]
    tv_weight: Option<f64>,
    /// Weight of the penalty on values outside [0, 1] at the forward model's points.
    /// Default: 1 (ct), 0 (gradient, poisson).
    #[arg(long)]
    range_weight: Option<f64>,
    /// 0: start at the prior's mean; above 0: at a prior sample at this temperature.
    #[arg(long, default_value_t = 0.0)]
    start_temperature: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the current image every K steps to --snapshots.
    #[arg(long)]
    snapshot_every: Option<usize>,
    /// Folder of the snapshots (default: OUTPUT's stem + "-steps").
    #[arg(long)]
    snapshots: Option<PathBuf>,
    /// Render and score the image against --truth every K steps (derivative problems; CT
    /// scores every step for free).
    #[arg(long, default_value_t = 25)]
    report_every: usize,
    /// Write step, phase, loss, misfit (and PSNR where scored) per step to this CSV file.
    #[arg(long)]
    losses: Option<PathBuf>,
    /// Points per tile when rendering.
    #[arg(long, default_value_t = 65_536)]
    tile: usize,
    /// PNG sample depth: 8 or 16.
    #[arg(long, value_enum, default_value = "8")]
    bit_depth: Depth,
}

/// Runs `funknn solve …`.
pub fn run(args: &SolveArgs) -> Result<()> {
    match &args.command {
        SolveCommand::Ct(a) => {
            let c = &a.common;
            let (grid, truth) = prepare(c)?;
            let sino = Sinogram::load(&a.data)?;
            let rt = RayTransform::new(grid, sino.geometry.clone())?;
            let forward = CtForward::new(rt, &sino.data)?;
            let config = solver_config(c, CT_DEFAULTS)?;
            solve_with_prior(c, &grid, truth.as_deref(), &forward, &config, Anchor::None)
        }
        SolveCommand::Gradient(a) => {
            let c = &a.common;
            let (grid, truth) = prepare(c)?;
            let obs = GradientObservations::load(&a.data)?;
            match a.method {
                Method::Prior => {
                    let forward = GradientForward::new(&obs)?;
                    let config = solver_config(c, GRADIENT_DEFAULTS)?;
                    solve_with_prior(
                        c,
                        &grid,
                        truth.as_deref(),
                        &forward,
                        &config,
                        Anchor::Border,
                    )
                }
                Method::Grid => bail!("--method grid is the Poisson problem's; use tikhonov or tv"),
                Method::Integrate => {
                    grey(obs.channels)?;
                    let mut image = integrate_gradient(&grid, &obs)?;
                    zero_border_mean(&mut image, &grid)?;
                    finish(c, &grid, truth.as_deref(), &image)
                }
                method => {
                    grey(obs.channels)?;
                    let op = PointOperator::new(&grid, &obs.points, PointQuantity::Gradient)?;
                    let data: Vec<f64> = obs.gradient.iter().map(|&v| v as f64).collect();
                    let mut image = classical(&op, &data, method, &a.classical)?;
                    // Gradients do not see the constant: put the border at zero.
                    zero_border_mean(&mut image, &grid)?;
                    finish(c, &grid, truth.as_deref(), &image)
                }
            }
        }
        SolveCommand::Poisson(a) => {
            let c = &a.common;
            let (grid, truth) = prepare(c)?;
            let obs = PoissonObservations::load(&a.data)?;
            match a.method {
                Method::Prior => {
                    let forward = PoissonForward::new(&obs, a.boundary_weight)?;
                    let config = solver_config(c, POISSON_DEFAULTS)?;
                    solve_with_prior(c, &grid, truth.as_deref(), &forward, &config, Anchor::None)
                }
                Method::Integrate => {
                    bail!("--method integrate is the gradient problem's; use grid, tikhonov or tv")
                }
                Method::Grid => {
                    let config = PoissonConfig {
                        lambda: a
                            .classical
                            .lambda
                            .unwrap_or(PoissonConfig::default().lambda),
                        iterations: a.classical.iterations.max(1),
                    };
                    let image = poisson_reconstruct(&grid, &obs, &config)?;
                    finish(c, &grid, truth.as_deref(), &image)
                }
                method => {
                    grey(obs.channels)?;
                    if !(a.boundary_weight.is_finite() && a.boundary_weight >= 0.0) {
                        bail!("--boundary-weight must be finite and non-negative");
                    }
                    let lap = PointOperator::new(&grid, &obs.points, PointQuantity::Laplacian)?;
                    let val =
                        PointOperator::new(&grid, &obs.boundary_points, PointQuantity::Value)?;
                    // Laplacian rows scaled to unit mean square, boundary rows by √β.
                    let f: Vec<f64> = obs.laplacian.iter().map(|&v| v as f64).collect();
                    let s = 1.0 / rms(&f);
                    let b = a.boundary_weight.sqrt();
                    let (lap_s, val_s) = (Scaled::new(&lap, s), Scaled::new(&val, b));
                    let op = Stacked::new(vec![&lap_s, &val_s])?;
                    let data: Vec<f64> = f
                        .iter()
                        .map(|v| v * s)
                        .chain(obs.boundary_values.iter().map(|&v| v as f64 * b))
                        .collect();
                    let image = classical(&op, &data, method, &a.classical)?;
                    finish(c, &grid, truth.as_deref(), &image)
                }
            }
        }
    }
}

fn grey(channels: usize) -> Result<()> {
    if channels != 1 {
        bail!("funknn solve reconstructs grey images; the observations have {channels} channels");
    }
    Ok(())
}

fn rms(v: &[f64]) -> f64 {
    let ms = v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64;
    ms.sqrt().max(1e-12)
}

/// Checks the output name and reads the truth, before any work.
fn prepare(c: &CommonArgs) -> Result<(ImageGrid, Option<Vec<f32>>)> {
    check_image_output(&c.output)?;
    let grid = ImageGrid::square(c.size).context("--size")?;
    if c.size > 4096 {
        bail!("--size {}: at most 4096", c.size);
    }
    let truth = match &c.truth {
        Some(path) => {
            let (g, t) = load_image(path)?;
            if g != grid {
                bail!(
                    "{}: the truth is {}×{} but the working size is {n}×{n} (set --size)",
                    path.display(),
                    g.height,
                    g.width,
                    n = c.size
                );
            }
            Some(t)
        }
        None => None,
    };
    if c.snapshot_every == Some(0) || c.report_every == 0 {
        bail!("--snapshot-every and --report-every must be positive");
    }
    Ok((grid, truth))
}

/// The defaults of `solve ct`: 100 latent steps, then 1,000 decoder steps at 3e-4 (the
/// decoder phase gains most), and the [0, 1] range penalty at 1, which keeps the missing
/// wedge of limited view from going negative (docs/inverse.md).
const CT_DEFAULTS: PriorSolverConfig = PriorSolverConfig {
    latent_steps: 100,
    latent_lr: 0.05,
    decoder_steps: 1000,
    decoder_lr: 3e-4,
    likelihood_weight: 0.0,
    tv_weight: 0.0,
    range_weight: 1.0,
    start_temperature: 0.0,
    seed: 0,
};

/// The defaults of `solve gradient`: as CT's, with TV on the working grid (1e-3), which
/// keeps the image flat where sparse gradients say nothing, and no range penalty
/// (docs/inverse.md).
const GRADIENT_DEFAULTS: PriorSolverConfig = PriorSolverConfig {
    tv_weight: 1e-3,
    range_weight: 0.0,
    ..CT_DEFAULTS
};

/// The defaults of `solve poisson`: as CT's without the range penalty (TV on the grid
/// lowers the PSNR here).
const POISSON_DEFAULTS: PriorSolverConfig = PriorSolverConfig {
    range_weight: 0.0,
    ..CT_DEFAULTS
};

/// What fixes what the data cannot see.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Anchor {
    None,
    /// Gradients do not see the constant: the result is shifted so that its border is zero
    /// on average, as the classical baselines' are.
    Border,
}

fn solver_config(c: &CommonArgs, d: PriorSolverConfig) -> Result<PriorSolverConfig> {
    let config = PriorSolverConfig {
        latent_steps: c.latent_steps.unwrap_or(d.latent_steps),
        latent_lr: c.latent_lr.unwrap_or(d.latent_lr),
        decoder_steps: c.decoder_steps.unwrap_or(d.decoder_steps),
        decoder_lr: c.decoder_lr.unwrap_or(d.decoder_lr),
        likelihood_weight: c.likelihood_weight.unwrap_or(d.likelihood_weight),
        tv_weight: c.tv_weight.unwrap_or(d.tv_weight),
        range_weight: c.range_weight.unwrap_or(d.range_weight),
        start_temperature: c.start_temperature,
        seed: c.seed,
    };
    config.validate()?;
    Ok(config)
}

fn classical(
    op: &dyn LinearOperator<f64>,
    data: &[f64],
    method: Method,
    a: &ClassicalArgs,
) -> Result<Vec<f64>> {
    Ok(match method {
        Method::Tikhonov => {
            let config = TikhonovConfig {
                lambda: a.lambda.unwrap_or(1e-4),
                iterations: a.iterations,
                ..TikhonovConfig::default()
            };
            let (x, iterations) = tikhonov_reconstruct(op, data, &config)?;
            println!(
                "Tikhonov: {iterations} CG iterations, λ = {}",
                config.lambda
            );
            x
        }
        Method::Tv => {
            let config = TvConfig {
                lambda: a.lambda.unwrap_or(1e-3),
                iterations: a.iterations,
                positivity: false,
                ..TvConfig::default()
            };
            let bar = progress::items(config.iterations as u64, "TV");
            let mut tick = |_: usize| bar.inc(1);
            let (x, report) = tv_reconstruct(op, data, &config, Some(&mut tick))?;
            bar.finish_and_clear();
            println!(
                "TV: {} iterations, λ = {}, objective {:.6e}",
                report.iterations, config.lambda, report.objective
            );
            x
        }
        Method::Prior | Method::Grid | Method::Integrate => {
            unreachable!(
                "the prior, the grid Poisson solve and the integration have their own paths"
            )
        }
    })
}

fn finish(c: &CommonArgs, grid: &ImageGrid, truth: Option<&[f32]>, image: &[f64]) -> Result<()> {
    let image: Vec<f32> = image.iter().map(|&v| v as f32).collect();
    save_image(&c.output, &image, grid, depth(c.bit_depth))?;
    if let Some(t) = truth {
        print_scores(&image, t, grid)?;
    }
    println!("{}: {}×{}", c.output.display(), grid.height, grid.width);
    Ok(())
}

type Prior = FunctionalGenerator<RealNvp, Decoder>;

/// What renders the generator's images when --model is not given: their cubic B-spline
/// interpolant, the continuous image the experiments' truth is defined by (docs/inverse.md).
const DEFAULT_RENDERER: &str = "interpolant:bspline";

/// The generator with a trainable copy of its decoder, and that copy's variables.
fn load_prior(c: &CommonArgs) -> Result<(Prior, Vec<candle_core::Var>)> {
    let generator = load_generator(c.generator.as_deref())?;
    let channels = generator.config().autoencoder.channels;
    let spec = c.model.as_deref().unwrap_or(DEFAULT_RENDERER);
    let funknn = match spec.strip_prefix("interpolant:") {
        Some(kernel) => {
            let kernel: KernelKind = kernel.parse().with_context(|| format!("--model {spec}"))?;
            FunkNN::interpolant(kernel, channels, DType::F32, &Device::Cpu)?
        }
        None => load_model(Some(spec), &funknn_weights_fashion::MLP_FASHION)?,
    };
    grey(funknn.config().channels)?;
    let (decoder, vars) = generator.trainable_decoder()?;
    let prior = FunctionalGenerator::new(generator.prior, decoder, funknn)?;
    Ok((prior, vars.into_iter().map(|(_, v)| v).collect()))
}

fn render(
    prior: &Prior,
    latent: &candle_core::Tensor,
    grid: &ImageGrid,
    tile: usize,
) -> Result<Vec<f32>> {
    Ok(prior
        .render(latent, grid.height, grid.width, tile)?
        .flatten_all()?
        .to_vec1()?)
}

fn solve_with_prior(
    c: &CommonArgs,
    grid: &ImageGrid,
    truth: Option<&[f32]>,
    forward: &dyn ForwardModel,
    config: &PriorSolverConfig,
    anchor: Anchor,
) -> Result<()> {
    // CT observes the image on the working grid: its jet values are the image.
    let values_on_grid =
        forward.points().dim(1)? == grid.len() && forward.order() == funknn_core::JetOrder::Value;
    let (prior, vars) = load_prior(c)?;
    let snapshots = match c.snapshot_every {
        Some(_) => {
            let dir = c
                .snapshots
                .clone()
                .unwrap_or_else(|| default_snapshots(&c.output));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Some(dir)
        }
        None => None,
    };
    let mut solver = PriorSolver::new(&prior, vars);
    if !values_on_grid {
        // Observations at points: TV over the whole working grid, as the classical TV's.
        solver = solver.with_tv_points(funknn_inverse::prior::grid_points(grid)?)?;
    }
    let bar = progress::steps((config.latent_steps + config.decoder_steps) as u64);
    let started = Instant::now();
    let mut last_psnr: Option<f64> = None;
    let mut csv = String::from("step,phase,loss,misfit,psnr\n");
    let mut monitor = |s: &funknn_inverse::SolverStep| -> funknn_inverse::Result<()> {
        let snapshot = c.snapshot_every.is_some_and(|k| s.step.is_multiple_of(k));
        let score = truth.is_some() && (values_on_grid || s.step.is_multiple_of(c.report_every));
        if snapshot || score {
            let image = if values_on_grid {
                s.jet.value()?.flatten_all()?.to_vec1::<f32>()?
            } else {
                render(&prior, s.latent, grid, c.tile).map_err(|e| {
                    funknn_inverse::Error::Invalid {
                        what: "rendering",
                        message: format!("{e:#}"),
                    }
                })?
            };
            if let Some(t) = truth.filter(|_| score) {
                last_psnr = Some(psnr(&image, t, None)?);
            }
            if let (Some(dir), true) = (&snapshots, snapshot) {
                save_image(
                    &dir.join(format!("step-{:05}.png", s.step)),
                    &image,
                    grid,
                    BitDepth::Eight,
                )?;
            }
        }
        let phase = match s.phase {
            Phase::Latent => "latent",
            Phase::Decoder => "decoder",
        };
        let scored = if score { last_psnr } else { None };
        csv.push_str(&format!(
            "{},{phase},{:e},{:e},{}\n",
            s.step,
            s.loss,
            s.misfit,
            scored.map(|p| format!("{p:.4}")).unwrap_or_default()
        ));
        let psnr = last_psnr
            .map(|p| format!(" PSNR {p:.2} dB"))
            .unwrap_or_default();
        bar.set_message(format!(
            "{phase} misfit {:.3e} loss {:.3e}{psnr}",
            s.misfit, s.loss
        ));
        bar.inc(1);
        Ok(())
    };
    let solution = solver.solve(forward, config, &mut monitor)?;
    bar.finish_and_clear();
    if let Some(path) = &c.losses {
        funknn_core::write_atomic(path, |tmp| {
            std::fs::write(tmp, csv.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
                what: "losses",
                message: format!("{}: {e}", tmp.display()),
            })
        })?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let steps = solution.losses.len();
    let last = solution.losses.last().map_or(f64::NAN, |l| l.1);
    println!(
        "{steps} steps in {seconds:.1} s ({:.3} s per step), final misfit {last:.3e}",
        seconds / steps.max(1) as f64
    );
    let image = render(&prior, &solution.latent, grid, c.tile)?;
    let mut image: Vec<f64> = image.iter().map(|&v| v as f64).collect();
    if anchor == Anchor::Border {
        zero_border_mean(&mut image, grid)?;
    }
    finish(c, grid, truth, &image)
}

fn default_snapshots(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "solve".into());
    output.with_file_name(format!("{stem}-steps"))
}
