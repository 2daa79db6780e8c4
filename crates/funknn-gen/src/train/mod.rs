//! Training the generator: data, the official Laplacian-pyramid loss, and the two-phase
//! trainer (autoencoder, then prior) with exact checkpoints.

mod blur;
mod data;
pub(crate) mod pyramid;
pub(crate) mod trainer;

pub use data::{fashion_mnist_labels, read_idx, ImageSet, Split, FASHION_MNIST_DIR};
pub use pyramid::{LaplacianPyramidLoss, OFFICIAL_PYRAMID_WEIGHTS};
pub use trainer::{GeneratorTrainConfig, GeneratorTrainer, Losses, Phase};
