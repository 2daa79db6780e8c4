//! The classical reconstructions: filtered back-projection, TV- and Tikhonov-regularised
//! least squares, least-squares integration of gradients, the grid Poisson solve.

mod fbp;
mod integration;
mod poisson;
mod tikhonov;
mod tv;

pub use fbp::{Fbp, FbpConfig, Filter};
pub use integration::integrate_gradient;
pub use poisson::{poisson_reconstruct, PoissonConfig};
pub use tikhonov::{tikhonov_reconstruct, zero_border_mean, TikhonovConfig};
pub use tv::{tv_reconstruct, TvConfig, TvReport};
