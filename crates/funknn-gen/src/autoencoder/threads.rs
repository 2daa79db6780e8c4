//! How the autoencoder's CPU kernels share the cores: tasks of images (or channel planes)
//! dealt to scoped threads, and outputs built in place by the threads that compute them.
//!
//! With the convolutions alone on both cores, the max-pooling (candle's), the upsampling
//! and the ReLU mask (single-threaded loops) left one core idle for about 40 % of a 64²
//! training step's wall time (`perf stat`: 1.59 CPUs used); with these helpers, 1.75–1.79.

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

/// Runs `run(state, first unit, its outputs)` over `y` in tasks of `task_units` units
/// (`per_unit` values each; the last task may be shorter), on `threads` scoped threads
/// that each make their `state` (scratch) with `init` and take the next task until none
/// is left; on the calling thread when there is one. Every task's outputs are its own, so
/// the result does not depend on which thread ran it, and a core slowed by the machine
/// takes fewer tasks instead of holding the others up (with two halves fixed in advance,
/// one of two threads idled 10 % of a 64² training step's convolutions).
pub(crate) fn split_units<T: Send, S>(
    y: &mut [T],
    per_unit: usize,
    task_units: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    if y.is_empty() || per_unit == 0 {
        return;
    }
    let task = task_units.max(1) * per_unit;
    let tasks = y.len().div_ceil(task);
    let threads = threads.clamp(1, tasks);
    let next = std::sync::Mutex::new(y.chunks_mut(task).enumerate());
    // The lock is held only to take the next chunk (not while it runs); a poisoned one
    // means another task panicked, which the scope re-raises.
    let take = || next.lock().ok().and_then(|mut it| it.next());
    let work = || {
        let mut state = init();
        while let Some((i, chunk)) = take() {
            run(&mut state, i * task_units.max(1), chunk);
        }
    };
    if threads == 1 {
        return work();
    }
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(work);
        }
    });
}

/// A vector of `units · per_unit` values made by `run(state, first unit, its values)` in
/// tasks of `task_units` units, as [`split_units`] runs them, each task zeroing its part
/// first: the zeroing is split too, and done where the part is about to be written.
pub(crate) fn build_with<T: Copy + Default + Send, S>(
    units: usize,
    per_unit: usize,
    task_units: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, usize, &mut [T]) + Sync,
) -> Vec<T> {
    let len = units * per_unit;
    let mut y: Vec<T> = Vec::with_capacity(len);
    split_units(
        &mut y.spare_capacity_mut()[..len],
        per_unit,
        task_units,
        threads,
        init,
        |state, first, part: &mut [MaybeUninit<T>]| {
            for v in part.iter_mut() {
                v.write(T::default());
            }
            // SAFETY: every element of `part` was initialised just above, and
            // `MaybeUninit<T>` has the layout of `T`.
            let part = unsafe { &mut *(part as *mut [MaybeUninit<T>] as *mut [T]) };
            run(state, first, part);
        },
    );
    // SAFETY: `split_units` hands every element of the first `len` to exactly one task,
    // which initialises all of its part (a panicking task unwinds through the scope and
    // never reaches this line).
    unsafe { y.set_len(len) };
    y
}

/// [`build_with`] without scratch, in four tasks per thread.
pub(crate) fn build<T: Copy + Default + Send>(
    units: usize,
    per_unit: usize,
    threads: usize,
    run: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let task_units = units.div_ceil(4 * threads.max(1));
    build_with(
        units,
        per_unit,
        task_units,
        threads,
        || (),
        |_, first, part| run(first, part),
    )
}

/// Threads for an elementwise pass over `len` values in `units` independent parts: all
/// cores for a large pass, one for a small one.
pub(crate) fn elementwise(len: usize, units: usize) -> usize {
    if len >= PAR_ELEMENTS {
        threads(units)
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

    /// Tasks start at multiples of their size, and each thread's scratch is its own.
    #[test]
    fn tasks_cover_every_unit_once_with_their_own_scratch() {
        for (units, task, threads) in [(10, 3, 2), (64, 1, 2), (5, 8, 3)] {
            let v: Vec<(usize, usize)> = build_with(
                units,
                2,
                task,
                threads,
                || 0usize,
                |tasks, first, part| {
                    assert_eq!(first % task, 0);
                    assert!(part.len() <= 2 * task);
                    *tasks += 1;
                    for (i, x) in part.iter_mut().enumerate() {
                        *x = (first * 2 + i, *tasks);
                    }
                },
            );
            let index: Vec<usize> = v.iter().map(|x| x.0).collect();
            assert_eq!(index, (0..units * 2).collect::<Vec<_>>());
            // Per-thread counters: none saw more tasks than there are.
            assert!(v.iter().all(|x| x.1 >= 1 && x.1 <= units.div_ceil(task)));
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
