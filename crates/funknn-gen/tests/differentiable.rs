//! The functional generator is differentiable end to end: the gradient of a loss on `u` or
//! `Δu` with respect to the latent, through FunkNN and the decoder, matches central finite
//! differences; and it renders consistently at any size.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use funknn_core::{Activation, Config, FunkNN, JetOrder, KernelKind};
use funknn_gen::{
    AutoencoderConfig, Decoder, FlowConfig, FunctionalGenerator, LatentPrior, RealNvp,
};

const LATENT: usize = 8;

/// A small random generator in f64: a 32² grey decoder at a quarter width, a two-coupling
/// prior, and a smooth FunkNN (sine MLP, B-spline kernel), so that Δu is smooth in the latent.
fn generator() -> FunctionalGenerator<RealNvp, Decoder> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
    let ae = AutoencoderConfig {
        latent_dim: LATENT,
        resolution: 32,
        channels: 1,
        width: 0.25,
    };
    let decoder = Decoder::new(&ae, vb.pp("decoder")).unwrap();
    let flow = FlowConfig {
        latent_dim: LATENT,
        depth: 2,
    };
    let prior = RealNvp::new(&flow, vb.pp("flow")).unwrap();
    let config = Config {
        channels: 1,
        activation: Activation::Sin,
        kernel: KernelKind::Bspline,
        ..Config::default()
    };
    let (funknn, _) = FunkNN::random(&config, 5, DType::F64, &Device::Cpu).unwrap();
    FunctionalGenerator::new(prior, decoder, funknn).unwrap()
}

fn points() -> Tensor {
    let p: Vec<f64> = vec![0.31, 0.42, 0.77, 0.18, 0.52, 0.66, 0.12, 0.91, 0.45, 0.53];
    Tensor::from_vec(p, (1, 5, 2), &Device::Cpu).unwrap()
}

/// `L = Σ_k c_k · part_k` at the fixed points, for the jet part `part` (0: u, last: Δu).
fn loss(g: &FunctionalGenerator<RealNvp, Decoder>, latent: &Tensor, laplacian: bool) -> Tensor {
    let jet = g.jet(latent, &points(), JetOrder::Laplacian).unwrap();
    let part = if laplacian {
        jet.laplacian().unwrap().unwrap()
    } else {
        jet.value().unwrap()
    };
    let weights = Tensor::new(&[[[1.0f64], [-0.5], [0.25], [2.0], [-1.5]]], &Device::Cpu).unwrap();
    (part * weights).unwrap().sum_all().unwrap()
}

#[test]
fn latent_gradients_through_decoder_and_funknn_match_finite_differences() {
    let g = generator();
    let base = funknn_gen::standard_normal(1, LATENT, 3)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap();
    for laplacian in [false, true] {
        let latent = Var::from_tensor(&base).unwrap();
        let l = loss(&g, latent.as_tensor(), laplacian);
        let grads = l.backward().unwrap();
        let grad: Vec<f64> = grads
            .get(latent.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let eps = 1e-6;
        let at = |i: usize, d: f64| -> f64 {
            let mut v: Vec<f64> = base.flatten_all().unwrap().to_vec1().unwrap();
            v[i] += d;
            let z = Tensor::from_vec(v, (1, LATENT), &Device::Cpu).unwrap();
            loss(&g, &z, laplacian).to_scalar().unwrap()
        };
        let scale = grad.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(scale > 0.0, "a zero gradient tests nothing");
        for (i, &gi) in grad.iter().enumerate() {
            let fd = (at(i, eps) - at(i, -eps)) / (2.0 * eps);
            let rel = (gi - fd).abs() / scale;
            assert!(
                rel < 1e-4,
                "laplacian={laplacian} ∂L/∂z{i}: backprop {gi}, fd {fd}"
            );
        }
    }
}

#[test]
fn the_prior_gives_seeded_samples_and_rendering_is_consistent_across_sizes() {
    let g = generator();
    let a = g.sample_latents(3, 0.7, 11).unwrap();
    let b = g.sample_latents(3, 0.7, 11).unwrap();
    let c = g.sample_latents(3, 0.7, 12).unwrap();
    let max = |t: Tensor| -> f64 { t.abs().unwrap().max_all().unwrap().to_scalar().unwrap() };
    let (same, other) = (max((&a - &b).unwrap()), max((&a - &c).unwrap()));
    assert_eq!(same, 0.0);
    assert!(other > 0.0);
    assert!(g.prior().log_prob(&a.to_dtype(DType::F64).unwrap()).is_ok());
    // The graph-free rendering equals the differentiable jet at the same pixel centres.
    let latent = a.narrow(0, 0, 1).unwrap().to_dtype(DType::F64).unwrap();
    let rendered = g.render(&latent, 12, 10, 37).unwrap();
    assert_eq!(rendered.dims(), &[1, 1, 12, 10]);
    let centres = funknn_core::coords::pixel_centres(12, 10, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let jet = g.jet(&latent, &centres, JetOrder::Value).unwrap();
    let graph = jet.value().unwrap().reshape((1, 1, 12, 10)).unwrap();
    let diff: f64 = (rendered.to_dtype(DType::F64).unwrap() - graph)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(
        diff < 1e-5,
        "graph-free and graph renderings differ by {diff}"
    );
    // Mismatched parts are refused.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let ae = AutoencoderConfig {
        latent_dim: LATENT,
        resolution: 32,
        channels: 1,
        width: 0.25,
    };
    let decoder = Decoder::new(&ae, vb.pp("d")).unwrap();
    let wide = RealNvp::new(
        &FlowConfig {
            latent_dim: LATENT + 1,
            depth: 1,
        },
        vb.pp("f"),
    )
    .unwrap();
    let (rgb, _) = FunkNN::random(&Config::default(), 0, DType::F32, &Device::Cpu).unwrap();
    assert!(FunctionalGenerator::new(wide, decoder.clone(), rgb.clone()).is_err());
    let prior = RealNvp::new(
        &FlowConfig {
            latent_dim: LATENT,
            depth: 1,
        },
        vb.pp("g"),
    )
    .unwrap();
    let err = FunctionalGenerator::new(prior, decoder, rgb).err().unwrap();
    assert!(err.to_string().contains("1-channel"), "{err}");
}
