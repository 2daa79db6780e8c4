//! The mesh-free transform of a FunkNN continuous image (through the funknn-core adapter)
//! agrees with the grid transform of its rendering.

use candle_core::{DType, Device, Tensor};
use funknn_core::{Config, EvalOptions, Evaluator, FunkNN, JetOrder};
use funknn_inverse::*;

#[test]
fn funknn_mesh_free_matches_its_rendering() {
    let (model, _) = FunkNN::random(&Config::default(), 0, DType::F32, &Device::Cpu).unwrap();
    // A smooth input image, so that the continuous image is smooth too.
    let n = 16;
    let v: Vec<f32> = (0..n * n)
        .map(|k| {
            let (i, j) = ((k / n) as f32, (k % n) as f32);
            0.5 + 0.3 * (0.3 * i).sin() * (0.2 * j).cos()
        })
        .collect();
    let input = Tensor::from_vec(v, (1, 1, n, n), &Device::Cpu)
        .unwrap()
        .repeat((1, 3, 1, 1))
        .unwrap();
    let eval = Evaluator::new(&model, &input, JetOrder::Value, EvalOptions::default()).unwrap();
    let f = CoreImage::new(&eval, 0);
    let geometry = ParallelGeometry::uniform(12, 140.0, 24).unwrap();
    let mf = MeshFreeTransform::new(
        geometry.clone(),
        MeshFreeConfig {
            panels: 8,
            order: 6,
            batch: 4096,
        },
    )
    .unwrap();
    let sino = mf.project(&f).unwrap();

    let m = 96;
    let grid = ImageGrid::square(m).unwrap();
    let points: Vec<[f64; 2]> = (0..m * m).map(|k| grid.centre(k / m, k % m)).collect();
    let mut image = vec![0.0; m * m];
    f.evaluate(&points, &mut image).unwrap();
    let grid_sino = RayTransform::new(grid, geometry)
        .unwrap()
        .apply_vec(&image)
        .unwrap();
    let e: f64 = sino
        .iter()
        .zip(&grid_sino)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt()
        / grid_sino.iter().map(|b| b * b).sum::<f64>().sqrt();
    println!("FunkNN: mesh-free vs grid transform of its 96² rendering: {e:.2e}");
    assert!(e < 2e-2, "{e}");
    assert!(CoreImage::new(&eval, 3)
        .evaluate(&points[..2], &mut image[..2])
        .is_err());
}
