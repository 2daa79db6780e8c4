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
    let shape = check_problem("Tikhonov operator domain", op, data, config.lambda)?;
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
    conjugate_gradients(normal, &b, config.iterations, config.tolerance)
}

/// Checks a regularised least-squares problem: an operator on `[H, W]` images, `data` of
/// its range's length and finite, a finite non-negative λ. Returns the image shape.
pub(crate) fn check_problem<T: Scalar>(
    what: &'static str,
    op: &dyn LinearOperator<T>,
    data: &[T],
    lambda: f64,
) -> Result<Vec<usize>> {
    let shape = op.domain();
    if shape.len() != 2 {
        return Err(Error::shape(what, "[H, W]", &shape));
    }
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(Error::invalid(
            "lambda",
            format!("{lambda} is not a finite non-negative weight"),
        ));
    }
    check_len("data", data.len(), op.range_len())?;
    crate::scalar::check_finite("data", data)?;
    Ok(shape)
}

/// Conjugate gradients for `A x = b`, `A` symmetric positive (semi)definite given by
/// `apply`, from zero (a null space stays at zero), until the residual falls below
/// `tolerance · ‖b‖` or after `iterations`. Returns `x` and the iterations run.
pub(crate) fn conjugate_gradients<T: Scalar>(
    mut apply: impl FnMut(&[T]) -> Result<Vec<T>>,
    b: &[T],
    iterations: usize,
    tolerance: f64,
) -> Result<(Vec<T>, usize)> {
    let mut x = vec![T::zero(); b.len()];
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let stop = tolerance * tolerance * rr;
    let mut done = 0;
    while done < iterations && rr > stop && rr > 0.0 {
        let q = apply(&p)?;
        let pq = dot(&p, &q);
        if pq <= 0.0 {
            break;
        }
        let alpha = T::of(rr / pq);
        for k in 0..x.len() {
            x[k] += alpha * p[k];
            r[k] -= alpha * q[k];
        }
        let rr_new = dot(&r, &r);
        let beta = T::of(rr_new / rr);
        for k in 0..p.len() {
            p[k] = r[k] + beta * p[k];
        }
        rr = rr_new;
        done += 1;
    }
    Ok((x, done))
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
