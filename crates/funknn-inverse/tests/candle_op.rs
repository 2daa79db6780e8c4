//! The candle op: its gradient is the adjoint, and matches finite differences.

use candle_core::{DType, Device, Tensor, Var};
use funknn_inverse::*;

fn op(n: usize) -> RayTransformOp {
    op_with(n, Interpolation::default())
}

fn op_with(n: usize, interpolation: Interpolation) -> RayTransformOp {
    let grid = ImageGrid::new(n, n + 3).unwrap();
    let geometry = ParallelGeometry::uniform(23, 150.0, 19).unwrap();
    RayTransformOp::new(RayTransform::with_interpolation(grid, geometry, interpolation).unwrap())
}

const INTERPOLATIONS: [Interpolation; 4] = [
    Interpolation::Linear,
    Interpolation::Cubic,
    Interpolation::Exact,
    Interpolation::Sharpened,
];

#[test]
fn forward_matches_the_operator_batched() {
    let op = op(12);
    let x = Tensor::rand(0f32, 1., (2, 3, 12, 15), &Device::Cpu).unwrap();
    let y = op.forward(&x).unwrap();
    assert_eq!(y.dims(), &[2, 3, 23, 19]);
    let x1: Vec<f32> = x
        .get(1)
        .unwrap()
        .get(2)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let y1: Vec<f32> = y
        .get(1)
        .unwrap()
        .get(2)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(op.transform().apply_vec(&x1).unwrap(), y1);
}

#[test]
fn gradient_is_the_adjoint_of_the_upstream_gradient() {
    for interpolation in INTERPOLATIONS {
        gradient_is_the_adjoint_with(interpolation);
    }
}

fn gradient_is_the_adjoint_with(interpolation: Interpolation) {
    let op = op_with(10, interpolation);
    let x = Var::from_tensor(&Tensor::rand(0f64, 1., (10, 13), &Device::Cpu).unwrap()).unwrap();
    let w = Tensor::rand(-1f64, 1., (23, 19), &Device::Cpu).unwrap();
    // loss = Σ w ⊙ A x: its gradient is Aᵀ w.
    let loss = (op.forward(x.as_tensor()).unwrap() * &w)
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    let grad: Vec<f64> = g
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let wv: Vec<f64> = w.flatten_all().unwrap().to_vec1().unwrap();
    let expected = op.transform().adjoint_vec(&wv).unwrap();
    assert_eq!(grad, expected);
}

#[test]
fn gradient_matches_finite_differences() {
    for interpolation in INTERPOLATIONS {
        gradient_matches_finite_differences_with(interpolation);
    }
}

fn gradient_matches_finite_differences_with(interpolation: Interpolation) {
    let op = op_with(8, interpolation);
    let x0 = Tensor::rand(0f64, 1., (8, 11), &Device::Cpu).unwrap();
    let target = Tensor::rand(0f64, 1., (23, 19), &Device::Cpu).unwrap();
    let loss = |x: &Tensor| -> Tensor {
        let r = (op.forward(x).unwrap() - &target).unwrap();
        (r.sqr().unwrap().sum_all().unwrap() * 0.5).unwrap()
    };
    let x = Var::from_tensor(&x0).unwrap();
    let grad = loss(x.as_tensor()).backward().unwrap();
    let grad: Vec<f64> = grad
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let base: Vec<f64> = x0.flatten_all().unwrap().to_vec1().unwrap();
    let eps = 1e-6;
    for k in [0usize, 5, 17, 40, 63, 87] {
        let mut plus = base.clone();
        let mut minus = base.clone();
        plus[k] += eps;
        minus[k] -= eps;
        let f = |v: Vec<f64>| -> f64 {
            loss(&Tensor::from_vec(v, (8, 11), &Device::Cpu).unwrap())
                .to_scalar()
                .unwrap()
        };
        let fd = (f(plus) - f(minus)) / (2.0 * eps);
        assert!(
            (fd - grad[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "{interpolation:?}, pixel {k}: {fd} vs {}",
            grad[k]
        );
    }
}

#[test]
fn second_order_through_the_adjoint() {
    // The adjoint op's backward is the forward: d/dy ⟨Aᵀy, v⟩ = A v.
    let op = op(6);
    let y = Var::zeros((23, 19), DType::F32, &Device::Cpu).unwrap();
    let v = Tensor::rand(0f32, 1., (6, 9), &Device::Cpu).unwrap();
    let loss = (op.adjoint(y.as_tensor()).unwrap() * &v)
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    let got: Vec<f32> = g
        .get(y.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let vv: Vec<f32> = v.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(got, op.transform().apply_vec(&vv).unwrap());
}

#[test]
fn wrong_shapes_and_dtypes_are_errors() {
    let op = op(6);
    let x = Tensor::zeros((6, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(op.forward(&x).unwrap_err().to_string().contains("image"));
    let x = Tensor::zeros((6, 9), DType::U8, &Device::Cpu).unwrap();
    assert!(op.forward(&x).is_err());
}
