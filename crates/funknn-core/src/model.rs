//! The FunkNN model: patch sampler, patch network and the skip to the patch centre.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::cnn::Cnn;
use crate::config::{Config, Network};
use crate::infer::{HostNetwork, Real, Scratch};
use crate::init::{init_parameters, parameter_specs};
use crate::jet::{Jet, JetOrder};
use crate::mlp::{Mlp, PATCH_MLP_HIDDEN};
use crate::sampler::{host_points, PatchSampler};
use crate::sampler_host::HostImages;
use crate::{Error, Result};

/// The network that maps patches to intensities.
#[derive(Debug, Clone)]
pub enum PatchNetwork {
    Mlp(Mlp),
    Cnn(Cnn),
}

/// Options of [`FunkNN::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvalOptions {
    /// Points per chunk; `0` picks a cache-sized chunk for the network and jet order.
    pub chunk_points: usize,
    /// Worker threads; `0` uses candle's thread count (the number of cores).
    pub threads: usize,
}

/// A FunkNN: `u(x) = net(patch(I, x)) + patch(I, x)[centre]`.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use funknn_core::{Config, FunkNN, JetOrder};
///
/// let (model, _vars) = FunkNN::random(&Config::default(), 0, DType::F32, &Device::Cpu)?;
/// let image = Tensor::rand(0f32, 1., (1, 3, 16, 16), &Device::Cpu)?;
/// let points = Tensor::new(&[[[0.5f32, 0.25], [0.1, 0.9]]], &Device::Cpu)?;
/// let jet = model.forward_jet(&image, &points, JetOrder::Laplacian)?;
/// assert_eq!(jet.value()?.dims(), &[1, 2, 3]);
/// assert_eq!(jet.laplacian()?.unwrap().dims(), &[1, 2, 3]);
/// # Ok::<(), funknn_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FunkNN {
    config: Config,
    sampler: PatchSampler,
    network: PatchNetwork,
    parameters: Vec<(String, Tensor)>,
}

impl FunkNN {
    /// Builds the model from `vb`, whose names are the official `state_dict` keys.
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let c = config.channels;
        let w = config.patch_size;
        let sampler = PatchSampler::new(config.kernel, w, vb.clone())?;
        let network = match config.network {
            Network::Mlp => PatchNetwork::Mlp(Mlp::new(
                c * w * w,
                &PATCH_MLP_HIDDEN,
                c,
                config.activation,
                vb.clone(),
            )?),
            Network::Cnn => PatchNetwork::Cnn(Cnn::new(c, w, config.activation, vb.clone())?),
        };
        let parameters = parameter_specs(config)
            .into_iter()
            .map(|(name, shape, _)| {
                let t = vb.get(shape, &name)?;
                Ok((name, t))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FunkNN {
            config: config.clone(),
            sampler,
            network,
            parameters,
        })
    }

    /// Builds the model from named tensors, checking every name and shape.
    pub fn from_tensors(
        config: &Config,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
        origin: &Path,
    ) -> Result<Self> {
        for (name, shape, _) in parameter_specs(config) {
            match tensors.get(&name) {
                None => {
                    return Err(Error::Weights {
                        path: origin.to_owned(),
                        message: format!(
                            "missing tensor {name:?} (needed by a {} {} model with {} channels)",
                            config.network, config.activation, config.channels
                        ),
                    })
                }
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(Error::Weights {
                        path: origin.to_owned(),
                        message: format!(
                            "tensor {name:?} has shape {:?}, the config needs {shape:?}",
                            t.dims()
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        FunkNN::new(config, vb)
    }

    /// A freshly initialised, trainable model (PyTorch's default initialisation, and the
    /// official SIREN one for sine MLP layers), reproducible from `seed`.
    pub fn random(
        config: &Config,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<(Self, VarMap)> {
        config.validate()?;
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::invalid("varmap", "poisoned lock"))?;
            for (name, t) in init_parameters(config, seed, dtype, device)? {
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        Ok((FunkNN::new(config, vb)?, varmap))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn sampler(&self) -> &PatchSampler {
        &self.sampler
    }

    pub fn network(&self) -> &PatchNetwork {
        &self.network
    }

    /// Every parameter under its official `state_dict` name.
    pub fn parameters(&self) -> &[(String, Tensor)] {
        &self.parameters
    }

    fn check_inputs(&self, images: &Tensor, points: &Tensor) -> Result<()> {
        let c = self.config.channels;
        match images.dims() {
            [_, ch, h, w] if *ch == c && *h >= 2 && *w >= 2 => {}
            got => {
                return Err(Error::Shape {
                    name: "images",
                    expected: format!("(N, {c}, H, W) with H, W ≥ 2"),
                    got: got.to_vec(),
                })
            }
        }
        match points.dims() {
            [n, _, 2] if *n == images.dim(0)? => Ok(()),
            got => Err(Error::Shape {
                name: "points",
                expected: format!("({}, P, 2)", images.dim(0)?),
                got: got.to_vec(),
            }),
        }
    }

    /// The jet of `u` at `points` `(N, P, 2)` on `images` `(N, C, H, W)`: parts of shape
    /// `(N, P, C)`. One graph: a loss on any part backpropagates to the weights, the
    /// receptive field and the images.
    pub fn forward_jet(&self, images: &Tensor, points: &Tensor, order: JetOrder) -> Result<Jet> {
        self.check_inputs(images, points)?;
        let prepared = self.sampler.prepare(images)?;
        self.forward_prepared(&prepared, points, order)
    }

    fn forward_prepared(&self, prepared: &Tensor, points: &Tensor, order: JetOrder) -> Result<Jet> {
        let (n, p, _) = points.dims3()?;
        let patch = self.sampler.sample_prepared(prepared, points, order)?;
        self.forward_patch(&patch, n, p)
    }

    /// The network and the centre skip on patch jets `(K, N·P, C, w, w)`.
    fn forward_patch(&self, patch: &Jet, n: usize, p: usize) -> Result<Jet> {
        let c = self.config.channels;
        let w = self.config.patch_size;
        let k = patch.order().parts();
        let centre = patch.map(|t| {
            t.narrow(3, w / 2, 1)?
                .narrow(4, w / 2, 1)?
                .reshape((k, n * p, c))
        })?;
        let out = match &self.network {
            PatchNetwork::Mlp(mlp) => {
                mlp.forward_jet(&patch.map(|t| t.reshape((k, n * p, c * w * w)))?)?
            }
            PatchNetwork::Cnn(cnn) => cnn.forward_jet(patch)?,
        };
        out.add(&centre)?.map(|t| t.reshape((k, n, p, c)))
    }

    /// Points per chunk: enough GEMM rows for efficiency, few enough to stay near the
    /// caches and bound memory (about 40 MB per chunk for the CNN's Hessian).
    fn auto_chunk(&self, order: JetOrder) -> usize {
        match self.config.network {
            Network::Mlp => (1024 / order.parts()).max(128),
            Network::Cnn => (24 / order.parts()).max(4),
        }
    }

    /// Like [`Self::forward_jet`] but without a graph: points are processed in chunks on
    /// several threads, so memory stays bounded for any number of points. On the CPU in
    /// f32/f64 it runs a graph-free engine (host sampler, one single-threaded GEMM per layer
    /// and worker, fused jet activations) that tests hold equal to `forward_jet`; elsewhere
    /// it runs `forward_jet` chunk by chunk.
    pub fn evaluate(
        &self,
        images: &Tensor,
        points: &Tensor,
        order: JetOrder,
        options: EvalOptions,
    ) -> Result<Jet> {
        self.check_inputs(images, points)?;
        let (n, p, _) = points.dims3()?;
        let c = self.config.channels;
        if n == 0 || p == 0 {
            let shape = (order.parts(), n, p, c);
            return Jet::new(
                Tensor::zeros(shape, images.dtype(), images.device())?,
                order,
            );
        }
        let chunk = match options.chunk_points {
            0 => self.auto_chunk(order),
            x => x,
        };
        let threads = match options.threads {
            0 => candle_core::utils::get_num_threads(),
            x => x,
        }
        .max(1);
        let parts = match (images.device().is_cpu(), images.dtype()) {
            (true, DType::F32) => {
                self.evaluate_host::<f32>(images, points, order, chunk, threads)?
            }
            (true, DType::F64) => {
                self.evaluate_host::<f64>(images, points, order, chunk, threads)?
            }
            _ => self.evaluate_graph(images, points, order, chunk)?,
        };
        Jet::new(parts, order)
    }

    /// `evaluate` through candle ops (any device and dtype), one chunk at a time.
    fn evaluate_graph(
        &self,
        images: &Tensor,
        points: &Tensor,
        order: JetOrder,
        chunk: usize,
    ) -> Result<Tensor> {
        let (n, p, _) = points.dims3()?;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let prepared = self.sampler.prepare(&images.narrow(0, i, 1)?.detach())?;
            let mut chunks = Vec::new();
            for start in (0..p).step_by(chunk) {
                let len = chunk.min(p - start);
                let pts = points.narrow(0, i, 1)?.narrow(1, start, len)?.detach();
                chunks.push(
                    self.forward_prepared(&prepared, &pts, order)?
                        .parts()
                        .detach(),
                );
            }
            rows.push(Tensor::cat(&chunks, 2)?);
        }
        Ok(Tensor::cat(&rows, 1)?)
    }

    fn evaluate_host<T: Real>(
        &self,
        images: &Tensor,
        points: &Tensor,
        order: JetOrder,
        chunk: usize,
        threads: usize,
    ) -> Result<Tensor> {
        let (n, p, _) = points.dims3()?;
        let c = self.config.channels;
        let w = self.config.patch_size;
        let k = order.parts();
        let prepared = HostImages::<T>::new(&self.sampler.prepare(&images.detach())?)?;
        let pts = host_points(points, n)?;
        let network = HostNetwork::<T>::new(&self.network)?;
        let total = n * p;
        let n_chunks = total.div_ceil(chunk);
        let results: Mutex<Vec<Option<Result<Vec<T>>>>> =
            Mutex::new((0..n_chunks).map(|_| None).collect());
        let next = AtomicUsize::new(0);
        let work = || {
            let mut scratch = Scratch::default();
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= n_chunks {
                    break;
                }
                let start = j * chunk;
                let len = chunk.min(total - start);
                let r = self
                    .sampler
                    .sample_host_raw(&prepared, &pts[start..start + len], order)
                    .map(|patch| {
                        let mut out = network.forward(&patch, order, len, c, w, &mut scratch);
                        // The skip to the patch centre, every part.
                        let centre = (w / 2) * w + w / 2;
                        for (row, o) in out.chunks_mut(c).enumerate() {
                            for (ch, v) in o.iter_mut().enumerate() {
                                *v += patch[(row * c + ch) * w * w + centre];
                            }
                        }
                        out
                    });
                let failed = r.is_err();
                if let Ok(mut slots) = results.lock() {
                    slots[j] = Some(r);
                }
                if failed {
                    next.store(n_chunks, Ordering::Relaxed);
                }
            }
        };
        if threads == 1 || n_chunks == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads.min(n_chunks) {
                    s.spawn(work);
                }
            });
        }
        let slots = results
            .into_inner()
            .map_err(|_| Error::invalid("evaluate", "a worker panicked"))?;
        // Chunk j holds (K, len, C); gather into (K, N·P, C).
        let mut all = vec![T::ZERO; k * total * c];
        for (j, slot) in slots.into_iter().enumerate() {
            let out = match slot {
                Some(Ok(out)) => out,
                Some(Err(e)) => return Err(e),
                None => return Err(Error::invalid("evaluate", "a chunk was not computed")),
            };
            let start = j * chunk;
            let len = chunk.min(total - start);
            for part in 0..k {
                let dst = (part * total + start) * c;
                all[dst..dst + len * c].copy_from_slice(&out[part * len * c..(part + 1) * len * c]);
            }
        }
        Ok(Tensor::from_vec(all, (k, n, p, c), images.device())?)
    }
}
