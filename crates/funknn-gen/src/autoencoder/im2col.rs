//! The CPU kernel of the 3×3 'same' convolution: im2col and one matrix product per group of
//! images, for the forward pass and for the weight gradient.
//!
//! candle's CPU convolution backpropagates through `conv_transpose2d` and a convolution
//! with the batch as channels, which made an autoencoder step 5–6× slower than PyTorch's;
//! here the input gradient is the forward kernel again (with the kernel flipped and its
//! channels swapped, so it stays differentiable) and the weight gradient one product of the
//! output gradient with the im2col matrix.

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType,
};

use crate::matmul::matmul;
use crate::matmul::Float;

use super::threads::{self, inner_threads, threads};
use super::winograd;

/// The name of the convolution's CPU ops in errors.
const OP: &str = "conv3x3";

/// Columns per matrix product: images are grouped until their pixels fill this many, so that
/// the small stages (2×2 to 8×8) still make products wide enough to run at full speed.
const COLUMNS: usize = 1024;

/// `(N, C, H, W)` with the kernel's `3 × 3`: the only shape the autoencoder uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub(crate) n: usize,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
}

impl Dims {
    pub(crate) fn pixels(&self) -> usize {
        self.h * self.w
    }
    fn group(&self) -> usize {
        threads::group(COLUMNS, self.pixels(), self.n)
    }
}

/// Writes the im2col matrix of images `x` (`g` images, each `cin × h × w`) into `col`, row
/// `c·9 + ky·3 + kx`, column `b·h·w + y·w + x`, zero outside the image.
fn im2col<T: Float>(x: &[T], g: usize, d: &Dims, col: &mut [T]) {
    let (h, w, hw) = (d.h, d.w, d.pixels());
    let cols = g * hw;
    for c in 0..d.cin {
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &mut col[(c * 9 + ky * 3 + kx) * cols..][..cols];
                for b in 0..g {
                    let src = &x[(b * d.cin + c) * hw..][..hw];
                    let dst = &mut row[b * hw..][..hw];
                    for y in 0..h {
                        let out = &mut dst[y * w..][..w];
                        let sy = y as isize + ky as isize - 1;
                        if sy < 0 || sy >= h as isize {
                            out.fill(T::zero());
                            continue;
                        }
                        let line = &src[sy as usize * w..][..w];
                        // Column x reads line[x + kx - 1].
                        match kx {
                            0 => {
                                out[0] = T::zero();
                                out[1..].copy_from_slice(&line[..w - 1]);
                            }
                            1 => out.copy_from_slice(line),
                            _ => {
                                out[..w - 1].copy_from_slice(&line[1..]);
                                out[w - 1] = T::zero();
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `v ← v + bias`, then `max(v, 0)` if `relu`.
pub(crate) fn activate<T: Float>(v: &mut [T], bias: T, relu: bool) {
    if relu {
        for o in v {
            let x = *o + bias;
            *o = if x > T::zero() { x } else { T::zero() };
        }
    } else {
        for o in v {
            *o += bias;
        }
    }
}

/// `y = conv(x, w) + b`, then `max(y, 0)` if `relu`: `x` `(N, cin, h, w)`, `w`
/// `(cout, cin, 3, 3)`, `b` `(cout)`.
fn forward<T: Float>(x: &[T], w: &[T], bias: &[T], relu: bool, d: &Dims) -> Vec<T> {
    if winograd::applies(d) {
        return winograd::forward(x, w, bias, relu, d);
    }
    forward_im2col(x, w, bias, relu, d)
}

/// [`forward`] by im2col: the kernel of the narrow layers, and the reference of the
/// Winograd kernel's tests.
fn forward_im2col<T: Float>(x: &[T], w: &[T], bias: &[T], relu: bool, d: &Dims) -> Vec<T> {
    let hw = d.pixels();
    let per_image = d.cout * hw;
    if d.n * per_image == 0 {
        return Vec::new();
    }
    let group = d.group();
    let t = threads(d.n.div_ceil(group));
    let inner = inner_threads(t);
    // Scratch per thread: the im2col matrix and the products' staging.
    let init = || {
        (
            vec![T::zero(); d.cin * 9 * group * hw],
            vec![T::zero(); if group > 1 { d.cout * group * hw } else { 0 }],
        )
    };
    let run = |(col, out): &mut (Vec<T>, Vec<T>), first: usize, y: &mut [T]| {
        let images = y.len() / per_image;
        let mut b = 0;
        while b < images {
            let g = group.min(images - b);
            let xs = &x[(first + b) * d.cin * hw..][..g * d.cin * hw];
            im2col(xs, g, d, col);
            let cols = g * hw;
            if g == 1 {
                // One image: its output block is already (cout, hw), so no staging copy.
                let dst = &mut y[b * per_image..][..per_image];
                matmul(
                    d.cout,
                    hw,
                    d.cin * 9,
                    (w, d.cin * 9, 1),
                    (col, hw, 1),
                    dst,
                    hw,
                    false,
                    inner,
                );
                for co in 0..d.cout {
                    activate(&mut dst[co * hw..][..hw], bias[co], relu);
                }
            } else {
                matmul(
                    d.cout,
                    cols,
                    d.cin * 9,
                    (w, d.cin * 9, 1),
                    (col, cols, 1),
                    out,
                    cols,
                    false,
                    inner,
                );
                // (cout, g·hw) to (g, cout, hw), with the bias and the activation.
                for i in 0..g {
                    for co in 0..d.cout {
                        let dst = &mut y[((b + i) * d.cout + co) * hw..][..hw];
                        dst.copy_from_slice(&out[co * cols + i * hw..][..hw]);
                        activate(dst, bias[co], relu);
                    }
                }
            }
            b += g;
        }
    };
    // One group of images a task.
    threads::build_with(d.n, per_image, group, t, init, run)
}

/// `dw = Σ_b dy_b · col(x_b)ᵀ`: `(cout, cin, 3, 3)` for `x` `(N, cin, h, w)` and `dy`
/// `(N, cout, h, w)`. The products make `dwᵀ` `(cin·9, cout)` row-major, transposed at the
/// end: both operands are contiguous along the pixels, and `gemm`'s AVX-512 kernels run
/// such a product at a third of their speed into a row-major `dw` but at full speed into
/// its transpose (measured here: 31 against 84 GFLOP/s for 64 × 576 × 4096).
fn weight_gradient<T: Float>(x: &[T], dy: &[T], d: &Dims) -> Vec<T> {
    let hw = d.pixels();
    let k = d.cin * 9;
    if d.n == 0 || hw == 0 {
        return vec![T::zero(); d.cout * k];
    }
    let group = d.group();
    let groups = d.n.div_ceil(group);
    // A fixed set of tasks, a run of groups each, every one summing into its own partial
    // `dwᵀ`; the partials are then added in task order, so the result does not depend on
    // which thread ran which task. Four tasks a core let a slowed core take fewer.
    let per_task = groups.div_ceil(groups.min(4 * threads::cores()));
    let tasks = groups.div_ceil(per_task);
    let t = threads(tasks);
    let inner = inner_threads(t);
    let init = || {
        (
            vec![T::zero(); k * group * hw],
            vec![T::zero(); if group > 1 { d.cout * group * hw } else { 0 }],
        )
    };
    let run = |(col, grad): &mut (Vec<T>, Vec<T>), task: usize, dwt: &mut [T]| {
        let first = task * per_task * group;
        let images = (per_task * group).min(d.n - first);
        let mut b = 0;
        while b < images {
            let g = group.min(images - b);
            let at = first + b;
            im2col(&x[at * d.cin * hw..][..g * d.cin * hw], g, d, col);
            let cols = g * hw;
            // (g, cout, hw) to (cout, g·hw); one image's block is that already.
            let lhs: &[T] = if g == 1 {
                &dy[at * d.cout * hw..][..d.cout * hw]
            } else {
                for i in 0..g {
                    for co in 0..d.cout {
                        grad[co * cols + i * hw..][..hw]
                            .copy_from_slice(&dy[((at + i) * d.cout + co) * hw..][..hw]);
                    }
                }
                grad
            };
            matmul(
                k,
                d.cout,
                cols,
                (col, cols, 1),
                (lhs, 1, cols),
                dwt,
                d.cout,
                b > 0,
                inner,
            );
            b += g;
        }
    };
    let partials = threads::build_with(tasks, k * d.cout, 1, t, init, run);
    let mut parts = partials.chunks_exact(k * d.cout);
    let mut dwt = parts.next().map(<[T]>::to_vec).unwrap_or_default();
    for part in parts {
        for (a, b) in dwt.iter_mut().zip(part) {
            *a += *b;
        }
    }
    let mut dw = vec![T::zero(); d.cout * k];
    for (i, row) in dwt.chunks_exact(d.cout).enumerate() {
        for (co, &v) in row.iter().enumerate() {
            dw[co * k + i] = v;
        }
    }
    dw
}

/// The operand's values (`op` names the CPU op in errors; the upsampling shares these).
pub(crate) fn contiguous<'a, T: WithDType>(
    op: &str,
    s: &'a CpuStorage,
    l: &Layout,
) -> Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: operands must be contiguous"),
    }
}

/// Runs `f32_kernel` or `f64_kernel`, whichever type the operands have (mixed types are
/// refused by [`contiguous`] inside them).
pub(crate) fn by_dtype(
    op: &str,
    first: &CpuStorage,
    f32_kernel: impl FnOnce() -> Result<CpuStorage>,
    f64_kernel: impl FnOnce() -> Result<CpuStorage>,
) -> Result<CpuStorage> {
    match first.dtype() {
        DType::F32 => f32_kernel(),
        DType::F64 => f64_kernel(),
        dtype => candle_core::bail!("{op}: f32 or f64 operands, got {dtype:?}"),
    }
}

/// [`by_dtype`] for a kernel of one operand, written once: `$x` is bound to the operand's
/// values (`&[f32]` or `&[f64]`) and `$kernel` gives the values out.
macro_rules! float_kernel {
    ($op:expr, $s:expr, $l:expr, |$x:ident| $kernel:expr) => {
        $crate::autoencoder::im2col::by_dtype(
            $op,
            $s,
            || {
                let $x = $crate::autoencoder::im2col::contiguous::<f32>($op, $s, $l)?;
                Ok(candle_core::CpuStorage::F32($kernel))
            },
            || {
                let $x = $crate::autoencoder::im2col::contiguous::<f64>($op, $s, $l)?;
                Ok(candle_core::CpuStorage::F64($kernel))
            },
        )
    };
}
pub(crate) use float_kernel;

pub(crate) fn dims4(op: &str, l: &Layout, name: &str) -> Result<(usize, usize, usize, usize)> {
    match l.dims() {
        &[a, b, c, d] => Ok((a, b, c, d)),
        dims => candle_core::bail!("{op}: {name} must be 4-d, got {dims:?}"),
    }
}

/// The sizes of a convolution of input layout `l1` with kernel layout `l2`.
fn conv_dims(l1: &Layout, l2: &Layout) -> Result<Dims> {
    let (n, cin, h, w) = dims4(OP, l1, "the input")?;
    let (cout, wcin, kh, kw) = dims4(OP, l2, "the kernel")?;
    if wcin != cin || kh != 3 || kw != 3 {
        candle_core::bail!(
            "conv3x3: kernel {:?} does not fit an input of {cin} channels",
            l2.dims()
        );
    }
    Ok(Dims { n, cin, cout, h, w })
}

/// The kernel of the input gradient: `w` turned by 180° with its channels swapped,
/// `(cin, cout, 3, 3)`. On the CPU one pass ([`TurnedKernel`]); elsewhere candle's ops.
fn turned(w: &Tensor) -> Result<Tensor> {
    if supported(w) {
        return w.contiguous()?.apply_op1(TurnedKernel);
    }
    let (cout, cin, _, _) = w.dims4()?;
    let flip = Tensor::from_vec((0..9u32).rev().collect::<Vec<_>>(), 9, w.device())?;
    w.reshape((cout, cin, 9))?
        .index_select(&flip, 2)?
        .transpose(0, 1)?
        .reshape((cin, cout, 3, 3))?
        .contiguous()
}

/// `(a, b, 3, 3) → (b, a, 3, 3)`, each 3×3 kernel turned by 180°: a permutation that is
/// its own inverse, so its own backward.
struct TurnedKernel;

impl CustomOp1 for TurnedKernel {
    fn name(&self) -> &'static str {
        "conv3x3-turned-kernel"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, b, kh, kw) = dims4(OP, l, "the kernel")?;
        if (kh, kw) != (3, 3) {
            candle_core::bail!("conv3x3: a 3×3 kernel, got {:?}", l.dims());
        }
        fn run<T: Float>(w: &[T], a: usize, b: usize) -> Vec<T> {
            let mut out = vec![T::zero(); w.len()];
            for i in 0..a {
                for j in 0..b {
                    let (src, dst) = (&w[(i * b + j) * 9..][..9], &mut out[(j * a + i) * 9..][..9]);
                    for (k, v) in dst.iter_mut().enumerate() {
                        *v = src[8 - k];
                    }
                }
            }
            out
        }
        let out = float_kernel!(OP, s, l, |w| run(w, a, b))?;
        Ok((out, Shape::from((b, a, 3, 3))))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(TurnedKernel)?))
    }
}

/// The convolution `(x, w, b) → y`, with the activation if `relu`. Its backward is this op
/// again for the input (so it can be differentiated again) and the two kernels below for the
/// weights and the activation.
struct Conv3x3Op {
    relu: bool,
}

impl CustomOp3 for Conv3x3Op {
    fn name(&self) -> &'static str {
        "conv3x3"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = conv_dims(l1, l2)?;
        if l3.dims() != [d.cout] {
            candle_core::bail!("conv3x3: bias {:?} for {} channels", l3.dims(), d.cout);
        }
        fn run<T: Float>(
            (s1, l1, s2, l2, s3, l3): (
                &CpuStorage,
                &Layout,
                &CpuStorage,
                &Layout,
                &CpuStorage,
                &Layout,
            ),
            relu: bool,
            d: &Dims,
        ) -> Result<Vec<T>> {
            let (x, w, b) = (
                contiguous(OP, s1, l1)?,
                contiguous(OP, s2, l2)?,
                contiguous(OP, s3, l3)?,
            );
            Ok(forward::<T>(x, w, b, relu, d))
        }
        let operands = (s1, l1, s2, l2, s3, l3);
        let out = by_dtype(
            OP,
            s1,
            || Ok(CpuStorage::F32(run(operands, self.relu, &d)?)),
            || Ok(CpuStorage::F64(run(operands, self.relu, &d)?)),
        )?;
        Ok((out, Shape::from((d.n, d.cout, d.h, d.w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        // Through the activation: dy where the output is positive.
        let dz = if self.relu {
            y.apply_op2_no_bwd(&dy, &ReluGradient)?
        } else {
            dy
        };
        // Only what the graph tracks: an inverse problem's latent phase needs dx alone, and
        // the weight gradient costs as much as the input's.
        let dx = if x.track_op() {
            // The convolution of dz with the kernel turned by 180° and its channels
            // swapped, without bias: this op again.
            let (_, cin, _, _) = w.dims4()?;
            let no_bias = Tensor::zeros(cin, w.dtype(), w.device())?;
            Some(conv3x3(&dz, &turned(w)?, &no_bias, false)?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(&dz, &Conv3x3WeightGradient)?)
        } else {
            None
        };
        let db = if b.track_op() {
            // Summed over the pixels first: a contiguous reduction, much faster on the CPU.
            let (n, c, h, w) = dz.dims4()?;
            Some(dz.reshape((n, c, h * w))?.sum(2)?.sum(0)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// `(y, dy) → dy · [y > 0]`: the gradient through the fused ReLU, in one pass.
struct ReluGradient;

impl CustomOp2 for ReluGradient {
    fn name(&self) -> &'static str {
        "conv3x3-relu-gradient"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn mask<T: Float>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> Result<Vec<T>> {
            let (y, dy) = (contiguous::<T>(OP, s1, l1)?, contiguous::<T>(OP, s2, l2)?);
            let t = threads::elementwise(y.len(), y.len());
            Ok(threads::build(y.len(), 1, t, |first, part| {
                let (y, dy) = (&y[first..][..part.len()], &dy[first..][..part.len()]);
                for ((o, &y), &g) in part.iter_mut().zip(y).zip(dy) {
                    *o = if y > T::zero() { g } else { T::zero() };
                }
            }))
        }
        if l1.dims() != l2.dims() {
            candle_core::bail!(
                "conv3x3: gradient {:?} for output {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let out = by_dtype(
            OP,
            s1,
            || Ok(CpuStorage::F32(mask(s1, l1, s2, l2)?)),
            || Ok(CpuStorage::F64(mask(s1, l1, s2, l2)?)),
        )?;
        Ok((out, l1.shape().clone()))
    }
}

/// `(x, dy) → dw`, the weight gradient (not differentiable further).
struct Conv3x3WeightGradient;

impl CustomOp2 for Conv3x3WeightGradient {
    fn name(&self) -> &'static str {
        "conv3x3-weight-gradient"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, cin, h, w) = dims4(OP, l1, "the input")?;
        let (dn, cout, dh, dw) = dims4(OP, l2, "the output gradient")?;
        if (dn, dh, dw) != (n, h, w) {
            candle_core::bail!(
                "conv3x3: output gradient {:?} for input {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let d = Dims { n, cin, cout, h, w };
        fn run<T: Float>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            d: &Dims,
        ) -> Result<Vec<T>> {
            Ok(weight_gradient::<T>(
                contiguous(OP, s1, l1)?,
                contiguous(OP, s2, l2)?,
                d,
            ))
        }
        let out = by_dtype(
            OP,
            s1,
            || Ok(CpuStorage::F32(run(s1, l1, s2, l2, &d)?)),
            || Ok(CpuStorage::F64(run(s1, l1, s2, l2, &d)?)),
        )?;
        Ok((out, Shape::from((cout, cin, 3, 3))))
    }
}

/// Whether the CPU kernel takes this input (elsewhere candle's `conv2d` does).
pub(crate) fn supported(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// `conv(x, w) + b` with one pixel of zero padding, then `max(·, 0)` if `relu`, through the
/// CPU kernel.
pub(crate) fn conv3x3(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, Conv3x3Op { relu })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Deterministic f64 values in [−0.5, 0.5).
    pub(crate) fn tensor(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n as u64)
            .map(|i| {
                let h = (i + 1).wrapping_mul(2_654_435_761).wrapping_add(seed * 97) % 10_007;
                h as f64 / 10_007.0 - 0.5
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// `max |a − b|` of two f64 tensors.
    pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// Against candle's own convolution, in f64, for tiny, wide, grouped and odd shapes.
    #[test]
    fn matches_candle_conv2d() {
        for &(n, cin, cout, h, w) in &[
            (1, 1, 1, 1, 1),
            (2, 3, 4, 5, 7),
            (5, 2, 3, 2, 2),
            (3, 4, 2, 16, 9),
            (70, 2, 2, 4, 4),
            // At least COLUMNS pixels: one image per product.
            (3, 2, 3, 40, 30),
            // Groups of two on two threads: one thread's last group is a single image.
            (3, 2, 3, 16, 32),
        ] {
            let x = tensor(&[n, cin, h, w], 1);
            let k = tensor(&[cout, cin, 3, 3], 2);
            let b = tensor(&[cout], 6);
            for relu in [false, true] {
                let ours = conv3x3(&x, &k, &b, relu).unwrap();
                let mut theirs = x
                    .conv2d(&k, 1, 1, 1, 1)
                    .unwrap()
                    .broadcast_add(&b.reshape((1, cout, 1, 1)).unwrap())
                    .unwrap();
                if relu {
                    theirs = theirs.relu().unwrap();
                }
                let err = max_abs_diff(&ours, &theirs);
                assert!(err < 1e-12, "{n} {cin} {cout} {h} {w} {relu}: {err}");
            }
        }
    }

    /// The Winograd kernel against im2col, in f64 (exact but for rounding) and f32 (within
    /// a few ulps of the values' scale), for even, odd, tiny and grouped shapes.
    #[test]
    fn winograd_matches_im2col() {
        for &(n, cin, cout, h, w) in &[
            (2, 16, 16, 8, 8),
            (3, 17, 20, 5, 7),
            (1, 32, 16, 2, 2),
            (1, 16, 24, 3, 2),
            (70, 16, 16, 4, 4),
            (2, 16, 18, 33, 64),
        ] {
            let d = Dims { n, cin, cout, h, w };
            assert!(winograd::applies(&d));
            let x = tensor(&[n, cin, h, w], 1);
            let k = tensor(&[cout, cin, 3, 3], 2);
            let b = tensor(&[cout], 6);
            for relu in [false, true] {
                let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                let (xv, kv, bv) = (v(&x), v(&k), v(&b));
                let direct = forward_im2col(&xv, &kv, &bv, relu, &d);
                let fast = winograd::forward(&xv, &kv, &bv, relu, &d);
                let err = direct
                    .iter()
                    .zip(&fast)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(err < 1e-12, "f64 {n} {cin} {cout} {h} {w} {relu}: {err}");
                let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
                let fast32 = winograd::forward(&f(&xv), &f(&kv), &f(&bv), relu, &d);
                let scale = direct.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = direct
                    .iter()
                    .zip(&fast32)
                    .map(|(a, &b)| (a - b as f64).abs())
                    .fold(0.0, f64::max);
                assert!(
                    err < 1e-5 * scale,
                    "f32 {n} {cin} {cout} {h} {w}: {err} of {scale}"
                );
            }
        }
    }

    /// Both gradients against candle's convolution.
    #[test]
    fn gradients_match_candle_conv2d() {
        for &(n, cin, cout, h, w) in &[
            (2, 3, 4, 5, 7),
            (70, 2, 3, 2, 2),
            (1, 1, 2, 6, 1),
            (3, 2, 3, 40, 30),
            (3, 2, 3, 16, 32),
            // Wide enough for the Winograd kernel, forward and input gradient.
            (2, 16, 17, 6, 5),
        ] {
            let x = Var::from_tensor(&tensor(&[n, cin, h, w], 3)).unwrap();
            let k = Var::from_tensor(&tensor(&[cout, cin, 3, 3], 4)).unwrap();
            let b = Var::from_tensor(&tensor(&[cout], 7)).unwrap();
            let probe = tensor(&[n, cout, h, w], 5);
            let loss = |y: Tensor| (y * &probe).unwrap().sum_all().unwrap();
            for relu in [false, true] {
                let g1 = loss(conv3x3(&x, &k, &b, relu).unwrap()).backward().unwrap();
                let mut theirs = x
                    .conv2d(&k, 1, 1, 1, 1)
                    .unwrap()
                    .broadcast_add(&b.reshape((1, cout, 1, 1)).unwrap())
                    .unwrap();
                if relu {
                    theirs = theirs.relu().unwrap();
                }
                let g2 = loss(theirs).backward().unwrap();
                for v in [x.as_tensor(), k.as_tensor(), b.as_tensor()] {
                    let (a, b) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                    assert!(max_abs_diff(a, b) < 1e-11, "{relu}");
                }
                // Constant weights (an inverse problem's latent phase): the same input
                // gradient, and none computed for the weights.
                let (kc, bc) = (k.as_tensor().detach(), b.as_tensor().detach());
                let g3 = loss(conv3x3(&x, &kc, &bc, relu).unwrap())
                    .backward()
                    .unwrap();
                let (a, b3) = (
                    g1.get(x.as_tensor()).unwrap(),
                    g3.get(x.as_tensor()).unwrap(),
                );
                assert_eq!(max_abs_diff(a, b3), 0.0, "{relu}");
                assert!(g3.get(&kc).is_none() && g3.get(&bc).is_none());
                // Constant input, variable weights: the weight gradient alone.
                let xc = x.as_tensor().detach();
                let g4 = loss(conv3x3(&xc, &k, &b, relu).unwrap())
                    .backward()
                    .unwrap();
                let (a, b4) = (
                    g1.get(k.as_tensor()).unwrap(),
                    g4.get(k.as_tensor()).unwrap(),
                );
                assert_eq!(max_abs_diff(a, b4), 0.0, "{relu}");
                assert!(g4.get(&xc).is_none());
            }
        }
    }
}
