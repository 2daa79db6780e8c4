//! Parity with the official implementation on `tests/fixtures/golden/` (the official code's outputs).

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use funknn_core::coords::{from_official, swap_xy};
use funknn_core::{Activation, Config, FunkNN, JetOrder, KernelKind, Network};

fn config(kernel: KernelKind) -> Config {
    Config {
        network: Network::Mlp,
        activation: Activation::Relu,
        kernel,
        channels: 3,
        ..Config::default()
    }
}

fn inputs(dtype: DType) -> (Tensor, Tensor) {
    let g = golden();
    let image = g["image"].to_dtype(dtype).unwrap();
    let points = from_official(&g["coords"])
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    (image, points)
}

fn model(kernel: KernelKind, dtype: DType) -> FunkNN {
    let path = golden_dir().join("funknn_mlp_relu.safetensors");
    FunkNN::import(path, &config(kernel), dtype, &Device::Cpu).unwrap()
}

const KERNELS: [(KernelKind, &str); 3] = [
    (KernelKind::CubicConv, "cubic_conv"),
    (KernelKind::Bicubic, "bicubic"),
    (KernelKind::Bilinear, "bilinear"),
];

#[test]
fn patches_match() {
    let g = golden();
    for dtype in [DType::F32, DType::F64] {
        let (image, points) = inputs(dtype);
        for (kernel, name) in KERNELS {
            let m = model(kernel, dtype);
            let patch = m
                .sampler()
                .sample(&image, &points, JetOrder::Value)
                .unwrap()
                .value()
                .unwrap();
            let err = max_abs_diff(&patch, &g[&format!("{name}.patch")]);
            eprintln!("{name} {dtype:?} patch max abs diff {err:.2e}");
            assert!(err <= 1e-5, "{name} {dtype:?} patch max abs diff {err:e}");
        }
    }
}

#[test]
fn values_match_for_every_kernel() {
    let g = golden();
    for dtype in [DType::F32, DType::F64] {
        let (image, points) = inputs(dtype);
        for (kernel, name) in KERNELS {
            let m = model(kernel, dtype);
            let jet = m.forward_jet(&image, &points, JetOrder::Value).unwrap();
            let err = max_abs_diff(&jet.value().unwrap(), &g[&format!("{name}.value")]);
            eprintln!("{name} {dtype:?} value max abs diff {err:.2e}");
            assert!(err <= 1e-5, "{name} {dtype:?} value max abs diff {err:e}");
        }
    }
}

/// Gradient and Laplacian of the channel sum, in the official (row, col) order.
fn official_derivatives(
    m: &FunkNN,
    image: &Tensor,
    points: &Tensor,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let jet = m.forward_jet(image, points, JetOrder::Laplacian).unwrap();
    let jacobian = swap_xy(&jet.gradient().unwrap().unwrap()).unwrap(); // (N, P, C, 2)
    let laplacian = jet.laplacian().unwrap().unwrap(); // (N, P, C)
    let grad = jacobian.sum(2).unwrap();
    let lap = laplacian.sum_keepdim(2).unwrap();
    (grad, lap, jacobian, laplacian)
}

#[test]
fn derivatives_match_the_f64_reference() {
    let g = golden();
    for dtype in [DType::F32, DType::F64] {
        let (image, points) = inputs(dtype);
        for (kernel, name) in &KERNELS[..2] {
            let m = model(*kernel, dtype);
            let (grad, lap, jac, lap_c) = official_derivatives(&m, &image, &points);
            let checks = [
                ("grad", grad, format!("f64.{name}.grad")),
                ("laplace", lap, format!("f64.{name}.laplace")),
            ];
            for (what, ours, key) in checks {
                let reference = &g[&key];
                let err = rel_err(&ours, reference);
                eprintln!("{name} {dtype:?} {what} relative error {err:.2e}");
                assert!(
                    err <= 1e-4,
                    "{name} {dtype:?} {what}: relative error {err:e}"
                );
            }
            if *kernel == KernelKind::CubicConv {
                let err = rel_err(&jac, &g["f64.cubic_conv.jacobian"]);
                assert!(err <= 1e-4, "{dtype:?} jacobian: relative error {err:e}");
                let err = rel_err(&lap_c, &g["f64.cubic_conv.laplace_per_channel"]);
                assert!(
                    err <= 1e-4,
                    "{dtype:?} laplace per channel: relative error {err:e}"
                );
            }
        }
    }
}

#[test]
fn official_checkpoint_imports_one_to_one() {
    let from_pt = FunkNN::import(
        golden_dir().join("funknn_mlp_relu.pt"),
        &config(KernelKind::Bicubic),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let from_st = model(KernelKind::Bicubic, DType::F32);
    assert_eq!(from_pt.parameters().len(), from_st.parameters().len());
    for ((na, a), (nb, b)) in from_pt.parameters().iter().zip(from_st.parameters()) {
        assert_eq!(na, nb);
        assert_eq!(
            max_abs_diff(a, b),
            0.0,
            "{na} differs between .pt and .safetensors"
        );
    }
    let g = golden();
    let (image, points) = inputs(DType::F32);
    let value = from_pt
        .forward_jet(&image, &points, JetOrder::Value)
        .unwrap()
        .value()
        .unwrap();
    let err = max_abs_diff(&value, &g["bicubic.value"]);
    assert!(err <= 1e-5, "value from .pt: {err:e}");
}

#[test]
fn chunked_evaluation_equals_one_pass() {
    let (image, points) = inputs(DType::F32);
    let m = model(KernelKind::CubicConv, DType::F32);
    let one = m.forward_jet(&image, &points, JetOrder::Hessian).unwrap();
    let opts = funknn_core::EvalOptions {
        chunk_points: 37,
        threads: 2,
    };
    let chunked = m
        .evaluate(&image, &points, JetOrder::Hessian, opts)
        .unwrap();
    // evaluate() samples on the host in f64 and uses another GEMM: f32 rounding differs.
    for k in 0..6 {
        let (a, b) = (one.part(k).unwrap(), chunked.part(k).unwrap());
        let err = rel_err(&b, &a);
        assert!(err < 1e-5, "part {k}: {err:e}");
    }
}

#[test]
fn host_sampler_equals_the_differentiable_one() {
    let (image, points) = inputs(DType::F64);
    for kernel in KernelKind::ALL {
        let m = model(*kernel, DType::F64);
        let s = m.sampler();
        let prepared = s.prepare(&image).unwrap();
        let host = funknn_core::sampler::HostImages::<f64>::new(&prepared).unwrap();
        for order in [
            JetOrder::Value,
            JetOrder::Gradient,
            JetOrder::Laplacian,
            JetOrder::Hessian,
        ] {
            let a = s.sample_prepared(&prepared, &points, order).unwrap();
            let b = s.sample_host(&host, &points, order).unwrap();
            let err = rel_err(b.parts(), a.parts());
            assert!(err < 1e-12, "{kernel} {order:?}: {err:e}");
        }
    }
}

#[test]
fn evaluate_in_f64_matches_the_official_f64_derivatives() {
    let g = golden();
    let (image, points) = inputs(DType::F64);
    let m = model(KernelKind::CubicConv, DType::F64);
    let jet = m
        .evaluate(&image, &points, JetOrder::Laplacian, Default::default())
        .unwrap();
    let jac = swap_xy(&jet.gradient().unwrap().unwrap()).unwrap();
    let err = rel_err(&jac, &g["f64.cubic_conv.jacobian"]);
    assert!(err < 1e-10, "jacobian {err:e}");
    let err = rel_err(
        &jet.laplacian().unwrap().unwrap(),
        &g["f64.cubic_conv.laplace_per_channel"],
    );
    assert!(err < 1e-10, "laplacian {err:e}");
}
