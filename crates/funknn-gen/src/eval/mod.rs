//! How good a generator is, in numbers that do not need ImageNet: how well the autoencoder
//! reconstructs held-out images, how likely the prior finds their latents, and whether
//! FunkNN's renderings at a higher resolution stay consistent with the discrete samples.

pub mod frechet;

use candle_core::Tensor;
use funknn_core::picture::resize_bilinear_aa;
use funknn_core::FunkNN;

use crate::classifier::FeatureClassifier;
use crate::eval::frechet::{frechet_distance, FeatureMoments};
use crate::functional::FunctionalGenerator;
use crate::generator::{check_latents, standard_normal, LatentPrior};
use crate::model::Generator;
use crate::train::ImageSet;
use crate::{Error, Result};

/// The scores of [`evaluate_generator`].
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorScores {
    /// Test images scored.
    pub images: usize,
    /// The sampling prior scored ([`crate::SamplingPrior::describe`]).
    pub prior: String,
    /// `10·log10(Σx² / Σ(x − x̂)²)` of the autoencoder's reconstructions, over the set (dB).
    pub reconstruction_snr_db: f64,
    /// Mean negative log-likelihood of the test latents under the sampling prior
    /// ([`Generator::sampling_prior`]; nats per image).
    pub test_nll: f64,
    /// With a FunkNN: prior samples (at the generator's default temperature) rendered at 4×
    /// the side, antialiased back down, against the decoder's own images (SNR, dB), and how
    /// many samples.
    pub scale_consistency_db: Option<(f64, usize)>,
    /// Fréchet distances on a classifier's features ([`frechet_scores`]), when computed.
    pub frechet: Option<FrechetScores>,
}

impl GeneratorScores {
    /// The scores as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| measure | value |\n|---|---|\n");
        s.push_str(&format!("| sampling prior | {} |\n", self.prior));
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
        if let Some(f) = &self.frechet {
            s.push_str(&f.to_markdown_rows());
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
    let prior = generator.sampling_prior();
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
        let lp = prior.log_prob(&latents)?;
        nll -= lp
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        progress(count);
    }
    let scale_consistency_db = match funknn {
        Some(funknn) if samples > 0 => {
            let f = FunctionalGenerator::new(prior.clone(), ae.decoder.clone(), funknn.clone())?;
            let r = generator.config().autoencoder.resolution;
            let base = standard_normal(samples, prior.latent_dim(), seed)?;
            let latents = prior.sample_from(&base, generator.config().sampling_temperature())?;
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
        prior: prior.describe(),
        reconstruction_snr_db: snr_db(signal, error),
        test_nll: nll / n as f64,
        scale_consistency_db,
        frechet: None,
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

/// Fréchet distances on a classifier's features, all against the test set's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct FrechetScores {
    /// Vectors in each compared set (samples, training images, blurred test images).
    pub count: usize,
    /// Test images the reference statistics come from.
    pub test_images: usize,
    /// The generator's samples (the decoder's own size, clamped to [0, 1]).
    pub samples: f64,
    /// Training images: the floor a perfect generator would reach.
    pub train: f64,
    /// Test images blurred (antialiased to half the side and back, bilinear): what a blurry
    /// generator gives.
    pub blurred_test: f64,
    /// The sampling temperature.
    pub temperature: f64,
    /// The share of samples the classifier gives one class with probability ≥
    /// [`CONFIDENT`]: how many look like some garment rather than between garments.
    pub samples_confident: f64,
    /// The same share on the test images (the classifier is unsure of some real ones too).
    pub test_confident: f64,
}

/// The class probability from which [`FrechetScores`] counts an image as recognised.
pub const CONFIDENT: f64 = 0.9;

impl FrechetScores {
    /// Rows for the Markdown table of [`GeneratorScores::to_markdown`].
    pub fn to_markdown_rows(&self) -> String {
        format!(
            "| Fréchet distance, {n} samples vs {t} test images (temperature {temp}) | {:.3} |\n\
             | Fréchet distance, {n} training images (the floor) | {:.3} |\n\
             | Fréchet distance, {n} test images blurred to half the side and back | {:.3} |\n\
             | samples the classifier gives a class with p ≥ {CONFIDENT} | {:.1} % |\n\
             | test images the classifier gives a class with p ≥ {CONFIDENT} | {:.1} % |\n",
            self.samples,
            self.train,
            self.blurred_test,
            100.0 * self.samples_confident,
            100.0 * self.test_confident,
            n = self.count,
            t = self.test_images,
            temp = self.temperature,
        )
    }
}

/// Feature moments of `images` and how many of them the classifier is confident of.
fn moments_of(
    classifier: &FeatureClassifier,
    images: &Tensor,
    batch: usize,
    progress: &mut impl FnMut(usize),
) -> Result<(FeatureMoments, usize)> {
    let mut m = FeatureMoments::new(classifier.config().features);
    let mut confident = 0;
    let n = images.dim(0)?;
    for start in (0..n).step_by(batch.max(1)) {
        let count = batch.max(1).min(n - start);
        let features = classifier.features(&images.narrow(0, start, count)?)?;
        confident += confident_count(&classifier.logits_of_features(&features)?)?;
        m.add(&features)?;
        progress(count);
    }
    Ok((m, confident))
}

/// Rows of `logits` whose most likely class has probability ≥ [`CONFIDENT`].
fn confident_count(logits: &Tensor) -> Result<usize> {
    let p = candle_nn::ops::softmax_last_dim(&logits.to_dtype(candle_core::DType::F32)?)?;
    let top: Vec<f32> = p.max(candle_core::D::Minus1)?.to_vec1()?;
    Ok(top.iter().filter(|&&v| v as f64 >= CONFIDENT).count())
}

/// `count` rows of `images` spread evenly over it.
fn spread_rows(images: &Tensor, count: usize) -> Result<Tensor> {
    let n = images.dim(0)?;
    let idx: Vec<u32> = (0..count).map(|i| (i * n / count) as u32).collect();
    let idx = Tensor::from_vec(idx, count, images.device())?;
    Ok(images.index_select(&idx, 0)?)
}

/// The images antialiased down to half their side and bilinearly back up.
fn blur_half(images: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = images.dims4()?;
    let values: Vec<f32> = images.flatten_all()?.to_vec1()?;
    let mut out = Vec::with_capacity(values.len());
    for image in values.chunks(c * h * w) {
        let small = resize_bilinear_aa(image, c, h, w, h / 2, w / 2);
        out.extend(resize_bilinear_aa(&small, c, h / 2, w / 2, h, w));
    }
    Ok(Tensor::from_vec(out, (n, c, h, w), images.device())?)
}

/// The Fréchet distance on `classifier`'s features between `count` prior samples (seeded,
/// at `temperature`) and the test set, beside the two references: `count` training images
/// and `count` blurred test images.
#[allow(clippy::too_many_arguments)]
pub fn frechet_scores(
    generator: &Generator,
    classifier: &FeatureClassifier,
    train: &ImageSet,
    test: &ImageSet,
    count: usize,
    temperature: f64,
    seed: u64,
    batch: usize,
    progress: impl FnMut(usize),
) -> Result<FrechetScores> {
    check_frechet_count(count, train, test)?;
    let prior = generator.sampling_prior();
    let latents = prior.sample_from(
        &standard_normal(count, prior.latent_dim(), seed)?,
        temperature,
    )?;
    let mut scores = frechet_scores_of_latents(
        generator, classifier, train, test, &latents, batch, progress,
    )?;
    scores.temperature = temperature;
    Ok(scores)
}

fn check_frechet_count(count: usize, train: &ImageSet, test: &ImageSet) -> Result<()> {
    if count < 2 || count > train.len() || count > test.len() {
        return Err(Error::invalid(
            "Fréchet samples",
            format!(
                "{count}: need 2 to {} (the smaller of the training and test sets)",
                train.len().min(test.len())
            ),
        ));
    }
    Ok(())
}

/// [`frechet_scores`] of the decoder's images of given latents `(N, D)`, from any prior
/// (`temperature` is NaN in the result: the latents carry no temperature). What compares
/// other latent priors with the generator's own on the same footing.
pub fn frechet_scores_of_latents(
    generator: &Generator,
    classifier: &FeatureClassifier,
    train: &ImageSet,
    test: &ImageSet,
    latents: &Tensor,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<FrechetScores> {
    check_images(generator, test.images())?;
    check_images(generator, train.images())?;
    let c = classifier.config();
    let a = &generator.config().autoencoder;
    if (c.channels, c.resolution) != (a.channels, a.resolution) {
        return Err(Error::invalid(
            "classifier",
            format!(
                "it reads {}-channel {}² images, the generator makes {}-channel {}²",
                c.channels, c.resolution, a.channels, a.resolution
            ),
        ));
    }
    let count = check_latents(latents, generator.prior.latent_dim(), "latents")?;
    check_frechet_count(count, train, test)?;
    let (reference, test_confident) = moments_of(classifier, test.images(), batch, &mut progress)?;
    let reference = reference.stats()?;
    let mut samples = FeatureMoments::new(c.features);
    let mut samples_confident = 0usize;
    for start in (0..count).step_by(batch.max(1)) {
        let n = batch.max(1).min(count - start);
        let images = generator
            .autoencoder
            .decoder
            .forward(&latents.narrow(0, start, n)?)?
            .clamp(0f32, 1f32)?;
        let features = classifier.features(&images)?;
        samples_confident += confident_count(&classifier.logits_of_features(&features)?)?;
        samples.add(&features)?;
        progress(n);
    }
    let (train_m, _) = moments_of(
        classifier,
        &spread_rows(train.images(), count)?,
        batch,
        &mut progress,
    )?;
    let blurred = blur_half(&spread_rows(test.images(), count)?)?;
    let (blurred_m, _) = moments_of(classifier, &blurred, batch, &mut progress)?;
    Ok(FrechetScores {
        count,
        test_images: test.len(),
        samples: frechet_distance(&samples.stats()?, &reference)?,
        train: frechet_distance(&train_m.stats()?, &reference)?,
        blurred_test: frechet_distance(&blurred_m.stats()?, &reference)?,
        temperature: f64::NAN,
        samples_confident: samples_confident as f64 / count as f64,
        test_confident: test_confident as f64 / test.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::ClassifierConfig;
    use crate::{AutoencoderConfig, FlowConfig, GeneratorConfig};
    use candle_core::{DType, Device};

    /// With the training set equal to the test set, the floor is zero (to rounding); blurring moves
    /// the features away; bad counts and mismatched classifiers are errors.
    #[test]
    fn frechet_references_behave() {
        let config = GeneratorConfig {
            architecture: crate::ARCHITECTURE.into(),
            autoencoder: AutoencoderConfig {
                latent_dim: 8,
                resolution: 32,
                channels: 1,
                width: 0.125,
            },
            flow: FlowConfig {
                latent_dim: 8,
                depth: 2,
            },
            source: None,
            temperature: None,
            mixture: None,
        };
        let (generator, _) = Generator::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
        let images = Tensor::rand(0f32, 1f32, (24, 1, 32, 32), &Device::Cpu).unwrap();
        let set = ImageSet::from_tensor(images, "noise");
        let classifier_config = ClassifierConfig {
            stages: vec![4, 4],
            features: 6,
            ..Default::default()
        };
        let (classifier, _) =
            FeatureClassifier::random(&classifier_config, 1, &Device::Cpu).unwrap();
        let scores =
            frechet_scores(&generator, &classifier, &set, &set, 24, 1.0, 0, 7, |_| {}).unwrap();
        assert!(scores.train < 1e-12, "{scores:?}");
        assert!(
            scores.blurred_test > 0.0 && scores.samples > 0.0,
            "{scores:?}"
        );
        for share in [scores.samples_confident, scores.test_confident] {
            assert!((0.0..=1.0).contains(&share), "{scores:?}");
        }
        assert!(
            frechet_scores(&generator, &classifier, &set, &set, 25, 1.0, 0, 7, |_| {}).is_err()
        );
        assert!(frechet_scores(&generator, &classifier, &set, &set, 1, 1.0, 0, 7, |_| {}).is_err());
        let wrong = ClassifierConfig {
            resolution: 16,
            ..classifier_config
        };
        let (wrong, _) = FeatureClassifier::random(&wrong, 1, &Device::Cpu).unwrap();
        assert!(frechet_scores(&generator, &wrong, &set, &set, 8, 1.0, 0, 7, |_| {}).is_err());
    }

    /// Softmax probabilities of 0.99995, 0.576 and 0.905 for the top class.
    #[test]
    fn confidence_counts_rows_over_the_threshold() {
        let logits = Tensor::new(
            &[[10f32, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 19f32.ln(), 0.0]],
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(confident_count(&logits).unwrap(), 2);
    }
}
