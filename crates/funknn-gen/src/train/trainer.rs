//! Training the generator as the official `train_generative.py` does, in two phases: the
//! autoencoder (reconstruction loss plus an L2 penalty on the latents), then the RealNVP
//! prior by maximum likelihood on the encoded training latents. Steps rather than epochs,
//! checkpoints that resume exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use funknn_core::train::Adam;
use funknn_core::Rng;
use serde::{Deserialize, Serialize};

use crate::generator::LatentPrior;
use crate::model::{Generator, GeneratorConfig, FLOW_PREFIX};
use crate::train::data::ImageSet;
use crate::train::pyramid::{LaplacianPyramidLoss, OFFICIAL_PYRAMID_WEIGHTS};
use crate::{Error, Result};

/// Every knob of a generator training run; saved with each checkpoint and the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorTrainConfig {
    pub generator: GeneratorConfig,
    /// Images per step (official: 64).
    pub batch: usize,
    /// Autoencoder steps.
    pub autoencoder_steps: usize,
    /// Prior steps, after the autoencoder's.
    pub flow_steps: usize,
    /// Adam learning rate of the autoencoder (official: 1e-4).
    pub lr: f64,
    /// Steps between learning-rate decays in each phase (0: constant).
    pub lr_step: usize,
    /// Factor of each decay (official: 0.5).
    pub lr_gamma: f64,
    /// Weight of the mean squared error.
    pub mse_weight: f64,
    /// Weight of the official Laplacian-pyramid L1 loss (3 levels).
    pub pyramid_weight: f64,
    /// The pyramid's weight per level, finest band first, then the coarsest residual's
    /// (official: 1, 2, 4, 8). `[1, 0, 0, 0]` keeps the finest band alone: the gradient
    /// candle 0.11 gave the whole loss, with which the shipped generator was trained.
    #[serde(default = "official_pyramid_weights")]
    pub pyramid_level_weights: Vec<f64>,
    /// Weight of the latents' mean square (official `lam`: 0.01).
    pub latent_weight: f64,
    /// Adam learning rate of the prior (official: 1e-4).
    pub flow_lr: f64,
    /// The prior's L2 weight decay, added to its gradient as PyTorch's Adam does (1e-5).
    pub flow_weight_decay: f64,
    /// Standard deviation of Gaussian noise added to each prior batch's latents (0: none, as
    /// the official code). A little noise keeps the flow from concentrating on the training
    /// latents, and its samples from leaving the decoder's range (docs/generation.md).
    #[serde(default)]
    pub flow_noise: f64,
    /// The generator whose autoencoder weights the run started from, if any (provenance: the
    /// weights themselves are in the checkpoint).
    #[serde(default)]
    pub autoencoder_from: Option<String>,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: usize,
    pub seed: u64,
}

fn official_pyramid_weights() -> Vec<f64> {
    OFFICIAL_PYRAMID_WEIGHTS.to_vec()
}

impl Default for GeneratorTrainConfig {
    fn default() -> Self {
        GeneratorTrainConfig {
            generator: GeneratorConfig {
                architecture: crate::model::ARCHITECTURE.into(),
                autoencoder: Default::default(),
                flow: Default::default(),
                source: None,
                temperature: None,
                mixture: None,
            },
            batch: 64,
            autoencoder_steps: 1000,
            flow_steps: 1000,
            lr: 1e-4,
            lr_step: 0,
            lr_gamma: 0.5,
            mse_weight: 1.0,
            pyramid_weight: 1.0,
            pyramid_level_weights: official_pyramid_weights(),
            latent_weight: 0.01,
            flow_lr: 1e-4,
            flow_weight_decay: 1e-5,
            flow_noise: 0.0,
            autoencoder_from: None,
            checkpoint_every: 200,
            seed: 0,
        }
    }
}

impl GeneratorTrainConfig {
    pub fn validate(&self) -> Result<()> {
        self.generator.validate()?;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if self.batch == 0 || self.batch > 4096 {
            return Err(Error::invalid(
                "batch",
                format!("{}: must be in 1..=4096", self.batch),
            ));
        }
        if !(self.flow_noise.is_finite() && self.flow_noise >= 0.0) {
            return Err(Error::invalid(
                "flow noise",
                format!(
                    "{}: must be a finite standard deviation ≥ 0",
                    self.flow_noise
                ),
            ));
        }
        LaplacianPyramidLoss::with_weights(self.pyramid_level_weights.clone())?;
        if self.autoencoder_steps + self.flow_steps == 0 {
            return Err(Error::invalid("steps", "the run has no step"));
        }
        if !positive(self.lr) || !positive(self.flow_lr) || !positive(self.lr_gamma) {
            return Err(Error::invalid(
                "learning rate",
                "rates and decay must be positive",
            ));
        }
        if ![
            self.mse_weight,
            self.pyramid_weight,
            self.latent_weight,
            self.flow_weight_decay,
        ]
        .into_iter()
        .all(non_negative)
        {
            return Err(Error::invalid(
                "loss weights",
                "weights must be finite and ≥ 0",
            ));
        }
        Ok(())
    }

    /// The learning rate at `step` of a phase starting at `base`.
    pub fn lr_at(&self, base: f64, step: usize) -> f64 {
        match self.lr_step {
            0 => base,
            n => base * self.lr_gamma.powi((step / n) as i32),
        }
    }
}

/// Which phase the next step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Autoencoder,
    Flow,
    Done,
}

/// Per-step losses of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    /// Autoencoder steps: the whole loss and its mean squared error.
    pub autoencoder: Vec<f32>,
    pub autoencoder_mse: Vec<f32>,
    /// Prior steps: the negative log-likelihood per latent (NaN where the batch was skipped).
    pub flow: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct TrainState {
    config: GeneratorTrainConfig,
    step: usize,
    rng: [u64; 4],
    losses: Losses,
    skipped: usize,
    seconds: f64,
}

const TENSORS_FILE: &str = "tensors.safetensors";
const STATE_FILE: &str = "state.json";

/// A generator training run.
pub struct GeneratorTrainer {
    config: GeneratorTrainConfig,
    generator: Generator,
    varmap: VarMap,
    autoencoder_adam: Adam,
    flow_adam: Adam,
    pyramid: LaplacianPyramidLoss,
    rng: Rng,
    step: usize,
    losses: Losses,
    skipped: usize,
    seconds: f64,
}

/// funknn-core's name-sorted variables, those whose name `keep` accepts.
fn sorted_vars(varmap: &VarMap, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, Var)>> {
    let mut vars = funknn_core::train::sorted_vars(varmap)?;
    vars.retain(|(k, _)| keep(k));
    Ok(vars)
}

impl GeneratorTrainer {
    /// A fresh run on the CPU in f32.
    pub fn new(config: GeneratorTrainConfig) -> Result<Self> {
        config.validate()?;
        let device = Device::Cpu;
        let (generator, varmap) =
            Generator::random(&config.generator, config.seed, DType::F32, &device)?;
        let autoencoder_adam = Adam::new(
            sorted_vars(&varmap, |k| !k.starts_with(FLOW_PREFIX))?,
            config.lr,
        )?;
        let flow_adam = Adam::new(
            sorted_vars(&varmap, |k| k.starts_with(FLOW_PREFIX))?,
            config.flow_lr,
        )?;
        Ok(GeneratorTrainer {
            pyramid: LaplacianPyramidLoss::with_weights(config.pyramid_level_weights.clone())?,
            rng: Rng::new(config.seed ^ 0x9e37_79b9_7f4a_7c15),
            config,
            generator,
            varmap,
            autoencoder_adam,
            flow_adam,
            step: 0,
            losses: Losses::default(),
            skipped: 0,
            seconds: 0.0,
        })
    }

    pub fn config(&self) -> &GeneratorTrainConfig {
        &self.config
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    pub fn losses(&self) -> &Losses {
        &self.losses
    }

    /// Steps taken, both phases.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// All steps of the run.
    pub fn total_steps(&self) -> usize {
        self.config.autoencoder_steps + self.config.flow_steps
    }

    /// Prior batches skipped because their loss was not finite (as the official code does).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Wall time of the steps taken, over all sessions of the run.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    pub fn phase(&self) -> Phase {
        if self.step < self.config.autoencoder_steps {
            Phase::Autoencoder
        } else if self.step < self.total_steps() {
            Phase::Flow
        } else {
            Phase::Done
        }
    }

    pub fn done(&self) -> bool {
        self.phase() == Phase::Done
    }

    /// Starts the run from `source`'s autoencoder weights (same architecture; not its
    /// optimiser state), before the first step: with no autoencoder steps, the run fits a
    /// fresh prior to an existing autoencoder. `name` says where `source` came from.
    pub fn start_from_autoencoder(&mut self, source: &Generator, name: &str) -> Result<()> {
        if self.step > 0 {
            return Err(Error::invalid(
                "autoencoder start",
                format!("the run has taken {} steps already", self.step),
            ));
        }
        let ours = &self.config.generator.autoencoder;
        if &source.config().autoencoder != ours {
            return Err(Error::invalid(
                "autoencoder start",
                format!(
                    "{name} has the autoencoder {:?}, this run {:?}",
                    source.config().autoencoder,
                    ours
                ),
            ));
        }
        for (key, var) in sorted_vars(&self.varmap, |k| !k.starts_with(FLOW_PREFIX))? {
            let t = source.tensors().get(&key).ok_or_else(|| {
                Error::invalid("autoencoder start", format!("{name} has no tensor {key}"))
            })?;
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        self.config.autoencoder_from = Some(name.to_string());
        Ok(())
    }

    /// A new total of autoencoder steps, while the run is still in that phase: longer to
    /// extend it, or the steps taken to end it now and start the prior.
    pub fn set_autoencoder_steps(&mut self, steps: usize) -> Result<()> {
        if self.step > self.config.autoencoder_steps || steps < self.step {
            return Err(Error::invalid(
                "autoencoder steps",
                format!(
                    "{steps}: the run has taken {} steps, {} of them the autoencoder's",
                    self.step,
                    self.step.min(self.config.autoencoder_steps)
                ),
            ));
        }
        self.config.autoencoder_steps = steps;
        Ok(())
    }

    /// A new total of prior steps: longer to extend the run, or the steps taken to stop it.
    pub fn set_flow_steps(&mut self, steps: usize) -> Result<()> {
        let taken = self.step.saturating_sub(self.config.autoencoder_steps);
        if steps < taken {
            return Err(Error::invalid(
                "flow steps",
                format!("{steps}: the run has taken {taken} prior steps already"),
            ));
        }
        self.config.flow_steps = steps;
        Ok(())
    }

    fn batch(&mut self, data: &ImageSet) -> Result<Tensor> {
        let n = data.len();
        let indices: Vec<usize> = (0..self.config.batch).map(|_| self.rng.below(n)).collect();
        data.batch(&indices)
    }

    /// Reconstruction loss of `images` and its mean squared error.
    pub fn autoencoder_loss(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let ae = &self.generator.autoencoder;
        let latent = ae.encoder.forward(images)?;
        let recon = ae.decoder.forward(&latent)?;
        let mse = (&recon - images)?.sqr()?.mean_all()?;
        let penalty = latent.sqr()?.mean_all()?;
        let c = &self.config;
        let mut loss = (&mse * c.mse_weight)?;
        // At weight 0 the pyramid would cost its forward and backward for nothing. The terms
        // are summed in the order they always were, so logged losses keep their bits.
        if c.pyramid_weight != 0.0 {
            let pyramid = self.pyramid.forward(&recon, images)?;
            loss = (loss + (pyramid * c.pyramid_weight)?)?;
        }
        let loss = (loss + (penalty * c.latent_weight)?)?;
        Ok((loss, mse))
    }

    /// One step of the current phase on a random batch of `data`.
    pub fn step(&mut self, data: &ImageSet) -> Result<()> {
        let expected = {
            let a = &self.config.generator.autoencoder;
            (a.channels, a.resolution)
        };
        let dims = data.images().dims4()?;
        if (dims.1, dims.2, dims.3) != (expected.0, expected.1, expected.1) {
            return Err(Error::Shape {
                name: "training images",
                expected: format!("(N, {}, {r}, {r})", expected.0, r = expected.1),
                got: data.images().dims().to_vec(),
            });
        }
        let start = std::time::Instant::now();
        match self.phase() {
            Phase::Autoencoder => {
                let images = self.batch(data)?;
                let (loss, mse) = self.autoencoder_loss(&images)?;
                let grads = loss.backward()?;
                self.autoencoder_adam.lr = self.config.lr_at(self.config.lr, self.step);
                self.autoencoder_adam.step(&grads)?;
                self.losses.autoencoder.push(loss.to_scalar()?);
                self.losses.autoencoder_mse.push(mse.to_scalar()?);
            }
            Phase::Flow => {
                let flow_step = self.step - self.config.autoencoder_steps;
                let images = self.batch(data)?;
                let latents = self
                    .generator
                    .autoencoder
                    .encoder
                    .forward(&images)?
                    .detach();
                let latents = if self.config.flow_noise > 0.0 {
                    // From the run's own generator, so that a resumed run draws the same.
                    let (n, d) = latents.dims2()?;
                    let sigma = self.config.flow_noise;
                    let noise: Vec<f32> = (0..n * d)
                        .map(|_| (self.rng.normal() * sigma) as f32)
                        .collect();
                    let noise = Tensor::from_vec(noise, (n, d), latents.device())?;
                    let noise = noise.to_dtype(latents.dtype())?;
                    (latents + noise)?
                } else {
                    latents
                };
                if flow_step == 0 {
                    self.init_actnorm(&latents)?;
                }
                let step = self.generator.prior.nll_gradient(&latents)?;
                let value = step.nll;
                if value.is_finite() {
                    let named: HashMap<String, Tensor> = step
                        .gradients
                        .into_iter()
                        .map(|(name, g)| (format!("{FLOW_PREFIX}{name}"), g))
                        .collect();
                    self.flow_adam.lr = self.config.lr_at(self.config.flow_lr, flow_step);
                    self.flow_adam.weight_decay = self.config.flow_weight_decay;
                    self.flow_adam.step_named(&named)?;
                } else {
                    self.skipped += 1;
                }
                self.losses.flow.push(value);
            }
            Phase::Done => return Ok(()),
        }
        self.step += 1;
        self.seconds += start.elapsed().as_secs_f64();
        Ok(())
    }

    /// normflows' data-dependent ActNorm initialisation, on the first prior batch.
    fn init_actnorm(&mut self, latents: &Tensor) -> Result<()> {
        let values = self.generator.prior.actnorm_init(latents)?;
        let data = self
            .varmap
            .data()
            .lock()
            .expect("the var map lock is never poisoned");
        for (name, value) in values {
            let key = format!("{FLOW_PREFIX}{name}");
            let var = data
                .get(&key)
                .ok_or_else(|| Error::invalid("flow", format!("no variable {key}")))?;
            var.set(&value)?;
        }
        Ok(())
    }

    /// Pictures of where the run stands, `(N, C, R, R)`: `count` training images each
    /// followed by its reconstruction and, once the prior has started, `count` samples of
    /// the generator (seeded, temperature 1).
    pub fn preview(&self, data: &ImageSet, count: usize) -> Result<Tensor> {
        let count = count.clamp(1, data.len().max(1));
        let indices: Vec<usize> = (0..count).map(|i| i * data.len() / count).collect();
        let originals = data.batch(&indices)?;
        let ae = &self.generator.autoencoder;
        let recon = ae
            .decoder
            .forward(&ae.encoder.forward(&originals)?)?
            .detach();
        let mut rows = Vec::new();
        for i in 0..count {
            rows.push(originals.get(i)?);
            rows.push(recon.get(i)?);
        }
        if self.step > self.config.autoencoder_steps {
            let base =
                crate::generator::standard_normal(count, self.generator.prior.latent_dim(), 0)?;
            let latents = self.generator.prior.sample_from(&base, 1.0)?;
            let samples = ae.decoder.forward(&latents)?.detach();
            for i in 0..count {
                rows.push(samples.get(i)?);
            }
        }
        Ok(Tensor::stack(&rows, 0)?)
    }

    /// Writes a checkpoint folder atomically: weights, both optimisers' moments, step, RNG
    /// state and losses. A run continues from it exactly with [`Self::resume`].
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        funknn_core::replace_dir_atomic(dir, |tmp| {
            let mut tensors: HashMap<String, Tensor> = HashMap::new();
            for (name, var) in funknn_core::train::sorted_vars(&self.varmap)? {
                tensors.insert(format!("param.{name}"), var.as_tensor().clone());
            }
            for (name, t) in self.autoencoder_adam.state()? {
                tensors.insert(format!("adam_ae.{name}"), t);
            }
            for (name, t) in self.flow_adam.state()? {
                tensors.insert(format!("adam_flow.{name}"), t);
            }
            candle_core::safetensors::save(&tensors, tmp.join(TENSORS_FILE))?;
            funknn_core::make_readable(&tmp.join(TENSORS_FILE))?;
            let state = TrainState {
                config: self.config.clone(),
                step: self.step,
                rng: self.rng.state(),
                losses: self.losses.clone(),
                skipped: self.skipped,
                seconds: self.seconds,
            };
            let json =
                serde_json::to_string_pretty(&state).map_err(|e| funknn_core::Error::Invalid {
                    what: "checkpoint state",
                    message: e.to_string(),
                })?;
            std::fs::write(tmp.join(STATE_FILE), json).map_err(|e| funknn_core::Error::Invalid {
                what: "checkpoint state",
                message: format!("{}: {e}", tmp.join(STATE_FILE).display()),
            })
        })?;
        Ok(())
    }

    /// Continues the run saved in the checkpoint `dir`, exactly.
    pub fn resume(dir: &Path) -> Result<Self> {
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path).map_err(|error| Error::Io {
            path: state_path.clone(),
            error,
        })?;
        let state: TrainState = serde_json::from_str(&text).map_err(|error| Error::Config {
            path: state_path,
            error,
        })?;
        let mut trainer = GeneratorTrainer::new(state.config)?;
        let path = dir.join(TENSORS_FILE);
        let tensors =
            candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| Error::Weights {
                path: path.clone(),
                message: format!("unreadable checkpoint: {e}"),
            })?;
        for (name, var) in sorted_vars(&trainer.varmap, |_| true)? {
            let t = tensors
                .get(&format!("param.{name}"))
                .ok_or_else(|| Error::Weights {
                    path: path.clone(),
                    message: format!("missing {name}"),
                })?;
            var.set(t)?;
        }
        let part = |prefix: &str| -> HashMap<String, Tensor> {
            tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_owned(), v.clone())))
                .collect()
        };
        let ae_steps = state.step.min(trainer.config.autoencoder_steps);
        let flow_steps =
            state.step - ae_steps - state.losses.flow.iter().filter(|l| !l.is_finite()).count();
        trainer
            .autoencoder_adam
            .restore(&part("adam_ae."), ae_steps)?;
        trainer.flow_adam.restore(&part("adam_flow."), flow_steps)?;
        trainer.step = state.step;
        trainer.rng = Rng::from_state(state.rng);
        trainer.losses = state.losses;
        trainer.skipped = state.skipped;
        trainer.seconds = state.seconds;
        Ok(trainer)
    }

    /// Writes the trained generator folder, with `train.json` (this run's configuration,
    /// command and wall time) beside `config.json` and `model.safetensors`.
    pub fn save_model(&self, dir: &Path, storage: DType, command: &str) -> Result<()> {
        let mut generator = self.generator.clone();
        generator.set_source(format!("trained with: {command}"));
        generator.save(dir, storage)?;
        let info = serde_json::json!({
            "command": command,
            "steps": self.step,
            "skipped_prior_batches": self.skipped,
            "seconds": self.seconds,
            "settings": self.config,
        });
        let text =
            serde_json::to_string_pretty(&info).map_err(|e| funknn_core::Error::Invalid {
                what: "train.json",
                message: e.to_string(),
            })?;
        let path: PathBuf = dir.join("train.json");
        funknn_core::write_atomic(&path, |tmp| {
            std::fs::write(tmp, text.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
                what: "train.json",
                message: format!("{}: {e}", tmp.display()),
            })
        })?;
        Ok(())
    }
}
