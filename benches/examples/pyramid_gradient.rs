//! What gradient candle 0.11's nearest-upsample backward gave the Laplacian-pyramid loss.
//!
//! The pyramid built from candle's own ops (as funknn did before 2026-12-02) against the
//! same loss restricted to its finest band, `mean|L_0(x) − L_0(t)|`, and against the true
//! gradient of the whole loss (`LaplacianPyramidLoss`).
//!
//!     cargo run --release -p funknn-benches --example pyramid_gradient

use candle_core::{Device, Tensor, Var};
use funknn_gen::train::LaplacianPyramidLoss;

fn kernel(device: &Device) -> Tensor {
    let ax: Vec<f64> = (0..5).map(|i| i as f64 - 2.0).collect();
    let mut k = Vec::new();
    for y in &ax {
        for x in &ax {
            k.push((-0.5 * (x * x + y * y)).exp());
        }
    }
    let total: f64 = k.iter().sum();
    let k: Vec<f64> = k.iter().map(|v| v / total).collect();
    Tensor::from_vec(k, (1, 1, 5, 5), device).unwrap()
}

/// The pyramid as candle's ops build it; `weights[k]` multiplies level k's term.
fn candle_pyramid_loss(x: &Tensor, t: &Tensor, weights: &[f64]) -> Tensor {
    let k = kernel(x.device());
    let pyramid = |x: &Tensor| {
        let mut levels = Vec::new();
        let mut current = x.clone();
        for _ in 0..3 {
            let blurred = current.conv2d(&k, 2, 1, 1, 1).unwrap();
            let (n, c, h, w) = blurred.dims4().unwrap();
            let down = blurred
                .reshape((n, c, h / 2, 2, w / 2, 2))
                .unwrap()
                .narrow(3, 0, 1)
                .unwrap()
                .narrow(5, 0, 1)
                .unwrap()
                .reshape((n, c, h / 2, w / 2))
                .unwrap();
            let up = down.upsample_nearest2d(h, w).unwrap();
            levels.push((&current - up).unwrap());
            current = down;
        }
        levels.push(current);
        levels
    };
    let (a, b) = (pyramid(x), pyramid(t));
    let mut loss = Tensor::zeros((), x.dtype(), x.device()).unwrap();
    for ((la, lb), w) in a.iter().zip(&b).zip(weights) {
        let term = ((la - lb).unwrap().abs().unwrap().mean_all().unwrap() * *w).unwrap();
        loss = (loss + term).unwrap();
    }
    loss
}

fn grad(f: impl Fn(&Tensor) -> Tensor, x0: &Tensor) -> Vec<f64> {
    let x = Var::from_tensor(x0).unwrap();
    let grads = f(x.as_tensor()).backward().unwrap();
    grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn main() {
    let device = Device::Cpu;
    let shape = (4, 1, 32, 32);
    let x0 = Tensor::rand(0f64, 1f64, shape, &device).unwrap();
    let t = Tensor::rand(0f64, 1f64, shape, &device).unwrap();
    let official = [1.0, 2.0, 4.0, 8.0];
    let candle_full = grad(|x| candle_pyramid_loss(x, &t, &official), &x0);
    let finest = grad(|x| candle_pyramid_loss(x, &t, &[1.0, 0.0, 0.0, 0.0]), &x0);
    let band = LaplacianPyramidLoss::with_weights(vec![1.0, 0.0, 0.0, 0.0]).unwrap();
    let finest_true = grad(|x| band.forward(x, &t).unwrap(), &x0);
    let loss = LaplacianPyramidLoss::new(3);
    let truth = grad(|x| loss.forward(x, &t).unwrap(), &x0);
    let rel = |a: &[f64], b: &[f64]| {
        let d: f64 = a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum();
        let n: f64 = b.iter().map(|q| q * q).sum();
        (d / n).sqrt()
    };
    println!(
        "candle's gradient vs the finest band's:   {:.3e}",
        rel(&candle_full, &finest)
    );
    println!(
        "candle's gradient vs the true gradient:   {:.3e}",
        rel(&candle_full, &truth)
    );
    println!(
        "finest band's gradient vs the true one:   {:.3e}",
        rel(&finest, &truth)
    );
    println!(
        "finest band, candle's ops vs funknn's:    {:.3e}",
        rel(&finest, &finest_true)
    );
}
