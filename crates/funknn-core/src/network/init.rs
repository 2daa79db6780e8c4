//! Parameter shapes and seeded initialisation, as in PyTorch and the official code.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::config::{Activation, Config, Network};
use crate::network::cnn::{pooled_side, CNN_CHANNELS, CNN_KERNEL, CNN_LAYERS};
use crate::network::mlp::{layer_dims, CNN_HEAD_HIDDEN, PATCH_MLP_HIDDEN};
use crate::rng::Rng;
use crate::Result;

/// How one parameter is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform in (−a, a).
    Uniform(f64),
    /// Every entry equal to this.
    Const(f64),
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
}

/// How a fresh model's weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// PyTorch's default (and the official code's): uniform with bound 1/√fan_in for weights
    /// and biases; SIREN's for sine MLP layers.
    #[default]
    Pytorch,
    /// He (Kaiming normal, fan-in, gain √2) for ReLU-family layers with zero biases, and a
    /// last layer scaled by 0.01 so that a fresh model starts near its kernel's plain
    /// interpolation. The PyTorch default shrinks the signal by √6 per ReLU layer, so the
    /// ten-layer MLP's output barely depends on its patch and training stalls at the
    /// interpolation baseline. Sine layers keep SIREN's initialisation, the last one scaled
    /// by 0.01 likewise.
    He,
}

impl std::str::FromStr for InitScheme {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pytorch" => Ok(InitScheme::Pytorch),
            "he" => Ok(InitScheme::He),
            _ => Err(crate::Error::invalid(
                "initialisation",
                format!("unknown {s:?}; expected pytorch or he"),
            )),
        }
    }
}

/// Every parameter of a model: official `state_dict` name, shape and PyTorch's
/// initialisation.
pub fn parameter_specs(config: &Config) -> Vec<(String, Vec<usize>, Init)> {
    parameter_specs_with(config, InitScheme::Pytorch)
}

/// Every parameter of a model: official `state_dict` name, shape and initialisation under
/// `scheme`.
pub fn parameter_specs_with(
    config: &Config,
    scheme: InitScheme,
) -> Vec<(String, Vec<usize>, Init)> {
    let he = scheme == InitScheme::He;
    let mut specs = Vec::new();
    let c = config.channels;
    let w = config.patch_size;
    let head = match config.network {
        Network::Mlp => layer_dims(c * w * w, &PATCH_MLP_HIDDEN, c),
        Network::Cnn => {
            for i in 0..CNN_LAYERS {
                let input = if i == 0 { c } else { CNN_CHANNELS };
                // PyTorch's default (kaiming-uniform, a = √5): bound 1/√fan_in, bias alike.
                let fan_in = (input * CNN_KERNEL * CNN_KERNEL) as f64;
                let bound = 1.0 / fan_in.sqrt();
                let (weight, bias) = if he {
                    (Init::Normal((2.0 / fan_in).sqrt()), Init::Const(0.0))
                } else {
                    (Init::Uniform(bound), Init::Uniform(bound))
                };
                specs.push((
                    format!("CNNs.{i}.weight"),
                    vec![CNN_CHANNELS, input, CNN_KERNEL, CNN_KERNEL],
                    weight,
                ));
                specs.push((format!("CNNs.{i}.bias"), vec![CNN_CHANNELS], bias));
            }
            let side = pooled_side(w);
            layer_dims(CNN_CHANNELS * side * side, &CNN_HEAD_HIDDEN, c)
        }
    };
    let sin = config.activation == Activation::Sin;
    for (i, &(fan_in, out)) in head.iter().enumerate() {
        let bound = if !sin {
            1.0 / (fan_in as f64).sqrt()
        } else if i == 0 {
            1.0 / fan_in as f64
        } else {
            (6.0 / fan_in as f64).sqrt() / config.omega_0
        };
        let last = if he && i + 1 == head.len() { 0.01 } else { 1.0 };
        let (weight, bias) = if he && !sin {
            let std = last * (2.0 / fan_in as f64).sqrt();
            (Init::Normal(std), Init::Const(0.0))
        } else {
            (Init::Uniform(last * bound), Init::Uniform(last * bound))
        };
        specs.push((format!("MLP.{i}.weight"), vec![out, fan_in], weight));
        specs.push((format!("MLP.{i}.bias"), vec![out], bias));
    }
    if sin {
        for i in 0..head.len() {
            specs.push((format!("w.{i}"), vec![1], Init::Const(config.omega_0)));
        }
    }
    specs.push(("ws1".into(), vec![1], Init::Const(1.0)));
    specs.push(("ws2".into(), vec![1], Init::Const(1.0)));
    specs
}

/// Freshly initialised parameters, reproducible from `seed`.
pub fn init_parameters(
    config: &Config,
    scheme: InitScheme,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let mut rng = Rng::new(seed);
    let mut out = HashMap::new();
    for (name, shape, init) in parameter_specs_with(config, scheme) {
        let n: usize = shape.iter().product();
        let data: Vec<f64> = match init {
            Init::Uniform(a) => (0..n).map(|_| rng.uniform_in(-a, a)).collect(),
            Init::Const(v) => vec![v; n],
            Init::Normal(std) => (0..n).map(|_| std * rng.normal()).collect(),
        };
        let t = Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?;
        out.insert(name, t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KernelKind;

    fn count(network: Network, activation: Activation) -> usize {
        let config = Config {
            network,
            activation,
            kernel: KernelKind::Bicubic,
            ..Config::default()
        };
        parameter_specs(&config)
            .iter()
            .map(|(_, s, _)| s.iter().product::<usize>())
            .sum()
    }

    #[test]
    fn parameter_counts_match_the_official_models() {
        assert_eq!(count(Network::Mlp, Activation::Relu), 650_885);
        assert_eq!(count(Network::Mlp, Activation::Sin), 650_895);
        assert_eq!(count(Network::Cnn, Activation::Relu), 140_933);
        assert_eq!(count(Network::Cnn, Activation::Sin), 140_937);
    }
}
