//! The Gaussian mixture `p(z) = Σ_k π_k N(z; μ_k, L_k L_kᵀ)`, as a [`LatentPrior`].

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::generator::{check_latents, LatentPrior};
use crate::mixture::config::MixtureConfig;
use crate::mixture::linalg::lower_inverse;
use crate::mixture::normal;
use crate::{Error, Result};

/// A full-covariance Gaussian mixture of latents. Saved as `weights` `(K)`, `means`
/// `(K, D)` and `scale_tril` `(K, D(D+1)/2)`: each covariance's Cholesky factor `L_k`, its
/// lower triangle packed row by row (half the size of the full matrices).
///
/// Sampling turns `D` standard normal numbers into one latent exactly: the first picks the
/// component through `Φ` and, rescaled within that component's share of (0, 1), becomes a
/// standard normal number again; with the other `D − 1` it is drawn through `μ_k + T·L_k w`.
/// So the same seed gives the same samples, as with the flow. Sampling is not
/// differentiable in the base numbers (the component is a discrete choice); `log_prob` is,
/// in the latent.
///
/// ```
/// use candle_core::{DType, Device};
/// use funknn_gen::{GaussianMixture, LatentPrior, MixtureConfig};
///
/// let config = MixtureConfig { latent_dim: 2, components: 2, temperature: None };
/// // Two unit Gaussians at (−3, 0) and (3, 0), weights ¼ and ¾.
/// let identity = [1.0, 0.0, 0.0, 1.0];
/// let mixture = GaussianMixture::from_parts(
///     &config,
///     &[0.25, 0.75],
///     &[-3.0, 0.0, 3.0, 0.0],
///     &[identity, identity].concat(),
///     DType::F64,
///     &Device::Cpu,
/// )?;
/// let z = mixture.sample_from(&funknn_gen::standard_normal(1000, 2, 0)?, 1.0)?;
/// let right = z.narrow(1, 0, 1)?.gt(0.0)?.to_dtype(DType::F64)?.mean_all()?;
/// assert!((right.to_scalar::<f64>()? - 0.75).abs() < 0.05);
/// assert_eq!(mixture.log_prob(&z)?.dims(), &[1000]);
/// # Ok::<(), funknn_gen::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GaussianMixture {
    config: MixtureConfig,
    /// π_k, summing to 1, and their running sums (the component's share of (0, 1)).
    weights: Vec<f64>,
    cumulative: Vec<f64>,
    means_host: Vec<f64>,
    scale_tril_host: Vec<f64>,
    means: Tensor,
    /// `L_kᵀ`, so that row-vector samples are `w·L_kᵀ`.
    scale_t: Vec<Tensor>,
    /// `L_k⁻ᵀ`, so that `(z − μ_k)·L_k⁻ᵀ` is whitened.
    precision_t: Vec<Tensor>,
    /// `log π_k − Σ log diag L_k − D/2·log 2π`, `(1, K)`.
    log_norm: Tensor,
}

impl GaussianMixture {
    /// From weights `(K)` (positive; normalised here), means `(K·D)` and Cholesky factors
    /// `(K·D·D)`, row-major, lower-triangular with a positive diagonal (the upper triangle
    /// is ignored).
    pub fn from_parts(
        config: &MixtureConfig,
        weights: &[f64],
        means: &[f64],
        scale_tril: &[f64],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let (k, d) = (config.components, config.latent_dim);
        for (name, got, want) in [
            ("mixture weights", weights.len(), k),
            ("mixture means", means.len(), k * d),
            ("mixture scale_tril", scale_tril.len(), k * d * d),
        ] {
            if got != want {
                return Err(Error::invalid(
                    name,
                    format!("{got} values, expected {want} ({k} components, {d} dimensions)"),
                ));
            }
        }
        if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(Error::invalid(
                "mixture weights",
                "every weight must be positive and finite",
            ));
        }
        if means.iter().chain(scale_tril).any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "mixture",
                "a mean or a covariance factor is not finite",
            ));
        }
        let total: f64 = weights.iter().sum();
        let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let mut cumulative = Vec::with_capacity(k);
        let mut running = 0.0;
        for w in &weights {
            running += w;
            cumulative.push(running);
        }
        let mut tril = scale_tril.to_vec();
        let mut scale_t = Vec::with_capacity(k);
        let mut precision_t = Vec::with_capacity(k);
        let mut log_norm = Vec::with_capacity(k);
        let constant = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        for c in 0..k {
            let l = &mut tril[c * d * d..(c + 1) * d * d];
            let mut log_det = 0.0;
            for i in 0..d {
                for j in i + 1..d {
                    l[i * d + j] = 0.0;
                }
                let diag = l[i * d + i];
                if diag <= 0.0 {
                    return Err(Error::invalid(
                        "mixture scale_tril",
                        format!("component {c}: diagonal entry {i} is {diag:e}, must be positive"),
                    ));
                }
                log_det += diag.ln();
            }
            let inv = lower_inverse(l, d);
            let t = |m: &[f64]| -> Result<Tensor> {
                Ok(Tensor::from_slice(m, (d, d), device)?
                    .t()?
                    .contiguous()?
                    .to_dtype(dtype)?)
            };
            scale_t.push(t(l)?);
            precision_t.push(t(&inv)?);
            log_norm.push(weights[c].ln() - log_det - constant);
        }
        Ok(GaussianMixture {
            config: config.clone(),
            cumulative,
            means: Tensor::from_slice(means, (k, d), device)?.to_dtype(dtype)?,
            means_host: means.to_vec(),
            scale_tril_host: tril,
            weights,
            scale_t,
            precision_t,
            log_norm: Tensor::from_vec(log_norm, (1, k), device)?.to_dtype(dtype)?,
        })
    }

    /// From the tensors `weights`, `means`, `scale_tril` (packed) under `vb`: a missing or
    /// wrong-shaped one is a candle error naming it.
    pub fn new(config: &MixtureConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let (k, d) = (config.components, config.latent_dim);
        let host = |name: &str, shape: (usize, usize)| -> Result<Vec<f64>> {
            let t = vb.get(shape, name)?;
            Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?)
        };
        let weights = vb
            .get(k, "weights")?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let means = host("means", (k, d))?;
        let packed = host("scale_tril", (k, config.packed_len()))?;
        let mut full = vec![0.0; k * d * d];
        for c in 0..k {
            let mut at = c * config.packed_len();
            for i in 0..d {
                for j in 0..=i {
                    full[c * d * d + i * d + j] = packed[at];
                    at += 1;
                }
            }
        }
        Self::from_parts(config, &weights, &means, &full, vb.dtype(), vb.device())
    }

    pub fn config(&self) -> &MixtureConfig {
        &self.config
    }

    /// The same mixture computing in `dtype` on `device` (rebuilt from its f64 parameters).
    pub fn to_dtype(&self, dtype: DType, device: &Device) -> Result<Self> {
        Self::from_parts(
            &self.config,
            &self.weights,
            &self.means_host,
            &self.scale_tril_host,
            dtype,
            device,
        )
    }

    /// The normalised weights π_k.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The means `(K, D)`.
    pub fn means(&self) -> &Tensor {
        &self.means
    }

    /// The tensors to save (f32; `scale_tril` packed), by name without a prefix.
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let (k, d) = (self.config.components, self.config.latent_dim);
        let mut packed = Vec::with_capacity(k * self.config.packed_len());
        for c in 0..k {
            for i in 0..d {
                for j in 0..=i {
                    packed.push(self.scale_tril_host[c * d * d + i * d + j] as f32);
                }
            }
        }
        let cpu = Device::Cpu;
        let f32s = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
        Ok(HashMap::from([
            (
                "weights".to_string(),
                Tensor::from_vec(f32s(&self.weights), k, &cpu)?,
            ),
            (
                "means".to_string(),
                Tensor::from_vec(f32s(&self.means_host), (k, d), &cpu)?,
            ),
            (
                "scale_tril".to_string(),
                Tensor::from_vec(packed, (k, self.config.packed_len()), &cpu)?,
            ),
        ]))
    }

    fn check(&self, z: &Tensor, name: &'static str) -> Result<()> {
        check_latents(z, self.config.latent_dim, name).map(|_| ())
    }

    /// `log π_k + log N(z; μ_k, L_k L_kᵀ)` for rows `z` `(N, D)`: `(N, K)`.
    pub(crate) fn component_log_densities(&self, latent: &Tensor) -> Result<Tensor> {
        let z = latent.to_dtype(self.means.dtype())?;
        let mut maha = Vec::with_capacity(self.weights.len());
        for k in 0..self.weights.len() {
            let y = z
                .broadcast_sub(&self.means.narrow(0, k, 1)?)?
                .matmul(&self.precision_t[k])?;
            maha.push(y.sqr()?.sum_keepdim(1)?);
        }
        Ok((Tensor::cat(&maha, 1)? * -0.5)?.broadcast_add(&self.log_norm)?)
    }

    /// The component a base row's first number picks, and that number made standard normal
    /// again within the component's share.
    fn pick(&self, first: f64) -> (usize, f64) {
        let u = normal::cdf(first);
        let k = self
            .cumulative
            .iter()
            .position(|c| u < *c)
            .unwrap_or(self.weights.len() - 1);
        let start = if k == 0 { 0.0 } else { self.cumulative[k - 1] };
        // Clamped away from 0 and 1, where the quantile is infinite.
        let within = ((u - start) / self.weights[k]).clamp(1e-300, 1.0 - 1e-16);
        (k, normal::quantile(within))
    }
}

impl LatentPrior for GaussianMixture {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn sample_from(&self, base: &Tensor, temperature: f64) -> Result<Tensor> {
        self.check(base, "base sample")?;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::invalid(
                "temperature",
                format!("{temperature}: must be positive and finite"),
            ));
        }
        let (n, d) = base.dims2()?;
        let mut rows: Vec<f64> = base.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); self.weights.len()];
        for (i, row) in rows.chunks_mut(d).enumerate() {
            let (k, first) = self.pick(row[0]);
            row[0] = first;
            members[k].push(i as u32);
        }
        let device = self.means.device();
        let rows = Tensor::from_vec(rows, (n, d), device)?.to_dtype(self.means.dtype())?;
        let (mut parts, mut order) = (Vec::new(), Vec::with_capacity(n));
        for (k, idx) in members.iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let sel = rows.index_select(&Tensor::from_slice(idx, idx.len(), device)?, 0)?;
            let z = (sel.matmul(&self.scale_t[k])? * temperature)?
                .broadcast_add(&self.means.narrow(0, k, 1)?)?;
            parts.push(z);
            order.extend_from_slice(idx);
        }
        // Back to the base rows' order.
        let mut inverse = vec![0u32; n];
        for (at, &row) in order.iter().enumerate() {
            inverse[row as usize] = at as u32;
        }
        let z = Tensor::cat(&parts, 0)?;
        Ok(z.index_select(&Tensor::from_vec(inverse, n, device)?, 0)?)
    }

    fn log_prob(&self, latent: &Tensor) -> Result<Tensor> {
        self.check(latent, "latent")?;
        Ok(self.component_log_densities(latent)?.log_sum_exp(1)?)
    }

    /// The mixture's mean `Σ π_k μ_k`.
    fn mean_latent(&self) -> Result<Tensor> {
        let d = self.config.latent_dim;
        let mut mean = vec![0.0; d];
        for (k, w) in self.weights.iter().enumerate() {
            for (m, v) in mean.iter_mut().zip(&self.means_host[k * d..(k + 1) * d]) {
                *m += w * v;
            }
        }
        Ok(Tensor::from_vec(mean, (1, d), self.means.device())?.to_dtype(self.means.dtype())?)
    }
}
