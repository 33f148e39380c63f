//! Progress bars on stderr, shown only to a person at a terminal and only for long work.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Below this many bytes a run is quick enough that a bar would only flicker.
const WORTH_A_BAR: u64 = 64 * 1024 * 1024;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A byte-counting bar over the given files, or nothing when stderr is not a terminal or
    /// the work is small.
    pub fn for_files(files: &[PathBuf]) -> Progress {
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        Progress::for_bytes(total, files.len() > 200)
    }

    /// A bar over `total` bytes, shown when large (or when `many` items make it worth it).
    pub fn for_bytes(total: u64, many: bool) -> Progress {
        if !std::io::stderr().is_terminal()
            || crate::verbosity::get() == crate::verbosity::Verbosity::Quiet
            || (total < WORTH_A_BAR && !many)
        {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})",
            )
            .expect("static template is valid"),
        );
        Progress { bar: Some(bar) }
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
