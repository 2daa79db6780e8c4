//! Parity with the official generator classes on `tests/fixtures/golden-gen/` (see its
//! README.txt): decoders, encoders and RealNVP priors with weights from a shared
//! deterministic formula, and a real official flow checkpoint (`flow_small.pt`).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use common::max_abs_diff;
use funknn_gen::{AutoencoderConfig, Decoder, Encoder, FlowConfig, LatentPrior, RealNvp};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden-gen")
}

fn golden() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixtures().join("generator_golden.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

/// The golden files' weights: a hash of the flat index and the size, He-uniform for
/// tensors of rank ≥ 2, ±0.1 for vectors.
fn formula(shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let bound = if shape.len() >= 2 {
        (6.0 / (n / shape[0]) as f64).sqrt()
    } else {
        0.1
    };
    (0..n as u64)
        .map(|j| {
            let h = ((j + 1) * 2_654_435_761 + n as u64 * 97) % (1u64 << 32);
            let x = h as f64 / (1u64 << 32) as f64;
            ((2.0 * x - 1.0) * bound) as f32
        })
        .collect()
}

/// A VarBuilder backend that makes every tensor by [`formula`] and records the names asked.
#[derive(Default)]
struct Formula {
    names: Mutex<Vec<(String, Vec<usize>)>>,
}

struct Shared(Arc<Formula>);

impl SimpleBackend for Shared {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut names = self.0.names.lock().unwrap();
        names.push((name.to_string(), s.dims().to_vec()));
        Tensor::from_vec(formula(s.dims()), s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("{name}: the formula needs a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// Builds a network on formula weights; returns it and the names and shapes it asked for.
fn with_formula<T>(
    build: impl FnOnce(VarBuilder<'static>) -> funknn_gen::Result<T>,
) -> (T, BTreeSet<(String, Vec<usize>)>) {
    let backend = Arc::new(Formula::default());
    let vb = VarBuilder::from_backend(Box::new(Shared(backend.clone())), DType::F32, Device::Cpu);
    let net = build(vb).unwrap();
    let names = backend.names.lock().unwrap().iter().cloned().collect();
    (net, names)
}

/// The official state dict's parameter keys and shapes (buffers left out).
fn official_keys(network: &str) -> BTreeSet<(String, Vec<usize>)> {
    let text = std::fs::read_to_string(fixtures().join("state_dict_keys.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[network]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[2].as_str() == Some("formula"))
        .map(|e| {
            let dims = e[1].as_array().unwrap().iter();
            let shape = dims.map(|d| d.as_u64().unwrap() as usize).collect();
            (e[0].as_str().unwrap().to_string(), shape)
        })
        .collect()
}

#[test]
fn the_formula_reproduces_the_golden_check_values() {
    let g = golden();
    for (key, shape) in [
        ("formula.decoder64c1.t_CNNs.0.weight", vec![256, 256, 3, 3]),
        ("formula.decoder64c1.mlps.0.weight", vec![1024, 256]),
        ("formula.decoder64c1.mlps.0.bias", vec![1024]),
        ("formula.flow256.flows.1.s", vec![1, 256]),
    ] {
        let want: Vec<f32> = g[key].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(formula(&shape)[..want.len()], want[..], "{key}");
    }
}

fn autoencoder(resolution: usize, channels: usize) -> AutoencoderConfig {
    AutoencoderConfig {
        latent_dim: 256,
        resolution,
        channels,
        width: 1.0,
    }
}

const NETWORKS: [(&str, usize, usize); 3] = [("64c1", 64, 1), ("64c3", 64, 3), ("128c1", 128, 1)];

#[test]
fn decoders_match_the_official_classes() {
    let g = golden();
    for (suffix, resolution, channels) in NETWORKS {
        let name = format!("decoder{suffix}");
        let config = autoencoder(resolution, channels);
        let (decoder, asked) = with_formula(|vb| Decoder::new(&config, vb));
        assert_eq!(
            asked,
            official_keys(&name),
            "{name}: tensor names and shapes"
        );
        let out = decoder.forward(&g[&format!("{name}.z")]).unwrap();
        let err = max_abs_diff(&out, &g[&format!("{name}.out")]);
        assert!(err < 1e-5, "{name}: max |diff| {err}");
    }
}

#[test]
fn encoders_match_the_official_classes() {
    let g = golden();
    for (suffix, resolution, channels) in NETWORKS {
        let name = format!("encoder{suffix}");
        let config = autoencoder(resolution, channels);
        let (encoder, asked) = with_formula(|vb| Encoder::new(&config, vb));
        assert_eq!(
            asked,
            official_keys(&name),
            "{name}: tensor names and shapes"
        );
        let out = encoder.forward(&g[&format!("{name}.x")]).unwrap();
        let err = max_abs_diff(&out, &g[&format!("{name}.out")]);
        assert!(err < 5e-5, "{name}: max |diff| {err}");
    }
}

/// Tolerances: x (relative to its largest entry), log-determinant, inverse, log-density.
fn check_flow(flow: &RealNvp, g: &HashMap<String, Tensor>, name: &str, tol: [f64; 4]) {
    let w = &g[&format!("{name}.w")];
    let (x, log_det) = flow.forward(w).unwrap();
    let x_ref = &g[&format!("{name}.x")];
    let scale = x_ref
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    let err = max_abs_diff(&x, x_ref) / scale;
    assert!(err < tol[0], "{name} x: {err} relative to the largest");
    let err = max_abs_diff(&log_det, &g[&format!("{name}.log_det")]);
    assert!(err < tol[1], "{name} log_det: {err}");
    let (w_back, inv_log_det) = flow.inverse(x_ref).unwrap();
    let err = max_abs_diff(&w_back, &g[&format!("{name}.w_back")]);
    assert!(err < tol[2], "{name} w_back: {err}");
    let err = max_abs_diff(&inv_log_det, &g[&format!("{name}.inv_log_det")]);
    // The inverse sees the scales of the data side, where float32 loses most.
    assert!(err < tol[3], "{name} inverse log_det: {err}");
    let log_prob = flow.log_prob(x_ref).unwrap();
    let err = max_abs_diff(&log_prob, &g[&format!("{name}.log_prob")]);
    assert!(err < tol[3], "{name} log_prob: {err}");
}

#[test]
fn the_prior_matches_the_official_flow() {
    let g = golden();
    let config = FlowConfig {
        latent_dim: 256,
        depth: 5,
    };
    let (flow, asked) = with_formula(|vb| RealNvp::new(&config, vb));
    assert_eq!(
        asked,
        official_keys("flow256"),
        "flow256: tensor names and shapes"
    );
    // Layer by layer the first couplings are well conditioned (README §4): the tolerance of
    // the whole is what float32 allows with scales up to e^7.9.
    check_flow(&flow, &g, "flow256", [1e-4, 1e-3, 0.05, 0.05]);
}

#[test]
fn an_official_flow_checkpoint_imports() {
    let g = golden();
    let tensors = funknn_core::read_tensors(&fixtures().join("flow_small.pt")).unwrap();
    assert!(tensors.contains_key("flows.0.b") && tensors.contains_key("q0.loc"));
    let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
    let config = FlowConfig {
        latent_dim: 16,
        depth: 3,
    };
    let flow = RealNvp::new(&config, vb).unwrap();
    check_flow(&flow, &g, "flow16", [1e-5, 1e-4, 1e-3, 5e-3]);
    // Our masks and buffers are the official ones.
    for (key, buffer) in flow.official_buffers().unwrap() {
        let official = tensors[&key].to_dtype(DType::F32).unwrap();
        assert_eq!(buffer.dims(), official.dims(), "{key}");
        assert_eq!(max_abs_diff(&buffer, &official), 0.0, "{key}");
    }
    assert_eq!(flow.mean_latent().unwrap().dims(), &[1, 16]);
}
