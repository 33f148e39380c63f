//! How much goes to stderr besides errors and damage: `--quiet` drops summaries, progress and
//! notes; `--verbose` adds what was read from each input.

use crate::input::InputReport;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

static LEVEL: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// Set once, from the command line, before any command runs.
pub fn set(verbosity: Verbosity) {
    LEVEL.store(verbosity as u8, Ordering::Relaxed);
}

pub fn get() -> Verbosity {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// A summary or note on stderr, left out with `--quiet` (errors use `eprintln!`).
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if $crate::verbosity::get() > $crate::verbosity::Verbosity::Quiet {
            eprintln!($($arg)*);
        }
    };
}

/// With `--verbose`: one line per input read, with its format, size and counts.
pub fn input_details(report: &InputReport) {
    if get() < Verbosity::Verbose || !report.readable() {
        return;
    }
    let format = report
        .format
        .map_or_else(|| "unknown format".to_owned(), |f| format!("{f:?}"));
    eprintln!(
        "evtdoctor: {}: {format}, {} bytes, {} records ({} recovered), {} problem(s)",
        report.path.display(),
        report.size,
        report.records,
        report.recovered,
        report.problems.len()
    );
}
