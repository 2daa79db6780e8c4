//! A loss curve as a PNG-ready RGB image, without a plotting dependency.

/// Draws `values` (e.g. per-step losses) on a log scale: the raw values in light grey and a
/// running mean over `smooth` steps in blue, with a frame; and the running mean of
/// `reference` (e.g. the plain interpolation's loss on the same batches; may be empty) in
/// orange. Returns `(width, height, rgb)`.
pub fn loss_curve(values: &[f32], reference: &[f32], smooth: usize) -> (u32, u32, Vec<u8>) {
    let (w, h) = (800usize, 400usize);
    let margin = 20usize;
    let mut rgb = vec![255u8; w * h * 3];
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        if x < w && y < h {
            rgb[(y * w + x) * 3..][..3].copy_from_slice(&c);
        }
    };
    for x in margin..w - margin {
        put(x, margin, [0; 3]);
        put(x, h - margin, [0; 3]);
    }
    for y in margin..=h - margin {
        put(margin, y, [0; 3]);
        put(w - margin, y, [0; 3]);
    }
    let log_of = |values: &[f32]| -> Vec<f32> {
        values
            .iter()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| v.ln())
            .collect()
    };
    let logs = log_of(values);
    let ref_logs = log_of(reference);
    if logs.len() < 2 {
        return (w as u32, h as u32, rgb);
    }
    let (lo, hi) = logs
        .iter()
        .chain(&ref_logs)
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let span = (hi - lo).max(1e-6);
    let to_xy = |i: usize, v: f32| {
        let x = margin + 1 + i * (w - 2 * margin - 2) / (logs.len() - 1);
        let y = margin + 1 + ((hi - v) / span * (h - 2 * margin - 2) as f32) as usize;
        (x, y)
    };
    let window = smooth.max(1);
    let running_mean = |logs: &[f32]| -> Vec<f32> {
        let mut mean = Vec::with_capacity(logs.len());
        let mut acc = 0.0;
        for (i, &v) in logs.iter().enumerate() {
            acc += v;
            if i >= window {
                acc -= logs[i - window];
            }
            mean.push(acc / (i + 1).min(window) as f32);
        }
        mean
    };
    let mean = running_mean(&logs);
    let ref_mean = running_mean(&ref_logs);
    for (series, colour) in [
        (&logs, [200u8, 200, 200]),
        (&ref_mean, [255, 127, 14]),
        (&mean, [31, 119, 180]),
    ] {
        for i in 1..series.len() {
            let (x0, y0) = to_xy(i - 1, series[i - 1]);
            let (x1, y1) = to_xy(i, series[i]);
            let steps = x1.abs_diff(x0).max(y1.abs_diff(y0)).max(1);
            for s in 0..=steps {
                let t = s as f32 / steps as f32;
                let x = (x0 as f32 + t * (x1 as f32 - x0 as f32)).round() as usize;
                let y = (y0 as f32 + t * (y1 as f32 - y0 as f32)).round() as usize;
                put(x, y, colour);
            }
        }
    }
    (w as u32, h as u32, rgb)
}
