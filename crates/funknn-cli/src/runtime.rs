//! Process-wide settings of the libraries underneath, made once at start-up (the library
//! crates hold no global state; this binary owns its process).

/// `mi_option_purge_delay` in mimalloc 2 and 3 (`mimalloc.h`); libmimalloc-sys does not
/// export the constant.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// - candle asks for its thread count on every CPU op, and without `RAYON_NUM_THREADS` that
///   reads `/proc/cpuinfo` each time (7 % of an autoencoder step); set it once.
/// - mimalloc gives freed memory back to the kernel after 10 ms by default, so a training
///   step's tensor-sized buffers are page-faulted and zeroed again at the next step (10–15 %
///   of an autoencoder step). A 5 s delay was not enough with mimalloc 3 (pages of the
///   short-lived worker threads were still purged: 77,000 page faults in 30 s of
///   autoencoder steps, against 1,400 without purging, and 7 % of the step), so never purge:
///   the process keeps its peak, which it reaches in its first step anyway.
pub fn tune() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator; valid at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}
