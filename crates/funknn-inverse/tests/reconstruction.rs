//! Limited-view Shepp–Logan: FBP and TV reach the PSNRs; phantoms, noise, metrics and
//! files behave.

use funknn_inverse::io::{load_image, save_image, BitDepth, Sinogram};
use funknn_inverse::*;

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[test]
fn limited_view_shepp_logan_fbp_and_tv() {
    let n = 128;
    let grid = ImageGrid::square(n).unwrap();
    let geometry = ParallelGeometry::limited_view(n).unwrap();
    let phantom = Phantom::shepp_logan();
    let truth = to_f32(&phantom.render(&grid, Rendering::PixelAverage));
    let mut sino = to_f32(&phantom.sinogram(&geometry));
    add_noise(&mut sino, 30.0, 0).unwrap();
    let fbp = Fbp::new(grid, &geometry, FbpConfig::default()).unwrap();
    let x = fbp.reconstruct(&sino).unwrap();
    let p_fbp = psnr(&x, &truth, None).unwrap();
    let rt = RayTransform::new(grid, geometry).unwrap();
    let config = TvConfig {
        iterations: 250,
        ..Default::default()
    };
    let mut seen = 0;
    let mut count = |_: usize| seen += 1;
    let (x, report) = tv_reconstruct(&rt, &sino, &config, Some(&mut count)).unwrap();
    let p_tv = psnr(&x, &truth, None).unwrap();
    println!("limited-view Shepp–Logan 128², 30 dB: FBP {p_fbp:.2} dB, TV {p_tv:.2} dB");
    assert_eq!(seen, 250);
    assert!(report.objective.is_finite() && report.operator_norm > 0.0);
    assert!(x.iter().all(|&v| v >= 0.0), "positivity");
    // ASTRA's and ODL's FBP give ≈ 21 dB on this problem.
    assert!(p_fbp > 20.8, "FBP {p_fbp}");
    assert!(p_tv > p_fbp + 5.0, "TV {p_tv} vs FBP {p_fbp}");
}

#[test]
fn shepp_logan_is_in_the_unit_interval_and_upright() {
    let p = Phantom::shepp_logan();
    let grid = ImageGrid::square(64).unwrap();
    let img = p.render(&grid, Rendering::PointSample);
    let (lo, hi) = img
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo.abs() < 1e-12 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
    // The skull at the top (y small) is 1, the centre 0.2 (the brain), the ellipse above the
    // centre 0.3: the picture is upright with y downwards.
    assert!((p.value([0.5, 0.5 - 0.455]) - 1.0).abs() < 1e-12);
    assert!((p.value([0.5, 0.5]) - 0.2).abs() < 1e-12);
    assert!((p.value([0.5, 0.5 - 0.175]) - 0.3).abs() < 1e-12);
}

#[test]
fn pixel_averages_keep_the_mass() {
    // The sum of pixel averages times the pixel area is the phantom's integral, which is
    // also the integral of any projection over the detector.
    let p = Phantom::shepp_logan();
    let exact: f64 = p
        .ellipses
        .iter()
        .map(|e| e.intensity * std::f64::consts::PI * e.axes[0] * e.axes[1])
        .sum();
    let grid = ImageGrid::new(37, 53).unwrap();
    let img = p.render(&grid, Rendering::PixelAverage);
    let mass: f64 = img.iter().sum::<f64>() / grid.len() as f64;
    assert!((mass - exact).abs() < 1e-12, "{mass} vs {exact}");
    let geometry = ParallelGeometry::uniform(3, 90.0, 4001).unwrap();
    let sino = p.sinogram(&geometry);
    let ds = 1.0 / 4001.0;
    for a in 0..3 {
        let m: f64 = sino[a * 4001..(a + 1) * 4001].iter().sum::<f64>() * ds;
        assert!((m - exact).abs() < 1e-5, "{m} vs {exact}");
    }
}

#[test]
fn random_ellipses_are_seeded_and_inside_the_disc() {
    let c = EllipsesConfig::default();
    let a = Phantom::random_ellipses(&c, 3).unwrap();
    let b = Phantom::random_ellipses(&c, 3).unwrap();
    let other = Phantom::random_ellipses(&c, 4).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, other);
    for e in &a.ellipses {
        let d = ((e.centre[0] - 0.5).powi(2) + (e.centre[1] - 0.5).powi(2)).sqrt();
        assert!(d + e.axes[0].max(e.axes[1]) <= 0.5 + 1e-12);
    }
    let grid = ImageGrid::square(256).unwrap();
    let max = a
        .render(&grid, Rendering::PointSample)
        .into_iter()
        .fold(0.0, f64::max);
    assert!((max - 1.0).abs() < 1e-12);
    assert!(Phantom::random_ellipses(&EllipsesConfig { max_axis: 0.7, ..c }, 0).is_err());
}

#[test]
fn noise_has_the_requested_snr() {
    let geometry = ParallelGeometry::limited_view(32).unwrap();
    let clean = to_f32(&Phantom::shepp_logan().sinogram(&geometry));
    let mut noisy = clean.clone();
    add_noise(&mut noisy, 30.0, 1).unwrap();
    let s = snr(&noisy, &clean).unwrap();
    assert!((s - 30.0).abs() < 1e-3, "{s}");
    let mut again = clean.clone();
    add_noise(&mut again, 30.0, 1).unwrap();
    assert_eq!(noisy, again);
    assert!(add_noise(&mut again, f64::NAN, 1).is_err());
}

#[test]
fn metrics_on_known_cases() {
    let grid = ImageGrid::square(16).unwrap();
    let t: Vec<f64> = (0..256).map(|k| (k % 16) as f64 / 15.0).collect();
    assert!((ssim(&t, &t, &grid, None).unwrap() - 1.0).abs() < 1e-12);
    let x: Vec<f64> = t.iter().map(|v| v + 0.1).collect();
    assert!((psnr(&x, &t, Some(1.0)).unwrap() - 20.0).abs() < 1e-9);
    assert!(psnr(&x[1..], &t, None).is_err());
    assert!(ssim(&x[..100], &t[..100], &ImageGrid::square(10).unwrap(), None).is_err());
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("funknn-inverse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn sinogram_files_round_trip_and_are_checked() {
    let geometry = ParallelGeometry::limited_view(16).unwrap();
    let data = to_f32(&Phantom::shepp_logan().sinogram(&geometry));
    let s = Sinogram::new(geometry, data).unwrap();
    let path = tmp("s.safetensors");
    s.save(&path).unwrap();
    let back = Sinogram::load(&path).unwrap();
    assert_eq!(back.data, s.data);
    assert_eq!(back.geometry.n_angles(), 200);
    assert!(back.geometry.uniform_spacing().is_some());
    // A missing file, and garbage, are errors naming the file.
    let missing = tmp("missing.safetensors");
    assert!(Sinogram::load(&missing)
        .unwrap_err()
        .to_string()
        .contains("missing"));
    std::fs::write(tmp("bad.safetensors"), b"nope").unwrap();
    assert!(Sinogram::load(&tmp("bad.safetensors")).is_err());
    assert!(Sinogram::new(s.geometry.clone(), vec![0.0; 3]).is_err());
}

#[test]
fn images_round_trip() {
    let grid = ImageGrid::new(5, 7).unwrap();
    let img: Vec<f32> = (0..35).map(|k| k as f32 / 20.0 - 0.3).collect();
    let p = tmp("i.safetensors");
    save_image(&p, &img, &grid, BitDepth::Eight).unwrap();
    let (g, back) = load_image(&p).unwrap();
    assert_eq!((g, back), (grid, img.clone()));
    let p = tmp("i.png");
    save_image(&p, &img, &grid, BitDepth::Sixteen).unwrap();
    let (_, back) = load_image(&p).unwrap();
    for (a, b) in img.iter().zip(&back) {
        assert!((a.clamp(0.0, 1.0) - b).abs() < 1e-4);
    }
}
