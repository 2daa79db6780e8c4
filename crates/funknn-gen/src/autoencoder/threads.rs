//! How the autoencoder's CPU kernels share the cores: contiguous runs of images (or
//! channel planes) per scoped thread, and outputs built in place by the threads that
//! compute them.
//!
//! candle's CPU ops that the autoencoder used (max-pooling and its backward, the
//! upsampling, the ReLU mask) run on one thread: with the convolutions on two cores,
//! a third of a 64² training step's wall time had one core idle.

use std::mem::MaybeUninit;

/// Elements from which an elementwise pass is split over the cores: below it, spawning
/// threads costs more than the pass.
pub(crate) const PAR_ELEMENTS: usize = 1 << 16;

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |t| t.get())
}

pub(crate) fn threads(work: usize) -> usize {
    cores().clamp(1, work.max(1))
}

/// How many threads each of `t` workers splits its products over: one, unless the batch
/// has fewer groups of images than the machine has cores (one image, as an inverse problem
/// or a single sample decodes), when the idle cores take rows of the product.
pub(crate) fn inner_threads(t: usize) -> usize {
    (cores() / t.max(1)).max(1)
}

/// Images per group of a kernel that fills products with `per_group` columns of
/// `per_image` each: as many as fit, but never so many that the `n` images make fewer
/// groups than there are cores (the small stages, 2×2 to 8×8, would otherwise run their
/// transforms and copies on one thread).
pub(crate) fn group(per_group: usize, per_image: usize, n: usize) -> usize {
    (per_group / per_image.max(1)).clamp(1, n.div_ceil(cores()).max(1))
}

/// Runs `run(first unit, its outputs)` on `threads` scoped threads, each with a
/// contiguous run of the units of `y` (`per_unit` values each); on the calling thread
/// when there is one.
pub(crate) fn split_units<T: Send>(
    y: &mut [T],
    per_unit: usize,
    threads: usize,
    run: impl Fn(usize, &mut [T]) + Sync,
) {
    if y.is_empty() || per_unit == 0 {
        return;
    }
    let per_thread = (y.len() / per_unit).div_ceil(threads.max(1));
    if threads <= 1 || per_thread * per_unit >= y.len() {
        return run(0, y);
    }
    std::thread::scope(|s| {
        for (i, chunk) in y.chunks_mut(per_thread * per_unit).enumerate() {
            let run = &run;
            s.spawn(move || run(i * per_thread, chunk));
        }
    });
}

/// A vector of `units · per_unit` values made by `run(first unit, its values)` on
/// `threads` threads, each zeroing its own part first: the zeroing is split too, and
/// done where the part is about to be written.
pub(crate) fn build<T: Copy + Default + Send>(
    units: usize,
    per_unit: usize,
    threads: usize,
    run: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let len = units * per_unit;
    let mut y: Vec<T> = Vec::with_capacity(len);
    split_units(
        &mut y.spare_capacity_mut()[..len],
        per_unit,
        threads,
        |first, part: &mut [MaybeUninit<T>]| {
            for v in part.iter_mut() {
                v.write(T::default());
            }
            // SAFETY: every element of `part` was initialised just above, and
            // `MaybeUninit<T>` has the layout of `T`.
            let part = unsafe { &mut *(part as *mut [MaybeUninit<T>] as *mut [T]) };
            run(first, part);
        },
    );
    // SAFETY: `split_units` hands every element of the first `len` to exactly one call,
    // which initialises all of its part.
    unsafe { y.set_len(len) };
    y
}

/// Threads for an elementwise pass over `len` values in units of `per_unit`: all cores
/// for a large pass, one for a small one.
pub(crate) fn elementwise(len: usize, per_unit: usize) -> usize {
    if len >= PAR_ELEMENTS {
        threads(len / per_unit.max(1))
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every unit is handed to exactly one call, at its index, for any thread count.
    #[test]
    fn build_covers_every_unit_once() {
        for (units, per_unit, threads) in [(7, 3, 2), (1, 5, 4), (64, 1, 3), (0, 4, 2)] {
            let v: Vec<usize> = build(units, per_unit, threads, |first, part| {
                for (i, x) in part.iter_mut().enumerate() {
                    assert_eq!(*x, 0);
                    *x = first * per_unit + i + 1;
                }
            });
            assert_eq!(v, (1..=units * per_unit).collect::<Vec<_>>());
        }
    }

    #[test]
    fn groups_leave_no_core_idle() {
        let c = cores();
        // 64 images of 4×4 into products of 1024 columns: at most 64/c images a group.
        assert_eq!(group(1024, 16, 64), 64usize.div_ceil(c));
        // Large images: one per group; one image: one group.
        assert_eq!(group(1024, 4096, 64), 1);
        assert_eq!(group(1024, 16, 1), 1);
    }
}
