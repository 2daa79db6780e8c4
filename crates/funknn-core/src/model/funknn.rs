//! The FunkNN model: patch sampler, patch network and the skip to the patch centre.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::config::{Config, KernelKind, Network};
use crate::jet::{Jet, JetOrder};
use crate::network::cnn::Cnn;
use crate::network::init::{init_parameters, parameter_specs, InitScheme};
use crate::network::mlp::{Mlp, PATCH_MLP_HIDDEN};
use crate::sampler::patch::PatchSampler;
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
    /// Worker threads; `0` uses one per available core.
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
        Self::random_with(config, InitScheme::Pytorch, seed, dtype, device)
    }

    /// A freshly initialised, trainable model under the initialisation `scheme`.
    pub fn random_with(
        config: &Config,
        scheme: InitScheme,
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
            for (name, t) in init_parameters(config, scheme, seed, dtype, device)? {
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        Ok((FunkNN::new(config, vb)?, varmap))
    }

    /// The plain `kernel` interpolant as a FunkNN: an MLP whose weights are all zero, so that
    /// `u` is the skip connection alone, `u(x) = Σ k(x − x_ij) c_ij`, with the jets of the
    /// kernel (the B-spline's are C²). The renderer for images that are samples of a smooth
    /// function rather than low-resolution views of a sharper one; the frozen-weights jet
    /// ([`Self::forward_jet_frozen`]) skips the network entirely.
    ///
    /// ```
    /// use candle_core::{DType, Device, Tensor};
    /// use funknn_core::{ContinuousImage, FunkNN, JetOrder, KernelInterpolant, KernelKind};
    ///
    /// let model = FunkNN::interpolant(KernelKind::Bspline, 1, DType::F32, &Device::Cpu)?;
    /// let image = Tensor::rand(0f32, 1., (1, 1, 8, 8), &Device::Cpu)?;
    /// let points = Tensor::rand(0f32, 1., (1, 6, 2), &Device::Cpu)?;
    /// let u = model.forward_jet(&image, &points, JetOrder::Laplacian)?;
    /// let b = KernelInterpolant::new(KernelKind::Bspline, &image, JetOrder::Laplacian)?.evaluate(&points)?;
    /// // Equal to f32 rounding, relative to the largest part (the Laplacian's, scaled by 8²).
    /// let diff = (u.parts() - b.parts())?.abs()?.max_all()?.to_scalar::<f32>()?;
    /// let scale = b.parts().abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
    /// assert!(diff / scale < 1e-5);
    /// # Ok::<(), funknn_core::Error>(())
    /// ```
    pub fn interpolant(
        kernel: KernelKind,
        channels: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let config = Config {
            network: crate::config::Network::Mlp,
            kernel,
            channels,
            source: Some(format!(
                "the plain {kernel} interpolant (every weight zero)"
            )),
            ..Config::default()
        };
        config.validate()?;
        let zeros: HashMap<String, Tensor> =
            init_parameters(&config, InitScheme::Pytorch, 0, dtype, device)?
                .into_iter()
                .map(|(name, t)| {
                    // The receptive field stays 1 (it only places the unused patch samples).
                    let t = if name.starts_with("ws") {
                        t.ones_like()
                    } else {
                        t.zeros_like()
                    };
                    Ok((name, t?))
                })
                .collect::<Result<_>>()?;
        Self::from_tensors(&config, zeros, dtype, device, Path::new("interpolant"))
    }

    /// Whether this is an MLP whose output layer (official `MLP.{last}`) is all zero: `u` is
    /// then the kernel interpolant.
    pub fn is_interpolant(&self) -> bool {
        if self.config.network != Network::Mlp {
            return false;
        }
        let index = |name: &str| -> Option<usize> {
            name.strip_prefix("MLP.")?.split('.').next()?.parse().ok()
        };
        let Some(last) = self.parameters.iter().filter_map(|(n, _)| index(n)).max() else {
            return false;
        };
        self.parameters
            .iter()
            .filter(|(name, _)| index(name) == Some(last))
            .all(|(_, t)| {
                t.abs()
                    .and_then(|a| a.max_all())
                    .and_then(|m| m.to_dtype(DType::F64))
                    .and_then(|m| m.to_scalar::<f64>())
                    .is_ok_and(|m| m == 0.0)
            })
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

    pub(crate) fn check_images(&self, images: &Tensor) -> Result<()> {
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
        Ok(())
    }

    pub(crate) fn check_points(&self, n_images: usize, points: &Tensor) -> Result<()> {
        match points.dims() {
            [n, _, 2] if *n == n_images => Ok(()),
            got => Err(Error::Shape {
                name: "points",
                expected: format!("({n_images}, P, 2)"),
                got: got.to_vec(),
            }),
        }
    }

    /// The jet of `u` at `points` `(N, P, 2)` on `images` `(N, C, H, W)`: parts of shape
    /// `(N, P, C)`. One graph: a loss on any part backpropagates to the weights, the
    /// receptive field and the images.
    pub fn forward_jet(&self, images: &Tensor, points: &Tensor, order: JetOrder) -> Result<Jet> {
        self.check_images(images)?;
        self.check_points(images.dim(0)?, points)?;
        let prepared = self.sampler.prepare(images)?;
        self.forward_prepared(&prepared, points, order)
    }

    pub(crate) fn forward_prepared(
        &self,
        prepared: &Tensor,
        points: &Tensor,
        order: JetOrder,
    ) -> Result<Jet> {
        let (n, p, _) = points.dims3()?;
        let patch = self.sampler.sample_prepared(prepared, points, order)?;
        self.forward_patch(&patch, n, p)
    }

    /// The network and the centre skip on patch jets `(K, N·P, C, w, w)`.
    pub(crate) fn forward_patch(&self, patch: &Jet, n: usize, p: usize) -> Result<Jet> {
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
}
