//! Gaussian noise at a given SNR, as the official `add_noise`.

use funknn_core::Rng;

use crate::scalar::norm;
use crate::{Error, Result, Scalar};

/// Adds white Gaussian noise to `data`, scaled so that `‖noise‖ / ‖data‖ = 10^(−snr_db/20)`
/// exactly (the official code's `add_noise`), reproducibly from `seed`. Returns the noise's
/// standard deviation per value.
///
/// ```
/// let mut y = vec![1.0f32; 1000];
/// funknn_inverse::add_noise(&mut y, 20.0, 7)?;
/// let err: f64 = y.iter().map(|v| (*v as f64 - 1.0).powi(2)).sum::<f64>().sqrt();
/// assert!((err / 1000f64.sqrt() - 0.1).abs() < 1e-5);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub fn add_noise<T: Scalar>(data: &mut [T], snr_db: f64, seed: u64) -> Result<f64> {
    if !snr_db.is_finite() {
        return Err(Error::invalid("SNR", format!("{snr_db} dB is not finite")));
    }
    crate::scalar::check_finite("data", data)?;
    let mut rng = Rng::new(seed);
    let noise: Vec<f64> = (0..data.len()).map(|_| rng.normal()).collect();
    let nn = noise.iter().map(|v| v * v).sum::<f64>().sqrt();
    if nn == 0.0 {
        return Ok(0.0);
    }
    let scale = norm(data) * 10f64.powf(-snr_db / 20.0) / nn;
    for (d, n) in data.iter_mut().zip(&noise) {
        *d += T::of(n * scale);
    }
    Ok(scale)
}
