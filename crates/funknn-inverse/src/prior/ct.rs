//! Limited-view CT as a forward model: FunkNN renders the image at the pixel centres of the
//! working grid, and the grid ray transform (a candle op whose backward is its adjoint)
//! integrates it along the rays.

use candle_core::Tensor;
use funknn_core::{Jet, JetOrder};

use super::forward::{grid_points, mean_square, normalised_misfit, observed_tensor, ForwardModel};
use crate::geometry::ImageGrid;
use crate::operator::LinearOperator;
use crate::ray_transform::{RayTransform, RayTransformOp};
use crate::{Error, Result};

/// A sinogram observed through a [`RayTransform`] of the image on its grid.
///
/// ```
/// use funknn_core::{Jet, JetOrder};
/// use funknn_inverse::{CtForward, ForwardModel, ImageGrid, ParallelGeometry, RayTransform};
///
/// let rt = RayTransform::new(ImageGrid::square(8)?, ParallelGeometry::limited_view(8)?)?;
/// let image = vec![0.5f32; 64];
/// let sinogram = funknn_inverse::LinearOperator::apply_vec(&rt, &image)?;
/// let ct = CtForward::new(rt, &sinogram)?;
/// // The image itself fits its own sinogram exactly.
/// let values = candle_core::Tensor::from_vec(image, (1, 1, 64, 1), &candle_core::Device::Cpu)?;
/// let misfit: f32 = ct.misfit(&Jet::new(values, JetOrder::Value)?)?.to_scalar()?;
/// assert!(misfit < 1e-12);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub struct CtForward {
    op: RayTransformOp,
    points: Tensor,
    sinogram: Tensor,
    scale: f64,
}

impl CtForward {
    /// `sinogram` `(A, D)` observed through `transform`.
    pub fn new(transform: RayTransform, sinogram: &[f32]) -> Result<Self> {
        let range = LinearOperator::<f32>::range(&transform);
        crate::error::check_len("sinogram", sinogram.len(), range.iter().product())?;
        crate::scalar::check_finite("sinogram", sinogram)?;
        Ok(CtForward {
            points: grid_points(transform.grid())?,
            sinogram: observed_tensor(sinogram, &range)?,
            scale: mean_square(sinogram),
            op: RayTransformOp::new(transform),
        })
    }

    /// The working grid.
    pub fn grid(&self) -> &ImageGrid {
        self.op.transform().grid()
    }

    /// The image `(H, W)` row-major of a jet's values at [`ForwardModel::points`].
    pub fn image_of(&self, jet: &Jet) -> Result<Vec<f32>> {
        Ok(jet
            .value()?
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1()?)
    }
}

impl ForwardModel for CtForward {
    fn channels(&self) -> usize {
        1
    }

    fn points(&self) -> &Tensor {
        &self.points
    }

    fn order(&self) -> JetOrder {
        JetOrder::Value
    }

    fn misfit(&self, jet: &Jet) -> Result<Tensor> {
        let value = jet.value()?; // (1, P, C)
        let g = self.grid();
        if value.dims() != [1, g.len(), 1] {
            return Err(Error::shape(
                "CT image",
                format!("(1, {}, 1): one grey image on the grid", g.len()),
                value.dims(),
            ));
        }
        let sinogram = self.op.forward(&value.reshape((g.height, g.width))?)?;
        normalised_misfit(&sinogram, &self.sinogram, self.scale)
    }
}
