//! Colour maps for derivative fields: a sequential map for magnitudes, a diverging one for
//! signed fields such as the Laplacian.

/// Anchors of a perceptually ordered dark-to-bright map (sampled from matplotlib's
/// "inferno"), evenly spaced on [0, 1].
const SEQUENTIAL: [[f32; 3]; 6] = [
    [0.001, 0.000, 0.014],
    [0.258, 0.039, 0.406],
    [0.576, 0.148, 0.404],
    [0.865, 0.317, 0.226],
    [0.988, 0.645, 0.040],
    [0.988, 0.998, 0.645],
];

/// Anchors of a blue–white–red diverging map on [−1, 1] (ColorBrewer "RdBu", reversed).
const DIVERGING: [[f32; 3]; 5] = [
    [0.020, 0.188, 0.380],
    [0.573, 0.773, 0.871],
    [0.969, 0.969, 0.969],
    [0.957, 0.647, 0.510],
    [0.404, 0.000, 0.122],
];

fn interpolate(anchors: &[[f32; 3]], t: f32) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (anchors.len() - 1) as f32;
    let i = (x.floor() as usize).min(anchors.len() - 2);
    let f = x - i as f32;
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let v = anchors[i][c] * (1.0 - f) + anchors[i + 1][c] * f;
        *o = (v * 255.0).round() as u8;
    }
    out
}

/// The `q`-quantile of |v| over `values` (from at most ~1M evenly spaced samples), so that a
/// few extreme values do not wash out the map.
pub fn abs_quantile(values: &[f32], q: f64) -> f32 {
    let stride = (values.len() / (1 << 20)).max(1);
    let mut sample: Vec<f32> = values
        .iter()
        .step_by(stride)
        .filter(|v| v.is_finite())
        .map(|v| v.abs())
        .collect();
    if sample.is_empty() {
        return 0.0;
    }
    let k = ((sample.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, v, _) = sample.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    *v
}

/// Non-negative values to RGB8 with the sequential map, 0 → dark, `max` and above → bright.
pub fn sequential_rgb(values: &[f32], max: f32) -> Vec<u8> {
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    values
        .iter()
        .flat_map(|&v| interpolate(&SEQUENTIAL, v * scale))
        .collect()
}

/// Signed values to RGB8 with the diverging map: 0 → white, ±`range` and beyond → red/blue.
pub fn diverging_rgb(values: &[f32], range: f32) -> Vec<u8> {
    let scale = if range > 0.0 { 0.5 / range } else { 0.0 };
    values
        .iter()
        .flat_map(|&v| interpolate(&DIVERGING, 0.5 + v * scale))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_hit_their_anchors() {
        assert_eq!(diverging_rgb(&[0.0], 1.0), vec![247, 247, 247]);
        let rgb = diverging_rgb(&[-5.0, 5.0, f32::NAN], 1.0);
        assert_eq!(&rgb[..3], &[5, 48, 97]);
        assert_eq!(&rgb[3..6], &[103, 0, 31]);
        // Not finite → the low end, never a panic.
        assert_eq!(&rgb[6..], &[5, 48, 97]);
        let seq = sequential_rgb(&[0.0, 1.0], 1.0);
        assert!(seq[0] < 5 && seq[3] > 250);
    }

    #[test]
    fn quantile_ignores_outliers() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        v.push(1e9);
        v.push(f32::NAN);
        let q = abs_quantile(&v, 0.99);
        assert!((q - 0.99).abs() < 0.01, "{q}");
    }
}
