//! Quick wall-clock timings of the ray transform and FBP (the criterion benches in
//! `benches/` are the reference; this is for a glance): `cargo run --release --example ct_timing`.

use std::time::Instant;

use funknn_inverse::*;

fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / reps as f64
}

fn main() -> Result<()> {
    for n in [128usize, 256] {
        let grid = ImageGrid::square(n)?;
        let geometry = ParallelGeometry::limited_view(n)?;
        let t = Instant::now();
        let rt = RayTransform::new(grid, geometry.clone())?.with_threads(
            std::env::var("T")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        );
        let setup = t.elapsed().as_secs_f64() * 1e3;
        let x = vec![0.5f32; grid.len()];
        let mut y = vec![0.0f32; geometry.len()];
        let mut z = vec![0.0f32; grid.len()];
        let fwd = time(|| rt.apply(&x, &mut y).unwrap());
        let adj = time(|| rt.adjoint(&y, &mut z).unwrap());
        let fbp = Fbp::new(grid, &geometry, FbpConfig::default())?;
        let tf = time(|| {
            fbp.reconstruct(&y).unwrap();
        });
        let cubic = RayTransform::with_interpolation(grid, geometry.clone(), Interpolation::Cubic)?;
        let cf = time(|| cubic.apply(&x, &mut y).unwrap());
        let ca = time(|| cubic.adjoint(&y, &mut z).unwrap());
        println!("{n}² cubic: forward {cf:.2} ms, adjoint {ca:.2} ms");
        let exact = RayTransform::with_interpolation(grid, geometry.clone(), Interpolation::Exact)?;
        let ef = time(|| exact.apply(&x, &mut y).unwrap());
        let ea = time(|| exact.adjoint(&y, &mut z).unwrap());
        println!("{n}² exact: forward {ef:.2} ms, adjoint {ea:.2} ms");
        println!(
            "{n}²: setup {setup:.1} ms, forward {fwd:.2} ms, adjoint {adj:.2} ms, FBP {tf:.2} ms"
        );
    }
    Ok(())
}
