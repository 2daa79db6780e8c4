//! The Fréchet distance between two Gaussians fitted to feature vectors (FID's formula):
//! `|μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½`, in f64, with the matrix square roots
//! from a Jacobi eigen-decomposition (symmetric, so exact up to rounding).

use candle_core::{DType, Tensor};

use crate::{Error, Result};

/// Mean and covariance of a set of feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    /// Vectors summarised.
    pub count: usize,
    pub mean: Vec<f64>,
    /// Row-major `dim × dim`, normalised by `count − 1`.
    pub covariance: Vec<f64>,
}

/// Sums of features, filled batch by batch, then [`FeatureMoments::stats`].
#[derive(Debug, Clone)]
pub struct FeatureMoments {
    dim: usize,
    count: usize,
    sum: Vec<f64>,
    outer: Vec<f64>,
}

impl FeatureMoments {
    pub fn new(dim: usize) -> Self {
        FeatureMoments {
            dim,
            count: 0,
            sum: vec![0.0; dim],
            outer: vec![0.0; dim * dim],
        }
    }

    /// Adds the rows of `features` `(N, dim)`.
    pub fn add(&mut self, features: &Tensor) -> Result<()> {
        let d = self.dim;
        let rows: Vec<Vec<f64>> = match features.dims() {
            [_, dd] if *dd == d => features.to_dtype(DType::F64)?.to_vec2()?,
            dims => {
                return Err(Error::Shape {
                    name: "features",
                    expected: format!("(N, {d})"),
                    got: dims.to_vec(),
                })
            }
        };
        for row in rows {
            if row.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid("features", "a feature vector is not finite"));
            }
            for i in 0..d {
                self.sum[i] += row[i];
                let o = &mut self.outer[i * d..(i + 1) * d];
                for (j, oj) in o.iter_mut().enumerate().skip(i) {
                    *oj += row[i] * row[j];
                }
            }
            self.count += 1;
        }
        Ok(())
    }

    /// The mean and covariance so far (at least two vectors).
    pub fn stats(&self) -> Result<FeatureStats> {
        let (d, n) = (self.dim, self.count);
        if n < 2 {
            return Err(Error::invalid(
                "feature statistics",
                format!("{n} feature vectors: need at least 2"),
            ));
        }
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n as f64).collect();
        let mut covariance = vec![0.0; d * d];
        for i in 0..d {
            for j in i..d {
                let c = (self.outer[i * d + j] - n as f64 * mean[i] * mean[j]) / (n - 1) as f64;
                covariance[i * d + j] = c;
                covariance[j * d + i] = c;
            }
        }
        Ok(FeatureStats {
            count: n,
            mean,
            covariance,
        })
    }
}

/// Eigenvalues and eigenvectors (columns of the row-major matrix) of a symmetric matrix, by
/// cyclic Jacobi rotations.
fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// `V · diag(f(λ)) · Vᵀ` of a symmetric matrix, eigenvalues clamped at zero (covariances
/// are positive semi-definite; rounding can make the smallest slightly negative).
fn symmetric_function(a: &[f64], d: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
    let (values, v) = symmetric_eigen(a, d);
    let fv: Vec<f64> = values.iter().map(|&l| f(l.max(0.0))).collect();
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|k| v[i * d + k] * fv[k] * v[j * d + k]).sum();
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// The Fréchet distance between the Gaussians of `a` and `b`.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    let d = a.mean.len();
    if b.mean.len() != d || a.covariance.len() != d * d || b.covariance.len() != d * d {
        return Err(Error::invalid(
            "feature statistics",
            format!("dimensions {} and {} differ", d, b.mean.len()),
        ));
    }
    let mean: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let trace = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let root_a = symmetric_function(&a.covariance, d, f64::sqrt);
    let mut middle = matmul(&matmul(&root_a, &b.covariance, d), &root_a, d);
    // Symmetrise away rounding before the second decomposition.
    for i in 0..d {
        for j in i + 1..d {
            let m = 0.5 * (middle[i * d + j] + middle[j * d + i]);
            middle[i * d + j] = m;
            middle[j * d + i] = m;
        }
    }
    let cross = trace(&symmetric_function(&middle, d, f64::sqrt));
    Ok((mean + trace(&a.covariance) + trace(&b.covariance) - 2.0 * cross).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rotation of the plane (i, j) by `angle`, applied to `m` on both sides.
    fn rotate(m: &[f64], d: usize, i: usize, j: usize, angle: f64) -> Vec<f64> {
        let mut r = vec![0.0; d * d];
        for k in 0..d {
            r[k * d + k] = 1.0;
        }
        let (c, s) = (angle.cos(), angle.sin());
        r[i * d + i] = c;
        r[j * d + j] = c;
        r[i * d + j] = -s;
        r[j * d + i] = s;
        let mut rt = vec![0.0; d * d];
        for a in 0..d {
            for b in 0..d {
                rt[a * d + b] = r[b * d + a];
            }
        }
        matmul(&matmul(&r, m, d), &rt, d)
    }

    fn diag(values: &[f64]) -> Vec<f64> {
        let d = values.len();
        let mut m = vec![0.0; d * d];
        for (i, v) in values.iter().enumerate() {
            m[i * d + i] = *v;
        }
        m
    }

    /// Covariances with common eigenvectors: the distance is `|μ₁ − μ₂|² + Σ (√λ₁ − √λ₂)²`.
    #[test]
    fn matches_the_closed_form_for_commuting_covariances() {
        let (l1, l2) = ([4.0, 1.0, 0.25, 9.0], [1.0, 2.0, 0.25, 0.0]);
        let d = 4;
        let c1 = rotate(&rotate(&diag(&l1), d, 0, 2, 0.7), d, 1, 3, -1.1);
        let c2 = rotate(&rotate(&diag(&l2), d, 0, 2, 0.7), d, 1, 3, -1.1);
        let a = FeatureStats {
            count: 10,
            mean: vec![1.0, 0.0, -1.0, 2.0],
            covariance: c1,
        };
        let b = FeatureStats {
            count: 10,
            mean: vec![0.0, 0.5, -1.0, 2.0],
            covariance: c2,
        };
        let want = 1.0
            + 0.25
            + l1.iter()
                .zip(&l2)
                .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        let got = frechet_distance(&a, &b).unwrap();
        // The zero eigenvalue puts a square root at its steepest: 1e-16 of rounding there is 1e-8.
        assert!((got - want).abs() < 1e-7, "{got} vs {want}");
        assert!(frechet_distance(&a, &a).unwrap() < 1e-10);
        // Symmetric in its arguments, also for covariances that do not commute.
        let c3 = rotate(&diag(&[3.0, 0.5, 2.0, 1.0]), d, 0, 1, 0.3);
        let c = FeatureStats {
            covariance: c3,
            ..b.clone()
        };
        let (x, y) = (
            frechet_distance(&a, &c).unwrap(),
            frechet_distance(&c, &a).unwrap(),
        );
        assert!((x - y).abs() < 1e-9, "{x} vs {y}");
    }

    /// The moments of a known set, and the errors.
    #[test]
    fn moments_of_rows() {
        let mut m = FeatureMoments::new(2);
        let rows =
            Tensor::new(&[[1f32, 2.], [3., 0.], [5., 4.]], &candle_core::Device::Cpu).unwrap();
        m.add(&rows).unwrap();
        let s = m.stats().unwrap();
        assert_eq!(s.mean, vec![3.0, 2.0]);
        // Var x = 4, var y = 4, cov = ((−2)(0) + 0·(−2) + 2·2)/2 = 2.
        assert_eq!(s.covariance, vec![4.0, 2.0, 2.0, 4.0]);
        assert!(FeatureMoments::new(3).add(&rows).is_err());
        assert!(FeatureMoments::new(2).stats().is_err());
        let nan = Tensor::new(&[[f32::NAN, 0.]], &candle_core::Device::Cpu).unwrap();
        assert!(FeatureMoments::new(2).add(&nan).is_err());
    }
}
