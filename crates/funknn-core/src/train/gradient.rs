//! The L1 loss of a FunkNN (MLP or CNN) and its gradient, computed on the CPU without a
//! graph.
//!
//! Training spends its time in the MLP. Through candle ops, a step is ~30 separate passes
//! with fresh buffers, a threaded GEMM and a spinning pool for element-wise ops, and only a
//! quarter of the time goes to GEMMs. Here each worker takes whole chunks of points: the host
//! patch sampler, a forward pass that keeps what the backward pass needs, and single-threaded
//! GEMMs for the weight and input gradients. The receptive field's gradient comes from the
//! patch's spatial derivatives, which the host sampler gives directly. The CNN's
//! convolutions are GEMMs over im2col rows, their input gradients scattered back (col2im),
//! and max-pools route gradients through the argmax. The result equals
//! candle's backprop (a test holds them equal) and does not depend on the number of threads:
//! chunks are summed into a fixed number of slots in a fixed order.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{Device, Tensor};

use crate::config::Activation;
use crate::engine::host_network::{conv_layers, dense_layers, im2col, rule, Conv, Dense};
use crate::engine::parallel::run_lanes;
use crate::engine::sgemm::{sgemm, MatRef};
use crate::jet::JetOrder;
use crate::model::funknn::{FunkNN, PatchNetwork};
use crate::real::{to_vec, Real};
use crate::sampler::host::HostImages;
use crate::sampler::patch::host_points;
use crate::train::dataset::TargetDerivatives;
use crate::{Error, Result};

mod sobolev;
use sobolev::HostSobolev;

/// The L1 loss of one batch and its gradient.
#[derive(Debug, Clone)]
pub struct L1Gradients {
    /// The mean absolute error of the model.
    pub loss: f32,
    /// The mean absolute error of the model's kernel interpolation alone (the patch centre),
    /// the baseline the model improves on.
    pub interpolation_loss: f32,
    /// With derivative terms, the mean absolute error of `∇u / side` (the model's, then the
    /// interpolation's), else 0. `loss` and `interpolation_loss` include it, weighted.
    pub gradient_loss: [f32; 2],
    /// The same for `Δu / side²`.
    pub laplacian_loss: [f32; 2],
    /// The gradient of `loss` by parameter name.
    pub grads: HashMap<String, Tensor>,
}

/// Points per chunk: one GEMM row block, its activations a few MB.
const CHUNK: usize = 512;
/// Gradient accumulators; chunk j goes to slot j % SLOTS, and slots are summed in order.
const SLOTS: usize = 8;

/// Gradient sums of one slot.
struct Grads {
    weight: Vec<Vec<f32>>,
    bias: Vec<Vec<f32>>,
    omega: Vec<f64>,
    conv_weight: Vec<Vec<f32>>,
    conv_bias: Vec<Vec<f32>>,
    ws: [f64; 2],
    abs_error: f64,
    /// The same for the kernel interpolation alone (the patch centre).
    abs_interpolation_error: f64,
    /// Sums of the derivative terms' absolute errors (normalised by the side), the model's
    /// and the interpolation's.
    abs_gradient_error: f64,
    abs_interpolation_gradient_error: f64,
    abs_laplacian_error: f64,
    abs_interpolation_laplacian_error: f64,
}

fn add_into(a: &mut [Vec<f32>], b: &[Vec<f32>]) {
    for (a, b) in a.iter_mut().zip(b) {
        a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
    }
}

impl Grads {
    fn zeros(layers: &[Dense<f32>], convs: &[Conv<f32>]) -> Self {
        Grads {
            weight: layers
                .iter()
                .map(|l| vec![0.0; l.inputs * l.outputs])
                .collect(),
            bias: layers.iter().map(|l| vec![0.0; l.outputs]).collect(),
            omega: vec![0.0; layers.len()],
            conv_weight: convs
                .iter()
                .map(|c| vec![0.0; c.outputs * c.kernel * c.kernel * c.inputs])
                .collect(),
            conv_bias: convs.iter().map(|c| vec![0.0; c.outputs]).collect(),
            ws: [0.0; 2],
            abs_error: 0.0,
            abs_interpolation_error: 0.0,
            abs_gradient_error: 0.0,
            abs_interpolation_gradient_error: 0.0,
            abs_laplacian_error: 0.0,
            abs_interpolation_laplacian_error: 0.0,
        }
    }

    /// Whether these sums have the sizes of `layers` and `convs`.
    fn fits(&self, layers: &[Dense<f32>], convs: &[Conv<f32>]) -> bool {
        self.weight.len() == layers.len()
            && self.conv_weight.len() == convs.len()
            && self
                .weight
                .iter()
                .zip(layers)
                .all(|(w, l)| w.len() == l.inputs * l.outputs)
            && self
                .bias
                .iter()
                .zip(layers)
                .all(|(b, l)| b.len() == l.outputs)
            && self
                .conv_weight
                .iter()
                .zip(convs)
                .all(|(w, c)| w.len() == c.outputs * c.kernel * c.kernel * c.inputs)
            && self
                .conv_bias
                .iter()
                .zip(convs)
                .all(|(b, c)| b.len() == c.outputs)
    }

    fn clear(&mut self) {
        for v in self
            .weight
            .iter_mut()
            .chain(&mut self.bias)
            .chain(&mut self.conv_weight)
            .chain(&mut self.conv_bias)
        {
            v.fill(0.0);
        }
        self.omega.fill(0.0);
        self.ws = [0.0; 2];
        self.abs_error = 0.0;
        self.abs_interpolation_error = 0.0;
        self.abs_gradient_error = 0.0;
        self.abs_interpolation_gradient_error = 0.0;
        self.abs_laplacian_error = 0.0;
        self.abs_interpolation_laplacian_error = 0.0;
    }

    fn add(&mut self, other: &Grads) {
        add_into(&mut self.weight, &other.weight);
        add_into(&mut self.bias, &other.bias);
        add_into(&mut self.conv_weight, &other.conv_weight);
        add_into(&mut self.conv_bias, &other.conv_bias);
        for (a, b) in self.omega.iter_mut().zip(&other.omega) {
            *a += b;
        }
        self.ws[0] += other.ws[0];
        self.ws[1] += other.ws[1];
        self.abs_error += other.abs_error;
        self.abs_interpolation_error += other.abs_interpolation_error;
        self.abs_gradient_error += other.abs_gradient_error;
        self.abs_interpolation_gradient_error += other.abs_interpolation_gradient_error;
        self.abs_laplacian_error += other.abs_laplacian_error;
        self.abs_interpolation_laplacian_error += other.abs_interpolation_laplacian_error;
    }
}

/// `(σ(z), σ′(z))`; `omega` scales the sine's argument.
#[inline(always)]
fn act(activation: Activation, z: f32, omega: f32) -> (f32, f32) {
    let (s, ds, _) = rule(activation, z, omega);
    (s, ds)
}

/// Runs dense layers on `input` `(len, in)` keeping what the backward pass needs:
/// `buf[2l]` the output of layer l, `buf[2l+1]` its σ′ (its pre-activation for the sine,
/// whose ω needs it; nothing for ReLU, whose σ′ is 1 where the output is positive). The
/// network's output is `buf[2L−2]`.
fn dense_forward(
    layers: &[Dense<f32>],
    activation: Activation,
    input: &[f32],
    len: usize,
    buf: &mut Vec<Vec<f32>>,
) {
    let n_layers = layers.len();
    buf.resize_with(2 * n_layers, Vec::new);
    for (l, layer) in layers.iter().enumerate() {
        let (done, rest) = buf.split_at_mut(2 * l);
        let x: &[f32] = if l == 0 { input } else { &done[2 * l - 2] };
        let (out, rest) = rest.split_at_mut(1);
        let out = &mut out[0];
        out.resize(len * layer.outputs, 0.0);
        sgemm(
            len,
            layer.outputs,
            layer.inputs,
            MatRef::rows(x, layer.inputs),
            MatRef::transposed(&layer.weight, layer.inputs),
            out,
            layer.outputs,
            false,
        );
        let last = l + 1 == n_layers;
        // One loop per case, so that the common ones (bias only, ReLU) vectorise. ReLU
        // keeps no σ′: it is 1 exactly where the output is positive.
        if last {
            for row in out.chunks_exact_mut(layer.outputs) {
                row.iter_mut().zip(&layer.bias).for_each(|(v, &b)| *v += b);
            }
            continue;
        }
        if activation == Activation::Relu {
            for row in out.chunks_exact_mut(layer.outputs) {
                for (v, &b) in row.iter_mut().zip(&layer.bias) {
                    let z = *v + b;
                    *v = if z > 0.0 { z } else { 0.0 };
                }
            }
            continue;
        }
        let deriv = &mut rest[0];
        deriv.resize(len * layer.outputs, 0.0);
        let omega = layer.omega.unwrap_or(1.0);
        let rows = out
            .chunks_exact_mut(layer.outputs)
            .zip(deriv.chunks_exact_mut(layer.outputs));
        match activation {
            Activation::Sin => {
                for (row, drow) in rows {
                    for ((v, d), &b) in row.iter_mut().zip(drow.iter_mut()).zip(&layer.bias) {
                        let z = *v + b;
                        *d = z;
                        *v = act(Activation::Sin, z, omega).0;
                    }
                }
            }
            _ => {
                for (row, drow) in rows {
                    for ((v, d), &b) in row.iter_mut().zip(drow.iter_mut()).zip(&layer.bias) {
                        (*v, *d) = act(activation, *v + b, omega);
                    }
                }
            }
        }
    }
}

/// Backpropagates `grad` (dL/d output, `(len, out)`) through the layers of
/// [`dense_forward`], adding weight, bias and ω gradients to `g` (layer i at `g.*[i]`).
/// Leaves dL/d input in `grad`. `next` and `transposed` are scratch space.
#[allow(clippy::too_many_arguments)]
fn dense_backward(
    layers: &[Dense<f32>],
    activation: Activation,
    input: &[f32],
    len: usize,
    buf: &[Vec<f32>],
    grad: &mut Vec<f32>,
    next: &mut Vec<f32>,
    g: &mut Grads,
    transposed: &mut Vec<f32>,
) {
    let n_layers = layers.len();
    for l in (0..n_layers).rev() {
        let layer = &layers[l];
        let omega = layer.omega.unwrap_or(1.0);
        if l + 1 < n_layers {
            let z_or_d = &buf[2 * l + 1];
            if activation == Activation::Sin {
                let mut domega = 0.0f64;
                for (gv, &z) in grad.iter_mut().zip(z_or_d) {
                    let (_, cos) = Real::sin_cos(omega * z);
                    domega += (*gv * z * cos) as f64;
                    *gv *= omega * cos;
                }
                g.omega[l] += domega;
            } else if activation != Activation::Relu {
                grad.iter_mut().zip(z_or_d).for_each(|(gv, &d)| *gv *= d);
            }
        }
        let relu_out =
            (activation == Activation::Relu && l + 1 < n_layers).then(|| &buf[2 * l][..]);
        // dW += dZᵀ · X, from a row-major copy of dZᵀ: `gemm` runs a third faster on it
        // than on dZ read column by column (80 against 60 GFLOP/s per core at 512²).
        finish_dz(
            grad,
            relu_out,
            len,
            layer.outputs,
            &mut g.bias[l],
            transposed,
        );
        let x: &[f32] = if l == 0 { input } else { &buf[2 * l - 2] };
        affine_backward(layer, len, x, transposed, &mut g.weight[l], grad, next);
    }
}

/// The affine layer's share of the backward pass over `rows` rows: dW += dZᵀ · X (dZᵀ given
/// row-major in `transposed`), then dX = dZ · W, left in `grad` (`next` is scratch).
fn affine_backward(
    layer: &Dense<f32>,
    rows: usize,
    x: &[f32],
    transposed: &[f32],
    weight_grad: &mut [f32],
    grad: &mut Vec<f32>,
    next: &mut Vec<f32>,
) {
    sgemm(
        layer.outputs,
        layer.inputs,
        rows,
        MatRef::rows(transposed, rows),
        MatRef::rows(x, layer.inputs),
        weight_grad,
        layer.inputs,
        true,
    );
    next.resize(rows * layer.inputs, 0.0);
    sgemm(
        rows,
        layer.inputs,
        layer.outputs,
        MatRef::rows(grad, layer.outputs),
        MatRef::rows(&layer.weight, layer.inputs),
        next,
        layer.inputs,
        false,
    );
    std::mem::swap(grad, next);
}

/// One pass over dL/dA `(rows, cols)` of a layer, in blocks of rows that stay in L1: for
/// ReLU (`relu_out`, the layer's output) dZ = dA ⊙ [output > 0] in place; the column sums
/// of dZ are added to `bias` (row after row, as a plain loop would); `transposed` gets dZᵀ
/// row-major `(cols, rows)`. (A transpose on its own, scattering single floats 2 KB apart,
/// cost 6 % of a training step.)
fn finish_dz(
    grad: &mut [f32],
    relu_out: Option<&[f32]>,
    rows: usize,
    cols: usize,
    bias: &mut [f32],
    transposed: &mut Vec<f32>,
) {
    const BLOCK: usize = 8;
    transposed.resize(rows * cols, 0.0);
    for r0 in (0..rows).step_by(BLOCK) {
        let n = BLOCK.min(rows - r0);
        let block = &mut grad[r0 * cols..(r0 + n) * cols];
        if let Some(out) = relu_out {
            let out = &out[r0 * cols..(r0 + n) * cols];
            // × 1 or × 0, not a select: the same bits as multiplying by a stored σ′.
            for (gv, &a) in block.iter_mut().zip(out) {
                *gv *= if a > 0.0 { 1.0 } else { 0.0 };
            }
        }
        for row in block.chunks_exact(cols) {
            bias.iter_mut().zip(row).for_each(|(b, &v)| *b += v);
        }
        if n == BLOCK {
            for c in 0..cols {
                let dst = &mut transposed[c * rows + r0..][..BLOCK];
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = block[i * cols + c];
                }
            }
        } else {
            for c in 0..cols {
                for i in 0..n {
                    transposed[c * rows + r0 + i] = block[i * cols + c];
                }
            }
        }
    }
}

/// What the CNN's backward pass needs of one convolution.
#[derive(Default)]
struct ConvCache {
    /// im2col rows `(maps·side², k²·in)`.
    cols: Vec<f32>,
    /// σ′ at every output `(maps·side², out)`.
    deriv: Vec<f32>,
    /// For a pooling layer, the argmax of each pooled output.
    argmax: Vec<u32>,
    side: usize,
}

/// The adjoint of [`im2col`]: adds each row's entries back to the pixels they came from.
fn col2im(dcols: &[f32], maps: usize, side: usize, ch: usize, ks: usize, dx: &mut [f32]) {
    let before = (ks - 1) / 2;
    let width = ks * ks * ch;
    for m in 0..maps {
        for r in 0..side {
            for c in 0..side {
                let src = &dcols[((m * side + r) * side + c) * width..][..width];
                for di in 0..ks {
                    let rr = (r + di) as isize - before as isize;
                    for dj in 0..ks {
                        let cc = (c + dj) as isize - before as isize;
                        if rr < 0 || rr >= side as isize || cc < 0 || cc >= side as isize {
                            continue;
                        }
                        let at = ((m * side + rr as usize) * side + cc as usize) * ch;
                        for (d, &v) in dx[at..at + ch].iter_mut().zip(&src[(di * ks + dj) * ch..]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

/// The network of a training step, copied out of its tensors.
enum Net {
    Mlp(Vec<Dense<f32>>),
    Cnn {
        convs: Vec<Conv<f32>>,
        head: Vec<Dense<f32>>,
    },
}

/// Buffers of the host gradient kept from one call to the next (a training run holds one).
/// Fresh buffers of this size (tens of MB per step) come from the kernel as zeroed pages,
/// which cost several percent of a training step.
#[derive(Default)]
pub(crate) struct HostWorkspace {
    grads: Mutex<Vec<Grads>>,
    works: Mutex<Vec<Work>>,
}

impl HostWorkspace {
    /// Zeroed gradient sums for `layers` and `convs`, reused if possible.
    fn take_grads(&self, layers: &[Dense<f32>], convs: &[Conv<f32>]) -> Grads {
        let reused = self.grads.lock().ok().and_then(|mut pool| pool.pop());
        match reused {
            Some(mut g) if g.fits(layers, convs) => {
                g.clear();
                g
            }
            _ => Grads::zeros(layers, convs),
        }
    }

    fn take_work(&self) -> Work {
        let reused = self.works.lock().ok().and_then(|mut pool| pool.pop());
        reused.unwrap_or_default()
    }

    fn give_back<T>(pool: &Mutex<Vec<T>>, item: T) {
        if let Ok(mut pool) = pool.lock() {
            pool.push(item);
        }
    }
}

/// A worker's buffers, handed back to the workspace when the worker ends.
struct WorkGuard<'a>(&'a HostWorkspace, Option<Work>);

impl Drop for WorkGuard<'_> {
    fn drop(&mut self) {
        if let Some(work) = self.1.take() {
            HostWorkspace::give_back(&self.0.works, work);
        }
    }
}

/// Everything a worker needs, borrowed.
struct Step<'a> {
    net: &'a Net,
    activation: Activation,
    images: &'a HostImages<f32>,
    model: &'a FunkNN,
    points: &'a [(usize, f64, f64)],
    targets: &'a [f32],
    /// Receptive-field offsets along x and y, divided by the image's width and height: the
    /// derivative of a patch sample's unit coordinate with respect to ws1 and ws2.
    dx: Vec<f64>,
    dy: Vec<f64>,
    /// dL/du for a unit error sign: 1 / (number of loss terms).
    scale: f32,
    /// Whether the first layer sees the patch with its centre subtracted (see
    /// [`export_centred`]).
    centred: bool,
    /// Whether `targets` holds dL/du itself (a loss that is linear in `u` at these points,
    /// such as a linearised one) instead of values to fit by L1.
    upstream: bool,
    /// The derivative terms, if the loss has them (MLP only).
    sobolev: Option<HostSobolev>,
}

/// Per-worker buffers, reused across chunks.
#[derive(Default)]
struct Work {
    dense: Vec<Vec<f32>>,
    convs: Vec<ConvCache>,
    /// dZᵀ of the layer being backpropagated.
    transposed: Vec<f32>,
    /// The chunk's patch jet.
    patch: Vec<f32>,
    /// dL/d(layer output) and dL/d(layer input) of the backward pass.
    grad: Vec<f32>,
    next: Vec<f32>,
    /// The network's input, when it differs from the patch (Sobolev terms).
    input: Vec<f32>,
}

impl Step<'_> {
    /// Adds the gradient of one chunk of points to `g`.
    fn chunk(&self, start: usize, len: usize, g: &mut Grads, work: &mut Work) -> Result<()> {
        let sampler = self.model.sampler();
        let c = self.model.config().channels;
        let w = sampler.patch_size();
        let cww = c * w * w;
        let pts = &self.points[start..start + len];
        let mut patch = std::mem::take(&mut work.patch);
        sampler.sample_host_into(self.images, pts, JetOrder::Gradient, &mut patch)?;
        let centre = (w / 2) * w + w / 2;
        let skip: Vec<f32> = patch[..len * cww]
            .chunks_exact(w * w)
            .map(|s| s[centre])
            .collect();
        if self.centred {
            for sample in patch[..len * cww].chunks_exact_mut(w * w) {
                let v = sample[centre];
                sample.iter_mut().for_each(|s| *s -= v);
                sample[centre] = v;
            }
        }
        let value = &patch[..len * cww];
        // Forward: the MLP on the patch, or the convolutions and then the head.
        let features;
        let (head, input): (&[Dense<f32>], &[f32]) = match self.net {
            Net::Mlp(layers) => (layers, value),
            Net::Cnn { convs, head } => {
                features = self.cnn_forward(convs, value, len, c, w, work);
                (head, &features)
            }
        };
        dense_forward(head, self.activation, input, len, &mut work.dense);
        // The L1 loss on u = net + patch centre, and dL/du.
        let out = &work.dense[2 * head.len() - 2];
        let mut grad = std::mem::take(&mut work.grad);
        grad.clear();
        grad.resize(len * c, 0.0);
        for (row, (o, gr)) in out
            .chunks_exact(c)
            .zip(grad.chunks_exact_mut(c))
            .enumerate()
        {
            if self.upstream {
                gr.copy_from_slice(&self.targets[(start + row) * c..][..c]);
                continue;
            }
            for ch in 0..c {
                let target = self.targets[(start + row) * c + ch];
                let centre = skip[row * c + ch];
                let e = o[ch] + centre - target;
                g.abs_error += e.abs() as f64;
                g.abs_interpolation_error += (centre - target).abs() as f64;
                gr[ch] = if e > 0.0 {
                    self.scale
                } else if e < 0.0 {
                    -self.scale
                } else {
                    0.0
                };
            }
        }
        dense_backward(
            head,
            self.activation,
            input,
            len,
            &work.dense,
            &mut grad,
            &mut work.next,
            g,
            &mut work.transposed,
        );
        let grad = match self.net {
            Net::Mlp(_) => grad,
            Net::Cnn { convs, .. } => self.cnn_backward(convs, grad, len, c, w, work, g),
        };
        // The receptive field: sample (i, q) sits at x + ws1·δx_q, y + ws2·δy_i, so
        // ∂patch/∂ws1 = ∂patch/∂x · δx_q (unit coordinates) and likewise for ws2.
        let (gx, gy) = (&patch[len * cww..2 * len * cww], &patch[2 * len * cww..]);
        let (mut d1, mut d2) = (0.0f64, 0.0f64);
        let rows = grad
            .chunks_exact(w)
            .zip(gx.chunks_exact(w))
            .zip(gy.chunks_exact(w));
        for (r, ((gr, gxr), gyr)) in rows.enumerate() {
            let mut across = 0.0f64;
            let mut down = 0.0f64;
            for q in 0..w {
                across += (gr[q] * gxr[q]) as f64 * self.dx[q];
                down += (gr[q] * gyr[q]) as f64;
            }
            d1 += across;
            d2 += down * self.dy[r % w];
        }
        g.ws[0] += d1;
        g.ws[1] += d2;
        work.grad = grad;
        work.patch = patch;
        Ok(())
    }

    /// The convolutions on channel-first patches `(len, C, w, w)`; returns the head's input
    /// `(len, 64·side²)` in PyTorch's (c, h, w) order.
    fn cnn_forward(
        &self,
        convs: &[Conv<f32>],
        patch: &[f32],
        len: usize,
        channels: usize,
        w: usize,
        work: &mut Work,
    ) -> Vec<f32> {
        let mut x = vec![0f32; len * w * w * channels];
        for m in 0..len {
            for ch in 0..channels {
                for p in 0..w * w {
                    x[(m * w * w + p) * channels + ch] = patch[(m * channels + ch) * w * w + p];
                }
            }
        }
        work.convs.resize_with(convs.len(), ConvCache::default);
        let (mut side, mut ch) = (w, channels);
        for (i, conv) in convs.iter().enumerate() {
            let cache = &mut work.convs[i];
            cache.side = side;
            im2col(&x, len, side, ch, conv.kernel, &mut cache.cols);
            let pixels = len * side * side;
            let width = conv.kernel * conv.kernel * conv.inputs;
            let mut y = vec![0f32; pixels * conv.outputs];
            sgemm(
                pixels,
                conv.outputs,
                width,
                MatRef::rows(&cache.cols, width),
                MatRef::transposed(&conv.weight, width),
                &mut y,
                conv.outputs,
                false,
            );
            cache.deriv.resize(pixels * conv.outputs, 0.0);
            for (row, drow) in y
                .chunks_exact_mut(conv.outputs)
                .zip(cache.deriv.chunks_exact_mut(conv.outputs))
            {
                for ((v, d), &b) in row.iter_mut().zip(drow.iter_mut()).zip(&conv.bias) {
                    // The official code uses plain sin(z) in the conv stack: ω = 1.
                    let (s, ds) = act(self.activation, *v + b, 1.0);
                    *v = s;
                    *d = ds;
                }
            }
            x = match i {
                3 | 7 => {
                    let half = side / 2;
                    let f = conv.outputs;
                    let mut pooled = vec![0f32; len * half * half * f];
                    cache.argmax.resize(pooled.len(), 0);
                    for b in 0..len {
                        for r in 0..half {
                            for c in 0..half {
                                for k in 0..f {
                                    let at = |dr: usize, dc: usize| {
                                        ((b * side + 2 * r + dr) * side + 2 * c + dc) * f + k
                                    };
                                    let mut best = at(0, 0);
                                    for cand in [at(0, 1), at(1, 0), at(1, 1)] {
                                        if y[cand] > y[best] {
                                            best = cand;
                                        }
                                    }
                                    let o = ((b * half + r) * half + c) * f + k;
                                    pooled[o] = y[best];
                                    cache.argmax[o] = best as u32;
                                }
                            }
                        }
                    }
                    side = half;
                    pooled
                }
                0 => y,
                _ => {
                    y.iter_mut().zip(&x).for_each(|(a, b)| *a += b);
                    y
                }
            };
            ch = conv.outputs;
        }
        let feat = ch * side * side;
        let mut flat = vec![0f32; len * feat];
        for m in 0..len {
            for p in 0..side * side {
                for c in 0..ch {
                    flat[m * feat + c * side * side + p] = x[(m * side * side + p) * ch + c];
                }
            }
        }
        flat
    }

    /// Backpropagates dL/d(head input) through the convolutions; returns dL/d patch
    /// `(len, C, w, w)`, channel-first.
    #[allow(clippy::too_many_arguments)]
    fn cnn_backward(
        &self,
        convs: &[Conv<f32>],
        dfeat: Vec<f32>,
        len: usize,
        channels: usize,
        w: usize,
        work: &Work,
        g: &mut Grads,
    ) -> Vec<f32> {
        let last = convs.len() - 1;
        let ch = convs[last].outputs;
        let side = work.convs[last].side / 2;
        let feat = ch * side * side;
        // dL/d(output of the last layer), channel-last.
        let mut dx = vec![0f32; len * side * side * ch];
        for m in 0..len {
            for p in 0..side * side {
                for c in 0..ch {
                    dx[(m * side * side + p) * ch + c] = dfeat[m * feat + c * side * side + p];
                }
            }
        }
        for (i, conv) in convs.iter().enumerate().rev() {
            let cache = &work.convs[i];
            let s = cache.side;
            let pixels = len * s * s;
            // dL/dy, where y is the activated convolution output.
            let mut dy = match i {
                3 | 7 => {
                    let mut dy = vec![0f32; pixels * conv.outputs];
                    for (o, &at) in cache.argmax.iter().enumerate() {
                        dy[at as usize] += dx[o];
                    }
                    dy
                }
                _ => dx.clone(),
            };
            dy.iter_mut().zip(&cache.deriv).for_each(|(a, d)| *a *= d);
            let width = conv.kernel * conv.kernel * conv.inputs;
            sgemm(
                conv.outputs,
                width,
                pixels,
                MatRef::transposed(&dy, conv.outputs),
                MatRef::rows(&cache.cols, width),
                &mut g.conv_weight[i],
                width,
                true,
            );
            for row in dy.chunks_exact(conv.outputs) {
                g.conv_bias[i]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(b, &v)| *b += v);
            }
            let mut dcols = vec![0f32; pixels * width];
            sgemm(
                pixels,
                width,
                conv.outputs,
                MatRef::rows(&dy, conv.outputs),
                MatRef::rows(&conv.weight, width),
                &mut dcols,
                width,
                false,
            );
            // The residual adds the layer's input to its output: its gradient passes too.
            let mut dinput = match i {
                3 | 7 | 0 => vec![0f32; pixels * conv.inputs],
                _ => dx,
            };
            col2im(&dcols, len, s, conv.inputs, conv.kernel, &mut dinput);
            dx = dinput;
        }
        // Channel-last to channel-first.
        let mut out = vec![0f32; len * channels * w * w];
        for m in 0..len {
            for c in 0..channels {
                for p in 0..w * w {
                    out[(m * channels + c) * w * w + p] = dx[(m * w * w + p) * channels + c];
                }
            }
        }
        out
    }
}

/// The first-layer weight `[out, C·w·w]` of the official model that computes what
/// `weight` computes on centred patches: every sample but the centre minus the centre, per
/// channel. Photographs' patches are nearly constant, so the plain inputs are dominated by
/// their mean; Adam then normalises every first-layer weight by a gradient that is mostly
/// that mean, and the differences between samples, which carry the detail, barely train.
/// The derivative (Sobolev) terms of the loss: L1 on `∇u / side` and `Δu / side²` against
/// the target's exact derivatives, weighted by `gradient_weight` and `laplacian_weight`.
#[derive(Debug, Clone, Copy)]
pub struct SobolevLoss<'a> {
    pub gradient_weight: f64,
    pub laplacian_weight: f64,
    pub targets: &'a TargetDerivatives,
}

impl SobolevLoss<'_> {
    /// Checks the targets' shapes against `n` images of `p` points in `c` channels.
    pub(crate) fn check(&self, n: usize, p: usize, c: usize) -> Result<()> {
        let t = self.targets;
        for (name, tensor, shape) in [
            ("target gradient", &t.gradient, vec![n, p, c, 2]),
            ("target Laplacian", &t.laplacian, vec![n, p, c]),
        ] {
            if tensor.dims() != shape.as_slice() {
                return Err(Error::Shape {
                    name,
                    expected: format!("{shape:?}"),
                    got: tensor.dims().to_vec(),
                });
            }
        }
        if t.side == 0 {
            return Err(Error::invalid("target derivatives", "the side is zero"));
        }
        Ok(())
    }

    /// Checks the targets ([`Self::check`]) and copies them to the host.
    fn host(&self, n: usize, p: usize, c: usize) -> Result<HostSobolev> {
        self.check(n, p, c)?;
        let t = self.targets;
        let side = t.side as f64;
        let count = (n * p * c) as f64;
        Ok(HostSobolev {
            gradient: to_vec::<f32>(&t.gradient)?,
            laplacian: to_vec::<f32>(&t.laplacian)?,
            gradient_scale: (self.gradient_weight / (side * 2.0 * count)) as f32,
            laplacian_scale: (self.laplacian_weight / (side * side * count)) as f32,
            inv_side: (1.0 / side) as f32,
        })
    }

    /// Whether either term has a weight.
    pub fn is_active(&self) -> bool {
        self.gradient_weight != 0.0 || self.laplacian_weight != 0.0
    }
}

/// Centring is a linear change of the first layer, so the trained model is an ordinary one.
pub fn export_centred(weight: &Tensor, channels: usize, patch_size: usize) -> Result<Tensor> {
    recentre(weight, channels, patch_size, -1.0)
}

/// The inverse of [`export_centred`]: the first-layer weight that, on centred patches,
/// computes what `weight` computes on plain ones (a centred run warm-started from a model).
pub(crate) fn import_centred(
    weight: &Tensor,
    channels: usize,
    patch_size: usize,
) -> Result<Tensor> {
    recentre(weight, channels, patch_size, 1.0)
}

/// Adds `sign` × the sum of each patch's other weights to its centre weight, per output and
/// channel: −1 exports centred coordinates, +1 imports them.
fn recentre(weight: &Tensor, channels: usize, patch_size: usize, sign: f32) -> Result<Tensor> {
    let (out, inputs) = weight.dims2()?;
    let ww = patch_size * patch_size;
    if inputs != channels * ww {
        return Err(Error::Shape {
            name: "first-layer weight",
            expected: format!("(out, {})", channels * ww),
            got: weight.dims().to_vec(),
        });
    }
    let centre = (patch_size / 2) * patch_size + patch_size / 2;
    let mut w = to_vec::<f32>(weight)?;
    for row in w.chunks_exact_mut(inputs) {
        for sample in row.chunks_exact_mut(ww) {
            let others: f32 = sample.iter().sum::<f32>() - sample[centre];
            sample[centre] += sign * others;
        }
    }
    Ok(Tensor::from_vec(w, (out, inputs), weight.device())?.to_dtype(weight.dtype())?)
}

/// The mean absolute error of `model` on `images` `(N, C, H, W)` at `points` `(N, P, 2)`
/// against `targets` `(N, P, C)`, and its gradient for every parameter that takes part (by
/// official name), on `threads` workers. With `centred` (MLP only), the first layer sees
/// centred patches (see [`export_centred`]); with `sobolev_loss`, the loss has derivative
/// terms.
#[allow(clippy::too_many_arguments)]
pub(crate) fn host_l1_gradients(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    threads: usize,
    centred: bool,
    sobolev_loss: Option<&SobolevLoss>,
    workspace: &HostWorkspace,
) -> Result<L1Gradients> {
    host_gradients(
        model,
        images,
        points,
        targets,
        false,
        threads,
        centred,
        sobolev_loss,
        workspace,
    )
}

/// The gradient of `Σ upstream · u` over `points` `(N, P, 2)` of `images`, `upstream`
/// `(N, P, C)` being dL/du of any loss at those points: the graph-free backward pass of
/// [`host_l1_gradients`] with the loss's derivative given. Its `loss` fields are 0.
#[allow(clippy::too_many_arguments)]
pub(crate) fn host_upstream_gradients(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    upstream: &Tensor,
    threads: usize,
    centred: bool,
    workspace: &HostWorkspace,
) -> Result<HashMap<String, Tensor>> {
    let g = host_gradients(
        model, images, points, upstream, true, threads, centred, None, workspace,
    )?;
    Ok(g.grads)
}

#[allow(clippy::too_many_arguments)]
fn host_gradients(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    upstream: bool,
    threads: usize,
    centred: bool,
    sobolev_loss: Option<&SobolevLoss>,
    workspace: &HostWorkspace,
) -> Result<L1Gradients> {
    model.check_images(images)?;
    let (n, p, _) = points.dims3()?;
    model.check_points(n, points)?;
    let c = model.config().channels;
    if targets.dims() != [n, p, c] {
        return Err(Error::Shape {
            name: "targets",
            expected: format!("({n}, {p}, {c})"),
            got: targets.dims().to_vec(),
        });
    }
    let (net, activation) = match model.network() {
        PatchNetwork::Mlp(mlp) => (Net::Mlp(dense_layers(mlp)?), mlp.activation()),
        PatchNetwork::Cnn(cnn) => {
            if centred {
                return Err(Error::invalid(
                    "training",
                    "centred patches are for the MLP only",
                ));
            }
            let convs = conv_layers(cnn)?;
            let head = dense_layers(cnn.head())?;
            (Net::Cnn { convs, head }, cnn.activation())
        }
    };
    let sampler = model.sampler();
    let host = HostImages::<f32>::new(&sampler.prepare(images)?)?;
    let (_, _, height, width) = host.dims();
    let pts = host_points(points, n)?;
    let targets = to_vec::<f32>(targets)?;
    let sobolev = match sobolev_loss {
        None => None,
        Some(_) if !matches!(net, Net::Mlp(_)) => return Err(Error::invalid(
            "training",
            "derivative terms on the graph-free path need an MLP (the CNN takes candle's backprop)",
        )),
        Some(sob) => Some(sob.host(n, p, c)?),
    };
    let step = Step {
        net: &net,
        activation,
        images: &host,
        model,
        points: &pts,
        targets: &targets,
        dx: sampler
            .unit_offsets(width)
            .iter()
            .map(|d| d / width as f64)
            .collect(),
        dy: sampler
            .unit_offsets(height)
            .iter()
            .map(|d| d / height as f64)
            .collect(),
        scale: 1.0 / (n * p * c) as f32,
        centred,
        upstream,
        sobolev,
    };
    let total = n * p;
    // The CNN keeps 64 channels at 81 positions per point and layer: smaller chunks.
    let chunk = match net {
        Net::Mlp(_) => CHUNK,
        Net::Cnn { .. } => CHUNK / 4,
    };
    let n_chunks = total.div_ceil(chunk);
    let n_slots = SLOTS.min(n_chunks);
    let (layers, convs): (&[Dense<f32>], &[Conv<f32>]) = match &net {
        Net::Mlp(layers) => (layers, &[]),
        Net::Cnn { convs, head } => (head, convs),
    };
    // Chunk j goes to slot j % n_slots, its chunks in order: the sums do not depend on
    // which worker ran which chunk.
    let slots = run_lanes(
        (0..n_slots)
            .map(|_| workspace.take_grads(layers, convs))
            .collect(),
        |s| (n_chunks - s).div_ceil(n_slots),
        threads,
        || WorkGuard(workspace, Some(workspace.take_work())),
        |work, g, s, k| {
            let start = (s + k * n_slots) * chunk;
            let work = work.1.as_mut().expect("held until dropped");
            let len = chunk.min(total - start);
            match (&step.sobolev, step.net) {
                (Some(sob), Net::Mlp(layers)) => {
                    step.sobolev_chunk(layers, sob, start, len, g, work)
                }
                _ => step.chunk(start, len, g, work),
            }
        },
    )?;
    let mut slots = slots.into_iter();
    let mut g = slots
        .next()
        .ok_or_else(|| Error::invalid("training", "no points"))?;
    for other in slots {
        g.add(&other);
        HostWorkspace::give_back(&workspace.grads, other);
    }
    let dev = &Device::Cpu;
    let mut out = HashMap::new();
    for (i, conv) in convs.iter().enumerate() {
        let k = conv.kernel;
        let weight = Tensor::from_slice(&g.conv_weight[i], (conv.outputs, k, k, conv.inputs), dev)?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        out.insert(format!("CNNs.{i}.weight"), weight);
        out.insert(
            format!("CNNs.{i}.bias"),
            Tensor::from_slice(&g.conv_bias[i], conv.outputs, dev)?,
        );
    }
    let last = layers.len() - 1;
    for (i, layer) in layers.iter().enumerate() {
        out.insert(
            format!("MLP.{i}.weight"),
            Tensor::from_slice(&g.weight[i], (layer.outputs, layer.inputs), dev)?,
        );
        out.insert(
            format!("MLP.{i}.bias"),
            Tensor::from_slice(&g.bias[i], layer.outputs, dev)?,
        );
        if activation == Activation::Sin && i < last {
            out.insert(
                format!("w.{i}"),
                Tensor::from_vec(vec![g.omega[i] as f32], 1, dev)?,
            );
        }
    }
    out.insert(
        "ws1".into(),
        Tensor::from_vec(vec![g.ws[0] as f32], 1, dev)?,
    );
    out.insert(
        "ws2".into(),
        Tensor::from_vec(vec![g.ws[1] as f32], 1, dev)?,
    );
    let count = (n * p * c) as f64;
    let (mut loss, mut interpolation_loss) =
        (g.abs_error / count, g.abs_interpolation_error / count);
    let mut gradient_loss = [0f32; 2];
    let mut laplacian_loss = [0f32; 2];
    if let Some(sob) = sobolev_loss {
        let grad_terms = [g.abs_gradient_error, g.abs_interpolation_gradient_error];
        let lap_terms = [g.abs_laplacian_error, g.abs_interpolation_laplacian_error];
        for k in 0..2 {
            gradient_loss[k] = (grad_terms[k] / (2.0 * count)) as f32;
            laplacian_loss[k] = (lap_terms[k] / count) as f32;
        }
        let weighted = |k: usize| {
            sob.gradient_weight * gradient_loss[k] as f64
                + sob.laplacian_weight * laplacian_loss[k] as f64
        };
        loss += weighted(0);
        interpolation_loss += weighted(1);
    }
    let result = L1Gradients {
        loss: loss as f32,
        interpolation_loss: interpolation_loss as f32,
        gradient_loss,
        laplacian_loss,
        grads: out,
    };
    HostWorkspace::give_back(&workspace.grads, g);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked pass equals its plain definition bit for bit, for row counts with and
    /// without a partial block, with and without ReLU's mask.
    #[test]
    fn finish_dz_is_mask_column_sums_and_transpose() {
        for (rows, cols) in [(16, 5), (13, 3), (7, 9), (1, 4)] {
            let grad: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let out: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 53 % 19) as f32 - 9.0).max(0.0))
                .collect();
            for relu in [false, true] {
                let mut dz = grad.clone();
                if relu {
                    for (g, &a) in dz.iter_mut().zip(&out) {
                        *g *= if a > 0.0 { 1.0 } else { 0.0 };
                    }
                }
                let mut bias = vec![0.5f32; cols];
                for row in dz.chunks_exact(cols) {
                    bias.iter_mut().zip(row).for_each(|(b, &v)| *b += v);
                }
                let mut got = grad.clone();
                let mut got_bias = vec![0.5f32; cols];
                let mut transposed = Vec::new();
                let relu_out = relu.then_some(&out[..]);
                finish_dz(
                    &mut got,
                    relu_out,
                    rows,
                    cols,
                    &mut got_bias,
                    &mut transposed,
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&dz), "{rows}×{cols} relu {relu}");
                assert_eq!(bits(&got_bias), bits(&bias), "{rows}×{cols} relu {relu}");
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(
                            transposed[c * rows + r].to_bits(),
                            dz[r * cols + c].to_bits()
                        );
                    }
                }
            }
        }
    }
}
