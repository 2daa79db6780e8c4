//! A discrete image as a continuous object: its cubic B-spline interpolant, the truth of the
//! experiments on image data (Fashion-MNIST garments). Its sinogram is computed mesh-free,
//! by quadrature along the rays, never from a grid of the working size: no inverse crime.

use candle_core::{DType, Device, Tensor};
use funknn_core::{ContinuousImage, Jet, JetOrder, KernelInterpolant, KernelKind};

use crate::function::CoreImage;
use crate::geometry::{ImageGrid, ParallelGeometry};
use crate::ray_transform::{MeshFreeConfig, MeshFreeTransform};
use crate::{Error, Result};

/// The cubic B-spline interpolant of an image `(C, h, w)` on the unit square, in f64, with
/// its exact derivatives.
///
/// ```
/// use funknn_inverse::{ImageGrid, ImagePhantom};
/// let pixels: Vec<f32> = (0..64).map(|k| (k % 8) as f32 / 8.0).collect();
/// let phantom = ImagePhantom::new(&pixels, 1, 8, 8)?;
/// // At its own pixel centres the interpolant gives the pixels back.
/// let same = phantom.render(&ImageGrid::square(8)?)?;
/// assert!(same.iter().zip(&pixels).all(|(a, b)| (a - *b as f64).abs() < 1e-9));
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImagePhantom {
    image: Tensor,
    channels: usize,
}

impl ImagePhantom {
    /// From `C·h·w` finite values, row-major `(C, h, w)`.
    pub fn new(pixels: &[f32], channels: usize, height: usize, width: usize) -> Result<Self> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(Error::invalid(
                "image",
                format!("{channels} channels of {height}×{width}: empty"),
            ));
        }
        crate::error::check_len("image", pixels.len(), channels * height * width)?;
        crate::scalar::check_finite("image", pixels)?;
        let image = Tensor::from_vec(pixels.to_vec(), (1, channels, height, width), &Device::Cpu)?
            .to_dtype(DType::F64)?;
        Ok(ImagePhantom { image, channels })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// `(h, w)` of the discrete image.
    pub fn size(&self) -> Result<(usize, usize)> {
        let (_, _, h, w) = self.image.dims4()?;
        Ok((h, w))
    }

    /// The interpolant with derivatives up to `order`, as a funknn-core continuous image.
    pub fn interpolant(&self, order: JetOrder) -> Result<KernelInterpolant> {
        Ok(KernelInterpolant::new(
            KernelKind::Bspline,
            &self.image,
            order,
        )?)
    }

    /// The jet at `points` (f64 parts `(parts, 1, P, C)`).
    pub fn jet(&self, points: &[[f64; 2]], order: JetOrder) -> Result<Jet> {
        let flat: Vec<f64> = points.iter().flat_map(|p| [p[0], p[1]]).collect();
        let t = Tensor::from_vec(flat, (1, points.len(), 2), &Device::Cpu)?;
        Ok(self.interpolant(order)?.evaluate(&t)?)
    }

    /// The values at the pixel centres of `grid`: `(C, H, W)` row-major.
    pub fn render(&self, grid: &ImageGrid) -> Result<Vec<f64>> {
        let value = self.jet(&grid.centres(), JetOrder::Value)?.value()?; // (1, P, C)
        let v: Vec<f64> = value.squeeze(0)?.t()?.flatten_all()?.to_vec1()?;
        Ok(v)
    }

    /// The exact sinogram (to quadrature accuracy) of a grey image's interpolant, zero
    /// outside the unit square.
    pub fn sinogram(
        &self,
        geometry: &ParallelGeometry,
        config: MeshFreeConfig,
    ) -> Result<Vec<f64>> {
        if self.channels != 1 {
            return Err(Error::invalid(
                "image",
                format!(
                    "CT needs a grey image, this one has {} channels",
                    self.channels
                ),
            ));
        }
        let u = self.interpolant(JetOrder::Value)?;
        MeshFreeTransform::new(geometry.clone(), config)?.project(&CoreImage::new(&u, 0))
    }
}
