//! The modified Shepp–Logan phantom (Toft 1996), mapped from [−1, 1]² (y up) to the unit
//! square (y down).

use super::{Ellipse, Phantom};

/// (intensity, a, b, x₀, y₀, φ in degrees) on [−1, 1]², y up, φ counter-clockwise.
const MODIFIED: [[f64; 6]; 10] = [
    [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0],
    [-0.2, 0.11, 0.31, 0.22, 0.0, -18.0],
    [-0.2, 0.16, 0.41, -0.22, 0.0, 18.0],
    [0.1, 0.21, 0.25, 0.0, 0.35, 0.0],
    [0.1, 0.046, 0.046, 0.0, 0.1, 0.0],
    [0.1, 0.046, 0.046, 0.0, -0.1, 0.0],
    [0.1, 0.046, 0.023, -0.08, -0.605, 0.0],
    [0.1, 0.023, 0.023, 0.0, -0.606, 0.0],
    [0.1, 0.023, 0.046, 0.06, -0.605, 0.0],
];

pub(super) fn modified() -> Phantom {
    let ellipses = MODIFIED
        .iter()
        .map(|&[v, a, b, x0, y0, phi]| Ellipse {
            intensity: v,
            // x = (X + 1)/2, y = (1 − Y)/2: halve lengths, flip y, so angles change sign.
            centre: [(x0 + 1.0) / 2.0, (1.0 - y0) / 2.0],
            axes: [a / 2.0, b / 2.0],
            angle: -phi.to_radians(),
        })
        .collect();
    Phantom { ellipses }
}
