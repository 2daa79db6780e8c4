//! The ray transform of an H×W image on the unit square (Joseph's method on a sharpened
//! image, plain Joseph, Keys' cubic, or exact for the pixel model), its exact transpose, a
//! candle op whose backward is the adjoint, and a mesh-free variant for continuous images.

mod candle_op;
mod joseph;
mod mesh_free;

pub use candle_op::RayTransformOp;
pub use mesh_free::{MeshFreeConfig, MeshFreeTransform};

use std::any::Any;

use crate::geometry::{ImageGrid, ParallelGeometry};
use crate::operator::{check_io, LinearOperator};
use crate::parallel::resolve_threads;
use crate::{Result, Scalar};

/// The precomputed per-angle tables of Joseph's method in one precision.
///
/// For an angle whose ray steps along its major axis (columns if |sin θ| ≥ |cos θ|, else
/// rows; for [`Interpolation::Exact`], columns if W·|sin θ| ≥ H·|cos θ|), the minor pixel
/// coordinate at major step `j` of the ray with offset `s_d`, plus one (so that valid
/// positions are non-negative), is `shift[j] + slope[d]` (for the exact projector, the lower
/// end of the ray's extent across that major line). Forward and adjoint evaluate exactly
/// this sum, so they use the very same weights: the adjoint is the transpose of the forward
/// map, not an approximation of it.
pub(crate) struct AngleTable<T> {
    /// Steps along columns (true) or rows.
    pub x_major: bool,
    /// The length of ray per major step, in unit lengths.
    pub length: T,
    /// Per major step.
    pub shift: Vec<T>,
    /// Per detector bin.
    pub slope: Vec<T>,
    /// Per detector bin: the major steps `[lo, hi)` whose position lies in `[0, top)`, i.e.
    /// whose taps touch the image.
    pub ranges: Vec<(u32, u32)>,
    /// [`Interpolation::Exact`] only: 1/δ, where δ ≤ 1 is the minor-axis extent (in pixels)
    /// of the ray's segment through one major line; 0 for the other interpolations.
    pub inv_width: T,
    /// [`Interpolation::Exact`] only: 1 − δ; 0 for the other interpolations.
    pub edge: T,
}

pub(crate) struct Tables<T> {
    pub interpolation: Interpolation,
    pub angles: Vec<AngleTable<T>>,
}

/// How the grid transform interpolates across a ray (along the axis it crosses slower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// Joseph's method: linear between the two nearest pixel centres. The fastest.
    Linear,
    /// Keys' cubic convolution (a = −½) on four pixels: it reproduces quadratics, so it adds
    /// no blur of its own to second order, and is about 1.6× slower.
    Cubic,
    /// Exact for the pixel (piecewise-constant) image model, as Siddon's method: each pixel's
    /// weight is the length of the ray inside it. The ray steps along the axis whose pixel
    /// lines it crosses more often, so within one major line it meets at most two pixels, and
    /// the two lengths are the overlaps of its minor-axis extent δ ≤ 1 with them: Joseph's
    /// loop with a clamped weight, about as fast as [`Interpolation::Linear`].
    Exact,
    /// Joseph's linear interpolation of a sharpened image: each line across the rays is
    /// first filtered by `[−⅛, 5/4, −⅛]` (at the grid's first and last lines the missing
    /// neighbour is the line itself; the adjoint applies the same symmetric filter after the
    /// back-projection, so it stays the exact transpose). Over the positions a ray takes
    /// between two pixel centres, linear interpolation of pixel averages blurs by
    /// `h²/8 · u''` on average (`h²/24` from the averaging, `h²/12` from the interpolation);
    /// the filter subtracts exactly that. It keeps constant images exact, and linear ones
    /// away from the edge lines.
    /// One more pass over the image than [`Interpolation::Linear`]. The default: the most
    /// accurate on pixel-averaged images, and within the speed targets.
    #[default]
    Sharpened,
}

/// The weight of each neighbour in [`Interpolation::Sharpened`]'s filter `[−a, 1 + 2a, −a]`.
pub(crate) const SHARPENING: f64 = 0.125;

impl<T: Scalar> Tables<T> {
    fn build(grid: &ImageGrid, geometry: &ParallelGeometry, interpolation: Interpolation) -> Self {
        // Positions are shifted so that the first tap's padded line is trunc(u); the ray
        // touches the image while u ∈ [0, top).
        let (offset, extra) = match interpolation {
            Interpolation::Linear | Interpolation::Exact | Interpolation::Sharpened => (1.0, 1.0),
            Interpolation::Cubic => (2.0, 3.0),
        };
        let exact = interpolation == Interpolation::Exact;
        // An axis-parallel ray (δ = 0) meets one pixel per line; δ is kept above 1e-12 so that
        // 1/δ stays finite (a change below 1e-12 of a pixel).
        const MIN_WIDTH: f64 = 1e-12;
        let (h, w) = (grid.height as f64, grid.width as f64);
        let angles = geometry
            .angles()
            .iter()
            .map(|&theta| {
                let (sin, cos) = theta.sin_cos();
                // The exact projector steps along the axis whose pixel lines the ray crosses
                // more often (the same choice on square grids), so that δ ≤ 1 below.
                let x_major = if exact {
                    w * sin.abs() >= h * cos.abs()
                } else {
                    sin.abs() >= cos.abs()
                };
                // Along columns: y = ½ − (x_j − ½) cot θ + s / sin θ; minor coordinate v = H y − ½.
                // Along rows:    x = ½ − (y_i − ½) tan θ + s / cos θ; minor coordinate u = W x − ½.
                let (major, minor, ratio, inv, length) = if x_major {
                    (w, h, cos / sin, 1.0 / sin, 1.0 / (w * sin.abs()))
                } else {
                    (h, w, sin / cos, 1.0 / cos, 1.0 / (h * cos.abs()))
                };
                // Exact: within one major line the ray spans δ pixels across, centred on the
                // position above; the table holds the lower end, in pixel-edge coordinates
                // (pixel k spans [k, k + 1), so the lower end is the centre + ½ − δ/2).
                let delta = (minor / major * ratio.abs()).clamp(MIN_WIDTH, 1.0);
                let start = if exact { 0.5 - 0.5 * delta } else { 0.0 };
                let shift: Vec<T> = (0..major as usize)
                    .map(|j| {
                        let c = (j as f64 + 0.5) / major;
                        T::of(minor * (0.5 - (c - 0.5) * ratio) - 0.5 + offset + start)
                    })
                    .collect();
                let slope: Vec<T> = geometry
                    .offsets()
                    .iter()
                    .map(|&s| T::of(minor * s * inv))
                    .collect();
                let top = T::of(minor + extra);
                let increasing = shift.last() >= shift.first();
                let ranges = slope
                    .iter()
                    .map(|&b| {
                        let (lo, hi) = if increasing {
                            (
                                shift.partition_point(|&a| a + b < T::zero()),
                                shift.partition_point(|&a| a + b < top),
                            )
                        } else {
                            (
                                shift.partition_point(|&a| a + b >= top),
                                shift.partition_point(|&a| a + b >= T::zero()),
                            )
                        };
                        (lo as u32, hi.max(lo) as u32)
                    })
                    .collect();
                let (inv_width, edge) = if exact {
                    (1.0 / delta, 1.0 - delta)
                } else {
                    (0.0, 0.0)
                };
                AngleTable {
                    x_major,
                    length: T::of(length),
                    shift,
                    slope,
                    ranges,
                    inv_width: T::of(inv_width),
                    edge: T::of(edge),
                }
            })
            .collect();
        Tables {
            interpolation,
            angles,
        }
    }
}

/// The parallel-beam ray transform of images on an [`ImageGrid`], by Joseph's method:
/// each ray is sampled once per column (or row, whichever it crosses faster), the image
/// linearly interpolated between the two nearest pixel centres across it (zero outside).
/// By default the image is first sharpened across the rays ([`Interpolation::Sharpened`]),
/// which removes the average blur of linear interpolation; [`Interpolation`] selects plain
/// linear, Keys' cubic, or the exact line integrals of the piecewise-constant pixel image
/// (Siddon's intersection lengths) instead.
/// `apply` maps an image `[H, W]` to a sinogram `[A, D]` (row-major), `adjoint` is its
/// exact transpose. Both run on all cores, in f32 or f64.
///
/// ```
/// use funknn_inverse::{ImageGrid, LinearOperator, ParallelGeometry, RayTransform};
///
/// let grid = ImageGrid::square(32)?;
/// let rt = RayTransform::new(grid, ParallelGeometry::limited_view(32)?)?;
/// let image = vec![1.0f32; grid.len()];
/// let sinogram = rt.apply_vec(&image)?;
/// // The central ray at θ ≈ 0 crosses the whole unit square: length 1.
/// assert!((sinogram[100 * 32 + 16] - 1.0).abs() < 0.02);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub struct RayTransform {
    grid: ImageGrid,
    geometry: ParallelGeometry,
    threads: usize,
    interpolation: Interpolation,
    f32_tables: Tables<f32>,
    f64_tables: Tables<f64>,
}

impl RayTransform {
    /// Precomputes the tables of Joseph's method for `grid` and `geometry` (once; applying is
    /// then cheap), with the default [`Interpolation::Sharpened`].
    pub fn new(grid: ImageGrid, geometry: ParallelGeometry) -> Result<Self> {
        Self::with_interpolation(grid, geometry, Interpolation::default())
    }

    /// The same with another interpolation across rays.
    pub fn with_interpolation(
        grid: ImageGrid,
        geometry: ParallelGeometry,
        interpolation: Interpolation,
    ) -> Result<Self> {
        let grid = ImageGrid::new(grid.height, grid.width)?;
        Ok(RayTransform {
            f32_tables: Tables::build(&grid, &geometry, interpolation),
            f64_tables: Tables::build(&grid, &geometry, interpolation),
            grid,
            geometry,
            threads: 0,
            interpolation,
        })
    }

    /// The interpolation across rays.
    pub fn interpolation(&self) -> Interpolation {
        self.interpolation
    }

    /// Uses `threads` threads (0, the default: one per core).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// The image grid.
    pub fn grid(&self) -> &ImageGrid {
        &self.grid
    }

    /// The rays.
    pub fn geometry(&self) -> &ParallelGeometry {
        &self.geometry
    }

    pub(crate) fn tables<T: Scalar>(&self) -> &Tables<T> {
        let t32: &dyn Any = &self.f32_tables;
        let t64: &dyn Any = &self.f64_tables;
        t32.downcast_ref::<Tables<T>>()
            .or_else(|| t64.downcast_ref::<Tables<T>>())
            .expect("Scalar is sealed to f32 and f64")
    }

    fn thread_count(&self) -> usize {
        resolve_threads(self.threads)
    }
}

impl<T: Scalar> LinearOperator<T> for RayTransform {
    fn domain(&self) -> Vec<usize> {
        vec![self.grid.height, self.grid.width]
    }

    fn range(&self) -> Vec<usize> {
        vec![self.geometry.n_angles(), self.geometry.n_detectors()]
    }

    fn apply(&self, x: &[T], y: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, x.len(), y.len(), false)?;
        joseph::forward(self.tables::<T>(), &self.grid, x, y, self.thread_count());
        Ok(())
    }

    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, y.len(), x.len(), true)?;
        joseph::adjoint(self.tables::<T>(), &self.grid, y, x, self.thread_count());
        Ok(())
    }
}
