//! Antialiased bilinear resizing, as PyTorch's `interpolate(mode='bilinear',
//! antialias=True, align_corners=False)` and Pillow's `BILINEAR` do it: when shrinking, the
//! triangle filter widens by the scale factor, so every input pixel contributes.

/// One axis of a separable resize: for output sample i, the first input index and the
/// normalised weights.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    (0..n_out)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = (((centre + support).ceil()) as usize).min(n_in);
            let mut w: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5 - centre) / support).abs()).max(0.0))
                .collect();
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|x| *x /= sum);
            }
            (lo, w.into_iter().map(|x| x as f32).collect())
        })
        .collect()
}

/// Resizes a channel-first image `(C, H, W)` (as a flat slice) to `(C, out_h, out_w)`.
///
/// ```
/// let flat = vec![0.5f32; 3 * 8 * 6];
/// let out = funknn_core::resize::resize_bilinear_aa(&flat, 3, 8, 6, 3, 4);
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
    let wx = axis_weights(width, out_w);
    let wy = axis_weights(height, out_h);
    // Rows first: (C, H, out_w).
    let mut rows = vec![0f32; channels * height * out_w];
    for c in 0..channels {
        for y in 0..height {
            let src = &image[(c * height + y) * width..][..width];
            let dst = &mut rows[(c * height + y) * out_w..][..out_w];
            for (d, (lo, w)) in dst.iter_mut().zip(&wx) {
                *d = w.iter().zip(&src[*lo..]).map(|(a, b)| a * b).sum();
            }
        }
    }
    let mut out = vec![0f32; channels * out_h * out_w];
    for c in 0..channels {
        for (i, (lo, w)) in wy.iter().enumerate() {
            let dst = &mut out[(c * out_h + i) * out_w..][..out_w];
            for (k, &wk) in w.iter().enumerate() {
                let src = &rows[(c * height + lo + k) * out_w..][..out_w];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += wk * s;
                }
            }
        }
    }
    out
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
