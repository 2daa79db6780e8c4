//! Fitting a [`GaussianMixture`] to latents by expectation-maximisation, from k-means++
//! seeds refined by Lloyd's iterations (how scikit-learn's `GaussianMixture` starts).

use candle_core::{DType, Device, Tensor, D};

use crate::mixture::config::MixtureConfig;
use crate::mixture::gaussian_mixture::GaussianMixture;
use crate::mixture::linalg::cholesky;
use crate::{Error, Result};

/// The settings of [`fit_mixture`].
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureFit {
    pub components: usize,
    /// At most this many EM iterations.
    pub iterations: usize,
    /// Stop when the mean log-likelihood per latent changes by less than this (nats).
    pub tolerance: f64,
    /// Added to every covariance's diagonal, so that none is singular (scikit-learn's
    /// `reg_covar`).
    pub regularisation: f64,
    /// Lloyd iterations of the k-means start.
    pub kmeans_iterations: usize,
    pub seed: u64,
}

impl Default for MixtureFit {
    fn default() -> Self {
        MixtureFit {
            components: 20,
            iterations: 100,
            tolerance: 1e-3,
            regularisation: 1e-6,
            kmeans_iterations: 20,
            seed: 0,
        }
    }
}

/// What [`fit_mixture`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// The mean log-likelihood per latent after each EM iteration (nats).
    pub log_likelihood: Vec<f64>,
    /// Whether the change fell below the tolerance before the iterations ran out.
    pub converged: bool,
}

/// Fits a `fit.components`-component full-covariance mixture to `latents` `(N, D)` (f32
/// arithmetic for the big products, f64 for the covariances). `progress` gets the
/// iteration number and the mean log-likelihood after each EM iteration.
pub fn fit_mixture(
    latents: &Tensor,
    fit: &MixtureFit,
    mut progress: impl FnMut(usize, f64),
) -> Result<(GaussianMixture, FitReport)> {
    let (n, d) = match latents.dims() {
        [n, d] => (*n, *d),
        dims => {
            return Err(Error::Shape {
                name: "latents",
                expected: "(N, D)".into(),
                got: dims.to_vec(),
            })
        }
    };
    let config = MixtureConfig {
        latent_dim: d,
        components: fit.components,
        temperature: None,
    };
    config.validate()?;
    let k = fit.components;
    if n < k.max(2) {
        return Err(Error::invalid(
            "mixture fit",
            format!("{n} latents for {k} components"),
        ));
    }
    if !(fit.tolerance >= 0.0 && fit.regularisation > 0.0 && fit.regularisation.is_finite()) {
        return Err(Error::invalid(
            "mixture fit",
            "the tolerance must be ≥ 0 and the regularisation positive",
        ));
    }
    let x = latents.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
    let finite: f32 = x.abs()?.sum_all()?.to_scalar()?;
    if !finite.is_finite() {
        return Err(Error::invalid("latents", "some are not finite"));
    }
    let labels = kmeans(&x, k, fit.kmeans_iterations, fit.seed)?;
    let mut mixture = m_step(&x, &one_hot(&labels, k)?, fit)?;
    let mut report = FitReport {
        log_likelihood: Vec::new(),
        converged: false,
    };
    for it in 0..fit.iterations {
        let (resp, ll) = e_step(&mixture, &x)?;
        mixture = m_step(&x, &resp, fit)?;
        progress(it + 1, ll);
        let previous = report.log_likelihood.last().copied();
        report.log_likelihood.push(ll);
        if let Some(p) = previous {
            if (ll - p).abs() < fit.tolerance {
                report.converged = true;
                break;
            }
        }
    }
    Ok((mixture, report))
}

/// Responsibilities `(N, K)` and the mean log-likelihood.
fn e_step(mixture: &GaussianMixture, x: &Tensor) -> Result<(Tensor, f64)> {
    let per = mixture.component_log_densities(x)?; // (N, K)
    let lse = per.log_sum_exp(1)?; // (N)
    let resp = per.broadcast_sub(&lse.unsqueeze(1)?)?.exp()?;
    let ll: f32 = lse.mean_all()?.to_scalar()?;
    Ok((resp, ll as f64))
}

/// The mixture that maximises the expected log-likelihood under responsibilities `resp`.
fn m_step(x: &Tensor, resp: &Tensor, fit: &MixtureFit) -> Result<GaussianMixture> {
    let (n, d) = x.dims2()?;
    let k = resp.dim(1)?;
    // scikit-learn's guard against an empty component.
    let counts: Vec<f64> = resp
        .sum(0)?
        .to_vec1::<f32>()?
        .iter()
        .map(|c| *c as f64 + 10.0 * f64::EPSILON)
        .collect();
    let sums: Vec<f32> = resp.t()?.matmul(x)?.flatten_all()?.to_vec1()?; // (K, D)
    let mut means = vec![0.0; k * d];
    for c in 0..k {
        for j in 0..d {
            means[c * d + j] = sums[c * d + j] as f64 / counts[c];
        }
    }
    let mut scale_tril = Vec::with_capacity(k * d * d);
    for c in 0..k {
        let mu = Tensor::from_vec(
            means[c * d..(c + 1) * d]
                .iter()
                .map(|v| *v as f32)
                .collect::<Vec<f32>>(),
            (1, d),
            &Device::Cpu,
        )?;
        let weighted = x
            .broadcast_sub(&mu)?
            .broadcast_mul(&resp.narrow(1, c, 1)?.sqrt()?)?;
        let scatter: Vec<f32> = weighted.t()?.matmul(&weighted)?.flatten_all()?.to_vec1()?;
        let mut cov: Vec<f64> = scatter.iter().map(|v| *v as f64 / counts[c]).collect();
        for i in 0..d {
            cov[i * d + i] += fit.regularisation;
        }
        // Symmetric up to the f32 products' rounding; the factor reads the lower triangle.
        let l = cholesky(&cov, d).map_err(|e| {
            Error::invalid(
                "mixture fit",
                format!("component {c} of {k} ({e}); try a larger regularisation"),
            )
        })?;
        scale_tril.extend(l);
    }
    let config = MixtureConfig {
        latent_dim: d,
        components: k,
        temperature: None,
    };
    let weights: Vec<f64> = counts.iter().map(|c| c / n as f64).collect();
    GaussianMixture::from_parts(
        &config,
        &weights,
        &means,
        &scale_tril,
        DType::F32,
        &Device::Cpu,
    )
}

/// k-means++ seeds, then Lloyd's iterations: a label per row.
fn kmeans(x: &Tensor, k: usize, iterations: usize, seed: u64) -> Result<Vec<usize>> {
    let n = x.dim(0)?;
    let mut rng = funknn_core::Rng::new(seed ^ 0x6b6d_6561_6e73);
    let norms = x.sqr()?.sum_keepdim(1)?; // (N, 1)
    let mut centres = vec![x.narrow(0, rng.below(n), 1)?];
    let mut nearest: Vec<f32> = distances(x, &norms, &centres[0])?.squeeze(1)?.to_vec1()?;
    while centres.len() < k {
        let total: f64 = nearest.iter().map(|v| v.max(0.0) as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.uniform() * total;
            let mut at = n - 1;
            for (i, v) in nearest.iter().enumerate() {
                target -= v.max(0.0) as f64;
                if target <= 0.0 {
                    at = i;
                    break;
                }
            }
            at
        } else {
            rng.below(n)
        };
        let c = x.narrow(0, pick, 1)?;
        let to_new: Vec<f32> = distances(x, &norms, &c)?.squeeze(1)?.to_vec1()?;
        for (a, b) in nearest.iter_mut().zip(to_new) {
            *a = a.min(b);
        }
        centres.push(c);
    }
    let mut centres = Tensor::cat(&centres, 0)?;
    let mut labels = vec![0usize; n];
    for _ in 0..=iterations {
        let dist = distances(x, &norms, &centres)?; // (N, K)
        let new: Vec<u32> = dist.argmin(D::Minus1)?.to_vec1()?;
        let changed = new.iter().zip(&labels).any(|(a, b)| *a as usize != *b);
        labels = new.iter().map(|v| *v as usize).collect();
        if !changed {
            break;
        }
        let onehot = one_hot(&labels, k)?;
        let counts = onehot.sum(0)?.unsqueeze(1)?; // (K, 1)
        let sums = onehot.t()?.matmul(x)?;
        // An empty cluster keeps its centre.
        let empty = counts.eq(0f32)?;
        let means = sums.broadcast_div(&counts.maximum(1f32)?)?;
        centres = empty
            .broadcast_as(means.shape())?
            .where_cond(&centres, &means)?;
    }
    Ok(labels)
}

/// Hard responsibilities `(N, K)`: a 1 in each row's label column.
fn one_hot(labels: &[usize], k: usize) -> Result<Tensor> {
    let mut onehot = vec![0f32; labels.len() * k];
    for (i, l) in labels.iter().enumerate() {
        onehot[i * k + l] = 1.0;
    }
    Ok(Tensor::from_vec(onehot, (labels.len(), k), &Device::Cpu)?)
}

/// Squared distances `(N, C)` from every row to every centre.
fn distances(x: &Tensor, norms: &Tensor, centres: &Tensor) -> Result<Tensor> {
    let cn = centres.sqr()?.sum_keepdim(1)?.t()?; // (1, C)
    Ok((x.matmul(&centres.t()?)? * -2.0)?
        .broadcast_add(norms)?
        .broadcast_add(&cn)?)
}
