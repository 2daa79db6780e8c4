//! Sobolev training: the loss with L1 terms on `∇u` and `Δu`, its gradient on both paths,
//! and exact resumption.

use std::collections::HashMap;
mod common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::{f64s, synthetic_images};
use funknn_core::network::InitScheme;
use funknn_core::train::{
    export_centred, sobolev_gradients, sobolev_gradients_graph, sorted_vars, BatchSpec,
    ImageFolder, SobolevLoss, TargetDerivatives, TrainConfig, TrainMode, Trainer,
};
use funknn_core::{Activation, Config, FunkNN, KernelKind, Rng};

struct Problem {
    images: Tensor,
    points: Tensor,
    targets: Tensor,
    derivatives: TargetDerivatives,
}

/// Random inputs on non-square images (ws1 and ws2 see different sizes) and random
/// targets of the size of real ones (a 26-pixel target side).
fn problem(dtype: DType, p: usize, seed: u64) -> Problem {
    let dev = Device::Cpu;
    let mut rng = Rng::new(seed);
    let mut uniform = |n: usize, lo: f64, hi: f64| -> Vec<f64> {
        (0..n).map(|_| rng.uniform_in(lo, hi)).collect()
    };
    let (n, c, h, w) = (2, 3, 13, 17);
    let side = 26;
    let t = |v: Vec<f64>, shape: &[usize]| {
        Tensor::from_vec(v, shape, &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    };
    Problem {
        images: t(uniform(n * c * h * w, 0.0, 1.0), &[n, c, h, w]),
        points: t(uniform(n * p * 2, -0.1, 1.1), &[n, p, 2]),
        targets: t(uniform(n * p * c, 0.0, 1.0), &[n, p, c]),
        derivatives: TargetDerivatives {
            gradient: t(uniform(n * p * c * 2, -20.0, 20.0), &[n, p, c, 2]),
            laplacian: t(uniform(n * p * c, -400.0, 400.0), &[n, p, c]),
            side,
        },
    }
}

fn loss<'a>(pb: &'a Problem, gradient_weight: f64, laplacian_weight: f64) -> SobolevLoss<'a> {
    SobolevLoss {
        gradient_weight,
        laplacian_weight,
        targets: &pb.derivatives,
    }
}

/// The largest difference relative to the largest entry of `b`.
fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
    common::max_abs_diff(a, b) / common::max_abs(b).max(1e-30)
}

/// The graph-free gradient through the MLP's Laplacian jets equals candle's backprop, for
/// every parameter (ω and the receptive field included) and every smooth activation.
#[test]
fn host_sobolev_gradients_equal_backprop() {
    let pb = problem(DType::F32, 300, 7);
    for (activation, kernel, scheme, points) in [
        (
            Activation::Sin,
            KernelKind::Bspline,
            InitScheme::Pytorch,
            300,
        ),
        (Activation::Gelu, KernelKind::Bspline, InitScheme::He, 300),
        (Activation::Silu, KernelKind::Bicubic, InitScheme::He, 300),
        (
            Activation::Tanh,
            KernelKind::CubicConv,
            InitScheme::Pytorch,
            300,
        ),
        // ReLU: few points, so that no pre-activation sits within f32 noise of the kink.
        (Activation::Relu, KernelKind::Bspline, InitScheme::He, 20),
    ] {
        let config = Config {
            activation,
            kernel,
            ..Config::default()
        };
        let (model, _vars) =
            FunkNN::random_with(&config, scheme, 5, DType::F32, &Device::Cpu).unwrap();
        let narrow = |t: &Tensor| t.narrow(1, 0, points).unwrap();
        let sub = Problem {
            images: pb.images.clone(),
            points: narrow(&pb.points),
            targets: narrow(&pb.targets),
            derivatives: TargetDerivatives {
                gradient: narrow(&pb.derivatives.gradient),
                laplacian: narrow(&pb.derivatives.laplacian),
                side: pb.derivatives.side,
            },
        };
        let sob = loss(&sub, 0.7, 0.3);
        let host =
            sobolev_gradients(&model, &sub.images, &sub.points, &sub.targets, &sob, false).unwrap();
        let graph =
            sobolev_gradients_graph(&model, &sub.images, &sub.points, &sub.targets, &sob).unwrap();
        let what = format!("{activation:?} {kernel:?}");
        assert!(
            (host.loss - graph.loss).abs() <= 1e-5 * graph.loss,
            "{what}: loss {} vs {}",
            host.loss,
            graph.loss
        );
        assert!((host.gradient_loss[0] - graph.gradient_loss[0]).abs() <= 1e-5);
        assert!((host.laplacian_loss[0] - graph.laplacian_loss[0]).abs() <= 1e-5);
        // The interpolation's derivative errors are reported too, and differ from the model's.
        assert!(host.gradient_loss[1] > 0.0 && host.gradient_loss[1] != host.gradient_loss[0]);
        let mut names: Vec<_> = graph.grads.keys().cloned().collect();
        names.sort();
        let mut host_names: Vec<_> = host.grads.keys().cloned().collect();
        host_names.sort();
        assert_eq!(host_names, names, "{what}");
        for name in &names {
            let err = max_rel(&host.grads[name], &graph.grads[name]);
            assert!(err <= 5e-4, "{what} {name}: {err:e}");
        }
    }
}

/// Centred patches (the shipped recipe): the loss is the exported model's, and every
/// gradient but the first layer's (whose coordinates change) equals its backprop.
#[test]
fn centred_sobolev_gradients_are_the_exported_models() {
    let pb = problem(DType::F32, 200, 9);
    let config = Config {
        activation: Activation::Sin,
        kernel: KernelKind::Bspline,
        ..Config::default()
    };
    let (model, _) =
        FunkNN::random_with(&config, InitScheme::He, 2, DType::F32, &Device::Cpu).unwrap();
    let sob = loss(&pb, 1.0, 1.0);
    let centred =
        sobolev_gradients(&model, &pb.images, &pb.points, &pb.targets, &sob, true).unwrap();
    let mut tensors: HashMap<String, Tensor> = model
        .parameters()
        .iter()
        .map(|(n, t)| {
            let var = candle_core::Var::from_tensor(&t.detach()).unwrap();
            (n.clone(), var.as_tensor().clone())
        })
        .collect();
    let exported = export_centred(&tensors["MLP.0.weight"], 3, 9).unwrap();
    let exported = candle_core::Var::from_tensor(&exported).unwrap();
    tensors.insert("MLP.0.weight".into(), exported.as_tensor().clone());
    let plain =
        FunkNN::from_tensors(&config, tensors, DType::F32, &Device::Cpu, Path::new("t")).unwrap();
    let graph = sobolev_gradients_graph(&plain, &pb.images, &pb.points, &pb.targets, &sob).unwrap();
    assert!((centred.loss - graph.loss).abs() <= 1e-5 * graph.loss);
    for (name, g) in &graph.grads {
        if name == "MLP.0.weight" {
            continue;
        }
        let err = max_rel(&centred.grads[name], g);
        assert!(err <= 5e-4, "{name}: {err:e}");
    }
}

/// The Sobolev loss's gradient by candle's backprop (which the graph-free path equals)
/// agrees with central differences of the loss, in f64, for weights of several layers, ω
/// and the receptive field.
#[test]
fn sobolev_gradients_match_finite_differences() {
    let pb = problem(DType::F64, 24, 3);
    for activation in [Activation::Sin, Activation::Gelu] {
        let config = Config {
            activation,
            kernel: KernelKind::Bspline,
            ..Config::default()
        };
        let (model, vars) = FunkNN::random(&config, 8, DType::F64, &Device::Cpu).unwrap();
        let sob = loss(&pb, 0.5, 0.25);
        let total = || {
            sobolev_gradients_graph(&model, &pb.images, &pb.points, &pb.targets, &sob)
                .unwrap()
                .loss as f64
        };
        let loss_f64 = |model: &FunkNN| -> f64 {
            // The f32 `loss` field rounds; recompute it in f64 from the jets.
            let jet = model
                .forward_jet(&pb.images, &pb.points, funknn_core::JetOrder::Laplacian)
                .unwrap();
            let side = pb.derivatives.side as f64;
            let mean_abs = |a: Tensor, b: &Tensor| -> f64 {
                (a - b)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .mean_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            mean_abs(jet.value().unwrap(), &pb.targets)
                + 0.5 * mean_abs(jet.gradient().unwrap().unwrap(), &pb.derivatives.gradient) / side
                + 0.25 * mean_abs(jet.laplacian().unwrap().unwrap(), &pb.derivatives.laplacian)
                    / (side * side)
        };
        assert!((total() - loss_f64(&model)).abs() < 1e-6 * total());
        let grads = sobolev_gradients_graph(&model, &pb.images, &pb.points, &pb.targets, &sob)
            .unwrap()
            .grads;
        let mut checked = 0;
        for (name, var) in sorted_vars(&vars).unwrap() {
            let entries: &[usize] = match name.as_str() {
                "MLP.0.weight" => &[0, 4000],
                "MLP.4.bias" => &[3],
                "MLP.9.weight" => &[10],
                "w.2" if activation == Activation::Sin => &[0],
                "ws1" | "ws2" => &[0],
                _ => continue,
            };
            let base: Vec<f64> = f64s(var.as_tensor());
            let g = f64s(&grads[&name]);
            for &k in entries {
                let h = 1e-6 * base[k].abs().max(1.0);
                let at = |delta: f64| {
                    let mut v = base.clone();
                    v[k] += delta;
                    var.set(&Tensor::from_vec(v, var.as_tensor().dims(), &Device::Cpu).unwrap())
                        .unwrap();
                    loss_f64(&model)
                };
                let fd = (at(h) - at(-h)) / (2.0 * h);
                at(0.0);
                let err = (fd - g[k]).abs();
                assert!(
                    err <= 1e-5 * g[k].abs().max(1e-3),
                    "{activation:?} {name}[{k}]: backprop {} vs differences {fd}",
                    g[k]
                );
                checked += 1;
            }
        }
        assert!(checked >= 6, "{checked} entries checked");
    }
}

/// A resumed Sobolev run equals an unbroken one, losses and derivative terms alike.
#[test]
fn resumed_sobolev_run_matches_an_unbroken_one() {
    let scratch = common::scratch("sobolev-resume");
    let dir = &scratch.0;
    synthetic_images(dir, 3);
    let data = ImageFolder::open(dir, 3, 32, 0).unwrap();
    let config = TrainConfig {
        model: Config {
            activation: Activation::Sin,
            kernel: KernelKind::Bspline,
            ..Config::default()
        },
        mode: TrainMode::Factor,
        crop: 32,
        batch: 2,
        points: 32,
        lr: 1e-3,
        steps: 6,
        checkpoint_every: 0,
        seed: 3,
        gradient_weight: 0.5,
        laplacian_weight: 0.2,
        ..TrainConfig::default()
    };
    let mut whole = Trainer::new(config.clone()).unwrap();
    while !whole.done() {
        whole.step(&data).unwrap();
    }
    let mut first = Trainer::new(config).unwrap();
    for _ in 0..4 {
        first.step(&data).unwrap();
    }
    let ckpt = dir.join("ckpt");
    first.save_checkpoint(&ckpt).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&ckpt).unwrap();
    while !resumed.done() {
        resumed.step(&data).unwrap();
    }
    assert_eq!(whole.losses(), resumed.losses(), "the resumed run diverged");
    assert_eq!(whole.derivative_losses().len(), 6);
    assert_eq!(whole.derivative_losses(), resumed.derivative_losses());
}

/// Batches with derivatives draw what batches without them draw, and the targets'
/// derivatives are those of the target image (a constant-free check: the mean Laplacian
/// of smooth sinusoids is finite and nonzero, and the gradient has the size of 2π·a few).
#[test]
fn batches_with_derivatives_draw_the_same_pairs() {
    let scratch = common::scratch("sobolev-batch");
    synthetic_images(&scratch.0, 2);
    let data = ImageFolder::open(&scratch.0, 3, 32, 0).unwrap();
    let spec = BatchSpec::factor(2, 32, 40);
    let (images, points, targets) = data.sample(&spec, &mut Rng::new(5)).unwrap();
    let batch = data.sample_batch(&spec, &mut Rng::new(5), true).unwrap();
    assert_eq!(f64s(&images), f64s(&batch.images));
    assert_eq!(f64s(&points), f64s(&batch.points));
    assert_eq!(f64s(&targets), f64s(&batch.targets));
    let d = batch.derivatives.unwrap();
    assert_eq!(d.gradient.dims(), &[2, 40, 3, 2]);
    assert_eq!(d.laplacian.dims(), &[2, 40, 3]);
    let g = f64s(&d.gradient);
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|v| v.abs() > 1.0));
}

/// Derivative targets of the wrong shape are an error naming them, on both paths.
#[test]
fn mismatched_derivative_targets_are_clear_errors() {
    let pb = problem(DType::F32, 10, 1);
    let config = Config {
        activation: Activation::Gelu,
        kernel: KernelKind::Bspline,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&config, 1, DType::F32, &Device::Cpu).unwrap();
    let short = TargetDerivatives {
        gradient: pb.derivatives.gradient.narrow(1, 0, 9).unwrap(),
        laplacian: pb.derivatives.laplacian.clone(),
        side: pb.derivatives.side,
    };
    let sob = SobolevLoss {
        gradient_weight: 1.0,
        laplacian_weight: 1.0,
        targets: &short,
    };
    let host = sobolev_gradients(&model, &pb.images, &pb.points, &pb.targets, &sob, false);
    let graph = sobolev_gradients_graph(&model, &pb.images, &pb.points, &pb.targets, &sob);
    for err in [host.unwrap_err(), graph.unwrap_err()] {
        assert!(err.to_string().contains("target gradient"), "{err}");
    }
}
