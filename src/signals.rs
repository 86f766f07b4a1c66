//! Requests to stop, counted. The long-running loops read the count: `durably work` stops
//! claiming at the first request and stops its handlers at the second; `ls --watch` ends at the
//! first.
//!
//! The actions are installed through signal-hook's registry with `SA_RESTART`: a blocking call
//! carries on, and a loop sees the request at its next check (every few tens of milliseconds).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What ends `ls --watch`: Ctrl-C and `kill`.
pub const INTERRUPT: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// What stops a worker: also SIGHUP (the terminal or ssh session went away) and SIGQUIT
/// (Ctrl-\), which by default would end it like a crash, leaving its runs to wait out their
/// leases.
pub const STOP_WORKER: [libc::c_int; 4] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Requests received since the process started.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// The signals already counted (bit n: signal n), so that counting one twice does not make
/// each delivery count twice.
static COUNTED: AtomicU64 = AtomicU64::new(0);

/// From now on, every delivery of one of `signals` is one request to stop (instead of the
/// signal's default action).
pub fn count(signals: &[libc::c_int]) -> std::io::Result<()> {
    for &signal in signals {
        let bit = 1u64 << (signal as u32 % 64);
        if COUNTED.fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            continue;
        }
        // SAFETY: the action only adds to an atomic integer: it allocates nothing, takes no
        // lock and calls nothing, so it is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, || {
                RECEIVED.fetch_add(1, Ordering::SeqCst);
            })
        }?;
    }
    Ok(())
}

/// How many requests to stop have arrived so far.
pub fn received() -> usize {
    RECEIVED.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delivery_counts_once_however_often_its_signal_is_counted() {
        // SIGUSR2: no other test of this binary sends or counts it.
        count(&[libc::SIGUSR2]).unwrap();
        count(&[libc::SIGUSR2]).unwrap();
        let before = received();
        signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
        assert_eq!(received(), before + 1);
        signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
        assert_eq!(received(), before + 2);
    }
}
