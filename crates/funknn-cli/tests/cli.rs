//! The `funknn` binary end to end: import the official checkpoint, evaluate, fail cleanly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};
use funknn_core::coords::{from_official, swap_xy};

fn golden_dir() -> PathBuf {
    std::env::var("FUNKNN_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
        })
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("funknn-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn funknn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "funknn failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "funknn should fail ({needle})");
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    assert!(!err.contains("panicked"), "funknn panicked:\n{err}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn save(path: &Path, name: &str, t: Tensor) {
    let mut m = HashMap::new();
    m.insert(name.to_string(), t);
    candle_core::safetensors::save(&m, path).unwrap();
}

fn golden() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        golden_dir().join("funknn_mlp_relu.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

fn max_abs(a: &Tensor) -> f64 {
    a.to_dtype(DType::F64)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// Imports the official checkpoint and writes the golden inputs in our convention.
fn setup(dir: &Path, kernel: &str) -> (PathBuf, PathBuf, PathBuf) {
    let model = dir.join("model");
    let pt = golden_dir().join("funknn_mlp_relu.pt");
    ok(&funknn(&[
        "import",
        "--from",
        s(&pt),
        "--network",
        "mlp",
        "--activation",
        "relu",
        "--kernel",
        kernel,
        "--channels",
        "3",
        "-o",
        s(&model),
    ]));
    assert!(model.join("config.json").is_file() && model.join("model.safetensors").is_file());
    let g = golden();
    let image = dir.join("image.safetensors");
    save(&image, "image", g["image"].clone());
    let points = dir.join("points.safetensors");
    save(&points, "points", from_official(&g["coords"]).unwrap());
    (model, image, points)
}

#[test]
fn points_matches_the_official_code() {
    let dir = scratch("golden");
    let (model, image, points) = setup(&dir, "cubic_conv");
    let out = dir.join("out.safetensors");
    ok(&funknn(&[
        "points",
        "--model",
        s(&model),
        "--image",
        s(&image),
        "--points",
        s(&points),
        "--derivatives",
        "laplacian",
        "-o",
        s(&out),
    ]));
    let got = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    let g = golden();
    assert!(max_abs_diff(&got["value"], &g["cubic_conv.value"]) <= 1e-5);
    let jac = swap_xy(&got["gradient"]).unwrap();
    let e =
        max_abs_diff(&jac, &g["f64.cubic_conv.jacobian"]) / max_abs(&g["f64.cubic_conv.jacobian"]);
    assert!(e <= 1e-4, "jacobian {e:e}");
    let e = max_abs_diff(&got["laplacian"], &g["f64.cubic_conv.laplace_per_channel"])
        / max_abs(&g["f64.cubic_conv.laplace_per_channel"]);
    assert!(e <= 1e-4, "laplacian {e:e}");
    assert!(!got.contains_key("hessian"));

    // Hessian output: shape (N, P, C, 3), trace equal to the Laplacian.
    ok(&funknn(&[
        "points",
        "--model",
        s(&model),
        "--image",
        s(&image),
        "--points",
        s(&points),
        "--derivatives",
        "hessian",
        "-o",
        s(&out),
    ]));
    let got = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_eq!(got["hessian"].dims(), &[2, 256, 3, 3]);
    let h = &got["hessian"];
    let trace = (h.narrow(3, 0, 1).unwrap() + h.narrow(3, 2, 1).unwrap())
        .unwrap()
        .squeeze(3)
        .unwrap();
    assert!(max_abs_diff(&trace, &got["laplacian"]) <= 1e-3);
}

#[test]
fn png_input_and_shared_points() {
    let dir = scratch("png");
    let (model, _, _) = setup(&dir, "bicubic");
    let png = dir.join("in.png");
    let img = image::RgbImage::from_fn(20, 12, |x, y| {
        image::Rgb([(x * 12) as u8, (y * 20) as u8, 128])
    });
    img.save(&png).unwrap();
    let points = dir.join("p.safetensors");
    save(
        &points,
        "points",
        Tensor::new(&[[0.5f32, 0.5], [0.025, 0.0417]], &Device::Cpu).unwrap(),
    );
    let out = dir.join("o.safetensors");
    ok(&funknn(&[
        "points",
        "--model",
        s(&model),
        "--image",
        s(&png),
        "--points",
        s(&points),
        "-o",
        s(&out),
    ]));
    let got = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_eq!(got["value"].dims(), &[1, 2, 3]);
}

#[test]
fn bad_input_fails_cleanly_without_output() {
    let dir = scratch("errors");
    let (model, image, points) = setup(&dir, "bicubic");
    let out = dir.join("out.safetensors");
    let run = |args: &[&str]| funknn(args);

    // Missing image.
    let missing = dir.join("nope.png");
    fails_with(
        &run(&[
            "points",
            "--model",
            s(&model),
            "--image",
            s(&missing),
            "--points",
            s(&points),
            "-o",
            s(&out),
        ]),
        "nope.png",
    );
    // Truncated PNG.
    let png = dir.join("cut.png");
    image::RgbImage::new(16, 16).save(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &run(&[
            "points",
            "--model",
            s(&model),
            "--image",
            s(&png),
            "--points",
            s(&points),
            "-o",
            s(&out),
        ]),
        "cut.png",
    );
    // Non-finite point.
    let bad = dir.join("bad.safetensors");
    save(
        &bad,
        "points",
        Tensor::new(&[[0.5f32, 0.5], [f32::NAN, 0.1]], &Device::Cpu).unwrap(),
    );
    fails_with(
        &run(&[
            "points",
            "--model",
            s(&model),
            "--image",
            s(&image),
            "--points",
            s(&bad),
            "-o",
            s(&out),
        ]),
        "not finite",
    );
    // Wrong-shaped points.
    save(
        &bad,
        "points",
        Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    fails_with(
        &run(&[
            "points",
            "--model",
            s(&model),
            "--image",
            s(&image),
            "--points",
            s(&bad),
            "-o",
            s(&out),
        ]),
        "points must be",
    );
    // Unknown option value.
    fails_with(
        &run(&[
            "points",
            "--model",
            s(&model),
            "--image",
            s(&image),
            "--points",
            s(&points),
            "--derivatives",
            "third",
            "-o",
            s(&out),
        ]),
        "third",
    );
    // Weights that do not fit the architecture.
    let wrong = dir.join("wrong");
    fails_with(
        &run(&[
            "import",
            "--from",
            s(&golden_dir().join("funknn_mlp_relu.pt")),
            "--network",
            "cnn",
            "-o",
            s(&wrong),
        ]),
        "CNNs.0.weight",
    );
    assert!(!wrong.join("model.safetensors").exists());
    // A model folder whose tensor has the wrong shape.
    let cfg = std::fs::read_to_string(model.join("config.json")).unwrap();
    std::fs::write(
        model.join("config.json"),
        cfg.replace("\"channels\": 3", "\"channels\": 1"),
    )
    .unwrap();
    fails_with(
        &run(&[
            "points",
            "--model",
            s(&model),
            "--image",
            s(&image),
            "--points",
            s(&points),
            "-o",
            s(&out),
        ]),
        "shape",
    );
    assert!(!out.exists(), "a failed run left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}
