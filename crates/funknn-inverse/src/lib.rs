//! # funknn-inverse
//!
//! Inverse problems for funknn, starting with computed tomography: an exact, fast,
//! differentiable parallel-beam ray transform on any grid (and a mesh-free one for continuous
//! images), phantoms with exact sinograms, and the classical reconstructions (filtered
//! back-projection, TV by Chambolle–Pock) that a learned prior must beat; then the learned
//! prior itself: [`PriorSolver`] fits a functional generator (funknn-gen) to observations
//! through any [`ForwardModel`] (CT, gradients, Laplacian with boundary values), beside
//! classical baselines for the derivative problems ([`tikhonov_reconstruct`],
//! [`poisson_reconstruct`]). See `docs/inverse.md`.
//!
//! The geometry ([`ParallelGeometry`], [`ImageGrid`]) is data; the projector
//! ([`RayTransform`]) applies it and is one [`LinearOperator`] among others; the solvers take
//! any `&dyn LinearOperator`. See `docs/ct.md` for the conventions and measurements.
//!
//! ```
//! use funknn_inverse::*;
//!
//! let n = 64;
//! let grid = ImageGrid::square(n)?;
//! let geometry = ParallelGeometry::full_view(120, n)?;
//! let phantom = Phantom::shepp_logan();
//! let truth: Vec<f32> = phantom.render(&grid, Rendering::PixelAverage).iter().map(|&v| v as f32).collect();
//! let sinogram: Vec<f32> = phantom.sinogram(&geometry).iter().map(|&v| v as f32).collect();
//! let fbp = Fbp::new(grid, &geometry, FbpConfig::default())?;
//! let image = fbp.reconstruct(&sinogram)?;
//! assert!(psnr(&image, &truth, None)? > 20.0);
//! # Ok::<(), funknn_inverse::Error>(())
//! ```

pub mod error;
pub mod function;
pub mod geometry;
pub mod io;
pub mod metrics;
pub mod observation;
pub mod operator;
mod parallel;
pub mod phantom;
pub mod prior;
pub mod quadrature;
pub mod ray_transform;
pub mod reconstruct;
pub mod scalar;

pub use error::{Error, Result};
pub use function::{CoreImage, FnImage, PlaneFunction};
pub use geometry::{ImageGrid, ParallelGeometry};
pub use metrics::{psnr, snr, ssim};
pub use observation::{
    simulate_gradient, simulate_poisson, GradientObservations, PoissonObservations, PoissonSampling,
};
pub use operator::{
    operator_norm, Gradient, LinearOperator, PointOperator, PointQuantity, Scaled, Stacked,
};
pub use phantom::{add_noise, Ellipse, EllipsesConfig, ImagePhantom, Phantom, Rendering};
pub use prior::{
    CtForward, ForwardModel, GradientForward, Phase, PoissonForward, PriorSolution, PriorSolver,
    PriorSolverConfig, SolverStep,
};
pub use ray_transform::{
    Interpolation, MeshFreeConfig, MeshFreeTransform, RayTransform, RayTransformOp,
};
pub use reconstruct::{
    integrate_gradient, poisson_reconstruct, tikhonov_reconstruct, tv_reconstruct,
    zero_border_mean, Fbp, FbpConfig, Filter, PoissonConfig, TikhonovConfig, TvConfig, TvReport,
};
pub use scalar::Scalar;
