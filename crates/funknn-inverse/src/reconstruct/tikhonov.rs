//! Tikhonov-regularised least squares, `min_x ½‖Ax − y‖² + ½λ‖∇x‖²`, by conjugate gradients
//! on the normal equations; with λ = 0 and dense gradient observations it is least-squares
//! integration (the discrete Poisson solve).

use crate::error::check_len;
use crate::geometry::ImageGrid;
use crate::operator::{Gradient, LinearOperator};
use crate::scalar::dot;
use crate::{Error, Result, Scalar};

/// Settings of [`tikhonov_reconstruct`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TikhonovConfig {
    /// λ, the weight of `½‖∇x‖²` (forward differences, pixel units).
    pub lambda: f64,
    /// At most this many CG iterations.
    pub iterations: usize,
    /// Stop when the normal equations' residual falls below this fraction of `‖Aᵀy‖`.
    pub tolerance: f64,
}

impl Default for TikhonovConfig {
    fn default() -> Self {
        TikhonovConfig {
            lambda: 1e-3,
            iterations: 2000,
            tolerance: 1e-8,
        }
    }
}

/// Solves `(AᵀA + λ∇ᵀ∇) x = Aᵀy` by CG from zero (so a null space, such as the constant
/// of gradient data, is left at zero). Returns the image and the iterations run.
///
/// ```
/// use funknn_inverse::*;
/// let grid = ImageGrid::square(8)?;
/// let points: Vec<[f32; 2]> = (0..64).map(|k| [((k % 8) as f32 + 0.5) / 8.0, ((k / 8) as f32 + 0.5) / 8.0]).collect();
/// let op = PointOperator::new(&grid, &points, PointQuantity::Value)?;
/// let truth: Vec<f64> = (0..64).map(|k| k as f64 / 64.0).collect();
/// let data = op.apply_vec(&truth)?;
/// let config = TikhonovConfig { lambda: 0.0, ..TikhonovConfig::default() };
/// let (x, _) = tikhonov_reconstruct(&op, &data, &config)?;
/// assert!(x.iter().zip(&truth).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub fn tikhonov_reconstruct<T: Scalar>(
    op: &dyn LinearOperator<T>,
    data: &[T],
    config: &TikhonovConfig,
) -> Result<(Vec<T>, usize)> {
    let shape = op.domain();
    if shape.len() != 2 {
        return Err(Error::shape("Tikhonov operator domain", "[H, W]", &shape));
    }
    if !(config.lambda.is_finite() && config.lambda >= 0.0) {
        return Err(Error::invalid(
            "lambda",
            format!("{} is not a finite non-negative weight", config.lambda),
        ));
    }
    check_len("data", data.len(), op.range_len())?;
    crate::scalar::check_finite("data", data)?;
    let grad = Gradient::new(shape[0], shape[1]);
    let lambda = T::of(config.lambda);
    let normal = |x: &[T]| -> Result<Vec<T>> {
        let mut out = op.adjoint_vec(&op.apply_vec(x)?)?;
        if config.lambda > 0.0 {
            let g = LinearOperator::<T>::apply_vec(&grad, x)?;
            let gtg = LinearOperator::<T>::adjoint_vec(&grad, &g)?;
            for (o, v) in out.iter_mut().zip(gtg) {
                *o += lambda * v;
            }
        }
        Ok(out)
    };
    let b = op.adjoint_vec(data)?;
    let mut x = vec![T::zero(); b.len()];
    let mut r = b.clone();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let stop = config.tolerance * config.tolerance * rr;
    let mut iterations = 0;
    while iterations < config.iterations && rr > stop && rr > 0.0 {
        let q = normal(&p)?;
        let pq = dot(&p, &q);
        if pq <= 0.0 {
            break;
        }
        let alpha = rr / pq;
        for k in 0..x.len() {
            x[k] += T::of(alpha) * p[k];
            r[k] -= T::of(alpha) * q[k];
        }
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        for k in 0..p.len() {
            p[k] = r[k] + T::of(beta) * p[k];
        }
        rr = rr_new;
        iterations += 1;
    }
    Ok((x, iterations))
}

/// Shifts `image` so that the mean of its outermost ring of pixels is zero: how the
/// classical gradient baselines fix the constant that gradients cannot see (Fashion-MNIST
/// garments lie on black).
pub fn zero_border_mean<T: Scalar>(image: &mut [T], grid: &ImageGrid) -> Result<()> {
    check_len("image", image.len(), grid.len())?;
    let (h, w) = (grid.height, grid.width);
    let ring: Vec<usize> = (0..h)
        .flat_map(|i| (0..w).map(move |j| (i, j)))
        .filter(|&(i, j)| i == 0 || j == 0 || i == h - 1 || j == w - 1)
        .map(|(i, j)| i * w + j)
        .collect();
    let mean = ring.iter().map(|&k| image[k].to_f64()).sum::<f64>() / ring.len() as f64;
    for v in image.iter_mut() {
        *v = T::of(v.to_f64() - mean);
    }
    Ok(())
}
