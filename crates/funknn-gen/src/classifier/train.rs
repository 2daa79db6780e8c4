//! Training the feature classifier of the Fréchet distance: cross-entropy, Adam, shuffled
//! epochs, seeded. A few minutes on a CPU, so no checkpoints: a killed run starts again.

use candle_core::{Device, Tensor};
use candle_nn::{Optimizer, VarMap};
use serde::{Deserialize, Serialize};

use crate::classifier::{ClassifierConfig, FeatureClassifier};
use crate::train::ImageSet;
use crate::{Error, Result};

/// Every knob of a classifier training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierTrainConfig {
    pub classifier: ClassifierConfig,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Adam learning rate at the start, decaying to zero along a half cosine.
    pub lr: f64,
    /// A random shift of up to this many pixels per image and step (0: none).
    pub shift: usize,
    pub seed: u64,
}

impl Default for ClassifierTrainConfig {
    fn default() -> Self {
        ClassifierTrainConfig {
            classifier: ClassifierConfig::default(),
            epochs: 3,
            batch: 128,
            lr: 1e-3,
            shift: 2,
            seed: 0,
        }
    }
}

/// Trains a classifier on `images` with `labels`; `progress(step, steps, loss)` after each
/// step. Returns the classifier, its variables and the loss of every step.
pub fn train_classifier(
    config: &ClassifierTrainConfig,
    images: &ImageSet,
    labels: &[u8],
    mut progress: impl FnMut(usize, usize, f32),
) -> Result<(FeatureClassifier, VarMap, Vec<f32>)> {
    let n = images.len();
    if labels.len() != n || n == 0 {
        return Err(Error::invalid(
            "classifier training data",
            format!("{} labels for {n} images", labels.len()),
        ));
    }
    if config.epochs == 0 || config.batch == 0 || !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(Error::invalid(
            "classifier training",
            "epochs, batch and the learning rate must be positive",
        ));
    }
    if let Some(&bad) = labels
        .iter()
        .find(|&&l| l as usize >= config.classifier.classes)
    {
        return Err(Error::invalid(
            "labels",
            format!("label {bad} for {} classes", config.classifier.classes),
        ));
    }
    let device = Device::Cpu;
    let (model, varmap) = FeatureClassifier::random(&config.classifier, config.seed, &device)?;
    let mut adam = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: config.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut rng = funknn_core::Rng::new(config.seed ^ 0x5eed);
    let per_epoch = n.div_ceil(config.batch);
    let steps = per_epoch * config.epochs;
    let mut losses = Vec::with_capacity(steps);
    for _epoch in 0..config.epochs {
        // Fisher–Yates.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for chunk in order.chunks(config.batch) {
            let t = losses.len() as f64 / steps as f64;
            adam.set_learning_rate(config.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()));
            let mut x = images.batch(chunk)?;
            if config.shift > 0 {
                x = shift(&x, config.shift, &mut rng)?;
            }
            let y: Vec<u32> = chunk.iter().map(|&i| labels[i] as u32).collect();
            let y = Tensor::from_vec(y, chunk.len(), &device)?;
            let loss = candle_nn::loss::cross_entropy(&model.logits(&x)?, &y)?;
            adam.backward_step(&loss)?;
            let value: f32 = loss.to_scalar()?;
            losses.push(value);
            progress(losses.len(), steps, value);
        }
    }
    Ok((model, varmap, losses))
}

/// The batch shifted by one random offset in `[-max, max]²` (zeros come in): the classifier
/// should not depend on where a garment sits to the pixel.
fn shift(x: &Tensor, max: usize, rng: &mut funknn_core::Rng) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let mut out = x.clone();
    for (dim, len) in [(2, h), (3, w)] {
        let s = rng.below(2 * max + 1) as isize - max as isize;
        let k = s.unsigned_abs().min(len - 1);
        if k == 0 {
            continue;
        }
        out = if s > 0 {
            out.narrow(dim, 0, len - k)?.pad_with_zeros(dim, k, 0)?
        } else {
            out.narrow(dim, k, len - k)?.pad_with_zeros(dim, 0, k)?
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes told apart by where the light is: a few epochs learn them, the features
    /// have the configured width, and bad labels are errors.
    #[test]
    fn learns_a_separable_toy_problem() {
        let (n, r) = (64, 8);
        let mut values = vec![0f32; n * r * r];
        let mut labels = Vec::new();
        for i in 0..n {
            let class = (i % 2) as u8;
            labels.push(class);
            for y in 0..r {
                for x in 0..r {
                    let left = x < r / 2;
                    if left == (class == 0) {
                        values[i * r * r + y * r + x] =
                            0.5 + 0.4 * ((i * 7 + y * 3 + x) % 5) as f32 / 5.0;
                    }
                }
            }
        }
        let images = ImageSet::from_tensor(
            Tensor::from_vec(values, (n, 1, r, r), &Device::Cpu).unwrap(),
            "toy",
        );
        let config = ClassifierTrainConfig {
            classifier: ClassifierConfig {
                resolution: r,
                stages: vec![4, 4],
                features: 8,
                classes: 2,
                labels: vec![],
                ..Default::default()
            },
            epochs: 20,
            batch: 8,
            lr: 1e-2,
            shift: 0,
            seed: 1,
        };
        let (model, _, losses) = train_classifier(&config, &images, &labels, |_, _, _| {}).unwrap();
        assert_eq!(losses.len(), 20 * 8);
        assert!(losses.last().unwrap() < &0.1, "{losses:?}");
        assert_eq!(model.accuracy(images.images(), &labels, 10).unwrap(), 1.0);
        assert_eq!(model.features(images.images()).unwrap().dims(), &[n, 8]);
        let mut bad = labels.clone();
        bad[3] = 2;
        assert!(train_classifier(&config, &images, &bad, |_, _, _| {}).is_err());
        assert!(train_classifier(&config, &images, &labels[1..], |_, _, _| {}).is_err());
    }
}
