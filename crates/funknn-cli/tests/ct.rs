//! `funknn ct` end to end: simulate, reconstruct, score; bad inputs fail cleanly and leave
//! no output file.

use std::path::Path;

mod common;
use common::{funknn, scratch, Scratch};

fn ok(args: &[&str]) -> String {
    let out = funknn(args);
    assert!(
        out.status.success(),
        "funknn {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with a message containing `needle`, and leaves `output` absent.
fn fails(args: &[&str], needle: &str, output: &Path) {
    let out = funknn(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "funknn {args:?} should fail");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert!(!output.exists(), "{} was written", output.display());
    let stray: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "temporary files left: {stray:?}");
}

fn metric(stdout: &str, name: &str) -> f64 {
    let at = stdout
        .find(name)
        .unwrap_or_else(|| panic!("{name} missing in {stdout}"));
    stdout[at + name.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn p(dir: &Scratch, name: &str) -> String {
    dir.0.join(name).to_string_lossy().into_owned()
}

#[test]
fn simulate_then_reconstruct_limited_view_shepp_logan() {
    let d = scratch("sl");
    let (sino, truth) = (p(&d, "s.safetensors"), p(&d, "t.safetensors"));
    ok(&[
        "ct",
        "simulate",
        "--phantom",
        "shepp-logan",
        "--size",
        "64",
        "--noise-snr",
        "30",
        "-o",
        &sino,
        "--truth-out",
        &truth,
    ]);
    let png = p(&d, "truth.png");
    ok(&[
        "ct",
        "simulate",
        "--size",
        "64",
        "-o",
        &p(&d, "s2.safetensors"),
        "--truth-out",
        &png,
        "--bit-depth",
        "16",
    ]);
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
    assert!(matches!(img, image::DynamicImage::ImageLuma16(_)));

    let fbp = p(&d, "fbp.safetensors");
    let out = ok(&[
        "ct",
        "reconstruct",
        "--data",
        &sino,
        "--method",
        "fbp",
        "-o",
        &fbp,
        "--truth",
        &truth,
    ]);
    let psnr_fbp = metric(&out, "PSNR");
    assert!(out.contains("SNR") && out.contains("SSIM"));
    let out = ok(&[
        "ct",
        "reconstruct",
        "--data",
        &sino,
        "--method",
        "tv",
        "--iterations",
        "150",
        "-o",
        &p(&d, "tv.png"),
        "--truth",
        &truth,
    ]);
    let psnr_tv = metric(&out, "PSNR");
    assert!(
        psnr_fbp > 18.0 && psnr_tv > psnr_fbp + 3.0,
        "FBP {psnr_fbp}, TV {psnr_tv}"
    );
    // The safetensors output is (1, H, W) f32, unclipped.
    let t = candle_core::safetensors::load(&fbp, &candle_core::Device::Cpu).unwrap();
    let image = &t["image"];
    assert_eq!(image.dims(), &[1, 64, 64]);
    let min = image
        .flatten_all()
        .unwrap()
        .min(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(min < 0.0, "FBP undershoots; the file must keep it");
}

#[test]
fn random_ellipses_are_reproducible() {
    let d = scratch("el");
    let (a, b) = (p(&d, "a.safetensors"), p(&d, "b.safetensors"));
    ok(&[
        "ct",
        "simulate",
        "--phantom",
        "ellipses",
        "--seed",
        "5",
        "--size",
        "32",
        "--angles",
        "30",
        "-o",
        &a,
    ]);
    ok(&[
        "ct",
        "simulate",
        "--phantom",
        "ellipses",
        "--seed",
        "5",
        "--size",
        "32",
        "--angles",
        "30",
        "-o",
        &b,
    ]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

fn write_sinogram(path: &str, shape: &[usize], angles: usize, offsets: usize, value: f32) {
    use safetensors::tensor::TensorView;
    let n: usize = shape.iter().product();
    let s: Vec<u8> = (0..n)
        .flat_map(|k| if k == 3 { value } else { 0.1 }.to_le_bytes())
        .collect();
    let a: Vec<u8> = (0..angles)
        .flat_map(|k| (k as f32 * 0.01).to_le_bytes())
        .collect();
    let o: Vec<u8> = (0..offsets)
        .flat_map(|k| (k as f32 / offsets as f32 - 0.5).to_le_bytes())
        .collect();
    let views = vec![
        (
            "sinogram",
            TensorView::new(safetensors::Dtype::F32, shape.to_vec(), &s).unwrap(),
        ),
        (
            "angles",
            TensorView::new(safetensors::Dtype::F32, vec![angles], &a).unwrap(),
        ),
        (
            "offsets",
            TensorView::new(safetensors::Dtype::F32, vec![offsets], &o).unwrap(),
        ),
    ];
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn bad_sinograms_fail_cleanly() {
    let d = scratch("bad");
    let out = d.0.join("out.png");
    let o = out.to_string_lossy().into_owned();
    let shape = p(&d, "shape.safetensors");
    write_sinogram(&shape, &[10, 16], 9, 16, 0.1);
    fails(
        &["ct", "reconstruct", "--data", &shape, "-o", &o],
        "9 angles",
        &out,
    );
    let nan = p(&d, "nan.safetensors");
    write_sinogram(&nan, &[10, 16], 10, 16, f32::NAN);
    fails(
        &["ct", "reconstruct", "--data", &nan, "-o", &o],
        "not finite",
        &out,
    );
    let empty = p(&d, "empty.safetensors");
    write_sinogram(&empty, &[0, 16], 0, 16, 0.1);
    fails(
        &["ct", "reconstruct", "--data", &empty, "-o", &o],
        "empty",
        &out,
    );
    fails(
        &[
            "ct",
            "reconstruct",
            "--data",
            &p(&d, "none.safetensors"),
            "-o",
            &o,
        ],
        "none.safetensors",
        &out,
    );
    // A truth of the wrong size is refused before anything is written.
    let sino = p(&d, "s.safetensors");
    ok(&[
        "ct", "simulate", "--size", "32", "--angles", "20", "-o", &sino,
    ]);
    let truth = p(&d, "t.png");
    ok(&[
        "ct",
        "simulate",
        "--size",
        "16",
        "--angles",
        "20",
        "-o",
        &p(&d, "s16.safetensors"),
        "--truth-out",
        &truth,
    ]);
    fails(
        &[
            "ct",
            "reconstruct",
            "--data",
            &sino,
            "-o",
            &o,
            "--truth",
            &truth,
        ],
        "16×16",
        &out,
    );
    // Bad simulation options.
    let s_out = d.0.join("x.safetensors");
    let so = s_out.to_string_lossy().into_owned();
    fails(
        &["ct", "simulate", "--angles", "0", "-o", &so],
        "empty",
        &s_out,
    );
    fails(
        &["ct", "simulate", "--size", "0", "-o", &so],
        "no pixels",
        &s_out,
    );
    fails(
        &["ct", "simulate", "--angle-range=-3", "-o", &so],
        "angle range",
        &s_out,
    );
    fails(
        &["ct", "simulate", "-o", &p(&d, "x.png")],
        ".safetensors",
        &d.0.join("x.png"),
    );
}
