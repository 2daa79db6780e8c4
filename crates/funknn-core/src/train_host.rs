//! The L1 loss of an MLP FunkNN and its gradient, computed on the CPU without a graph.
//!
//! Training spends its time in the MLP. Through candle ops, a step is ~30 separate passes
//! with fresh buffers, a threaded GEMM and a spinning pool for element-wise ops, and only a
//! quarter of the time goes to GEMMs. Here each worker takes whole chunks of points: the host
//! patch sampler, a forward pass that keeps what the backward pass needs, and single-threaded
//! GEMMs for the weight and input gradients. The receptive field's gradient comes from the
//! patch's spatial derivatives, which the host sampler gives directly. The result equals
//! candle's backprop (a test holds them equal) and does not depend on the number of threads:
//! chunks are summed into a fixed number of slots in a fixed order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::{Device, Tensor};

use crate::config::Activation;
use crate::infer::Real;
use crate::jet::JetOrder;
use crate::model::{FunkNN, PatchNetwork};
use crate::sampler::host_points;
use crate::sampler_host::HostImages;
use crate::{Error, Result};

/// Points per chunk: one GEMM row block, its activations a few MB.
const CHUNK: usize = 512;
/// Gradient accumulators; chunk j goes to slot j % SLOTS, and slots are summed in order.
const SLOTS: usize = 8;

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, each operand given by (column, row) strides.
#[allow(clippy::too_many_arguments)]
fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_strides: (isize, isize),
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rhs_strides: (isize, isize),
) {
    let extent = |(cs, rs): (isize, isize), rows: usize, cols: usize| {
        (rows.saturating_sub(1) as isize * rs + cols.saturating_sub(1) as isize * cs) as usize + 1
    };
    assert!(
        dst.len() >= extent(dst_strides, m, n)
            && lhs.len() >= extent(lhs_strides, m, k)
            && rhs.len() >= extent(rhs_strides, k, n)
    );
    // SAFETY: the assertion keeps every strided access inside the slices (strides are
    // non-negative here).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_strides.0,
            dst_strides.1,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.0,
            lhs_strides.1,
            rhs.as_ptr(),
            rhs_strides.0,
            rhs_strides.1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

struct Layer {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    omega: f32,
}

/// Gradient sums of one slot.
struct Grads {
    weight: Vec<Vec<f32>>,
    bias: Vec<Vec<f32>>,
    omega: Vec<f64>,
    ws: [f64; 2],
    abs_error: f64,
}

impl Grads {
    fn zeros(layers: &[Layer]) -> Self {
        Grads {
            weight: layers
                .iter()
                .map(|l| vec![0.0; l.inputs * l.outputs])
                .collect(),
            bias: layers.iter().map(|l| vec![0.0; l.outputs]).collect(),
            omega: vec![0.0; layers.len()],
            ws: [0.0; 2],
            abs_error: 0.0,
        }
    }

    fn add(&mut self, other: &Grads) {
        for (a, b) in self.weight.iter_mut().zip(&other.weight) {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        for (a, b) in self.bias.iter_mut().zip(&other.bias) {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        for (a, b) in self.omega.iter_mut().zip(&other.omega) {
            *a += b;
        }
        self.ws[0] += other.ws[0];
        self.ws[1] += other.ws[1];
        self.abs_error += other.abs_error;
    }
}

/// `(σ(z), σ′(z))` of a value-only activation with frequency ω (sine only).
#[inline(always)]
fn act(activation: Activation, z: f32, omega: f32) -> (f32, f32) {
    match activation {
        Activation::Relu => {
            if z > 0.0 {
                (z, 1.0)
            } else {
                (0.0, 0.0)
            }
        }
        Activation::Sin => {
            let (s, c) = Real::sin_cos(omega * z);
            (s, omega * c)
        }
        Activation::Tanh => {
            let t = z.tanh();
            (t, 1.0 - t * t)
        }
        Activation::Silu => {
            let s = 1.0 / (1.0 + (-z).exp());
            (z * s, s * (1.0 + z * (1.0 - s)))
        }
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + Real::erf(z * std::f32::consts::FRAC_1_SQRT_2));
            let pdf = 0.398_942_3 * (-0.5 * z * z).exp();
            (z * cdf, cdf + z * pdf)
        }
    }
}

/// Everything a worker needs, borrowed.
struct Step<'a> {
    layers: &'a [Layer],
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
}

impl Step<'_> {
    /// Adds the gradient of one chunk of points to `g`. `buf` holds the forward pass.
    fn chunk(
        &self,
        start: usize,
        len: usize,
        g: &mut Grads,
        buf: &mut Vec<Vec<f32>>,
    ) -> Result<()> {
        let sampler = self.model.sampler();
        let c = self.model.config().channels;
        let w = sampler.patch_size();
        let cww = c * w * w;
        let pts = &self.points[start..start + len];
        let mut patch = sampler.sample_host_raw(self.images, pts, JetOrder::Gradient)?;
        let centre = (w / 2) * w + w / 2;
        if self.centred {
            for sample in patch[..len * cww].chunks_exact_mut(w * w) {
                let v = sample[centre];
                sample.iter_mut().for_each(|s| *s -= v);
                sample[centre] = v;
            }
        }
        let n_layers = self.layers.len();
        // buf[2l]: input of layer l+1 (activation); buf[2l+1]: σ′ of layer l (or its
        // pre-activation for the sine, which needs it for ω's gradient).
        buf.resize_with(2 * n_layers, Vec::new);
        for (l, layer) in self.layers.iter().enumerate() {
            let (done, rest) = buf.split_at_mut(2 * l);
            let input: &[f32] = if l == 0 {
                &patch[..len * cww]
            } else {
                &done[2 * l - 2]
            };
            let (out, rest) = rest.split_at_mut(1);
            let out = &mut out[0];
            out.resize(len * layer.outputs, 0.0);
            gemm_strided(
                len,
                layer.outputs,
                layer.inputs,
                out,
                (1, layer.outputs as isize),
                false,
                input,
                (1, layer.inputs as isize),
                &layer.weight,
                (layer.inputs as isize, 1),
            );
            let deriv = &mut rest[0];
            deriv.resize(len * layer.outputs, 0.0);
            let last = l + 1 == n_layers;
            for (row, drow) in out
                .chunks_exact_mut(layer.outputs)
                .zip(deriv.chunks_exact_mut(layer.outputs))
            {
                for ((v, d), &b) in row.iter_mut().zip(drow.iter_mut()).zip(&layer.bias) {
                    let z = *v + b;
                    if last {
                        *v = z;
                    } else if self.activation == Activation::Sin {
                        *d = z;
                        *v = act(Activation::Sin, z, layer.omega).0;
                    } else {
                        let (s, ds) = act(self.activation, z, layer.omega);
                        *v = s;
                        *d = ds;
                    }
                }
            }
        }
        // The L1 loss on u = net + patch centre, and dL/du.
        let mut grad = std::mem::take(&mut buf[2 * n_layers - 2]);
        for (row, out) in grad.chunks_exact_mut(c).enumerate() {
            for (ch, v) in out.iter_mut().enumerate() {
                let u = *v + patch[row * cww + ch * w * w + centre];
                let e = u - self.targets[(start + row) * c + ch];
                g.abs_error += e.abs() as f64;
                *v = if e > 0.0 {
                    self.scale
                } else if e < 0.0 {
                    -self.scale
                } else {
                    0.0
                };
            }
        }
        let mut next = Vec::new();
        for l in (0..n_layers).rev() {
            let layer = &self.layers[l];
            if l + 1 < n_layers {
                let z_or_d = &buf[2 * l + 1];
                if self.activation == Activation::Sin {
                    let mut domega = 0.0f64;
                    for (gv, &z) in grad.iter_mut().zip(z_or_d) {
                        let (_, cos) = Real::sin_cos(layer.omega * z);
                        domega += (*gv * z * cos) as f64;
                        *gv *= layer.omega * cos;
                    }
                    g.omega[l] += domega;
                } else {
                    grad.iter_mut().zip(z_or_d).for_each(|(gv, &d)| *gv *= d);
                }
            }
            let input: &[f32] = if l == 0 {
                &patch[..len * cww]
            } else {
                &buf[2 * l - 2]
            };
            // dW += dZᵀ · X
            gemm_strided(
                layer.outputs,
                layer.inputs,
                len,
                &mut g.weight[l],
                (1, layer.inputs as isize),
                true,
                &grad,
                (layer.outputs as isize, 1),
                input,
                (1, layer.inputs as isize),
            );
            for row in grad.chunks_exact(layer.outputs) {
                g.bias[l].iter_mut().zip(row).for_each(|(b, &v)| *b += v);
            }
            // dX = dZ · W
            next.resize(len * layer.inputs, 0.0);
            gemm_strided(
                len,
                layer.inputs,
                layer.outputs,
                &mut next,
                (1, layer.inputs as isize),
                false,
                &grad,
                (1, layer.outputs as isize),
                &layer.weight,
                (1, layer.inputs as isize),
            );
            std::mem::swap(&mut grad, &mut next);
        }
        // The receptive field: sample (i, q) sits at x + ws1·δx_q, y + ws2·δy_i, so
        // ∂patch/∂ws1 = ∂patch/∂x · δx_q (unit coordinates) and likewise for ws2.
        let (gx, gy) = (&patch[len * cww..2 * len * cww], &patch[2 * len * cww..]);
        let (mut d1, mut d2) = (0.0f64, 0.0f64);
        for (idx, &gv) in grad.iter().enumerate() {
            let within = idx % (w * w);
            let (i, q) = (within / w, within % w);
            d1 += (gv * gx[idx]) as f64 * self.dx[q];
            d2 += (gv * gy[idx]) as f64 * self.dy[i];
        }
        g.ws[0] += d1;
        g.ws[1] += d2;
        buf[2 * n_layers - 2] = grad;
        Ok(())
    }
}

fn host_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// The first-layer weight `[out, C·w·w]` of the official model that computes what
/// `weight` computes on centred patches: every sample but the centre minus the centre, per
/// channel. Photographs' patches are nearly constant, so the plain inputs are dominated by
/// their mean; Adam then normalises every first-layer weight by a gradient that is mostly
/// that mean, and the differences between samples, which carry the detail, barely train.
/// Centring is a linear change of the first layer, so the trained model is an ordinary one.
pub fn export_centred(weight: &Tensor, channels: usize, patch_size: usize) -> Result<Tensor> {
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
    let mut w = host_vec(weight)?;
    for row in w.chunks_exact_mut(inputs) {
        for sample in row.chunks_exact_mut(ww) {
            let others: f32 = sample.iter().sum::<f32>() - sample[centre];
            sample[centre] -= others;
        }
    }
    Ok(Tensor::from_vec(w, (out, inputs), weight.device())?.to_dtype(weight.dtype())?)
}

/// The mean absolute error of `model` (an MLP) on `images` `(N, C, H, W)` at `points`
/// `(N, P, 2)` against `targets` `(N, P, C)`, and its gradient for every parameter that
/// takes part (by official name), on `threads` workers. With `centred`, the first layer
/// sees centred patches (see [`export_centred`]). `None` for a CNN.
pub(crate) fn mlp_l1_gradients(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    threads: usize,
    centred: bool,
) -> Result<Option<(f32, HashMap<String, Tensor>)>> {
    let PatchNetwork::Mlp(mlp) = model.network() else {
        return Ok(None);
    };
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
    let activation = mlp.activation();
    let layers = mlp
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (outputs, inputs) = l.weight().dims2()?;
            let omega = match mlp.omegas().get(i) {
                Some(w) => host_vec(w)?[0],
                None => 1.0,
            };
            Ok(Layer {
                weight: host_vec(l.weight())?,
                bias: host_vec(l.bias())?,
                inputs,
                outputs,
                omega,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let sampler = model.sampler();
    let host = HostImages::<f32>::new(&sampler.prepare(images)?)?;
    let (_, _, height, width) = host.dims();
    let pts = host_points(points, n)?;
    let targets = host_vec(targets)?;
    let step = Step {
        layers: &layers,
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
    };
    let total = n * p;
    let n_chunks = total.div_ceil(CHUNK);
    let n_slots = SLOTS.min(n_chunks);
    let slots: Mutex<Vec<Option<Result<Grads>>>> = Mutex::new((0..n_slots).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let work = || {
        let mut buf = Vec::new();
        loop {
            let s = next.fetch_add(1, Ordering::Relaxed);
            if s >= n_slots {
                break;
            }
            let mut g = Grads::zeros(&layers);
            let r = (s..n_chunks).step_by(n_slots).try_for_each(|j| {
                let start = j * CHUNK;
                step.chunk(start, CHUNK.min(total - start), &mut g, &mut buf)
            });
            if let Ok(mut all) = slots.lock() {
                all[s] = Some(r.map(|_| g));
            }
        }
    };
    let threads = threads.clamp(1, n_slots);
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let mut sum: Option<Grads> = None;
    let slots = slots
        .into_inner()
        .map_err(|_| Error::invalid("training", "a worker panicked"))?;
    for slot in slots {
        let g = slot.ok_or_else(|| Error::invalid("training", "a chunk was not computed"))??;
        match &mut sum {
            None => sum = Some(g),
            Some(s) => s.add(&g),
        }
    }
    let g = sum.ok_or_else(|| Error::invalid("training", "no points"))?;
    let dev = &Device::Cpu;
    let mut out = HashMap::new();
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
    let loss = (g.abs_error / (n * p * c) as f64) as f32;
    Ok(Some((loss, out)))
}
