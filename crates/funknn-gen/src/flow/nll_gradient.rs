//! The prior's training gradient: the mean negative log-likelihood of a batch of latents and
//! its exact gradient with respect to every parameter, derived by hand for f32 on the CPU.
//!
//! Through candle's autograd a prior step is some 300 small tensor ops, each allocating its
//! output, and the tape costs more than the arithmetic (a step took 36 ms, ~1 GFLOP). Here
//! the couplings' networks are twelve matrix products per coupling on preallocated host
//! buffers, the scale and shift networks on two threads, and every elementwise term is one
//! loop. Anything else (another dtype or device) takes the autograd path, with the same
//! result.

use std::collections::HashMap;

use candle_core::{DType, Layout, Storage, Tensor};

use crate::flow::coupling::MaskedAffineCoupling;
use crate::flow::realnvp::{Layer, RealNvp};
use crate::generator::LatentPrior;
use crate::matmul::matmul;
use crate::{Error, Result};

/// The batch's mean negative log-likelihood and its gradient by parameter name, under the
/// official tensor names (`flows.{j}.s.net.0.weight`, `flows.{j}.s`, `q0.loc`, …).
#[derive(Debug, Clone)]
pub struct NllGradient {
    pub nll: f32,
    pub gradients: HashMap<String, Tensor>,
}

/// A contiguous f32 CPU tensor's values, borrowed from its storage.
fn host<'a>(storage: &'a Storage, layout: &Layout, name: &str) -> Result<&'a [f32]> {
    let slice = match storage {
        Storage::Cpu(cpu) => cpu.as_slice::<f32>().ok(),
        _ => None,
    };
    match (slice, layout.contiguous_offsets()) {
        (Some(data), Some((start, end))) => Ok(&data[start..end]),
        _ => Err(Error::invalid(
            "prior gradient",
            format!("{name} is not a contiguous f32 CPU tensor"),
        )),
    }
}

/// Every parameter of the prior with its name, in layer order, then the base.
fn named_parameters(flow: &RealNvp) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (j, layer) in flow.layers().iter().enumerate() {
        match layer {
            Layer::Coupling(c) => {
                let (s, t) = c.nets();
                for (net, name) in [(s, "s"), (t, "t")] {
                    let (hidden, output) = net.layers();
                    for (linear, k) in [(hidden, 0), (output, 2)] {
                        let prefix = format!("flows.{j}.{name}.net.{k}");
                        out.push((format!("{prefix}.weight"), linear.weight().clone()));
                        if let Some(b) = linear.bias() {
                            out.push((format!("{prefix}.bias"), b.clone()));
                        }
                    }
                }
            }
            Layer::ActNorm(a) => {
                let (s, t) = a.parameters();
                out.push((format!("flows.{j}.s"), s.clone()));
                out.push((format!("flows.{j}.t"), t.clone()));
            }
        }
    }
    out.push(("q0.loc".into(), flow.base().mean().clone()));
    out.push(("q0.log_scale".into(), flow.base().log_scale().clone()));
    out
}

impl RealNvp {
    /// The mean negative log-likelihood of `latents` `(N, D)` and its gradient with respect
    /// to every parameter: what one maximum-likelihood training step needs. By hand for f32
    /// on the CPU (a third of the time of autograd), by candle's autograd otherwise; both
    /// are exact and agree to rounding.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use candle_nn::{VarBuilder, VarMap};
    /// use funknn_gen::{FlowConfig, RealNvp};
    ///
    /// let varmap = VarMap::new();
    /// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    /// let flow = RealNvp::new(&FlowConfig { latent_dim: 8, depth: 2 }, vb)?;
    /// let latents = funknn_gen::standard_normal(5, 8, 0)?;
    /// let step = flow.nll_gradient(&latents)?;
    /// // A fresh flow is a standard normal: NLL = ½|z|² + 4 ln 2π per latent.
    /// let half_sq = (latents.sqr()?.sum_all()?.to_scalar::<f32>()? / 10.0) as f64;
    /// let expected = half_sq + 4.0 * (2.0 * std::f64::consts::PI).ln();
    /// assert!((step.nll as f64 - expected).abs() < 1e-4);
    /// assert_eq!(step.gradients["q0.loc"].dims(), &[1, 8]);
    /// # Ok::<(), funknn_gen::Error>(())
    /// ```
    pub fn nll_gradient(&self, latents: &Tensor) -> Result<NllGradient> {
        let params = named_parameters(self);
        let on_host = latents.device().is_cpu()
            && latents.dtype() == DType::F32
            && params
                .iter()
                .all(|(_, t)| t.dtype() == DType::F32 && t.is_contiguous() && t.device().is_cpu());
        if on_host {
            self.host_nll_gradient(latents, &params)
        } else {
            self.autograd_nll_gradient(latents, &params)
        }
    }

    fn autograd_nll_gradient(
        &self,
        latents: &Tensor,
        params: &[(String, Tensor)],
    ) -> Result<NllGradient> {
        let nll = self.log_prob(latents)?.mean_all()?.neg()?;
        let grads = nll.backward()?;
        let mut gradients = HashMap::new();
        for (name, t) in params {
            let g = match grads.get(t) {
                Some(g) => g.clone(),
                None => t.zeros_like()?,
            };
            gradients.insert(name.clone(), g);
        }
        Ok(NllGradient {
            nll: nll.to_dtype(DType::F32)?.to_scalar()?,
            gradients,
        })
    }

    // The elementwise terms index five arrays by row and latent coordinate at once.
    #[allow(clippy::needless_range_loop)]
    fn host_nll_gradient(
        &self,
        latents: &Tensor,
        params: &[(String, Tensor)],
    ) -> Result<NllGradient> {
        let d = self.config().latent_dim;
        let n = match latents.dims() {
            [n, dd] if *dd == d && *n > 0 => *n,
            dims => {
                return Err(Error::Shape {
                    name: "latents",
                    expected: format!("(N ≥ 1, {d})"),
                    got: dims.to_vec(),
                })
            }
        };
        let latents = latents.contiguous()?;
        let guards: Vec<_> = params.iter().map(|(_, t)| t.storage_and_layout()).collect();
        let mut values: HashMap<&str, &[f32]> = HashMap::new();
        for ((name, _), (storage, layout)) in params.iter().zip(&guards) {
            values.insert(name.as_str(), host(storage, layout, name)?);
        }
        // Each layer's host values, looked up once.
        let host_layers: Vec<HostLayer> = self
            .layers()
            .iter()
            .enumerate()
            .map(|(j, l)| {
                let get = |key: String| {
                    values.get(key.as_str()).copied().ok_or_else(|| {
                        Error::invalid("prior gradient", format!("no parameter {key}"))
                    })
                };
                Ok(match l {
                    Layer::Coupling(c) => HostLayer::Coupling {
                        mask: mask_of(c)?,
                        s: Net::of(&values, j, "s")?,
                        t: Net::of(&values, j, "t")?,
                    },
                    Layer::ActNorm(_) => HostLayer::ActNorm {
                        s: get(format!("flows.{j}.s"))?,
                        t: get(format!("flows.{j}.t"))?,
                    },
                })
            })
            .collect::<Result<_>>()?;
        let parallel = std::thread::available_parallelism().is_ok_and(|c| c.get() >= 2);
        let mut x = latents.flatten_all()?.to_vec1::<f32>()?;
        let mut log_det = vec![0f32; n];

        // From the data to the base (the density's direction), keeping what the gradient
        // needs.
        let mut caches = Vec::with_capacity(self.layers().len());
        for layer in host_layers.iter().rev() {
            match layer {
                &HostLayer::ActNorm { s, t } => {
                    let inv: Vec<f32> = s.iter().map(|v| (-v).exp()).collect();
                    for row in x.chunks_mut(d) {
                        for ((v, &ti), &ei) in row.iter_mut().zip(t).zip(&inv) {
                            *v = (*v - ti) * ei;
                        }
                    }
                    let sum: f32 = s.iter().sum();
                    log_det.iter_mut().for_each(|l| *l -= sum);
                    caches.push(Cache::ActNorm {
                        out: x.clone(),
                        inv,
                    });
                }
                HostLayer::Coupling {
                    mask: b,
                    s: sn,
                    t: tn,
                } => {
                    let b = b.as_slice();
                    let m: Vec<f32> = x
                        .chunks(d)
                        .flat_map(|row| row.iter().zip(b).map(|(v, k)| v * k))
                        .collect();
                    let ((hs, s), (ht, t)) =
                        both(parallel, || sn.forward(&m, n, d), || tn.forward(&m, n, d));
                    let mut e = s;
                    let mut u = vec![0f32; n * d];
                    for r in 0..n {
                        let mut ld = 0f32;
                        for i in 0..d {
                            let k = r * d + i;
                            let free = 1.0 - b[i];
                            ld += free * e[k];
                            e[k] = (-e[k]).exp();
                            u[k] = (x[k] - t[k]) * e[k];
                            x[k] = m[k] + free * u[k];
                        }
                        log_det[r] -= ld;
                    }
                    caches.push(Cache::Coupling {
                        nets: (b, sn, tn),
                        m,
                        hs,
                        ht,
                        e,
                        u,
                    });
                }
            }
        }

        // The base: log N(w; loc, σ²) per latent.
        let loc = values["q0.loc"];
        let log_scale = values["q0.log_scale"];
        let inv_var: Vec<f32> = log_scale.iter().map(|l| (-2.0 * l).exp()).collect();
        let ln_2pi = (2.0 * std::f64::consts::PI).ln();
        let sum_log_scale: f64 = log_scale.iter().map(|&l| l as f64).sum();
        let inv_n = 1.0 / n as f32;
        let mut total = 0f64;
        let mut g = vec![0f32; n * d];
        let mut g_loc = vec![0f32; d];
        let mut g_log_scale = vec![0f32; d];
        for r in 0..n {
            let mut half_sq = 0f64;
            for i in 0..d {
                let k = r * d + i;
                let c = x[k] - loc[i];
                let sq = c * c * inv_var[i];
                half_sq += 0.5 * sq as f64;
                g[k] = c * inv_var[i] * inv_n;
                g_loc[i] -= g[k];
                g_log_scale[i] += (1.0 - sq) * inv_n;
            }
            let log_prob = -half_sq - sum_log_scale - 0.5 * d as f64 * ln_2pi + log_det[r] as f64;
            total -= log_prob;
        }
        let mut grads: HashMap<String, Vec<f32>> = HashMap::new();
        grads.insert("q0.loc".into(), g_loc);
        grads.insert("q0.log_scale".into(), g_log_scale);

        // Back from the base to the data, layer by layer in sampling order.
        for (j, cache) in caches.into_iter().rev().enumerate() {
            match cache {
                Cache::ActNorm { out, inv } => {
                    let mut g_s = vec![1f32; d];
                    let mut g_t = vec![0f32; d];
                    for (gr, o) in g.chunks_mut(d).zip(out.chunks(d)) {
                        for i in 0..d {
                            g_s[i] -= gr[i] * o[i];
                            gr[i] *= inv[i];
                            g_t[i] -= gr[i];
                        }
                    }
                    grads.insert(format!("flows.{j}.s"), g_s);
                    grads.insert(format!("flows.{j}.t"), g_t);
                }
                Cache::Coupling {
                    nets: (b, sn, tn),
                    m,
                    hs,
                    ht,
                    e,
                    u,
                } => {
                    let mut g_s = vec![0f32; n * d];
                    let mut g_t = vec![0f32; n * d];
                    for r in 0..n {
                        for i in 0..d {
                            let k = r * d + i;
                            let free = 1.0 - b[i];
                            g_s[k] = free * (inv_n - g[k] * u[k]);
                            g_t[k] = -free * g[k] * e[k];
                            g[k] = b[i] * g[k] + free * g[k] * e[k];
                        }
                    }
                    let (gs, gt) = both(
                        parallel,
                        || sn.backward(&m, &hs, &g_s, n, d),
                        || tn.backward(&m, &ht, &g_t, n, d),
                    );
                    for ((gr, gm_s), gm_t) in
                        g.chunks_mut(d).zip(gs.m.chunks(d)).zip(gt.m.chunks(d))
                    {
                        for i in 0..d {
                            gr[i] += b[i] * (gm_s[i] + gm_t[i]);
                        }
                    }
                    for (name, net_grads) in [("s", gs), ("t", gt)] {
                        let prefix = format!("flows.{j}.{name}.net");
                        grads.insert(format!("{prefix}.0.weight"), net_grads.w1);
                        grads.insert(format!("{prefix}.0.bias"), net_grads.b1);
                        grads.insert(format!("{prefix}.2.weight"), net_grads.w2);
                        grads.insert(format!("{prefix}.2.bias"), net_grads.b2);
                    }
                }
            }
        }
        drop(values);
        drop(guards);
        let mut gradients = HashMap::new();
        for (name, t) in params {
            let values = grads.remove(name).ok_or_else(|| {
                Error::invalid("prior gradient", format!("no gradient for {name}"))
            })?;
            gradients.insert(
                name.clone(),
                Tensor::from_vec(values, t.shape(), t.device())?,
            );
        }
        Ok(NllGradient {
            nll: (total / n as f64) as f32,
            gradients,
        })
    }
}

/// A layer's parameters on the host.
enum HostLayer<'a> {
    ActNorm {
        s: &'a [f32],
        t: &'a [f32],
    },
    Coupling {
        mask: Vec<f32>,
        s: Net<'a>,
        t: Net<'a>,
    },
}

/// What the gradient of a layer needs from the density pass.
enum Cache<'a> {
    /// The layer's output and `exp(−s)`.
    ActNorm { out: Vec<f32>, inv: Vec<f32> },
    /// The layer's mask and networks, the masked input, both networks' hidden activations,
    /// `exp(−s)` and `(x − t)·exp(−s)`.
    Coupling {
        nets: (&'a [f32], &'a Net<'a>, &'a Net<'a>),
        m: Vec<f32>,
        hs: Vec<f32>,
        ht: Vec<f32>,
        e: Vec<f32>,
        u: Vec<f32>,
    },
}

fn mask_of(c: &MaskedAffineCoupling) -> Result<Vec<f32>> {
    Ok(c.mask().flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
}

/// Runs `a` here and, if `parallel`, `b` on a second thread.
fn both<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let hb = s.spawn(b);
        let ra = a();
        (ra, hb.join().expect("a prior-gradient thread panicked"))
    })
}

/// One coupling network `Linear(D, H) → ReLU → Linear(H, D)` on host values.
struct Net<'a> {
    w1: &'a [f32],
    b1: &'a [f32],
    w2: &'a [f32],
    b2: &'a [f32],
}

/// The gradients of one network and of its input.
struct NetGradients {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    m: Vec<f32>,
}

impl<'a> Net<'a> {
    fn of(values: &HashMap<&str, &'a [f32]>, j: usize, name: &str) -> Result<Self> {
        let get = |k: &str| {
            let key = format!("flows.{j}.{name}.net.{k}");
            values
                .get(key.as_str())
                .copied()
                .ok_or_else(|| Error::invalid("prior gradient", format!("no parameter {key}")))
        };
        Ok(Net {
            w1: get("0.weight")?,
            b1: get("0.bias")?,
            w2: get("2.weight")?,
            b2: get("2.bias")?,
        })
    }

    /// `(h, y)`: the hidden activations `(N, H)` after the ReLU and the output `(N, D)`.
    fn forward(&self, m: &[f32], n: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
        let hd = self.b1.len();
        let mut h = vec![0f32; n * hd];
        matmul(n, hd, d, (m, d, 1), (self.w1, 1, d), &mut h, hd, false, 1);
        for row in h.chunks_mut(hd) {
            for (v, b) in row.iter_mut().zip(self.b1) {
                *v = (*v + b).max(0.0);
            }
        }
        let mut y = vec![0f32; n * d];
        matmul(n, d, hd, (&h, hd, 1), (self.w2, 1, hd), &mut y, d, false, 1);
        for row in y.chunks_mut(d) {
            for (v, b) in row.iter_mut().zip(self.b2) {
                *v += b;
            }
        }
        (h, y)
    }

    /// Back from the output gradient `gy` `(N, D)`, given the input `m` and the hidden
    /// activations `h` of the forward pass.
    fn backward(&self, m: &[f32], h: &[f32], gy: &[f32], n: usize, d: usize) -> NetGradients {
        let hd = self.b1.len();
        let mut w2 = vec![0f32; d * hd];
        matmul(d, hd, n, (gy, 1, d), (h, hd, 1), &mut w2, hd, false, 1);
        let b2 = column_sums(gy, d);
        let mut gh = vec![0f32; n * hd];
        matmul(
            n,
            hd,
            d,
            (gy, d, 1),
            (self.w2, hd, 1),
            &mut gh,
            hd,
            false,
            1,
        );
        for (g, &v) in gh.iter_mut().zip(h) {
            if v <= 0.0 {
                *g = 0.0;
            }
        }
        let mut w1 = vec![0f32; hd * d];
        matmul(hd, d, n, (&gh, 1, hd), (m, d, 1), &mut w1, d, false, 1);
        let b1 = column_sums(&gh, hd);
        let mut gm = vec![0f32; n * d];
        matmul(
            n,
            d,
            hd,
            (&gh, hd, 1),
            (self.w1, d, 1),
            &mut gm,
            d,
            false,
            1,
        );
        NetGradients {
            w1,
            b1,
            w2,
            b2,
            m: gm,
        }
    }
}

fn column_sums(v: &[f32], cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; cols];
    for row in v.chunks(cols) {
        for (o, x) in out.iter_mut().zip(row) {
            *o += x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    use super::named_parameters;
    use crate::flow::{FlowConfig, RealNvp};

    /// A flow whose every parameter is random (a fresh one has zero output layers and
    /// ActNorms, which would leave most terms of the gradient untested).
    fn random_flow(d: usize, depth: usize) -> RealNvp {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let flow = RealNvp::new(
            &FlowConfig {
                latent_dim: d,
                depth,
            },
            vb,
        )
        .unwrap();
        for (i, (_, var)) in varmap.data().lock().unwrap().iter().enumerate() {
            let noise = (crate::standard_normal(1, var.elem_count(), i as u64).unwrap() * 0.2)
                .unwrap()
                .reshape(var.shape())
                .unwrap();
            var.set(&noise).unwrap();
        }
        flow
    }

    fn max_abs(t: &Tensor) -> f32 {
        t.abs().unwrap().max_all().unwrap().to_scalar().unwrap()
    }

    #[test]
    fn host_gradient_matches_autograd() {
        let flow = random_flow(12, 3);
        let latents = crate::standard_normal(7, 12, 3).unwrap();
        let params = named_parameters(&flow);
        assert_eq!(params.len(), 3 * 2 * 4 + 3 * 2 + 2);
        let host = flow.host_nll_gradient(&latents, &params).unwrap();
        let auto = flow.autograd_nll_gradient(&latents, &params).unwrap();
        assert!(
            (host.nll - auto.nll).abs() <= 1e-5 * auto.nll.abs().max(1.0),
            "NLL {} vs {}",
            host.nll,
            auto.nll
        );
        let mut nonzero = 0;
        for (name, a) in &auto.gradients {
            let h = &host.gradients[name];
            assert_eq!(h.dims(), a.dims(), "{name}");
            let scale = max_abs(a).max(1e-3);
            let err = max_abs(&(h - a).unwrap());
            assert!(
                err <= 1e-5 * scale.max(1.0),
                "{name}: {err} (scale {scale})"
            );
            nonzero += usize::from(max_abs(a) > 1e-4);
        }
        // Every parameter of a random flow gets some gradient: nothing was skipped.
        assert_eq!(nonzero, params.len());
    }
}
