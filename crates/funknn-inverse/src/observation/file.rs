//! The observation files (`.safetensors`, f32) and their checks.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::check_points;
use crate::io::{f32_bytes, format_error, read_f32, write_atomic};
use crate::{Error, Result};

/// `∇u` observed at points: `points` (P, 2) and `gradient` (P, C, 2) (`[∂x, ∂y]` per
/// channel).
#[derive(Debug, Clone, PartialEq)]
pub struct GradientObservations {
    pub points: Vec<[f32; 2]>,
    pub channels: usize,
    /// `(P, C, 2)`, row-major.
    pub gradient: Vec<f32>,
}

/// The Poisson problem's data: `Δu` at `points` (P, 2) as `laplacian` (P, C), and the
/// values `boundary_values` (B, C) at `boundary_points` (B, 2).
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonObservations {
    pub points: Vec<[f32; 2]>,
    pub channels: usize,
    /// `(P, C)`.
    pub laplacian: Vec<f32>,
    pub boundary_points: Vec<[f32; 2]>,
    /// `(B, C)`.
    pub boundary_values: Vec<f32>,
}

fn check_values(what: &'static str, values: &[f32], rows: usize, per_row: usize) -> Result<()> {
    if values.len() != rows * per_row {
        return Err(Error::shape(
            what,
            format!("({rows} × {per_row}) values"),
            &[values.len()],
        ));
    }
    crate::scalar::check_finite(what, values)
}

impl GradientObservations {
    /// Checked observations: points finite and in the unit square, `gradient` of `P·C·2`
    /// finite values.
    pub fn new(points: Vec<[f32; 2]>, channels: usize, gradient: Vec<f32>) -> Result<Self> {
        check_channels(channels)?;
        check_points("points", &points)?;
        check_values("gradient", &gradient, points.len(), channels * 2)?;
        Ok(GradientObservations {
            points,
            channels,
            gradient,
        })
    }

    /// Reads and checks a file with `points` (P, 2) and `gradient` (P, C, 2).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = deserialize(path, &bytes)?;
        let points = read_points(path, &st, "points")?;
        let (shape, gradient) = read_f32(path, &st, "gradient")?;
        let channels = match shape[..] {
            [p, c, 2] if p == points.len() => c,
            _ => {
                return Err(format_error(
                    path,
                    format!(
                        "\"gradient\" must be (P, C, 2) with P = {} (the points), got {shape:?}",
                        points.len()
                    ),
                ))
            }
        };
        Self::new(points, channels, gradient).map_err(|e| format_error(path, e.to_string()))
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let p = self.points.len();
        let pb = points_bytes(&self.points);
        let gb = f32_bytes(&self.gradient);
        let bytes = serialize(vec![
            ("points", vec![p, 2], &pb),
            ("gradient", vec![p, self.channels, 2], &gb),
        ])?;
        write_atomic(path, &bytes)
    }
}

impl PoissonObservations {
    /// Checked observations (all points in the unit square, all values finite, shapes
    /// consistent; there must be at least one boundary value, or the problem has no unique
    /// solution).
    pub fn new(
        points: Vec<[f32; 2]>,
        channels: usize,
        laplacian: Vec<f32>,
        boundary_points: Vec<[f32; 2]>,
        boundary_values: Vec<f32>,
    ) -> Result<Self> {
        check_channels(channels)?;
        check_points("points", &points)?;
        check_points("boundary_points", &boundary_points)?;
        check_values("laplacian", &laplacian, points.len(), channels)?;
        check_values(
            "boundary_values",
            &boundary_values,
            boundary_points.len(),
            channels,
        )?;
        Ok(PoissonObservations {
            points,
            channels,
            laplacian,
            boundary_points,
            boundary_values,
        })
    }

    /// Reads and checks a file with `points` (P, 2), `laplacian` (P, C), `boundary_points`
    /// (B, 2) and `boundary_values` (B, C).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = deserialize(path, &bytes)?;
        let points = read_points(path, &st, "points")?;
        let boundary_points = read_points(path, &st, "boundary_points")?;
        let (ls, laplacian) = read_f32(path, &st, "laplacian")?;
        let (bs, boundary_values) = read_f32(path, &st, "boundary_values")?;
        let channels = match (&ls[..], &bs[..]) {
            ([p, c], [b, cb]) if *p == points.len() && *b == boundary_points.len() && c == cb => *c,
            _ => {
                return Err(format_error(
                    path,
                    format!(
                        "\"laplacian\" must be (P, C) with P = {} and \"boundary_values\" (B, C) \
                         with B = {} and the same C, got {ls:?} and {bs:?}",
                        points.len(),
                        boundary_points.len()
                    ),
                ))
            }
        };
        Self::new(
            points,
            channels,
            laplacian,
            boundary_points,
            boundary_values,
        )
        .map_err(|e| format_error(path, e.to_string()))
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (p, b, c) = (self.points.len(), self.boundary_points.len(), self.channels);
        let (pb, lb) = (points_bytes(&self.points), f32_bytes(&self.laplacian));
        let (bpb, bvb) = (
            points_bytes(&self.boundary_points),
            f32_bytes(&self.boundary_values),
        );
        let bytes = serialize(vec![
            ("points", vec![p, 2], &pb),
            ("laplacian", vec![p, c], &lb),
            ("boundary_points", vec![b, 2], &bpb),
            ("boundary_values", vec![b, c], &bvb),
        ])?;
        write_atomic(path, &bytes)
    }
}

fn check_channels(channels: usize) -> Result<()> {
    if channels == 0 || channels > 64 {
        return Err(Error::invalid(
            "channels",
            format!("{channels}: must be in 1..=64"),
        ));
    }
    Ok(())
}

fn deserialize<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(path, format!("not a safetensors file: {e}")))
}

fn read_points(path: &Path, st: &SafeTensors, name: &str) -> Result<Vec<[f32; 2]>> {
    let (shape, values) = read_f32(path, st, name)?;
    match shape[..] {
        [_, 2] => Ok(values.chunks_exact(2).map(|p| [p[0], p[1]]).collect()),
        _ => Err(format_error(
            path,
            format!("\"{name}\" must be (P, 2), got {shape:?}"),
        )),
    }
}

fn points_bytes(points: &[[f32; 2]]) -> Vec<u8> {
    points
        .iter()
        .flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()))
        .collect()
}

fn serialize(tensors: Vec<(&str, Vec<usize>, &Vec<u8>)>) -> Result<Vec<u8>> {
    let mut views = HashMap::new();
    for (name, shape, bytes) in tensors {
        let view = TensorView::new(Dtype::F32, shape, bytes)
            .map_err(|e| Error::invalid("observations", e.to_string()))?;
        views.insert(name.to_string(), view);
    }
    safetensors::serialize(views, None).map_err(|e| Error::invalid("observations", e.to_string()))
}
