//! What a forward model is to the prior solvers: the points where the continuous image is
//! needed, the derivatives needed there, and a differentiable misfit.

use candle_core::{DType, Device, Tensor};
use funknn_core::{Jet, JetOrder};

use crate::geometry::ImageGrid;
use crate::observation::check_points;
use crate::{Error, Result};

/// Observations of a continuous image `u` with `channels()` channels, through its jet at
/// `points()`: CT line integrals of values on a grid, gradients, Laplacians, or anything
/// else built from candle ops.
pub trait ForwardModel {
    /// The channels of the image observed.
    fn channels(&self) -> usize;
    /// `(1, P, 2)` f32 unit-square points where the solver evaluates `u`.
    fn points(&self) -> &Tensor;
    /// The derivatives the misfit needs at those points.
    fn order(&self) -> JetOrder;
    /// The data misfit of the jet at `points()` (parts `(K, 1, P, C)`, `K ≥ order().parts()`):
    /// a scalar tensor, differentiable. Each model normalises it by its data's mean square,
    /// so that a misfit of 1 is "as large as the data" whatever the problem's units.
    fn misfit(&self, jet: &Jet) -> Result<Tensor>;
}

/// `(1, P, 2)` f32 points, checked finite and in the unit square.
pub fn points_tensor(what: &'static str, points: &[[f32; 2]]) -> Result<Tensor> {
    check_points(what, points)?;
    let flat: Vec<f32> = points.iter().flat_map(|p| [p[0], p[1]]).collect();
    Ok(Tensor::from_vec(flat, (1, points.len(), 2), &Device::Cpu)?)
}

/// [`ImageGrid::centres`] as `(1, H·W, 2)` f32 points.
pub fn grid_points(grid: &ImageGrid) -> Result<Tensor> {
    let centres: Vec<[f32; 2]> = grid
        .centres()
        .iter()
        .map(|c| [c[0] as f32, c[1] as f32])
        .collect();
    points_tensor("grid", &centres)
}

/// The mean square of `values`, floored so that all-zero data (black boundary values, say)
/// still gives a finite normaliser.
pub(crate) fn mean_square(values: &[f32]) -> f64 {
    let ms = values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / values.len().max(1) as f64;
    ms.max(1e-12)
}

/// `mean((prediction − observed)²) / scale`, in the prediction's dtype.
pub(crate) fn normalised_misfit(
    prediction: &Tensor,
    observed: &Tensor,
    scale: f64,
) -> Result<Tensor> {
    if prediction.dims() != observed.dims() {
        return Err(Error::shape(
            "prediction",
            format!("{:?} (the observations)", observed.dims()),
            prediction.dims(),
        ));
    }
    let observed = observed.to_dtype(prediction.dtype())?;
    Ok(((prediction - observed)?.sqr()?.mean_all()? / scale)?)
}

/// Observations as an f32 tensor of `shape` on the CPU.
pub(crate) fn observed_tensor(values: &[f32], shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(values.to_vec(), shape, &Device::Cpu)?.to_dtype(DType::F32)?)
}
