//! Generator model folders: `config.json` (the architecture), `model.safetensors` (the
//! autoencoder under the official `autoencoder.pt` names `encoder.*`, `decoder.*`, and the
//! prior under `flow.` + the official `flow.pt` names), `README.md` (the model card): the
//! layout of a Hugging Face hub repo.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use funknn_core::hub::HubOptions;
use serde::{Deserialize, Serialize};

use crate::autoencoder::{Autoencoder, AutoencoderConfig, Decoder};
use crate::flow::{FlowConfig, RealNvp};
use crate::folder::{parse_folder, read_folder, write_folder, CONFIG_FILE, WEIGHTS_FILE};
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
}

impl GeneratorConfig {
    /// The default sampling temperature: [`Self::temperature`] or 1.
    pub fn sampling_temperature(&self) -> f64 {
        self.temperature.unwrap_or(1.0)
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
/// its latents.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    pub autoencoder: Autoencoder,
    pub prior: RealNvp,
    tensors: HashMap<String, Tensor>,
}

/// The prefix of the prior's tensors in a generator folder.
pub const FLOW_PREFIX: &str = "flow.";

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
        let build = || -> Result<(Autoencoder, RealNvp)> {
            Ok((
                Autoencoder::new(&config.autoencoder, vb.clone())?,
                RealNvp::new(&config.flow, vb.pp("flow"))?,
            ))
        };
        let (autoencoder, prior) = build().map_err(|e| match e {
            Error::Candle(e) => weights_error(e),
            e => e,
        })?;
        Ok(Generator {
            config: config.clone(),
            autoencoder,
            prior,
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
