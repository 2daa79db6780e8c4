//! Where a prior training step goes (batch 64, latent 256, depth 5): candle's autograd
//! (forward, backward) against `RealNvp::nll_gradient`, and Adam with weight decay.
//! `cargo run --release -p funknn-benches --example flow_phases`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use candle_core::{DType, Device, Tensor};
use funknn_gen::{Generator, LatentPrior};
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    funknn_benches::tune_runtime();
    let mut config = funknn_gen::train::GeneratorTrainConfig::default().generator;
    config.autoencoder.resolution = 32;
    let (g, vars) = Generator::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
    let latents = Tensor::randn(0f32, 1f32, (64, 256), &Device::Cpu).unwrap();
    let mut fv = funknn_core::train::sorted_vars(&vars).unwrap();
    fv.retain(|(k, _)| k.starts_with("flow."));
    let mut adam = funknn_core::train::Adam::new(fv.clone(), 1e-4).unwrap();
    let n = 50;
    let (mut tf, mut tb, mut ta) = (0.0, 0.0, 0.0);
    for i in 0..n + 5 {
        let t0 = Instant::now();
        let nll = g
            .prior
            .log_prob(&latents)
            .unwrap()
            .mean_all()
            .unwrap()
            .neg()
            .unwrap();
        let _ = nll.to_scalar::<f32>().unwrap();
        let t1 = Instant::now();
        let grads = nll.backward().unwrap();
        let t2 = Instant::now();
        let mut named = HashMap::new();
        for (name, var) in &fv {
            if let Some(gr) = grads.get(var.as_tensor()) {
                named.insert(
                    name.clone(),
                    (gr + (var.as_tensor() * 1e-5).unwrap()).unwrap(),
                );
            }
        }
        adam.step_named(&named).unwrap();
        let t3 = Instant::now();
        if i >= 5 {
            tf += (t1 - t0).as_secs_f64();
            tb += (t2 - t1).as_secs_f64();
            ta += (t3 - t2).as_secs_f64();
        }
    }
    let mut th = 0.0;
    let mut ta2 = 0.0;
    for i in 0..n + 5 {
        let t0 = Instant::now();
        let step = g.prior.nll_gradient(&latents).unwrap();
        let t1 = Instant::now();
        let mut named = HashMap::new();
        for (name, var) in &fv {
            let gr = &step.gradients[name.strip_prefix("flow.").unwrap()];
            named.insert(
                name.clone(),
                (gr + (var.as_tensor() * 1e-5).unwrap()).unwrap(),
            );
        }
        adam.step_named(&named).unwrap();
        let t2 = Instant::now();
        if i >= 5 {
            th += (t1 - t0).as_secs_f64();
            ta2 += (t2 - t1).as_secs_f64();
        }
    }
    let step = g.prior.nll_gradient(&latents).unwrap();
    let named: HashMap<String, Tensor> = step
        .gradients
        .into_iter()
        .map(|(k, v)| (format!("flow.{k}"), v))
        .collect();
    let t0 = Instant::now();
    for _ in 0..n {
        adam.step_named(&named).unwrap();
    }
    println!(
        "adam alone {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let k = 1e3 / n as f64;
    println!(
        "host nll_gradient {:.2} ms, adam+decay {:.2} ms",
        th * k,
        ta2 * k
    );
    println!(
        "forward {:.2} ms, backward {:.2} ms, adam+decay {:.2} ms",
        tf * k,
        tb * k,
        ta * k
    );
}
