//! One level down the Laplacian pyramid on the CPU: the 5×5 Gaussian blur with zero
//! padding, every other pixel kept, as one separable pass, and its transpose.
//!
//! candle runs the pyramid's depthwise convolution on one thread and backpropagates it
//! through `conv_transpose2d`; in a 64² autoencoder step that was 2 % of the time with
//! the other core idle. The Gaussian of the official loss is separable (`exp(−(x² + y²)/2)
//! = exp(−x²/2)·exp(−y²/2)`, normalised either way), so five taps along each axis give the
//! same values up to rounding.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use crate::autoencoder::im2col::{dims4, float_kernel, supported};
use crate::autoencoder::threads;
use crate::matmul::Float;

const OP: &str = "pyramid blur";

/// The normalised 1-d Gaussian of σ = 1 on the taps −2 ..= 2.
fn taps() -> [f64; 5] {
    let g = [-2.0f64, -1.0, 0.0, 1.0, 2.0].map(|x| (-0.5 * x * x).exp());
    let total: f64 = g.iter().sum();
    g.map(|v| v / total)
}

/// `(N, C, H, W)` → `(N, C, ⌈H/2⌉, ⌈W/2⌉)`: the blur, sampled at the even pixels.
struct BlurDown;

/// `(N, C, ⌈H/2⌉, ⌈W/2⌉)` → `(N, C, H, W)`: the transpose of [`BlurDown`] (values put back
/// at the even pixels, zeros between, blurred: the kernel is symmetric). `H` and `W` are
/// the sizes it was sampled from.
struct BlurDownTranspose {
    h: usize,
    w: usize,
}

/// `out[i] = Σ_k g[k]·src[2i + k − 2]` (`step` 2) or `Σ_k g[k]·src[i + k − 2]` (`step` 1),
/// zero outside `src`; `src` and `out` strided by `s` and `o`.
#[inline(always)]
fn taps_along<T: Float>(
    g: &[T; 5],
    src: &[T],
    n: usize,
    s: usize,
    step: usize,
    out: &mut [T],
    o: usize,
) {
    for (i, slot) in out.iter_mut().step_by(o).enumerate() {
        let centre = (step * i) as isize;
        let mut acc = T::zero();
        for (k, &gk) in g.iter().enumerate() {
            let at = centre + k as isize - 2;
            if at >= 0 && (at as usize) < n {
                acc += gk * src[at as usize * s];
            }
        }
        *slot = acc;
    }
}

fn blur_down_kernel<T: Float>(x: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let plane = oh * ow;
    if plane == 0 {
        return Vec::new();
    }
    let g = taps().map(T::from_f64);
    let t = threads::elementwise(planes * h * w, planes);
    threads::build(planes, plane, t, |first, out| {
        // Rows first, at the kept columns only.
        let mut rows = vec![T::zero(); h * ow];
        for (p, dst) in out.chunks_exact_mut(plane).enumerate() {
            let src = &x[(first + p) * h * w..][..h * w];
            for (r, line) in rows.chunks_exact_mut(ow).enumerate() {
                taps_along(&g, &src[r * w..], w, 1, 2, line, 1);
            }
            for j in 0..ow {
                taps_along(&g, &rows[j..], h, ow, 2, &mut dst[j..], ow);
            }
        }
    })
}

fn blur_down_transpose_kernel<T: Float>(y: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let plane = h * w;
    if plane == 0 {
        return Vec::new();
    }
    let g = taps().map(T::from_f64);
    let t = threads::elementwise(planes * plane, planes);
    threads::build(planes, plane, t, |first, out| {
        let mut up = vec![T::zero(); h * w];
        let mut rows = vec![T::zero(); h * w];
        for (p, dst) in out.chunks_exact_mut(plane).enumerate() {
            let src = &y[(first + p) * oh * ow..][..oh * ow];
            up.fill(T::zero());
            for i in 0..oh {
                for j in 0..ow {
                    up[2 * i * w + 2 * j] = src[i * ow + j];
                }
            }
            for (r, line) in rows.chunks_exact_mut(w).enumerate() {
                taps_along(&g, &up[r * w..], w, 1, 1, line, 1);
            }
            for j in 0..w {
                taps_along(&g, &rows[j..], h, w, 1, &mut dst[j..], w);
            }
        }
    })
}

impl CustomOp1 for BlurDown {
    fn name(&self) -> &'static str {
        "pyramid-blur-down"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(OP, l, "the image")?;
        let out = float_kernel!(OP, s, l, |x| blur_down_kernel(x, n * c, h, w))?;
        Ok((out, Shape::from((n, c, h.div_ceil(2), w.div_ceil(2)))))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = x.dims4()?;
        Ok(Some(
            grad.contiguous()?.apply_op1(BlurDownTranspose { h, w })?,
        ))
    }
}

impl CustomOp1 for BlurDownTranspose {
    fn name(&self) -> &'static str {
        "pyramid-blur-down-transpose"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, oh, ow) = dims4(OP, l, "the gradient")?;
        let (h, w) = (self.h, self.w);
        if (oh, ow) != (h.div_ceil(2), w.div_ceil(2)) {
            candle_core::bail!("{OP}: a {oh}×{ow} gradient for a {h}×{w} image");
        }
        let out = float_kernel!(OP, s, l, |x| blur_down_transpose_kernel(x, n * c, h, w))?;
        Ok((out, Shape::from((n, c, h, w))))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(BlurDown)?))
    }
}

/// `x` `(N, C, H, W)` blurred by the pyramid's 5×5 Gaussian (σ = 1, zero padding) and
/// sampled at the even pixels: this kernel on f32 and f64 CPU tensors, candle's depthwise
/// `conv2d` elsewhere.
pub(crate) fn blur_down(x: &Tensor) -> Result<Tensor> {
    if supported(x) {
        x.contiguous()?.apply_op1(BlurDown)
    } else {
        blur_down_by_convolution(x)
    }
}

/// [`blur_down`] by candle's ops: the 5×5 kernel as the official loss builds it, then
/// `x[:, :, ::2, ::2]`.
fn blur_down_by_convolution(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let g = taps();
    let k: Vec<f64> = g
        .iter()
        .flat_map(|a| g.iter().map(move |b| a * b))
        .collect();
    let kernel = Tensor::from_vec(k, (1, 1, 5, 5), x.device())?
        .to_dtype(x.dtype())?
        .repeat((c, 1, 1, 1))?;
    // Padded to even sides so that the rows and columns pair up.
    let blurred = x
        .conv2d(&kernel, 2, 1, 1, c)?
        .pad_with_zeros(2, 0, h % 2)?
        .pad_with_zeros(3, 0, w % 2)?;
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    blurred
        .reshape((n, c, oh, 2, ow, 2))?
        .narrow(3, 0, 1)?
        .narrow(5, 0, 1)?
        .reshape((n, c, oh, ow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::im2col::tests::{max_abs_diff as max_diff, tensor};
    use candle_core::Var;

    /// The separable pass equals candle's 5×5 depthwise convolution, sampled, for even and
    /// odd sides; its backward is its transpose (⟨Bx, y⟩ = ⟨x, Bᵀy⟩) and candle's gradient.
    #[test]
    fn matches_the_convolution_and_its_transpose() {
        for shape in [[2, 1, 8, 8], [1, 3, 7, 5], [3, 2, 64, 64], [1, 1, 1, 3]] {
            let x = Var::from_tensor(&tensor(&shape, 1)).unwrap();
            let ours = blur_down(x.as_tensor()).unwrap();
            let by_convolution = blur_down_by_convolution(x.as_tensor()).unwrap();
            assert_eq!(ours.dims(), by_convolution.dims());
            assert!(max_diff(&ours, &by_convolution) < 1e-14, "{shape:?}");
            let probe = tensor(ours.dims(), 2);
            let g1 = (&ours * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (&by_convolution * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let (a, b) = (
                g1.get(x.as_tensor()).unwrap(),
                g2.get(x.as_tensor()).unwrap(),
            );
            assert!(max_diff(a, b) < 1e-14, "{shape:?}");
            // The transpose's own backward is the blur again.
            let y = Var::from_tensor(&probe).unwrap();
            let (h, w) = (shape[2], shape[3]);
            let bt = y.as_tensor().apply_op1(BlurDownTranspose { h, w }).unwrap();
            let x0 = x.as_tensor().detach();
            let lhs: f64 = (&ours * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            let rhs: f64 = (&bt * &x0).unwrap().sum_all().unwrap().to_scalar().unwrap();
            assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "{shape:?}");
            let g3 = (bt * &x0).unwrap().sum_all().unwrap().backward().unwrap();
            let bx = blur_down(&x0).unwrap();
            assert!(
                max_diff(g3.get(y.as_tensor()).unwrap(), &bx) < 1e-14,
                "{shape:?}"
            );
        }
    }
}
