//! Writes the accuracy problem for `benches/peers/ct_disc_astra.py`: the pixel-averaged
//! disc (radius 0.25, centre (0.6, 0.45)) at 128² and 256², its exact sinogram in the default
//! geometry, and this crate's linear and exact sinograms of it, as raw little-endian f64 files.
//!
//!     cargo run --release -p funknn-inverse --example disc_sinograms -- OUT_DIR

use funknn_inverse::*;

fn main() -> Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |error| Error::Io { path, error }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let disc = Phantom {
        ellipses: vec![Ellipse {
            intensity: 1.0,
            centre: [0.6, 0.45],
            axes: [0.25, 0.25],
            angle: 0.0,
        }],
    };
    for n in [128usize, 256] {
        let grid = ImageGrid::square(n)?;
        let geometry = ParallelGeometry::limited_view(n)?;
        let image = disc.render(&grid, Rendering::PixelAverage);
        let write = |name: &str, v: &[f64]| -> Result<()> {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            let path = dir.join(format!("{name}_{n}.f64"));
            std::fs::write(&path, bytes).map_err(io(&path))
        };
        write("image", &image)?;
        write("sino", &disc.sinogram(&geometry))?;
        write("angles", geometry.angles())?;
        for (name, interpolation) in [
            ("ours_linear", Interpolation::Linear),
            ("ours_exact", Interpolation::Exact),
        ] {
            let rt = RayTransform::with_interpolation(grid, geometry.clone(), interpolation)?;
            write(name, &rt.apply_vec(&image)?)?;
        }
    }
    Ok(())
}
