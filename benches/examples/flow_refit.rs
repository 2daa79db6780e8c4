//! Refits a generator's RealNVP prior from scratch on its encoder's Fashion-MNIST training
//! latents, with other optimiser settings, and scores the samples: the test NLL, the
//! Fréchet distance on the classifier's features and how sure the classifier is of them
//! (the share of samples it gives a class with probability ≥ 0.9, beside the test images').
//! What chose the shipped prior's settings (its card).
//!
//! `cargo run --release -p funknn-benches --example flow_refit -- GENERATOR CLASSIFIER OUT_DIR STEPS LR LR_STEP NOISE [SEED] [DEPTH]`
//! (DEPTH: couplings, default the generator's)

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use funknn_core::picture::{write_picture, BitDepth, Raster, WriteOptions};
use funknn_core::train::Adam;
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_gen::{
    frechet_scores, standard_normal, FeatureClassifier, Generator, LatentPrior, FLOW_PREFIX,
};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> R<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 8 {
        return Err(
            "usage: flow_refit GENERATOR CLASSIFIER OUT_DIR STEPS LR LR_STEP NOISE [SEED] [DEPTH]"
                .into(),
        );
    }
    let dev = Device::Cpu;
    let g = Generator::load(&a[1], DType::F32, &dev)?;
    let classifier = FeatureClassifier::load(&a[2], &dev)?;
    let out = Path::new(&a[3]);
    std::fs::create_dir_all(out)?;
    let steps: usize = a[4].parse()?;
    let lr: f64 = a[5].parse()?;
    let lr_step: usize = a[6].parse()?;
    let noise: f64 = a[7].parse()?;
    let seed: u64 = a.get(8).map(|s| s.parse()).transpose()?.unwrap_or(0);

    let train = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), Split::Train, 0)?;
    let test = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), Split::Test, 0)?;
    let t0 = std::time::Instant::now();
    let latents = g.encode(train.images(), 1000, |_| {})?;
    let test_latents = g.encode(test.images(), 1000, |_| {})?;
    eprintln!("encoded in {:.1} s", t0.elapsed().as_secs_f64());

    // A fresh prior on `g`'s autoencoder (its weights copied in, for the scores' decoding).
    let mut config = g.config().clone();
    if let Some(depth) = a.get(9) {
        config.flow.depth = depth.parse()?;
    }
    let (fresh, varmap) = Generator::random(&config, seed, DType::F32, &dev)?;
    let flow = fresh.prior.clone();
    let mut vars = funknn_core::train::sorted_vars(&varmap)?;
    for (name, var) in &vars {
        if !name.starts_with(FLOW_PREFIX) {
            var.set(&g.tensors()[name].to_dtype(DType::F32)?)?;
        }
    }
    vars.retain(|(k, _)| k.starts_with(FLOW_PREFIX));
    let mut adam = Adam::new(vars.clone(), lr)?;
    let mut rng = funknn_core::Rng::new(seed ^ 0x5eed);
    let n = latents.dim(0)?;
    let d = latents.dim(1)?;
    let batch = 64;
    let t0 = std::time::Instant::now();
    for step in 0..steps {
        let idx: Vec<u32> = (0..batch).map(|_| rng.below(n) as u32).collect();
        let mut x = latents.index_select(&Tensor::from_vec(idx, batch, &dev)?, 0)?;
        if noise > 0.0 {
            x = (x + (standard_normal(batch, d, seed * 1_000_003 + step as u64)? * noise)?)?;
        }
        if step == 0 {
            let data = varmap.data().lock().unwrap();
            for (name, value) in flow.actnorm_init(&x)? {
                data[&format!("{FLOW_PREFIX}{name}")].set(&value)?;
            }
        }
        let grad = flow.nll_gradient(&x)?;
        let v = grad.nll;
        if !v.is_finite() {
            continue;
        }
        let named: HashMap<String, Tensor> = grad
            .gradients
            .into_iter()
            .map(|(k, g)| (format!("{FLOW_PREFIX}{k}"), g))
            .collect();
        adam.weight_decay = 1e-5;
        adam.lr = match step.checked_div(lr_step) {
            None => lr,
            Some(k) => lr * 0.5f64.powi(k as i32),
        };
        adam.step_named(&named)?;
        if (step + 1) % 1000 == 0 || step + 1 == steps {
            let test_nll = -flow
                .log_prob(&test_latents)?
                .mean_all()?
                .to_scalar::<f32>()?;
            eprintln!(
                "step {}: batch NLL {v:.1}, test NLL {test_nll:.2}, {:.0} s",
                step + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let test_nll = -flow
        .log_prob(&test_latents)?
        .mean_all()?
        .to_scalar::<f32>()?;
    println!(
        "settings: steps {steps} lr {lr} lr_step {lr_step} noise {noise} seed {seed} depth {}",
        config.flow.depth
    );
    println!("test NLL {test_nll:.2}");
    for t in [1.0, 1.1, 1.25] {
        let scores = frechet_scores(&fresh, &classifier, &train, &test, 2000, t, 0, 500, |_| {})?;
        println!(
            "temperature {t}: Fréchet {:.1}, sure {:.3} (test images {:.3})",
            scores.samples, scores.samples_confident, scores.test_confident
        );
        let z = flow.sample_from(&standard_normal(64, d, 0)?, t)?;
        let imgs = g.autoencoder.decoder.forward(&z)?.clamp(0f32, 1f32)?;
        let tiles: Vec<Raster> = (0..64)
            .map(|i| Raster::from_tensor(&imgs.get(i)?, BitDepth::Eight))
            .collect::<Result<_, _>>()?;
        let sheet = Raster::contact_sheet(&tiles, 8, 2)?;
        write_picture(
            &out.join(format!("samples-t{t}.png")),
            &sheet,
            &WriteOptions::default(),
        )?;
    }
    let mut save = HashMap::new();
    for (name, var) in &vars {
        save.insert(name.clone(), var.as_tensor().clone());
    }
    candle_core::safetensors::save(&save, out.join("flow.safetensors"))?;
    Ok(())
}
