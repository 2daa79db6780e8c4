//! The graph-free CPU engine: the patch networks' jets in plain buffers, one GEMM per layer
//! and core, points in chunks on every core. `FunkNN::forward_jet` stays the differentiable
//! path; this one evaluates (and trains, in `train/`) several times faster in bounded memory.

pub(crate) mod ensemble;
pub(crate) mod evaluator;
pub(crate) mod frozen_jet;
pub(crate) mod host_network;
pub(crate) mod interpolant;
pub(crate) mod parallel;
pub(crate) mod sgemm;

pub use ensemble::{transform_images, transform_points, value_image, SelfEnsemble, SYMMETRIES};
pub use evaluator::{ContinuousImage, Evaluator};
pub use interpolant::KernelInterpolant;
