//! Diagnostic: the best *linear* patch filter (least squares on training batches), written
//! as an exact ReLU MLP model so that `funknn eval` can score it. It bounds what training
//! should reach at least.
//! `cargo run --release -p funknn-benches --example linear_fit -- DATA MAX_SIDE BATCHES OUT`
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use funknn_core::sampler::HostImages;
use funknn_core::train::{BatchSpec, ImageFolder};
use funknn_core::{Config, FunkNN, JetOrder, Rng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = ImageFolder::open(
        std::path::Path::new(&args[1]),
        3,
        128,
        args[2].parse().unwrap(),
    )
    .unwrap();
    let batches: usize = args[3].parse().unwrap();
    let config = Config::default();
    let (model, _) = FunkNN::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
    let (c, w) = (3usize, 9usize);
    let d = c * w * w + 1;
    let mut a = vec![0f64; d * d];
    let mut b = vec![0f64; d * c];
    let mut rng = Rng::new(7);
    let (mut base, mut count) = (0f64, 0usize);
    for _ in 0..batches {
        let (images, points, targets) = data
            .sample(&BatchSpec::factor(16, 128, 512), &mut rng)
            .unwrap();
        let s = model.sampler();
        let host = HostImages::<f32>::new(&s.prepare(&images).unwrap()).unwrap();
        let patch: Vec<f32> = s
            .sample_host(&host, &points, JetOrder::Value)
            .unwrap()
            .value()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let t: Vec<f32> = targets.flatten_all().unwrap().to_vec1().unwrap();
        for (row, x) in patch.chunks(d - 1).enumerate() {
            let mut xr: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            xr.push(1.0);
            for i in 0..d {
                for j in 0..=i {
                    a[i * d + j] += xr[i] * xr[j];
                }
            }
            for ch in 0..c {
                let r = t[row * c + ch] as f64 - x[ch * w * w + (w / 2) * w + w / 2] as f64;
                base += r.abs();
                count += 1;
                for i in 0..d {
                    b[i * c + ch] += xr[i] * r;
                }
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            a[j * d + i] = a[i * d + j];
        }
        a[i * d + i] += 1e-6 * count as f64;
    }
    // Cholesky solve.
    let mut l = vec![0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = if i == j { s.sqrt() } else { s / l[j * d + j] };
        }
    }
    let mut coef = vec![0f64; d * c];
    for ch in 0..c {
        let mut y = vec![0f64; d];
        for i in 0..d {
            let mut s = b[i * c + ch];
            for k in 0..i {
                s -= l[i * d + k] * y[k];
            }
            y[i] = s / l[i * d + i];
        }
        for i in (0..d).rev() {
            let mut s = y[i];
            for k in i + 1..d {
                s -= l[k * d + i] * coef[k * c + ch];
            }
            coef[i * c + ch] = s / l[i * d + i];
        }
    }
    println!("baseline mean |residual| {:.5}", base / count as f64);
    let dims =
        funknn_core::network::layer_dims(c * w * w, &funknn_core::network::PATCH_MLP_HIDDEN, c);
    let mut tensors = HashMap::new();
    for (i, &(fan_in, out)) in dims.iter().enumerate() {
        let mut wt = vec![0f32; out * fan_in];
        let mut bias = vec![0f32; out];
        if i == 0 {
            for ch in 0..c {
                for k in 0..fan_in {
                    wt[(2 * ch) * fan_in + k] = coef[k * c + ch] as f32;
                    wt[(2 * ch + 1) * fan_in + k] = -coef[k * c + ch] as f32;
                }
                bias[2 * ch] = coef[(d - 1) * c + ch] as f32;
                bias[2 * ch + 1] = -coef[(d - 1) * c + ch] as f32;
            }
        } else if i + 1 < dims.len() {
            for k in 0..2 * c {
                wt[k * fan_in + k] = 1.0;
            }
        } else {
            for ch in 0..c {
                wt[ch * fan_in + 2 * ch] = 1.0;
                wt[ch * fan_in + 2 * ch + 1] = -1.0;
            }
        }
        tensors.insert(
            format!("MLP.{i}.weight"),
            Tensor::from_vec(wt, (out, fan_in), &Device::Cpu).unwrap(),
        );
        tensors.insert(
            format!("MLP.{i}.bias"),
            Tensor::from_vec(bias, out, &Device::Cpu).unwrap(),
        );
    }
    for name in ["ws1", "ws2"] {
        tensors.insert(
            name.into(),
            Tensor::ones(1, DType::F32, &Device::Cpu).unwrap(),
        );
    }
    let m = FunkNN::from_tensors(
        &config,
        tensors,
        DType::F32,
        &Device::Cpu,
        std::path::Path::new("linear"),
    )
    .unwrap();
    m.save(&args[4], DType::F32).unwrap();
}
