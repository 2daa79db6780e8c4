//! Training a FunkNN for super-resolution, with checkpoints that resume exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::fs::{make_readable, replace_dir_atomic, write_atomic};
use crate::jet::JetOrder;
use crate::model::funknn::{FunkNN, PatchNetwork};
use crate::network::init::InitScheme;
use crate::rng::Rng;
use crate::sampler::host::HostImages;
use crate::train::adam::Adam;
use crate::train::consistency::{self, ScaleConsistency};
use crate::train::dataset::{BatchSpec, Degradation, ImageFolder, TrainMode};
pub use crate::train::gradient::{export_centred, L1Gradients, SobolevLoss};
use crate::train::gradient::{
    host_l1_gradients, host_upstream_gradients, import_centred, HostWorkspace,
};
use crate::{Error, Result};

/// Every knob of a training run; saved with each checkpoint and next to the trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: Config,
    pub mode: TrainMode,
    /// Factor mode draws an integer scale in 2..=max_factor per batch (2: the official
    /// ×2 only). Larger factors show the sub-pixel positions that ×3 and ×4 ask for (on
    /// photographs, that did not improve ×4: `docs/training.md`).
    #[serde(default = "official_max_factor")]
    pub max_factor: usize,
    /// Side of the random crops, in pixels.
    pub crop: usize,
    /// Images per step.
    pub batch: usize,
    /// Target pixels per image and step.
    pub points: usize,
    /// Initial learning rate of Adam.
    pub lr: f64,
    /// Steps between learning-rate decays (0: constant rate).
    pub lr_step: usize,
    /// Factor of each decay.
    pub lr_gamma: f64,
    /// Train an MLP on centred patches (see [`export_centred`]); the saved model is an
    /// ordinary one. No effect on the CNN.
    #[serde(default)]
    pub centre_patches: bool,
    /// Cosine decay from `lr` to 0 over `steps` instead (lr_step is then ignored).
    #[serde(default)]
    pub cosine: bool,
    /// Total optimisation steps.
    pub steps: usize,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: usize,
    pub seed: u64,
    /// How the fresh model is initialised.
    #[serde(default)]
    pub init: InitScheme,
    /// Photographs are downscaled at load so that their longer side is at most this (0:
    /// kept as they are). Large photographs are soft at full resolution: crops of them teach
    /// little about edges.
    #[serde(default)]
    pub max_side: usize,
    /// What the low-resolution input is downsampled from: the target (the default, the
    /// evaluation protocol's relation) or the crop (the official code). A checkpoint
    /// without the field predates it and used the crop.
    #[serde(default)]
    pub degradation: Degradation,
    /// Random flips and transposes of each crop.
    #[serde(default)]
    pub augment: bool,
    /// Weight λ₁ of the L1 loss on `∇u / side` against the target's exact gradient (0: off).
    #[serde(default)]
    pub gradient_weight: f64,
    /// Weight λ₂ of the L1 loss on `Δu / side²` against the target's exact Laplacian.
    #[serde(default)]
    pub laplacian_weight: f64,
    /// The model the weights started from ([`Trainer::warm_start`]), if not a fresh
    /// initialisation: a record, not read again on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// The scale-consistency term (off by default; a run saved before it existed had it
    /// off).
    #[serde(default)]
    pub consistency: ScaleConsistency,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: Config::default(),
            mode: TrainMode::Factor,
            max_factor: 2,
            crop: 128,
            batch: 16,
            points: 512,
            lr: 1e-4,
            lr_step: 0,
            lr_gamma: 0.5,
            cosine: false,
            centre_patches: true,
            steps: 1000,
            checkpoint_every: 100,
            seed: 0,
            init: InitScheme::He,
            max_side: 0,
            degradation: Degradation::Target,
            augment: false,
            gradient_weight: 0.0,
            laplacian_weight: 0.0,
            init_from: None,
            consistency: ScaleConsistency::default(),
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |m: String| Err(Error::invalid("training config", m));
        if self.crop < 16 {
            return bad(format!("crop {} is below 16 pixels", self.crop));
        }
        if !(2..=8).contains(&self.max_factor) || self.crop < 4 * self.max_factor {
            return bad(format!(
                "max factor {} must be between 2 and 8, and at most a quarter of the crop",
                self.max_factor
            ));
        }
        if self.batch == 0 || self.points == 0 || self.steps == 0 {
            return bad("batch, points and steps must be positive".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(self.lr) && positive(self.lr_gamma)) {
            return bad("lr and lr_gamma must be positive".into());
        }
        for (name, w) in [
            ("gradient weight", self.gradient_weight),
            ("Laplacian weight", self.laplacian_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return bad(format!(
                    "the {name} must be finite and non-negative, got {w}"
                ));
            }
        }
        self.consistency.validate(self.crop)
    }

    /// The shape of each step's batch and how its pairs are made.
    pub fn batch_spec(&self) -> BatchSpec {
        BatchSpec {
            batch: self.batch,
            crop: self.crop,
            points: self.points,
            mode: self.mode,
            max_factor: self.max_factor,
            degradation: self.degradation,
            augment: self.augment,
        }
    }

    /// Whether the loss has derivative (Sobolev) terms.
    pub fn sobolev(&self) -> bool {
        self.gradient_weight != 0.0 || self.laplacian_weight != 0.0
    }

    /// The learning rate after `step` steps: cosine decay to 0 at `steps`, or PyTorch's
    /// StepLR counted in steps.
    pub fn lr_at(&self, step: usize) -> f64 {
        if self.cosine {
            let t = (step as f64 / self.steps.max(1) as f64).min(1.0);
            return self.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
        }
        match self.lr_step {
            0 => self.lr,
            k => self.lr * self.lr_gamma.powi((step / k) as i32),
        }
    }
}

fn official_max_factor() -> usize {
    2
}

/// The mean absolute error of `model` at `points` `(N, P, 2)` of `images` against `targets`
/// `(N, P, C)`, and its gradient by parameter name. On the CPU in f32 it runs the graph-free
/// path (the same numbers, several times faster and in bounded memory); elsewhere
/// candle's backprop.
/// `centred`: the MLP's first layer sees centred patches (CPU f32 MLP only; see
/// [`export_centred`]).
pub fn l1_gradients(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    centred: bool,
) -> Result<L1Gradients> {
    let workspace = HostWorkspace::default();
    l1_gradients_reusing(model, images, points, targets, centred, None, &workspace)
}

/// [`l1_gradients`] with derivative terms: the loss adds
/// `λ₁ · mean |∇u − ∇t| / side + λ₂ · mean |Δu − Δt| / side²`, where `t` is the target's
/// cubic B-spline interpolant ([`ImageFolder::sample_batch`]). On the CPU in f32 an MLP
/// runs the graph-free path through its Laplacian jets; otherwise candle's backprop.
pub fn sobolev_gradients(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    sobolev: &SobolevLoss,
    centred: bool,
) -> Result<L1Gradients> {
    let workspace = HostWorkspace::default();
    l1_gradients_reusing(
        model,
        images,
        points,
        targets,
        centred,
        Some(sobolev),
        &workspace,
    )
}

/// [`l1_gradients`] or [`sobolev_gradients`], with the graph-free path's buffers kept in
/// `workspace` between calls.
fn l1_gradients_reusing(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    centred: bool,
    sobolev: Option<&SobolevLoss>,
    workspace: &HostWorkspace,
) -> Result<L1Gradients> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sobolev = sobolev.filter(|s| s.is_active());
    let host_network = sobolev.is_none() || matches!(model.network(), PatchNetwork::Mlp(_));
    if images.device().is_cpu()
        && host_network
        && model
            .parameters()
            .iter()
            .all(|(_, t)| t.dtype() == DType::F32)
    {
        return host_l1_gradients(
            model, images, points, targets, threads, centred, sobolev, workspace,
        );
    }
    if centred {
        return Err(Error::invalid(
            "training",
            "centred patches need an f32 MLP on the CPU",
        ));
    }
    if let Some(sob) = sobolev {
        return sobolev_gradients_graph(model, images, points, targets, sob);
    }
    let (loss, grads) = l1_gradients_graph(model, images, points, targets)?;
    Ok(L1Gradients {
        loss,
        interpolation_loss: interpolation_l1(model, images, points, targets)?,
        gradient_loss: [0.0; 2],
        laplacian_loss: [0.0; 2],
        grads,
    })
}

/// [`sobolev_gradients`] through candle's backprop, for any network, device and dtype.
pub fn sobolev_gradients_graph(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
    sobolev: &SobolevLoss,
) -> Result<L1Gradients> {
    let (n, p, _) = points.dims3()?;
    let c = model.config().channels;
    sobolev.check(n, p, c)?;
    let t = sobolev.targets;
    let count = (n * p * c) as f64;
    let side = t.side as f64;
    let dtype = model.parameters()[0].1.dtype();
    let per_group = (GRAPH_POINTS / p.max(1)).clamp(1, n.max(1));
    let mut sums = [0f64; 3];
    let mut out: HashMap<String, Tensor> = HashMap::new();
    let mean_abs = |a: &Tensor, b: &Tensor, scale: f64| -> Result<Tensor> {
        Ok(((a - b.to_dtype(dtype)?)?.abs()?.sum_all()? * scale)?)
    };
    for start in (0..n).step_by(per_group) {
        let len = per_group.min(n - start);
        let jet = model.forward_jet(
            &images.narrow(0, start, len)?,
            &points.narrow(0, start, len)?,
            JetOrder::Laplacian,
        )?;
        let gradient = jet.gradient()?.expect("a Laplacian jet has a gradient");
        let laplacian = jet.laplacian()?.expect("a Laplacian jet has a Laplacian");
        let terms = [
            mean_abs(&jet.value()?, &targets.narrow(0, start, len)?, 1.0 / count)?,
            mean_abs(
                &gradient,
                &t.gradient.narrow(0, start, len)?,
                1.0 / (side * 2.0 * count),
            )?,
            mean_abs(
                &laplacian,
                &t.laplacian.narrow(0, start, len)?,
                1.0 / (side * side * count),
            )?,
        ];
        for (sum, term) in sums.iter_mut().zip(&terms) {
            *sum += term.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
        let share = ((&terms[0] + (&terms[1] * sobolev.gradient_weight)?)?
            + (&terms[2] * sobolev.laplacian_weight)?)?;
        let grads = share.backward()?;
        add_parameter_gradients(model, &grads, &mut out)?;
    }
    let loss = sums[0] + sobolev.gradient_weight * sums[1] + sobolev.laplacian_weight * sums[2];
    Ok(L1Gradients {
        loss: loss as f32,
        interpolation_loss: interpolation_l1(model, images, points, targets)?,
        gradient_loss: [sums[1] as f32, 0.0],
        laplacian_loss: [sums[2] as f32, 0.0],
        grads: out,
    })
}

/// [`l1_gradients`] through candle's backprop, for any network, device and dtype.
pub fn l1_gradients_graph(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
) -> Result<(f32, HashMap<String, Tensor>)> {
    // A graph holds every intermediate of the step: the CNN's are 64 channels × 81
    // positions per point, so 64×512 points at once would need more than 24 GB. Images are
    // taken a few at a time, each group's share of the mean loss backpropagated on its own,
    // and the gradients summed.
    let (n, p, _) = points.dims3()?;
    let total = targets.elem_count() as f64;
    let per_group = (GRAPH_POINTS / p.max(1)).clamp(1, n.max(1));
    let mut loss_sum = 0f64;
    let mut out: HashMap<String, Tensor> = HashMap::new();
    for start in (0..n).step_by(per_group) {
        let len = per_group.min(n - start);
        let value = model
            .forward_jet(
                &images.narrow(0, start, len)?,
                &points.narrow(0, start, len)?,
                JetOrder::Value,
            )?
            .value()?;
        let share = ((value - targets.narrow(0, start, len)?)?.abs()?.sum_all()? / total)?;
        loss_sum += share.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = share.backward()?;
        add_parameter_gradients(model, &grads, &mut out)?;
    }
    Ok((loss_sum as f32, out))
}

/// Adds the gradient of every parameter of `model` in `grads` to `out`, by name.
fn add_parameter_gradients(
    model: &FunkNN,
    grads: &candle_core::backprop::GradStore,
    out: &mut HashMap<String, Tensor>,
) -> Result<()> {
    for (name, t) in model.parameters() {
        if let Some(g) = grads.get(t) {
            let g = match out.remove(name) {
                Some(acc) => (acc + g)?,
                None => g.clone(),
            };
            out.insert(name.clone(), g);
        }
    }
    Ok(())
}

/// Points per backward pass of [`l1_gradients_graph`].
const GRAPH_POINTS: usize = 1024;

/// The mean absolute error of the model's kernel interpolation alone (the patch centre) at
/// `points` of `images` against `targets`.
pub fn interpolation_l1(
    model: &FunkNN,
    images: &Tensor,
    points: &Tensor,
    targets: &Tensor,
) -> Result<f32> {
    let (n, p, _) = points.dims3()?;
    let c = model.config().channels;
    let w = model.config().patch_size;
    let sampler = model.sampler();
    let host = HostImages::<f32>::new(&sampler.prepare(images)?)?;
    let patch = sampler
        .sample_host(&host, points, JetOrder::Value)?
        .value()?;
    let centre = patch
        .narrow(2, w / 2, 1)?
        .narrow(3, w / 2, 1)?
        .reshape((n, p, c))?;
    Ok((centre - targets)?
        .abs()?
        .mean_all()?
        .to_dtype(DType::F32)?
        .to_scalar::<f32>()?)
}

/// What a checkpoint holds besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainState {
    config: TrainConfig,
    step: usize,
    rng: [u64; 4],
    losses: Vec<f32>,
    #[serde(default)]
    baselines: Vec<f32>,
    #[serde(default)]
    derivative_losses: Vec<[f32; 4]>,
    /// Seconds spent in steps so far, across resumes.
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    consistency_losses: Vec<f32>,
}

const STATE_FILE: &str = "state.json";
const TENSORS_FILE: &str = "checkpoint.safetensors";

/// A training run in progress.
pub struct Trainer {
    config: TrainConfig,
    model: FunkNN,
    varmap: VarMap,
    adam: Adam,
    rng: Rng,
    step: usize,
    losses: Vec<f32>,
    baselines: Vec<f32>,
    derivative_losses: Vec<[f32; 4]>,
    consistency_losses: Vec<f32>,
    seconds: f64,
    /// The gradient's buffers, reused from step to step.
    workspace: HostWorkspace,
}

/// The variables of `varmap` sorted by name: the order checkpoints and optimisers rely on.
pub fn sorted_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::invalid("varmap", "poisoned lock"))?;
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(vars)
}

impl Trainer {
    /// A fresh run: the model initialised from `config.seed`.
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let (model, varmap) = FunkNN::random_with(
            &config.model,
            config.init,
            config.seed,
            DType::F32,
            &Device::Cpu,
        )?;
        let adam = Adam::new(sorted_vars(&varmap)?, config.lr)?;
        // A separate stream from the initialisation's.
        let rng = Rng::new(config.seed ^ 0x5eed_da7a);
        Ok(Trainer {
            config,
            model,
            varmap,
            adam,
            rng,
            step: 0,
            losses: Vec::new(),
            baselines: Vec::new(),
            derivative_losses: Vec::new(),
            consistency_losses: Vec::new(),
            seconds: 0.0,
            workspace: HostWorkspace::default(),
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    fn centred(&self) -> bool {
        self.config.centre_patches && self.config.model.network == crate::config::Network::Mlp
    }

    /// The model as trained so far, as an ordinary FunkNN (with centred patches, the first
    /// layer converted; see [`export_centred`]).
    pub fn model(&self) -> Result<FunkNN> {
        if !self.centred() {
            return Ok(self.model.clone());
        }
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in self.model.parameters() {
            tensors.insert(name.clone(), t.detach());
        }
        let c = &self.config.model;
        let first = "MLP.0.weight";
        let w = tensors
            .get(first)
            .ok_or_else(|| Error::invalid("training", format!("the model has no {first}")))?;
        let exported = export_centred(w, c.channels, c.patch_size)?;
        tensors.insert(first.into(), exported);
        FunkNN::from_tensors(
            c,
            tensors,
            DType::F32,
            &Device::Cpu,
            Path::new("training run"),
        )
    }

    /// Starts a fresh run from the weights of `source` instead of its initialisation: every
    /// parameter of this run's architecture is taken from the tensor of the same name and
    /// shape (ω of a sine network keeps its initial value if `source` has none, e.g. a ReLU
    /// model warming a sine one). The architecture may differ in activation and kernel:
    /// fine-tuning a ReLU model into a smooth one. Only before the first step.
    pub fn warm_start(&mut self, source: &FunkNN, name: &str) -> Result<()> {
        if self.step != 0 {
            return Err(Error::invalid(
                "warm start",
                format!("the run has taken {} steps already", self.step),
            ));
        }
        let tensors: HashMap<&str, &Tensor> = source
            .parameters()
            .iter()
            .map(|(n, t)| (n.as_str(), t))
            .collect();
        let c = &self.config.model;
        for (param, var) in sorted_vars(&self.varmap)? {
            let Some(t) = tensors.get(param.as_str()) else {
                if param.starts_with("w.") {
                    continue;
                }
                return Err(Error::Weights {
                    path: name.into(),
                    message: format!(
                        "has no {param:?}, which a {} {} model needs",
                        c.network, c.activation
                    ),
                });
            };
            if t.dims() != var.as_tensor().dims() {
                return Err(Error::Weights {
                    path: name.into(),
                    message: format!(
                        "{param:?} has shape {:?}, this run needs {:?}",
                        t.dims(),
                        var.as_tensor().dims()
                    ),
                });
            }
            let mut t = t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
            if param == "MLP.0.weight" && self.centred() {
                t = import_centred(&t, c.channels, c.patch_size)?;
            }
            var.set(&t)?;
        }
        self.config.init_from = Some(name.to_owned());
        Ok(())
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The loss of every step taken.
    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    /// For every step taken, the loss of the plain interpolation (the model's kernel, the
    /// patch centre alone) on the same batch: the model learns something only below it.
    pub fn baselines(&self) -> &[f32] {
        &self.baselines
    }

    /// With derivative terms, for every step taken: the mean absolute error of `∇u / side`
    /// (the model's, the interpolation's), then of `Δu / side²` (the same two). `losses`
    /// and `baselines` include them, weighted.
    pub fn derivative_losses(&self) -> &[[f32; 4]] {
        &self.derivative_losses
    }

    /// With the scale-consistency term, its mean absolute residual at every step taken
    /// (the loss adds it times its weight).
    pub fn consistency_losses(&self) -> &[f32] {
        &self.consistency_losses
    }

    /// Changes the run's length: more steps to extend it, or the steps already taken to end
    /// it now. Fewer steps than already taken is an error.
    pub fn set_total_steps(&mut self, steps: usize) -> Result<()> {
        if steps < self.step {
            return Err(Error::invalid(
                "steps",
                format!(
                    "{steps} is fewer than the {} steps already taken",
                    self.step
                ),
            ));
        }
        self.config.steps = steps;
        Ok(())
    }

    pub fn done(&self) -> bool {
        self.step >= self.config.steps
    }

    /// One optimisation step on a batch from `data`: the L1 loss between FunkNN at random
    /// target pixels and the target image. Returns the loss.
    pub fn step(&mut self, data: &ImageFolder) -> Result<f32> {
        let started = std::time::Instant::now();
        let c = &self.config;
        let batch = data.sample_batch(&c.batch_spec(), &mut self.rng, c.sobolev())?;
        let sobolev = batch.derivatives.as_ref().map(|targets| SobolevLoss {
            gradient_weight: c.gradient_weight,
            laplacian_weight: c.laplacian_weight,
            targets,
        });
        let L1Gradients {
            loss: loss_value,
            interpolation_loss: baseline,
            gradient_loss,
            laplacian_loss,
            mut grads,
        } = l1_gradients_reusing(
            &self.model,
            &batch.images,
            &batch.points,
            &batch.targets,
            self.centred(),
            sobolev.as_ref(),
            &self.workspace,
        )?;
        if !loss_value.is_finite() {
            return Err(Error::invalid(
                "training",
                format!(
                    "the loss is {loss_value} at step {}; lower the learning rate",
                    self.step
                ),
            ));
        }
        let consistency = match c.consistency.is_active() {
            true => Some(self.consistency_step(data, &mut grads)?),
            false => None,
        };
        let c = &self.config;
        self.adam.lr = c.lr_at(self.step);
        self.adam.step_named(&grads)?;
        self.step += 1;
        self.losses.push(loss_value);
        self.baselines.push(baseline);
        if c.sobolev() {
            self.derivative_losses.push([
                gradient_loss[0],
                gradient_loss[1],
                laplacian_loss[0],
                laplacian_loss[1],
            ]);
        }
        if let Some(v) = consistency {
            self.consistency_losses.push(v);
        }
        self.seconds += started.elapsed().as_secs_f64();
        Ok(loss_value)
    }

    /// Adds the scale-consistency term's gradient to `grads` (weighted) for fresh crops of
    /// `data`; returns its mean absolute residual.
    fn consistency_step(
        &mut self,
        data: &ImageFolder,
        grads: &mut HashMap<String, Tensor>,
    ) -> Result<f32> {
        let s = self.config.consistency.clone();
        let crops = data.sample_crops(
            s.images,
            self.config.crop,
            self.config.augment,
            &mut self.rng,
        )?;
        let (_, c, h, w) = crops.dims4()?;
        // The rendering runs the exported (ordinary) model; the backward pass the trained
        // form, as the L1 term's.
        let exported = self.model()?;
        let count = s.images * c * s.window * s.window;
        let scale = (s.weight / count as f64) as f32;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut abs = 0f64;
        for i in 0..s.images {
            let crop = crops.narrow(0, i, 1)?;
            let at = (
                self.rng.below(h - s.window + 1),
                self.rng.below(w - s.window + 1),
            );
            let (a, points, upstream) =
                consistency::linearised(&exported, &crop, at, s.factor, s.window, scale)?;
            abs += a;
            let g = host_upstream_gradients(
                &self.model,
                &crop,
                &points,
                &upstream,
                threads,
                self.centred(),
                &self.workspace,
            )?;
            for (name, t) in g {
                let sum = match grads.remove(&name) {
                    Some(acc) => (acc + t)?,
                    None => t,
                };
                grads.insert(name, sum);
            }
        }
        let mean = (abs / count as f64) as f32;
        if !mean.is_finite() {
            return Err(Error::invalid(
                "training",
                format!(
                    "the scale-consistency residual is {mean} at step {}",
                    self.step
                ),
            ));
        }
        Ok(mean)
    }

    /// Writes a checkpoint folder atomically: weights, optimiser moments, step, RNG state and
    /// the loss history. A run killed at any moment resumes from the last complete one.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        replace_dir_atomic(dir, |tmp| {
            let mut tensors: HashMap<String, Tensor> = HashMap::new();
            for (name, var) in sorted_vars(&self.varmap)? {
                tensors.insert(format!("param.{name}"), var.as_tensor().clone());
            }
            for (name, t) in self.adam.state()? {
                tensors.insert(format!("adam.{name}"), t);
            }
            candle_core::safetensors::save(&tensors, tmp.join(TENSORS_FILE))?;
            make_readable(&tmp.join(TENSORS_FILE))?;
            let state = TrainState {
                config: self.config.clone(),
                step: self.step,
                rng: self.rng.state(),
                losses: self.losses.clone(),
                baselines: self.baselines.clone(),
                derivative_losses: self.derivative_losses.clone(),
                seconds: self.seconds,
                consistency_losses: self.consistency_losses.clone(),
            };
            let json = serde_json::to_string_pretty(&state).map_err(|error| Error::Config {
                path: tmp.join(STATE_FILE),
                error,
            })?;
            std::fs::write(tmp.join(STATE_FILE), json)
                .map_err(|e| Error::io(tmp.join(STATE_FILE), e))
        })
    }

    /// Continues the run saved in the checkpoint `dir`, exactly.
    pub fn resume(dir: &Path) -> Result<Self> {
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainState = serde_json::from_str(&text).map_err(|error| Error::Config {
            path: state_path.clone(),
            error,
        })?;
        let mut trainer = Trainer::new(state.config)?;
        let path = dir.join(TENSORS_FILE);
        let tensors =
            candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| Error::Weights {
                path: path.clone(),
                message: format!("unreadable checkpoint: {e}"),
            })?;
        for (name, var) in sorted_vars(&trainer.varmap)? {
            let t = tensors
                .get(&format!("param.{name}"))
                .ok_or_else(|| Error::Weights {
                    path: dir.join(TENSORS_FILE),
                    message: format!("missing {name}"),
                })?;
            var.set(t)?;
        }
        let adam: HashMap<String, Tensor> = tensors
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("adam.").map(|s| (s.to_owned(), v)))
            .collect();
        trainer.adam.restore(&adam, state.step)?;
        trainer.step = state.step;
        trainer.rng = Rng::from_state(state.rng);
        trainer.losses = state.losses;
        trainer.baselines = state.baselines;
        trainer.derivative_losses = state.derivative_losses;
        trainer.consistency_losses = state.consistency_losses;
        trainer.seconds = state.seconds;
        Ok(trainer)
    }

    /// Writes the trained model folder, with `train.json` (this run's configuration) beside
    /// `config.json` and `model.safetensors`.
    pub fn save_model(&self, dir: &Path, storage: DType, command: &str) -> Result<()> {
        self.model()?.save(dir, storage)?;
        let info = serde_json::json!({
            "command": command,
            "steps": self.step,
            "step_seconds": self.seconds,
            "final_loss": self.losses.last(),
            "train": self.config,
        });
        let text = serde_json::to_string_pretty(&info).unwrap_or_default() + "\n";
        write_atomic(&dir.join("train.json"), |tmp| {
            std::fs::write(tmp, text.as_bytes()).map_err(|e| Error::io(tmp, e))
        })
    }
}

/// Where a run in `out` keeps its checkpoint.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings saved before `degradation` and `augment` existed resume as they ran: input
    /// from the crop, no augmentation; new runs default to the target.
    #[test]
    fn older_settings_keep_their_degradation() {
        let fresh = TrainConfig::default();
        assert_eq!(fresh.degradation, Degradation::Target);
        let mut saved = serde_json::to_value(&fresh).unwrap();
        let fields = saved.as_object_mut().unwrap();
        assert!(fields.remove("degradation").is_some() && fields.remove("augment").is_some());
        let old: TrainConfig = serde_json::from_value(saved).unwrap();
        assert_eq!(old.degradation, Degradation::Crop);
        assert!(!old.augment);
    }

    /// The scale-consistency term's gradient, through the centred training form of the MLP,
    /// is that of `Σ dL/du · u` at the rendered points: central differences of that sum
    /// (dL/du held fixed, so the L1 kinks do not blur them), on the exported model.
    #[test]
    fn the_consistency_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(9);
        let pixels: Vec<f32> = (0..16 * 16).map(|_| rng.uniform() as f32).collect();
        let crop = Tensor::from_vec(pixels, (1, 1, 16, 16), &dev).unwrap();
        let config = TrainConfig {
            model: Config {
                channels: 1,
                ..Config::default()
            },
            crop: 16,
            ..TrainConfig::default()
        };
        assert!(config.centre_patches);
        let trainer = Trainer::new(config).unwrap();
        let vars: HashMap<String, Var> =
            sorted_vars(&trainer.varmap).unwrap().into_iter().collect();
        let layers = vars.keys().filter(|k| k.ends_with(".bias")).count();
        let last_weight = format!("MLP.{}.weight", layers - 1);
        let last = format!("MLP.{}.bias", layers - 1);
        // The output layer may start at zero, where every earlier gradient vanishes.
        let w = vars[&last_weight].as_tensor();
        let values: Vec<f32> = (0..w.elem_count())
            .map(|_| 0.2 * rng.uniform() as f32 - 0.1)
            .collect();
        vars[&last_weight]
            .set(&Tensor::from_vec(values, w.shape(), &dev).unwrap())
            .unwrap();
        let (_, points, upstream) =
            consistency::linearised(&trainer.model().unwrap(), &crop, (3, 6), 3, 5, 0.7).unwrap();
        let grads = host_upstream_gradients(
            &trainer.model,
            &crop,
            &points,
            &upstream,
            2,
            true,
            &HostWorkspace::default(),
        )
        .unwrap();
        let sum = |t: &Trainer| -> f64 {
            let model = t.model().unwrap();
            let ev =
                crate::Evaluator::new(&model, &crop, JetOrder::Value, Default::default()).unwrap();
            let u = ev.evaluate(&points).unwrap().value().unwrap();
            let s = (u.to_dtype(DType::F64).unwrap() * upstream.to_dtype(DType::F64).unwrap())
                .unwrap()
                .sum_all()
                .unwrap();
            s.to_scalar::<f64>().unwrap()
        };
        // (parameter, flat index, step): the patch centre's weight and another one of the
        // first layer (the centred form), the output bias. The receptive field's curvature
        // needs steps too small for f32; the backprop test below holds its gradient.
        for (name, index, eps) in [
            ("MLP.0.weight", 40, 1e-2),
            ("MLP.0.weight", 3, 1e-2),
            (last.as_str(), 0, 1e-3),
        ] {
            let var = &vars[name];
            let orig: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let shape = var.as_tensor().shape().clone();
            let at = |delta: f32| {
                let mut v = orig.clone();
                v[index] += delta;
                var.set(&Tensor::from_vec(v, shape.clone(), &dev).unwrap())
                    .unwrap();
                sum(&trainer)
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            at(0.0);
            let g: Vec<f32> = grads[name].flatten_all().unwrap().to_vec1().unwrap();
            let g = g[index] as f64;
            assert!(
                (g - fd).abs() <= 1e-2 * fd.abs().max(g.abs()) + 1e-6,
                "{name}[{index}]: gradient {g}, finite differences {fd}"
            );
        }
    }

    /// The graph-free gradient of `Σ dL/du · u` equals candle's backprop of the same sum,
    /// every parameter, the receptive field included.
    #[test]
    fn upstream_gradients_equal_backprop() {
        use crate::config::Activation;
        let dev = Device::Cpu;
        let mut rng = Rng::new(5);
        let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.uniform() as f32).collect() };
        let (n, c, side, p) = (2, 3, 12, 700);
        let images =
            Tensor::from_vec(uniform(n * c * side * side), (n, c, side, side), &dev).unwrap();
        let all_points = Tensor::from_vec(uniform(n * p * 2), (n, p, 2), &dev).unwrap();
        let upstream: Vec<f32> = uniform(n * p * c).iter().map(|v| v - 0.5).collect();
        let all_upstream = Tensor::from_vec(upstream, (n, p, c), &dev).unwrap();
        // ReLU on few points: with many, some unit sits at its kink and the two paths' f32
        // rounding can put it on different sides.
        for (activation, used) in [(Activation::Relu, 20), (Activation::Gelu, p)] {
            let config = Config {
                activation,
                ..Config::default()
            };
            let (model, _vars) = FunkNN::random(&config, 2, DType::F32, &dev).unwrap();
            let points = all_points.narrow(1, 0, used).unwrap();
            let upstream = all_upstream.narrow(1, 0, used).unwrap();
            let host = host_upstream_gradients(
                &model,
                &images,
                &points,
                &upstream,
                2,
                false,
                &HostWorkspace::default(),
            )
            .unwrap();
            let u = model
                .forward_jet(&images, &points, JetOrder::Value)
                .unwrap()
                .value()
                .unwrap();
            let graph = (u * &upstream)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert_eq!(host.len(), model.parameters().len());
            for (name, t) in model.parameters() {
                let want: Vec<f32> = graph
                    .get(t)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let got: Vec<f32> = host[name].flatten_all().unwrap().to_vec1().unwrap();
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let err = want
                    .iter()
                    .zip(&got)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    err <= 2e-4 * scale,
                    "{activation:?} {name}: {err} of {scale}"
                );
            }
        }
    }

    /// Importing into centred coordinates and exporting back gives the weight again.
    #[test]
    fn centred_import_inverts_export() {
        let w = Tensor::rand(-1f32, 1., (5, 2 * 9 * 9), &Device::Cpu).unwrap();
        let back = export_centred(&import_centred(&w, 2, 9).unwrap(), 2, 9).unwrap();
        let err = (back - &w)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(err < 1e-5, "{err}");
    }

    /// Buffers reused from earlier calls, of the same network or of another one, give the
    /// same gradient bit for bit as fresh ones.
    #[test]
    fn reused_buffers_give_the_same_gradient() {
        use crate::config::{Config, Network};
        let dev = Device::Cpu;
        let mut rng = Rng::new(4);
        let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.uniform() as f32).collect() };
        let (n, c, side, p) = (2, 3, 12, 600);
        let shape = (n, c, side, side);
        let images = Tensor::from_vec(uniform(n * c * side * side), shape, &dev).unwrap();
        let points = Tensor::from_vec(uniform(n * p * 2), (n, p, 2), &dev).unwrap();
        let targets = Tensor::from_vec(uniform(n * p * c), (n, p, c), &dev).unwrap();
        let model = |network| {
            let config = Config {
                network,
                ..Config::default()
            };
            FunkNN::random(&config, 1, DType::F32, &dev).unwrap().0
        };
        let (mlp, cnn) = (model(Network::Mlp), model(Network::Cnn));
        let bits = |g: &L1Gradients| -> Vec<(String, Vec<u32>)> {
            let mut out: Vec<_> = g
                .grads
                .iter()
                .map(|(name, t)| {
                    let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                    (name.clone(), v.into_iter().map(f32::to_bits).collect())
                })
                .collect();
            out.push(("loss".into(), vec![g.loss.to_bits()]));
            out.sort();
            out
        };
        let workspace = HostWorkspace::default();
        let run = |model: &FunkNN, centred: bool| {
            let reused =
                l1_gradients_reusing(model, &images, &points, &targets, centred, None, &workspace);
            let fresh = l1_gradients(model, &images, &points, &targets, centred).unwrap();
            assert_eq!(bits(&reused.unwrap()), bits(&fresh));
        };
        run(&mlp, true);
        run(&mlp, true);
        run(&cnn, false);
        run(&mlp, false);
    }
}
