//! How good a generator is, in numbers that do not need ImageNet: how well the autoencoder
//! reconstructs held-out images, how likely the prior finds their latents, and whether
//! FunkNN's renderings at a higher resolution stay consistent with the discrete samples.

use candle_core::Tensor;
use funknn_core::picture::resize_bilinear_aa;
use funknn_core::FunkNN;

use crate::functional::FunctionalGenerator;
use crate::generator::{standard_normal, LatentPrior};
use crate::model::Generator;
use crate::train::ImageSet;
use crate::{Error, Result};

/// The scores of [`evaluate_generator`].
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorScores {
    /// Test images scored.
    pub images: usize,
    /// `10·log10(Σx² / Σ(x − x̂)²)` of the autoencoder's reconstructions, over the set (dB).
    pub reconstruction_snr_db: f64,
    /// Mean negative log-likelihood of the test latents under the prior (nats per image).
    pub test_nll: f64,
    /// With a FunkNN: prior samples rendered at 4× the side, antialiased back down, against
    /// the decoder's own images (SNR, dB), and how many samples.
    pub scale_consistency_db: Option<(f64, usize)>,
}

impl GeneratorScores {
    /// The scores as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| measure | value |\n|---|---|\n");
        s.push_str(&format!(
            "| reconstruction SNR ({} test images) | {:.2} dB |\n",
            self.images, self.reconstruction_snr_db
        ));
        s.push_str(&format!(
            "| test negative log-likelihood of the latents | {:.2} nats |\n",
            self.test_nll
        ));
        if let Some((snr, n)) = self.scale_consistency_db {
            s.push_str(&format!(
                "| scale consistency: 4× rendering downsampled vs the sample ({n} samples) | {snr:.2} dB |\n"
            ));
        }
        s
    }
}

fn snr_db(signal: f64, error: f64) -> f64 {
    10.0 * (signal / error.max(f64::MIN_POSITIVE)).log10()
}

/// Scores `generator` on `test` (batches of `batch`), and, with `funknn`, the scale
/// consistency of `samples` prior samples drawn from `seed`.
pub fn evaluate_generator(
    generator: &Generator,
    funknn: Option<&FunkNN>,
    test: &ImageSet,
    samples: usize,
    seed: u64,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<GeneratorScores> {
    if test.is_empty() || batch == 0 {
        return Err(Error::invalid(
            "evaluation",
            "no test image, or a batch of 0",
        ));
    }
    check_images(generator, test.images())?;
    let ae = &generator.autoencoder;
    let (mut signal, mut error, mut nll) = (0f64, 0f64, 0f64);
    let n = test.len();
    for start in (0..n).step_by(batch) {
        let count = batch.min(n - start);
        let images = test.images().narrow(0, start, count)?;
        let latents = ae.encoder.forward(&images)?;
        let recon = ae.decoder.forward(&latents)?;
        signal += images
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        error += (&recon - &images)?
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        let lp = generator.prior.log_prob(&latents)?;
        nll -= lp
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        progress(count);
    }
    let scale_consistency_db = match funknn {
        Some(funknn) if samples > 0 => {
            let f = FunctionalGenerator::new(
                generator.prior.clone(),
                ae.decoder.clone(),
                funknn.clone(),
            )?;
            let r = generator.config().autoencoder.resolution;
            let base = standard_normal(samples, generator.prior.latent_dim(), seed)?;
            let latents = generator.prior.sample_from(&base, 1.0)?;
            let (mut s, mut e) = (0f64, 0f64);
            for i in 0..samples {
                let latent = latents.narrow(0, i, 1)?;
                let discrete: Vec<f32> = f.images(&latent)?.flatten_all()?.to_vec1()?;
                let big = f.render(&latent, 4 * r, 4 * r, 1 << 16)?;
                let c = big.dim(1)?;
                let big: Vec<f32> = big.flatten_all()?.to_vec1()?;
                let down = resize_bilinear_aa(&big, c, 4 * r, 4 * r, r, r);
                for (a, b) in discrete.iter().zip(&down) {
                    s += (*a as f64).powi(2);
                    e += (*a as f64 - *b as f64).powi(2);
                }
            }
            Some((snr_db(s, e), samples))
        }
        _ => None,
    };
    Ok(GeneratorScores {
        images: n,
        reconstruction_snr_db: snr_db(signal, error),
        test_nll: nll / n as f64,
        scale_consistency_db,
    })
}

/// Checks that images fit the generator before any work.
pub fn check_images(generator: &Generator, images: &Tensor) -> Result<()> {
    let a = &generator.config().autoencoder;
    match images.dims() {
        [_, c, h, w] if (*c, *h, *w) == (a.channels, a.resolution, a.resolution) => Ok(()),
        dims => Err(Error::Shape {
            name: "test images",
            expected: format!("(N, {}, {r}, {r})", a.channels, r = a.resolution),
            got: dims.to_vec(),
        }),
    }
}
