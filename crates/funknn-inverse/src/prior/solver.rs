//! The paper's two-phase solver: fit the prior's base variable `w` (the latent is
//! `flow(w)`), starting from the prior's mean, with Adam; then fine-tune the decoder's
//! weights with the latent fixed.

use candle_core::{DType, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use funknn_core::{Jet, JetOrder};
use funknn_gen::{standard_normal, DiscreteGenerator, FunctionalGenerator, LatentPrior};

use super::forward::ForwardModel;
use crate::{Error, Result};

/// Settings of [`PriorSolver::solve`]. The defaults are those `funknn solve` uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorSolverConfig {
    /// Phase 1: Adam steps on the latent's base variable.
    pub latent_steps: usize,
    /// Phase 1 learning rate (the base variable is in units of the prior's spread).
    pub latent_lr: f64,
    /// Phase 2: Adam steps on the decoder's weights, the latent fixed (0: skip).
    pub decoder_steps: usize,
    /// Phase 2 learning rate.
    pub decoder_lr: f64,
    /// Weight of `−log p(latent)/D`, the prior's negative log-likelihood per dimension.
    pub likelihood_weight: f64,
    /// Weight of the total variation `mean |∇u|` at the forward model's points (exact,
    /// from the jets).
    pub tv_weight: f64,
    /// Weight of `mean(min(u, 0)² + max(u − 1, 0)²)` at the forward model's points: keeps
    /// the image in the intensity range [0, 1] where the data cannot (the missing wedge of
    /// limited-view CT).
    pub range_weight: f64,
    /// 0: start at the prior's mean (the official start). Above 0: start at a prior sample
    /// at this temperature, drawn from `seed`.
    pub start_temperature: f64,
    pub seed: u64,
}

impl Default for PriorSolverConfig {
    fn default() -> Self {
        PriorSolverConfig {
            latent_steps: 300,
            latent_lr: 0.05,
            decoder_steps: 200,
            decoder_lr: 1e-4,
            likelihood_weight: 0.0,
            tv_weight: 0.0,
            range_weight: 0.0,
            start_temperature: 0.0,
            seed: 0,
        }
    }
}

impl PriorSolverConfig {
    pub fn validate(&self) -> Result<()> {
        let checks = [
            (
                "latent learning rate",
                self.latent_lr,
                self.latent_steps > 0,
            ),
            (
                "decoder learning rate",
                self.decoder_lr,
                self.decoder_steps > 0,
            ),
        ];
        for (what, lr, used) in checks {
            if used && !(lr.is_finite() && lr > 0.0) {
                return Err(Error::invalid(what, format!("{lr}: must be positive")));
            }
        }
        for (what, w) in [
            ("likelihood weight", self.likelihood_weight),
            ("TV weight", self.tv_weight),
            ("range weight", self.range_weight),
            ("start temperature", self.start_temperature),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::invalid(what, format!("{w}: must be finite and ≥ 0")));
            }
        }
        if self.latent_steps + self.decoder_steps == 0 {
            return Err(Error::invalid("steps", "no steps to run"));
        }
        Ok(())
    }
}

/// Which parameters a step updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The latent's base variable.
    Latent,
    /// The decoder's weights, the latent fixed.
    Decoder,
}

/// What the monitor sees at each step, before the update.
pub struct SolverStep<'a> {
    pub phase: Phase,
    /// 1-based over both phases.
    pub step: usize,
    pub total: usize,
    /// The objective: misfit plus regularisers.
    pub loss: f64,
    /// The data misfit alone (normalised by the data's mean square).
    pub misfit: f64,
    /// The jet at the forward model's points.
    pub jet: &'a Jet,
    /// The current latent `(1, D)`.
    pub latent: &'a Tensor,
}

/// The result: the latent found (its base variable too) and the loss per step.
#[derive(Debug, Clone)]
pub struct PriorSolution {
    pub base: Tensor,
    pub latent: Tensor,
    /// `(loss, misfit)` per step.
    pub losses: Vec<(f64, f64)>,
}

/// Solves inverse problems with a functional generator as the prior. Phase 2 changes the
/// weights in `decoder_vars`, which must be the variables of the generator's decoder (from
/// [`funknn_gen::Generator::trainable_decoder`]); the generator then renders the solution.
pub struct PriorSolver<'g, P, G> {
    generator: &'g FunctionalGenerator<P, G>,
    decoder_vars: Vec<Var>,
    tv_points: Option<Tensor>,
}

impl<'g, P: LatentPrior, G: DiscreteGenerator> PriorSolver<'g, P, G> {
    pub fn new(generator: &'g FunctionalGenerator<P, G>, decoder_vars: Vec<Var>) -> Self {
        PriorSolver {
            generator,
            decoder_vars,
            tv_points: None,
        }
    }

    /// Evaluates the TV term at `points` `(1, P, 2)` (say, every pixel centre of the working
    /// grid) instead of at the forward model's points: observations at a sparse set of points
    /// say nothing about the image between them, and TV there is what keeps it flat.
    pub fn with_tv_points(mut self, points: Tensor) -> Result<Self> {
        match points.dims() {
            [1, p, 2] if *p > 0 => {}
            got => return Err(Error::shape("TV points", "(1, P, 2), P > 0", got)),
        }
        self.tv_points = Some(points);
        Ok(self)
    }

    /// The base variable the solver starts from: zeros (the prior's mean) or a seeded
    /// sample at `config.start_temperature`.
    pub fn start(&self, config: &PriorSolverConfig) -> Result<Tensor> {
        let d = self.generator.prior().latent_dim();
        let zeros = Tensor::zeros((1, d), DType::F32, &candle_core::Device::Cpu)?;
        if config.start_temperature == 0.0 {
            return Ok(zeros);
        }
        Ok((standard_normal(1, d, config.seed)? * config.start_temperature)?)
    }

    /// The latent of a base variable (differentiable).
    pub fn latent_of(&self, base: &Tensor) -> Result<Tensor> {
        Ok(self.generator.prior().sample_from(base, 1.0)?)
    }

    /// The objective at `base`: `(loss, misfit, jet, latent)`, one candle graph.
    pub fn objective(
        &self,
        forward: &dyn ForwardModel,
        base: &Tensor,
        config: &PriorSolverConfig,
    ) -> Result<(Tensor, Tensor, Jet, Tensor)> {
        let latent = self.latent_of(base)?;
        let tv_here = config.tv_weight > 0.0 && self.tv_points.is_none();
        let order = if tv_here && forward.order() == JetOrder::Value {
            JetOrder::Gradient
        } else {
            forward.order()
        };
        let jet = self
            .generator
            .jet_frozen(&latent, forward.points(), order)?;
        let misfit = forward.misfit(&jet)?;
        let mut loss = misfit.clone();
        if config.tv_weight > 0.0 {
            let g = match &self.tv_points {
                Some(points) => self
                    .generator
                    .jet_frozen(&latent, points, JetOrder::Gradient)?,
                None => jet.clone(),
            };
            let g = g.gradient()?.expect("a gradient jet"); // (1, P, C, 2)
            let tv = (g.sqr()?.sum_keepdim(3)? + 1e-12)?.sqrt()?.mean_all()?;
            loss = (loss + (tv * config.tv_weight)?)?;
        }
        if config.range_weight > 0.0 {
            let u = jet.value()?;
            let below = u.relu()?.sub(&u)?; // max(−u, 0)
            let above = (u - 1.0)?.relu()?;
            let out = (below.sqr()? + above.sqr()?)?.mean_all()?;
            loss = (loss + (out * config.range_weight)?)?;
        }
        if config.likelihood_weight > 0.0 {
            let d = latent.dim(1)? as f64;
            let nll = (self.generator.prior().log_prob(&latent)?.sum_all()? * (-1.0 / d))?;
            loss = (loss + (nll * config.likelihood_weight)?)?;
        }
        Ok((loss, misfit, jet, latent))
    }

    /// Runs both phases; `monitor` sees every step (an error from it stops the solve).
    pub fn solve(
        &self,
        forward: &dyn ForwardModel,
        config: &PriorSolverConfig,
        monitor: &mut dyn FnMut(&SolverStep) -> Result<()>,
    ) -> Result<PriorSolution> {
        config.validate()?;
        let channels = self.generator.funknn().config().channels;
        if forward.channels() != channels {
            return Err(Error::invalid(
                "observations",
                format!(
                    "they observe {} channel(s), the generator makes {channels}",
                    forward.channels()
                ),
            ));
        }
        if config.decoder_steps > 0 && self.decoder_vars.is_empty() {
            return Err(Error::invalid(
                "decoder steps",
                "phase 2 needs the decoder's variables (Generator::trainable_decoder)",
            ));
        }
        let total = config.latent_steps + config.decoder_steps;
        let base = Var::from_tensor(&self.start(config)?)?;
        let mut losses = Vec::with_capacity(total);
        let params = |lr| ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        };
        let mut run = |phase: Phase, steps: usize, opt: &mut AdamW, offset: usize| -> Result<()> {
            for k in 0..steps {
                let (loss, misfit, jet, latent) =
                    self.objective(forward, base.as_tensor(), config)?;
                let (l, m) = (
                    loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
                    misfit.to_dtype(DType::F64)?.to_scalar::<f64>()?,
                );
                let step = offset + k + 1;
                if !l.is_finite() {
                    return Err(Error::invalid(
                        "solver",
                        format!("the loss is {l} at step {step}: lower the learning rate"),
                    ));
                }
                monitor(&SolverStep {
                    phase,
                    step,
                    total,
                    loss: l,
                    misfit: m,
                    jet: &jet,
                    latent: &latent,
                })?;
                losses.push((l, m));
                opt.backward_step(&loss)?;
            }
            Ok(())
        };
        if config.latent_steps > 0 {
            let mut opt = AdamW::new(vec![base.clone()], params(config.latent_lr))?;
            run(Phase::Latent, config.latent_steps, &mut opt, 0)?;
        }
        if config.decoder_steps > 0 {
            // The latent is fixed: only the decoder's variables are given to the optimiser
            // (the base's gradient is computed but never applied).
            let mut opt = AdamW::new(self.decoder_vars.clone(), params(config.decoder_lr))?;
            run(
                Phase::Decoder,
                config.decoder_steps,
                &mut opt,
                config.latent_steps,
            )?;
        }
        let base = base.as_tensor().detach();
        let latent = self.latent_of(&base)?.detach();
        Ok(PriorSolution {
            base,
            latent,
            losses,
        })
    }
}
