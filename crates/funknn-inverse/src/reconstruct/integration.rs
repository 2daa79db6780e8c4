//! Least-squares integration of a dense gradient field: the classical baseline for an image
//! observed through `∇u` at every pixel centre.
//!
//! The image `u` on the pixel grid minimises `‖Dx u − ḡx‖² + ‖Dy u − ḡy‖²`, where `Dx`, `Dy`
//! are the forward differences between neighbouring pixel centres and `ḡ` the observed
//! gradient averaged onto the same midpoints (exact for quadratics). Its normal equations are
//! the 5-point Poisson equation with Neumann boundaries, `(DxᵀDx + DyᵀDy) u = Dxᵀḡx + Dyᵀḡy`,
//! which the 2-D DCT-II diagonalises: one forward transform, a division by the eigenvalues,
//! one inverse (each by FFTs of twice the length, `rustfft`). Gradients do not see the
//! constant: the mean of the result is 0 (shift it as the other baselines are shifted).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::geometry::ImageGrid;
use crate::observation::GradientObservations;
use crate::{Error, Result};

/// The DCT-II of lines of length `n` and its inverse, by FFTs of length `2n`.
struct Dct {
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    /// `e^{-iπk/(2n)}`, k < n.
    twiddle: Vec<Complex<f64>>,
}

impl Dct {
    fn new(n: usize, planner: &mut FftPlanner<f64>) -> Self {
        let twiddle = (0..n)
            .map(|k| Complex::from_polar(1.0, -std::f64::consts::PI * k as f64 / (2 * n) as f64))
            .collect();
        Dct {
            n,
            forward: planner.plan_fft_forward(2 * n),
            inverse: planner.plan_fft_inverse(2 * n),
            twiddle,
        }
    }

    /// `X_k = Σ_m x_m cos(πk(2m+1)/(2n))`, in place: the FFT of the even extension
    /// `[x, reversed x]` is `2 e^{iπk/(2n)} X_k`.
    fn dct2(&self, x: &mut [f64], buf: &mut Vec<Complex<f64>>) {
        let n = self.n;
        buf.clear();
        buf.extend(x.iter().map(|&v| Complex::new(v, 0.0)));
        buf.extend(x.iter().rev().map(|&v| Complex::new(v, 0.0)));
        self.forward.process(buf);
        for k in 0..n {
            x[k] = 0.5 * (buf[k] * self.twiddle[k]).re;
        }
    }

    /// The inverse of [`Self::dct2`]: `x_m = (X_0 + 2 Σ_{k≥1} X_k cos(πk(2m+1)/(2n)))/n`,
    /// the real part of an unnormalised inverse FFT of `c_k X_k e^{iπk/(2n)}` padded to `2n`.
    fn idct2(&self, x: &mut [f64], buf: &mut Vec<Complex<f64>>) {
        let n = self.n;
        buf.clear();
        buf.extend(x.iter().enumerate().map(|(k, &v)| {
            let c = if k == 0 { 1.0 } else { 2.0 } / n as f64;
            self.twiddle[k].conj() * (c * v)
        }));
        buf.resize(2 * n, Complex::new(0.0, 0.0));
        self.inverse.process(buf);
        for m in 0..n {
            x[m] = buf[m].re;
        }
    }
}

/// Applies `f` to every row, then to every column, of the `h × w` row-major `image`.
fn separable(
    image: &mut [f64],
    (h, w): (usize, usize),
    (rows, cols): (&Dct, &Dct),
    f: fn(&Dct, &mut [f64], &mut Vec<Complex<f64>>),
) {
    let mut buf = Vec::new();
    for row in image.chunks_exact_mut(w) {
        f(rows, row, &mut buf);
    }
    let mut column = vec![0.0; h];
    for j in 0..w {
        for (i, v) in column.iter_mut().enumerate() {
            *v = image[i * w + j];
        }
        f(cols, &mut column, &mut buf);
        for (i, v) in column.iter().enumerate() {
            image[i * w + j] = *v;
        }
    }
}

/// Which pixel of `grid` each observation point is the centre of, or an error naming the
/// first point that is not one, or a pixel observed twice or not at all.
fn pixel_of_each_point(grid: &ImageGrid, points: &[[f32; 2]]) -> Result<Vec<usize>> {
    let (h, w) = (grid.height, grid.width);
    let dense = "least-squares integration needs the gradient at every pixel centre of the \
                 working grid, once (dense observations; for scattered points use tikhonov or tv)";
    if points.len() != h * w {
        return Err(Error::invalid(
            "gradient observations",
            format!("{} points for a {h}×{w} grid: {dense}", points.len()),
        ));
    }
    let mut seen = vec![false; h * w];
    let mut index = Vec::with_capacity(points.len());
    for (k, &[x, y]) in points.iter().enumerate() {
        let (fj, fi) = grid.pixel_coords([x, y]);
        let (j, i) = (fj.round(), fi.round());
        // f32 points: a pixel centre is within a few ulps of its exact value.
        let on_centre = (fj - j).abs() < 1e-3 && (fi - i).abs() < 1e-3;
        if !on_centre || i < 0.0 || j < 0.0 || i >= h as f64 || j >= w as f64 {
            return Err(Error::invalid(
                "gradient observations",
                format!("point {k} ({x}, {y}) is not a pixel centre: {dense}"),
            ));
        }
        let p = i as usize * w + j as usize;
        if std::mem::replace(&mut seen[p], true) {
            return Err(Error::invalid(
                "gradient observations",
                format!("pixel ({i}, {j}) is observed twice (point {k}): {dense}"),
            ));
        }
        index.push(p);
    }
    Ok(index)
}

/// The least-squares integral `(C, H, W)` of dense gradient observations on `grid`, each
/// channel with mean 0.
///
/// ```
/// use funknn_inverse::{integrate_gradient, GradientObservations, ImageGrid};
///
/// // u = x² + y on a 6×5 grid: its gradient (2x, 1) at every pixel centre.
/// let grid = ImageGrid::new(5, 6)?;
/// let points: Vec<[f32; 2]> =
///     grid.centres().iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
/// let gradient: Vec<f32> = points.iter().flat_map(|p| [2.0 * p[0], 1.0]).collect();
/// let obs = GradientObservations::new(points.clone(), 1, gradient)?;
/// let u = integrate_gradient(&grid, &obs)?;
/// let truth: Vec<f64> = points.iter().map(|p| (p[0] * p[0] + p[1]) as f64).collect();
/// let mean = truth.iter().sum::<f64>() / truth.len() as f64;
/// for (a, b) in u.iter().zip(&truth) {
///     assert!((a - (b - mean)).abs() < 1e-6);
/// }
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub fn integrate_gradient(grid: &ImageGrid, obs: &GradientObservations) -> Result<Vec<f64>> {
    let (h, w) = (grid.height, grid.width);
    let index = pixel_of_each_point(grid, &obs.points)?;
    let c = obs.channels;
    let (hx, hy) = (1.0 / w as f64, 1.0 / h as f64);
    let mut planner = FftPlanner::new();
    let (rows, cols) = (Dct::new(w, &mut planner), Dct::new(h, &mut planner));
    // Eigenvalues of the Neumann second difference along each axis.
    let eigen = |n: usize, step: f64| -> Vec<f64> {
        (0..n)
            .map(|k| {
                (2.0 - 2.0 * (std::f64::consts::PI * k as f64 / n as f64).cos()) / (step * step)
            })
            .collect()
    };
    let (ex, ey) = (eigen(w, hx), eigen(h, hy));
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        let (mut gx, mut gy) = (vec![0.0; h * w], vec![0.0; h * w]);
        for (k, &p) in index.iter().enumerate() {
            gx[p] = obs.gradient[(k * c + ch) * 2] as f64;
            gy[p] = obs.gradient[(k * c + ch) * 2 + 1] as f64;
        }
        // r = Dxᵀ ḡx + Dyᵀ ḡy, ḡ the gradient averaged onto the midpoints between centres.
        let mut r = vec![0.0; h * w];
        for i in 0..h {
            for j in 0..w.saturating_sub(1) {
                let v = 0.5 * (gx[i * w + j] + gx[i * w + j + 1]) / hx;
                r[i * w + j] -= v;
                r[i * w + j + 1] += v;
            }
        }
        for i in 0..h.saturating_sub(1) {
            for j in 0..w {
                let v = 0.5 * (gy[i * w + j] + gy[(i + 1) * w + j]) / hy;
                r[i * w + j] -= v;
                r[(i + 1) * w + j] += v;
            }
        }
        separable(&mut r, (h, w), (&rows, &cols), Dct::dct2);
        for i in 0..h {
            for j in 0..w {
                let lambda = ey[i] + ex[j];
                // The constant (λ = 0) is what gradients cannot see: mean 0.
                r[i * w + j] = if i == 0 && j == 0 {
                    0.0
                } else {
                    r[i * w + j] / lambda
                };
            }
        }
        separable(&mut r, (h, w), (&rows, &cols), Dct::idct2);
        out.extend(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centres(grid: &ImageGrid) -> Vec<[f32; 2]> {
        grid.centres()
            .iter()
            .map(|p| [p[0] as f32, p[1] as f32])
            .collect()
    }

    /// The FFT transform equals the cosine sum, and the inverse undoes it.
    #[test]
    fn dct_matches_its_definition_and_inverts() {
        let mut planner = FftPlanner::new();
        for n in [1, 2, 7, 16] {
            let dct = Dct::new(n, &mut planner);
            let x: Vec<f64> = (0..n).map(|m| ((m * 37 + 11) % 17) as f64 - 8.0).collect();
            let mut y = x.clone();
            let mut buf = Vec::new();
            dct.dct2(&mut y, &mut buf);
            for (k, &yk) in y.iter().enumerate() {
                let want: f64 = (0..n)
                    .map(|m| {
                        x[m] * (std::f64::consts::PI * (k * (2 * m + 1)) as f64 / (2 * n) as f64)
                            .cos()
                    })
                    .sum();
                assert!((yk - want).abs() < 1e-9, "n={n} k={k}: {yk} vs {want}");
            }
            dct.idct2(&mut y, &mut buf);
            for (a, b) in y.iter().zip(&x) {
                assert!((a - b).abs() < 1e-9, "n={n}");
            }
        }
    }

    /// A quadratic's gradient averaged onto the midpoints is its forward difference exactly,
    /// so the integral recovers it up to the constant; two channels, a non-square grid.
    #[test]
    fn recovers_a_planted_quadratic() {
        let grid = ImageGrid::new(9, 14).unwrap();
        let points = centres(&grid);
        let u = |x: f64, y: f64, ch: usize| {
            let s = 1.0 + ch as f64;
            s * (0.7 * x * x - 1.3 * x * y + 0.4 * y * y) + 2.0 * x - s * y
        };
        let grad = |x: f64, y: f64, ch: usize| {
            let s = 1.0 + ch as f64;
            [s * (1.4 * x - 1.3 * y) + 2.0, s * (-1.3 * x + 0.8 * y) - s]
        };
        let gradient: Vec<f32> = points
            .iter()
            .flat_map(|p| (0..2).flat_map(move |ch| grad(p[0] as f64, p[1] as f64, ch)))
            .map(|v| v as f32)
            .collect();
        // A shuffled order: the points are matched to their pixels.
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.reverse();
        order.swap(3, 40);
        let pts: Vec<[f32; 2]> = order.iter().map(|&k| points[k]).collect();
        let g: Vec<f32> = order
            .iter()
            .flat_map(|&k| gradient[k * 4..k * 4 + 4].to_vec())
            .collect();
        let obs = GradientObservations::new(pts, 2, g).unwrap();
        let rec = integrate_gradient(&grid, &obs).unwrap();
        for ch in 0..2 {
            let truth: Vec<f64> = points
                .iter()
                .map(|p| u(p[0] as f64, p[1] as f64, ch))
                .collect();
            let mean = truth.iter().sum::<f64>() / truth.len() as f64;
            let got = &rec[ch * grid.len()..(ch + 1) * grid.len()];
            for (a, b) in got.iter().zip(&truth) {
                // f32 observations: 1e-7 relative.
                assert!(
                    (a - (b - mean)).abs() < 1e-5,
                    "channel {ch}: {a} vs {}",
                    b - mean
                );
            }
        }
    }

    /// Scattered, missing or repeated points are refused with the reason.
    #[test]
    fn refuses_observations_that_are_not_dense() {
        let grid = ImageGrid::new(4, 4).unwrap();
        let mut points = centres(&grid);
        let obs = |points: Vec<[f32; 2]>| {
            let n = points.len();
            GradientObservations::new(points, 1, vec![0.0; 2 * n]).unwrap()
        };
        let err = integrate_gradient(&grid, &obs(points[..15].to_vec())).unwrap_err();
        assert!(
            err.to_string().contains("15 points for a 4×4 grid"),
            "{err}"
        );
        points[5] = [0.3, 0.3];
        let err = integrate_gradient(&grid, &obs(points.clone())).unwrap_err();
        assert!(err.to_string().contains("point 5"), "{err}");
        points[5] = points[6];
        let err = integrate_gradient(&grid, &obs(points)).unwrap_err();
        assert!(err.to_string().contains("observed twice"), "{err}");
    }
}
