//! Patch networks on jets: affine layers, activations, the official MLP, the paper's CNN,
//! and their seeded initialisation.

pub(crate) mod activation;
pub(crate) mod cnn;
pub(crate) mod init;
pub(crate) mod linear;
pub(crate) mod mlp;

pub use activation::activate_jet;
pub use cnn::{max_pool_jet, pooled_side, Cnn, CNN_CHANNELS, CNN_KERNEL, CNN_LAYERS};
pub use init::{init_parameters, parameter_specs, parameter_specs_with, Init, InitScheme};
pub use linear::{Linear, SameConv2d};
pub use mlp::{layer_dims, Mlp, CNN_HEAD_HIDDEN, PATCH_MLP_HIDDEN};
