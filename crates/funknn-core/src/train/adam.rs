//! Adam with a state that can be saved and restored (candle-nn's optimisers keep theirs
//! private, and a resumed run must continue exactly).

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{backprop::GradStore, CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};

use crate::Result;

/// Adam (Kingma & Ba), PyTorch's defaults: β = (0.9, 0.999), ε = 1e−8, and PyTorch's
/// `weight_decay` (the L2 term `wd · p` added to the gradient), 0 unless set.
pub struct Adam {
    params: Vec<(String, Var)>,
    /// Each parameter's first and second moments.
    moments: HashMap<String, Moments>,
    step: usize,
    pub lr: f64,
    pub weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Tests compare the host loops with the tensor expressions.
    tensor_ops_only: bool,
}

impl Adam {
    pub fn new(params: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        let mut moments = HashMap::new();
        for (name, v) in &params {
            let mv = if host_eligible(v) {
                Moments::Host(vec![0.0; 2 * v.elem_count()])
            } else {
                Moments::Stacked(Tensor::zeros((2, v.elem_count()), v.dtype(), v.device())?)
            };
            moments.insert(name.clone(), mv);
        }
        Ok(Adam {
            params,
            moments,
            step: 0,
            lr,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            tensor_ops_only: false,
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
        let bc = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        let constants = self.host_constants(bc);
        for (name, var) in &self.params {
            let Some(g) = grads.get(name) else {
                continue;
            };
            if g.shape() != var.shape() {
                return Err(crate::Error::invalid(
                    "optimiser",
                    format!(
                        "gradient of {name} is {:?}, the parameter {:?}",
                        g.dims(),
                        var.dims()
                    ),
                ));
            }
            // In place on the host for f32 on the CPU: one pass, no temporary tensors,
            // the same bits as the tensor expressions.
            let on_host = !self.tensor_ops_only && host_eligible(var) && g.dtype() == DType::F32;
            let missing =
                || crate::Error::invalid("optimiser", format!("no moments for parameter {name}"));
            if on_host {
                let host = self.moments.get_mut(name).ok_or_else(missing)?.host()?;
                update_on_host(var, &g.contiguous()?, host, constants)?;
            } else {
                let stacked = self
                    .moments
                    .get_mut(name)
                    .ok_or_else(missing)?
                    .stacked(var)?
                    .clone();
                let updated = Moments::Stacked(self.update_tensors(var, g, &stacked, bc)?);
                self.moments.insert(name.clone(), updated);
            }
        }
        Ok(())
    }

    /// The update as tensor expressions, on any device and dtype; returns the new moments.
    fn update_tensors(
        &self,
        var: &Var,
        g: &Tensor,
        mv: &Tensor,
        (bc1, bc2): (f64, f64),
    ) -> Result<Tensor> {
        let p = var.as_tensor();
        let g = if self.weight_decay != 0.0 {
            (g + (p * self.weight_decay)?)?
        } else {
            g.clone()
        };
        let m = mv.get(0)?.reshape(p.shape())?;
        let v = mv.get(1)?.reshape(p.shape())?;
        let m = ((m * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
        let v = ((v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
        let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
        var.set(&(p - (update * self.lr)?)?)?;
        Ok(Tensor::stack(&[m.flatten_all()?, v.flatten_all()?], 0)?)
    }

    /// The scalars of [`update_on_host`] for this step (`bc`: the bias corrections).
    fn host_constants(&self, (bc1, bc2): (f64, f64)) -> Constants {
        let f = |x: f64| x as f32;
        Constants {
            b1: f(self.beta1),
            c1: f(1.0 - self.beta1),
            b2: f(self.beta2),
            c2: f(1.0 - self.beta2),
            decay: (self.weight_decay != 0.0).then(|| f(self.weight_decay)),
            s1: f(1.0 / bc1),
            s2: f(1.0 / bc2),
            eps: f(self.eps),
            lr: f(self.lr),
        }
    }

    pub fn steps_taken(&self) -> usize {
        self.step
    }

    /// Moments as named tensors (`m.<param>`, `v.<param>`), for checkpoints.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (name, var) in &self.params {
            let n = var.elem_count();
            for (i, prefix) in ["m", "v"].into_iter().enumerate() {
                let t = match &self.moments[name] {
                    Moments::Host(mv) => {
                        Tensor::from_slice(&mv[i * n..(i + 1) * n], var.shape(), var.device())?
                    }
                    // A copy: a later step may move the moments to the host and update
                    // them in place.
                    Moments::Stacked(mv) => mv.get(i)?.reshape(var.shape())?.copy()?,
                };
                out.insert(format!("{prefix}.{name}"), t);
            }
        }
        Ok(out)
    }

    /// Restores moments saved by [`Self::state`] and the step count.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        for (name, var) in &self.params {
            let mut parts = Vec::new();
            for prefix in ["m", "v"] {
                let key = format!("{prefix}.{name}");
                let t = state.get(&key).ok_or_else(|| {
                    crate::Error::invalid("checkpoint", format!("missing optimiser state {key}"))
                })?;
                if t.elem_count() != var.elem_count() {
                    return Err(crate::Error::invalid(
                        "checkpoint",
                        format!(
                            "optimiser state {key} is {:?}, the parameter {:?}",
                            t.dims(),
                            var.dims()
                        ),
                    ));
                }
                parts.push(t.flatten_all()?.to_dtype(var.dtype())?);
            }
            let mut mv = Moments::Stacked(Tensor::stack(&parts, 0)?);
            if host_eligible(var) {
                mv.host()?;
            }
            self.moments.insert(name.clone(), mv);
        }
        self.step = step;
        Ok(())
    }
}

/// The same f32 operations in the same order as [`Adam::update_tensors`] (candle's
/// `t * s` is `t * f32(s) + 0`, `t / s` is `t * f32(1/s) + 0` and `t + s` is
/// `t * 1 + f32(s)`), in place, in one pass over the gradient, the moments and the
/// parameter (two passes read the moments twice). With AVX2 (see [`adam_pass`]) it takes
/// 1.4–1.7 ms for the prior's 2.63 M parameters, against 3.0–3.5 ms for the two passes on
/// SSE2.
fn update_on_host(var: &Var, g: &Tensor, moments: &mut [f32], constants: Constants) -> Result<()> {
    var.as_tensor().inplace_op2(
        g,
        &FusedOp {
            moments: Mutex::new(moments),
            constants,
        },
    )?;
    Ok(())
}

/// A parameter whose moments live in host memory and update in one pass.
fn host_eligible(var: &Var) -> bool {
    var.device().is_cpu() && var.as_tensor().is_contiguous() && var.dtype() == DType::F32
}

/// A parameter's first and second moments, `[m, v]` of `numel` each.
enum Moments {
    /// On the host, for f32 parameters on the CPU.
    Host(Vec<f32>),
    /// Stacked as a `(2, numel)` tensor, on any device and dtype.
    Stacked(Tensor),
}

impl Moments {
    /// The moments on the host, moved there first if they are a tensor.
    fn host(&mut self) -> Result<&mut Vec<f32>> {
        if let Moments::Stacked(t) = self {
            *self = Moments::Host(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?);
        }
        match self {
            Moments::Host(v) => Ok(v),
            Moments::Stacked(_) => Err(crate::Error::invalid(
                "optimiser",
                "moments not on the host",
            )),
        }
    }

    /// The moments as a `(2, numel)` tensor of `var`'s dtype and device, made first if
    /// they are on the host.
    fn stacked(&mut self, var: &Var) -> Result<&Tensor> {
        if let Moments::Host(v) = self {
            let t = Tensor::from_slice(v, (2, var.elem_count()), var.device())?;
            *self = Moments::Stacked(t.to_dtype(var.dtype())?);
        }
        match self {
            Moments::Stacked(t) => Ok(t),
            Moments::Host(_) => Err(crate::Error::invalid("optimiser", "moments not a tensor")),
        }
    }
}

/// The scalars of one update, by value.
#[derive(Clone, Copy)]
struct Constants {
    b1: f32,
    c1: f32,
    b2: f32,
    c2: f32,
    decay: Option<f32>,
    s1: f32,
    s2: f32,
    eps: f32,
    lr: f32,
}

/// The update of every element, compiled for AVX2 where the CPU has it: the square root
/// and the division make the loop compute-bound on SSE2's 4 lanes. The same IEEE
/// operations in the same order either way (no fused multiply-adds), so the same bits.
fn adam_pass(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Constants) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { adam_pass_avx2(p, m, v, g, c) };
    }
    adam_pass_any(p, m, v, g, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn adam_pass_avx2(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Constants) {
    adam_pass_any(p, m, v, g, c)
}

#[inline(always)]
fn adam_pass_any(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Constants) {
    // One thread: split over two, the two-pass loop ran 2–3× slower (candle's worker
    // spins on the other core after each op).
    for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
        let g = match c.decay {
            Some(wd) => g + (*p * wd + 0.0),
            None => g,
        };
        *m = (*m * c.b1 + 0.0) + (g * c.c1 + 0.0);
        *v = (*v * c.b2 + 0.0) + ((g * g) * c.c2 + 0.0);
        let update = (*m * c.s1 + 0.0) / ((*v * c.s2 + 0.0).sqrt() * 1.0 + c.eps);
        *p -= update * c.lr + 0.0;
    }
}

/// One pass of Adam on a parameter, mutated in place, from its gradient (with the weight
/// decay added when there is one) and its host moments:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← p − lr · m̂ / (√v̂ + ε)`.
struct FusedOp<'a> {
    /// `inplace_op2` hands the op only `&self`; the lock is taken once per parameter.
    moments: Mutex<&'a mut [f32]>,
    constants: Constants,
}

impl InplaceOp2 for FusedOp<'_> {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let g = match (s2, l2.contiguous_offsets()) {
            (CpuStorage::F32(v), Some((a, b))) => &v[a..b],
            _ => candle_core::bail!("adam: the gradient must be contiguous f32"),
        };
        let n = g.len();
        let p = match (s1, l1.contiguous_offsets()) {
            (CpuStorage::F32(v), Some((a, b))) if b - a == n => &mut v[a..b],
            _ => candle_core::bail!("adam: a parameter that does not fit its gradient"),
        };
        let mut moments = self
            .moments
            .lock()
            .map_err(|_| candle_core::Error::Msg("adam: poisoned moments".into()))?;
        if moments.len() != 2 * n {
            candle_core::bail!("adam: moments that do not fit the parameter");
        }
        let (m, v) = moments.split_at_mut(n);
        // The constants by value: `self` holds a lock (an `UnsafeCell`), so in the loop the
        // compiler would reload its fields after every store and not vectorise (4× slower).
        let c = self.constants;
        adam_pass(p, m, v, g, c);
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

    fn bits(t: &Tensor) -> Vec<u32> {
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        v.into_iter().map(f32::to_bits).collect()
    }

    #[test]
    fn host_update_equals_the_tensor_expressions_bit_for_bit() {
        // A small and a large parameter.
        for n in [1000, 70_000] {
            let mut rng = Rng::new(3);
            // Parameters near zero, so that a one-ulp change of an update shows in them.
            let start = random(&mut rng, n, 1e-7);
            // Two separate variables (`from_tensor` of a variable would share its storage).
            let a = Var::from_tensor(&start).unwrap();
            let b = Var::from_tensor(&start).unwrap();
            let mut host = Adam::new(vec![("p".into(), a.clone())], 3e-4).unwrap();
            let mut tensors = Adam::new(vec![("p".into(), b.clone())], 3e-4).unwrap();
            tensors.tensor_ops_only = true;
            for t in 1..=5 {
                // Gradients of every size, zeros included; weight decay in some steps.
                let mut g = random(&mut rng, n, 10f64.powi(t - 3));
                if t == 2 {
                    g = g.zeros_like().unwrap();
                }
                for adam in [&mut host, &mut tensors] {
                    adam.lr = 1e-3 / t as f64;
                    adam.weight_decay = if t % 2 == 1 { 1e-2 } else { 0.0 };
                    adam.step_named(&HashMap::from([("p".to_string(), g.clone())]))
                        .unwrap();
                }
                assert_eq!(bits(a.as_tensor()), bits(b.as_tensor()), "n {n}, step {t}");
                let (sa, sb) = (host.state().unwrap(), tensors.state().unwrap());
                for k in ["m.p", "v.p"] {
                    assert_eq!(sa[k].dims(), a.dims());
                    assert_eq!(bits(&sa[k]), bits(&sb[k]), "{k}, n {n}, step {t}");
                }
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

    #[test]
    fn state_round_trips_and_bad_state_is_refused() {
        let mut rng = Rng::new(5);
        let p = Var::from_tensor(&random(&mut rng, 64, 1.0)).unwrap();
        let mut adam = Adam::new(vec![("p".into(), p.clone())], 1e-2).unwrap();
        for _ in 0..3 {
            let g = random(&mut rng, 64, 1.0);
            adam.step_named(&HashMap::from([("p".to_string(), g)]))
                .unwrap();
        }
        let saved = adam.state().unwrap();
        let q = Var::from_tensor(&p.as_tensor().copy().unwrap()).unwrap();
        let mut resumed = Adam::new(vec![("p".into(), q.clone())], 1e-2).unwrap();
        resumed.restore(&saved, 3).unwrap();
        let g = random(&mut rng, 64, 1.0);
        for a in [&mut adam, &mut resumed] {
            a.step_named(&HashMap::from([("p".to_string(), g.clone())]))
                .unwrap();
        }
        assert_eq!(bits(p.as_tensor()), bits(q.as_tensor()));
        let mut short = saved.clone();
        short.insert(
            "m.p".into(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
        let err = resumed.restore(&short, 3).unwrap_err().to_string();
        assert!(err.contains("m.p"), "{err}");
        let wrong = HashMap::from([(
            "p".to_string(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        )]);
        let err = adam.step_named(&wrong).unwrap_err().to_string();
        assert!(err.contains("gradient of p"), "{err}");
    }
}
