//! The encoder's 2×2 max-pooling on the CPU, forward and backward each one pass over the
//! pixels on all cores.
//!
//! candle's CPU max-pool runs on one thread, and its backward is seven more passes (the
//! output upsampled, compared with the input, the mask averaged, multiplied, upsampled
//! again): about 5 % of a 64² training step, with the other core idle.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};

use crate::autoencoder::im2col::{by_dtype, contiguous, dims4, float_kernel, supported};
use crate::autoencoder::threads;
use crate::matmul::Float;

const OP: &str = "max-pool 2×2";

/// `(N, C, H, W)` → `(N, C, ⌊H/2⌋, ⌊W/2⌋)`, the maximum of each 2×2 block (a last odd row
/// or column is dropped, as candle's and PyTorch's pooling do).
struct MaxPool2x2;

/// `(x, y, dy) → dx`: each block's gradient to the first of its pixels, in reading order,
/// that holds the maximum (PyTorch's choice; candle shares it among ties. Ties have
/// measure zero except at a preceding ReLU's zeros, whose gradient that ReLU masks).
struct MaxPool2x2Gradient;

fn pool<T: Float>(x: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let plane = oh * ow;
    if plane == 0 {
        return Vec::new();
    }
    let t = threads::elementwise(planes * h * w, planes);
    threads::build(planes, plane, t, |first, out| {
        for (p, dst) in out.chunks_exact_mut(plane).enumerate() {
            let src = &x[(first + p) * h * w..][..h * w];
            for (i, line) in dst.chunks_exact_mut(ow).enumerate() {
                let (r0, r1) = (&src[2 * i * w..][..w], &src[(2 * i + 1) * w..][..w]);
                for (j, o) in line.iter_mut().enumerate() {
                    *o = block_max([r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]]).1;
                }
            }
        }
    })
}

/// The first position of the maximum of a block in reading order, and the maximum, with
/// candle's comparison (a NaN is never greater, so a block starting with one stays NaN).
#[inline(always)]
fn block_max<T: Float>(v: [T; 4]) -> (usize, T) {
    let mut best = (0, v[0]);
    for (k, &x) in v.iter().enumerate().skip(1) {
        if x > best.1 {
            best = (k, x);
        }
    }
    best
}

fn pool_gradient<T: Float>(x: &[T], dy: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let plane = h * w;
    if plane == 0 {
        return Vec::new();
    }
    let t = threads::elementwise(planes * plane, planes);
    threads::build(planes, plane, t, |first, out| {
        for (p, dst) in out.chunks_exact_mut(plane).enumerate() {
            let src = &x[(first + p) * plane..][..plane];
            let g = &dy[(first + p) * oh * ow..][..oh * ow];
            for i in 0..oh {
                let (r0, r1) = (&src[2 * i * w..][..w], &src[(2 * i + 1) * w..][..w]);
                let (d0, d1) = dst[2 * i * w..][..2 * w].split_at_mut(w);
                for j in 0..ow {
                    let (k, _) = block_max([r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]]);
                    let row = if k < 2 { &mut *d0 } else { &mut *d1 };
                    row[2 * j + (k & 1)] = g[i * ow + j];
                }
            }
        }
    })
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "max-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(OP, l, "the image")?;
        let out = float_kernel!(OP, s, l, |x| pool(x, n * c, h, w))?;
        Ok((out, Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op3_no_bwd(
            y,
            &grad.contiguous()?,
            &MaxPool2x2Gradient,
        )?))
    }
}

impl CustomOp3 for MaxPool2x2Gradient {
    fn name(&self) -> &'static str {
        "max-pool-2x2-gradient"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        _: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(OP, l1, "the image")?;
        let pooled = [n, c, h / 2, w / 2];
        if l2.dims() != pooled || l3.dims() != pooled {
            candle_core::bail!(
                "{OP}: output {:?} and gradient {:?} for an image {:?}",
                l2.dims(),
                l3.dims(),
                l1.dims()
            );
        }
        let out = by_dtype(
            OP,
            s1,
            || {
                let (x, dy) = (contiguous(OP, s1, l1)?, contiguous(OP, s3, l3)?);
                Ok(CpuStorage::F32(pool_gradient(x, dy, n * c, h, w)))
            },
            || {
                let (x, dy) = (contiguous(OP, s1, l1)?, contiguous(OP, s3, l3)?);
                Ok(CpuStorage::F64(pool_gradient(x, dy, n * c, h, w)))
            },
        )?;
        Ok((out, l1.shape().clone()))
    }
}

/// `x` `(N, C, H, W)` max-pooled by 2×2 blocks: this kernel on f32 and f64 CPU tensors,
/// two max reductions elsewhere (not candle's `max_pool2d`, whose backward divides each
/// gradient by four where the maximum is unique).
pub(crate) fn max_pool_2x2(x: &Tensor) -> Result<Tensor> {
    if supported(x) {
        return x.contiguous()?.apply_op1(MaxPool2x2);
    }
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / 2, w / 2);
    x.narrow(2, 0, 2 * oh)?
        .narrow(3, 0, 2 * ow)?
        .reshape((n, c, oh, 2, ow, 2))?
        .max(5)?
        .max(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::im2col::tests::{max_abs_diff, tensor};
    use candle_core::{DType, Device, Var};

    fn diff(a: &Tensor, b: &Tensor) -> f64 {
        let f64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        max_abs_diff(&f64(a), &f64(b))
    }

    /// Values equal candle's, and gradients finite differences of `⟨pool(x), probe⟩`
    /// (candle's own max-pool backward is not a reference: it scales each gradient by the
    /// share of the block that holds the maximum, a quarter for a unique one), on inputs
    /// without ties (odd sides included, and one large enough to be split over the
    /// threads), in f32 and f64.
    #[test]
    fn matches_candle_and_finite_differences() {
        for dtype in [DType::F32, DType::F64] {
            for (n, c, h, w) in [(2, 3, 4, 6), (1, 1, 2, 2), (3, 2, 7, 5), (4, 8, 64, 64)] {
                let x0 = tensor(&[n, c, h, w], 1);
                let x = Var::from_tensor(&x0.to_dtype(dtype).unwrap()).unwrap();
                let probe = tensor(&[n, c, h / 2, w / 2], 2);
                let ours = max_pool_2x2(x.as_tensor()).unwrap();
                let theirs = x.as_tensor().max_pool2d(2).unwrap();
                assert_eq!(ours.dims(), theirs.dims());
                assert_eq!(diff(&ours, &theirs), 0.0);
                let g = (ours * probe.to_dtype(dtype).unwrap())
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let dx: Vec<f64> = g
                    .get(x.as_tensor())
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                // Central differences in f64 at about 300 pixels of each input: the values
                // lie 1e-4 apart, so a step of 1e-6 keeps every block's maximum in place.
                let f = |x: &Tensor| -> f64 {
                    (max_pool_2x2(x).unwrap() * &probe)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap()
                };
                let flat: Vec<f64> = x0.flatten_all().unwrap().to_vec1().unwrap();
                let eps = 1e-6;
                for i in (0..flat.len()).step_by((flat.len() / 300).max(1)) {
                    let at = |d: f64| {
                        let mut v = flat.clone();
                        v[i] += d;
                        Tensor::from_vec(v, (n, c, h, w), &Device::Cpu).unwrap()
                    };
                    let fd = (f(&at(eps)) - f(&at(-eps))) / (2.0 * eps);
                    assert!(
                        (fd - dx[i]).abs() < 1e-6,
                        "{:?} at {i}: {fd} vs {}",
                        (n, c, h, w),
                        dx[i]
                    );
                }
            }
        }
    }

    /// A tied block sends its whole gradient to its first maximum, in reading order.
    #[test]
    fn ties_go_to_the_first_maximum() {
        let x = Tensor::from_vec(vec![0f32, 2.0, 2.0, 1.0], (1, 1, 2, 2), &Device::Cpu).unwrap();
        let x = Var::from_tensor(&x).unwrap();
        let y = max_pool_2x2(x.as_tensor()).unwrap();
        let g = (y * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
        let dx: Vec<f32> = g
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(dx, [0.0, 3.0, 0.0, 0.0]);
    }
}
