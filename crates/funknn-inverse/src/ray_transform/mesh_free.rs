//! The ray transform of a continuous image: Gauss–Legendre quadrature along each ray's
//! chord through the unit square, no grid.

use crate::function::PlaneFunction;
use crate::geometry::ParallelGeometry;
use crate::quadrature::gauss_legendre;
use crate::{Error, Result};

/// Quadrature settings of the mesh-free transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshFreeConfig {
    /// Equal panels per chord (more panels resolve edges and kinks of the image).
    pub panels: usize,
    /// Gauss–Legendre nodes per panel (exact for polynomials of degree `2·order − 1`).
    pub order: usize,
    /// Points per call of the function (bounds memory; a FunkNN evaluates them in chunks).
    pub batch: usize,
}

impl Default for MeshFreeConfig {
    fn default() -> Self {
        MeshFreeConfig {
            panels: 16,
            order: 8,
            batch: 1 << 16,
        }
    }
}

/// The mesh-free ray transform: line integrals of any [`PlaneFunction`] (zero outside the
/// unit square) along the rays of a [`ParallelGeometry`].
///
/// ```
/// use funknn_inverse::{FnImage, MeshFreeConfig, MeshFreeTransform, ParallelGeometry};
/// let geometry = ParallelGeometry::new(vec![0.3], vec![0.0])?;
/// let mf = MeshFreeTransform::new(geometry, MeshFreeConfig::default())?;
/// // A constant 1: the datum is the chord length, 1/cos 0.3 for the central ray.
/// let sino = mf.project(&FnImage(|_, _| 1.0))?;
/// assert!((sino[0] - 1.0 / 0.3f64.cos()).abs() < 1e-12);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub struct MeshFreeTransform {
    geometry: ParallelGeometry,
    config: MeshFreeConfig,
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

/// The parameter interval `[t0, t1]` of the ray inside the unit square, if it crosses it.
pub(crate) fn chord(theta: f64, s: f64) -> Option<(f64, f64)> {
    let (sin, cos) = theta.sin_cos();
    let origin = [0.5 + s * cos, 0.5 + s * sin];
    let dir = [-sin, cos];
    let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
    for k in 0..2 {
        if dir[k].abs() < 1e-15 {
            if !(0.0..=1.0).contains(&origin[k]) {
                return None;
            }
        } else {
            let a = (0.0 - origin[k]) / dir[k];
            let b = (1.0 - origin[k]) / dir[k];
            t0 = t0.max(a.min(b));
            t1 = t1.min(a.max(b));
        }
    }
    (t1 > t0).then_some((t0, t1))
}

impl MeshFreeTransform {
    /// The transform on `geometry` with `config`'s quadrature.
    pub fn new(geometry: ParallelGeometry, config: MeshFreeConfig) -> Result<Self> {
        if config.panels == 0 || config.order == 0 || config.batch == 0 {
            return Err(Error::invalid(
                "mesh-free config",
                format!("panels, order and batch must be positive: {config:?}"),
            ));
        }
        let (nodes, weights) = gauss_legendre(config.order);
        Ok(MeshFreeTransform {
            geometry,
            config,
            nodes,
            weights,
        })
    }

    /// The rays.
    pub fn geometry(&self) -> &ParallelGeometry {
        &self.geometry
    }

    /// The sinogram `(A, D)` of `f`, row-major, in f64.
    pub fn project(&self, f: &dyn PlaneFunction) -> Result<Vec<f64>> {
        let per_ray = self.config.panels * self.config.order;
        let rays_per_batch = (self.config.batch / per_ray).max(1);
        let rays: Vec<(f64, f64)> = self
            .geometry
            .angles()
            .iter()
            .flat_map(|&a| self.geometry.offsets().iter().map(move |&s| (a, s)))
            .collect();
        let mut out = vec![0.0; rays.len()];
        let mut points = Vec::with_capacity(rays_per_batch * per_ray);
        let mut weights = Vec::with_capacity(rays_per_batch * per_ray);
        let mut values = Vec::new();
        for (b, batch) in rays.chunks(rays_per_batch).enumerate() {
            points.clear();
            weights.clear();
            for &(theta, s) in batch {
                let Some((t0, t1)) = chord(theta, s) else {
                    // Padding keeps every ray's points at a fixed stride.
                    points.extend(std::iter::repeat_n([0.5, 0.5], per_ray));
                    weights.extend(std::iter::repeat_n(0.0, per_ray));
                    continue;
                };
                let (sin, cos) = theta.sin_cos();
                let h = (t1 - t0) / self.config.panels as f64;
                for p in 0..self.config.panels {
                    let mid = t0 + (p as f64 + 0.5) * h;
                    for (x, w) in self.nodes.iter().zip(&self.weights) {
                        let t = mid + 0.5 * h * x;
                        points.push([0.5 + s * cos - t * sin, 0.5 + s * sin + t * cos]);
                        weights.push(0.5 * h * w);
                    }
                }
            }
            values.resize(points.len(), 0.0);
            f.evaluate(&points, &mut values)?;
            let start = b * rays_per_batch;
            for (r, chunk) in values.chunks(per_ray).enumerate() {
                let w = &weights[r * per_ray..(r + 1) * per_ray];
                out[start + r] = chunk.iter().zip(w).map(|(v, w)| v * w).sum();
            }
        }
        Ok(out)
    }
}
