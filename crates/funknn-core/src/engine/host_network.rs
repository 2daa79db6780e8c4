//! Graph-free inference of the patch networks on the CPU, for [`crate::FunkNN::evaluate`].
//!
//! The same jets as the candle-op networks (tests hold them equal), computed in plain
//! buffers: one single-threaded GEMM per layer for all jet parts, the bias and the
//! activation's jet rule fused into one pass, buffers reused across layers. candle's ops
//! stay the differentiable path; this one exists because evaluation runs one chunk per core,
//! where candle's own threading (threaded GEMM, a spinning pool for element-wise ops) makes
//! the workers contend, and each candle op is a separate pass with a fresh allocation.

use candle_core::{DType, Tensor};

use crate::config::Activation;
use crate::jet::JetOrder;
use crate::model::funknn::PatchNetwork;
use crate::network::cnn::Cnn;
use crate::network::mlp::Mlp;
use crate::real::{to_vec, Real};
use crate::Result;

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?[0])
}

/// Makes `v` hold exactly `len` values without clearing what it held: for buffers that are
/// overwritten entirely (GEMM outputs with `read_dst = false`, full im2col rows).
fn set_len<T: Real>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::ZERO);
    } else {
        v.truncate(len);
    }
}

/// `c[m×n] = a[m×k] · bᵀ` with b `[n×k]`, single-threaded.
fn gemm_abt<T: Real>(a: &[T], b: &[T], c: &mut [T], m: usize, n: usize, k: usize) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    // SAFETY: the asserted lengths cover the row-major m×k, n×k and m×n operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            k as isize,
            1,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// A dense layer: weight `[out, in]`, bias, and ω for sine activations.
pub(crate) struct Dense<T> {
    pub weight: Vec<T>,
    pub bias: Vec<T>,
    pub inputs: usize,
    pub outputs: usize,
    pub omega: Option<T>,
}

/// Applies the jet rule of `activation` in place on `parts` `(K, B, F)`, adding `bias`
/// (period F) to the value part first. `omega` scales the sine's argument.
fn activate<T: Real>(
    activation: Activation,
    parts: &mut [T],
    order: JetOrder,
    rows: usize,
    bias: &[T],
    omega: T,
) {
    // One monomorphised loop per activation (the activation is a constant in each call of
    // `rule`), so that the simple ones vectorise.
    match activation {
        Activation::Relu => jet_rule(parts, order, rows, bias, |z| {
            rule(Activation::Relu, z, omega)
        }),
        Activation::Sin => jet_rule(parts, order, rows, bias, |z| {
            rule(Activation::Sin, z, omega)
        }),
        Activation::Tanh => jet_rule(parts, order, rows, bias, |z| {
            rule(Activation::Tanh, z, omega)
        }),
        Activation::Silu => jet_rule(parts, order, rows, bias, |z| {
            rule(Activation::Silu, z, omega)
        }),
        Activation::Gelu => jet_rule(parts, order, rows, bias, |z| {
            rule(Activation::Gelu, z, omega)
        }),
    }
}

/// `(σ′, σ″, σ‴)` of the activations other than the sine (whose ω is handled apart).
#[inline(always)]
pub(crate) fn rule3(activation: Activation, z: f32) -> (f32, f32, f32) {
    match activation {
        Activation::Relu => (if z > 0.0 { 1.0 } else { 0.0 }, 0.0, 0.0),
        Activation::Sin => {
            let (s, c) = z.sin_cos();
            (c, -s, -c)
        }
        Activation::Tanh => {
            let t = z.tanh();
            let d1 = 1.0 - t * t;
            (d1, -2.0 * t * d1, d1 * (4.0 * t * t - 2.0 * d1))
        }
        Activation::Silu => {
            let s = 1.0 / (1.0 + (-z).exp());
            let om = 1.0 - s;
            let m = 1.0 - 2.0 * s;
            (
                s * (1.0 + z * om),
                s * om * (2.0 + z * m),
                s * om * (3.0 * m + z * (m * m - 2.0 * s * om)),
            )
        }
        Activation::Gelu => {
            let (_, d1, d2) = rule(Activation::Gelu, z, 1.0);
            let pdf = 0.398_942_3_f32 * (-(0.5 * z * z)).exp();
            (d1, d2, z * pdf * (z * z - 4.0))
        }
    }
}

/// `(σ(z), σ′(z), σ″(z))` of `activation`; `omega` scales the sine's argument.
#[inline(always)]
pub(crate) fn rule<T: Real>(activation: Activation, z: T, omega: T) -> (T, T, T) {
    let two = T::from_f64(2.0);
    let half = T::from_f64(0.5);
    match activation {
        Activation::Relu => {
            if z > T::ZERO {
                (z, T::ONE, T::ZERO)
            } else {
                (T::ZERO, T::ZERO, T::ZERO)
            }
        }
        Activation::Sin => {
            let (s, c) = (omega * z).sin_cos();
            (s, omega * c, -(omega * omega) * s)
        }
        Activation::Tanh => {
            let t = z.tanh();
            let d1 = T::ONE - t * t;
            (t, d1, -(two * t * d1))
        }
        Activation::Silu => {
            let s = T::ONE / (T::ONE + (-z).exp());
            let om = T::ONE - s;
            (
                z * s,
                s * (T::ONE + z * om),
                s * om * (two + z * (T::ONE - two * s)),
            )
        }
        Activation::Gelu => {
            let cdf = half * (T::ONE + (z * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf());
            let pdf = T::from_f64(0.398_942_280_401_432_7) * (-(half * z * z)).exp();
            (z * cdf, cdf + z * pdf, pdf * (two - z * z))
        }
    }
}

/// `v = σ(z)`, `v′ = σ′ z′`, `v″ = σ″ z′⊗z′ + σ′ z″` with `(σ, σ′, σ″) = f(z + bias)`.
#[inline(always)]
fn jet_rule<T: Real, F: Fn(T) -> (T, T, T)>(
    parts: &mut [T],
    order: JetOrder,
    rows: usize,
    bias: &[T],
    f: F,
) {
    let width = bias.len();
    let n = rows * width;
    let (value, rest) = parts.split_at_mut(n);
    if order == JetOrder::Value {
        for row in value.chunks_exact_mut(width) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = f(*v + b).0;
            }
        }
        return;
    }
    let (gx, rest) = rest.split_at_mut(n);
    let (gy, rest) = rest.split_at_mut(n);
    for r in 0..rows {
        let span = r * width..(r + 1) * width;
        let (v, x, y) = (
            &mut value[span.clone()],
            &mut gx[span.clone()],
            &mut gy[span.clone()],
        );
        match order {
            JetOrder::Gradient => {
                for i in 0..width {
                    let (s0, s1, _) = f(v[i] + bias[i]);
                    v[i] = s0;
                    x[i] = s1 * x[i];
                    y[i] = s1 * y[i];
                }
            }
            JetOrder::Laplacian => {
                let lap = &mut rest[span];
                for i in 0..width {
                    let (s0, s1, s2) = f(v[i] + bias[i]);
                    let (zx, zy) = (x[i], y[i]);
                    v[i] = s0;
                    x[i] = s1 * zx;
                    y[i] = s1 * zy;
                    lap[i] = s2 * (zx * zx + zy * zy) + s1 * lap[i];
                }
            }
            _ => {
                let (xx, rest) = rest.split_at_mut(n);
                let (xy, yy) = rest.split_at_mut(n);
                let (xx, xy, yy) = (&mut xx[span.clone()], &mut xy[span.clone()], &mut yy[span]);
                for i in 0..width {
                    let (s0, s1, s2) = f(v[i] + bias[i]);
                    let (zx, zy) = (x[i], y[i]);
                    v[i] = s0;
                    x[i] = s1 * zx;
                    y[i] = s1 * zy;
                    xx[i] = s2 * zx * zx + s1 * xx[i];
                    xy[i] = s2 * zx * zy + s1 * xy[i];
                    yy[i] = s2 * zy * zy + s1 * yy[i];
                }
            }
        }
    }
}

pub(crate) fn dense_layers<T: Real>(mlp: &Mlp) -> Result<Vec<Dense<T>>> {
    mlp.layers()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (outputs, inputs) = l.weight().dims2()?;
            Ok(Dense {
                weight: to_vec(l.weight())?,
                bias: to_vec(l.bias())?,
                inputs,
                outputs,
                omega: match mlp.omegas().get(i) {
                    Some(w) => Some(T::from_f64(scalar(w)?)),
                    None => None,
                },
            })
        })
        .collect()
}

/// A convolution as a GEMM over im2col rows: weight reordered to `[out, kh, kw, in]` to
/// match channels-last patches.
pub(crate) struct Conv<T> {
    pub weight: Vec<T>,
    pub bias: Vec<T>,
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
}

/// A patch network copied out of its tensors, ready for graph-free jets.
pub(crate) enum HostNetwork<T> {
    Mlp {
        layers: Vec<Dense<T>>,
        activation: Activation,
    },
    Cnn {
        convs: Vec<Conv<T>>,
        head: Vec<Dense<T>>,
        activation: Activation,
    },
}

/// Reusable buffers of one worker.
pub(crate) struct Scratch<T> {
    a: Vec<T>,
    b: Vec<T>,
    cols: Vec<T>,
}

impl<T> Default for Scratch<T> {
    fn default() -> Self {
        Scratch {
            a: Vec::new(),
            b: Vec::new(),
            cols: Vec::new(),
        }
    }
}

impl<T: Real> HostNetwork<T> {
    pub fn new(network: &PatchNetwork) -> Result<Self> {
        Ok(match network {
            PatchNetwork::Mlp(mlp) => HostNetwork::Mlp {
                layers: dense_layers(mlp)?,
                activation: mlp.activation(),
            },
            PatchNetwork::Cnn(cnn) => HostNetwork::Cnn {
                convs: conv_layers(cnn)?,
                head: dense_layers(cnn.head())?,
                activation: cnn.activation(),
            },
        })
    }

    /// Network output jet `(K, B, C)` for patch jets `(K, B, C, w, w)` (channel-first).
    pub fn forward(
        &self,
        patch: &[T],
        order: JetOrder,
        rows: usize,
        channels: usize,
        w: usize,
        s: &mut Scratch<T>,
    ) -> Vec<T> {
        match self {
            HostNetwork::Mlp { layers, activation } => {
                s.a.clear();
                s.a.extend_from_slice(patch);
                mlp_forward(layers, *activation, order, rows, s)
            }
            HostNetwork::Cnn {
                convs,
                head,
                activation,
            } => cnn_forward(convs, head, *activation, order, patch, rows, channels, w, s),
        }
    }
}

/// Runs dense layers on `s.a` `(K, B, in)`; returns `(K, B, out)`.
fn mlp_forward<T: Real>(
    layers: &[Dense<T>],
    activation: Activation,
    order: JetOrder,
    rows: usize,
    s: &mut Scratch<T>,
) -> Vec<T> {
    let k = order.parts();
    let last = layers.len() - 1;
    for (i, layer) in layers.iter().enumerate() {
        let m = k * rows;
        set_len(&mut s.b, m * layer.outputs);
        gemm_abt(
            &s.a,
            &layer.weight,
            &mut s.b,
            m,
            layer.outputs,
            layer.inputs,
        );
        if i == last {
            for (j, v) in s.b[..rows * layer.outputs].iter_mut().enumerate() {
                *v += layer.bias[j % layer.outputs];
            }
        } else {
            activate(
                activation,
                &mut s.b,
                order,
                rows,
                &layer.bias,
                layer.omega.unwrap_or(T::ONE),
            );
        }
        std::mem::swap(&mut s.a, &mut s.b);
    }
    s.a.clone()
}

pub(crate) fn conv_layers<T: Real>(cnn: &Cnn) -> Result<Vec<Conv<T>>> {
    cnn.convs()
        .iter()
        .map(|c| {
            let (outputs, inputs, kernel, _) = c.weight().dims4()?;
            Ok(Conv {
                weight: to_vec(&c.weight().permute((0, 2, 3, 1))?.contiguous()?)?,
                bias: to_vec(c.bias())?,
                inputs,
                outputs,
                kernel,
            })
        })
        .collect()
}

/// The CNN on channel-last maps `(K·B, h, w, C)`: im2col with PyTorch's 'same' padding
/// (zeros after the data), GEMM, activation jet, residual or max-pool, then the head.
#[allow(clippy::too_many_arguments)]
fn cnn_forward<T: Real>(
    convs: &[Conv<T>],
    head: &[Dense<T>],
    activation: Activation,
    order: JetOrder,
    patch: &[T],
    rows: usize,
    channels: usize,
    w: usize,
    s: &mut Scratch<T>,
) -> Vec<T> {
    let k = order.parts();
    let maps = k * rows;
    // Channel-first patches to channel-last maps.
    let mut x = vec![T::ZERO; maps * w * w * channels];
    for m in 0..maps {
        for c in 0..channels {
            for p in 0..w * w {
                x[(m * w * w + p) * channels + c] = patch[(m * channels + c) * w * w + p];
            }
        }
    }
    let (mut side, mut ch) = (w, channels);
    for (i, conv) in convs.iter().enumerate() {
        let width = conv.kernel * conv.kernel * conv.inputs;
        let pixels = maps * side * side;
        im2col(&x, maps, side, ch, conv.kernel, &mut s.cols);
        let mut y = std::mem::take(&mut s.b);
        set_len(&mut y, pixels * conv.outputs);
        gemm_abt(&s.cols, &conv.weight, &mut y, pixels, conv.outputs, width);
        // The official code uses plain sin(z) in the conv stack.
        activate(
            activation,
            &mut y,
            order,
            rows * side * side,
            &conv.bias,
            T::ONE,
        );
        let previous = match i {
            3 | 7 => {
                let pooled = max_pool(&y, order, rows, side, conv.outputs, &mut side);
                s.b = y;
                std::mem::replace(&mut x, pooled)
            }
            0 => std::mem::replace(&mut x, y),
            _ => {
                for (a, b) in y.iter_mut().zip(&x) {
                    *a += *b;
                }
                std::mem::replace(&mut x, y)
            }
        };
        // Recycle the buffer we no longer need as the next GEMM output.
        if previous.len() > s.b.len() {
            s.b = previous;
        }
        ch = conv.outputs;
    }
    // Flatten in PyTorch's (c, h, w) order for the head.
    let feat = ch * side * side;
    s.a.clear();
    s.a.resize(maps * feat, T::ZERO);
    for m in 0..maps {
        for p in 0..side * side {
            for c in 0..ch {
                s.a[m * feat + c * side * side + p] = x[(m * side * side + p) * ch + c];
            }
        }
    }
    mlp_forward(head, activation, order, rows, s)
}

/// im2col rows `(maps·side², k²·ch)` of channel-last maps `(maps, side, side, ch)`, with
/// PyTorch's 'same' padding for even kernels (zeros after the data).
pub(crate) fn im2col<T: Real>(
    x: &[T],
    maps: usize,
    side: usize,
    ch: usize,
    ks: usize,
    cols: &mut Vec<T>,
) {
    let before = (ks - 1) / 2;
    let width = ks * ks * ch;
    // Every entry is written below.
    set_len(cols, maps * side * side * width);
    for m in 0..maps {
        for r in 0..side {
            for c in 0..side {
                let dst = &mut cols[((m * side + r) * side + c) * width..][..width];
                for di in 0..ks {
                    let rr = (r + di) as isize - before as isize;
                    for dj in 0..ks {
                        let cc = (c + dj) as isize - before as isize;
                        let d = &mut dst[(di * ks + dj) * ch..][..ch];
                        if rr < 0 || rr >= side as isize || cc < 0 || cc >= side as isize {
                            d.fill(T::ZERO);
                        } else {
                            let at = ((m * side + rr as usize) * side + cc as usize) * ch;
                            d.copy_from_slice(&x[at..at + ch]);
                        }
                    }
                }
            }
        }
    }
}

/// 2×2 max-pool, stride 2, floor; every jet part follows the value's first argmax.
fn max_pool<T: Real>(
    y: &[T],
    order: JetOrder,
    rows: usize,
    side: usize,
    ch: usize,
    new_side: &mut usize,
) -> Vec<T> {
    let k = order.parts();
    let half = side / 2;
    let per_part_in = rows * side * side * ch;
    let per_part_out = rows * half * half * ch;
    let mut out = vec![T::ZERO; k * per_part_out];
    for b in 0..rows {
        for r in 0..half {
            for c in 0..half {
                for f in 0..ch {
                    let at = |dr: usize, dc: usize| {
                        ((b * side + 2 * r + dr) * side + 2 * c + dc) * ch + f
                    };
                    let cands = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                    let mut best = cands[0];
                    for &cand in &cands[1..] {
                        if y[cand] > y[best] {
                            best = cand;
                        }
                    }
                    let o = ((b * half + r) * half + c) * ch + f;
                    for part in 0..k {
                        out[part * per_part_out + o] = y[part * per_part_in + best];
                    }
                }
            }
        }
    }
    *new_side = half;
    out
}
