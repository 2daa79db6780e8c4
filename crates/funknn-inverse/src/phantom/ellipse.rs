//! One ellipse of constant intensity: its value, its exact pixel averages and the closed form
//! of its line integrals.

/// An ellipse with constant `intensity` inside: centre `(x, y)`, semi-axes `axes[0]` along
/// the direction at `angle` radians from the x axis (towards +y, i.e. downwards on screen)
/// and `axes[1]` across it. Unit-square coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    /// The value added inside.
    pub intensity: f64,
    /// `(x, y)`.
    pub centre: [f64; 2],
    /// Semi-axes `(a, b)`.
    pub axes: [f64; 2],
    /// Rotation of the first axis from +x, radians.
    pub angle: f64,
}

impl Ellipse {
    /// Coordinates of `p` in the frame where the ellipse is the unit disc.
    #[inline]
    fn disc_coordinates(&self, p: [f64; 2]) -> [f64; 2] {
        let (sin, cos) = self.angle.sin_cos();
        let (dx, dy) = (p[0] - self.centre[0], p[1] - self.centre[1]);
        [
            (dx * cos + dy * sin) / self.axes[0],
            (-dx * sin + dy * cos) / self.axes[1],
        ]
    }

    /// Whether `p` lies inside (or on) the ellipse.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        let q = self.disc_coordinates(p);
        q[0] * q[0] + q[1] * q[1] <= 1.0
    }

    /// The axis-aligned bounding box `[x0, y0, x1, y1]`.
    pub fn bounding_box(&self) -> [f64; 4] {
        let (sin, cos) = self.angle.sin_cos();
        let (a, b) = (self.axes[0], self.axes[1]);
        let hx = ((a * cos).powi(2) + (b * sin).powi(2)).sqrt();
        let hy = ((a * sin).powi(2) + (b * cos).powi(2)).sqrt();
        let [cx, cy] = self.centre;
        [cx - hx, cy - hy, cx + hx, cy + hy]
    }

    /// The line integral of the ellipse along the ray `(θ, s)` of the module geometry:
    /// `2ab·√(r² − u²)/r²` with `r² = a² cos²(θ−φ) + b² sin²(θ−φ)` and `u` the ray's offset
    /// from the centre.
    pub fn line_integral(&self, theta: f64, s: f64) -> f64 {
        let (sin, cos) = theta.sin_cos();
        let u = s - ((self.centre[0] - 0.5) * cos + (self.centre[1] - 0.5) * sin);
        let (sa, ca) = (theta - self.angle).sin_cos();
        let (a, b) = (self.axes[0], self.axes[1]);
        let r2 = a * a * ca * ca + b * b * sa * sa;
        if u * u >= r2 {
            0.0
        } else {
            self.intensity * 2.0 * a * b * (r2 - u * u).sqrt() / r2
        }
    }

    /// The exact area of the ellipse inside the convex polygon `corners` (counter- or
    /// clockwise), via the unit disc: area(disc ∩ mapped polygon)·a·b.
    pub fn area_in_polygon(&self, corners: &[[f64; 2]]) -> f64 {
        let q: Vec<[f64; 2]> = corners.iter().map(|&p| self.disc_coordinates(p)).collect();
        let mut area = 0.0;
        for k in 0..q.len() {
            area += disc_triangle_area(q[k], q[(k + 1) % q.len()]);
        }
        area.abs() * self.axes[0] * self.axes[1]
    }
}

/// The signed area of the unit disc ∩ triangle (0, p, q).
fn disc_triangle_area(p: [f64; 2], q: [f64; 2]) -> f64 {
    let d = [q[0] - p[0], q[1] - p[1]];
    let a = d[0] * d[0] + d[1] * d[1];
    if a == 0.0 {
        return 0.0;
    }
    let b = p[0] * d[0] + p[1] * d[1];
    let c = p[0] * p[0] + p[1] * p[1] - 1.0;
    let disc = b * b - a * c;
    // Split the edge where it crosses the circle; each piece is inside (a triangle) or
    // outside (a circular sector).
    let mut ts = [0.0, 1.0, 1.0, 1.0];
    let mut n = 1;
    if disc > 0.0 {
        let r = disc.sqrt();
        for t in [(-b - r) / a, (-b + r) / a] {
            if t > 0.0 && t < 1.0 {
                ts[n] = t;
                n += 1;
            }
        }
    }
    ts[n] = 1.0;
    let at = |t: f64| [p[0] + t * d[0], p[1] + t * d[1]];
    let mut total = 0.0;
    for k in 0..n {
        let (u, v) = (at(ts[k]), at(ts[k + 1]));
        let m = at(0.5 * (ts[k] + ts[k + 1]));
        let cross = u[0] * v[1] - u[1] * v[0];
        if m[0] * m[0] + m[1] * m[1] <= 1.0 {
            total += 0.5 * cross;
        } else {
            let dot = u[0] * v[0] + u[1] * v[1];
            total += 0.5 * cross.atan2(dot);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_areas_are_exact() {
        let e = Ellipse {
            intensity: 1.0,
            centre: [0.5, 0.5],
            axes: [0.3, 0.2],
            angle: 0.4,
        };
        let sq = |x0: f64, y0: f64, x1: f64, y1: f64| [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
        // The whole ellipse in a big square, none of it in a far one.
        let full = e.area_in_polygon(&sq(0.0, 0.0, 1.0, 1.0));
        assert!((full - std::f64::consts::PI * 0.06).abs() < 1e-14);
        assert!(e.area_in_polygon(&sq(0.9, 0.9, 1.0, 1.0)).abs() < 1e-15);
        // A split of the unit square into 4×4 pixels adds up to the total.
        let mut sum = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                let (x, y) = (j as f64 / 4.0, i as f64 / 4.0);
                sum += e.area_in_polygon(&sq(x, y, x + 0.25, y + 0.25));
            }
        }
        assert!((sum - full).abs() < 1e-13);
        // Half of a disc.
        let d = Ellipse {
            axes: [0.2, 0.2],
            ..e
        };
        let half = d.area_in_polygon(&sq(0.0, 0.0, 0.5, 1.0));
        assert!((half - std::f64::consts::PI * 0.02).abs() < 1e-14);
    }
}
