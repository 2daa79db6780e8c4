//! Work split over a few threads, with results in a fixed order: the graph-free evaluation
//! and training paths share it.

use std::sync::Mutex;

use crate::{Error, Result};

/// `task(state, i)` for every `i` in `0..count`, on up to `threads` scoped workers that each
/// own one `init()` state (reusable buffers). Results come back in index order, so they do
/// not depend on the number of threads. After a task fails, the later ones are skipped and
/// the first error by index is returned. (Lanes of one task each, see [`run_lanes`].)
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
    let results = run_lanes(
        (0..count).map(|_| None).collect(),
        |_| 1,
        threads,
        init,
        |state, out: &mut Option<R>, i, _| {
            *out = Some(task(state, i)?);
            Ok(())
        },
    )?;
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::invalid("parallel work", "a task was not run")))
        .collect()
}

/// Runs `lanes.len()` sequences of tasks on up to `threads` scoped workers. Lane `l` has
/// `tasks(l)` tasks, run in order and one at a time, each as `task(worker, lane_state, l,
/// k)`; between two of them the lane may move to another worker. So results that a lane
/// accumulates do not depend on the workers, while the work is balanced task by task
/// (one lane per worker would leave a worker idle for up to a whole lane when the other
/// was slowed down). Lanes are served round-robin. Returns the lane states in lane order;
/// after a task fails, the tasks after it (by round, then lane) are skipped and the error
/// of the earliest failing task is returned, the same however the workers were scheduled.
pub(crate) fn run_lanes<L, W, I, F>(
    lanes: Vec<L>,
    tasks: impl Fn(usize) -> usize + Sync,
    threads: usize,
    init: I,
    task: F,
) -> Result<Vec<L>>
where
    L: Send,
    I: Fn() -> W + Sync,
    F: Fn(&mut W, &mut L, usize, usize) -> Result<()> + Sync,
{
    let n = lanes.len();
    let mut queue = std::collections::VecDeque::new();
    let mut done: Vec<Option<L>> = (0..n).map(|_| None).collect();
    for (l, state) in lanes.into_iter().enumerate() {
        if tasks(l) > 0 {
            queue.push_back((l, 0, state));
        } else {
            done[l] = Some(state);
        }
    }
    let (queue, done) = (Mutex::new(queue), Mutex::new(done));
    let failed: Mutex<Option<(usize, usize, Error)>> = Mutex::new(None);
    let poisoned = || Error::invalid("parallel work", "a worker panicked");
    let work = || -> Result<()> {
        let mut worker = init();
        loop {
            let Some((l, k, mut state)) = queue.lock().map_err(|_| poisoned())?.pop_front() else {
                return Ok(());
            };
            // Only tasks after a recorded failure are skipped (with the rest of their
            // lane): every earlier task still runs, so the error returned is that of the
            // earliest failing task whatever the scheduling, not of the first to fail.
            let after_failure = failed
                .lock()
                .map_err(|_| poisoned())?
                .as_ref()
                .is_some_and(|&(fk, fl, _)| (k, l) > (fk, fl));
            if after_failure {
                continue;
            }
            if let Err(e) = task(&mut worker, &mut state, l, k) {
                let mut first = failed.lock().map_err(|_| poisoned())?;
                if first.as_ref().is_none_or(|&(fk, fl, _)| (k, l) < (fk, fl)) {
                    *first = Some((k, l, e));
                }
                // Keep draining: a task earlier than this one may still be queued.
                continue;
            }
            if k + 1 < tasks(l) {
                queue
                    .lock()
                    .map_err(|_| poisoned())?
                    .push_back((l, k + 1, state));
            } else {
                done.lock().map_err(|_| poisoned())?[l] = Some(state);
            }
        }
    };
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        work()?;
    } else {
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().map_err(|_| poisoned())?)
        })?;
    }
    if let Some((_, _, e)) = failed.into_inner().map_err(|_| poisoned())? {
        return Err(e);
    }
    done.into_inner()
        .map_err(|_| poisoned())?
        .into_iter()
        .map(|lane| lane.ok_or_else(|| Error::invalid("parallel work", "a lane was not run")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lane sees its tasks in order, whatever the number of workers (lanes without
    /// tasks come back untouched), and an error comes from the earliest failing task.
    #[test]
    fn lanes_run_their_tasks_in_order() {
        for threads in [1, 2, 3, 8] {
            let lanes = run_lanes(
                vec![Vec::new(); 6],
                |l| l.saturating_sub(1),
                threads,
                || (),
                |_, seen: &mut Vec<usize>, l, k| {
                    seen.push(k);
                    // Unequal task costs, so that lanes change workers.
                    std::thread::sleep(std::time::Duration::from_micros(
                        ((l * 7 + k) % 5) as u64 * 200,
                    ));
                    Ok(())
                },
            )
            .unwrap();
            for (l, seen) in lanes.iter().enumerate() {
                let want: Vec<usize> = (0..l.saturating_sub(1)).collect();
                assert_eq!(*seen, want, "{threads} workers");
            }
        }
        let err = run_lanes(
            vec![(); 4],
            |_| 3,
            2,
            || (),
            |_, _, l, k| {
                if (l == 3 && k == 1) || (l == 2 && k == 2) {
                    Err(Error::invalid("task", format!("{l} {k}")))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("3 1"), "{err}");
    }

    /// The earliest failing task's error comes back even when a later task fails first:
    /// here task (lane 3, round 0) is slow, so the other worker reaches the failing task
    /// (2, 2) long before (3, 1), which fails too and comes earlier in the order.
    #[test]
    fn the_earliest_failure_wins_whatever_fails_first() {
        let err = run_lanes(
            vec![(); 4],
            |_| 3,
            2,
            || (),
            |_, _, l, k| {
                if (l, k) == (3, 0) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                if (l, k) == (3, 1) || (l, k) == (2, 2) {
                    Err(Error::invalid("task", format!("{l} {k}")))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("3 1"), "{err}");
    }
}
