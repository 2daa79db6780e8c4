//! Splitting work over threads with `std::thread::scope` (no global pool).

/// The number of worker threads to use when the caller asks for `0` (= all cores).
pub(crate) fn resolve_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// Runs `f(first_item, chunk)` on `threads` contiguous chunks of `data`, each holding whole
/// items of `item_len` values, in parallel; the first chunk runs on the calling thread.
pub(crate) fn for_chunks<T: Send, F>(data: &mut [T], item_len: usize, threads: usize, f: F)
where
    F: Fn(usize, &mut [T]) + Sync,
{
    let items = data.len() / item_len.max(1);
    let threads = threads.clamp(1, items.max(1));
    if threads == 1 {
        f(0, data);
        return;
    }
    let per = items.div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = data.chunks_mut(per * item_len).enumerate();
        let first = chunks.next();
        for (t, chunk) in chunks {
            let f = &f;
            scope.spawn(move || f(t * per, chunk));
        }
        if let Some((_, chunk)) = first {
            f(0, chunk);
        }
    });
}
