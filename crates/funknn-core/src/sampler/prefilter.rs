//! The interpolating prefilter of the cubic B-spline.
//!
//! Sampling the cubic B-spline β³ on the image itself blurs it; interpolation needs
//! coefficients `c` with `Σ c[j] β³(i − j) = f[i]`. Under the half-sample mirror extension
//! (the sampler's boundary rule) the extended signal is 2n-periodic and the exact solution is
//! the inverse filter `h[k] = √3 · α^|k|`, α = √3 − 2, applied to that extension. The causal /
//! anti-causal recursion of Unser et al. computes the same sum; we apply `h` directly,
//! truncated at |k| ≤ 24 where α^24 < 2e−14, because it is a handful of differentiable
//! candle ops that work on any device.

use candle_core::Tensor;

use crate::sampler::reflect::reflect_index;
use crate::Result;

/// Half-width of the truncated inverse filter.
const HALF_WIDTH: usize = 24;

fn taps() -> Vec<f64> {
    let alpha = 3f64.sqrt() - 2.0;
    (0..=HALF_WIDTH)
        .map(|k| 3f64.sqrt() * alpha.powi(k as i32))
        .collect()
}

/// Filters along dimension `dim` (size n) with the mirror boundary.
fn filter_axis(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    let k = HALF_WIDTH as i64;
    let index: Vec<u32> = (-k..n as i64 + k)
        .map(|v| reflect_index(v, n) as u32)
        .collect();
    let index = Tensor::new(index.as_slice(), x.device())?;
    let padded = x.index_select(&index, dim)?;
    let h = taps();
    let mut acc = (padded.narrow(dim, HALF_WIDTH, n)? * h[0])?;
    for (j, &hj) in h.iter().enumerate().skip(1) {
        let left = padded.narrow(dim, HALF_WIDTH - j, n)?;
        let right = padded.narrow(dim, HALF_WIDTH + j, n)?;
        acc = (acc + ((left + right)? * hj)?)?;
    }
    Ok(acc)
}

/// Cubic B-spline coefficients of images `(N, C, H, W)`, so that sampling them with β³
/// reproduces the images at pixel centres.
pub fn bspline_coefficients(images: &Tensor) -> Result<Tensor> {
    let rank = images.rank();
    let rows = filter_axis(images, rank - 2)?;
    filter_axis(&rows, rank - 1)
}
