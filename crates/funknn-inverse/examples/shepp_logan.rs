//! Shepp–Logan at 128², full and limited view (200 angles, ±70° or 180°, 128 bins, 30 dB):
//! FBP with every filter and TV, their PSNR/SNR/SSIM, and PNGs of the results.
//!
//! `cargo run --release -p funknn-inverse --example shepp_logan -- [OUT_DIR] [LAMBDA...]`

use std::path::PathBuf;

use funknn_inverse::io::{save_image, BitDepth};
use funknn_inverse::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    // An empty first argument means: print only, write no images.
    let out = args.next().filter(|a| !a.is_empty()).map(PathBuf::from);
    let lambdas: Vec<f64> = args.filter_map(|a| a.parse().ok()).collect();
    let lambdas = if lambdas.is_empty() {
        vec![TvConfig::default().lambda]
    } else {
        lambdas
    };
    let n = 128;
    let grid = ImageGrid::square(n)?;
    let phantom = Phantom::shepp_logan();
    let truth: Vec<f32> = phantom
        .render(&grid, Rendering::PixelAverage)
        .iter()
        .map(|&v| v as f32)
        .collect();
    if let Some(dir) = &out {
        save_image(
            &dir.join("shepp_logan_truth.png"),
            &truth,
            &grid,
            BitDepth::Eight,
        )?;
    }
    for (name, range) in [("limited", 140.0), ("full", 180.0)] {
        let geometry = ParallelGeometry::uniform(200, range, n)?;
        let mut sino: Vec<f32> = phantom
            .sinogram(&geometry)
            .iter()
            .map(|&v| v as f32)
            .collect();
        add_noise(&mut sino, 30.0, 0)?;
        let report = |what: &str, x: &[f32]| -> Result<()> {
            println!(
                "{name:7} {what:22} PSNR {:6.2} dB  SNR {:6.2} dB  SSIM {:.3}",
                psnr(x, &truth, None)?,
                snr(x, &truth)?,
                ssim(x, &truth, &grid, None)?
            );
            Ok(())
        };
        for filter in [
            Filter::RamLak,
            Filter::SheppLogan,
            Filter::Cosine,
            Filter::Hann,
        ] {
            let fbp = Fbp::new(
                grid,
                &geometry,
                FbpConfig {
                    filter,
                    ..Default::default()
                },
            )?;
            let x = fbp.reconstruct(&sino)?;
            report(&format!("FBP {filter:?}"), &x)?;
            if let (Some(dir), Filter::RamLak) = (&out, filter) {
                save_image(
                    &dir.join(format!("shepp_logan_{name}_fbp.png")),
                    &x,
                    &grid,
                    BitDepth::Eight,
                )?;
            }
        }
        let rt = RayTransform::new(grid, geometry.clone())?;
        for &lambda in &lambdas {
            let iterations = std::env::var("ITERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(TvConfig::default().iterations);
            let step_ratio = std::env::var("RATIO")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(TvConfig::default().step_ratio);
            let config = TvConfig {
                lambda,
                iterations,
                step_ratio,
                ..Default::default()
            };
            let t = std::time::Instant::now();
            let (x, rep) = tv_reconstruct(&rt, &sino, &config, None)?;
            report(
                &format!("TV λ={lambda} ({:.1} s)", t.elapsed().as_secs_f64()),
                &x,
            )?;
            let _ = rep;
            if let Some(dir) = &out {
                save_image(
                    &dir.join(format!("shepp_logan_{name}_tv.png")),
                    &x,
                    &grid,
                    BitDepth::Eight,
                )?;
            }
        }
    }
    Ok(())
}
