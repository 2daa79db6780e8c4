//! Adam with a state that can be saved and restored (candle-nn's optimisers keep theirs
//! private, and a resumed run must continue exactly).

use std::collections::HashMap;

use candle_core::{backprop::GradStore, DType, Tensor, Var};

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
            // The host loop for f32 on the CPU: no temporary tensors, the same bits.
            let on_host = var.device().is_cpu() && var.dtype() == DType::F32;
            let (m, v) = self.update(
                var,
                g,
                (&self.first[name], &self.second[name]),
                (bc1, bc2),
                on_host,
            )?;
            self.first.insert(name.clone(), m);
            self.second.insert(name.clone(), v);
        }
        Ok(())
    }

    /// One parameter's update from its gradient `g`, moments `(m, v)` and bias corrections
    /// `(bc1, bc2)`; returns the new moments. With tensor operations on any device and dtype,
    /// or, `on_host` (f32 only), in a single host loop of the same f32 operations in the same
    /// order (candle's `t * s` is `t * f32(s) + 0`, `t / s` is `t * f32(1/s) + 0` and `t + s`
    /// is `t * 1 + f32(s)`), so bit for bit the same without a dozen temporary tensors.
    fn update(
        &self,
        var: &Var,
        g: &Tensor,
        (m, v): (&Tensor, &Tensor),
        (bc1, bc2): (f64, f64),
        on_host: bool,
    ) -> Result<(Tensor, Tensor)> {
        if !on_host {
            let m = ((m * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            let v = ((v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
            var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
            return Ok((m, v));
        }
        let shape = var.shape().clone();
        let flat = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
        };
        let (mut p, g, mut m, mut v) = (flat(var.as_tensor())?, flat(g)?, flat(m)?, flat(v)?);
        if g.len() != p.len() || m.len() != p.len() || v.len() != p.len() {
            return Err(crate::Error::invalid(
                "optimiser",
                format!("gradient or moments of a different size than the parameter ({shape:?})"),
            ));
        }
        let f = |x: f64| x as f32;
        let (b1, c1) = (f(self.beta1), f(1.0 - self.beta1));
        let (b2, c2) = (f(self.beta2), f(1.0 - self.beta2));
        let (s1, s2) = (f(1.0 / bc1), f(1.0 / bc2));
        let (eps, lr) = (f(self.eps), f(self.lr));
        for (((p, &g), m), v) in p.iter_mut().zip(&g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = (*m * b1 + 0.0) + (g * c1 + 0.0);
            *v = (*v * b2 + 0.0) + ((g * g) * c2 + 0.0);
            let update = (*m * s1 + 0.0) / ((*v * s2 + 0.0).sqrt() * 1.0 + eps);
            *p -= update * lr + 0.0;
        }
        let dev = var.device();
        var.set(&Tensor::from_vec(p, &shape, dev)?)?;
        Ok((
            Tensor::from_vec(m, &shape, dev)?,
            Tensor::from_vec(v, &shape, dev)?,
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use candle_core::Device;

    fn random(rng: &mut Rng, n: usize, scale: f64) -> Tensor {
        let v: Vec<f32> = (0..n)
            .map(|_| ((rng.uniform() - 0.5) * scale) as f32)
            .collect();
        Tensor::from_vec(v, (n / 4, 4), &Device::Cpu).unwrap()
    }

    #[test]
    fn host_update_equals_the_tensor_expressions_bit_for_bit() {
        let mut rng = Rng::new(3);
        let n = 1000;
        // Parameters near zero, so that a one-ulp change of an update shows in them.
        let start = random(&mut rng, n, 1e-7);
        // Two separate variables (`from_tensor` of a variable would share its storage).
        let a = Var::from_tensor(&start).unwrap();
        let b = Var::from_tensor(&start).unwrap();
        let (mut m, mut v) = (a.zeros_like().unwrap(), a.zeros_like().unwrap());
        let (mut mb, mut vb) = (m.clone(), v.clone());
        let mut adam = Adam::new(vec![], 3e-4).unwrap();
        for t in 1..=5 {
            // Gradients of every size, zeros included.
            let mut g = random(&mut rng, n, 10f64.powi(t - 3));
            if t == 2 {
                g = g.zeros_like().unwrap();
            }
            adam.lr = 1e-3 / t as f64;
            let (bc1, bc2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
            (m, v) = adam.update(&a, &g, (&m, &v), (bc1, bc2), true).unwrap();
            (mb, vb) = adam.update(&b, &g, (&mb, &vb), (bc1, bc2), false).unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                v.into_iter().map(f32::to_bits).collect()
            };
            assert_eq!(
                bits(a.as_tensor()),
                bits(b.as_tensor()),
                "parameters, step {t}"
            );
            assert_eq!(bits(&m), bits(&mb), "first moments, step {t}");
            assert_eq!(bits(&v), bits(&vb), "second moments, step {t}");
        }
        // And it moved: the test compares something.
        let moved = (a.as_tensor() - &start)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(moved > 1e-4, "{moved}");
    }
}
