//! Random ellipses in the inscribed disc: the synthetic CT distribution.

use funknn_core::Rng;

use super::{Ellipse, Phantom};
use crate::geometry::ImageGrid;
use crate::{Error, Result};

/// The distribution of [`Phantom::random_ellipses`], after the "ellipses" benchmark of
/// learned CT (Adler & Öktem), confined to the square's inscribed disc:
///
/// - the number of ellipses is Poisson with mean `mean_count`, at least 1;
/// - semi-axes are independent, `axis_scale · Exp(1)` clamped to `[0.01, max_axis]`;
/// - the orientation is uniform in [0, π);
/// - the centre is uniform in the disc of radius `½ − max(a, b)` around `(½, ½)`, so that the
///   whole ellipse lies in the inscribed disc (every ray sees all of it at every angle);
/// - intensities are uniform in `[min_intensity, 1]` and add where ellipses overlap; they are
///   finally all scaled by one factor so that the phantom's maximum over the 256×256 pixel
///   centres is 1 (a common factor keeps the sinogram exact).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EllipsesConfig {
    /// Mean number of ellipses.
    pub mean_count: f64,
    /// Scale of the exponential semi-axes.
    pub axis_scale: f64,
    /// Largest semi-axis (below ½).
    pub max_axis: f64,
    /// Smallest intensity before normalisation.
    pub min_intensity: f64,
}

impl Default for EllipsesConfig {
    fn default() -> Self {
        EllipsesConfig {
            mean_count: 10.0,
            axis_scale: 0.1,
            max_axis: 0.2,
            min_intensity: 0.1,
        }
    }
}

fn poisson(rng: &mut Rng, mean: f64) -> usize {
    // Knuth's product of uniforms; fine for the small means used here.
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.uniform();
    while p > limit && k < 10_000 {
        k += 1;
        p *= rng.uniform();
    }
    k
}

pub(super) fn sample(config: &EllipsesConfig, seed: u64) -> Result<Phantom> {
    let c = config;
    let ok = c.mean_count.is_finite()
        && c.mean_count > 0.0
        && c.mean_count <= 500.0
        && c.axis_scale > 0.0
        && c.max_axis >= 0.01
        && c.max_axis < 0.5
        && (0.0..=1.0).contains(&c.min_intensity);
    if !ok {
        return Err(Error::invalid(
            "ellipses config",
            format!("need 0 < mean_count ≤ 500, axis_scale > 0, 0.01 ≤ max_axis < ½, min_intensity in [0, 1]: {c:?}"),
        ));
    }
    let mut rng = Rng::new(seed);
    let count = poisson(&mut rng, c.mean_count).max(1);
    let mut ellipses = Vec::with_capacity(count);
    for _ in 0..count {
        let mut axis = || {
            let e = -(1.0 - rng.uniform()).ln();
            (c.axis_scale * e).clamp(0.01, c.max_axis)
        };
        let axes = [axis(), axis()];
        let angle = rng.uniform() * std::f64::consts::PI;
        let radius = (0.5 - axes[0].max(axes[1])) * rng.uniform().sqrt();
        let phi = rng.uniform() * std::f64::consts::TAU;
        let intensity = rng.uniform_in(c.min_intensity, 1.0);
        ellipses.push(Ellipse {
            intensity,
            centre: [0.5 + radius * phi.cos(), 0.5 + radius * phi.sin()],
            axes,
            angle,
        });
    }
    let mut phantom = Phantom { ellipses };
    let grid = ImageGrid::square(256)?;
    let max = phantom
        .render(&grid, super::Rendering::PointSample)
        .into_iter()
        .fold(0.0f64, f64::max);
    if max > 0.0 {
        phantom.ellipses.iter_mut().for_each(|e| e.intensity /= max);
    }
    Ok(phantom)
}
