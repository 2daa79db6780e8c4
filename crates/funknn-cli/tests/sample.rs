//! `funknn sample` end to end on a small random generator: files, sizes, seeds, the contact
//! sheet, and clean failures.

mod common;
use common::{fails_with, funknn, ok, s, scratch};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use funknn_core::{Config, FunkNN};
use funknn_gen::{AutoencoderConfig, FlowConfig, Generator, GeneratorConfig};
use image::ColorType;

fn config() -> GeneratorConfig {
    GeneratorConfig {
        architecture: funknn_gen::ARCHITECTURE.into(),
        autoencoder: AutoencoderConfig {
            latent_dim: 16,
            resolution: 32,
            channels: 1,
            width: 0.25,
        },
        flow: FlowConfig {
            latent_dim: 16,
            depth: 2,
        },
        source: Some("test".into()),
        temperature: None,
        mixture: None,
    }
}

/// A random generator folder and a random grey FunkNN folder.
fn models(dir: &Path) -> (PathBuf, PathBuf) {
    let (generator, _) = Generator::random(&config(), 4, DType::F32, &Device::Cpu).unwrap();
    let g = dir.join("generator");
    generator.save(&g, DType::F32).unwrap();
    let grey = Config {
        channels: 1,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&grey, 2, DType::F32, &Device::Cpu).unwrap();
    let m = dir.join("funknn");
    model.save(&m, DType::F32).unwrap();
    (g, m)
}

#[test]
fn samples_at_any_size_are_seeded_and_gridded() {
    let dir = scratch("sample");
    let (g, m) = models(&dir.0);
    let out = dir.0.join("a");
    let grid = dir.0.join("grid.png");
    let args = [
        "sample",
        "--generator",
        s(&g),
        "--model",
        s(&m),
        "--count",
        "5",
    ];
    ok(&funknn(
        &[
            &args[..],
            &[
                "--size",
                "48x40",
                "--batch",
                "2",
                "-o",
                s(&out),
                "--grid",
                s(&grid),
            ],
        ]
        .concat(),
    ));
    for i in 0..5 {
        let img = image::open(out.join(format!("{i:04}.png"))).unwrap();
        assert_eq!(
            (img.width(), img.height(), img.color()),
            (48, 40, ColorType::L8)
        );
    }
    assert!(!out.join("0005.png").exists());
    let sheet = image::open(&grid).unwrap();
    // Three columns, two rows of 48×40, 2 pixels apart.
    assert_eq!(
        (sheet.width(), sheet.height()),
        (3 * 48 + 4 * 2, 2 * 40 + 3 * 2)
    );
    // The same seed gives the same images whatever the batch; another seed others.
    let again = dir.0.join("b");
    ok(&funknn(
        &[
            &args[..],
            &["--size", "48x40", "--batch", "5", "-o", s(&again)],
        ]
        .concat(),
    ));
    let other = dir.0.join("c");
    ok(&funknn(
        &[
            &args[..],
            &["--size", "48x40", "--seed", "1", "-o", s(&other)],
        ]
        .concat(),
    ));
    let bytes = |d: &Path| std::fs::read(d.join("0003.png")).unwrap();
    assert_eq!(bytes(&out), bytes(&again));
    assert_ne!(bytes(&out), bytes(&other));
    // Without a FunkNN: the decoder's own 32² images.
    let native = dir.0.join("native");
    ok(&funknn(&[
        "sample",
        "--generator",
        s(&g),
        "--count",
        "2",
        "-o",
        s(&native),
    ]));
    let img = image::open(native.join("0001.png")).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
}

#[test]
fn bad_requests_fail_cleanly_without_output() {
    let dir = scratch("bad");
    let (g, m) = models(&dir.0);
    let out = dir.0.join("out");
    let base = ["sample", "--generator", s(&g), "-o", s(&out)];
    fails_with(
        &funknn(&[&base[..], &["--count", "0"]].concat()),
        "--count 0",
    );
    fails_with(
        &funknn(&[&base[..], &["--model", s(&m), "--size", "100000x100000"]].concat()),
        "65536",
    );
    fails_with(
        &funknn(&[&base[..], &["--size", "64x64"]].concat()),
        "needs --model",
    );
    fails_with(
        &funknn(&["sample", "--generator", "someone/absent", "-o", s(&out)]),
        "someone/absent",
    );
    assert!(!out.exists(), "no output folder for a refused request");
    // A generator folder whose weights have a wrong-shaped tensor.
    let weights = g.join("model.safetensors");
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    tensors.insert(
        "decoder.mlps.0.weight".into(),
        Tensor::zeros((3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    fails_with(&funknn(&base), "decoder.mlps.0.weight");
    assert!(!out.exists());
}

/// Without --generator: the embedded Fashion-MNIST generator, rendered at any size by its
/// embedded FunkNN; at its own size without one.
#[test]
fn the_embedded_generator_samples_garments_at_any_size() {
    let dir = scratch("embedded");
    let out = dir.0.join("big");
    ok(&funknn(&[
        "sample",
        "--count",
        "2",
        "--size",
        "64x64",
        "--seed",
        "3",
        "-o",
        s(&out),
    ]));
    let img = image::open(out.join("0001.png")).unwrap();
    assert_eq!(
        (img.width(), img.height(), img.color()),
        (64, 64, ColorType::L8)
    );
    // A garment on a black ground: the border is dark, the middle is not.
    let grey = img.to_luma8();
    let border: f64 = (0..64).map(|i| grey.get_pixel(i, 0)[0] as f64).sum::<f64>() / 64.0;
    let middle: f64 = (24..40)
        .flat_map(|y| (24..40).map(move |x| (x, y)))
        .map(|(x, y)| grey.get_pixel(x, y)[0] as f64)
        .sum::<f64>()
        / 256.0;
    assert!(border < 30.0 && middle > border + 40.0, "{border} {middle}");
    let native = dir.0.join("native");
    ok(&funknn(&["sample", "--count", "1", "-o", s(&native)]));
    let img = image::open(native.join("0000.png")).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
}

/// A temperature at which the embedded prior overflows is refused before any file.
#[test]
fn an_overflowing_temperature_leaves_no_samples() {
    // The embedded generator's flow overflows at temperature 3 (its mixture does not).
    let dir = scratch("overflow");
    let out = dir.0.join("out");
    fails_with(
        &funknn(&[
            "sample",
            "--prior",
            "flow",
            "--count",
            "300",
            "--temperature",
            "3",
            "-o",
            s(&out),
        ]),
        "not finite at temperature 3",
    );
    assert!(!out.exists());
}

#[test]
fn a_fitted_mixture_is_what_sample_draws_from_and_the_flow_stays() {
    let dir = scratch("mixture");
    let (g, _) = models(&dir.0);
    // 40 random grey 32² pictures stand in for training images.
    let pics = dir.0.join("pics");
    std::fs::create_dir_all(&pics).unwrap();
    let mut rng = funknn_core::Rng::new(5);
    for i in 0..40 {
        let px: Vec<u8> = (0..32 * 32).map(|_| rng.below(256) as u8).collect();
        image::GrayImage::from_raw(32, 32, px)
            .unwrap()
            .save(pics.join(format!("{i:02}.png")))
            .unwrap();
    }
    let mixed = dir.0.join("mixed");
    let fit = [
        "fit-mixture",
        "--generator",
        s(&g),
        "--data",
        s(&pics),
        "--components",
        "2",
        "-o",
        s(&mixed),
    ];
    ok(&funknn(&fit));
    let config = std::fs::read_to_string(mixed.join("config.json")).unwrap();
    assert!(config.contains("\"mixture\""), "{config}");
    let summary = std::fs::read_to_string(mixed.join("fit-mixture.json")).unwrap();
    assert!(summary.contains("\"latents\": 40"), "{summary}");
    // A second fit into the same folder is refused, leaving it as it was.
    fails_with(&funknn(&fit), "already holds a model");
    let bad = dir.0.join("bad");
    let zero = [&fit[..6], &["0", "-o", s(&bad)]].concat();
    fails_with(&funknn(&zero), "components");
    assert!(!bad.join("model.safetensors").exists());

    let sample = |generator: &Path, extra: &[&str], out: &str| -> Vec<u8> {
        let out = dir.0.join(out);
        let args = [
            &[
                "sample",
                "--generator",
                s(generator),
                "--count",
                "3",
                "-o",
                s(&out),
            ][..],
            extra,
        ]
        .concat();
        ok(&funknn(&args));
        std::fs::read(out.join("0002.png")).unwrap()
    };
    let from_mixture = sample(&mixed, &[], "m");
    assert_eq!(from_mixture, sample(&mixed, &["--prior", "mixture"], "m2"));
    let from_flow = sample(&mixed, &["--prior", "flow"], "f");
    assert_ne!(from_mixture, from_flow);
    // The flow is the one the generator had before the fit.
    assert_eq!(from_flow, sample(&g, &[], "g"));
    fails_with(
        &funknn(&[
            "sample",
            "--generator",
            s(&g),
            "--prior",
            "mixture",
            "-o",
            s(&dir.0.join("none")),
        ]),
        "no sampling mixture",
    );
    assert!(!dir.0.join("none").exists());
}
