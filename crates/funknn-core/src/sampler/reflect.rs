//! Half-sample symmetric extension of pixel indices.

/// Maps any integer pixel index to `0..n` by mirroring about −0.5 and n − 0.5 (the edge pixel
/// repeats), as often as needed: the extension is 2n-periodic. For indices within one bounce
/// this is the official code's `reflect_coords` and `grid_sample`'s `reflection` padding.
///
/// ```
/// use funknn_core::reflect_index;
/// assert_eq!(reflect_index(-1, 5), 0);
/// assert_eq!(reflect_index(-2, 5), 1);
/// assert_eq!(reflect_index(5, 5), 4);
/// assert_eq!(reflect_index(12, 5), 2);
/// ```
pub fn reflect_index(v: i64, n: usize) -> usize {
    // Most taps fall inside the image: skip the division.
    if (0..n as i64).contains(&v) {
        return v as usize;
    }
    let n = n as i64;
    let m = v.rem_euclid(2 * n);
    (if m >= n { 2 * n - 1 - m } else { m }) as usize
}
