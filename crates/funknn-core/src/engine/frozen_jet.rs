//! A FunkNN's jet at fixed points as a differentiable function of its input image, the
//! network's weights frozen: what an inverse-problem solver needs when it optimises whatever
//! makes the image (a generator's latent, a decoder's weights).
//!
//! Through candle's graph, rendering 128² points and backpropagating took a second per step
//! on this project's 2-core machine. Here the forward pass is the graph-free engine's (host
//! sampler, GEMMs per chunk of points, on all cores), keeping each hidden layer's
//! pre-activation jets; the backward pass transposes the jet rule layer by layer (input
//! gradients only: no weight-gradient GEMMs) and scatters the patch gradients back to the
//! pixels with the sampler's exact transpose.

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

use crate::config::{Activation, KernelKind};
use crate::engine::host_network::{dense_layers, rule, rule3, Dense};
use crate::engine::parallel::map_indexed;
use crate::engine::sgemm::{sgemm, MatRef};
use crate::jet::{Jet, JetOrder};
use crate::model::funknn::{FunkNN, PatchNetwork};
use crate::sampler::host::{sample_host, sample_host_adjoint, HostImages};
use crate::sampler::patch::host_points;
use crate::{Error, Result};

/// Points per chunk: the chunk's activations stay in cache-sized GEMM blocks.
const CHUNK: usize = 256;

impl FunkNN {
    /// The jet at `points` `(N, P, 2)` on `images` `(N, C, H, W)` (f32, CPU): parts
    /// `(K, N, P, C)` equal to [`Self::forward_jet`]'s, differentiable by candle's backprop
    /// with respect to the images only (the FunkNN's own weights and receptive field get no
    /// gradient). MLP networks; several times faster than the graph.
    ///
    /// ```
    /// use candle_core::{DType, Device, Tensor, Var};
    /// use funknn_core::{Config, FunkNN, JetOrder};
    ///
    /// let config = Config { channels: 1, ..Config::default() };
    /// let (model, _) = FunkNN::random(&config, 0, DType::F32, &Device::Cpu)?;
    /// let image = Var::from_tensor(&Tensor::rand(0f32, 1., (1, 1, 8, 8), &Device::Cpu)?)?;
    /// let points = Tensor::rand(0f32, 1., (1, 5, 2), &Device::Cpu)?;
    /// let jet = model.forward_jet_frozen(image.as_tensor(), &points, JetOrder::Gradient)?;
    /// let loss = jet.gradient()?.unwrap().sqr()?.sum_all()?;
    /// let grads = loss.backward()?;
    /// assert_eq!(grads.get(image.as_tensor()).unwrap().dims(), &[1, 1, 8, 8]);
    /// # Ok::<(), funknn_core::Error>(())
    /// ```
    pub fn forward_jet_frozen(
        &self,
        images: &Tensor,
        points: &Tensor,
        order: JetOrder,
    ) -> Result<Jet> {
        self.check_images(images)?;
        let (n, c, h, w) = images.dims4()?;
        self.check_points(n, points)?;
        if images.dtype() != DType::F32 || !images.device().is_cpu() {
            return Err(Error::invalid(
                "images",
                "the frozen-weights jet runs on f32 CPU tensors (use forward_jet elsewhere)",
            ));
        }
        if h < 2 || w < 2 {
            return Err(Error::Shape {
                name: "image",
                expected: "at least 2×2 pixels".into(),
                got: images.dims().to_vec(),
            });
        }
        // A zero output layer contributes nothing: the jet is the skip connection alone, the
        // kernel interpolant, for which one sample per point (the patch centre) suffices.
        let interpolant = self.is_interpolant();
        let (layers, activation) = match self.network() {
            PatchNetwork::Mlp(mlp) if interpolant => (Vec::new(), mlp.activation()),
            PatchNetwork::Mlp(mlp) => (dense_layers::<f32>(mlp)?, mlp.activation()),
            PatchNetwork::Cnn(_) => {
                return Err(Error::invalid(
                    "network",
                    "the frozen-weights jet is for MLP FunkNNs (use forward_jet for the CNN)",
                ))
            }
        };
        let sampler = self.sampler();
        let (patch_size, deltas) = if interpolant {
            (1, (vec![0.0], vec![0.0]))
        } else {
            (
                sampler.patch_size(),
                (sampler.unit_offsets(w), sampler.unit_offsets(h)),
            )
        };
        let op = FrozenJet {
            transposed: Arc::new(layers.iter().map(transpose_weight).collect()),
            layers: Arc::new(layers),
            activation,
            kernel: sampler.kernel(),
            patch_size,
            deltas,
            ws: sampler.receptive_field_values()?,
            points: host_points(points, n)?,
            order,
            dims: (n, c, h, w),
            threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
            cache: Mutex::new(Vec::new()),
        };
        let prepared = sampler.prepare(images)?.contiguous()?;
        let parts = prepared.apply_op1(op)?;
        Jet::new(parts, order)
    }
}

/// What the backward pass keeps of one hidden layer of one chunk.
enum LayerCache {
    /// The pre-activation parts `z` `(K, n)`.
    Parts(Vec<f32>),
    /// ReLU's `[z > 0]` of the value part `(n)`: its σ″ and σ‴ vanish, so the transposed
    /// rule multiplies every part by σ′ and needs nothing else; a byte per unit instead of
    /// K floats keeps the cache of a 128² rendering at 32 MB instead of 130 MB.
    ReluMask(Vec<u8>),
}

/// What the backward pass keeps of one chunk, layer by layer.
struct ChunkCache {
    layers: Vec<LayerCache>,
}

struct FrozenJet {
    layers: Arc<Vec<Dense<f32>>>,
    /// Each layer's weight transposed, `(in, out)` row-major: the forward GEMM's right
    /// operand, which the GEMM reads faster contiguous along its rows.
    transposed: Arc<Vec<Vec<f32>>>,
    activation: Activation,
    kernel: KernelKind,
    patch_size: usize,
    deltas: (Vec<f64>, Vec<f64>),
    ws: (f64, f64),
    points: Vec<(usize, f64, f64)>,
    order: JetOrder,
    dims: (usize, usize, usize, usize),
    threads: usize,
    cache: Mutex<Vec<ChunkCache>>,
}

/// Runs `$body` with `$f`, the closure `z ↦ (σ, σ′, σ″, σ‴)` of `$activation`, specialised
/// per activation so that the loops over a layer's parts inline it: the sine costs one
/// `sin_cos` (ω scales its argument). (ReLU takes the mask path of the passes instead.)
macro_rules! with_rule {
    ($activation:expr, $omega:expr, |$f:ident| $body:expr) => {
        match $activation {
            Activation::Sin => {
                let w: f32 = $omega;
                let $f = move |z: f32| {
                    let (s, c) = (w * z).sin_cos();
                    (s, w * c, -(w * w) * s, -(w * w * w) * c)
                };
                $body
            }
            a => {
                let $f = move |z: f32| {
                    let (s, s1, s2) = rule(a, z, 1.0);
                    (s, s1, s2, rule3(a, z).2)
                };
                $body
            }
        }
    };
}

/// The activated parts `a` `(K, n)` from the pre-activation parts `z`: the jet rule
/// `a = σ(z)`, `a′ = σ′ z′`, `Δa = σ″ |z′|² + σ′ Δz`.
#[inline(always)]
fn activate<F: Fn(f32) -> (f32, f32, f32, f32)>(
    f: F,
    k: usize,
    n: usize,
    z: &[f32],
    a: &mut [f32],
) {
    if k == 1 {
        for (a, &z) in a[..n].iter_mut().zip(&z[..n]) {
            *a = f(z).0;
        }
        return;
    }
    for e in 0..n {
        let (s, s1, s2, _) = f(z[e]);
        let (zx, zy) = (z[n + e], z[2 * n + e]);
        a[e] = s;
        a[n + e] = s1 * zx;
        a[2 * n + e] = s1 * zy;
        if k == 4 {
            a[3 * n + e] = s2 * (zx * zx + zy * zy) + s1 * z[3 * n + e];
        }
    }
}

/// dL/dz from dL/da in place: the transpose of [`activate`]'s rule.
#[inline(always)]
fn activate_transposed<F: Fn(f32) -> (f32, f32, f32, f32)>(
    f: F,
    k: usize,
    n: usize,
    z: &[f32],
    grad: &mut [f32],
) {
    if k == 1 {
        for (g, &z) in grad[..n].iter_mut().zip(&z[..n]) {
            *g *= f(z).1;
        }
        return;
    }
    for e in 0..n {
        let (_, s1, s2, s3) = f(z[e]);
        let (g0, gx, gy) = (grad[e], grad[n + e], grad[2 * n + e]);
        let (zx, zy) = (z[n + e], z[2 * n + e]);
        let along = gx * zx + gy * zy;
        if k == 4 {
            let gl = grad[3 * n + e];
            let zl = z[3 * n + e];
            let square = zx * zx + zy * zy;
            grad[e] = g0 * s1 + along * s2 + gl * (s3 * square + s2 * zl);
            grad[n + e] = gx * s1 + 2.0 * gl * s2 * zx;
            grad[2 * n + e] = gy * s1 + 2.0 * gl * s2 * zy;
            grad[3 * n + e] = gl * s1;
        } else {
            grad[e] = g0 * s1 + along * s2;
            grad[n + e] = gx * s1;
            grad[2 * n + e] = gy * s1;
        }
    }
}

/// `(out, in)` row-major to `(in, out)` row-major.
fn transpose_weight(layer: &Dense<f32>) -> Vec<f32> {
    let (o, i) = (layer.outputs, layer.inputs);
    let mut t = vec![0f32; o * i];
    for (r, row) in layer.weight.chunks_exact(i).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * o + r] = v;
        }
    }
    t
}

impl FrozenJet {
    fn chunks(&self) -> usize {
        self.points.len().div_ceil(CHUNK)
    }

    fn chunk_range(&self, j: usize) -> (usize, usize) {
        let start = j * CHUNK;
        (start, CHUNK.min(self.points.len() - start))
    }

    /// The network's output parts `(K·len, C)` of one chunk (skip included), and its cache.
    fn forward_chunk(&self, images: &HostImages<f32>, j: usize) -> Result<(Vec<f32>, ChunkCache)> {
        let (start, len) = self.chunk_range(j);
        let (_, c, _, _) = self.dims;
        let ps = self.patch_size;
        let k = self.order.parts();
        let mut patch = Vec::new();
        sample_host(
            self.kernel,
            ps,
            &self.deltas.0,
            &self.deltas.1,
            images,
            &self.points[start..start + len],
            self.ws,
            self.order,
            &mut patch,
        )?;
        let rows = k * len;
        let mut x = if self.layers.is_empty() {
            vec![0f32; rows * c]
        } else {
            patch.clone()
        };
        let mut z_cache = Vec::with_capacity(self.layers.len());
        let last = self.layers.len().saturating_sub(1);
        for (l, (layer, weight_t)) in self.layers.iter().zip(self.transposed.iter()).enumerate() {
            let f = layer.outputs;
            let mut z = vec![0f32; rows * f];
            sgemm(
                rows,
                f,
                layer.inputs,
                MatRef::rows(&x, layer.inputs),
                MatRef::rows(weight_t, f),
                &mut z,
                f,
                false,
            );
            // The bias moves the value only.
            for row in z[..len * f].chunks_exact_mut(f) {
                row.iter_mut().zip(&layer.bias).for_each(|(v, &b)| *v += b);
            }
            if l == last {
                x = z;
                break;
            }
            let n = len * f;
            if self.activation == Activation::Relu {
                // In place: z becomes the next layer's input.
                let mask: Vec<u8> = z[..n].iter().map(|&v| u8::from(v > 0.0)).collect();
                for part in z.chunks_exact_mut(n) {
                    for (v, &m) in part.iter_mut().zip(&mask) {
                        *v = if m != 0 { *v } else { 0.0 };
                    }
                }
                z_cache.push(LayerCache::ReluMask(mask));
                x = z;
                continue;
            }
            let omega = layer.omega.unwrap_or(1.0);
            let mut a = vec![0f32; rows * f];
            with_rule!(self.activation, omega, |rule| activate(
                rule, k, n, &z, &mut a
            ));
            z_cache.push(LayerCache::Parts(z));
            x = a;
        }
        // The skip to the patch centre, every part.
        let centre = (ps / 2) * ps + ps / 2;
        for (row, o) in x.chunks_exact_mut(c).enumerate() {
            for (ch, v) in o.iter_mut().enumerate() {
                *v += patch[(row * c + ch) * ps * ps + centre];
            }
        }
        Ok((x, ChunkCache { layers: z_cache }))
    }

    /// dL/d(prepared images) `(N, H, W, C)` of one chunk, from dL/d(output parts)
    /// `(K·len, C)`.
    fn backward_chunk(&self, j: usize, upstream: Vec<f32>, cache: &ChunkCache) -> Result<Vec<f32>> {
        let (start, len) = self.chunk_range(j);
        let (n, c, h, w) = self.dims;
        let ps = self.patch_size;
        let k = self.order.parts();
        let rows = k * len;
        let mut grad = if self.layers.is_empty() {
            vec![0f32; rows * c * ps * ps]
        } else {
            upstream.clone()
        };
        let mut next = Vec::new();
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let f = layer.outputs;
            if l + 1 < self.layers.len() {
                // dL/dA → dL/dZ: the transpose of the jet rule.
                let n = len * f;
                match &cache.layers[l] {
                    LayerCache::ReluMask(mask) => {
                        for part in grad[..rows * f].chunks_exact_mut(n) {
                            for (g, &m) in part.iter_mut().zip(mask) {
                                *g *= f32::from(m);
                            }
                        }
                    }
                    LayerCache::Parts(z) => {
                        let omega = layer.omega.unwrap_or(1.0);
                        with_rule!(self.activation, omega, |rule| activate_transposed(
                            rule, k, n, z, &mut grad
                        ));
                    }
                }
            }
            next.resize(rows * layer.inputs, 0.0);
            sgemm(
                rows,
                layer.inputs,
                f,
                MatRef::rows(&grad, f),
                MatRef::rows(&layer.weight, layer.inputs),
                &mut next,
                layer.inputs,
                false,
            );
            std::mem::swap(&mut grad, &mut next);
        }
        // grad is dL/dpatch (K·len, C·w·w); the skip adds dL/du at each centre.
        let centre = (ps / 2) * ps + ps / 2;
        for (row, u) in upstream.chunks_exact(c).enumerate() {
            for (ch, &v) in u.iter().enumerate() {
                grad[(row * c + ch) * ps * ps + centre] += v;
            }
        }
        let mut image_grad = vec![0f32; n * h * w * c];
        sample_host_adjoint(
            self.kernel,
            ps,
            (&self.deltas.0, &self.deltas.1),
            self.dims,
            &self.points[start..start + len],
            self.ws,
            self.order,
            &grad,
            &mut image_grad,
        )?;
        Ok(image_grad)
    }
}

fn msg(e: Error) -> candle_core::Error {
    candle_core::Error::msg(e.to_string())
}

impl CustomOp1 for FrozenJet {
    fn name(&self) -> &'static str {
        "funknn-frozen-jet"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let data = match s {
            CpuStorage::F32(v) => v,
            other => candle_core::bail!("frozen jet: f32 images only, got {:?}", other.dtype()),
        };
        let (a, b) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::msg("frozen jet: images must be contiguous"))?;
        let (n, c, h, w) = self.dims;
        let images = HostImages::from_nchw(&data[a..b], (n, c, h, w)).map_err(msg)?;
        let results = map_indexed(
            self.chunks(),
            self.threads,
            || (),
            |_, j| self.forward_chunk(&images, j),
        )
        .map_err(msg)?;
        let k = self.order.parts();
        let total = self.points.len();
        let mut out = vec![0f32; k * total * c];
        let mut caches = Vec::with_capacity(results.len());
        for (j, (parts, cache)) in results.into_iter().enumerate() {
            let (start, len) = self.chunk_range(j);
            for part in 0..k {
                out[(part * total + start) * c..][..len * c]
                    .copy_from_slice(&parts[part * len * c..][..len * c]);
            }
            caches.push(cache);
        }
        *self
            .cache
            .lock()
            .map_err(|_| candle_core::Error::msg("frozen jet: poisoned cache"))? = caches;
        Ok((
            CpuStorage::F32(out),
            Shape::from((k, n, total / n.max(1), c)),
        ))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, c, h, w) = self.dims;
        let k = self.order.parts();
        let total = self.points.len();
        let upstream: Vec<f32> = grad.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let caches = self
            .cache
            .lock()
            .map_err(|_| candle_core::Error::msg("frozen jet: poisoned cache"))?;
        if caches.len() != self.chunks() {
            candle_core::bail!("frozen jet: backward without forward");
        }
        let parts = map_indexed(
            self.chunks(),
            self.threads,
            || (),
            |_, j| {
                let (start, len) = self.chunk_range(j);
                let mut g = Vec::with_capacity(k * len * c);
                for part in 0..k {
                    g.extend_from_slice(&upstream[(part * total + start) * c..][..len * c]);
                }
                self.backward_chunk(j, g, &caches[j])
            },
        )
        .map_err(msg)?;
        // Chunks summed in index order: the result does not depend on the threads.
        let mut sum = vec![0f32; n * h * w * c];
        for p in parts {
            sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        let nhwc = Tensor::from_vec(sum, (n, h, w, c), grad.device())?;
        Ok(Some(nhwc.permute((0, 3, 1, 2))?.contiguous()?))
    }
}
