//! The official Laplacian-pyramid loss (`laplacian_loss.py`): L1 distances between the
//! Laplacian pyramids of two batches, level k weighted by 2^k.

use candle_core::{Device, Tensor};

use crate::Result;

/// `LaplacianPyramidLoss(max_levels=3, kernel_size=5, sigma=1)`: a 5×5 Gaussian with
/// zero padding, every other pixel kept, nearest ×2 expansion.
#[derive(Debug, Clone)]
pub struct LaplacianPyramidLoss {
    levels: usize,
    /// `(C, 1, 5, 5)`, one copy per channel for a grouped convolution.
    kernel: Tensor,
}

impl LaplacianPyramidLoss {
    pub fn new(levels: usize, channels: usize, device: &Device) -> Result<Self> {
        let (size, sigma) = (5usize, 1.0f64);
        let ax: Vec<f64> = (0..size)
            .map(|i| i as f64 - (size - 1) as f64 / 2.0)
            .collect();
        let mut k: Vec<f64> = Vec::with_capacity(size * size);
        for y in &ax {
            for x in &ax {
                k.push((-0.5 * (x * x + y * y) / (sigma * sigma)).exp());
            }
        }
        let total: f64 = k.iter().sum();
        let k: Vec<f32> = k.iter().map(|v| (v / total) as f32).collect();
        let one = Tensor::from_vec(k, (1, 1, size, size), device)?;
        let kernel = one.repeat((channels, 1, 1, 1))?;
        Ok(LaplacianPyramidLoss { levels, kernel })
    }

    fn pyramid(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let c = x.dim(1)?;
        let kernel = self.kernel.to_dtype(x.dtype())?;
        let mut levels = Vec::with_capacity(self.levels + 1);
        let mut current = x.clone();
        for _ in 0..self.levels {
            let blurred = current.conv2d(&kernel, 2, 1, 1, c)?;
            let (n, _, h, w) = blurred.dims4()?;
            // x[:, :, ::2, ::2] of an even-sided image.
            let down = blurred
                .reshape((n, c, h / 2, 2, w / 2, 2))?
                .narrow(3, 0, 1)?
                .narrow(5, 0, 1)?
                .reshape((n, c, h / 2, w / 2))?;
            let up = down.upsample_nearest2d(h, w)?;
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
