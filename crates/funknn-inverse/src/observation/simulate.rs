//! Observations simulated from an image: the exact derivatives of its B-spline interpolant
//! ([`ImagePhantom`]) at points, optionally thinned and noisy.

use funknn_core::{JetOrder, Rng};

use super::{GradientObservations, PoissonObservations};
use crate::geometry::ImageGrid;
use crate::phantom::{add_noise, ImagePhantom};
use crate::{Error, Result};

/// `∇u` at the pixel centres of `grid` (row-major), all of them or, with `sparse = Some(q)`,
/// the fraction `q` where `|∇u|` is largest (the official option keeps the top 20 %), with
/// Gaussian noise at `noise_snr` dB if given (seeded).
///
/// ```
/// use funknn_inverse::{simulate_gradient, ImageGrid, ImagePhantom};
/// let pixels: Vec<f32> = (0..256).map(|k| ((k % 16) as f32 / 16.0).powi(2)).collect();
/// let image = ImagePhantom::new(&pixels, 1, 16, 16)?;
/// let obs = simulate_gradient(&image, &ImageGrid::square(32)?, Some(0.2), None, 0)?;
/// assert_eq!(obs.points.len(), 205); // ⌈0.2 · 1024⌉
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub fn simulate_gradient(
    image: &ImagePhantom,
    grid: &ImageGrid,
    sparse: Option<f64>,
    noise_snr: Option<f64>,
    seed: u64,
) -> Result<GradientObservations> {
    let points = grid.centres();
    let c = image.channels();
    let jet = image.jet(&points, JetOrder::Gradient)?;
    let gradient = jet.gradient()?.expect("a gradient jet"); // (1, P, C, 2)
    let mut g: Vec<f64> = gradient.flatten_all()?.to_vec1()?;
    let mut keep: Vec<usize> = (0..points.len()).collect();
    if let Some(q) = sparse {
        if !(q > 0.0 && q <= 1.0) {
            return Err(Error::invalid(
                "sparse",
                format!("{q}: the fraction of points kept must be in (0, 1]"),
            ));
        }
        let magnitude: Vec<f64> = g
            .chunks_exact(2 * c)
            .map(|r| r.iter().map(|v| v * v).sum::<f64>())
            .collect();
        let count = ((q * points.len() as f64).ceil() as usize).clamp(1, points.len());
        // The largest magnitudes first; ties broken by position so the set is deterministic.
        keep.sort_by(|&a, &b| magnitude[b].total_cmp(&magnitude[a]).then(a.cmp(&b)));
        keep.truncate(count);
        keep.sort_unstable();
        g = keep
            .iter()
            .flat_map(|&k| g[k * 2 * c..(k + 1) * 2 * c].to_vec())
            .collect();
    }
    if let Some(snr) = noise_snr {
        add_noise(&mut g, snr, seed)?;
    }
    GradientObservations::new(
        keep.iter()
            .map(|&k| [points[k][0] as f32, points[k][1] as f32])
            .collect(),
        c,
        g.iter().map(|&v| v as f32).collect(),
    )
}

/// Where the Poisson problem observes: `interior` points uniform at random in the open unit
/// square (seeded), and `boundary_per_side` evenly spaced points on each side of it (at the
/// midpoints of a uniform partition of the side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoissonSampling {
    pub interior: usize,
    pub boundary_per_side: usize,
}

impl PoissonSampling {
    /// The default for a working grid of `n × n`: `n²/2` scattered points and `n` per side.
    pub fn for_size(n: usize) -> Self {
        PoissonSampling {
            interior: (n * n / 2).max(1),
            boundary_per_side: n.max(1),
        }
    }
}

/// `Δu` at scattered points and `u` on the boundary of the unit square, with Gaussian noise
/// at `noise_snr` dB on the Laplacian if given.
pub fn simulate_poisson(
    image: &ImagePhantom,
    sampling: PoissonSampling,
    noise_snr: Option<f64>,
    seed: u64,
) -> Result<PoissonObservations> {
    if sampling.interior == 0 || sampling.boundary_per_side == 0 {
        return Err(Error::invalid(
            "points",
            "the Poisson problem needs interior and boundary points",
        ));
    }
    let mut rng = Rng::new(seed);
    let interior: Vec<[f64; 2]> = (0..sampling.interior)
        .map(|_| [rng.uniform(), rng.uniform()])
        .collect();
    let m = sampling.boundary_per_side;
    let mut boundary = Vec::with_capacity(4 * m);
    for k in 0..m {
        let t = (k as f64 + 0.5) / m as f64;
        boundary.extend([[t, 0.0], [1.0, t], [1.0 - t, 1.0], [0.0, 1.0 - t]]);
    }
    let lap = image
        .jet(&interior, JetOrder::Laplacian)?
        .laplacian()?
        .expect("a Laplacian jet");
    let mut f: Vec<f64> = lap.flatten_all()?.to_vec1()?;
    if let Some(snr) = noise_snr {
        add_noise(&mut f, snr, seed ^ 0x9e37_79b9)?;
    }
    let values: Vec<f64> = image
        .jet(&boundary, JetOrder::Value)?
        .value()?
        .flatten_all()?
        .to_vec1()?;
    let to32 = |p: &[[f64; 2]]| -> Vec<[f32; 2]> {
        p.iter().map(|q| [q[0] as f32, q[1] as f32]).collect()
    };
    PoissonObservations::new(
        to32(&interior),
        image.channels(),
        f.iter().map(|&v| v as f32).collect(),
        to32(&boundary),
        values.iter().map(|&v| v as f32).collect(),
    )
}
