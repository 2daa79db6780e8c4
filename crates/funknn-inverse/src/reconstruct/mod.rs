//! The classical reconstructions: filtered back-projection and TV-regularised least squares.

mod fbp;
mod tv;

pub use fbp::{Fbp, FbpConfig, Filter};
pub use tv::{tv_reconstruct, TvConfig, TvReport};
