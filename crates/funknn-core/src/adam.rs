//! Adam with a state that can be saved and restored (candle-nn's optimisers keep theirs
//! private, and a resumed run must continue exactly).

use std::collections::HashMap;

use candle_core::{backprop::GradStore, Tensor, Var};

use crate::Result;

/// Adam (Kingma & Ba), PyTorch's defaults: β = (0.9, 0.999), ε = 1e−8, no weight decay.
pub struct Adam {
    params: Vec<(String, Var)>,
    first: HashMap<String, Tensor>,
    second: HashMap<String, Tensor>,
    step: usize,
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    pub fn new(params: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        let mut first = HashMap::new();
        let mut second = HashMap::new();
        for (name, v) in &params {
            first.insert(name.clone(), v.zeros_like()?);
            second.insert(name.clone(), v.zeros_like()?);
        }
        Ok(Adam {
            params,
            first,
            second,
            step: 0,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        })
    }

    /// Updates every parameter that has a gradient.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let named: HashMap<String, Tensor> = self
            .params
            .iter()
            .filter_map(|(name, var)| {
                grads
                    .get(var.as_tensor())
                    .map(|g| (name.clone(), g.clone()))
            })
            .collect();
        self.step_named(&named)
    }

    /// Updates every parameter with a gradient in `grads`, by parameter name.
    pub fn step_named(&mut self, grads: &HashMap<String, Tensor>) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for (name, var) in &self.params {
            let Some(g) = grads.get(name) else {
                continue;
            };
            let m = ((&self.first[name] * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            let v = ((&self.second[name] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
            var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
            self.first.insert(name.clone(), m);
            self.second.insert(name.clone(), v);
        }
        Ok(())
    }

    pub fn steps_taken(&self) -> usize {
        self.step
    }

    /// Moments as named tensors (`m.<param>`, `v.<param>`), for checkpoints.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (name, _) in &self.params {
            out.insert(format!("m.{name}"), self.first[name].clone());
            out.insert(format!("v.{name}"), self.second[name].clone());
        }
        out
    }

    /// Restores moments saved by [`Self::state`] and the step count.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        for (name, _) in &self.params {
            for (prefix, map) in [("m", &mut self.first), ("v", &mut self.second)] {
                let key = format!("{prefix}.{name}");
                let t = state.get(&key).ok_or_else(|| {
                    crate::Error::invalid("checkpoint", format!("missing optimiser state {key}"))
                })?;
                map.insert(name.clone(), t.clone());
            }
        }
        self.step = step;
        Ok(())
    }
}
