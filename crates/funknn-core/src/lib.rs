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

// Groups of concepts, from the bottom up: `sampler` and `network` make the model, `engine`
// runs it without a graph, `train` fits it, `picture` and `eval` turn it into pictures and
// scores. No module imports one that imports it back.
mod config;
pub mod coords;
mod engine;
mod error;
pub mod eval;
mod fs;
pub mod hub;
mod jet;
mod model;
pub mod network;
pub mod picture;
mod real;
mod rng;
pub mod sampler;
pub mod train;

pub use config::{Activation, Config, KernelKind, Network};
pub use engine::{
    transform_images, transform_points, value_image, ContinuousImage, Evaluator, KernelInterpolant,
    SelfEnsemble, SYMMETRIES,
};
pub use error::{Error, Result};
pub use fs::{make_readable, replace_dir_atomic, write_atomic};
pub use jet::{Jet, JetOrder};
pub use model::{read_tensors, EvalOptions, FunkNN, PatchNetwork, CONFIG_FILE, WEIGHTS_FILE};
pub use real::{sin_cos_f32, Real};
pub use rng::Rng;
pub use sampler::{reflect_index, PatchSampler};
