//! The classical Poisson solve from scattered data: interpolate the observed Laplacian onto
//! the pixel grid (Tikhonov-regularised least squares, well conditioned), then solve
//! `Δu = f` on the grid with the observed boundary values as Dirichlet data (5-point
//! Laplacian, conjugate gradients on the symmetric positive definite `−Δ`).
//!
//! Least squares on the Laplacian rows directly (`tikhonov_reconstruct` with a
//! [`PointOperator`](crate::PointOperator) of Laplacians) squares a condition number of
//! order N⁴ and stalls far from the solution; this is the textbook route instead.

use crate::geometry::ImageGrid;
use crate::observation::PoissonObservations;
use crate::operator::{PointOperator, PointQuantity};
use crate::reconstruct::tikhonov::{conjugate_gradients, tikhonov_reconstruct, TikhonovConfig};
use crate::{Error, Result};

/// Settings of [`poisson_reconstruct`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoissonConfig {
    /// λ of the Laplacian's interpolation onto the grid (weight of `½‖∇f‖²`).
    pub lambda: f64,
    /// CG iterations of each of the two solves.
    pub iterations: usize,
}

impl Default for PoissonConfig {
    fn default() -> Self {
        PoissonConfig {
            lambda: 1e-3,
            iterations: 4000,
        }
    }
}

/// The image on `grid` whose 5-point Laplacian is the observed Laplacian (interpolated onto
/// the grid) and whose boundary is the observed boundary values: each side's ghost pixels,
/// half a pixel outside the square, take the value that puts the edge at the nearest
/// boundary observation. One channel.
pub fn poisson_reconstruct(
    grid: &ImageGrid,
    obs: &PoissonObservations,
    config: &PoissonConfig,
) -> Result<Vec<f64>> {
    if obs.channels != 1 {
        return Err(Error::invalid(
            "observations",
            format!("{} channels: the Poisson solve is for one", obs.channels),
        ));
    }
    let (h, w) = (grid.height, grid.width);
    // 1. f on the grid.
    let interp = PointOperator::new(grid, &obs.points, PointQuantity::Value)?;
    let f_obs: Vec<f64> = obs.laplacian.iter().map(|&v| v as f64).collect();
    let tik = TikhonovConfig {
        lambda: config.lambda,
        iterations: config.iterations,
        tolerance: 1e-10,
    };
    let (f, _) = tikhonov_reconstruct(&interp, &f_obs, &tik)?;
    // 2. The Dirichlet value at the edge beside each boundary pixel: the nearest boundary
    // observation on that side.
    let nearest = |side: usize, t: f64| -> f64 {
        let mut best = (f64::INFINITY, 0.0);
        for (p, &v) in obs.boundary_points.iter().zip(&obs.boundary_values) {
            let (x, y) = (p[0] as f64, p[1] as f64);
            let (dist_side, along) = match side {
                0 => (y, x),
                1 => (1.0 - y, x),
                2 => (x, y),
                _ => (1.0 - x, y),
            };
            let d = dist_side * 1e3 + (along - t).abs();
            if d < best.0 {
                best = (d, v as f64);
            }
        }
        best.1
    };
    let (ih2, jh2) = ((h * h) as f64, (w * w) as f64);
    // −Δ with ghosts u_ghost = 2g − u_edge: the edge pixel's diagonal gains a neighbour's
    // weight, and 2g/h² moves to the right-hand side.
    let mut rhs: Vec<f64> = f.iter().map(|v| -v).collect();
    for j in 0..w {
        let t = (j as f64 + 0.5) / w as f64;
        rhs[j] += 2.0 * nearest(0, t) * ih2;
        rhs[(h - 1) * w + j] += 2.0 * nearest(1, t) * ih2;
    }
    for i in 0..h {
        let t = (i as f64 + 0.5) / h as f64;
        rhs[i * w] += 2.0 * nearest(2, t) * jh2;
        rhs[i * w + w - 1] += 2.0 * nearest(3, t) * jh2;
    }
    let apply = |u: &[f64]| -> Result<Vec<f64>> {
        let mut out = vec![0.0; u.len()];
        for i in 0..h {
            for j in 0..w {
                let c = u[i * w + j];
                let mut acc = 0.0;
                for (ii, jj, scale) in [
                    (i as isize - 1, j as isize, ih2),
                    (i as isize + 1, j as isize, ih2),
                    (i as isize, j as isize - 1, jh2),
                    (i as isize, j as isize + 1, jh2),
                ] {
                    if ii < 0 || jj < 0 || ii >= h as isize || jj >= w as isize {
                        acc += 2.0 * c * scale; // the ghost's −u_edge
                    } else {
                        acc += (c - u[ii as usize * w + jj as usize]) * scale;
                    }
                }
                out[i * w + j] = acc;
            }
        }
        Ok(out)
    };
    // 3. CG on −Δ u = rhs.
    Ok(conjugate_gradients(apply, &rhs, config.iterations, 1e-12)?.0)
}
