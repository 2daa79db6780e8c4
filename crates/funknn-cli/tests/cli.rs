//! The `funknn` binary end to end: import the official checkpoint, evaluate, fail cleanly.

mod common;
use common::{fails_with, funknn, ok, s, scratch};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use funknn_core::coords::{from_official, swap_xy};

/// The official implementation's outputs, committed at `tests/fixtures/golden/`.
fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden")
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
    #[cfg(unix)]
    {
        // Model folders are shared: other users must be able to read the weights.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(model.join("model.safetensors"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "model.safetensors has mode {mode:o}");
    }
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
    // `funknn points` on an image and a points file, plus extra options, writing `out`.
    let points_cmd = |image: &Path, pts: &Path, extra: &[&str]| {
        let mut args = vec![
            "points",
            "--model",
            s(&model),
            "--image",
            s(image),
            "--points",
            s(pts),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-o", s(&out)]);
        funknn(&args)
    };

    // Missing image.
    fails_with(&points_cmd(&dir.join("nope.png"), &points, &[]), "nope.png");
    // Truncated PNG.
    let png = dir.join("cut.png");
    image::RgbImage::new(16, 16).save(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&points_cmd(&png, &points, &[]), "cut.png");
    // Non-finite point.
    let bad = dir.join("bad.safetensors");
    save(
        &bad,
        "points",
        Tensor::new(&[[0.5f32, 0.5], [f32::NAN, 0.1]], &Device::Cpu).unwrap(),
    );
    fails_with(&points_cmd(&image, &bad, &[]), "not finite");
    // Wrong-shaped points.
    save(
        &bad,
        "points",
        Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    fails_with(&points_cmd(&image, &bad, &[]), "points must be");
    // Unknown option value.
    fails_with(
        &points_cmd(&image, &points, &["--derivatives", "third"]),
        "third",
    );
    // Weights that do not fit the architecture.
    let wrong = dir.join("wrong");
    fails_with(
        &funknn(&[
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
    fails_with(&points_cmd(&image, &points, &[]), "shape");
    assert!(!out.exists(), "a failed run left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(&*dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A model folder whose network outputs exactly 0: FunkNN then reduces to its kernel
/// interpolation (the skip to the patch centre), which we know in closed form.
fn zero_net_model(dir: &Path, kernel: funknn_core::KernelKind) -> PathBuf {
    use funknn_core::{Config, FunkNN};
    let config = Config {
        kernel,
        ..Config::default()
    };
    let (m, _) = FunkNN::random(&config, 1, DType::F32, &Device::Cpu).unwrap();
    let mut tensors: HashMap<String, Tensor> = m.parameters().iter().cloned().collect();
    for name in ["MLP.9.weight", "MLP.9.bias"] {
        let t = tensors[name].zeros_like().unwrap();
        tensors.insert(name.into(), t);
    }
    let m = FunkNN::from_tensors(
        &config,
        tensors,
        DType::F32,
        &Device::Cpu,
        Path::new("test"),
    )
    .unwrap();
    let out = dir.join(format!("zero-{kernel}"));
    m.save(&out, DType::F32).unwrap();
    out
}

fn test_picture(dir: &Path) -> PathBuf {
    let png = dir.join("in.png");
    image::RgbImage::from_fn(23, 17, |x, y| {
        image::Rgb([(x * 11) as u8, (y * 15) as u8, ((x * y * 7) % 256) as u8])
    })
    .save(&png)
    .unwrap();
    png
}

#[test]
fn upsample_at_scale_one_with_a_bspline_reproduces_the_picture() {
    let dir = scratch("upsample-identity");
    let model = zero_net_model(&dir, funknn_core::KernelKind::Bspline);
    let png = test_picture(&dir);
    let a = image::open(&png).unwrap().to_rgb8();
    // The largest pixel difference between the picture and its scale-1 upsample.
    let worst_after = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec!["upsample", s(&png), "--scale", "1", "--model", s(&model)];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-o", s(&out)]);
        ok(&funknn(&args));
        let b = image::open(&out).unwrap().to_rgb8();
        assert_eq!(a.dimensions(), b.dimensions());
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap()
    };
    let worst = worst_after("out.png", &["--tile", "50"]);
    assert!(
        worst <= 1,
        "B-spline interpolation at pixel centres is off by {worst}/255"
    );
    // The interpolation is symmetric, so its mean over the flips and transposes of the
    // (non-square) picture reproduces it as well.
    let worst = worst_after("ens.png", &["--self-ensemble"]);
    assert!(worst <= 1, "the self-ensemble is off by {worst}/255");
}

#[test]
fn upsample_non_integer_scale_and_size_grey_stays_grey() {
    let dir = scratch("upsample-sizes");
    let model = zero_net_model(&dir, funknn_core::KernelKind::Bicubic);
    let grey = dir.join("grey.png");
    image::GrayImage::from_fn(20, 10, |x, y| image::Luma([(x * 12 + y) as u8]))
        .save(&grey)
        .unwrap();
    let out = dir.join("up.png");
    ok(&funknn(&[
        "upsample",
        s(&grey),
        "--scale",
        "2.5",
        "--model",
        s(&model),
        "-o",
        s(&out),
    ]));
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (50, 25));
    assert_eq!(img.color(), image::ColorType::L8);
    ok(&funknn(&[
        "upsample",
        s(&grey),
        "--size",
        "33x7",
        "--model",
        s(&model),
        "-o",
        s(&out),
    ]));
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (33, 7));
    // A smooth ramp stays a ramp: the left edge is darker than the right.
    let g = img.to_luma8();
    assert!(g.get_pixel(2, 3)[0] < g.get_pixel(30, 3)[0]);
}

#[test]
fn derivatives_writes_two_colour_maps() {
    let dir = scratch("derivatives");
    let model = zero_net_model(&dir, funknn_core::KernelKind::Bspline);
    let png = test_picture(&dir);
    let prefix = dir.join("d");
    ok(&funknn(&[
        "derivatives",
        s(&png),
        "--scale",
        "2",
        "--model",
        s(&model),
        "-o",
        s(&prefix),
    ]));
    for suffix in ["-gradient.png", "-laplacian.png"] {
        let img = image::open(dir.join(format!("d{suffix}"))).unwrap();
        assert_eq!((img.width(), img.height()), (46, 34), "{suffix}");
    }
}

#[test]
fn upsample_refuses_bad_requests_without_output() {
    let dir = scratch("upsample-errors");
    let model = zero_net_model(&dir, funknn_core::KernelKind::Bicubic);
    let png = test_picture(&dir);
    let out = dir.join("out.png");
    let up = |extra: &[&str]| {
        let mut args = vec!["upsample", s(&png), "--model", s(&model), "-o", s(&out)];
        args.extend_from_slice(extra);
        funknn(&args)
    };
    fails_with(&up(&["--scale", "0"]), "scale");
    fails_with(&up(&["--scale", "1e6"]), "largest side");
    fails_with(&up(&["--scale", "-2"]), "scale");
    fails_with(&up(&["--size", "10x0"]), "output size");
    fails_with(&up(&["--size", "banana"]), "WIDTHxHEIGHT");
    fails_with(&up(&[]), "--scale");
    fails_with(
        &up(&["--scale", "2", "--size", "4x4"]),
        "cannot be used with",
    );
    let cut = dir.join("cut.png");
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &funknn(&[
            "upsample",
            s(&cut),
            "--scale",
            "2",
            "--model",
            s(&model),
            "-o",
            s(&out),
        ]),
        "cut.png",
    );
    fails_with(
        &funknn(&[
            "upsample",
            s(&png),
            "--scale",
            "2",
            "--model",
            s(&model),
            "-o",
            s(&dir.join("out.bmp")),
        ]),
        "must end in",
    );
    assert!(!out.exists());
}

#[test]
fn train_writes_a_model_and_refuses_to_overwrite_a_run() {
    let dir = scratch("train");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for k in 0..2u32 {
        image::RgbImage::from_fn(40, 36, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 7 + k) as u8, 90])
        })
        .save(data.join(format!("{k}.png")))
        .unwrap();
    }
    let out = dir.join("run");
    let args = [
        "train",
        "--data",
        s(&data),
        "-o",
        s(&out),
        "--crop",
        "32",
        "--batch",
        "2",
        "--points",
        "16",
        "--steps",
        "4",
        "--checkpoint-every",
        "2",
    ];
    ok(&funknn(&args));
    for f in [
        "config.json",
        "model.safetensors",
        "train.json",
        "losses.csv",
        "loss.png",
        "checkpoint/state.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The trained folder is a model the other commands load.
    let png = test_picture(&dir);
    ok(&funknn(&[
        "upsample",
        s(&png),
        "--scale",
        "1.5",
        "--model",
        s(&out),
        "-o",
        s(&dir.join("up.png")),
    ]));
    fails_with(&funknn(&args), "--resume");
    // Resuming a finished run changes nothing and succeeds.
    let mut resume = args.to_vec();
    resume.push("--resume");
    ok(&funknn(&resume));
    // A resumed run can be extended, not shortened below what it did.
    let base = [
        "train",
        "--data",
        s(&data),
        "-o",
        s(&out),
        "--resume",
        "--steps",
    ];
    let with_steps = |n: &'static str| {
        let mut v = base.to_vec();
        v.push(n);
        v
    };
    ok(&funknn(&with_steps("6")));
    let csv = std::fs::read_to_string(out.join("losses.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6, "{csv}");
    fails_with(&funknn(&with_steps("2")), "fewer than");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &funknn(&[
            "train",
            "--data",
            s(&empty),
            "-o",
            s(&dir.join("run2")),
            "--crop",
            "32",
            "--steps",
            "1",
        ]),
        "no PNG or JPEG",
    );
}

#[test]
fn eval_prints_a_table_where_a_zero_net_equals_its_kernel() {
    let dir = scratch("eval");
    // With the network silenced, FunkNN with the bicubic kernel is bicubic interpolation
    // (up to the border rule), so its column must match the bicubic baseline.
    let model = zero_net_model(&dir, funknn_core::KernelKind::Bicubic);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for k in 0..2u32 {
        // Flat within 20 px of the crop's border, where the two border rules would differ.
        let window = |t: u32, n: u32, crop: u32| {
            let d = (t as f32 - (n - crop) as f32 / 2.0).min((n + crop) as f32 / 2.0 - t as f32);
            ((d - 20.0) / 10.0).clamp(0.0, 1.0)
        };
        image::RgbImage::from_fn(140, 132, |x, y| {
            let win = window(x, 140, 128) * window(y, 132, 128);
            let v = |a: f32| {
                (128.0 + 90.0 * win * ((x as f32 * a + y as f32 * 0.3 + k as f32) * 0.2).sin())
                    as u8
            };
            image::Rgb([v(1.0), v(0.7), v(1.3)])
        })
        .save(data.join(format!("{k}.png")))
        .unwrap();
    }
    let md = dir.join("table.md");
    let out = funknn(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--max-side",
        "128",
        "--markdown",
        s(&md),
    ]);
    ok(&out);
    let table = std::fs::read_to_string(&md).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), table.trim());
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ×")).collect();
    assert_eq!(rows.len(), 4, "{table}");
    // The summary line gives the gains over bicubic to the millidecibel: ~0 for the direct
    // scales (the recursive ×4 is two bicubic steps against one).
    let summary = table
        .lines()
        .find_map(|l| l.strip_prefix("FunkNN's SNR gain over bicubic: "))
        .expect("a summary line");
    let gains: Vec<f64> = summary
        .split(" dB")
        .filter_map(|g| g.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(gains.len(), 4, "{summary}");
    assert!(gains[..3].iter().all(|g| g.abs() < 0.05), "{summary}");
    assert!(rows[3].contains("recursive"));
    for row in &rows[..3] {
        let cells: Vec<f64> = row
            .split('|')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        // funknn SNR, PSNR, bilinear SNR, PSNR, bicubic SNR, PSNR, lanczos3 SNR, PSNR
        assert_eq!(cells.len(), 8, "{row}");
        // They differ only in the border rule (reflection vs clamping), which a flat border
        // makes moot.
        assert!(
            (cells[0] - cells[4]).abs() < 0.05,
            "zero-net FunkNN vs bicubic: {row}"
        );
        assert!(cells.iter().all(|v| v.is_finite() && *v > 5.0), "{row}");
    }
    fails_with(
        &funknn(&[
            "eval",
            "--model",
            s(&model),
            "--data",
            s(&dir.join("nothing")),
        ]),
        "nothing",
    );
}

/// `eval --derivatives`: the table has a row per scale with gradient and Laplacian SNR per
/// method, and a zero-net B-spline FunkNN scores exactly the B-spline baseline (its skip).
#[test]
fn derivative_eval_scores_a_zero_net_as_its_kernel() {
    let dir = scratch("eval-derivatives");
    let model = zero_net_model(&dir, funknn_core::KernelKind::Bspline);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    image::RgbImage::from_fn(70, 60, |x, y| {
        let v = |a: f32| (128.0 + 90.0 * ((x as f32 * a + y as f32 * 0.4) * 0.3).sin()) as u8;
        image::Rgb([v(1.0), v(0.6), v(1.4)])
    })
    .save(data.join("a.png"))
    .unwrap();
    let md = dir.join("derivatives.md");
    let out = funknn(&[
        "eval",
        "--derivatives",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--scales",
        "2,3",
        "--markdown",
        s(&md),
    ]);
    ok(&out);
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(
        table.contains("bspline ∇ SNR") && table.contains("keys Δ SNR"),
        "{table}"
    );
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ×")).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        let cells: Vec<f64> = row
            .split('|')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        // funknn ∇, Δ, then bspline, keys, bicubic.
        assert_eq!(cells.len(), 8, "{row}");
        assert_eq!(cells[0], cells[2], "{row}");
        assert_eq!(cells[1], cells[3], "{row}");
        assert!(cells.iter().all(|v| v.is_finite()), "{row}");
    }
    assert!(
        table.contains("gain over the B-spline: ×2 ∇ +0.00 dB, Δ +0.00 dB"),
        "{table}"
    );
}

/// The committed example picture (public domain, NASA, via scikit-image).
fn example_picture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/astronaut-128.png")
}

#[test]
fn the_embedded_model_upsamples_and_beats_bicubic() {
    let dir = scratch("embedded");
    // Without --model: the embedded funknn-mlp-photo.
    let out = dir.join("big.png");
    ok(&funknn(&[
        "upsample",
        s(&example_picture()),
        "--scale",
        "2",
        "-o",
        s(&out),
    ]));
    let big = image::open(&out).unwrap();
    assert_eq!((big.width(), big.height()), (256, 256));
    // On the example itself (downsampled ×2, then restored), it beats bicubic clearly.
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(example_picture(), data.join("astronaut.png")).unwrap();
    let md = dir.join("table.md");
    ok(&funknn(&[
        "eval",
        "--data",
        s(&data),
        "--max-side",
        "128",
        "--scales",
        "2",
        "--markdown",
        s(&md),
    ]));
    let table = std::fs::read_to_string(&md).unwrap();
    let row = table.lines().nth(2).unwrap();
    let cells: Vec<f64> = row
        .split('|')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    assert!(cells[0] > cells[4] + 1.0, "funknn vs bicubic: {row}");
}
