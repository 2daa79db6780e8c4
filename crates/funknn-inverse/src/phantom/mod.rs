//! Phantoms made of ellipses: the modified Shepp–Logan phantom and random ellipses, rendered
//! at any size by exact pixel averaging (or point sampling), with exact sinograms from the
//! closed form of an ellipse's line integral (no inverse crime).

mod ellipse;
mod image;
mod noise;
mod random;
mod shepp_logan;

pub use ellipse::Ellipse;
pub use image::ImagePhantom;
pub use noise::add_noise;
pub use random::EllipsesConfig;

use crate::function::PlaneFunction;
use crate::geometry::{ImageGrid, ParallelGeometry};
use crate::Result;

/// How a phantom becomes pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rendering {
    /// Each pixel is the exact mean of the phantom over its square.
    #[default]
    PixelAverage,
    /// Each pixel is the phantom's value at its centre.
    PointSample,
}

/// A sum of constant-intensity ellipses on the unit square.
///
/// ```
/// use funknn_inverse::{ImageGrid, ParallelGeometry, Phantom, Rendering};
/// let p = Phantom::shepp_logan();
/// let image = p.render(&ImageGrid::square(64)?, Rendering::PixelAverage);
/// let sinogram = p.sinogram(&ParallelGeometry::limited_view(64)?);
/// assert_eq!((image.len(), sinogram.len()), (64 * 64, 200 * 64));
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Phantom {
    /// The ellipses; intensities add where they overlap.
    pub ellipses: Vec<Ellipse>,
}

impl Phantom {
    /// The modified Shepp–Logan phantom (Toft's contrast), in [0, 1], filling the square's
    /// inscribed disc as the usual [−1, 1]² picture does, upright on screen.
    pub fn shepp_logan() -> Self {
        shepp_logan::modified()
    }

    /// Random ellipses from `config`'s distribution (see [`EllipsesConfig`]), reproducible
    /// from `seed`.
    pub fn random_ellipses(config: &EllipsesConfig, seed: u64) -> Result<Self> {
        random::sample(config, seed)
    }

    /// The value at `(x, y)`.
    pub fn value(&self, p: [f64; 2]) -> f64 {
        self.ellipses
            .iter()
            .filter(|e| e.contains(p))
            .map(|e| e.intensity)
            .sum()
    }

    /// The image on `grid`, row-major.
    pub fn render(&self, grid: &ImageGrid, rendering: Rendering) -> Vec<f64> {
        let (h, w) = (grid.height, grid.width);
        let mut out = vec![0.0; h * w];
        match rendering {
            Rendering::PointSample => {
                for i in 0..h {
                    for j in 0..w {
                        out[i * w + j] = self.value(grid.centre(i, j));
                    }
                }
            }
            Rendering::PixelAverage => {
                let (dx, dy) = (1.0 / w as f64, 1.0 / h as f64);
                for e in &self.ellipses {
                    let [x0, y0, x1, y1] = e.bounding_box();
                    let cols = pixel_range(x0, x1, w);
                    let rows = pixel_range(y0, y1, h);
                    for i in rows {
                        for j in cols.clone() {
                            let (px, py) = (j as f64 * dx, i as f64 * dy);
                            let corners =
                                [[px, py], [px + dx, py], [px + dx, py + dy], [px, py + dy]];
                            // A convex shape holding all four corners holds the pixel.
                            let fraction = if corners.iter().all(|&c| e.contains(c)) {
                                1.0
                            } else {
                                e.area_in_polygon(&corners) / (dx * dy)
                            };
                            out[i * w + j] += e.intensity * fraction;
                        }
                    }
                }
            }
        }
        out
    }

    /// The exact sinogram `(A, D)` on `geometry`, row-major.
    pub fn sinogram(&self, geometry: &ParallelGeometry) -> Vec<f64> {
        let mut out = Vec::with_capacity(geometry.len());
        for &theta in geometry.angles() {
            for &s in geometry.offsets() {
                out.push(
                    self.ellipses
                        .iter()
                        .map(|e| e.line_integral(theta, s))
                        .sum(),
                );
            }
        }
        out
    }
}

/// The pixel indices along one axis that `[lo, hi]` touches.
fn pixel_range(lo: f64, hi: f64, n: usize) -> std::ops::Range<usize> {
    let a = (lo * n as f64).floor().max(0.0) as usize;
    let b = ((hi * n as f64).ceil().max(0.0) as usize).min(n);
    a.min(b)..b
}

impl PlaneFunction for Phantom {
    fn evaluate(&self, points: &[[f64; 2]], values: &mut [f64]) -> Result<()> {
        crate::error::check_len("values", values.len(), points.len())?;
        for (v, &p) in values.iter_mut().zip(points) {
            *v = self.value(p);
        }
        Ok(())
    }
}
