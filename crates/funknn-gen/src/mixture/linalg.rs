//! Dense Cholesky factorisation and triangular inversion in f64, row-major: the mixture's
//! covariances are a few hundred wide, so plain loops are quick enough and exact enough.

use crate::{Error, Result};

/// The lower-triangular `L` with `L·Lᵀ = a` for a symmetric positive-definite `a` (n×n).
pub(crate) fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(Error::invalid(
                        "covariance",
                        format!("not positive definite (pivot {i} is {s:e})"),
                    ));
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// The inverse of a lower-triangular `l` (n×n, non-zero diagonal), lower-triangular too.
pub(crate) fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut inv = vec![0.0; n * n];
    for j in 0..n {
        inv[j * n + j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let mut s = 0.0;
            for k in j..i {
                s += l[i * n + k] * inv[k * n + j];
            }
            inv[i * n + j] = -s / l[i * n + i];
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_and_inverse_reproduce_a_matrix_and_the_identity() {
        let n = 5;
        // a = B·Bᵀ + I for a fixed B.
        let b: Vec<f64> = (0..n * n)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let l = cholesky(&a, n).unwrap();
        let inv = lower_inverse(&l, n);
        for i in 0..n {
            for j in 0..n {
                let llt: f64 = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
                assert!((llt - a[i * n + j]).abs() < 1e-12);
                let id: f64 = (0..n).map(|k| inv[i * n + k] * l[k * n + j]).sum();
                assert!((id - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
                if j > i {
                    assert_eq!(l[i * n + j], 0.0);
                    assert_eq!(inv[i * n + j], 0.0);
                }
            }
        }
        let mut not_pd = a.clone();
        not_pd[0] = -1.0;
        assert!(cholesky(&not_pd, n)
            .unwrap_err()
            .to_string()
            .contains("pivot 0"));
    }
}
