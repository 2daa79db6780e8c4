//! What a discrete generator and a latent prior are, whatever their architecture.

use candle_core::Tensor;

use crate::{Error, Result};

/// A discrete generator: latent codes `(N, D)` to images `(N, C, H, W)` with intensities
/// nominally in [0, 1] (a decoder's output is not clamped, so that gradients stay alive).
/// Built from candle ops: differentiable by backprop with respect to the latent and to the
/// weights.
pub trait DiscreteGenerator {
    /// D.
    fn latent_dim(&self) -> usize;
    /// `(C, H, W)` of the images it makes.
    fn image_shape(&self) -> (usize, usize, usize);
    /// Images `(N, C, H, W)` for latents `(N, D)`.
    fn generate(&self, latent: &Tensor) -> Result<Tensor>;
}

/// A probability distribution on latent codes.
pub trait LatentPrior {
    /// D.
    fn latent_dim(&self) -> usize;
    /// `n` latents `(n, D)`. `base` holds `n · D` standard normal numbers (the caller draws
    /// them, so that sampling is seeded and reproducible); `temperature` scales the base
    /// distribution's spread (1: the prior itself; below 1: more typical samples).
    fn sample_from(&self, base: &Tensor, temperature: f64) -> Result<Tensor>;
    /// `log p(latent)` for latents `(N, D)`: `(N)`.
    fn log_prob(&self, latent: &Tensor) -> Result<Tensor>;
    /// The latent at the centre of the prior (its base distribution's mean mapped to latent
    /// space): where latent optimisation starts.
    fn mean_latent(&self) -> Result<Tensor>;
}

/// Checks that `z` is `(N, dim)` and returns N; the error names `z` as `name`.
pub(crate) fn check_latents(z: &Tensor, dim: usize, name: &'static str) -> Result<usize> {
    match z.dims() {
        [n, d] if *d == dim => Ok(*n),
        dims => Err(Error::Shape {
            name,
            expected: format!("(N, {dim})"),
            got: dims.to_vec(),
        }),
    }
}

/// `n · dim` standard normal numbers from `seed`, as `(n, dim)` f32 on the CPU.
pub fn standard_normal(n: usize, dim: usize, seed: u64) -> Result<Tensor> {
    let mut rng = funknn_core::Rng::new(seed);
    let v: Vec<f32> = (0..n * dim).map(|_| rng.normal() as f32).collect();
    Ok(Tensor::from_vec(v, (n, dim), &candle_core::Device::Cpu)?)
}
