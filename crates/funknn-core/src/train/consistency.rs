//! The scale-consistency term of training: FunkNN renders a window of a full-resolution
//! crop at `factor` times its resolution, the rendering is antialiased back down (the
//! downsampling of `funknn eval` and of factor mode's pairs), and the L1 distance to the
//! crop's own pixels is the loss.
//!
//! Factor mode fits 2× targets from inputs smaller than the crop; nothing in it asks that a
//! 4× rendering of a full-resolution image, brought back down, gives that image again,
//! which is what the generator's scale consistency measures. The term needs no
//! high-resolution truth: its reference is the input itself. Its gradient is the
//! graph-free backward pass with dL/du given: the downsampling is linear, so dL/du is its
//! transpose applied to the sign of the residual.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::engine::Evaluator;
use crate::jet::JetOrder;
use crate::model::{EvalOptions, FunkNN};
use crate::picture::resize::antialiased_axis;
use crate::{Error, Result};

/// Settings of the scale-consistency term (off unless `weight > 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaleConsistency {
    /// Weight of the term beside the L1 loss (0: off).
    pub weight: f64,
    /// The rendering's scale: `factor × factor` points per pixel.
    pub factor: usize,
    /// Side of the window of pixels compared, per crop.
    pub window: usize,
    /// Full-resolution crops per step.
    pub images: usize,
}

impl Default for ScaleConsistency {
    fn default() -> Self {
        ScaleConsistency {
            weight: 0.0,
            factor: 4,
            window: 8,
            images: 2,
        }
    }
}

impl ScaleConsistency {
    pub fn is_active(&self) -> bool {
        self.weight > 0.0
    }

    /// Checks the settings against the crop side.
    pub fn validate(&self, crop: usize) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("scale consistency", m));
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return bad(format!(
                "the weight must be finite and non-negative, got {}",
                self.weight
            ));
        }
        if !self.is_active() {
            return Ok(());
        }
        if !(2..=8).contains(&self.factor) {
            return bad(format!(
                "the factor must be between 2 and 8, got {}",
                self.factor
            ));
        }
        if self.window == 0 || self.window > crop {
            return bad(format!(
                "the window must be between 1 and the crop ({crop}), got {}",
                self.window
            ));
        }
        if self.images == 0 {
            return bad("at least one crop per step is needed".into());
        }
        Ok(())
    }
}

/// One axis of a window: the first rendered index, how many, and the downsampling's
/// weights `(window, count)` row-major, for pixels `start .. start + window` of a side of
/// `side` pixels rendered at `factor × side`.
fn axis_window(
    side: usize,
    factor: usize,
    start: usize,
    window: usize,
) -> (usize, usize, Vec<f32>) {
    let taps = antialiased_axis(factor * side, side);
    let rows = &taps[start..start + window];
    let first = rows.iter().flat_map(|t| t.first()).map(|t| t.0).min();
    let last = rows.iter().flat_map(|t| t.last()).map(|t| t.0).max();
    let (first, last) = (first.unwrap_or(0), last.unwrap_or(0));
    let count = last + 1 - first;
    let mut d = vec![0f32; window * count];
    for (i, row) in rows.iter().enumerate() {
        for &(j, w) in row {
            d[i * count + j - first] = w;
        }
    }
    (first, count, d)
}

/// The term linearised at the current model for one crop `(1, C, H, W)` and the window at
/// (`top`, `left`): the sum of absolute residuals over the window's pixels, the rendered
/// points `(1, P, 2)`, and dL/du there `(1, P, C)` for `L = scale · Σ |residual|`.
pub(crate) fn linearised(
    model: &FunkNN,
    crop: &Tensor,
    (top, left): (usize, usize),
    factor: usize,
    window: usize,
    scale: f32,
) -> Result<(f64, Tensor, Tensor)> {
    let (_, c, h, w) = crop.dims4()?;
    let (y0, ny, dy) = axis_window(h, factor, top, window);
    let (x0, nx, dx) = axis_window(w, factor, left, window);
    let (fh, fw) = ((factor * h) as f32, (factor * w) as f32);
    let mut coords = Vec::with_capacity(2 * ny * nx);
    for j in 0..ny {
        for l in 0..nx {
            coords.push((x0 + l) as f32 / fw + 0.5 / fw);
            coords.push((y0 + j) as f32 / fh + 0.5 / fh);
        }
    }
    let points = Tensor::from_vec(coords, (1, ny * nx, 2), &Device::Cpu)?;
    let ev = Evaluator::new(model, crop, JetOrder::Value, EvalOptions::default())?;
    // (P, C), point p = j·nx + l.
    let r: Vec<f32> = ev.evaluate(&points)?.value()?.flatten_all()?.to_vec1()?;
    let pixels: Vec<f32> = crop.flatten_all()?.to_vec1()?;
    // Along x first: t[j][k][ch] = Σ_l dx[k][l] r[j][l][ch].
    let mut t = vec![0f32; ny * window * c];
    for j in 0..ny {
        for k in 0..window {
            for l in 0..nx {
                let wt = dx[k * nx + l];
                if wt != 0.0 {
                    for ch in 0..c {
                        t[(j * window + k) * c + ch] += wt * r[(j * nx + l) * c + ch];
                    }
                }
            }
        }
    }
    // Then along y, the residual against the crop, and its sign.
    let mut abs = 0f64;
    let mut s = vec![0f32; window * window * c];
    for i in 0..window {
        for k in 0..window {
            for ch in 0..c {
                let down: f32 = (0..ny)
                    .map(|j| dy[i * ny + j] * t[(j * window + k) * c + ch])
                    .sum();
                let e = down - pixels[(ch * h + top + i) * w + left + k];
                abs += e.abs() as f64;
                s[(i * window + k) * c + ch] = scale * e.signum() * (e != 0.0) as u8 as f32;
            }
        }
    }
    // The transpose: up[j][l][ch] = Σ_k dx[k][l] Σ_i dy[i][j] s[i][k][ch].
    let mut t2 = vec![0f32; ny * window * c];
    for j in 0..ny {
        for i in 0..window {
            let wt = dy[i * ny + j];
            if wt != 0.0 {
                for k in 0..window {
                    for ch in 0..c {
                        t2[(j * window + k) * c + ch] += wt * s[(i * window + k) * c + ch];
                    }
                }
            }
        }
    }
    let mut up = vec![0f32; ny * nx * c];
    for j in 0..ny {
        for k in 0..window {
            for l in 0..nx {
                let wt = dx[k * nx + l];
                if wt != 0.0 {
                    for ch in 0..c {
                        up[(j * nx + l) * c + ch] += wt * t2[(j * window + k) * c + ch];
                    }
                }
            }
        }
    }
    let upstream = Tensor::from_vec(up, (1, ny * nx, c), &Device::Cpu)?;
    Ok((abs, points, upstream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::resize_bilinear_aa;

    /// The residual is that of the whole image rendered at `factor ×` and resized by
    /// `resize_bilinear_aa`, on the window; dL/du is its transpose (a dot-product test).
    #[test]
    fn the_linearised_term_is_the_resize_and_its_transpose() {
        use crate::config::KernelKind;
        use crate::Rng;
        use candle_core::DType;
        let dev = Device::Cpu;
        let mut rng = Rng::new(3);
        let (c, h, w, f) = (2, 9, 11, 3);
        let pixels: Vec<f32> = (0..c * h * w).map(|_| rng.uniform() as f32).collect();
        let crop = Tensor::from_vec(pixels.clone(), (1, c, h, w), &dev).unwrap();
        let model = FunkNN::interpolant(KernelKind::CubicConv, c, DType::F32, &dev).unwrap();
        let ((top, left), window, scale) = ((0, 4), 5, 0.3f32);
        let (abs, points, up) = linearised(&model, &crop, (top, left), f, window, scale).unwrap();
        // The whole rendering, channel-major, and its downsample.
        let (fh, fw) = (f * h, f * w);
        let all: Vec<f32> = (0..fh * fw)
            .flat_map(|p| {
                let (y, x) = (p / fw, p % fw);
                [(x as f32 + 0.5) / fw as f32, (y as f32 + 0.5) / fh as f32]
            })
            .collect();
        let all = Tensor::from_vec(all, (1, fh * fw, 2), &dev).unwrap();
        let ev = Evaluator::new(&model, &crop, JetOrder::Value, EvalOptions::default()).unwrap();
        let big = ev.evaluate(&all).unwrap().value().unwrap();
        let big: Vec<f32> = big
            .squeeze(0)
            .unwrap()
            .t()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let down = resize_bilinear_aa(&big, c, fh, fw, h, w);
        let mut want = 0f64;
        let mut sign = vec![0f32; c * h * w];
        for ch in 0..c {
            for i in top..top + window {
                for k in left..left + window {
                    let e = down[(ch * h + i) * w + k] - pixels[(ch * h + i) * w + k];
                    want += e.abs() as f64;
                    sign[(ch * h + i) * w + k] = e.signum();
                }
            }
        }
        assert!((abs - want).abs() <= 1e-5 * want, "{abs} vs {want}");
        // ⟨dL/du, δ⟩ = scale · Σ sign · D δ for a random δ at the rendered points.
        let pts: Vec<f32> = points.flatten_all().unwrap().to_vec1().unwrap();
        let up: Vec<f32> = up.flatten_all().unwrap().to_vec1().unwrap();
        let mut delta_big = vec![0f32; c * fh * fw];
        let mut lhs = 0f64;
        for (p, xy) in pts.chunks_exact(2).enumerate() {
            let (x, y) = ((xy[0] * fw as f32) as usize, (xy[1] * fh as f32) as usize);
            for ch in 0..c {
                let d = rng.uniform() as f32 - 0.5;
                delta_big[(ch * fh + y) * fw + x] = d;
                lhs += (up[p * c + ch] * d) as f64;
            }
        }
        let d_down = resize_bilinear_aa(&delta_big, c, fh, fw, h, w);
        let rhs: f64 = d_down
            .iter()
            .zip(&sign)
            .map(|(d, s)| (scale * s * d) as f64)
            .sum();
        assert!(
            (lhs - rhs).abs() <= 1e-5 * rhs.abs().max(1e-3),
            "{lhs} vs {rhs}"
        );
    }

    #[test]
    fn the_window_weights_are_rows_of_the_full_downsampling() {
        // Every window, at the border and inside, reproduces resize_bilinear_aa.
        let (side, factor) = (6, 4);
        let big: Vec<f32> = (0..factor * side)
            .map(|j| ((j * 7) % 11) as f32 - 3.0)
            .collect();
        let full = resize_bilinear_aa(&big, 1, 1, factor * side, 1, side);
        for (start, window) in [(0, 2), (1, 3), (3, 3), (0, 6)] {
            let (first, count, d) = axis_window(side, factor, start, window);
            for i in 0..window {
                let v: f32 = (0..count).map(|j| d[i * count + j] * big[first + j]).sum();
                assert!((v - full[start + i]).abs() < 1e-5, "{start} {window} {i}");
            }
        }
    }
}
