//! A test hook for crash-safety tests: with `EVTDOCTOR_TEST_CRASH_AT=N` in the environment,
//! the N-th call of [`point`] kills the process with SIGKILL, as a power cut or `kill -9`
//! would, in the middle of writing the new file, the backup or the replacement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static CALLS: AtomicU64 = AtomicU64::new(0);

fn crash_at() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| std::env::var("EVTDOCTOR_TEST_CRASH_AT").ok()?.parse().ok())
}

/// A place where a crash must leave the database intact or replaced, never half-written.
pub fn point() {
    let Some(at) = crash_at() else { return };
    if CALLS.fetch_add(1, Ordering::SeqCst) + 1 == at {
        kill_self();
    }
}

/// Under the test hook, says how many points this run passed (for tests choosing crash
/// points over the whole run).
pub fn report_points_passed() {
    if std::env::var_os("EVTDOCTOR_TEST_CRASH_AT").is_some() {
        eprintln!(
            "evtdoctor: test hook: {} crash points passed",
            CALLS.load(Ordering::SeqCst)
        );
    }
}

#[cfg(unix)]
fn kill_self() {
    // SAFETY: kill(2) with our own pid and a valid signal number has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_self() {
    std::process::abort();
}
