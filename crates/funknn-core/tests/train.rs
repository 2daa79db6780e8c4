//! Training on tiny synthetic data: resume exactness, learning, bad data.

mod common;

use std::path::PathBuf;

use common::synthetic_images;
use funknn_core::picture::resize_bilinear_aa;
use funknn_core::train::{BatchSpec, Degradation, ImageFolder, TrainMode};
use funknn_core::train::{ScaleConsistency, TrainConfig, Trainer};
use funknn_core::Rng;

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("funknn-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        mode: TrainMode::Factor,
        crop: 32,
        batch: 2,
        points: 32,
        lr: 1e-3,
        lr_step: 4,
        steps: 8,
        checkpoint_every: 0,
        seed: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn resumed_run_matches_an_unbroken_one() {
    let dir = folder("resume");
    synthetic_images(&dir, 3);
    let data = ImageFolder::open(&dir, 3, 32, 0).unwrap();
    let mut whole = Trainer::new(tiny_config()).unwrap();
    while !whole.done() {
        whole.step(&data).unwrap();
    }
    let mut first = Trainer::new(tiny_config()).unwrap();
    for _ in 0..5 {
        first.step(&data).unwrap();
    }
    let ckpt = dir.join("ckpt");
    first.save_checkpoint(&ckpt).unwrap();
    // Saving twice replaces the checkpoint in place.
    first.save_checkpoint(&ckpt).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&ckpt).unwrap();
    assert_eq!(resumed.step_count(), 5);
    while !resumed.done() {
        resumed.step(&data).unwrap();
    }
    assert_eq!(whole.losses().len(), 8);
    assert_eq!(whole.losses(), resumed.losses(), "the resumed run diverged");
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "temporary checkpoint folders left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With the scale-consistency term, a resumed run also matches, its residuals included,
/// and bad settings of the term are refused.
#[test]
fn consistency_runs_resume_exactly() {
    let dir = folder("consistency");
    synthetic_images(&dir, 3);
    let data = ImageFolder::open(&dir, 3, 32, 0).unwrap();
    let config = TrainConfig {
        consistency: ScaleConsistency {
            weight: 1.0,
            ..ScaleConsistency::default()
        },
        ..tiny_config()
    };
    let mut whole = Trainer::new(config.clone()).unwrap();
    while !whole.done() {
        whole.step(&data).unwrap();
    }
    let mut first = Trainer::new(config.clone()).unwrap();
    for _ in 0..3 {
        first.step(&data).unwrap();
    }
    let ckpt = dir.join("ckpt");
    first.save_checkpoint(&ckpt).unwrap();
    let mut resumed = Trainer::resume(&ckpt).unwrap();
    while !resumed.done() {
        resumed.step(&data).unwrap();
    }
    assert_eq!(whole.consistency_losses().len(), 8);
    assert!(whole
        .consistency_losses()
        .iter()
        .all(|v| v.is_finite() && *v > 0.0));
    assert_eq!(whole.losses(), resumed.losses(), "the resumed run diverged");
    assert_eq!(whole.consistency_losses(), resumed.consistency_losses());
    // The term changes the run: the same seed without it takes other steps.
    let mut plain = Trainer::new(tiny_config()).unwrap();
    while !plain.done() {
        plain.step(&data).unwrap();
    }
    assert_ne!(plain.losses(), whole.losses());
    for bad in [
        ScaleConsistency {
            weight: f64::NAN,
            ..ScaleConsistency::default()
        },
        ScaleConsistency {
            weight: 1.0,
            factor: 1,
            ..ScaleConsistency::default()
        },
        ScaleConsistency {
            weight: 1.0,
            window: 33,
            ..ScaleConsistency::default()
        },
        ScaleConsistency {
            weight: 1.0,
            images: 0,
            ..ScaleConsistency::default()
        },
    ] {
        let err = Trainer::new(TrainConfig {
            consistency: bad.clone(),
            ..tiny_config()
        })
        .err()
        .unwrap_or_else(|| panic!("{bad:?} was accepted"));
        assert!(err.to_string().contains("scale consistency"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn training_lowers_the_loss() {
    let dir = folder("learn");
    synthetic_images(&dir, 2);
    let data = ImageFolder::open(&dir, 3, 32, 0).unwrap();
    // From PyTorch's initialisation, whose output is far from the target at first.
    let mut t = Trainer::new(TrainConfig {
        steps: 60,
        lr_step: 0,
        init: funknn_core::network::InitScheme::Pytorch,
        ..tiny_config()
    })
    .unwrap();
    while !t.done() {
        t.step(&data).unwrap();
    }
    let l = t.losses();
    let early: f32 = l[..10].iter().sum::<f32>() / 10.0;
    let late: f32 = l[l.len() - 10..].iter().sum::<f32>() / 10.0;
    assert!(late < 0.8 * early, "loss went from {early} to {late}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The image of a folder holding one 32² picture (so that a 32² crop is all of it), as
/// `(C, H, W)` data, and the folder.
fn one_square_image(name: &str) -> (Vec<f32>, ImageFolder) {
    let dir = folder(name);
    let img = image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([
            (x * 7 + y) as u8,
            (y * 5 + 3 * x) as u8,
            ((x * y) % 251) as u8,
        ])
    });
    img.save(dir.join("one.png")).unwrap();
    let data = ImageFolder::open(&dir, 3, 32, 0).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let planes = (0..3)
        .flat_map(|c| img.pixels().map(move |p| p[c] as f32 / 255.0))
        .collect();
    (planes, data)
}

#[test]
fn batches_follow_their_degradation() {
    let (image, data) = one_square_image("degradation");
    let mut spec = BatchSpec {
        mode: TrainMode::Single,
        ..BatchSpec::factor(1, 32, 50)
    };
    // Single mode: input 8², target 16².
    let target = resize_bilinear_aa(&image, 3, 32, 32, 16, 16);
    let expect = |degradation| match degradation {
        Degradation::Crop => resize_bilinear_aa(&image, 3, 32, 32, 8, 8),
        Degradation::Target => resize_bilinear_aa(&target, 3, 16, 16, 8, 8),
    };
    for degradation in [Degradation::Crop, Degradation::Target] {
        spec.degradation = degradation;
        let (input, points, values) = data.sample(&spec, &mut Rng::new(1)).unwrap();
        let input = input.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want = expect(degradation);
        let err = input.iter().zip(&want).map(|(a, b)| (a - b).abs());
        assert!(err.fold(0f32, f32::max) < 1e-6, "{degradation:?}");
        // Targets are the 16² image at the sampled pixel centres.
        let points = points.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let values = values.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (p, v) in points.chunks(2).zip(values.chunks(3)) {
            let (j, i) = ((p[0] * 16.0) as usize, (p[1] * 16.0) as usize);
            for c in 0..3 {
                assert!((v[c] - target[(c * 16 + i) * 16 + j]).abs() < 1e-6);
            }
        }
    }
    // The two inputs differ: downsampling the crop keeps more detail.
    let gap = expect(Degradation::Crop)
        .iter()
        .zip(&expect(Degradation::Target))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(gap > 1e-3, "{gap}");
}

/// Factor mode with a larger maximum factor draws every integer scale 2..=F, with input
/// sides in [N/(4f), N/f); at the official maximum of 2 every target is twice the input.
#[test]
fn factor_batches_draw_every_scale_up_to_the_maximum() {
    let (_, data) = one_square_image("factors");
    let mut rng = Rng::new(9);
    for max_factor in [2, 4] {
        let spec = BatchSpec {
            max_factor,
            degradation: Degradation::Target,
            ..BatchSpec::factor(1, 32, 64)
        };
        let mut seen = [0usize; 5];
        for _ in 0..120 {
            let (input, points, _) = data.sample(&spec, &mut rng).unwrap();
            let n = input.dim(3).unwrap();
            // The target side: the one whose pixel centres (j + ½)/m hold every coordinate.
            let points = points.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let on_grid = |m: usize| {
                points.iter().all(|&p| {
                    let j = p * m as f32 - 0.5;
                    (j - j.round()).abs() < 1e-3
                })
            };
            let m = (n + 1..=32).find(|&m| on_grid(m)).expect("a target grid");
            assert_eq!(m % n, 0, "target {m} is not a multiple of input {n}");
            let f = m / n;
            assert!((2..=max_factor).contains(&f), "factor {f}");
            assert!(
                n >= (32 / (4 * f)).max(2) && n < 32 / f,
                "input {n} at ×{f}"
            );
            seen[f] += 1;
        }
        for (f, &count) in seen.iter().enumerate().take(max_factor + 1).skip(2) {
            assert!(count > 20, "×{f} drawn {count} times of 120");
        }
    }
}

#[test]
fn augmented_crops_are_flips_and_transposes() {
    let (image, data) = one_square_image("augment");
    let spec = BatchSpec {
        mode: TrainMode::Single,
        augment: true,
        ..BatchSpec::factor(1, 32, 1)
    };
    let plain = resize_bilinear_aa(&image, 3, 32, 32, 8, 8);
    // The 8 symmetries of the 8² input, built independently of the sampler.
    let symmetries: Vec<Vec<f32>> = (0..8)
        .map(|k| {
            let mut out = vec![0f32; plain.len()];
            for c in 0..3 {
                for i in 0..8 {
                    for j in 0..8 {
                        let (mut y, mut x) = (i, j);
                        if k & 1 != 0 {
                            x = 7 - x;
                        }
                        if k & 2 != 0 {
                            y = 7 - y;
                        }
                        if k & 4 != 0 {
                            (y, x) = (x, y);
                        }
                        out[(c * 8 + i) * 8 + j] = plain[(c * 8 + y) * 8 + x];
                    }
                }
            }
            out
        })
        .collect();
    let mut seen = [false; 8];
    let mut rng = Rng::new(5);
    for _ in 0..64 {
        let (input, _, _) = data.sample(&spec, &mut rng).unwrap();
        let input = input.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let k = symmetries
            .iter()
            .position(|s| s.iter().zip(&input).all(|(a, b)| (a - b).abs() < 1e-5));
        seen[k.expect("an augmented input is one of the 8 symmetries")] = true;
    }
    assert!(seen.iter().all(|&s| s), "{seen:?}");
}

#[test]
fn bad_training_folders_are_clear_errors() {
    let dir = folder("bad");
    let err = ImageFolder::open(&dir, 3, 32, 0).err().unwrap().to_string();
    assert!(err.contains("no PNG or JPEG"), "{err}");
    synthetic_images(&dir, 1);
    let err = ImageFolder::open(&dir, 3, 64, 0).err().unwrap().to_string();
    assert!(err.contains("at least 64"), "{err}");
    std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = ImageFolder::open(&dir, 3, 32, 0).err().unwrap().to_string();
    assert!(err.contains("broken.png"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The graph-free CPU gradient of the training loss equals candle's backprop, for every
/// parameter of both networks, on non-square images (ws1 and ws2 see different sizes). 600
/// points span two MLP chunks, 140 two CNN ones; ReLU cases use 40: among 600 points × 2,000 units, one pre-activation within
/// f32 noise of the kink is likely, and flipping it moves a layer's gradient by ~1 %.
#[test]
fn host_gradients_equal_backprop() {
    use candle_core::{DType, Device, Tensor};
    use funknn_core::network::InitScheme;
    use funknn_core::train::{interpolation_l1, l1_gradients, l1_gradients_graph};
    use funknn_core::{Activation, Config, FunkNN, KernelKind, Network, Rng};
    let dev = Device::Cpu;
    let mut rng = Rng::new(11);
    let mut uniform = |n: usize, lo: f64, hi: f64| -> Vec<f32> {
        (0..n).map(|_| rng.uniform_in(lo, hi) as f32).collect()
    };
    let (n, c, h, w, p) = (2, 3, 13, 17, 300);
    let images = Tensor::from_vec(uniform(n * c * h * w, 0.0, 1.0), (n, c, h, w), &dev).unwrap();
    let all_points = Tensor::from_vec(uniform(n * p * 2, -0.1, 1.1), (n, p, 2), &dev).unwrap();
    let all_targets = Tensor::from_vec(uniform(n * p * c, 0.0, 1.0), (n, p, c), &dev).unwrap();
    use Network::{Cnn, Mlp};
    for (network, activation, kernel, scheme) in [
        (Mlp, Activation::Relu, KernelKind::Bicubic, InitScheme::He),
        (
            Mlp,
            Activation::Relu,
            KernelKind::CubicConv,
            InitScheme::Pytorch,
        ),
        (
            Mlp,
            Activation::Relu,
            KernelKind::Bicubic,
            InitScheme::Pytorch,
        ),
        (Mlp, Activation::Relu, KernelKind::CubicConv, InitScheme::He),
        (
            Mlp,
            Activation::Sin,
            KernelKind::Bspline,
            InitScheme::Pytorch,
        ),
        (Mlp, Activation::Gelu, KernelKind::Bilinear, InitScheme::He),
        (
            Mlp,
            Activation::Tanh,
            KernelKind::Bicubic,
            InitScheme::Pytorch,
        ),
        (Mlp, Activation::Silu, KernelKind::Bspline, InitScheme::He),
        (
            Cnn,
            Activation::Relu,
            KernelKind::Bicubic,
            InitScheme::Pytorch,
        ),
        (
            Cnn,
            Activation::Sin,
            KernelKind::Bspline,
            InitScheme::Pytorch,
        ),
        (Cnn, Activation::Tanh, KernelKind::CubicConv, InitScheme::He),
    ] {
        let config = Config {
            network,
            activation,
            kernel,
            ..Config::default()
        };
        let (model, _vars) = FunkNN::random_with(&config, scheme, 5, DType::F32, &dev).unwrap();
        let used = match (network, activation) {
            (_, Activation::Relu) => 20,
            // Two CNN chunks; candle's CNN graph is slow.
            (Cnn, _) => 70,
            _ => p,
        };
        let points = all_points.narrow(1, 0, used).unwrap();
        let targets = all_targets.narrow(1, 0, used).unwrap();
        let host = l1_gradients(&model, &images, &points, &targets, false).unwrap();
        // The baseline comes with the gradient: the kernel interpolation's error.
        let interpolation = interpolation_l1(&model, &images, &points, &targets).unwrap();
        let gap = (host.interpolation_loss - interpolation).abs();
        assert!(
            gap <= 1e-6 * interpolation,
            "{network:?} {activation:?}: {gap}"
        );
        let (loss, host) = (host.loss, host.grads);
        let (loss_graph, graph) = l1_gradients_graph(&model, &images, &points, &targets).unwrap();
        let what = format!("{network:?} {activation:?} {kernel:?} {scheme:?}");
        assert!(
            (loss - loss_graph).abs() < 1e-6,
            "{what}: loss {loss} vs {loss_graph}"
        );
        let mut names: Vec<_> = graph.keys().collect();
        names.sort();
        assert_eq!(host.len(), graph.len(), "{what}: {names:?}");
        for name in names {
            let a: Vec<f32> = host[name].flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f32> = graph[name].flatten_all().unwrap().to_vec1().unwrap();
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let err = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(err <= 2e-4 * scale, "{what} {name}: {err} of {scale}");
        }
        if network == Cnn {
            continue;
        }
        // Centred patches: the gradient in training coordinates is the chain rule of the
        // exported model's, G[:, k] − G[:, centre] for every sample k but the centre.
        let centred = l1_gradients(&model, &images, &points, &targets, true).unwrap();
        let (loss_centred, centred) = (centred.loss, centred.grads);
        let mut tensors = std::collections::HashMap::new();
        for (name, t) in model.parameters() {
            tensors.insert(name.clone(), t.detach());
        }
        let w0 = &tensors["MLP.0.weight"];
        let exported = funknn_core::train::export_centred(w0, 3, 9).unwrap();
        tensors.insert("MLP.0.weight".into(), exported);
        // Variables, so that backprop reports their gradients.
        let tensors = tensors
            .into_iter()
            .map(|(k, t)| {
                (
                    k,
                    candle_core::Var::from_tensor(&t)
                        .unwrap()
                        .as_tensor()
                        .clone(),
                )
            })
            .collect();
        let plain = FunkNN::from_tensors(
            &config,
            tensors,
            DType::F32,
            &dev,
            std::path::Path::new("test"),
        )
        .unwrap();
        let (loss_c, g) = l1_gradients_graph(&plain, &images, &points, &targets).unwrap();
        assert!(
            (loss_c - loss_centred).abs() < 1e-6,
            "{what}: centred loss {loss_centred} vs {loss_c}"
        );
        let ge: Vec<f32> = g["MLP.0.weight"].flatten_all().unwrap().to_vec1().unwrap();
        let mut expected = ge.clone();
        for (row, src) in expected.chunks_exact_mut(81).zip(ge.chunks_exact(81)) {
            for k in 0..81 {
                if k != 40 {
                    row[k] = src[k] - src[40];
                }
            }
        }
        let got: Vec<f32> = centred["MLP.0.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&expected)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err <= 2e-4 * scale, "{what} centred: {err} of {scale}");
    }
}
