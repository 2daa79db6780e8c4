//! The operator norm by power iteration, for step sizes.

use super::LinearOperator;
use crate::scalar::norm;
use crate::{Result, Scalar};

/// An estimate of `‖A‖₂` (largest singular value) from `iterations` steps of power
/// iteration on `AᵀA`, started from a fixed pseudo-random positive vector. Power iteration
/// approaches the norm from below; solvers add a small margin.
pub fn operator_norm<T: Scalar>(op: &dyn LinearOperator<T>, iterations: usize) -> Result<f64> {
    let n = op.domain_len();
    // A deterministic start with a component along every singular vector in practice.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut x: Vec<T> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            T::of(0.5 + (state >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    let mut y = vec![T::zero(); op.range_len()];
    let mut estimate = 0.0;
    for _ in 0..iterations.max(1) {
        let nx = norm(&x);
        if nx == 0.0 {
            return Ok(0.0);
        }
        let inv = T::of(1.0 / nx);
        x.iter_mut().for_each(|v| *v *= inv);
        op.apply(&x, &mut y)?;
        estimate = norm(&y);
        op.adjoint(&y, &mut x)?;
    }
    Ok(estimate)
}
