//! Generator model folders: `config.json` (the architecture), `model.safetensors` (the
//! autoencoder under the official `autoencoder.pt` names `encoder.*`, `decoder.*`, and the
//! prior under `flow.` + the official `flow.pt` names, and an optional sampling prior under
//! `mixture.`), `README.md` (the model card): the layout of a Hugging Face hub repo.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use funknn_core::hub::HubOptions;
use serde::{Deserialize, Serialize};

use crate::autoencoder::{Autoencoder, AutoencoderConfig, Decoder};
use crate::flow::{FlowConfig, RealNvp};
use crate::folder::{parse_folder, read_folder, write_folder, CONFIG_FILE, WEIGHTS_FILE};
use crate::generator::LatentPrior;
use crate::mixture::{GaussianMixture, MixtureConfig};
use crate::{Error, Result};

/// What `config.json` says the folder is.
pub const ARCHITECTURE: &str = "funknn-autoencoder-realnvp";

fn architecture() -> String {
    ARCHITECTURE.to_string()
}

/// `config.json` of a generator folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// Always [`ARCHITECTURE`].
    #[serde(default = "architecture")]
    pub architecture: String,
    pub autoencoder: AutoencoderConfig,
    pub flow: FlowConfig,
    /// Where the weights come from (training data and command, or an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The sampling temperature that `funknn sample` and `eval-generator` default to
    /// (none: 1), chosen when the model is made: a prior fitted by maximum likelihood can be
    /// narrower than the latents it was fitted to (see the model's card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// A Gaussian mixture fitted to the same latents (`funknn fit-mixture`): with one,
    /// `sample` and `eval-generator` draw from it instead of the flow; the inverse problems
    /// keep the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixture: Option<MixtureConfig>,
}

impl GeneratorConfig {
    /// The default sampling temperature of the sampling prior: the mixture's (else 1) with
    /// a mixture, else [`Self::temperature`] (else 1).
    pub fn sampling_temperature(&self) -> f64 {
        match &self.mixture {
            Some(m) => m.temperature.unwrap_or(1.0),
            None => self.temperature.unwrap_or(1.0),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.temperature {
            if !(t.is_finite() && t > 0.0 && t <= 10.0) {
                return Err(Error::invalid(
                    "generator config",
                    format!("temperature {t}: must be in (0, 10]"),
                ));
            }
        }
        if self.architecture != ARCHITECTURE {
            return Err(Error::invalid(
                "generator architecture",
                format!(
                    "{:?}: this version knows {ARCHITECTURE:?}",
                    self.architecture
                ),
            ));
        }
        self.autoencoder.validate()?;
        self.flow.validate()?;
        if let Some(m) = &self.mixture {
            m.validate()?;
            if m.latent_dim != self.autoencoder.latent_dim {
                return Err(Error::invalid(
                    "generator config",
                    format!(
                        "the autoencoder's latent has {} dimensions, the mixture's {}",
                        self.autoencoder.latent_dim, m.latent_dim
                    ),
                ));
            }
        }
        if self.autoencoder.latent_dim != self.flow.latent_dim {
            return Err(Error::invalid(
                "generator config",
                format!(
                    "the autoencoder's latent has {} dimensions, the flow's {}",
                    self.autoencoder.latent_dim, self.flow.latent_dim
                ),
            ));
        }
        Ok(())
    }
}

/// The paper's generator: the autoencoder (its decoder generates) and the RealNVP prior of
/// its latents, with optionally a Gaussian mixture to sample from.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    pub autoencoder: Autoencoder,
    /// The paper's prior: what training fits and the inverse problems optimise through.
    pub prior: RealNvp,
    /// The sampling prior, when the folder has one.
    pub mixture: Option<GaussianMixture>,
    tensors: HashMap<String, Tensor>,
}

/// The prefix of the prior's tensors in a generator folder.
pub const FLOW_PREFIX: &str = "flow.";

/// The prefix of the sampling mixture's tensors in a generator folder.
pub const MIXTURE_PREFIX: &str = "mixture.";

/// The prior a generator samples from: its mixture when it has one, else the flow.
#[derive(Debug, Clone)]
pub enum SamplingPrior {
    Flow(RealNvp),
    Mixture(GaussianMixture),
}

impl SamplingPrior {
    /// What it is, for reports: `RealNVP flow (depth 5)`, `Gaussian mixture (10 components)`.
    pub fn describe(&self) -> String {
        match self {
            SamplingPrior::Flow(p) => format!("RealNVP flow (depth {})", p.config().depth),
            SamplingPrior::Mixture(p) => {
                format!("Gaussian mixture ({} components)", p.config().components)
            }
        }
    }
}

impl LatentPrior for SamplingPrior {
    fn latent_dim(&self) -> usize {
        match self {
            SamplingPrior::Flow(p) => p.latent_dim(),
            SamplingPrior::Mixture(p) => p.latent_dim(),
        }
    }

    fn sample_from(&self, base: &Tensor, temperature: f64) -> Result<Tensor> {
        match self {
            SamplingPrior::Flow(p) => p.sample_from(base, temperature),
            SamplingPrior::Mixture(p) => p.sample_from(base, temperature),
        }
    }

    fn log_prob(&self, latent: &Tensor) -> Result<Tensor> {
        match self {
            SamplingPrior::Flow(p) => p.log_prob(latent),
            SamplingPrior::Mixture(p) => p.log_prob(latent),
        }
    }

    fn mean_latent(&self) -> Result<Tensor> {
        match self {
            SamplingPrior::Flow(p) => p.mean_latent(),
            SamplingPrior::Mixture(p) => p.mean_latent(),
        }
    }
}

impl Generator {
    /// From named tensors (official names, the prior's prefixed with [`FLOW_PREFIX`]),
    /// checked against the architecture: a missing or wrong-shaped tensor is an error naming
    /// it and `origin`.
    pub fn from_tensors(
        config: &GeneratorConfig,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
        origin: &Path,
    ) -> Result<Self> {
        config.validate()?;
        let weights_error = |e: candle_core::Error| Error::Weights {
            path: origin.to_path_buf(),
            message: e.to_string(),
        };
        let tensors: HashMap<String, Tensor> = tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(dtype)?.to_device(device)?)))
            .collect::<Result<_>>()?;
        let vb = VarBuilder::from_tensors(tensors.clone(), dtype, device);
        let build = || -> Result<(Autoencoder, RealNvp, Option<GaussianMixture>)> {
            let mixture = match &config.mixture {
                Some(m) => Some(GaussianMixture::new(m, vb.pp("mixture"))?),
                None => None,
            };
            Ok((
                Autoencoder::new(&config.autoencoder, vb.clone())?,
                RealNvp::new(&config.flow, vb.pp("flow"))?,
                mixture,
            ))
        };
        let (autoencoder, prior, mixture) = build().map_err(|e| match e {
            Error::Candle(e) => weights_error(e),
            e => e,
        })?;
        Ok(Generator {
            config: config.clone(),
            autoencoder,
            prior,
            mixture,
            tensors,
        })
    }

    /// A freshly initialised, trainable generator, reproducibly from `seed`: convolutions and
    /// linear layers as PyTorch initialises them (uniform, bound `1/√fan_in`), the couplings'
    /// output layers, the ActNorms and the base at zero (the official `init_zeros=True`; the
    /// ActNorms get their data-dependent values from [`RealNvp::actnorm_init`]).
    pub fn random(
        config: &GeneratorConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<(Self, candle_nn::VarMap)> {
        config.validate()?;
        // A mixture is fitted after training, never initialised.
        let config = &GeneratorConfig {
            mixture: None,
            ..config.clone()
        };
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let autoencoder = Autoencoder::new(&config.autoencoder, vb.clone())?;
        let prior = RealNvp::new(&config.flow, vb.pp("flow"))?;
        let vars = crate::init::init_uniform(&varmap, seed, device, |name| {
            name.contains(".net.2.")
                || name.starts_with("flow.q0.")
                || (name.starts_with("flow.flows.")
                    && (name.ends_with(".s") || name.ends_with(".t")))
        })?;
        let tensors = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        Ok((
            Generator {
                config: config.clone(),
                autoencoder,
                prior,
                mixture: None,
                tensors,
            },
            varmap,
        ))
    }

    /// A copy of the decoder whose weights are candle [`Var`](candle_core::Var)s set to this
    /// generator's: what an inverse-problem solver fine-tunes with the latent fixed (the
    /// paper's second phase), leaving `self` untouched. The variables come in name order.
    pub fn trainable_decoder(&self) -> Result<(Decoder, Vec<(String, candle_core::Var)>)> {
        let varmap = candle_nn::VarMap::new();
        let first = self
            .tensors
            .values()
            .next()
            .ok_or_else(|| Error::invalid("generator", "it holds no tensors"))?;
        let (dtype, device) = (first.dtype(), first.device().clone());
        let vb = VarBuilder::from_varmap(&varmap, dtype, &device);
        let decoder = Decoder::new(&self.config.autoencoder, vb.pp("decoder"))?;
        let vars = varmap
            .data()
            .lock()
            .map_err(|_| Error::invalid("generator", "the decoder's variables are poisoned"))?
            .clone();
        let mut named: Vec<(String, candle_core::Var)> = vars.into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, var) in &named {
            let t = self.tensors.get(name).ok_or_else(|| {
                Error::invalid("generator", format!("no tensor {name} for the decoder"))
            })?;
            var.set(&t.to_dtype(dtype)?)?;
        }
        Ok((decoder, named))
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The encoder's latents `(N, D)` of `images`, `batch` at a time (`progress` gets each
    /// batch's size).
    pub fn encode(
        &self,
        images: &Tensor,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Tensor> {
        let n = images.dim(0)?;
        if n == 0 || batch == 0 {
            return Err(Error::invalid("encoding", "no image, or a batch of 0"));
        }
        let mut out = Vec::new();
        for start in (0..n).step_by(batch) {
            let count = batch.min(n - start);
            out.push(
                self.autoencoder
                    .encoder
                    .forward(&images.narrow(0, start, count)?)?,
            );
            progress(count);
        }
        Ok(Tensor::cat(&out, 0)?)
    }

    /// The prior samples are drawn from: the mixture when there is one, else the flow.
    pub fn sampling_prior(&self) -> SamplingPrior {
        match &self.mixture {
            Some(m) => SamplingPrior::Mixture(m.clone()),
            None => SamplingPrior::Flow(self.prior.clone()),
        }
    }

    /// This generator with `mixture` as its sampling prior (replacing any), saved with it.
    pub fn with_mixture(self, mixture: GaussianMixture) -> Result<Self> {
        if mixture.config().latent_dim != self.config.autoencoder.latent_dim {
            return Err(Error::invalid(
                "mixture",
                format!(
                    "{} dimensions for a latent of {}",
                    mixture.config().latent_dim,
                    self.config.autoencoder.latent_dim
                ),
            ));
        }
        let mut this = self.without_mixture();
        // In the generator's own dtype and device, as a loaded folder's would be.
        let (dtype, device) = this.tensor_kind()?;
        for (name, t) in mixture.tensors()? {
            this.tensors.insert(
                format!("{MIXTURE_PREFIX}{name}"),
                t.to_dtype(dtype)?.to_device(&device)?,
            );
        }
        this.config.mixture = Some(mixture.config().clone());
        this.mixture = Some(mixture.to_dtype(dtype, &device)?);
        Ok(this)
    }

    /// This generator without its sampling mixture: it samples from the flow again.
    pub fn without_mixture(mut self) -> Self {
        self.tensors.retain(|k, _| !k.starts_with(MIXTURE_PREFIX));
        self.config.mixture = None;
        self.mixture = None;
        self
    }

    fn tensor_kind(&self) -> Result<(DType, Device)> {
        self.tensors
            .values()
            .next()
            .map(|t| (t.dtype(), t.device().clone()))
            .ok_or_else(|| Error::invalid("generator", "it holds no tensors"))
    }

    /// Records where the weights come from (saved in `config.json`).
    pub fn set_source(&mut self, source: impl Into<String>) {
        self.config.source = Some(source.into());
    }

    /// The weights by name, as saved.
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// From the bytes of a folder's `config.json` and `model.safetensors` (`name` says where
    /// they come from in errors): how an embedded model loads.
    pub fn from_bytes(
        config_json: &str,
        weights: &[u8],
        dtype: DType,
        device: &Device,
        name: &str,
    ) -> Result<Self> {
        let f = parse_folder::<GeneratorConfig>(config_json, weights, name)?;
        Self::from_tensors(&f.config, f.tensors, dtype, device, &f.weights)
    }

    /// Loads a generator folder.
    pub fn load(dir: impl AsRef<Path>, dtype: DType, device: &Device) -> Result<Self> {
        let f = read_folder::<GeneratorConfig>(dir.as_ref())?;
        Self::from_tensors(&f.config, f.tensors, dtype, device, &f.weights)
    }

    /// Loads `spec`: a generator folder, or a hub repo id `owner/name[@revision]`.
    pub fn load_from(spec: &str, hub: &HubOptions, dtype: DType, device: &Device) -> Result<Self> {
        let dir = funknn_core::hub::resolve(spec, &[CONFIG_FILE, WEIGHTS_FILE], hub)?;
        Self::load(dir, dtype, device)
    }

    /// Imports official checkpoints: `autoencoder.pt` (`{'model_state_dict': ...}` with
    /// `encoder.*`, `decoder.*`) and `flow.pt` (`q0.*`, `flows.*`), or `.safetensors` files
    /// with the same names.
    pub fn import(
        autoencoder: &Path,
        flow: &Path,
        config: &GeneratorConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let mut tensors = funknn_core::read_tensors(autoencoder)?;
        for (name, t) in funknn_core::read_tensors(flow)? {
            tensors.insert(format!("{FLOW_PREFIX}{name}"), t);
        }
        Self::from_tensors(config, tensors, dtype, device, autoencoder)
    }

    /// Writes the folder (`config.json`, `model.safetensors` in `storage` precision, with the
    /// official buffers of the prior), each file atomically.
    pub fn save(&self, dir: impl AsRef<Path>, storage: DType) -> Result<()> {
        let dir = dir.as_ref();
        let mut out: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in &self.tensors {
            out.insert(name.clone(), t.to_dtype(storage)?.to_device(&Device::Cpu)?);
        }
        for (name, t) in self.prior.official_buffers()? {
            out.insert(format!("{FLOW_PREFIX}{name}"), t.to_device(&Device::Cpu)?);
        }
        write_folder(dir, &self.config, &out)
    }
}
