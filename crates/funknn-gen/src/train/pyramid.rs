//! The official Laplacian-pyramid loss (`laplacian_loss.py`): L1 distances between the
//! Laplacian pyramids of two batches, level k weighted by 2^k.

use candle_core::Tensor;

use crate::autoencoder::upsample::upsample_nearest_2x;
use crate::train::blur::blur_down;
use crate::Result;

/// `LaplacianPyramidLoss(max_levels=3, kernel_size=5, sigma=1)`: a 5×5 Gaussian with
/// zero padding, every other pixel kept, nearest ×2 expansion.
#[derive(Debug, Clone)]
pub struct LaplacianPyramidLoss {
    levels: usize,
}

impl LaplacianPyramidLoss {
    /// The loss over `levels` levels (the official loss has 3), for images of any
    /// channels, dtype and device.
    pub fn new(levels: usize) -> Self {
        LaplacianPyramidLoss { levels }
    }

    fn pyramid(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut levels = Vec::with_capacity(self.levels + 1);
        let mut current = x.clone();
        for _ in 0..self.levels {
            let (_, _, h, w) = current.dims4()?;
            let down = blur_down(&current)?;
            // Nearest ×2, cropped to an odd side: nearest interpolation to (h, w).
            let up = upsample_nearest_2x(&down)?
                .narrow(2, 0, h)?
                .narrow(3, 0, w)?;
            levels.push((&current - up)?);
            current = down;
        }
        levels.push(current);
        Ok(levels)
    }

    /// `Σ_k 2^k · mean|L_k(x) − L_k(target)|`.
    pub fn forward(&self, x: &Tensor, target: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.pyramid(x)?, self.pyramid(target)?);
        let mut loss: Option<Tensor> = None;
        for (k, (la, lb)) in a.iter().zip(&b).enumerate() {
            let term = ((la - lb)?.abs()?.mean_all()? * f64::powi(2.0, k as i32))?;
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

    /// The loss's gradient equals central differences, in f64 (the pyramid's levels share
    /// tensors, whose gradients must add: candle's own nearest upsampling backward
    /// replaced the gradient gathered so far instead).
    #[test]
    fn the_gradient_matches_finite_differences() {
        let (n, c, h, w) = (2, 1, 16, 16);
        let len = n * c * h * w;
        let target = Tensor::from_vec(pattern(len, 2.0), (n, c, h, w), &Device::Cpu).unwrap();
        let x0 = pattern(len, 0.1);
        let loss = LaplacianPyramidLoss::new(3);
        let value = |v: &[f64]| -> f64 {
            let x = Tensor::from_vec(v.to_vec(), (n, c, h, w), &Device::Cpu).unwrap();
            loss.forward(&x, &target).unwrap().to_scalar().unwrap()
        };
        let x =
            Var::from_tensor(&Tensor::from_vec(x0.clone(), (n, c, h, w), &Device::Cpu).unwrap())
                .unwrap();
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
        for i in 0..len {
            let (mut up, mut down) = (x0.clone(), x0.clone());
            up[i] += eps;
            down[i] -= eps;
            let fd = (value(&up) - value(&down)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 1e-7, "pixel {i}: {fd} vs {}", g[i]);
        }
    }
}
