//! # funknn-core
//!
//! FunkNN (Khorashadizadeh et al., ICLR 2023) on candle: a discrete image becomes a
//! continuous function `u(x)`. A patch around `x` is interpolated by a differentiable
//! spatial transformer with a learnable receptive field and mapped by a small network to
//! the intensity at `x`. Spatial derivatives (gradient, Hessian, Laplacian) are exact: they
//! travel forward through the model as [`Jet`]s, made of ordinary candle ops, so a loss on
//! `u`, `∇u` or `Δu` still backpropagates to weights, images and receptive field.
//!
//! Coordinates are `(x, y)` in the unit square, x along the width, origin at the top-left
//! corner; pixel (row i, col j) of an H×W image has its centre at `((j+½)/W, (i+½)/H)`.
//! Derivatives are with respect to these unit coordinates.
//!
//! ReLU networks and the Keys/bicubic kernels have second derivatives that vanish or jump
//! at pixel boundaries. For PDE work use a smooth activation (`sin`, `gelu`, `silu`,
//! `tanh`) with the C² [`KernelKind::Bspline`] kernel.

mod activation;
pub mod adam;
pub mod cnn;
pub mod colormap;
pub mod config;
pub mod coords;
pub mod dataset;
pub mod ensemble;
mod error;
pub mod eval;
pub mod evaluator;
pub mod image_io;
mod infer;
pub mod init;
pub mod jet;
pub mod kernel;
pub mod linear;
pub mod mlp;
pub mod model;
mod parallel;
pub mod plot;
pub mod prefilter;
mod reflect;
pub mod render;
pub mod resize;
pub mod rng;
pub mod sampler;
pub mod sampler_host;
mod sgemm;
pub mod train;
mod train_host;
pub mod weights;

pub use activation::activate_jet;
pub use config::{Activation, Config, KernelKind, Network};
pub use error::{Error, Result};
pub use evaluator::Evaluator;
pub use infer::{sin_cos_f32, Real};
pub use jet::{Jet, JetOrder};
pub use model::{EvalOptions, FunkNN, PatchNetwork};
pub use reflect::reflect_index;
pub use rng::Rng;
pub use sampler::PatchSampler;
