//! Picture files as users have them: every format, layout and depth read as Pillow wrote
//! it (`tests/fixtures/pictures/manifest.json`), EXIF orientation applied, lossless round
//! trips, clear errors; and the kernel interpolant that renders alpha.

mod common;
use common::scratch;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use funknn_core::picture::{
    write_picture, BitDepth, Picture, PictureFormat, Raster, Samples, WriteOptions,
};
use funknn_core::{
    Config, ContinuousImage, EvalOptions, FunkNN, JetOrder, KernelInterpolant, KernelKind,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pictures")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// All samples `(H, W, C)` (colour then alpha) in the file's own integer units.
fn integer_samples(p: &Picture) -> (Vec<i64>, usize, usize, usize) {
    let all = match &p.alpha {
        Some(a) => Tensor::cat(&[&p.colour, a], 0).unwrap(),
        None => p.colour.clone(),
    };
    let (c, h, w) = all.dims3().unwrap();
    let max = p.depth.max_value() as f64;
    let v: Vec<f32> = all
        .permute((1, 2, 0))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let v = v.iter().map(|&x| (x as f64 * max).round() as i64).collect();
    (v, h, w, c)
}

fn as_i64s(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn every_lossless_fixture_reads_as_pillow_wrote_it() {
    let manifest = manifest();
    let mut checked = 0;
    for (name, entry) in manifest.as_object().unwrap() {
        if entry.get("lossy").is_some() {
            continue;
        }
        let p = Picture::read(&fixtures().join(name), &Device::Cpu).unwrap();
        let (v, h, w, c) = integer_samples(&p);
        assert_eq!(w as u64, entry["width"].as_u64().unwrap(), "{name} width");
        assert_eq!(h as u64, entry["height"].as_u64().unwrap(), "{name} height");
        assert_eq!(
            c as u64,
            entry["channels"].as_u64().unwrap(),
            "{name} channels"
        );
        assert_eq!(
            p.alpha.is_some(),
            entry["alpha"].as_bool().unwrap(),
            "{name} alpha"
        );
        let depth = match entry["depth"].as_u64().unwrap() {
            8 => BitDepth::Eight,
            _ => BitDepth::Sixteen,
        };
        assert_eq!(p.depth, depth, "{name} depth");
        assert_eq!(
            v.iter().sum::<i64>(),
            entry["sum"].as_i64().unwrap(),
            "{name} sum"
        );
        assert_eq!(
            v[..c].to_vec(),
            as_i64s(&entry["first"]),
            "{name} first pixel"
        );
        assert_eq!(
            v[v.len() - c..].to_vec(),
            as_i64s(&entry["last"]),
            "{name} last pixel"
        );
        checked += 1;
    }
    // rgba.png, grey-alpha.png, grey16.png, grey16.tif, rgb.tif, rgb.webp, rgba.webp,
    // rgb.bmp, palette.png, upright.png.
    assert_eq!(checked, 10);
}

fn mean_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn exif_orientation_is_applied_on_read() {
    // Stored 24 wide and 32 high, turned 90° counter-clockwise, with orientation 6.
    let turned = Picture::read(&fixtures().join("exif-orientation-6.jpg"), &Device::Cpu).unwrap();
    let upright = Picture::read(&fixtures().join("upright.png"), &Device::Cpu).unwrap();
    assert_eq!(turned.colour.dims(), &[3, 24, 32]);
    let right = mean_abs_diff(&turned.colour, &upright.colour);
    // The other turn of the same shape: upside down.
    let flipped = upright.colour.flip_all();
    let wrong = mean_abs_diff(&turned.colour, &flipped);
    assert!(right < 0.02, "JPEG at quality 95 should be close: {right}");
    assert!(wrong > 5.0 * right, "right {right}, upside down {wrong}");
}

trait FlipAll {
    fn flip_all(&self) -> Tensor;
}

impl FlipAll for Tensor {
    /// Turned by 180°: both spatial axes reversed.
    fn flip_all(&self) -> Tensor {
        let (_, h, w) = self.dims3().unwrap();
        let rev = |n: usize| Tensor::from_vec((0..n as u32).rev().collect(), n, &Device::Cpu);
        self.index_select(&rev(h).unwrap(), 1)
            .unwrap()
            .index_select(&rev(w).unwrap(), 2)
            .unwrap()
    }
}

/// A w×h raster of `channels` with distinct, deterministic samples.
fn raster(width: usize, height: usize, channels: usize, depth: BitDepth) -> Raster {
    let n = width * height * channels;
    let samples = match depth {
        BitDepth::Eight => Samples::U8((0..n).map(|i| (i * 37 % 256) as u8).collect()),
        BitDepth::Sixteen => Samples::U16((0..n).map(|i| (i * 7919 % 65536) as u16).collect()),
    };
    Raster::new(width, height, channels, samples).unwrap()
}

fn read_back(path: &Path) -> (Picture, Raster) {
    let p = Picture::read(path, &Device::Cpu).unwrap();
    let (v, h, w, c) = integer_samples(&p);
    let samples = match p.depth {
        BitDepth::Eight => Samples::U8(v.iter().map(|&x| x as u8).collect()),
        BitDepth::Sixteen => Samples::U16(v.iter().map(|&x| x as u16).collect()),
    };
    (p, Raster::new(w, h, c, samples).unwrap())
}

/// The samples of `r` with grey replicated to RGB (grey+alpha to RGBA).
fn as_colour(r: &Raster) -> Raster {
    fn expand<T: Copy>(v: &[T], c: usize) -> Vec<T> {
        v.chunks_exact(c)
            .flat_map(|p| {
                let mut out = vec![p[0], p[0], p[0]];
                out.extend_from_slice(&p[1..]);
                out
            })
            .collect()
    }
    let samples = match &r.samples {
        Samples::U8(v) => Samples::U8(expand(v, r.channels)),
        Samples::U16(v) => Samples::U16(expand(v, r.channels)),
    };
    Raster::new(r.width, r.height, r.channels + 2, samples).unwrap()
}

#[test]
fn lossless_formats_round_trip_every_layout_and_depth() {
    let dir = scratch("round-trip");
    let cases = [
        ("png", BitDepth::Eight, 1..=4),
        ("png", BitDepth::Sixteen, 1..=4),
        ("tif", BitDepth::Eight, 1..=4),
        ("tiff", BitDepth::Sixteen, 1..=4),
        ("webp", BitDepth::Eight, 1..=4),
    ];
    for (ext, depth, channels) in cases {
        for c in channels {
            let written = raster(7, 5, c, depth);
            let path = dir.0.join(format!("c{c}-{depth:?}.{ext}"));
            write_picture(&path, &written, &WriteOptions::default()).unwrap();
            let (picture, back) = read_back(&path);
            assert_eq!(picture.depth, depth, "{path:?}");
            // TIFF has no grey+alpha layout and WebP no grey one: grey comes back as RGB.
            let grey_as_colour = (ext.starts_with("tif") && c == 2) || (ext == "webp" && c <= 2);
            let expected = if grey_as_colour {
                as_colour(&written)
            } else {
                written
            };
            assert_eq!(back, expected, "{path:?}");
        }
    }
}

#[test]
fn jpeg_writes_grey_and_rgb_at_the_quality_asked() {
    let dir = scratch("jpeg");
    // A smooth picture, so that JPEG is close at high quality.
    let (w, h) = (32, 24);
    let values: Vec<f32> = (0..w * h * 3)
        .map(|i| ((i / 3 % w) as f32 / w as f32 + (i % 3) as f32 * 0.1).min(1.0))
        .collect();
    let mut samples = Samples::new(BitDepth::Eight);
    samples.push_values(&values);
    let r = Raster::new(w, h, 3, samples).unwrap();
    let mut sizes = Vec::new();
    for q in [20u8, 95] {
        let path = dir.0.join(format!("q{q}.jpg"));
        write_picture(&path, &r, &WriteOptions { jpeg_quality: q }).unwrap();
        sizes.push(std::fs::metadata(&path).unwrap().len());
        let p = Picture::read(&path, &Device::Cpu).unwrap();
        assert_eq!(p.colour.dims(), &[3, h, w]);
        let truth = Tensor::from_vec(values.clone(), (h, w, 3), &Device::Cpu)
            .unwrap()
            .permute((2, 0, 1))
            .unwrap();
        let err = mean_abs_diff(&p.colour, &truth);
        assert!(err < if q == 95 { 0.01 } else { 0.05 }, "q{q}: {err}");
    }
    assert!(
        sizes[0] < sizes[1],
        "quality 20 should be smaller: {sizes:?}"
    );
    let grey = raster(8, 8, 1, BitDepth::Eight);
    let path = dir.0.join("grey.jpg");
    write_picture(&path, &grey, &WriteOptions::default()).unwrap();
    assert_eq!(
        Picture::read(&path, &Device::Cpu)
            .unwrap()
            .colour
            .dim(0)
            .unwrap(),
        1
    );
}

fn assert_fails_without_file(path: &Path, r: &Raster, options: WriteOptions, needle: &str) {
    let err = write_picture(path, r, &options).unwrap_err().to_string();
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!path.exists(), "{path:?} was written");
    let dir = path.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn impossible_outputs_are_errors_that_leave_nothing() {
    let dir = scratch("refused");
    let o = WriteOptions::default();
    let rgba = raster(4, 4, 4, BitDepth::Eight);
    assert_fails_without_file(&dir.0.join("a.jpg"), &rgba, o, "no alpha");
    let deep = raster(4, 4, 3, BitDepth::Sixteen);
    assert_fails_without_file(&dir.0.join("a.webp"), &deep, o, "8-bit samples only");
    assert_fails_without_file(&dir.0.join("a.jpeg"), &deep, o, "8-bit samples only");
    let rgb = raster(4, 4, 3, BitDepth::Eight);
    assert_fails_without_file(&dir.0.join("a.gif"), &rgb, o, ".png, .jpg");
    assert_fails_without_file(&dir.0.join("noext"), &rgb, o, ".png, .jpg");
    let bad_q = WriteOptions { jpeg_quality: 0 };
    assert_fails_without_file(&dir.0.join("q.jpg"), &rgb, bad_q, "1 to 100");
    assert!(Raster::new(4, 4, 3, Samples::U8(vec![0; 47])).is_err());
    assert!(Raster::new(4, 4, 5, Samples::U8(vec![0; 80])).is_err());
    assert!(Raster::new(0, 4, 1, Samples::U8(vec![])).is_err());
    assert_eq!(
        PictureFormat::from_path(Path::new("x.TIFF")).unwrap(),
        PictureFormat::Tiff
    );
}

#[test]
fn unreadable_pictures_are_errors_naming_the_file() {
    let dir = scratch("unreadable");
    let cases: [(&str, &[u8]); 3] = [
        ("text.png", b"this is not a picture"),
        ("empty.jpg", b""),
        // A PNG cut after its signature and part of its header.
        (
            "cut.png",
            &[
                0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I',
            ],
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = Picture::read(&path, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains(name), "{err:?} does not name {name}");
    }
    let missing = dir.0.join("missing.png");
    let err = Picture::read(&missing, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.png"), "{err}");
    // A truncated real picture.
    let whole = std::fs::read(fixtures().join("rgba.png")).unwrap();
    let path = dir.0.join("truncated.png");
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    assert!(Picture::read(&path, &Device::Cpu).is_err());
}

#[test]
fn compose_keeps_channels_and_appends_alpha() {
    let colour = Samples::U8(vec![1, 2, 3, 4, 5, 6]);
    let alpha = Samples::U8(vec![9, 8]);
    assert_eq!(
        Samples::compose(&colour, 3, 3, Some(&alpha)).unwrap(),
        Samples::U8(vec![1, 2, 3, 9, 4, 5, 6, 8])
    );
    assert_eq!(
        Samples::compose(&colour, 3, 1, None).unwrap(),
        Samples::U8(vec![1, 4])
    );
    assert!(Samples::compose(&colour, 3, 4, None).is_err());
    assert!(Samples::compose(&colour, 3, 3, Some(&Samples::U16(vec![1, 2]))).is_err());
    let mut s = Samples::new(BitDepth::Sixteen);
    s.push_values(&[-1.0, 0.0, 0.5, 1.0, 2.0]);
    assert_eq!(s, Samples::U16(vec![0, 0, 32768, 65535, 65535]));
}

/// A smooth test image `(1, 2, h, w)` in f64.
fn smooth_image(h: usize, w: usize) -> Tensor {
    let mut v = Vec::new();
    for c in 0..2 {
        for i in 0..h {
            for j in 0..w {
                let (x, y) = ((j as f64 + 0.5) / w as f64, (i as f64 + 0.5) / h as f64);
                v.push((3.0 * x + c as f64).sin() * (2.0 * y).cos() * 0.5 + 0.5);
            }
        }
    }
    Tensor::from_vec(v, (1, 2, h, w), &Device::Cpu).unwrap()
}

#[test]
fn the_kernel_interpolant_interpolates_and_its_jets_match_finite_differences() {
    let (h, w) = (12, 16);
    let image = smooth_image(h, w);
    for kernel in [
        KernelKind::Bilinear,
        KernelKind::CubicConv,
        KernelKind::Bicubic,
        KernelKind::Bspline,
    ] {
        let u = KernelInterpolant::new(kernel, &image, JetOrder::Hessian).unwrap();
        // At pixel centres an interpolating kernel gives the pixels back.
        let centres: Vec<f64> = (0..h * w)
            .flat_map(|k| {
                [
                    ((k % w) as f64 + 0.5) / w as f64,
                    ((k / w) as f64 + 0.5) / h as f64,
                ]
            })
            .collect();
        let centres = Tensor::from_vec(centres, (1, h * w, 2), &Device::Cpu).unwrap();
        let at = u.evaluate(&centres).unwrap().value().unwrap();
        let pixels = image.flatten_from(2).unwrap().permute((0, 2, 1)).unwrap();
        let err = (at - pixels).unwrap().abs().unwrap().max_all().unwrap();
        // cubic_conv's official +1e-6 shift moves its samples a little.
        let tol = if kernel == KernelKind::CubicConv {
            1e-4
        } else {
            1e-12
        };
        assert!(err.to_scalar::<f64>().unwrap() < tol, "{kernel}: {err}");
        if kernel == KernelKind::Bilinear {
            continue; // value only: bilinear has no derivatives worth checking
        }
        // Gradient and Hessian against central differences. The point is a few hundredths
        // from any knot (knots sit at pixel centres), where every kernel here is a cubic
        // polynomial, so the differences are exact but for rounding.
        let (x, y, e) = (0.37, 0.61, 1e-4);
        let v = |x: f64, y: f64| -> Vec<f64> {
            let p = Tensor::new(&[[[x, y]]], &Device::Cpu).unwrap();
            let jet = u.evaluate(&p).unwrap();
            jet.value()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let jet = u
            .evaluate(&Tensor::new(&[[[x, y]]], &Device::Cpu).unwrap())
            .unwrap();
        let flat = |t: Option<Tensor>| -> Vec<f64> {
            t.unwrap().flatten_all().unwrap().to_vec1().unwrap()
        };
        let g = flat(jet.gradient().unwrap());
        let hs = flat(jet.hessian().unwrap()); // (xx, xy, yy) per channel
        let (c0, xp, xm, yp, ym) = (v(x, y), v(x + e, y), v(x - e, y), v(x, y + e), v(x, y - e));
        let (pp, pm, mp, mm) = (
            v(x + e, y + e),
            v(x + e, y - e),
            v(x - e, y + e),
            v(x - e, y - e),
        );
        for c in 0..2 {
            let close = |got: f64, want: f64, what: &str| {
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{kernel} {what}: jet {got}, differences {want}"
                );
            };
            close(g[2 * c], (xp[c] - xm[c]) / (2.0 * e), "∂x");
            close(g[2 * c + 1], (yp[c] - ym[c]) / (2.0 * e), "∂y");
            close(hs[3 * c], (xp[c] - 2.0 * c0[c] + xm[c]) / (e * e), "∂xx");
            close(
                hs[3 * c + 1],
                (pp[c] - pm[c] - mp[c] + mm[c]) / (4.0 * e * e),
                "∂xy",
            );
            close(
                hs[3 * c + 2],
                (yp[c] - 2.0 * c0[c] + ym[c]) / (e * e),
                "∂yy",
            );
        }
    }
}

#[test]
fn the_kernel_interpolant_is_a_funknn_without_its_network() {
    let (h, w) = (10, 14);
    let image = smooth_image(h, w).to_dtype(DType::F32).unwrap();
    let config = Config {
        kernel: KernelKind::Bspline,
        channels: 2,
        ..Config::default()
    };
    let (m, _) = FunkNN::random(&config, 3, DType::F32, &Device::Cpu).unwrap();
    let mut tensors: std::collections::HashMap<String, Tensor> =
        m.parameters().iter().cloned().collect();
    for name in ["MLP.9.weight", "MLP.9.bias"] {
        let t = tensors[name].zeros_like().unwrap();
        tensors.insert(name.into(), t);
    }
    let zero = FunkNN::from_tensors(
        &config,
        tensors,
        DType::F32,
        &Device::Cpu,
        Path::new("zero"),
    )
    .unwrap();
    let points = Tensor::rand(0f32, 1., (1, 200, 2), &Device::Cpu).unwrap();
    let a = zero
        .evaluate(&image, &points, JetOrder::Laplacian, EvalOptions::default())
        .unwrap();
    let b = KernelInterpolant::new(KernelKind::Bspline, &image, JetOrder::Laplacian)
        .unwrap()
        .evaluate(&points)
        .unwrap();
    let diff = (a.parts() - b.parts())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(
        diff, 0.0,
        "the skip connection is the interpolant, bit for bit"
    );
    // Bad points are errors, not panics.
    let nan = Tensor::new(&[[[f32::NAN, 0.5]]], &Device::Cpu).unwrap();
    let u = KernelInterpolant::new(KernelKind::Bicubic, &image, JetOrder::Value).unwrap();
    assert!(u.evaluate(&nan).is_err());
    let wrong = Tensor::zeros((2, 3, 2), DType::F32, &Device::Cpu).unwrap();
    assert!(u.evaluate(&wrong).is_err());
}

#[test]
fn tensors_become_rasters_and_contact_sheets() {
    let t = Tensor::new(&[[[0.0f32, 0.5], [1.0, 2.0]]], &Device::Cpu).unwrap();
    let r = Raster::from_tensor(&t, BitDepth::Eight).unwrap();
    assert_eq!((r.width, r.height, r.channels), (2, 2, 1));
    assert_eq!(r.samples, Samples::U8(vec![0, 128, 255, 255]));
    let rgb = Tensor::zeros((3, 1, 2), DType::F32, &Device::Cpu).unwrap();
    let r3 = Raster::from_tensor(&rgb, BitDepth::Sixteen).unwrap();
    assert_eq!(r3.samples, Samples::U16(vec![0; 6]));
    // Three 2×2 tiles in two columns, one pixel apart on white.
    let sheet = Raster::contact_sheet(&[r.clone(), r.clone(), r.clone()], 2, 1).unwrap();
    assert_eq!((sheet.width, sheet.height), (2 * 2 + 3, 2 * 2 + 3));
    let Samples::U8(v) = &sheet.samples else {
        panic!("8-bit in, 8-bit out")
    };
    let at = |x: usize, y: usize| v[y * sheet.width + x];
    assert_eq!((at(0, 0), at(1, 1), at(2, 1), at(1, 2)), (255, 0, 128, 255));
    assert_eq!((at(1, 4), at(2, 5), at(4, 1)), (0, 255, 0));
    // The empty slot stays white.
    assert_eq!(at(5, 4), 255);
    assert!(Raster::contact_sheet(&[], 2, 1).is_err());
    assert!(Raster::contact_sheet(&[r, r3], 2, 1).is_err());
}
