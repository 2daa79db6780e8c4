//! Antialiased bilinear resizing, as PyTorch's `interpolate(mode='bilinear',
//! antialias=True, align_corners=False)` and Pillow's `BILINEAR` do it: when shrinking, the
//! triangle filter widens by the scale factor, so every input pixel contributes.

/// Taps of one axis of a separable resampling: for each output sample, the input indices and
/// their weights.
type AxisTaps = Vec<Vec<(usize, f32)>>;

/// One axis of an antialiased resize: the triangle filter widened by the shrink factor,
/// restricted to the image and renormalised.
pub(crate) fn antialiased_axis(n_in: usize, n_out: usize) -> AxisTaps {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    (0..n_out)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = (((centre + support).ceil()) as usize).min(n_in);
            let w: Vec<(usize, f64)> = (lo..hi)
                .map(|j| {
                    (
                        j,
                        (1.0 - ((j as f64 + 0.5 - centre) / support).abs()).max(0.0),
                    )
                })
                .collect();
            normalised(w)
        })
        .collect()
}

fn normalised(taps: Vec<(usize, f64)>) -> Vec<(usize, f32)> {
    let sum: f64 = taps.iter().map(|t| t.1).sum();
    let scale = if sum != 0.0 { 1.0 / sum } else { 0.0 };
    taps.into_iter()
        .map(|(j, w)| (j, (w * scale) as f32))
        .collect()
}

/// Applies per-axis taps to a channel-first image `(C, H, W)`: rows, then columns.
fn separable(
    image: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    ax: &AxisTaps,
    ay: &AxisTaps,
) -> Vec<f32> {
    let (out_h, out_w) = (ay.len(), ax.len());
    let mut rows = vec![0f32; channels * height * out_w];
    for c in 0..channels {
        for y in 0..height {
            let src = &image[(c * height + y) * width..][..width];
            let dst = &mut rows[(c * height + y) * out_w..][..out_w];
            for (d, taps) in dst.iter_mut().zip(ax) {
                *d = taps.iter().map(|&(j, w)| w * src[j]).sum();
            }
        }
    }
    let mut out = vec![0f32; channels * out_h * out_w];
    for c in 0..channels {
        for (y, taps) in ay.iter().enumerate() {
            let dst = &mut out[(c * out_h + y) * out_w..][..out_w];
            for &(j, w) in taps {
                let src = &rows[(c * height + j) * out_w..][..out_w];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += w * s;
                }
            }
        }
    }
    out
}

/// Resizes a channel-first image `(C, H, W)` (as a flat slice) to `(C, out_h, out_w)`.
///
/// ```
/// let flat = vec![0.5f32; 3 * 8 * 6];
/// let out = funknn_core::picture::resize_bilinear_aa(&flat, 3, 8, 6, 3, 4);
/// assert_eq!(out.len(), 3 * 3 * 4);
/// assert!(out.iter().all(|v| (v - 0.5).abs() < 1e-6));
/// ```
pub fn resize_bilinear_aa(
    image: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f32> {
    let ax = antialiased_axis(width, out_w);
    let ay = antialiased_axis(height, out_h);
    separable(image, channels, height, width, &ax, &ay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_pixel_pairs_in_the_interior() {
        // A ramp along x: halving maps pixel centres 2i+0.5, 2i+1.5 to i+0.5, whose value is
        // their mean for a linear signal, away from the edges.
        let w = 16;
        let ramp: Vec<f32> = (0..w).map(|j| j as f32).collect();
        let out = resize_bilinear_aa(&ramp, 1, 1, w, 1, w / 2);
        for (i, v) in out.iter().enumerate().skip(1).take(w / 2 - 2) {
            assert!((v - (2 * i) as f32 - 0.5).abs() < 1e-5, "{i}: {v}");
        }
    }

    #[test]
    fn upsampling_is_plain_bilinear() {
        let out = resize_bilinear_aa(&[0.0, 1.0], 1, 1, 2, 1, 4);
        // Output centres at 0.25, 0.75, 1.25, 1.75 in input pixels: clamped at the edges.
        let want = [0.0, 0.25, 0.75, 1.0];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }
}

/// Classical interpolators, the baselines of super-resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolator {
    /// Linear in each axis.
    Bilinear,
    /// Cubic convolution with a = −0.75, as PyTorch's `interpolate(mode='bicubic')`.
    Bicubic,
    /// Lanczos windowed sinc with 3 lobes, as Pillow's `LANCZOS`.
    Lanczos3,
}

impl Interpolator {
    pub const ALL: [Interpolator; 3] = [
        Interpolator::Bilinear,
        Interpolator::Bicubic,
        Interpolator::Lanczos3,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Interpolator::Bilinear => "bilinear",
            Interpolator::Bicubic => "bicubic",
            Interpolator::Lanczos3 => "lanczos3",
        }
    }

    fn radius(&self) -> f64 {
        match self {
            Interpolator::Bilinear => 1.0,
            Interpolator::Bicubic => 2.0,
            Interpolator::Lanczos3 => 3.0,
        }
    }

    fn weight(&self, t: f64) -> f64 {
        let a = t.abs();
        match self {
            Interpolator::Bilinear => (1.0 - a).max(0.0),
            Interpolator::Bicubic => {
                const A: f64 = -0.75;
                if a < 1.0 {
                    ((A + 2.0) * a - (A + 3.0)) * a * a + 1.0
                } else if a < 2.0 {
                    ((A * a - 5.0 * A) * a + 8.0 * A) * a - 4.0 * A
                } else {
                    0.0
                }
            }
            Interpolator::Lanczos3 => {
                if a < 1e-12 {
                    1.0
                } else if a < 3.0 {
                    let pa = std::f64::consts::PI * a;
                    3.0 * pa.sin() * (pa / 3.0).sin() / (pa * pa)
                } else {
                    0.0
                }
            }
        }
    }

    /// Taps for an `n_in → n_out` enlargement: pixel-centre aligned, edge pixels repeated.
    fn axis(&self, n_in: usize, n_out: usize) -> AxisTaps {
        let scale = n_in as f64 / n_out as f64;
        let r = self.radius();
        (0..n_out)
            .map(|i| {
                let x = (i as f64 + 0.5) * scale - 0.5;
                let first = (x - r).floor() as i64 + 1;
                normalised(
                    (first..first + 2 * r as i64)
                        .map(|j| {
                            (
                                j.clamp(0, n_in as i64 - 1) as usize,
                                self.weight(x - j as f64),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// Enlarges a channel-first image `(C, H, W)` to `(C, out_h, out_w)`.
    pub fn upsample(
        &self,
        image: &[f32],
        channels: usize,
        height: usize,
        width: usize,
        out_h: usize,
        out_w: usize,
    ) -> Vec<f32> {
        let ax = self.axis(width, out_w);
        let ay = self.axis(height, out_h);
        separable(image, channels, height, width, &ax, &ay)
    }
}

#[cfg(test)]
mod interpolator_tests {
    use super::*;

    #[test]
    fn interpolators_keep_constants_and_ramps() {
        let ramp: Vec<f32> = (0..12).map(|j| j as f32).collect();
        for interp in Interpolator::ALL {
            let out = interp.upsample(&[0.25; 12], 1, 1, 12, 1, 30);
            assert!(out.iter().all(|v| (v - 0.25).abs() < 1e-6), "{interp:?}");
            // ×2: output centre i sits at input position (i + 0.5)/2 − 0.5.
            let out = interp.upsample(&ramp, 1, 1, 12, 1, 24);
            for (i, v) in out.iter().enumerate().skip(8).take(8) {
                let want = (i as f32 + 0.5) / 2.0 - 0.5;
                // Only bilinear reproduces ramps exactly: cubic a = −3/4 misses by up to 0.047
                // of a step, Lanczos-3 by up to 0.02.
                let tol = match interp {
                    Interpolator::Bilinear => 1e-5,
                    Interpolator::Bicubic => 0.05,
                    Interpolator::Lanczos3 => 0.025,
                };
                assert!((v - want).abs() < tol, "{interp:?} {i}: {v} vs {want}");
            }
        }
    }
}
