//! Shared closed forms for the tests.
#![allow(dead_code)]

/// The bump `(1 − ρ²/R²)²` (ρ from the centre of the square), R = 0.3.
pub const R: f64 = 0.3;

pub fn bump(x: f64, y: f64) -> f64 {
    let r2 = (x - 0.5).powi(2) + (y - 0.5).powi(2);
    if r2 >= R * R {
        0.0
    } else {
        (1.0 - r2 / (R * R)).powi(2)
    }
}

/// Its line integral at offset s from the centre: 16 L⁵ / (15 R⁴), L the half chord.
pub fn bump_line(s: f64) -> f64 {
    let l2 = R * R - s * s;
    if l2 <= 0.0 {
        0.0
    } else {
        16.0 * l2.powf(2.5) / (15.0 * R.powi(4))
    }
}

pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let e: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let n: f64 = b.iter().map(|y| y * y).sum();
    (e / n).sqrt()
}
