//! The Poisson problem as a forward model: `Δu` at scattered points and `u` on the boundary.

use candle_core::Tensor;
use funknn_core::{Jet, JetOrder};

use super::forward::{
    mean_square, normalised_misfit, observed_tensor, points_tensor, ForwardModel,
};
use crate::observation::PoissonObservations;
use crate::{Error, Result};

/// `Δu = f` at points and `u = g` at boundary points. The misfit is
/// `mean((Δu − f)²)/mean(f²) + β·mean((u − g)²)`: the Laplacian term relative to its data,
/// the boundary term in intensity units (boundary values are often all zero), weighted by β.
pub struct PoissonForward {
    channels: usize,
    interior: usize,
    points: Tensor,
    laplacian: Tensor,
    boundary_values: Tensor,
    scale: f64,
    boundary_weight: f64,
}

impl PoissonForward {
    /// `boundary_weight` is β (finite, ≥ 0).
    pub fn new(obs: &PoissonObservations, boundary_weight: f64) -> Result<Self> {
        if !(boundary_weight.is_finite() && boundary_weight >= 0.0) {
            return Err(Error::invalid(
                "boundary weight",
                format!("{boundary_weight}: must be finite and non-negative"),
            ));
        }
        let (p, b, c) = (obs.points.len(), obs.boundary_points.len(), obs.channels);
        let all: Vec<[f32; 2]> = obs
            .points
            .iter()
            .chain(&obs.boundary_points)
            .copied()
            .collect();
        Ok(PoissonForward {
            channels: c,
            interior: p,
            points: points_tensor("points", &all)?,
            laplacian: observed_tensor(&obs.laplacian, &[1, p, c])?,
            boundary_values: observed_tensor(&obs.boundary_values, &[1, b, c])?,
            scale: mean_square(&obs.laplacian),
            boundary_weight,
        })
    }
}

impl ForwardModel for PoissonForward {
    fn channels(&self) -> usize {
        self.channels
    }

    fn points(&self) -> &Tensor {
        &self.points
    }

    fn order(&self) -> JetOrder {
        JetOrder::Laplacian
    }

    fn misfit(&self, jet: &Jet) -> Result<Tensor> {
        let laplacian = jet
            .laplacian()?
            .ok_or_else(|| Error::invalid("jet", "the Poisson problem needs a Laplacian jet"))?;
        let total = laplacian.dim(1)?;
        let b = total.checked_sub(self.interior).ok_or_else(|| {
            Error::shape(
                "jet",
                format!("(…, {} + B, C)", self.interior),
                laplacian.dims(),
            )
        })?;
        let interior = normalised_misfit(
            &laplacian.narrow(1, 0, self.interior)?,
            &self.laplacian,
            self.scale,
        )?;
        let boundary = normalised_misfit(
            &jet.value()?.narrow(1, self.interior, b)?,
            &self.boundary_values,
            1.0,
        )?;
        Ok((interior + (boundary * self.boundary_weight)?)?)
    }
}
