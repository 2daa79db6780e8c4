//! `funknn simulate` and `funknn solve` end to end on tiny problems (the embedded generator,
//! a few steps): every problem and method runs, writes its image and scores it; bad input
//! fails with a clear message and no output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{fails_with, funknn, ok, s, scratch};

/// A smooth 16² grey garment-like blob as `image` (1, 16, 16) in a .safetensors.
fn blob(dir: &Path) -> PathBuf {
    let n = 16;
    let v: Vec<f32> = (0..n * n)
        .map(|k| {
            let (i, j) = ((k / n) as f32 - 7.5, (k % n) as f32 - 7.0);
            (-(i * i / 18.0 + j * j / 10.0)).exp()
        })
        .collect();
    let path = dir.join("blob.safetensors");
    write(&path, &[("image", vec![1, n, n], v)]);
    path
}

fn write(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, shape, v)| {
            (
                n.to_string(),
                shape.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: HashMap<String, safetensors::tensor::TensorView> = bytes
        .iter()
        .map(|(n, shape, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn stdout(args: &[&str]) -> String {
    let out = funknn(args);
    ok(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn psnr(stdout: &str) -> f64 {
    let at = stdout.find("PSNR ").expect("a PSNR line");
    stdout[at + 5..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const FEW_STEPS: [&str; 4] = ["--latent-steps", "4", "--decoder-steps", "3"];

#[test]
fn gradient_problem_simulated_and_solved_by_every_method() {
    let d = scratch("solve-gradient");
    let img = blob(&d);
    let (obs, truth) = (d.join("g.safetensors"), d.join("truth.png"));
    let out = stdout(&[
        "simulate",
        "gradient",
        "--image",
        s(&img),
        "--size",
        "32",
        "--sparse",
        "0.3",
        "-o",
        s(&obs),
        "--truth-out",
        s(&truth),
    ]);
    assert!(out.contains("at 308 points"), "{out}");
    for method in ["tikhonov", "tv"] {
        let png = d.join(format!("{method}.png"));
        let out = stdout(&[
            "solve",
            "gradient",
            "--method",
            method,
            "--lambda",
            "10",
            "--iterations",
            "300",
            "--data",
            s(&obs),
            "--size",
            "32",
            "-o",
            s(&png),
            "--truth",
            s(&truth),
        ]);
        assert!(png.is_file(), "{method}: no image");
        assert!(psnr(&out) > 15.0, "{method}: {out}");
    }
    let png = d.join("prior.png");
    let mut args = vec![
        "solve",
        "gradient",
        "--data",
        s(&obs),
        "--size",
        "32",
        "-o",
        s(&png),
        "--truth",
        s(&truth),
    ];
    args.extend(FEW_STEPS);
    let out = stdout(&args);
    assert!(out.contains("7 steps in"), "{out}");
    let picture = image::open(&png).unwrap();
    assert_eq!((picture.width(), picture.height()), (32, 32));
    // Least-squares integration needs dense observations: refused on the sparse ones, and
    // close to the truth on noiseless dense ones.
    let png = d.join("integrate.png");
    let integrate = |obs: &Path| {
        funknn(&[
            "solve",
            "gradient",
            "--method",
            "integrate",
            "--data",
            s(obs),
            "--size",
            "32",
            "-o",
            s(&png),
            "--truth",
            s(&truth),
        ])
    };
    fails_with(&integrate(&obs), "308 points for a 32×32 grid");
    assert!(
        !png.exists(),
        "integrate: output written for sparse observations"
    );
    let dense = d.join("dense.safetensors");
    let out = stdout(&[
        "simulate",
        "gradient",
        "--image",
        s(&img),
        "--size",
        "32",
        "-o",
        s(&dense),
    ]);
    assert!(out.contains("at 1024 points"), "{out}");
    let o = integrate(&dense);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(psnr(&out) > 30.0, "integrate: {out}");
}

#[test]
fn ct_and_poisson_with_the_prior() {
    let d = scratch("solve-ct");
    let img = blob(&d);
    let (sino, truth) = (d.join("s.safetensors"), d.join("t.safetensors"));
    stdout(&[
        "ct",
        "simulate",
        "--image",
        s(&img),
        "--size",
        "24",
        "--angles",
        "30",
        "--noise-snr",
        "30",
        "-o",
        s(&sino),
        "--truth-out",
        s(&truth),
    ]);
    let out_img = d.join("ct.safetensors");
    let mut args = vec![
        "solve",
        "ct",
        "--data",
        s(&sino),
        "--size",
        "24",
        "-o",
        s(&out_img),
        "--truth",
        s(&truth),
        "--snapshot-every",
        "3",
    ];
    args.extend(FEW_STEPS);
    let out = stdout(&args);
    assert!(out.contains("clipped to [0, 1]"), "{out}");
    assert!(out_img.is_file());
    assert!(d.join("ct-steps/step-00006.png").is_file(), "no snapshot");
    let (obs, ptruth) = (d.join("p.safetensors"), d.join("pt.png"));
    stdout(&[
        "simulate",
        "poisson",
        "--image",
        s(&img),
        "--size",
        "24",
        "--points",
        "200",
        "--boundary-points",
        "12",
        "-o",
        s(&obs),
        "--truth-out",
        s(&ptruth),
    ]);
    let grid = d.join("grid.png");
    let out = stdout(&[
        "solve",
        "poisson",
        "--method",
        "grid",
        "--data",
        s(&obs),
        "--size",
        "24",
        "-o",
        s(&grid),
        "--truth",
        s(&ptruth),
    ]);
    assert!(psnr(&out) > 15.0, "{out}");
    let prior = d.join("prior.png");
    let mut args = vec![
        "solve",
        "poisson",
        "--data",
        s(&obs),
        "--size",
        "24",
        "-o",
        s(&prior),
        "--losses",
    ];
    let losses = d.join("losses.csv");
    args.push(s(&losses));
    args.extend(FEW_STEPS);
    stdout(&args);
    let csv = std::fs::read_to_string(&losses).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");
    assert!(csv.lines().nth(5).unwrap().contains(",decoder,"), "{csv}");
}

#[test]
fn bad_observations_fail_cleanly_without_output() {
    let d = scratch("solve-bad");
    let out = d.join("out.png");
    let run = |file: &Path, needle: &str| {
        let o = funknn(&[
            "solve",
            "gradient",
            "--data",
            s(file),
            "--size",
            "16",
            "-o",
            s(&out),
        ]);
        fails_with(&o, needle);
        assert!(!out.exists(), "{needle}: output written");
    };
    let mismatched = d.join("mismatched.safetensors");
    write(
        &mismatched,
        &[
            ("points", vec![3, 2], vec![0.5; 6]),
            ("gradient", vec![4, 1, 2], vec![0.0; 8]),
        ],
    );
    run(&mismatched, "must be (P, C, 2) with P = 3");
    let outside = d.join("outside.safetensors");
    write(
        &outside,
        &[
            ("points", vec![1, 2], vec![0.5, 1.5]),
            ("gradient", vec![1, 1, 2], vec![0.0; 2]),
        ],
    );
    run(&outside, "outside the unit square");
    let nan = d.join("nan.safetensors");
    write(
        &nan,
        &[
            ("points", vec![1, 2], vec![0.5, 0.5]),
            ("gradient", vec![1, 1, 2], vec![f32::NAN, 0.0]),
        ],
    );
    run(&nan, "not finite");
    // Three channels against the grey generator.
    let colour = d.join("colour.safetensors");
    write(
        &colour,
        &[
            ("points", vec![1, 2], vec![0.5, 0.5]),
            ("gradient", vec![1, 3, 2], vec![0.0; 6]),
        ],
    );
    run(&colour, "channel");
    let obs = d.join("ok.safetensors");
    write(
        &obs,
        &[
            ("points", vec![1, 2], vec![0.5, 0.5]),
            ("gradient", vec![1, 1, 2], vec![0.0; 2]),
        ],
    );
    let o = funknn(&[
        "solve",
        "gradient",
        "--method",
        "grid",
        "--data",
        s(&obs),
        "--size",
        "16",
        "-o",
        s(&out),
    ]);
    fails_with(&o, "Poisson");
    let o = funknn(&[
        "solve",
        "gradient",
        "--data",
        s(&obs),
        "--size",
        "16",
        "-o",
        s(&d.join("out.pgn")),
    ]);
    fails_with(&o, "out.pgn");
    let o = funknn(&[
        "solve",
        "ct",
        "--data",
        s(&obs),
        "--size",
        "16",
        "-o",
        s(&out),
    ]);
    fails_with(&o, "sinogram");
    let o = funknn(&[
        "simulate",
        "gradient",
        "--image",
        "fashion-mnist:tset:3",
        "-o",
        s(&obs),
    ]);
    fails_with(&o, "fashion-mnist:test:K");
    assert!(!out.exists());
}
