//! Work split over a few threads, with results in a fixed order: the graph-free evaluation
//! and training paths share it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::{Error, Result};

/// `task(state, i)` for every `i` in `0..count`, on up to `threads` scoped workers that each
/// own one `init()` state (reusable buffers). Results come back in index order, so they do
/// not depend on the number of threads. After a task fails, the remaining ones are skipped
/// and the first error by index is returned.
pub(crate) fn map_indexed<S, R, I, F>(
    count: usize,
    threads: usize,
    init: I,
    task: F,
) -> Result<Vec<R>>
where
    R: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, usize) -> Result<R> + Sync,
{
    let results: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..count).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let work = || {
        let mut state = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break;
            }
            let r = task(&mut state, i);
            let failed = r.is_err();
            if let Ok(mut slots) = results.lock() {
                slots[i] = Some(r);
            }
            if failed {
                next.store(count, Ordering::Relaxed);
            }
        }
    };
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    results
        .into_inner()
        .map_err(|_| Error::invalid("parallel work", "a worker panicked"))?
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| Err(Error::invalid("parallel work", "a task was not run")))
        })
        .collect()
}
