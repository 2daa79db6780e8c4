//! The official Laplacian-pyramid loss (`laplacian_loss.py`): L1 distances between the
//! Laplacian pyramids of two batches, level k weighted by 2^k (or by weights of one's own).

use candle_core::Tensor;

use crate::autoencoder::upsample::upsample_nearest_2x;
use crate::train::blur::blur_down;
use crate::Result;

/// `LaplacianPyramidLoss(max_levels=3, kernel_size=5, sigma=1)`: a 5×5 Gaussian with
/// zero padding, every other pixel kept, nearest ×2 expansion.
#[derive(Debug, Clone)]
pub struct LaplacianPyramidLoss {
    /// One weight per band, finest first, then the coarsest residual's.
    weights: Vec<f64>,
}

/// The official weights of a 3-level pyramid: bands 1, 2, 4, the 4× residual 8.
pub const OFFICIAL_PYRAMID_WEIGHTS: [f64; 4] = [1.0, 2.0, 4.0, 8.0];

impl LaplacianPyramidLoss {
    /// The loss over `levels` levels (the official loss has 3), level k weighted by 2^k,
    /// for images of any channels, dtype and device.
    pub fn new(levels: usize) -> Self {
        LaplacianPyramidLoss {
            weights: (0..=levels).map(|k| f64::powi(2.0, k as i32)).collect(),
        }
    }

    /// The loss with a weight per level: `weights[k]` for band k (finest first) and the last
    /// for the coarsest residual, so `weights.len() − 1` levels. `[1, 0, 0, 0]` is the
    /// finest band alone, whose gradient is the one candle 0.11 gave the whole official
    /// loss (docs/generation.md).
    ///
    /// ```
    /// use funknn_gen::train::LaplacianPyramidLoss;
    /// assert!(LaplacianPyramidLoss::with_weights(vec![1.0, 0.0, 0.0, 0.0]).is_ok());
    /// assert!(LaplacianPyramidLoss::with_weights(vec![]).is_err());
    /// assert!(LaplacianPyramidLoss::with_weights(vec![1.0, f64::NAN]).is_err());
    /// ```
    pub fn with_weights(weights: Vec<f64>) -> Result<Self> {
        if weights.is_empty() || weights.len() > 8 {
            return Err(crate::Error::invalid(
                "pyramid level weights",
                format!("{} weights: give 1 to 8 (levels + 1)", weights.len()),
            ));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(crate::Error::invalid(
                "pyramid level weights",
                format!("{w}: weights must be finite and ≥ 0"),
            ));
        }
        Ok(LaplacianPyramidLoss { weights })
    }

    /// The weights, finest band first.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The first `bands` bands and, if every band was asked for, the residual: bands past
    /// the last non-zero weight are not built.
    fn pyramid(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let total = self.weights.len() - 1;
        let needed = self
            .weights
            .iter()
            .rposition(|w| *w != 0.0)
            .map_or(0, |k| k + 1);
        let bands = needed.min(total);
        let mut levels = Vec::with_capacity(bands + 1);
        let mut current = x.clone();
        for _ in 0..bands {
            let (_, _, h, w) = current.dims4()?;
            let down = blur_down(&current)?;
            // Nearest ×2, cropped to an odd side: nearest interpolation to (h, w).
            let up = upsample_nearest_2x(&down)?
                .narrow(2, 0, h)?
                .narrow(3, 0, w)?;
            levels.push((&current - up)?);
            current = down;
        }
        if needed > total {
            levels.push(current);
        }
        Ok(levels)
    }

    /// `Σ_k w_k · mean|L_k(x) − L_k(target)|` (official: w_k = 2^k).
    pub fn forward(&self, x: &Tensor, target: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.pyramid(x)?, self.pyramid(target)?);
        if a.is_empty() {
            // Every weight is zero.
            return Ok(Tensor::zeros((), x.dtype(), x.device())?);
        }
        let mut loss: Option<Tensor> = None;
        for ((la, lb), w) in a.iter().zip(&b).zip(&self.weights) {
            let term = ((la - lb)?.abs()?.mean_all()? * *w)?;
            loss = Some(match loss {
                Some(l) => (l + term)?,
                None => term,
            });
        }
        Ok(loss.expect("at least one level"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn pattern(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| (0.37 * i as f64 + seed).sin()).collect()
    }

    fn batches(seed: f64) -> (Tensor, Vec<f64>, (usize, usize, usize, usize)) {
        let shape = (2, 1, 16, 16);
        let len = 2 * 16 * 16;
        let target = Tensor::from_vec(pattern(len, 2.0), shape, &Device::Cpu).unwrap();
        (target, pattern(len, seed), shape)
    }

    /// The loss's gradient equals central differences, in f64 (the pyramid's levels share
    /// tensors, whose gradients must add: candle's own nearest upsampling backward
    /// replaced the gradient gathered so far instead).
    fn assert_gradient_matches_finite_differences(loss: &LaplacianPyramidLoss) {
        let (target, x0, shape) = batches(0.1);
        let value = |v: &[f64]| -> f64 {
            let x = Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap();
            loss.forward(&x, &target).unwrap().to_scalar().unwrap()
        };
        let x =
            Var::from_tensor(&Tensor::from_vec(x0.clone(), shape, &Device::Cpu).unwrap()).unwrap();
        let grads = loss
            .forward(x.as_tensor(), &target)
            .unwrap()
            .backward()
            .unwrap();
        let g: Vec<f64> = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let eps = 1e-6;
        for i in 0..x0.len() {
            let (mut up, mut down) = (x0.clone(), x0.clone());
            up[i] += eps;
            down[i] -= eps;
            let fd = (value(&up) - value(&down)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 1e-7, "pixel {i}: {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        assert_gradient_matches_finite_differences(&LaplacianPyramidLoss::new(3));
        for weights in [vec![1.0, 0.0, 0.0, 0.0], vec![0.5, 0.0, 3.0]] {
            let loss = LaplacianPyramidLoss::with_weights(weights).unwrap();
            assert_gradient_matches_finite_differences(&loss);
        }
    }

    /// The official weights are `new(3)`'s; the loss is linear in its weights; all zero
    /// is zero; bad weights are refused.
    #[test]
    fn level_weights_split_the_official_loss() {
        let (target, x0, shape) = batches(0.7);
        let x = Tensor::from_vec(x0, shape, &Device::Cpu).unwrap();
        let value = |w: &[f64]| -> f64 {
            LaplacianPyramidLoss::with_weights(w.to_vec())
                .unwrap()
                .forward(&x, &target)
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let official: f64 = LaplacianPyramidLoss::new(3)
            .forward(&x, &target)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(official > 0.1);
        assert_eq!(
            LaplacianPyramidLoss::new(3).weights(),
            OFFICIAL_PYRAMID_WEIGHTS
        );
        assert!((value(&OFFICIAL_PYRAMID_WEIGHTS) - official).abs() < 1e-12);
        let parts = value(&[1.0, 0.0, 0.0, 0.0])
            + value(&[0.0, 2.0, 0.0, 0.0])
            + value(&[0.0, 0.0, 4.0, 8.0]);
        assert!((parts - official).abs() < 1e-12, "{parts} vs {official}");
        assert!(value(&[1.0, 0.0, 0.0, 0.0]) > 0.0);
        assert_eq!(value(&[0.0, 0.0]), 0.0);
        for bad in [vec![], vec![1.0, -1.0], vec![f64::INFINITY], vec![1.0; 9]] {
            let err = LaplacianPyramidLoss::with_weights(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("pyramid level weights"), "{err}");
        }
    }
}
