//! Gradient observations as a forward model: `∇u` at points, from FunkNN's jets.

use candle_core::Tensor;
use funknn_core::{Jet, JetOrder};

use super::forward::{
    mean_square, normalised_misfit, observed_tensor, points_tensor, ForwardModel,
};
use crate::observation::GradientObservations;
use crate::{Error, Result};

/// `∇u` observed at points (dense or sparse, noisy or not).
pub struct GradientForward {
    channels: usize,
    points: Tensor,
    gradient: Tensor,
    scale: f64,
}

impl GradientForward {
    pub fn new(obs: &GradientObservations) -> Result<Self> {
        let p = obs.points.len();
        Ok(GradientForward {
            channels: obs.channels,
            points: points_tensor("points", &obs.points)?,
            gradient: observed_tensor(&obs.gradient, &[1, p, obs.channels, 2])?,
            scale: mean_square(&obs.gradient),
        })
    }
}

impl ForwardModel for GradientForward {
    fn channels(&self) -> usize {
        self.channels
    }

    fn points(&self) -> &Tensor {
        &self.points
    }

    fn order(&self) -> JetOrder {
        JetOrder::Gradient
    }

    fn misfit(&self, jet: &Jet) -> Result<Tensor> {
        let gradient = jet
            .gradient()?
            .ok_or_else(|| Error::invalid("jet", "the gradient problem needs a gradient jet"))?;
        normalised_misfit(&gradient, &self.gradient, self.scale)
    }
}
