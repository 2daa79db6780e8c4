//! The plain kernel interpolant of an image, as a continuous image: what FunkNN's skip
//! connection adds to the network's output, on its own.
//!
//! `funknn upsample` renders an alpha channel with it (the network never saw alpha, and a
//! cut-out's edge should stay where the interpolant puts it), and it is the baseline any
//! FunkNN is measured against.

use candle_core::{DType, Device, Tensor};

use crate::config::KernelKind;
use crate::engine::evaluator::ContinuousImage;
use crate::jet::{Jet, JetOrder};
use crate::real::Real;
use crate::sampler::host::{sample_host, HostImages};
use crate::sampler::patch::host_points;
use crate::sampler::prefilter::bspline_coefficients;
use crate::{Error, Result};

enum Samples {
    F32(HostImages<f32>),
    F64(HostImages<f64>),
}

/// `u(x) = Σ k(x − x_ij) c_ij` for a kernel `k` (the B-spline's coefficients `c` come from
/// its prefilter; the other kernels interpolate the pixels directly), with the same border
/// reflection and the same jets as the patch sampler's centre sample.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use funknn_core::{ContinuousImage, JetOrder, KernelInterpolant, KernelKind};
///
/// let image = Tensor::rand(0f32, 1., (1, 1, 8, 8), &Device::Cpu)?;
/// let u = KernelInterpolant::new(KernelKind::Bspline, &image, JetOrder::Laplacian)?;
/// // At a pixel centre an interpolating kernel gives the pixel back.
/// let jet = u.evaluate(&Tensor::new(&[[[2.5f32 / 8., 5.5 / 8.]]], &Device::Cpu)?)?;
/// let value: f32 = jet.value()?.flatten_all()?.to_vec1::<f32>()?[0];
/// let pixel: f32 = image.get(0)?.get(0)?.get(5)?.get(2)?.to_scalar()?;
/// assert!((value - pixel).abs() < 1e-5);
/// # Ok::<(), funknn_core::Error>(())
/// ```
pub struct KernelInterpolant {
    kernel: KernelKind,
    samples: Samples,
    order: JetOrder,
    n_images: usize,
    channels: usize,
    dtype: DType,
    device: Device,
}

impl KernelInterpolant {
    /// The interpolant of `images` `(N, C, H, W)` (f32 or f64), evaluated with jets of `order`.
    pub fn new(kernel: KernelKind, images: &Tensor, order: JetOrder) -> Result<Self> {
        let (n, c, h, w) = images.dims4().map_err(|_| Error::Shape {
            name: "images",
            expected: "(N, C, H, W)".into(),
            got: images.dims().to_vec(),
        })?;
        if h == 0 || w == 0 {
            return Err(Error::invalid("images", "an image has no pixels"));
        }
        let images = images.detach();
        let prepared = if kernel.needs_prefilter() {
            bspline_coefficients(&images)?
        } else {
            images.clone()
        };
        let samples = match images.dtype() {
            DType::F64 => Samples::F64(HostImages::new(&prepared)?),
            _ => Samples::F32(HostImages::new(&prepared)?),
        };
        Ok(KernelInterpolant {
            kernel,
            samples,
            order,
            n_images: n,
            channels: c,
            dtype: match images.dtype() {
                DType::F64 => DType::F64,
                _ => DType::F32,
            },
            device: images.device().clone(),
        })
    }
}

impl KernelInterpolant {
    fn sample<T: Real>(
        &self,
        images: &HostImages<T>,
        points: &[(usize, f64, f64)],
        shape: (usize, usize, usize, usize),
    ) -> Result<Tensor> {
        let mut out = Vec::new();
        // A 1×1 patch with no offset is the sample at the point itself.
        let (w, offsets, ws) = (1, [0.0], (1.0, 1.0));
        let (kernel, order) = (self.kernel, self.order);
        sample_host(
            kernel, w, &offsets, &offsets, images, points, ws, order, &mut out,
        )?;
        Ok(Tensor::from_vec(out, shape, &self.device)?)
    }
}

impl ContinuousImage for KernelInterpolant {
    fn evaluate(&self, points: &Tensor) -> Result<Jet> {
        let (_, p, _) = points.dims3().map_err(|_| Error::Shape {
            name: "points",
            expected: "(N, P, 2)".into(),
            got: points.dims().to_vec(),
        })?;
        let pts = host_points(points, self.n_images)?;
        let shape = (self.order.parts(), self.n_images, p, self.channels);
        let parts = match &self.samples {
            Samples::F32(images) => self.sample(images, &pts, shape)?,
            Samples::F64(images) => self.sample(images, &pts, shape)?,
        };
        Jet::new(parts, self.order)
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
