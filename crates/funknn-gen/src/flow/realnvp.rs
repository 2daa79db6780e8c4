//! The RealNVP prior: couplings and ActNorms on a diagonal Gaussian, under the official
//! `NormalizingFlow`'s tensor names (`q0.*`, `flows.{j}.*`).

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::flow::actnorm::ActNorm;
use crate::flow::base::DiagGaussian;
use crate::flow::config::FlowConfig;
use crate::flow::coupling::MaskedAffineCoupling;
use crate::generator::{check_latents, LatentPrior};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) enum Layer {
    Coupling(MaskedAffineCoupling),
    ActNorm(ActNorm),
}

impl Layer {
    fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        match self {
            Layer::Coupling(c) => c.forward(z),
            Layer::ActNorm(a) => a.forward(z),
        }
    }

    fn inverse(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        match self {
            Layer::Coupling(c) => c.inverse(z),
            Layer::ActNorm(a) => a.inverse(z),
        }
    }
}

/// The official `real_nvp(latent_dim, K)`: `flows.{2k}` a masked affine coupling (even mask
/// for even k), `flows.{2k+1}` an ActNorm, base `q0`. Sampling runs the layers in order from
/// the base; densities run them backwards from the data.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use funknn_gen::{FlowConfig, LatentPrior, RealNvp};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let flow = RealNvp::new(&FlowConfig { latent_dim: 8, depth: 2 }, vb)?;
/// let w = funknn_gen::standard_normal(3, 8, 0)?;
/// let z = flow.sample_from(&w, 1.0)?;
/// // A fresh flow is the identity on a standard normal base.
/// assert!((z - &w)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
/// assert_eq!(flow.log_prob(&w)?.dims(), &[3]);
/// # Ok::<(), funknn_gen::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RealNvp {
    config: FlowConfig,
    base: DiagGaussian,
    layers: Vec<Layer>,
}

impl RealNvp {
    pub fn new(config: &FlowConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let d = config.latent_dim;
        let mut layers = Vec::new();
        for k in 0..config.depth {
            let coupling =
                MaskedAffineCoupling::new(d, k % 2 == 0, vb.pp(format!("flows.{}", 2 * k)))?;
            layers.push(Layer::Coupling(coupling));
            layers.push(Layer::ActNorm(ActNorm::new(
                d,
                vb.pp(format!("flows.{}", 2 * k + 1)),
            )?));
        }
        Ok(RealNvp {
            config: config.clone(),
            base: DiagGaussian::new(d, vb.pp("q0"))?,
            layers,
        })
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The layers in sampling order (`flows.{j}` is `layers()[j]`).
    pub(crate) fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub(crate) fn base(&self) -> &DiagGaussian {
        &self.base
    }

    fn check(&self, z: &Tensor, name: &'static str) -> Result<()> {
        check_latents(z, self.config.latent_dim, name).map(|_| ())
    }

    /// From base samples `w` to latents: `(z, log|det ∂z/∂w|)`.
    pub fn forward(&self, w: &Tensor) -> Result<(Tensor, Tensor)> {
        self.check(w, "base sample")?;
        let mut z = w.clone();
        let mut log_det = Tensor::zeros(w.dim(0)?, w.dtype(), w.device())?;
        for layer in &self.layers {
            let (next, ld) = layer.forward(&z)?;
            z = next;
            log_det = (log_det + ld)?;
        }
        Ok((z, log_det))
    }

    /// From latents back to the base: `(w, log|det ∂w/∂z|)`.
    pub fn inverse(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        self.check(z, "latent")?;
        let mut w = z.clone();
        let mut log_det = Tensor::zeros(z.dim(0)?, z.dtype(), z.device())?;
        for layer in self.layers.iter().rev() {
            let (next, ld) = layer.inverse(&w)?;
            w = next;
            log_det = (log_det + ld)?;
        }
        Ok((w, log_det))
    }

    /// The ActNorm values that whiten `latents` `(N, D)` layer by layer, by tensor name
    /// (`flows.{j}.s`, `flows.{j}.t`), as normflows' data-dependent initialisation does on
    /// its first batch (the official trainer calls `log_prob` on one batch for this). Set
    /// them into the model's `VarMap` before training.
    pub fn actnorm_init(&self, latents: &Tensor) -> Result<HashMap<String, Tensor>> {
        self.check(latents, "latent")?;
        let mut out = HashMap::new();
        let mut w = latents.clone();
        for (j, layer) in self.layers.iter().enumerate().rev() {
            w = match layer {
                Layer::Coupling(c) => c.inverse(&w)?.0,
                Layer::ActNorm(_) => {
                    let (s, t) = ActNorm::data_init(&w)?;
                    let whitened = w.broadcast_sub(&t)?.broadcast_mul(&s.neg()?.exp()?)?;
                    out.insert(format!("flows.{j}.s"), s);
                    out.insert(format!("flows.{j}.t"), t);
                    whitened
                }
            };
        }
        Ok(out)
    }

    /// The buffers of the official state dict that are not parameters: the coupling masks
    /// (`flows.{2k}.b`) and the ActNorms' `data_dep_init_done` (1: initialised), so that a
    /// saved prior loads into the official classes.
    pub fn official_buffers(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (j, layer) in self.layers.iter().enumerate() {
            match layer {
                Layer::Coupling(c) => {
                    out.insert(format!("flows.{j}.b"), c.mask().to_dtype(DType::F32)?);
                }
                Layer::ActNorm(_) => {
                    let done = Tensor::new(1f32, self.base.mean().device())?;
                    out.insert(format!("flows.{j}.data_dep_init_done"), done);
                }
            }
        }
        Ok(out)
    }
}

impl LatentPrior for RealNvp {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn sample_from(&self, base: &Tensor, temperature: f64) -> Result<Tensor> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::invalid(
                "temperature",
                format!("{temperature}: must be positive"),
            ));
        }
        self.check(base, "base sample")?;
        let w = self.base.sample_from(base, temperature)?;
        Ok(self.forward(&w)?.0)
    }

    fn log_prob(&self, latent: &Tensor) -> Result<Tensor> {
        let (w, log_det) = self.inverse(latent)?;
        Ok((self.base.log_prob(&w)? + log_det)?)
    }

    fn mean_latent(&self) -> Result<Tensor> {
        Ok(self.forward(self.base.mean())?.0)
    }
}
