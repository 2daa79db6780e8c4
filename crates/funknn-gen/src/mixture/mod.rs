//! A Gaussian-mixture prior of the latents, for sampling. The paper's RealNVP stays the
//! prior of the inverse problems (they optimise its base variable); a full-covariance
//! mixture fitted to the same training latents draws samples that look more like garments
//! (docs/generation.md, "The sampling prior").

pub(crate) mod config;
pub(crate) mod fit;
pub(crate) mod gaussian_mixture;
pub(crate) mod linalg;
pub(crate) mod normal;

pub use config::MixtureConfig;
pub use fit::{fit_mixture, FitReport, MixtureFit};
pub use gaussian_mixture::GaussianMixture;
