//! Jets and backprop through jets against f64 central finite differences.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{f64s, max_abs};
use funknn_core::{Activation, Config, FunkNN, JetOrder, KernelKind, Network, Rng};

fn random_tensor(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.uniform_in(lo, hi)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn setup(network: Network, kernel: KernelKind) -> (FunkNN, candle_nn::VarMap, Tensor, Tensor) {
    let config = Config {
        network,
        activation: Activation::Sin,
        kernel,
        channels: 3,
        ..Config::default()
    };
    let (model, vars) = FunkNN::random(&config, 42, DType::F64, &Device::Cpu).unwrap();
    let image = random_tensor(&[1, 3, 16, 20], 1, 0.0, 1.0);
    let points = random_tensor(&[1, 12, 2], 2, 0.08, 0.92);
    (model, vars, image, points)
}

fn shifted(points: &Tensor, dx: f64, dy: f64) -> Tensor {
    let d = Tensor::new(&[dx, dy], &Device::Cpu).unwrap();
    points.broadcast_add(&d).unwrap()
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    common::max_abs_diff(a, b) / max_abs(b).max(1e-12)
}

/// Gradient from central differences of the value, Hessian from central differences of
/// the (exact) gradient jet, and the Laplacian jet against the Hessian's trace.
fn check_jets(network: Network, kernel: KernelKind, h: f64) {
    let (m, _, image, points) = setup(network, kernel);
    let jet = m.forward_jet(&image, &points, JetOrder::Hessian).unwrap();
    let lap_jet = m.forward_jet(&image, &points, JetOrder::Laplacian).unwrap();
    let val = |dx, dy| {
        m.forward_jet(&image, &shifted(&points, dx, dy), JetOrder::Value)
            .unwrap()
            .value()
            .unwrap()
    };
    let grad = |dx, dy| {
        m.forward_jet(&image, &shifted(&points, dx, dy), JetOrder::Gradient)
            .unwrap()
            .gradient()
            .unwrap()
            .unwrap()
    };
    let fd_x = ((val(h, 0.0) - val(-h, 0.0)).unwrap() / (2.0 * h)).unwrap();
    let fd_y = ((val(0.0, h) - val(0.0, -h)).unwrap() / (2.0 * h)).unwrap();
    let g = jet.gradient().unwrap().unwrap();
    let e = rel(&g.narrow(3, 0, 1).unwrap().squeeze(3).unwrap(), &fd_x);
    assert!(e < 1e-4, "{network} {kernel} ∂x: {e:e}");
    let e = rel(&g.narrow(3, 1, 1).unwrap().squeeze(3).unwrap(), &fd_y);
    assert!(e < 1e-4, "{network} {kernel} ∂y: {e:e}");

    let dgx = ((grad(h, 0.0) - grad(-h, 0.0)).unwrap() / (2.0 * h)).unwrap();
    let dgy = ((grad(0.0, h) - grad(0.0, -h)).unwrap() / (2.0 * h)).unwrap();
    let hess = jet.hessian().unwrap().unwrap();
    let part = |t: &Tensor, i| t.narrow(3, i, 1).unwrap().squeeze(3).unwrap();
    for (name, ours, fd) in [
        ("xx", part(&hess, 0), part(&dgx, 0)),
        ("xy", part(&hess, 1), part(&dgx, 1)),
        ("yx", part(&hess, 1), part(&dgy, 0)),
        ("yy", part(&hess, 2), part(&dgy, 1)),
    ] {
        let e = rel(&ours, &fd);
        assert!(e < 1e-4, "{network} {kernel} ∂{name}: {e:e}");
    }
    let trace = (part(&dgx, 0) + part(&dgy, 1)).unwrap();
    let e = rel(&lap_jet.laplacian().unwrap().unwrap(), &trace);
    assert!(e < 1e-4, "{network} {kernel} Laplacian: {e:e}");
    // The lower orders of every jet agree with each other exactly.
    let v0 = m
        .forward_jet(&image, &points, JetOrder::Value)
        .unwrap()
        .value()
        .unwrap();
    assert!(rel(&lap_jet.value().unwrap(), &v0) < 1e-12);
    assert!(rel(&jet.value().unwrap(), &v0) < 1e-12);
}

#[test]
fn sin_mlp_jets_match_finite_differences() {
    check_jets(Network::Mlp, KernelKind::Bspline, 1e-5);
    check_jets(Network::Mlp, KernelKind::CubicConv, 1e-5);
}

#[test]
fn sin_cnn_jets_match_finite_differences() {
    // Max-pool is only piecewise smooth: with 12 points, two pooled values come within 1e−5
    // of a tie, so steps must stay below that (f64 keeps the rounding at ~1e−6).
    check_jets(Network::Cnn, KernelKind::Bspline, 1e-7);
}

fn var(vars: &candle_nn::VarMap, name: &str) -> Var {
    vars.data().lock().unwrap().get(name).unwrap().clone()
}

/// Loss `Σ r · Δu` with fixed random weights r.
fn laplacian_loss(m: &FunkNN, image: &Tensor, points: &Tensor) -> Tensor {
    let lap = m
        .forward_jet(image, points, JetOrder::Laplacian)
        .unwrap()
        .laplacian()
        .unwrap()
        .unwrap();
    let r = random_tensor(lap.dims(), 9, -1.0, 1.0);
    (lap * r).unwrap().sum_all().unwrap()
}

fn check_weight_gradients(network: Network, names: &[(&str, usize)]) {
    let (m, vars, image, points) = setup(network, KernelKind::Bspline);
    let image = Var::from_tensor(&image).unwrap();
    let loss = laplacian_loss(&m, image.as_tensor(), &points);
    let grads = loss.backward().unwrap();
    let h = 1e-6;
    let mut checks: Vec<(String, f64, f64)> = Vec::new();
    for &(name, index) in names {
        let v = var(&vars, name);
        let g = f64s(grads.get(v.as_tensor()).unwrap())[index];
        let orig = v.as_tensor().copy().unwrap();
        let mut plus = f64s(&orig);
        plus[index] += h;
        let mut minus = f64s(&orig);
        minus[index] -= h;
        let shape = orig.dims().to_vec();
        v.set(&Tensor::from_vec(plus, shape.clone(), &Device::Cpu).unwrap())
            .unwrap();
        let lp = laplacian_loss(&m, image.as_tensor(), &points)
            .to_scalar::<f64>()
            .unwrap();
        v.set(&Tensor::from_vec(minus, shape, &Device::Cpu).unwrap())
            .unwrap();
        let lm = laplacian_loss(&m, image.as_tensor(), &points)
            .to_scalar::<f64>()
            .unwrap();
        v.set(&orig).unwrap();
        checks.push((format!("{name}[{index}]"), g, (lp - lm) / (2.0 * h)));
    }
    // The image, through the sampler's gather (and the B-spline prefilter).
    let gi = f64s(grads.get(image.as_tensor()).unwrap());
    let idx = 3 * 16 * 20 / 2 + 7;
    let orig = image.as_tensor().copy().unwrap();
    let eval = |delta: f64| {
        let mut v = f64s(&orig);
        v[idx] += delta;
        image
            .set(&Tensor::from_vec(v, orig.dims(), &Device::Cpu).unwrap())
            .unwrap();
        laplacian_loss(&m, image.as_tensor(), &points)
            .to_scalar::<f64>()
            .unwrap()
    };
    let fd = (eval(h) - eval(-h)) / (2.0 * h);
    checks.push(("image".into(), gi[idx], fd));
    for (name, g, fd) in checks {
        let err = (g - fd).abs() / fd.abs().max(1e-3);
        assert!(
            err < 1e-4,
            "{network} ∂loss/∂{name}: backprop {g} vs finite differences {fd}"
        );
        assert!(fd.abs() > 1e-8, "{name}: the loss should depend on it");
    }
}

#[test]
fn laplacian_loss_backpropagates_to_mlp_weights_receptive_field_and_image() {
    check_weight_gradients(
        Network::Mlp,
        &[
            ("MLP.0.weight", 17),
            ("MLP.4.bias", 3),
            ("w.2", 0),
            ("ws1", 0),
            ("ws2", 0),
        ],
    );
}

#[test]
fn laplacian_loss_backpropagates_to_cnn_weights() {
    check_weight_gradients(
        Network::Cnn,
        &[("CNNs.3.weight", 40), ("MLP.1.weight", 5), ("ws1", 0)],
    );
}

/// `evaluate` (graph-free engine) and `forward_jet` (candle ops) compute the same jets, for
/// every activation, both networks and every jet order.
#[test]
fn evaluate_equals_forward_jet_for_every_architecture() {
    let image = random_tensor(&[2, 3, 12, 15], 4, 0.0, 1.0);
    let points = random_tensor(&[2, 37, 2], 5, -0.1, 1.1);
    for network in Network::ALL {
        for activation in Activation::ALL {
            let config = Config {
                network: *network,
                activation: *activation,
                kernel: KernelKind::Bspline,
                channels: 3,
                ..Config::default()
            };
            let (m, _) = FunkNN::random(&config, 3, DType::F64, &Device::Cpu).unwrap();
            for order in [
                JetOrder::Value,
                JetOrder::Gradient,
                JetOrder::Laplacian,
                JetOrder::Hessian,
            ] {
                let a = m.forward_jet(&image, &points, order).unwrap();
                let opts = funknn_core::EvalOptions {
                    chunk_points: 10,
                    threads: 2,
                };
                let b = m.evaluate(&image, &points, order, opts).unwrap();
                let e = rel(b.parts(), a.parts());
                assert!(e < 1e-10, "{network} {activation} {order:?}: {e:e}");
            }
        }
    }
}

#[test]
fn fast_f32_sine_is_accurate() {
    let mut worst = 0f64;
    for i in -200_000..200_000 {
        let x = i as f32 * 0.0173;
        let (s, c) = funknn_core::sin_cos_f32(x);
        let (es, ec) = (x as f64).sin_cos();
        worst = worst.max((s as f64 - es).abs()).max((c as f64 - ec).abs());
    }
    assert!(worst < 2e-6, "max error {worst:e} on |x| < 3460");
}
