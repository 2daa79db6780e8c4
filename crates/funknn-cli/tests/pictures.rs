//! `funknn upsample` on pictures as users have them: every input format and layout keeps
//! its channels, alpha and bit depth where the output format holds them, and comes out
//! upright.

mod common;
use common::{funknn, scratch};

use std::path::{Path, PathBuf};
use std::process::Output;

use candle_core::Device;
use funknn_core::picture::{output_size, Picture};
use funknn_core::{ContinuousImage, JetOrder, KernelInterpolant, KernelKind};
use image::{ColorType, DynamicImage};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/pictures")
        .join(name)
}

fn upsample(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "upsample",
        input.to_str().unwrap(),
        "--scale",
        "2",
        "-o",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = funknn(&args);
    assert!(
        out.status.success(),
        "funknn upsample {input:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn decoded(path: &Path) -> DynamicImage {
    image::ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap()
}

#[test]
fn each_input_format_keeps_its_channels_and_depth() {
    let dir = scratch("formats");
    // (input, output extension, colour type written)
    let cases = [
        ("rgba.png", "png", ColorType::Rgba8),
        ("grey-alpha.png", "png", ColorType::La8),
        ("grey16.png", "png", ColorType::L16),
        ("grey16.tif", "tif", ColorType::L16),
        ("grey16.png", "tiff", ColorType::L16),
        ("rgb.tif", "tif", ColorType::Rgb8),
        ("rgb.webp", "webp", ColorType::Rgb8),
        ("rgba.webp", "webp", ColorType::Rgba8),
        ("rgba.png", "webp", ColorType::Rgba8),
        ("rgb.bmp", "png", ColorType::Rgb8),
        ("palette.png", "png", ColorType::Rgb8),
        ("rgb.webp", "jpg", ColorType::Rgb8),
    ];
    for (input, ext, colour) in cases {
        let out = dir.0.join(format!("{input}.{ext}"));
        upsample(&fixture(input), &out, &[]);
        let img = decoded(&out);
        assert_eq!(img.color(), colour, "{input} -> .{ext}");
        assert_eq!((img.width(), img.height()), (64, 48), "{input} -> .{ext}");
    }
}

#[test]
fn formats_that_cannot_hold_alpha_or_16_bits_warn_and_drop_them() {
    let dir = scratch("drop");
    let out = dir.0.join("rgba.jpg");
    let log = upsample(&fixture("rgba.png"), &out, &[]);
    assert_eq!(decoded(&out).color(), ColorType::Rgb8);
    assert!(String::from_utf8_lossy(&log.stderr).contains("no alpha"));
    let out = dir.0.join("grey16.webp");
    let log = upsample(&fixture("grey16.png"), &out, &[]);
    // WebP has no grey layout: grey comes back as RGB, 8-bit.
    assert_eq!(decoded(&out).color(), ColorType::Rgb8);
    assert!(String::from_utf8_lossy(&log.stderr).contains("8-bit"));
    let out = dir.0.join("grey16.jpg");
    upsample(&fixture("grey16.png"), &out, &[]);
    assert_eq!(decoded(&out).color(), ColorType::L8);
}

#[test]
fn sixteen_bit_output_uses_the_sixteen_bits() {
    let dir = scratch("deep");
    let out = dir.0.join("grey16.png");
    upsample(&fixture("grey16.png"), &out, &[]);
    let img = decoded(&out).into_luma16();
    // Quantising to 8 bits would leave only multiples of 257.
    let off_grid = img.as_raw().iter().filter(|&&v| v % 257 != 0).count();
    assert!(
        off_grid > img.as_raw().len() / 2,
        "{off_grid} samples off the 8-bit grid"
    );
}

#[test]
fn alpha_is_the_kernel_interpolant_of_the_input_alpha() {
    let dir = scratch("alpha");
    let out = dir.0.join("rgba.png");
    upsample(&fixture("rgba.png"), &out, &[]);
    let written = decoded(&out).into_rgba8();
    let alpha: Vec<u8> = written.pixels().map(|p| p.0[3]).collect();
    // The embedded model's kernel is PyTorch's bicubic.
    let picture = Picture::read(&fixture("rgba.png"), &Device::Cpu).unwrap();
    let a = picture.alpha.unwrap().unsqueeze(0).unwrap();
    let u = KernelInterpolant::new(KernelKind::Bicubic, &a, JetOrder::Value).unwrap();
    let (h, w) = output_size(24, 32, Some(2.0), None).unwrap();
    let centres = funknn_core::coords::pixel_centres(h, w, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let expected: Vec<f32> = u
        .evaluate(&centres)
        .unwrap()
        .value()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let expected: Vec<u8> = expected
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    assert_eq!(alpha, expected);
    // The cut-out: opaque in the middle, transparent in the corners.
    assert_eq!(written.get_pixel(32, 24).0[3], 255);
    assert_eq!(written.get_pixel(0, 0).0[3], 0);
    // Colour is the model's, not the interpolant's: the same as upsampling the RGB alone.
    let rgb_only = dir.0.join("rgb.png");
    upsample(&fixture("rgb.webp"), &rgb_only, &[]);
    let rgb = decoded(&rgb_only).into_rgb8();
    let same = written
        .pixels()
        .zip(rgb.pixels())
        .all(|(a, b)| a.0[..3] == b.0[..]);
    assert!(same, "the colour channels depend on the alpha");
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn a_phone_jpeg_comes_out_upright() {
    let dir = scratch("exif");
    let out = dir.0.join("turned.png");
    upsample(&fixture("exif-orientation-6.jpg"), &out, &[]);
    let turned = decoded(&out).into_rgb8();
    assert_eq!(turned.dimensions(), (64, 48), "landscape, as displayed");
    let reference = dir.0.join("upright.png");
    upsample(&fixture("upright.png"), &reference, &[]);
    let upright = decoded(&reference).into_rgb8();
    let right = mean_abs_diff(turned.as_raw(), upright.as_raw());
    let flipped = DynamicImage::ImageRgb8(upright.clone())
        .rotate180()
        .into_rgb8();
    let wrong = mean_abs_diff(turned.as_raw(), flipped.as_raw());
    assert!(
        right < 5.0,
        "mean difference {right} levels from the upright result"
    );
    assert!(wrong > 4.0 * right, "upright {right}, upside down {wrong}");
}

#[test]
fn jpeg_quality_is_a_flag() {
    let dir = scratch("quality");
    let (low, high) = (dir.0.join("low.jpg"), dir.0.join("high.jpg"));
    upsample(&fixture("rgb.bmp"), &low, &["--quality", "10"]);
    upsample(&fixture("rgb.bmp"), &high, &["--quality", "95"]);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(size(&low) < size(&high));
    let bad = funknn(&[
        "upsample",
        fixture("rgb.bmp").to_str().unwrap(),
        "--scale",
        "2",
        "--quality",
        "0",
        "-o",
        dir.0.join("bad.jpg").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(!dir.0.join("bad.jpg").exists());
}

#[test]
fn unreadable_or_unwritable_pictures_fail_cleanly() {
    let dir = scratch("bad");
    let not_a_picture = dir.0.join("notes.png");
    std::fs::write(&not_a_picture, "not a picture").unwrap();
    let cases = [
        (not_a_picture.clone(), dir.0.join("a.png"), "notes.png"),
        (fixture("rgb.bmp"), dir.0.join("a.gif"), ".png, .jpg"),
        (fixture("missing.png"), dir.0.join("b.png"), "missing.png"),
    ];
    for (input, output, needle) in cases {
        let out = funknn(&[
            "upsample",
            input.to_str().unwrap(),
            "--scale",
            "2",
            "-o",
            output.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{input:?} -> {output:?} should fail");
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!output.exists());
    }
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("notes.png")]);
}
