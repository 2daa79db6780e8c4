//! The CT toolbox: ray transform (forward and adjoint, f32; Joseph linear, exact, Keys
//! cubic and sharpened linear), and FBP, in the official geometry (200 angles in ±70°,
//! N bins) at 128² and 256².
//! The peers' figures come from `benches/peers/ct_peers.py`, run in the same session.
//!
//! `cargo bench -p funknn-benches --bench ct`

use criterion::{criterion_group, criterion_main, Criterion};
use funknn_inverse::{
    Fbp, FbpConfig, ImageGrid, Interpolation, LinearOperator, ParallelGeometry, Phantom,
    RayTransform, Rendering,
};

fn ct(c: &mut Criterion) {
    for n in [128usize, 256] {
        let grid = ImageGrid::square(n).unwrap();
        let geometry = ParallelGeometry::limited_view(n).unwrap();
        let phantom = Phantom::shepp_logan();
        let x: Vec<f32> = phantom
            .render(&grid, Rendering::PixelAverage)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let y: Vec<f32> = phantom
            .sinogram(&geometry)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let mut g = c.benchmark_group(format!("ct_{n}"));
        g.sample_size(30);
        for interpolation in [
            Interpolation::Linear,
            Interpolation::Exact,
            Interpolation::Cubic,
            Interpolation::Sharpened,
        ] {
            let rt =
                RayTransform::with_interpolation(grid, geometry.clone(), interpolation).unwrap();
            let name = format!("{interpolation:?}").to_lowercase();
            let mut out = vec![0f32; geometry.len()];
            g.bench_function(format!("forward_{name}"), |b| {
                b.iter(|| rt.apply(&x, &mut out).unwrap())
            });
            let mut back = vec![0f32; grid.len()];
            g.bench_function(format!("adjoint_{name}"), |b| {
                b.iter(|| rt.adjoint(&y, &mut back).unwrap())
            });
        }
        let fbp = Fbp::new(grid, &geometry, FbpConfig::default()).unwrap();
        g.bench_function("fbp_ram_lak", |b| b.iter(|| fbp.reconstruct(&y).unwrap()));
        g.bench_function("setup_linear", |b| {
            b.iter(|| RayTransform::new(grid, geometry.clone()).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, ct);
criterion_main!(benches);
