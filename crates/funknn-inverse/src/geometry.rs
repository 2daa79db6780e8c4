//! The CT geometry as data: the image grid and the parallel-beam rays, separate from any
//! projector that applies them (ASTRA's volume and projection geometries).
//!
//! The image is the unit square, x along the width (columns), y along the height (rows,
//! downwards), origin at the top-left corner, zero outside. A ray `(θ, s)` is the line
//! `(½, ½) + s·(cos θ, sin θ) + t·(−sin θ, cos θ)`, t ∈ ℝ; its datum is the line integral of
//! the image along it, in unit lengths.

use crate::{Error, Result};

/// An H×W pixel grid on the unit square: pixel (i, j) has centre `((j+½)/W, (i+½)/H)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageGrid {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageGrid {
    /// The largest side: positions stay exact in f32 and indices fit in 32 bits.
    pub const MAX_SIDE: usize = 1 << 15;

    /// An H×W grid; zero sizes, and sides above [`Self::MAX_SIDE`], are an error.
    pub fn new(height: usize, width: usize) -> Result<Self> {
        if height == 0 || width == 0 {
            return Err(Error::invalid(
                "image grid",
                format!("size {height}×{width} has no pixels"),
            ));
        }
        if height > Self::MAX_SIDE || width > Self::MAX_SIDE {
            return Err(Error::invalid(
                "image grid",
                format!(
                    "size {height}×{width} is too large (at most {} per side)",
                    Self::MAX_SIDE
                ),
            ));
        }
        Ok(ImageGrid { height, width })
    }

    /// An N×N grid.
    pub fn square(n: usize) -> Result<Self> {
        Self::new(n, n)
    }

    /// H·W.
    pub fn len(&self) -> usize {
        self.height * self.width
    }

    /// Never true for a grid made by [`Self::new`]; here for the usual pairing with `len`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The centre `(x, y)` of pixel `(i, j)`.
    pub fn centre(&self, i: usize, j: usize) -> [f64; 2] {
        [
            (j as f64 + 0.5) / self.width as f64,
            (i as f64 + 0.5) / self.height as f64,
        ]
    }

    /// The inverse of [`Self::centre`]: a unit-square point `[x, y]` as `(column, row)` in
    /// pixel units, pixel centres at the integers.
    pub fn pixel_coords(&self, p: [f32; 2]) -> (f64, f64) {
        (
            p[0] as f64 * self.width as f64 - 0.5,
            p[1] as f64 * self.height as f64 - 0.5,
        )
    }

    /// Every pixel centre `[x, y]`, row-major: the points at which an image on this grid is
    /// rendered.
    pub fn centres(&self) -> Vec<[f64; 2]> {
        (0..self.height)
            .flat_map(|i| (0..self.width).map(move |j| self.centre(i, j)))
            .collect()
    }
}

/// Parallel-beam rays: every angle with every offset. A sinogram on it is `(A, D)`,
/// row-major, angle-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelGeometry {
    angles: Vec<f64>,
    offsets: Vec<f64>,
}

/// The midpoints of a uniform partition of `[lo, hi]` into `n` cells.
pub fn midpoints(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let step = (hi - lo) / n as f64;
    (0..n).map(|k| lo + (k as f64 + 0.5) * step).collect()
}

impl ParallelGeometry {
    /// Rays at the given angles (radians) and detector offsets. Both lists must be non-empty
    /// and finite, and the offsets strictly increasing.
    pub fn new(angles: Vec<f64>, offsets: Vec<f64>) -> Result<Self> {
        if angles.is_empty() {
            return Err(Error::invalid("angles", "the angle set is empty"));
        }
        if offsets.is_empty() {
            return Err(Error::invalid("offsets", "the detector has no bins"));
        }
        if let Some(a) = angles.iter().find(|a| !a.is_finite()) {
            return Err(Error::invalid("angles", format!("{a} is not finite")));
        }
        if let Some(s) = offsets.iter().find(|s| !s.is_finite()) {
            return Err(Error::invalid("offsets", format!("{s} is not finite")));
        }
        if offsets.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Error::invalid(
                "offsets",
                "detector offsets must be strictly increasing",
            ));
        }
        Ok(ParallelGeometry { angles, offsets })
    }

    /// `angles` uniform midpoints over `range_degrees` centred on 0, and `detectors` bins at
    /// the midpoints of a uniform partition of `[−½, ½]`.
    pub fn uniform(angles: usize, range_degrees: f64, detectors: usize) -> Result<Self> {
        if !(range_degrees.is_finite() && range_degrees > 0.0 && range_degrees <= 360.0) {
            return Err(Error::invalid(
                "angle range",
                format!("{range_degrees}° is not in (0°, 360°]"),
            ));
        }
        let half = range_degrees.to_radians() / 2.0;
        Self::new(
            midpoints(-half, half, angles),
            midpoints(-0.5, 0.5, detectors),
        )
    }

    /// The official limited-view set-up: 200 angles in ±70°, `detectors` bins on `[−½, ½]`.
    pub fn limited_view(detectors: usize) -> Result<Self> {
        Self::uniform(200, 140.0, detectors)
    }

    /// A full view: `angles` uniform midpoints of `[0°, 180°]`, `detectors` bins on `[−½, ½]`.
    pub fn full_view(angles: usize, detectors: usize) -> Result<Self> {
        Self::new(
            midpoints(0.0, std::f64::consts::PI, angles),
            midpoints(-0.5, 0.5, detectors),
        )
    }

    /// The angles θ, radians.
    pub fn angles(&self) -> &[f64] {
        &self.angles
    }

    /// The detector offsets s.
    pub fn offsets(&self) -> &[f64] {
        &self.offsets
    }

    /// A.
    pub fn n_angles(&self) -> usize {
        self.angles.len()
    }

    /// D.
    pub fn n_detectors(&self) -> usize {
        self.offsets.len()
    }

    /// A·D.
    pub fn len(&self) -> usize {
        self.angles.len() * self.offsets.len()
    }

    /// Never true for a geometry made by [`Self::new`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The detector spacing if the offsets are uniform (to 1e-4 of a bin), else `None`.
    pub fn uniform_spacing(&self) -> Option<f64> {
        let o = &self.offsets;
        if o.len() < 2 {
            return None;
        }
        let step = (o[o.len() - 1] - o[0]) / (o.len() - 1) as f64;
        // Offsets read from f32 files are uniform only to f32 rounding of values near ½.
        let tol = 1e-4 * step.abs();
        o.windows(2)
            .all(|w| ((w[1] - w[0]) - step).abs() <= tol)
            .then_some(step)
    }

    /// The angular weight of each angle for quadrature over θ: half the distance between its
    /// neighbours in sorted order (the cell width for uniform midpoints), the end cells
    /// mirrored. A single angle weighs π.
    pub fn angle_weights(&self) -> Vec<f64> {
        let n = self.angles.len();
        if n == 1 {
            return vec![std::f64::consts::PI];
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.angles[a].total_cmp(&self.angles[b]));
        let sorted: Vec<f64> = order.iter().map(|&k| self.angles[k]).collect();
        let mut w = vec![0.0; n];
        for (r, &k) in order.iter().enumerate() {
            w[k] = if r == 0 {
                sorted[1] - sorted[0]
            } else if r == n - 1 {
                sorted[n - 1] - sorted[n - 2]
            } else {
                (sorted[r + 1] - sorted[r - 1]) / 2.0
            };
        }
        w
    }
}
