//! `FunkNN::forward_jet_frozen`: the graph-free jet with its host backward equals the
//! candle graph, values and gradients with respect to the image, for every order, kernel and
//! a spread of activations.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{f64s, max_abs_diff};
use funknn_core::{Activation, Config, FunkNN, JetOrder, KernelKind, Network};

fn check(activation: Activation, kernel: KernelKind, order: JetOrder, channels: usize) {
    check_at(activation, kernel, order, channels, false);
}

/// `raster`: the pixel centres of a 20×15 grid row by row (a rendering: y repeats along
/// each row, which the sampler reuses), else random points.
fn check_at(
    activation: Activation,
    kernel: KernelKind,
    order: JetOrder,
    channels: usize,
    raster: bool,
) {
    let config = Config {
        network: Network::Mlp,
        activation,
        kernel,
        channels,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&config, 3, DType::F32, &Device::Cpu).unwrap();
    let image = Tensor::rand(0f32, 1., (2, channels, 9, 7), &Device::Cpu).unwrap();
    // More points than one chunk, some on the border.
    let mut pts = Tensor::rand(0f32, 1., (2, 300, 2), &Device::Cpu)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
    if raster {
        let centre = |i: usize, n: usize| (i as f32 + 0.5) / n as f32;
        let grid: Vec<Vec<f32>> = (0..300)
            .map(|p| vec![centre(p % 20, 20), centre(p / 20, 15)])
            .collect();
        pts = vec![grid.clone(), grid];
    }
    pts[0][0] = vec![0.0, 1.0];
    pts[1][1] = vec![1.0, 0.0];
    let points = Tensor::new(pts, &Device::Cpu).unwrap();
    // A fixed random weighting of every part, so that each part's gradient counts.
    let k = order.parts();
    let weights = Tensor::rand(-1f32, 1., (k, 2, 300, channels), &Device::Cpu).unwrap();
    let run = |frozen: bool| {
        let var = Var::from_tensor(&image).unwrap();
        let jet = if frozen {
            model.forward_jet_frozen(var.as_tensor(), &points, order)
        } else {
            model.forward_jet(var.as_tensor(), &points, order)
        }
        .unwrap();
        let loss = (jet.parts() * &weights).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        (
            jet.parts().clone(),
            grads.get(var.as_tensor()).unwrap().clone(),
        )
    };
    let (parts_graph, grad_graph) = run(false);
    let (parts_frozen, grad_frozen) = run(true);
    let scale = |t: &Tensor| f64s(t).iter().fold(0f64, |m, v| m.max(v.abs())).max(1.0);
    let what = format!("{activation:?} {kernel:?} {order:?} C={channels}");
    let dv = max_abs_diff(&parts_graph, &parts_frozen) / scale(&parts_graph);
    assert!(dv < 1e-4, "{what}: parts differ by {dv:e} (relative)");
    let dg = max_abs_diff(&grad_graph, &grad_frozen) / scale(&grad_graph);
    assert!(
        dg < 1e-4,
        "{what}: image gradients differ by {dg:e} (relative)"
    );
}

#[test]
fn frozen_jet_equals_the_graph_for_values_and_image_gradients() {
    for order in [JetOrder::Value, JetOrder::Gradient, JetOrder::Laplacian] {
        check(Activation::Relu, KernelKind::Bicubic, order, 1);
        check(Activation::Gelu, KernelKind::Bspline, order, 1);
    }
    check(Activation::Sin, KernelKind::Bspline, JetOrder::Laplacian, 1);
    check(Activation::Tanh, KernelKind::Bicubic, JetOrder::Gradient, 3);
    for order in [JetOrder::Value, JetOrder::Laplacian] {
        check_at(Activation::Relu, KernelKind::Bicubic, order, 1, true);
    }
}

#[test]
fn frozen_jet_refuses_the_cnn_and_other_dtypes() {
    let cnn = Config {
        network: Network::Cnn,
        channels: 1,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&cnn, 0, DType::F32, &Device::Cpu).unwrap();
    let image = Tensor::zeros((1, 1, 8, 8), DType::F32, &Device::Cpu).unwrap();
    let points = Tensor::zeros((1, 3, 2), DType::F32, &Device::Cpu).unwrap();
    let err = model
        .forward_jet_frozen(&image, &points, JetOrder::Value)
        .unwrap_err()
        .to_string();
    assert!(err.contains("MLP"), "{err}");
    let mlp = Config {
        channels: 1,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&mlp, 0, DType::F64, &Device::Cpu).unwrap();
    let err = model
        .forward_jet_frozen(
            &image.to_dtype(DType::F64).unwrap(),
            &points,
            JetOrder::Value,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("f32"), "{err}");
}

#[test]
fn the_interpolant_skips_the_network_and_equals_the_graph() {
    for kernel in [KernelKind::Bspline, KernelKind::Bicubic] {
        let model = FunkNN::interpolant(kernel, 2, DType::F32, &Device::Cpu).unwrap();
        assert!(model.is_interpolant());
        let image = Tensor::rand(0f32, 1., (1, 2, 10, 12), &Device::Cpu).unwrap();
        let points = Tensor::rand(0f32, 1., (1, 290, 2), &Device::Cpu).unwrap();
        let weights = Tensor::rand(-1f32, 1., (4, 1, 290, 2), &Device::Cpu).unwrap();
        let run = |frozen: bool| {
            let var = Var::from_tensor(&image).unwrap();
            let jet = if frozen {
                model.forward_jet_frozen(var.as_tensor(), &points, JetOrder::Laplacian)
            } else {
                model.forward_jet(var.as_tensor(), &points, JetOrder::Laplacian)
            }
            .unwrap();
            let loss = (jet.parts() * &weights).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            (
                jet.parts().clone(),
                grads.get(var.as_tensor()).unwrap().clone(),
            )
        };
        let (pg, gg) = run(false);
        let (pf, gf) = run(true);
        // Relative to the largest entry: the Laplacian part carries the kernel's second
        // derivative times n², and f32 sums in another order differ in the last bits.
        let scale = |t: &Tensor| f64s(t).iter().fold(1f64, |m, v| m.max(v.abs()));
        let d = max_abs_diff(&pg, &pf) / scale(&pg);
        assert!(d < 1e-5, "{kernel:?}: parts differ by {d:e} (relative)");
        let d = max_abs_diff(&gg, &gf) / scale(&gg);
        assert!(
            d < 1e-5,
            "{kernel:?}: image gradients differ by {d:e} (relative)"
        );
    }
    let (trained, _) = FunkNN::random(
        &Config {
            channels: 1,
            ..Config::default()
        },
        0,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    assert!(!trained.is_interpolant());
}
