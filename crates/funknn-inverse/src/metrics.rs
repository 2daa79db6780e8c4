//! Image quality against a known truth: PSNR, SNR and SSIM.

use crate::error::check_len;
use crate::geometry::ImageGrid;
use crate::{Error, Result, Scalar};

fn check<T: Scalar>(x: &[T], truth: &[T]) -> Result<()> {
    check_len("image", x.len(), truth.len())?;
    if x.is_empty() {
        return Err(Error::invalid("image", "no pixels"));
    }
    crate::scalar::check_finite("image", x)?;
    crate::scalar::check_finite("truth", truth)
}

fn range_of<T: Scalar>(truth: &[T], data_range: Option<f64>) -> f64 {
    data_range.unwrap_or_else(|| {
        let (lo, hi) = truth
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v.to_f64()), h.max(v.to_f64()))
            });
        if hi > lo {
            hi - lo
        } else {
            1.0
        }
    })
}

/// `10·log10(R² / MSE)` in dB, `R` the data range (default: the truth's max − min).
pub fn psnr<T: Scalar>(x: &[T], truth: &[T], data_range: Option<f64>) -> Result<f64> {
    check(x, truth)?;
    let r = range_of(truth, data_range);
    let mse = x
        .iter()
        .zip(truth)
        .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    Ok(10.0 * (r * r / mse).log10())
}

/// `20·log10(‖truth‖ / ‖x − truth‖)` in dB.
pub fn snr<T: Scalar>(x: &[T], truth: &[T]) -> Result<f64> {
    check(x, truth)?;
    let e: f64 = x
        .iter()
        .zip(truth)
        .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
        .sum();
    let t: f64 = truth.iter().map(|b| b.to_f64().powi(2)).sum();
    Ok(10.0 * (t / e).log10())
}

/// The 11-tap Gaussian (σ = 1.5) of SSIM, normalised.
fn gaussian() -> [f64; 11] {
    let mut g = [0.0; 11];
    for (k, v) in g.iter_mut().enumerate() {
        let d = k as f64 - 5.0;
        *v = (-d * d / (2.0 * 1.5 * 1.5)).exp();
    }
    let s: f64 = g.iter().sum();
    g.iter_mut().for_each(|v| *v /= s);
    g
}

/// Separable 'valid' filtering of an H×W image: `(H−10)×(W−10)`.
fn blur(x: &[f64], h: usize, w: usize, g: &[f64; 11]) -> Vec<f64> {
    let (oh, ow) = (h - 10, w - 10);
    let mut tmp = vec![0.0; h * ow];
    for i in 0..h {
        for j in 0..ow {
            tmp[i * ow + j] = (0..11).map(|k| g[k] * x[i * w + j + k]).sum();
        }
    }
    let mut out = vec![0.0; oh * ow];
    for i in 0..oh {
        for j in 0..ow {
            out[i * ow + j] = (0..11).map(|k| g[k] * tmp[(i + k) * ow + j]).sum();
        }
    }
    out
}

/// The mean structural similarity (Wang et al. 2004): 11×11 Gaussian window (σ = 1.5) over
/// the pixels where it fits, `K₁ = 0.01`, `K₂ = 0.03`, `L` the data range (default: the
/// truth's max − min). Images must be at least 11×11.
pub fn ssim<T: Scalar>(
    x: &[T],
    truth: &[T],
    grid: &ImageGrid,
    data_range: Option<f64>,
) -> Result<f64> {
    check(x, truth)?;
    check_len("image", x.len(), grid.len())?;
    let (h, w) = (grid.height, grid.width);
    if h < 11 || w < 11 {
        return Err(Error::invalid(
            "SSIM",
            format!("needs images of at least 11×11, got {h}×{w}"),
        ));
    }
    let l = range_of(truth, data_range);
    let (c1, c2) = ((0.01 * l).powi(2), (0.03 * l).powi(2));
    let a: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
    let b: Vec<f64> = truth.iter().map(|v| v.to_f64()).collect();
    let g = gaussian();
    let prod = |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(u, v)| u * v).collect() };
    let (ma, mb) = (blur(&a, h, w, &g), blur(&b, h, w, &g));
    let (saa, sbb, sab) = (
        blur(&prod(&a, &a), h, w, &g),
        blur(&prod(&b, &b), h, w, &g),
        blur(&prod(&a, &b), h, w, &g),
    );
    let n = ma.len();
    let total: f64 = (0..n)
        .map(|k| {
            let (mx, my) = (ma[k], mb[k]);
            let vx = saa[k] - mx * mx;
            let vy = sbb[k] - my * my;
            let cxy = sab[k] - mx * my;
            ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        })
        .sum();
    Ok(total / n as f64)
}
