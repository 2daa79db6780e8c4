//! Observing a pixel image at points: the bilinear interpolant of its values, of its
//! central differences (the gradient) or of its 5-point Laplacian. What the classical
//! baselines of the derivative problems fit a grid image to.

use super::{check_io, LinearOperator};
use crate::geometry::ImageGrid;
use crate::observation::check_points;
use crate::{Result, Scalar};

/// What a [`PointOperator`] observes at each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointQuantity {
    /// `u`: range `[P]`.
    Value,
    /// `(∂x u, ∂y u)` in unit lengths: range `[P, 2]`.
    Gradient,
    /// `Δu` in unit lengths: range `[P]`.
    Laplacian,
}

/// A sparse linear map from an H×W image (pixel centres at `((j + ½)/W, (i + ½)/H)`) to a
/// quantity at points: bilinear interpolation (constant beyond the outer pixel centres) of
/// the pixel values, central differences (one-sided on the border) or the 5-point
/// Laplacian (mirrored border). Stored as rows of (pixel, weight), so that the adjoint is the
/// exact transpose.
///
/// ```
/// use funknn_inverse::{ImageGrid, LinearOperator, PointOperator, PointQuantity};
/// let grid = ImageGrid::square(16)?;
/// // u = x: the gradient is (1, 0) inside.
/// let u: Vec<f64> = (0..256).map(|k| ((k % 16) as f64 + 0.5) / 16.0).collect();
/// let op = PointOperator::new(&grid, &[[0.4, 0.6]], PointQuantity::Gradient)?;
/// let g = op.apply_vec(&u)?;
/// assert!((g[0] - 1.0).abs() < 1e-12 && g[1].abs() < 1e-12);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PointOperator {
    grid: ImageGrid,
    quantity: PointQuantity,
    points: usize,
    row_start: Vec<usize>,
    columns: Vec<u32>,
    weights: Vec<f64>,
}

impl PointOperator {
    pub fn new(grid: &ImageGrid, points: &[[f32; 2]], quantity: PointQuantity) -> Result<Self> {
        check_points("points", points)?;
        let (h, w) = (grid.height, grid.width);
        let (hx, hy) = (1.0 / w as f64, 1.0 / h as f64);
        let mut row_start = vec![0];
        let (mut columns, mut weights) = (Vec::new(), Vec::new());
        let mut row: Vec<(usize, f64)> = Vec::new();
        let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
        // The pixel stencils of one quantity component at pixel (i, j).
        let stencil =
            |i: usize, j: usize, component: usize, out: &mut Vec<(usize, f64)>, a: f64| {
                let at = |ii: usize, jj: usize| ii * w + jj;
                match (quantity, component) {
                    (PointQuantity::Value, _) => out.push((at(i, j), a)),
                    (PointQuantity::Gradient, 0) => {
                        let (l, r) = (clamp(j as isize - 1, w), clamp(j as isize + 1, w));
                        if r > l {
                            let d = (r - l) as f64 * hx;
                            out.extend([(at(i, r), a / d), (at(i, l), -a / d)]);
                        }
                    }
                    (PointQuantity::Gradient, _) => {
                        let (t, b) = (clamp(i as isize - 1, h), clamp(i as isize + 1, h));
                        if b > t {
                            let d = (b - t) as f64 * hy;
                            out.extend([(at(b, j), a / d), (at(t, j), -a / d)]);
                        }
                    }
                    (PointQuantity::Laplacian, _) => {
                        // Mirror: the missing neighbour is the pixel on the other side.
                        let mirror = |v: isize, n: usize| -> usize {
                            if v < 0 {
                                (v.unsigned_abs()).min(n - 1)
                            } else if v as usize >= n {
                                (2 * n - 2).saturating_sub(v as usize).min(n - 1)
                            } else {
                                v as usize
                            }
                        };
                        let (ax, ay) = (a / (hx * hx), a / (hy * hy));
                        out.extend([
                            (at(i, mirror(j as isize - 1, w)), ax),
                            (at(i, mirror(j as isize + 1, w)), ax),
                            (at(mirror(i as isize - 1, h), j), ay),
                            (at(mirror(i as isize + 1, h), j), ay),
                            (at(i, j), -2.0 * (ax + ay)),
                        ]);
                    }
                }
            };
        let components = if quantity == PointQuantity::Gradient {
            2
        } else {
            1
        };
        for &p in points {
            let (fx, fy) = grid.pixel_coords(p);
            let (j0, i0) = (clamp(fx.floor() as isize, w), clamp(fy.floor() as isize, h));
            let (j1, i1) = ((j0 + 1).min(w - 1), (i0 + 1).min(h - 1));
            let tx = (fx - j0 as f64).clamp(0.0, 1.0);
            let ty = (fy - i0 as f64).clamp(0.0, 1.0);
            for c in 0..components {
                row.clear();
                for (ii, jj, a) in [
                    (i0, j0, (1.0 - ty) * (1.0 - tx)),
                    (i0, j1, (1.0 - ty) * tx),
                    (i1, j0, ty * (1.0 - tx)),
                    (i1, j1, ty * tx),
                ] {
                    if a != 0.0 {
                        stencil(ii, jj, c, &mut row, a);
                    }
                }
                row.sort_unstable_by_key(|e| e.0);
                let mut k = 0;
                while k < row.len() {
                    let (col, mut sum) = row[k];
                    k += 1;
                    while k < row.len() && row[k].0 == col {
                        sum += row[k].1;
                        k += 1;
                    }
                    if sum != 0.0 {
                        columns.push(col as u32);
                        weights.push(sum);
                    }
                }
                row_start.push(columns.len());
            }
        }
        Ok(PointOperator {
            grid: *grid,
            quantity,
            points: points.len(),
            row_start,
            columns,
            weights,
        })
    }

    pub fn quantity(&self) -> PointQuantity {
        self.quantity
    }
}

impl<T: Scalar> LinearOperator<T> for PointOperator {
    fn domain(&self) -> Vec<usize> {
        vec![self.grid.height, self.grid.width]
    }

    fn range(&self) -> Vec<usize> {
        match self.quantity {
            PointQuantity::Gradient => vec![self.points, 2],
            _ => vec![self.points],
        }
    }

    fn apply(&self, x: &[T], y: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, x.len(), y.len(), false)?;
        for (r, out) in y.iter_mut().enumerate() {
            let (a, b) = (self.row_start[r], self.row_start[r + 1]);
            let s: f64 = self.columns[a..b]
                .iter()
                .zip(&self.weights[a..b])
                .map(|(&c, &wt)| wt * x[c as usize].to_f64())
                .sum();
            *out = T::of(s);
        }
        Ok(())
    }

    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, y.len(), x.len(), true)?;
        let mut acc = vec![0.0f64; x.len()];
        for (r, v) in y.iter().enumerate() {
            let v = v.to_f64();
            for k in self.row_start[r]..self.row_start[r + 1] {
                acc[self.columns[k] as usize] += self.weights[k] * v;
            }
        }
        for (o, a) in x.iter_mut().zip(acc) {
            *o = T::of(a);
        }
        Ok(())
    }
}
