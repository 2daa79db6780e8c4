//! The mesh-free transform and FBP against closed forms.

mod common;

use common::{bump, bump_line, rel_l2};
use funknn_inverse::*;

#[test]
fn mesh_free_bump_matches_its_closed_form() {
    let geometry = ParallelGeometry::limited_view(128).unwrap();
    let exact: Vec<f64> = geometry
        .angles()
        .iter()
        .flat_map(|_| geometry.offsets().iter().map(|&s| bump_line(s)))
        .collect();
    let mf = MeshFreeTransform::new(geometry, MeshFreeConfig::default()).unwrap();
    let e = rel_l2(&mf.project(&FnImage(bump)).unwrap(), &exact);
    println!("mesh-free bump: relative L2 error {e:.2e}");
    assert!(e < 1e-5, "{e}");
}

#[test]
fn mesh_free_matches_ellipse_closed_form_off_centre() {
    // A smooth function off centre: a Gaussian integrates (almost) to its closed form
    // 2π σ² / (√(2π) σ) e^{-u²/2σ²} within the square.
    let sigma = 0.05;
    let (cx, cy) = (0.4, 0.6);
    let f = FnImage(|x: f64, y: f64| {
        (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * sigma * sigma)).exp()
    });
    let geometry = ParallelGeometry::uniform(17, 170.0, 33).unwrap();
    let mf = MeshFreeTransform::new(
        geometry.clone(),
        MeshFreeConfig {
            panels: 32,
            ..Default::default()
        },
    )
    .unwrap();
    let got = mf.project(&f).unwrap();
    let mut exact = Vec::new();
    for &t in geometry.angles() {
        for &s in geometry.offsets() {
            let u = s - ((cx - 0.5) * t.cos() + (cy - 0.5) * t.sin());
            exact.push(
                (2.0 * std::f64::consts::PI).sqrt()
                    * sigma
                    * (-u * u / (2.0 * sigma * sigma)).exp(),
            );
        }
    }
    let e = rel_l2(&got, &exact);
    assert!(e < 1e-8, "{e}");
}

#[test]
fn full_view_fbp_of_the_bump() {
    let n = 128;
    let grid = ImageGrid::square(n).unwrap();
    // Full view: all angles of [0, π), and a detector wide enough for the square's corners
    // (the ramp-filtered projections have tails that the corners need).
    let angles = ParallelGeometry::full_view(400, 1)
        .unwrap()
        .angles()
        .to_vec();
    let geometry = ParallelGeometry::new(angles, geometry::midpoints(-0.75, 0.75, 3 * n)).unwrap();
    let sino: Vec<f64> = geometry
        .angles()
        .iter()
        .flat_map(|_| geometry.offsets().iter().map(|&s| bump_line(s)))
        .collect();
    let mut truth = vec![0.0; grid.len()];
    for i in 0..n {
        for j in 0..n {
            let [x, y] = grid.centre(i, j);
            truth[i * n + j] = bump(x, y);
        }
    }
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
        )
        .unwrap();
        let e = rel_l2(&fbp.reconstruct(&sino).unwrap(), &truth);
        println!("full-view FBP of the bump ({filter:?}): relative L2 error {e:.2e}");
        assert!(e < 1e-3, "{filter:?}: {e}");
    }
}

#[test]
fn fbp_checks_its_input() {
    let grid = ImageGrid::square(16).unwrap();
    let geometry = ParallelGeometry::limited_view(16).unwrap();
    let fbp = Fbp::new(grid, &geometry, FbpConfig::default()).unwrap();
    assert!(fbp
        .reconstruct(&[0.0f32; 10])
        .unwrap_err()
        .to_string()
        .contains("sinogram"));
    let mut bad = vec![0.0f32; geometry.len()];
    bad[7] = f32::NAN;
    assert!(fbp
        .reconstruct(&bad)
        .unwrap_err()
        .to_string()
        .contains("not finite"));
    let uneven = ParallelGeometry::new(vec![0.0], vec![0.0, 0.1, 0.3]).unwrap();
    assert!(Fbp::new(grid, &uneven, FbpConfig::default()).is_err());
    assert!("hann".parse::<Filter>().is_ok() && "nope".parse::<Filter>().is_err());
}
