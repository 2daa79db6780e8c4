//! The sampler and its jets on analytic images, against closed forms.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use funknn_core::{JetOrder, KernelKind, PatchSampler};
use std::collections::HashMap;

fn sampler(kernel: KernelKind) -> PatchSampler {
    let mut t = HashMap::new();
    t.insert(
        "ws1".to_string(),
        Tensor::new(&[1f64], &Device::Cpu).unwrap(),
    );
    t.insert(
        "ws2".to_string(),
        Tensor::new(&[1f64], &Device::Cpu).unwrap(),
    );
    PatchSampler::new(
        kernel,
        9,
        VarBuilder::from_tensors(t, DType::F64, &Device::Cpu),
    )
    .unwrap()
}

/// Samples `f(x, y)` at the pixel centres of an h×w image: shape (1, 1, h, w).
fn image(h: usize, w: usize, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let mut v = Vec::with_capacity(h * w);
    for i in 0..h {
        for j in 0..w {
            v.push(f((j as f64 + 0.5) / w as f64, (i as f64 + 0.5) / h as f64));
        }
    }
    Tensor::from_vec(v, (1, 1, h, w), &Device::Cpu).unwrap()
}

fn points(p: &[(f64, f64)]) -> Tensor {
    let flat: Vec<f64> = p.iter().flat_map(|&(x, y)| [x, y]).collect();
    Tensor::from_vec(flat, (1, p.len(), 2), &Device::Cpu).unwrap()
}

/// The centre sample's jet parts: `[part][point]`.
fn centre_jet(
    s: &PatchSampler,
    img: &Tensor,
    pts: &[(f64, f64)],
    order: JetOrder,
) -> Vec<Vec<f64>> {
    let jet = s.sample(img, &points(pts), order).unwrap();
    (0..order.parts())
        .map(|k| {
            jet.part(k)
                .unwrap()
                .narrow(2, 4, 1)
                .unwrap()
                .narrow(3, 4, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        })
        .collect()
}

/// Interior points, far enough from the border that reflection does not matter.
fn interior(n: usize) -> Vec<(f64, f64)> {
    let mut rng = funknn_core::Rng::new(3);
    (0..n)
        .map(|_| (rng.uniform_in(0.35, 0.65), rng.uniform_in(0.35, 0.65)))
        .collect()
}

#[test]
fn bspline_reproduces_the_image_at_pixel_centres() {
    let (h, w) = (13, 17);
    let mut rng = funknn_core::Rng::new(11);
    let data: Vec<f64> = (0..h * w).map(|_| rng.uniform()).collect();
    let img = Tensor::from_vec(data.clone(), (1, 1, h, w), &Device::Cpu).unwrap();
    let centres: Vec<(f64, f64)> = (0..h * w)
        .map(|k| {
            (
                ((k % w) as f64 + 0.5) / w as f64,
                ((k / w) as f64 + 0.5) / h as f64,
            )
        })
        .collect();
    let got = &centre_jet(
        &sampler(KernelKind::Bspline),
        &img,
        &centres,
        JetOrder::Value,
    )[0];
    let err = got
        .iter()
        .zip(&data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-6, "B-spline misses pixel values by {err:e}");
    // Sampling the unfiltered image with β³ would blur it: the prefilter matters.
    assert!(data.iter().any(|&v| (v - 0.5).abs() > 0.3));
}

#[test]
fn plane_gradient_and_zero_hessian() {
    let (a, b, c) = (0.3, 1.7, -0.9);
    let img = image(48, 64, |x, y| a + b * x + c * y);
    let pts = interior(40);
    // PyTorch's bicubic (a = −3/4) reproduces only constants, so it is checked on one below.
    for kernel in [
        KernelKind::Bilinear,
        KernelKind::CubicConv,
        KernelKind::Bspline,
    ] {
        let order = if kernel == KernelKind::Bilinear {
            JetOrder::Gradient
        } else {
            JetOrder::Hessian
        };
        let parts = centre_jet(&sampler(kernel), &img, &pts, order);
        for (i, &(x, y)) in pts.iter().enumerate() {
            let want = [a + b * x + c * y, b, c, 0.0, 0.0, 0.0];
            for k in 0..order.parts() {
                // Second derivatives carry a factor n² ≈ 4000 of rounding.
                let base = if k >= 3 { 1e-6 } else { 1e-8 };
                let tol = base
                    + if kernel == KernelKind::CubicConv {
                        1e-4
                    } else {
                        0.0
                    };
                assert!(
                    (parts[k][i] - want[k]).abs() < tol,
                    "{kernel} part {k} at ({x}, {y}): {} vs {}",
                    parts[k][i],
                    want[k]
                );
            }
        }
    }
}

#[test]
fn constant_image_has_zero_derivatives_for_every_kernel() {
    let img = image(20, 30, |_, _| 0.625);
    let pts = interior(30);
    for kernel in KernelKind::ALL {
        let parts = centre_jet(&sampler(*kernel), &img, &pts, JetOrder::Hessian);
        for (k, part) in parts.iter().enumerate() {
            let want = if k == 0 { 0.625 } else { 0.0 };
            let err = part.iter().map(|v| (v - want).abs()).fold(0.0, f64::max);
            assert!(err < 1e-5, "{kernel} part {k}: {err:e}");
        }
    }
}

#[test]
fn quadratic_hessian_is_exact_for_keys_and_bspline() {
    // Keys (a = −1/2) and the cubic B-spline reproduce quadratics exactly.
    let f = |x: f64, y: f64| 0.2 + x * x + 0.5 * x * y - 0.7 * y * y;
    let img = image(40, 56, f);
    let pts = interior(40);
    for kernel in [KernelKind::CubicConv, KernelKind::Bspline] {
        let parts = centre_jet(&sampler(kernel), &img, &pts, JetOrder::Hessian);
        for (i, &(x, y)) in pts.iter().enumerate() {
            let want = [
                f(x, y),
                2.0 * x + 0.5 * y,
                0.5 * x - 1.4 * y,
                2.0,
                0.5,
                -1.4,
            ];
            for k in 0..6 {
                // cubic_conv's official +1e−6 shift costs ~1e−6 px of accuracy.
                let tol = if kernel == KernelKind::CubicConv {
                    1e-3
                } else {
                    1e-7
                };
                assert!(
                    (parts[k][i] - want[k]).abs() < tol * (1.0 + want[k].abs()),
                    "{kernel} part {k} at ({x:.3}, {y:.3}): {} vs {}",
                    parts[k][i],
                    want[k]
                );
            }
        }
    }
}

#[test]
fn sinusoid_derivatives_match_closed_forms() {
    use std::f64::consts::TAU;
    let (u, v) = (2.0, 3.0);
    let f = |x: f64, y: f64| (TAU * u * x).sin() * (TAU * v * y).cos();
    let img = image(256, 256, f);
    let pts = interior(60);
    let parts = centre_jet(&sampler(KernelKind::Bspline), &img, &pts, JetOrder::Hessian);
    let (wu, wv) = (TAU * u, TAU * v);
    let mut worst = [0f64; 6];
    for (i, &(x, y)) in pts.iter().enumerate() {
        let (sx, cx, sy, cy) = (
            (wu * x).sin(),
            (wu * x).cos(),
            (wv * y).sin(),
            (wv * y).cos(),
        );
        let want = [
            sx * cy,
            wu * cx * cy,
            -wv * sx * sy,
            -wu * wu * sx * cy,
            -wu * wv * cx * sy,
            -wv * wv * sx * cy,
        ];
        let scale = [1.0, wu, wv, wu * wu, wu * wv, wv * wv];
        for k in 0..6 {
            worst[k] = worst[k].max((parts[k][i] - want[k]).abs() / scale[k]);
        }
    }
    // Cubic spline interpolation errors: O(h⁴) in value, O(h²) in second derivatives.
    let tol = [1e-6, 1e-4, 1e-4, 1e-3, 1e-3, 1e-3];
    for k in 0..6 {
        assert!(worst[k] < tol[k], "part {k}: relative error {:e}", worst[k]);
    }
}

#[test]
fn bspline_laplacian_is_continuous_and_keys_jumps() {
    let (h, w) = (24, 24);
    let mut rng = funknn_core::Rng::new(5);
    let data: Vec<f64> = (0..h * w).map(|_| rng.uniform()).collect();
    let img = Tensor::from_vec(data, (1, 1, h, w), &Device::Cpu).unwrap();
    // Knots of every kernel sit where the sample position hits a pixel centre.
    let eps = 1e-7;
    let mut pts = Vec::new();
    for j in 8..16 {
        let x = (j as f64 + 0.5) / w as f64;
        let y = 0.4321;
        pts.push((x - eps, y));
        pts.push((x + eps, y));
    }
    let max_jump = |kernel: KernelKind| {
        let lap = &centre_jet(&sampler(kernel), &img, &pts, JetOrder::Laplacian)[3];
        let scale = lap.iter().fold(0f64, |m, v| m.max(v.abs()));
        lap.chunks(2)
            .map(|p| (p[1] - p[0]).abs())
            .fold(0.0, f64::max)
            / scale
    };
    let spline = max_jump(KernelKind::Bspline);
    let keys = max_jump(KernelKind::CubicConv);
    assert!(
        spline < 1e-4,
        "B-spline Laplacian jumps by {spline:e} of its range"
    );
    assert!(
        keys > 0.05,
        "Keys Laplacian should jump at knots, jumped {keys:e}"
    );
}
