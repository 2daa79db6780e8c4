//! A small Fashion-MNIST classifier whose penultimate features score generators (the
//! Fréchet distance of [`crate::eval::frechet`]): ImageNet's Inception weights, which FID uses,
//! cannot be had offline, and a classifier of the data set itself sees what matters in it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use funknn_core::hub::HubOptions;
use serde::{Deserialize, Serialize};

use crate::autoencoder::conv::{conv3x3, relu_conv, Conv3x3};
use crate::autoencoder::pool::max_pool_2x2;
use crate::folder::{parse_folder, read_folder, write_folder, CONFIG_FILE, WEIGHTS_FILE};
use crate::{Error, Result};

/// The `architecture` field of a classifier's `config.json`.
pub const CLASSIFIER_ARCHITECTURE: &str = "funknn-feature-classifier";

fn architecture() -> String {
    CLASSIFIER_ARCHITECTURE.into()
}

/// Architecture of [`FeatureClassifier`]: per stage a 3×3 convolution, ReLU and a 2×2
/// max-pool, then a ReLU layer of `features` (the features) and a linear layer to the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    #[serde(default = "architecture")]
    pub architecture: String,
    /// Image side (a multiple of 2^stages).
    pub resolution: usize,
    /// Image channels.
    pub channels: usize,
    /// Channels of each convolution stage.
    pub stages: Vec<usize>,
    /// Width of the feature layer.
    pub features: usize,
    /// Classes (10 for Fashion-MNIST).
    pub classes: usize,
    /// Class names, in label order.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Fashion-MNIST's classes, in label order.
pub const FASHION_MNIST_LABELS: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl Default for ClassifierConfig {
    /// The shipped Fashion-MNIST classifier's architecture (32² grey, three stages).
    fn default() -> Self {
        ClassifierConfig {
            architecture: architecture(),
            resolution: 32,
            channels: 1,
            stages: vec![32, 64, 64],
            features: 128,
            classes: 10,
            labels: FASHION_MNIST_LABELS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl ClassifierConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("classifier config", m));
        if self.architecture != CLASSIFIER_ARCHITECTURE {
            return bad(format!(
                "architecture {:?}, expected {CLASSIFIER_ARCHITECTURE:?}",
                self.architecture
            ));
        }
        let down = 1usize << self.stages.len().min(16);
        if self.stages.is_empty()
            || self.stages.len() > 6
            || self.resolution == 0
            || self.resolution > 1024
            || !self.resolution.is_multiple_of(down)
        {
            return bad(format!(
                "{} stages at {}²: 1 to 6 stages, and the side a multiple of 2^stages",
                self.stages.len(),
                self.resolution
            ));
        }
        let sizes = [self.channels, self.features, self.classes];
        if sizes
            .iter()
            .chain(&self.stages)
            .any(|&c| c == 0 || c > 4096)
        {
            return bad("channel, feature and class counts must be in 1..=4096".into());
        }
        if !self.labels.is_empty() && self.labels.len() != self.classes {
            return bad(format!(
                "{} labels for {} classes",
                self.labels.len(),
                self.classes
            ));
        }
        Ok(())
    }

    fn flat(&self) -> usize {
        let side = self.resolution >> self.stages.len();
        side * side * self.stages.last().copied().unwrap_or(1)
    }
}

/// The classifier; `features` gives the penultimate activations.
#[derive(Debug, Clone)]
pub struct FeatureClassifier {
    config: ClassifierConfig,
    convs: Vec<Conv3x3>,
    hidden: Linear,
    head: Linear,
}

impl FeatureClassifier {
    /// Tensor names: `convs.{i}.weight|bias`, `hidden.*`, `head.*`.
    pub fn new(config: &ClassifierConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let mut convs = Vec::new();
        let mut prev = config.channels;
        for (i, &c) in config.stages.iter().enumerate() {
            convs.push(conv3x3(prev, c, vb.pp(format!("convs.{i}")))?);
            prev = c;
        }
        let hidden = candle_nn::linear(config.flat(), config.features, vb.pp("hidden"))?;
        let head = candle_nn::linear(config.features, config.classes, vb.pp("head"))?;
        Ok(FeatureClassifier {
            config: config.clone(),
            convs,
            hidden,
            head,
        })
    }

    /// A fresh, trainable classifier, reproducibly from `seed`.
    pub fn random(config: &ClassifierConfig, seed: u64, device: &Device) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let model = Self::new(config, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
        crate::init::init_uniform(&varmap, seed, device, |_| false)?;
        Ok((model, varmap))
    }

    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    fn check(&self, images: &Tensor) -> Result<usize> {
        let (c, r) = (self.config.channels, self.config.resolution);
        match images.dims() {
            [n, cc, h, w] if (*cc, *h, *w) == (c, r, r) => Ok(*n),
            dims => Err(Error::Shape {
                name: "classifier images",
                expected: format!("(N, {c}, {r}, {r})"),
                got: dims.to_vec(),
            }),
        }
    }

    /// The feature layer's activations `(N, features)` of images `(N, C, R, R)` in [0, 1].
    pub fn features(&self, images: &Tensor) -> Result<Tensor> {
        let n = self.check(images)?;
        let mut x = images.clone();
        for conv in &self.convs {
            x = max_pool_2x2(&relu_conv(conv, &x)?)?;
        }
        Ok(self.hidden.forward(&x.reshape((n, ()))?)?.relu()?)
    }

    /// Class logits `(N, classes)`.
    pub fn logits(&self, images: &Tensor) -> Result<Tensor> {
        self.logits_of_features(&self.features(images)?)
    }

    /// Class logits from the feature layer's activations.
    pub fn logits_of_features(&self, features: &Tensor) -> Result<Tensor> {
        Ok(self.head.forward(features)?)
    }

    /// The fraction of `images` whose most likely class is their label.
    pub fn accuracy(&self, images: &Tensor, labels: &[u8], batch: usize) -> Result<f64> {
        let n = self.check(images)?;
        if labels.len() != n || n == 0 {
            return Err(Error::invalid(
                "labels",
                format!("{} labels for {n} images", labels.len()),
            ));
        }
        let mut right = 0usize;
        for start in (0..n).step_by(batch.max(1)) {
            let count = batch.max(1).min(n - start);
            let predicted: Vec<u32> = self
                .logits(&images.narrow(0, start, count)?)?
                .argmax(1)?
                .to_vec1()?;
            right += predicted
                .iter()
                .zip(&labels[start..start + count])
                .filter(|(p, l)| **p == **l as u32)
                .count();
        }
        Ok(right as f64 / n as f64)
    }

    fn from_tensors(
        config: &ClassifierConfig,
        tensors: HashMap<String, Tensor>,
        device: &Device,
        origin: &Path,
    ) -> Result<Self> {
        config.validate()?;
        let tensors = tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?.to_device(device)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Self::new(config, vb).map_err(|e| match e {
            Error::Candle(e) => Error::Weights {
                path: origin.to_path_buf(),
                message: e.to_string(),
            },
            e => e,
        })
    }

    /// From the bytes of a folder's `config.json` and `model.safetensors` (`name` says where
    /// they come from in errors).
    pub fn from_bytes(
        config_json: &str,
        weights: &[u8],
        device: &Device,
        name: &str,
    ) -> Result<Self> {
        let f = parse_folder::<ClassifierConfig>(config_json, weights, name)?;
        Self::from_tensors(&f.config, f.tensors, device, &f.weights)
    }

    /// Loads a classifier folder (`config.json`, `model.safetensors`).
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let f = read_folder::<ClassifierConfig>(dir.as_ref())?;
        Self::from_tensors(&f.config, f.tensors, device, &f.weights)
    }

    /// Loads `spec`: a classifier folder, or a hub repo id `owner/name[@revision]`.
    pub fn load_from(spec: &str, hub: &HubOptions, device: &Device) -> Result<Self> {
        let dir = funknn_core::hub::resolve(spec, &[CONFIG_FILE, WEIGHTS_FILE], hub)?;
        Self::load(dir, device)
    }

    /// Writes the folder: `config.json` and `model.safetensors` (f32, from `varmap`), each
    /// atomically.
    pub fn save(&self, varmap: &VarMap, dir: impl AsRef<Path>) -> Result<()> {
        let tensors: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .expect("the var map lock is never poisoned")
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?;
        write_folder(dir.as_ref(), &self.config, &tensors)
    }
}
