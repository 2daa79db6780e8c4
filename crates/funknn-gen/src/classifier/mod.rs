//! A small image classifier whose penultimate features score generators (the Fréchet
//! distance of [`crate::eval`]), and its training.

mod model;
mod train;

pub use model::{
    ClassifierConfig, FeatureClassifier, CLASSIFIER_ARCHITECTURE, FASHION_MNIST_LABELS,
};
pub use train::{train_classifier, ClassifierTrainConfig};
