//! The generator's training: the official pyramid loss's values, the IDX reader, learning
//! on tiny data, and a resumed run equal to an unbroken one.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use funknn_gen::train::{
    read_idx, GeneratorTrainConfig, GeneratorTrainer, ImageSet, LaplacianPyramidLoss, Phase,
    OFFICIAL_PYRAMID_WEIGHTS,
};
use funknn_gen::{AutoencoderConfig, FlowConfig, Generator};

fn pattern(n: usize, f: impl Fn(f64) -> f64, shape: (usize, usize, usize, usize)) -> Tensor {
    let v: Vec<f32> = (0..n).map(|i| f(i as f64) as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn the_pyramid_loss_matches_the_official_one() {
    // Values printed by the official LaplacianPyramidLoss(max_levels=3, kernel_size=5,
    // sigma=1) (laplacian_loss.py @ 6fba0bf, torch 2.15.0, float32) on the same patterns.
    for (shape, official) in [
        ((2, 1, 32, 32), 0.746_919_8f32),
        ((1, 3, 16, 16), 1.056_461_6),
    ] {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let x = pattern(n, |i| 0.5 + 0.4 * (0.37 * i).sin(), shape);
        let t = pattern(n, |i| 0.5 + 0.3 * (0.11 * i).cos(), shape);
        let loss = LaplacianPyramidLoss::new(3);
        let value: f32 = loss.forward(&x, &t).unwrap().to_scalar().unwrap();
        assert!(
            (value - official).abs() < 1e-5,
            "{shape:?}: {value} vs {official}"
        );
        let zero: f32 = loss.forward(&x, &x).unwrap().to_scalar().unwrap();
        assert_eq!(zero, 0.0);
    }
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("funknn-gen-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

#[test]
fn idx_files_read_and_pad_like_fashion_mnist() {
    let dir = scratch("idx");
    // Three 28×28 images of value k·10, as the IDX format stores them.
    let mut bytes = vec![0, 0, 0x08, 3];
    for d in [3u32, 28, 28] {
        bytes.extend(d.to_be_bytes());
    }
    for k in 0..3u8 {
        bytes.extend(std::iter::repeat_n(k * 10 + 5, 28 * 28));
    }
    std::fs::write(dir.0.join("t10k-images-idx3-ubyte"), &bytes).unwrap();
    let (dims, data) = read_idx(&dir.0.join("t10k-images-idx3-ubyte")).unwrap();
    assert_eq!(dims, vec![3, 28, 28]);
    assert_eq!(data.len(), 3 * 28 * 28);
    let set = ImageSet::fashion_mnist(&dir.0, funknn_gen::train::Split::Test, 2).unwrap();
    assert_eq!(set.images().dims(), &[2, 1, 32, 32]);
    let img: Vec<Vec<f32>> = set
        .images()
        .get(1)
        .unwrap()
        .get(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    assert_eq!(
        (img[0][0], img[1][1], img[31][31]),
        (0.0, 0.0, 0.0),
        "2 black pixels per side"
    );
    assert!((img[2][2] - 15.0 / 255.0).abs() < 1e-7 && (img[29][29] - 15.0 / 255.0).abs() < 1e-7);
    // Truncated and foreign files are errors naming them.
    std::fs::write(dir.0.join("cut"), &bytes[..100]).unwrap();
    let err = read_idx(&dir.0.join("cut")).unwrap_err().to_string();
    assert!(err.contains("cut"), "{err}");
    let err = ImageSet::fashion_mnist(&dir.0.join("absent"), funknn_gen::train::Split::Train, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dataset-fashion-mnist"), "{err}");
}

fn tiny_config(ae_steps: usize, flow_steps: usize) -> GeneratorTrainConfig {
    let mut c = GeneratorTrainConfig::default();
    c.generator.autoencoder = AutoencoderConfig {
        latent_dim: 8,
        resolution: 32,
        channels: 1,
        width: 0.125,
    };
    c.generator.flow = FlowConfig {
        latent_dim: 8,
        depth: 2,
    };
    c.batch = 6;
    c.autoencoder_steps = ae_steps;
    c.flow_steps = flow_steps;
    c.lr = 3e-3;
    c.flow_lr = 3e-3;
    c.lr_step = 3;
    c.seed = 5;
    c
}

/// Twelve smooth 32² images: blobs at different places.
fn tiny_data() -> ImageSet {
    let mut v = Vec::new();
    for k in 0..12 {
        let (cx, cy) = (0.2 + 0.05 * k as f64, 0.7 - 0.04 * k as f64);
        for i in 0..32 {
            for j in 0..32 {
                let (x, y) = ((j as f64 + 0.5) / 32.0, (i as f64 + 0.5) / 32.0);
                v.push((-((x - cx).powi(2) + (y - cy).powi(2)) / 0.02).exp() as f32);
            }
        }
    }
    ImageSet::from_tensor(
        Tensor::from_vec(v, (12, 1, 32, 32), &Device::Cpu).unwrap(),
        "blobs",
    )
}

fn params(g: &Generator) -> Vec<(String, Vec<u32>)> {
    let mut out: Vec<(String, Vec<u32>)> = g
        .tensors()
        .iter()
        .map(|(k, t)| {
            let v: Vec<f32> = t
                .to_dtype(DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            (k.clone(), v.iter().map(|x| x.to_bits()).collect())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_autoencoder_learns_and_the_prior_fits() {
    let data = tiny_data();
    let mut config = tiny_config(120, 40);
    config.lr_step = 0;
    let mut t = GeneratorTrainer::new(config).unwrap();
    while !t.done() {
        t.step(&data).unwrap();
    }
    let l = t.losses();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(
        mean(&l.autoencoder_mse[115..]) < 0.75 * mean(&l.autoencoder_mse[..5]),
        "{:?}",
        l.autoencoder_mse
    );
    assert!(mean(&l.flow[35..]) < mean(&l.flow[..5]), "{:?}", l.flow);
    assert_eq!(t.phase(), Phase::Done);
}

#[test]
fn a_resumed_run_equals_an_unbroken_one() {
    let dir = scratch("resume");
    let data = tiny_data();
    // With noise on the prior's latents: a resumed run draws the same noise.
    let config = GeneratorTrainConfig {
        flow_noise: 0.05,
        ..tiny_config(4, 4)
    };
    let mut whole = GeneratorTrainer::new(config.clone()).unwrap();
    while !whole.done() {
        whole.step(&data).unwrap();
    }
    // Broken once inside each phase.
    let mut first = GeneratorTrainer::new(config).unwrap();
    for _ in 0..2 {
        first.step(&data).unwrap();
    }
    let ckpt = dir.0.join("checkpoint");
    first.save_checkpoint(&ckpt).unwrap();
    drop(first);
    let mut second = GeneratorTrainer::resume(&ckpt).unwrap();
    for _ in 0..4 {
        second.step(&data).unwrap();
    }
    second.save_checkpoint(&ckpt).unwrap();
    let mut third = GeneratorTrainer::resume(&ckpt).unwrap();
    while !third.done() {
        third.step(&data).unwrap();
    }
    assert_eq!(third.losses(), whole.losses());
    assert_eq!(params(third.generator()), params(whole.generator()));
    // The saved model loads and decodes as the trained one does.
    let out = dir.0.join("model");
    third
        .save_model(&out, DType::F32, "funknn train-generator (test)")
        .unwrap();
    let loaded = Generator::load(&out, DType::F32, &Device::Cpu).unwrap();
    let z = funknn_gen::standard_normal(2, 8, 1).unwrap();
    let a = loaded.autoencoder.decoder.forward(&z).unwrap();
    let b = third.generator().autoencoder.decoder.forward(&z).unwrap();
    let diff: f32 = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(diff, 0.0);
    assert!(out.join("train.json").is_file());
    assert!(loaded
        .config()
        .source
        .as_deref()
        .unwrap_or("")
        .contains("train-generator"));
}

#[test]
fn a_run_starts_from_another_generators_autoencoder() {
    let data = tiny_data();
    let mut source = GeneratorTrainer::new(tiny_config(3, 0)).unwrap();
    while !source.done() {
        source.step(&data).unwrap();
    }
    let ae = |g: &Generator| -> Vec<(String, Vec<u32>)> {
        params(g)
            .into_iter()
            .filter(|(k, _)| !k.starts_with(funknn_gen::FLOW_PREFIX))
            .collect()
    };
    // Another seed: its own random autoencoder until it starts from the source's.
    let fresh = || {
        GeneratorTrainer::new(GeneratorTrainConfig {
            seed: 11,
            ..tiny_config(0, 3)
        })
        .unwrap()
    };
    let mut prior_only = fresh();
    assert_ne!(ae(prior_only.generator()), ae(source.generator()));
    prior_only
        .start_from_autoencoder(source.generator(), "the source")
        .unwrap();
    assert_eq!(ae(prior_only.generator()), ae(source.generator()));
    assert_eq!(
        prior_only.config().autoencoder_from.as_deref(),
        Some("the source")
    );
    // Prior steps only: the autoencoder stays the source's, the prior moves.
    let prior_before = params(prior_only.generator());
    while !prior_only.done() {
        prior_only.step(&data).unwrap();
    }
    assert_eq!(ae(prior_only.generator()), ae(source.generator()));
    assert_ne!(params(prior_only.generator()), prior_before);
    // Too late once a step is taken, and refused for another architecture.
    let err = prior_only
        .start_from_autoencoder(source.generator(), "the source")
        .unwrap_err()
        .to_string();
    assert!(err.contains("steps already"), "{err}");
    let mut wider = tiny_config(0, 3);
    wider.generator.autoencoder.width = 0.25;
    let err = GeneratorTrainer::new(wider)
        .unwrap()
        .start_from_autoencoder(source.generator(), "the source")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the source has the autoencoder"), "{err}");
}

#[test]
fn noise_on_the_latents_changes_the_prior_fit() {
    let data = tiny_data();
    let run = |noise: f64| {
        let mut t = GeneratorTrainer::new(GeneratorTrainConfig {
            flow_noise: noise,
            ..tiny_config(2, 3)
        })
        .unwrap();
        while !t.done() {
            t.step(&data).unwrap();
        }
        t.losses().clone()
    };
    let (plain, noisy) = (run(0.0), run(0.1));
    assert_eq!(plain.autoencoder, noisy.autoencoder);
    assert_ne!(plain.flow, noisy.flow);
    let mut bad = tiny_config(2, 3);
    bad.flow_noise = -1.0;
    let err = GeneratorTrainer::new(bad).err().unwrap().to_string();
    assert!(err.contains("flow noise"), "{err}");
}

/// The pyramid's level weights change the autoencoder's training, runs saved before the
/// setting existed read back with the official weights, and bad weights are refused.
#[test]
fn pyramid_level_weights_are_a_setting() {
    let data = tiny_data();
    let run = |weights: Vec<f64>| {
        let mut t = GeneratorTrainer::new(GeneratorTrainConfig {
            pyramid_level_weights: weights,
            ..tiny_config(3, 0)
        })
        .unwrap();
        while !t.done() {
            t.step(&data).unwrap();
        }
        t.losses().clone()
    };
    let official = run(OFFICIAL_PYRAMID_WEIGHTS.to_vec());
    let finest = run(vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(official.autoencoder.len(), 3);
    assert_ne!(official.autoencoder, finest.autoencoder);

    let mut saved = serde_json::to_value(tiny_config(3, 0)).unwrap();
    saved
        .as_object_mut()
        .unwrap()
        .remove("pyramid_level_weights")
        .unwrap();
    let read: GeneratorTrainConfig = serde_json::from_value(saved).unwrap();
    assert_eq!(read.pyramid_level_weights, OFFICIAL_PYRAMID_WEIGHTS);

    let mut bad = tiny_config(3, 0);
    bad.pyramid_level_weights = vec![1.0, f64::NAN];
    let err = GeneratorTrainer::new(bad).err().unwrap().to_string();
    assert!(err.contains("pyramid level weights"), "{err}");
}

/// Without the pyramid (`--pyramid-weight 0`, which skips it) the loss is the MSE and the
/// latent penalty alone, and with it the pyramid's own value is added on top.
#[test]
fn the_pyramid_weight_scales_the_pyramid_term_and_zero_leaves_it_out() {
    let data = tiny_data();
    let images = data.images().narrow(0, 0, 4).unwrap();
    let loss_of = |pyramid_weight: f64| {
        let t = GeneratorTrainer::new(GeneratorTrainConfig {
            pyramid_weight,
            mse_weight: 2.0,
            ..tiny_config(3, 0)
        })
        .unwrap();
        let (loss, mse) = t.autoencoder_loss(&images).unwrap();
        let ae = &t.generator().autoencoder;
        let latent = ae.encoder.forward(&images).unwrap();
        let recon = ae.decoder.forward(&latent).unwrap();
        let penalty: f32 = latent
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        let pyramid: f32 = LaplacianPyramidLoss::new(3)
            .forward(&recon, &images)
            .unwrap()
            .to_scalar()
            .unwrap();
        let (loss, mse): (f32, f32) = (loss.to_scalar().unwrap(), mse.to_scalar().unwrap());
        (loss, 2.0 * mse + 0.01 * penalty, pyramid)
    };
    let (without, expected, _) = loss_of(0.0);
    assert!(
        (without - expected).abs() <= 1e-6 * expected,
        "{without} vs {expected}"
    );
    let (with, expected, pyramid) = loss_of(0.5);
    assert!(pyramid > 0.0);
    let expected = expected + 0.5 * pyramid;
    assert!(
        (with - expected).abs() <= 1e-5 * expected,
        "{with} vs {expected}"
    );
}
