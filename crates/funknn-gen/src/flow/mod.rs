//! The latent prior: the official RealNVP normalizing flow (`flow_model.py`, normflows).
//! A flow is a list of invertible layers, each with its forward map, inverse and
//! log-determinant; the base distribution is separate; the model composes them.

pub(crate) mod actnorm;
pub(crate) mod base;
pub(crate) mod config;
pub(crate) mod coupling;
pub(crate) mod nll_gradient;
pub(crate) mod realnvp;

pub use actnorm::ActNorm;
pub use base::DiagGaussian;
pub use config::FlowConfig;
pub use coupling::{CouplingNet, MaskedAffineCoupling};
pub use nll_gradient::NllGradient;
pub use realnvp::RealNvp;
