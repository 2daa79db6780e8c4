//! The decoder's 2× nearest-neighbour upsampling on the CPU, with a backward that is a
//! plain 2×2 sum.
//!
//! candle backpropagates `upsample_nearest2d` through a depthwise strided convolution,
//! one small convolution per channel on the CPU: in a latent step of a 64² decoder it cost
//! as much as the decoder's forward pass. Here both directions are one pass over the
//! pixels, and each is the other's backward, so the pair stays differentiable to any order.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use crate::autoencoder::im2col::{dims4, float_kernel, supported};
use crate::autoencoder::threads;
use crate::matmul::Float;

/// `(N, C, H, W)` → `(N, C, 2H, 2W)`, every pixel repeated in a 2×2 block.
struct Upsample2x;

/// `(N, C, 2H, 2W)` → `(N, C, H, W)`, the sum of each 2×2 block: the transpose of
/// [`Upsample2x`].
struct BlockSum2x;

fn upsample<T: Float>(x: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let plane = 4 * h * w;
    if plane == 0 {
        return Vec::new();
    }
    let t = threads::elementwise(planes * plane, planes);
    threads::build(planes, plane, t, |first, out| {
        for (src, dst) in x[first * h * w..]
            .chunks_exact(h * w)
            .zip(out.chunks_exact_mut(plane))
        {
            for (row, pair) in src.chunks_exact(w).zip(dst.chunks_exact_mut(4 * w)) {
                let (top, bottom) = pair.split_at_mut(2 * w);
                for (&v, px) in row.iter().zip(top.chunks_exact_mut(2)) {
                    px[0] = v;
                    px[1] = v;
                }
                bottom.copy_from_slice(top);
            }
        }
    })
}

fn block_sum<T: Float>(y: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let plane = h * w;
    if plane == 0 {
        return Vec::new();
    }
    let t = threads::elementwise(4 * planes * plane, planes);
    threads::build(planes, plane, t, |first, out| {
        for (src, dst) in y[4 * first * plane..]
            .chunks_exact(4 * plane)
            .zip(out.chunks_exact_mut(plane))
        {
            for (rows, line) in src.chunks_exact(4 * w).zip(dst.chunks_exact_mut(w)) {
                let (top, bottom) = rows.split_at(2 * w);
                for ((t, b), o) in top.chunks_exact(2).zip(bottom.chunks_exact(2)).zip(line) {
                    *o = t[0] + t[1] + b[0] + b[1];
                }
            }
        }
    })
}

impl CustomOp1 for Upsample2x {
    fn name(&self) -> &'static str {
        "upsample-nearest-2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        const OP: &str = "upsample";
        let (n, c, h, w) = dims4(OP, l, "the image")?;
        let out = float_kernel!(OP, s, l, |x| upsample(x, n * c, h, w))?;
        Ok((out, Shape::from((n, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(BlockSum2x)?))
    }
}

impl CustomOp1 for BlockSum2x {
    fn name(&self) -> &'static str {
        "block-sum-2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        const OP: &str = "block sum";
        let (n, c, h2, w2) = dims4(OP, l, "the gradient")?;
        if h2 % 2 != 0 || w2 % 2 != 0 {
            candle_core::bail!("{OP}: even sizes, got {h2}×{w2}");
        }
        let (h, w) = (h2 / 2, w2 / 2);
        let out = float_kernel!(OP, s, l, |x| block_sum(x, n * c, h, w))?;
        Ok((out, Shape::from((n, c, h, w))))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Upsample2x)?))
    }
}

/// `x` `(N, C, H, W)` upsampled to `(N, C, 2H, 2W)` by repeating pixels: this kernel on f32
/// and f64 CPU tensors, a broadcast elsewhere (not candle's `upsample_nearest2d`, whose
/// backward replaces the gradient its input has gathered from other uses instead of adding
/// to it).
pub(crate) fn upsample_nearest_2x(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if supported(x) {
        x.contiguous()?.apply_op1(Upsample2x)
    } else {
        x.reshape((n, c, h, 1, w, 1))?
            .broadcast_as((n, c, h, 2, w, 2))?
            .reshape((n, c, 2 * h, 2 * w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::im2col::tests::{max_abs_diff, tensor};
    use candle_core::{DType, Device, Var};

    /// Values and gradients equal candle's upsampling, and the second derivative (the
    /// backward of the backward) is the upsampling again.
    #[test]
    fn matches_candle_and_differentiates_twice() {
        for (n, c, h, w) in [(2, 3, 4, 5), (1, 1, 1, 1), (3, 2, 8, 2)] {
            let x = Var::from_tensor(&tensor(&[n, c, h, w], 1)).unwrap();
            let probe = tensor(&[n, c, 2 * h, 2 * w], 2);
            let ours = upsample_nearest_2x(x.as_tensor()).unwrap();
            let theirs = x.as_tensor().upsample_nearest2d(2 * h, 2 * w).unwrap();
            assert_eq!(max_abs_diff(&ours, &theirs), 0.0);
            let g1 = (ours * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (theirs * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let (a, b) = (
                g1.get(x.as_tensor()).unwrap(),
                g2.get(x.as_tensor()).unwrap(),
            );
            assert!(max_abs_diff(a, b) < 1e-12, "{:?}", (n, c, h, w));
            // ⟨U x, y⟩ = ⟨x, Uᵀ y⟩, with Uᵀ the block sum, differentiated by y: U x.
            let y = Var::from_tensor(&probe).unwrap();
            let x0 = x.as_tensor().detach();
            let ut_y = y
                .as_tensor()
                .contiguous()
                .unwrap()
                .apply_op1(BlockSum2x)
                .unwrap();
            let g3 = (ut_y * &x0).unwrap().sum_all().unwrap().backward().unwrap();
            let u_x = upsample_nearest_2x(&x0).unwrap();
            assert_eq!(max_abs_diff(g3.get(y.as_tensor()).unwrap(), &u_x), 0.0);
        }
        // An empty image is an empty result, not a panic.
        let empty = Tensor::zeros((2, 1, 0, 3), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(upsample_nearest_2x(&empty).unwrap().dims(), &[2, 1, 0, 6]);
    }
}
