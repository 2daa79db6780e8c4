//! The ray transform as a candle op: its backward is the adjoint (and the adjoint's backward
//! is the forward), so any loss on a sinogram backpropagates to the image, and through
//! whatever rendered the image.

use std::sync::Arc;

use candle_core::{backend::BackendStorage, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::RayTransform;
use crate::operator::LinearOperator;
use crate::{Error, Result, Scalar};

/// A shareable handle on a [`RayTransform`] that applies it to candle tensors on the CPU:
/// `(…, H, W)` images to `(…, A, D)` sinograms, f32 or f64, differentiably.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use funknn_inverse::{ImageGrid, ParallelGeometry, RayTransform, RayTransformOp};
///
/// let rt = RayTransform::new(ImageGrid::square(16)?, ParallelGeometry::limited_view(16)?)?;
/// let op = RayTransformOp::new(rt);
/// let x = Var::ones((16, 16), candle_core::DType::F32, &Device::Cpu)?;
/// let loss = op.forward(x.as_tensor())?.sqr()?.sum_all()?;
/// let grad = loss.backward()?.get(x.as_tensor()).unwrap().clone();
/// assert_eq!(grad.dims(), &[16, 16]);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
#[derive(Clone)]
pub struct RayTransformOp {
    transform: Arc<RayTransform>,
}

impl RayTransformOp {
    /// Wraps `transform`.
    pub fn new(transform: RayTransform) -> Self {
        RayTransformOp {
            transform: Arc::new(transform),
        }
    }

    /// The wrapped transform.
    pub fn transform(&self) -> &RayTransform {
        &self.transform
    }

    /// Sinograms `(…, A, D)` of images `(…, H, W)`.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        self.check(images, false)?;
        Ok(images
            .contiguous()?
            .apply_op1(Forward(self.transform.clone()))?)
    }

    /// Back-projections `(…, H, W)` of sinograms `(…, A, D)`: the adjoint.
    pub fn adjoint(&self, sinograms: &Tensor) -> Result<Tensor> {
        self.check(sinograms, true)?;
        Ok(sinograms
            .contiguous()?
            .apply_op1(Adjoint(self.transform.clone()))?)
    }

    fn check(&self, t: &Tensor, adjoint: bool) -> Result<()> {
        let rt = &self.transform;
        let want = if adjoint {
            LinearOperator::<f32>::range(rt.as_ref())
        } else {
            LinearOperator::<f32>::domain(rt.as_ref())
        };
        let dims = t.dims();
        let name = if adjoint { "sinogram" } else { "image" };
        if dims.len() < 2 || dims[dims.len() - 2..] != want[..] {
            return Err(Error::shape(
                name,
                format!("(…, {}, {})", want[0], want[1]),
                dims,
            ));
        }
        if !t.device().is_cpu() {
            return Err(Error::invalid(
                name,
                "the ray transform runs on the CPU; move the tensor with to_device(&Device::Cpu)",
            ));
        }
        Ok(())
    }
}

fn run<T: Scalar>(
    rt: &RayTransform,
    data: &[T],
    layout: &Layout,
    adjoint: bool,
) -> candle_core::Result<(Vec<T>, Shape)> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::msg("ray transform: input must be contiguous"))?;
    let data = &data[start..end];
    let (inner, outer) = if adjoint {
        (
            LinearOperator::<T>::range_len(rt),
            LinearOperator::<T>::domain(rt),
        )
    } else {
        (
            LinearOperator::<T>::domain_len(rt),
            LinearOperator::<T>::range(rt),
        )
    };
    let batch = data.len() / inner;
    let out_len = outer[0] * outer[1];
    let mut out = vec![T::zero(); batch * out_len];
    for (x, y) in data.chunks(inner).zip(out.chunks_mut(out_len)) {
        let r = if adjoint {
            rt.adjoint(x, y)
        } else {
            rt.apply(x, y)
        };
        r.map_err(|e| candle_core::Error::msg(e.to_string()))?;
    }
    let mut dims = layout.dims()[..layout.dims().len() - 2].to_vec();
    dims.extend_from_slice(&outer);
    Ok((out, Shape::from(dims)))
}

fn cpu(
    rt: &RayTransform,
    storage: &CpuStorage,
    layout: &Layout,
    adjoint: bool,
    name: &str,
) -> candle_core::Result<(CpuStorage, Shape)> {
    match storage {
        CpuStorage::F32(v) => run(rt, v, layout, adjoint).map(|(o, s)| (CpuStorage::F32(o), s)),
        CpuStorage::F64(v) => run(rt, v, layout, adjoint).map(|(o, s)| (CpuStorage::F64(o), s)),
        other => Err(candle_core::Error::msg(format!(
            "{name}: f32 or f64 tensors only, got {:?}",
            other.dtype()
        ))),
    }
}

struct Forward(Arc<RayTransform>);
struct Adjoint(Arc<RayTransform>);

impl CustomOp1 for Forward {
    fn name(&self) -> &'static str {
        "ray-transform"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu(&self.0, s, l, false, self.name())
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Adjoint(self.0.clone()))?))
    }
}

impl CustomOp1 for Adjoint {
    fn name(&self) -> &'static str {
        "ray-transform-adjoint"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu(&self.0, s, l, true, self.name())
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Forward(self.0.clone()))?))
    }
}
