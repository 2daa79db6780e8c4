//! Training a FunkNN for super-resolution: data (random crops, low/high-resolution pairs),
//! the L1 loss, with optional Sobolev terms on `∇u` and `Δu`, and its gradient (graph-free on
//! the CPU), Adam, and checkpoints that resume exactly.

pub(crate) mod adam;
pub(crate) mod consistency;
pub(crate) mod dataset;
pub(crate) mod gradient;
pub(crate) mod trainer;

pub use adam::Adam;
pub use consistency::ScaleConsistency;
pub use dataset::{Batch, BatchSpec, Degradation, ImageFolder, TargetDerivatives, TrainMode};
pub use gradient::{export_centred, L1Gradients, SobolevLoss};
pub use trainer::{
    checkpoint_dir, interpolation_l1, l1_gradients, l1_gradients_graph, sobolev_gradients,
    sobolev_gradients_graph, sorted_vars, TrainConfig, Trainer,
};
