//! The discrete image gradient (forward differences, zero at the far edge), in pixel units.

use super::{check_io, LinearOperator};
use crate::{Result, Scalar};

/// `∇x` of an H×W image: output `[2, H, W]`, the x (column) differences then the y (row)
/// differences, `x[i, j+1] − x[i, j]` and `x[i+1, j] − x[i, j]`, zero on the last
/// column/row (Neumann boundary). Its norm is below √8.
#[derive(Debug, Clone, Copy)]
pub struct Gradient {
    height: usize,
    width: usize,
}

impl Gradient {
    /// The gradient on an H×W grid.
    pub fn new(height: usize, width: usize) -> Self {
        Gradient { height, width }
    }
}

impl<T: Scalar> LinearOperator<T> for Gradient {
    fn domain(&self) -> Vec<usize> {
        vec![self.height, self.width]
    }

    fn range(&self) -> Vec<usize> {
        vec![2, self.height, self.width]
    }

    fn apply(&self, x: &[T], y: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, x.len(), y.len(), false)?;
        let (h, w) = (self.height, self.width);
        let (gx, gy) = y.split_at_mut(h * w);
        for i in 0..h {
            let row = &x[i * w..(i + 1) * w];
            let out = &mut gx[i * w..(i + 1) * w];
            for j in 0..w - 1 {
                out[j] = row[j + 1] - row[j];
            }
            out[w - 1] = T::zero();
            let out = &mut gy[i * w..(i + 1) * w];
            if i + 1 < h {
                let next = &x[(i + 1) * w..(i + 2) * w];
                for j in 0..w {
                    out[j] = next[j] - row[j];
                }
            } else {
                out.fill(T::zero());
            }
        }
        Ok(())
    }

    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, y.len(), x.len(), true)?;
        let (h, w) = (self.height, self.width);
        let (gx, gy) = y.split_at(h * w);
        for i in 0..h {
            let px = &gx[i * w..(i + 1) * w];
            let out = &mut x[i * w..(i + 1) * w];
            // −div: the transpose of the forward differences above.
            for j in 0..w {
                let left = if j > 0 { px[j - 1] } else { T::zero() };
                let here = if j + 1 < w { px[j] } else { T::zero() };
                out[j] = left - here;
            }
            for j in 0..w {
                let up = if i > 0 {
                    gy[(i - 1) * w + j]
                } else {
                    T::zero()
                };
                let here = if i + 1 < h { gy[i * w + j] } else { T::zero() };
                out[j] += up - here;
            }
        }
        Ok(())
    }
}
