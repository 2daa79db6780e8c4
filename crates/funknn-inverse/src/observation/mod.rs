//! Observations of an image's derivatives at points: what `funknn simulate gradient|poisson`
//! writes and `funknn solve gradient|poisson` reads, in funknn's conventions (unit-square
//! points `[x, y]`, x along the width, y downwards; `∂x, ∂y` in unit lengths).

mod file;
mod simulate;

pub use file::{GradientObservations, PoissonObservations};
pub use simulate::{simulate_gradient, simulate_poisson, PoissonSampling};

use crate::{Error, Result};

/// Checks that every point is finite and in the closed unit square.
pub(crate) fn check_points(what: &'static str, points: &[[f32; 2]]) -> Result<()> {
    if points.is_empty() {
        return Err(Error::invalid(what, "no points"));
    }
    for (k, p) in points.iter().enumerate() {
        if !(p[0].is_finite() && p[1].is_finite()) {
            return Err(Error::invalid(
                what,
                format!("point {k} is not finite: {p:?}"),
            ));
        }
        if !((0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[1])) {
            return Err(Error::invalid(
                what,
                format!("point {k} {p:?} is outside the unit square [0, 1]²"),
            ));
        }
    }
    Ok(())
}
