//! Graph-free evaluation of a FunkNN at many points: images prepared once, points in
//! chunks on every core.

use candle_core::{DType, Tensor};

use crate::config::Network;
use crate::engine::host_network::{HostNetwork, Scratch};
use crate::engine::parallel::map_indexed;
use crate::jet::{Jet, JetOrder};
use crate::model::funknn::{EvalOptions, FunkNN};
use crate::real::Real;
use crate::sampler::host::HostImages;
use crate::sampler::patch::host_points;
use crate::Result;

/// A continuous image: a model bound to its input, evaluated at any points.
pub trait ContinuousImage {
    /// The jet at `points` `(N, P, 2)` (unit coordinates): parts `(N, P, C)`.
    fn evaluate(&self, points: &Tensor) -> Result<Jet>;
    /// The dtype points must be given in.
    fn dtype(&self) -> DType;
    fn device(&self) -> &candle_core::Device;
}

impl ContinuousImage for Evaluator<'_> {
    fn evaluate(&self, points: &Tensor) -> Result<Jet> {
        Evaluator::evaluate(self, points)
    }

    fn dtype(&self) -> DType {
        Evaluator::dtype(self)
    }

    fn device(&self) -> &candle_core::Device {
        Evaluator::device(self)
    }
}

/// What the images were prepared into.
enum Engine {
    /// The CPU engine of `infer.rs`, in f32.
    F32(HostImages<f32>, HostNetwork<f32>),
    /// The same in f64.
    F64(HostImages<f64>, HostNetwork<f64>),
    /// candle ops (other devices and dtypes): prepared images, one per batch entry.
    Graph(Vec<Tensor>),
}

/// A model bound to prepared images: evaluate it at any number of point sets without
/// preparing the images again (the B-spline prefilter, the host copies of images and
/// weights). On the CPU in f32/f64 it runs a graph-free engine (host patch sampler, one
/// single-threaded GEMM per layer and core, fused jet activations) that the tests hold equal
/// to [`FunkNN::forward_jet`]; elsewhere it runs `forward_jet` chunk by chunk.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use funknn_core::{Config, EvalOptions, Evaluator, FunkNN, JetOrder};
///
/// let (model, _) = FunkNN::random(&Config::default(), 0, DType::F32, &Device::Cpu)?;
/// let image = Tensor::rand(0f32, 1., (1, 3, 32, 32), &Device::Cpu)?;
/// let eval = Evaluator::new(&model, &image, JetOrder::Gradient, EvalOptions::default())?;
/// for row in 0..4 {
///     let y = (row as f32 + 0.5) / 4.0;
///     let points = Tensor::new(&[[[0.25f32, y], [0.75, y]]], &Device::Cpu)?;
///     let jet = eval.evaluate(&points)?;
///     assert_eq!(jet.gradient()?.unwrap().dims(), &[1, 2, 3, 2]);
/// }
/// # Ok::<(), funknn_core::Error>(())
/// ```
pub struct Evaluator<'a> {
    model: &'a FunkNN,
    engine: Engine,
    order: JetOrder,
    chunk: usize,
    threads: usize,
    n_images: usize,
    dtype: DType,
    device: candle_core::Device,
}

impl<'a> Evaluator<'a> {
    /// Prepares `images` `(N, C, H, W)` for jets of `order`.
    pub fn new(
        model: &'a FunkNN,
        images: &Tensor,
        order: JetOrder,
        options: EvalOptions,
    ) -> Result<Self> {
        model.check_images(images)?;
        let images = images.detach();
        let prepared = model.sampler().prepare(&images)?;
        let engine = match (images.device().is_cpu(), images.dtype()) {
            (true, DType::F32) => Engine::F32(
                HostImages::new(&prepared)?,
                HostNetwork::new(model.network())?,
            ),
            (true, DType::F64) => Engine::F64(
                HostImages::new(&prepared)?,
                HostNetwork::new(model.network())?,
            ),
            _ => {
                let n = prepared.dim(0)?;
                Engine::Graph(
                    (0..n)
                        .map(|i| prepared.narrow(0, i, 1))
                        .collect::<candle_core::Result<_>>()?,
                )
            }
        };
        let chunk = match options.chunk_points {
            // Enough GEMM rows for efficiency, few enough to stay in cache.
            0 => match model.config().network {
                Network::Mlp => (1024 / order.parts()).max(128),
                Network::Cnn => (24 / order.parts()).max(4),
            },
            x => x,
        };
        // candle's own count can say 1 on VMs that report one physical core per socket.
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            x => x,
        }
        .max(1);
        Ok(Evaluator {
            model,
            engine,
            order,
            chunk,
            threads,
            n_images: images.dim(0)?,
            dtype: images.dtype(),
            device: images.device().clone(),
        })
    }

    /// The dtype the images were given in (and points must be given in).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &candle_core::Device {
        &self.device
    }

    /// The jet at `points` `(N, P, 2)`: parts `(N, P, C)`.
    pub fn evaluate(&self, points: &Tensor) -> Result<Jet> {
        self.model.check_points(self.n_images, points)?;
        let (n, p, _) = points.dims3()?;
        let c = self.model.config().channels;
        let order = self.order;
        if n == 0 || p == 0 {
            let shape = (order.parts(), n, p, c);
            return Jet::new(Tensor::zeros(shape, self.dtype, &self.device)?, order);
        }
        let parts = match &self.engine {
            Engine::F32(images, net) => self.evaluate_host(images, net, points)?,
            Engine::F64(images, net) => self.evaluate_host(images, net, points)?,
            Engine::Graph(prepared) => self.evaluate_graph(prepared, points)?,
        };
        Jet::new(parts, order)
    }

    fn evaluate_graph(&self, prepared: &[Tensor], points: &Tensor) -> Result<Tensor> {
        let (_, p, _) = points.dims3()?;
        let mut rows = Vec::with_capacity(prepared.len());
        for (i, image) in prepared.iter().enumerate() {
            let mut chunks = Vec::new();
            for start in (0..p).step_by(self.chunk) {
                let len = self.chunk.min(p - start);
                let pts = points.narrow(0, i, 1)?.narrow(1, start, len)?.detach();
                let jet = self.model.forward_prepared(image, &pts, self.order)?;
                chunks.push(jet.parts().detach());
            }
            rows.push(Tensor::cat(&chunks, 2)?);
        }
        Ok(Tensor::cat(&rows, 1)?)
    }

    fn evaluate_host<T: Real>(
        &self,
        images: &HostImages<T>,
        network: &HostNetwork<T>,
        points: &Tensor,
    ) -> Result<Tensor> {
        let (n, p, _) = points.dims3()?;
        let c = self.model.config().channels;
        let w = self.model.config().patch_size;
        let order = self.order;
        let k = order.parts();
        let chunk = self.chunk;
        let pts = host_points(points, n)?;
        let total = n * p;
        let n_chunks = total.div_ceil(chunk);
        let sampler = self.model.sampler();
        let outputs = map_indexed(n_chunks, self.threads, Scratch::default, |scratch, j| {
            let start = j * chunk;
            let len = chunk.min(total - start);
            let patch = sampler.sample_host_raw(images, &pts[start..start + len], order)?;
            let mut out = network.forward(&patch, order, len, c, w, scratch);
            // The skip to the patch centre, every part.
            let centre = (w / 2) * w + w / 2;
            for (row, o) in out.chunks_mut(c).enumerate() {
                for (ch, v) in o.iter_mut().enumerate() {
                    *v += patch[(row * c + ch) * w * w + centre];
                }
            }
            Ok(out)
        })?;
        // Chunk j holds (K, len, C); gather into (K, N·P, C).
        let mut all = vec![T::ZERO; k * total * c];
        for (j, out) in outputs.into_iter().enumerate() {
            let start = j * chunk;
            let len = chunk.min(total - start);
            for part in 0..k {
                let dst = (part * total + start) * c;
                all[dst..dst + len * c].copy_from_slice(&out[part * len * c..(part + 1) * len * c]);
            }
        }
        Ok(Tensor::from_vec(all, (k, n, p, c), &self.device)?)
    }
}

// Defined here rather than beside `forward_jet` so that the model does not depend on the
// engine that runs it.
impl FunkNN {
    /// Like [`Self::forward_jet`] but without a graph: points are processed in chunks on
    /// several threads, so memory stays bounded for any number of points. See
    /// [`Evaluator`], which prepares the images once for many calls.
    pub fn evaluate(
        &self,
        images: &Tensor,
        points: &Tensor,
        order: JetOrder,
        options: EvalOptions,
    ) -> Result<Jet> {
        Evaluator::new(self, images, order, options)?.evaluate(points)
    }
}
