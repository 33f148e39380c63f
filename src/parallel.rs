//! Reading many inputs on every core while keeping their order.
//!
//! Small inputs are read in batches, several at once (one input per thread); a large input, or
//! a small one with no other beside it, is read alone with the reader's own threads (.evtx
//! chunks in parallel) and may be streamed, so memory stays bounded by a batch whatever the
//! input sizes. Results are handed on in input order, so output does not depend on the thread
//! count.

use crate::input::{self, ReadOptions};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// From this size on, an input is streamed alone rather than read whole beside others.
const LARGE_INPUT: u64 = 32 * 1024 * 1024;
/// Bytes of small inputs read per batch: bounds what is held before it is handed on.
const BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Sets the number of worker threads for the whole run (0 = one per core). Call once, before
/// any reading; the threads are those of rayon's global pool, which the .evtx reader also uses.
pub fn init_threads(threads: usize) {
    // Fails only when the pool already exists (a second call): it keeps its size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

/// Reads every file and hands each result to `deliver`, in file order.
///
/// `read_together` runs on worker threads, one input each, and is given single-threaded read
/// options; `read_alone` runs on the calling thread with the run's thread count and may
/// stream what it reads. Stops at the first error `deliver` returns.
pub fn read_in_order<T: Send, E>(
    files: &[PathBuf],
    options: ReadOptions,
    read_together: impl Fn(&Path, ReadOptions) -> T + Sync,
    mut read_alone: impl FnMut(&Path, ReadOptions) -> T,
    mut deliver: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    let single = ReadOptions {
        threads: 1,
        ..options
    };
    let sizes: Vec<u64> = files.iter().map(|f| input::size_hint(f)).collect();
    let mut at = 0;
    while at < files.len() {
        let end = batch_end(&sizes, at);
        if end <= at + 1 {
            // A large input, or a batch of one: it gets every thread.
            deliver(read_alone(&files[at], options))?;
            at += 1;
            continue;
        }
        let results: Vec<T> = files[at..end]
            .par_iter()
            .map(|file| read_together(file, single))
            .collect();
        for result in results {
            deliver(result)?;
        }
        at = end;
    }
    Ok(())
}

/// The end of the batch of small inputs starting at `start`: up to the next large input or
/// until the batch holds `BATCH_BYTES` (`start` itself when it is large).
fn batch_end(sizes: &[u64], start: usize) -> usize {
    let mut bytes = 0u64;
    let mut end = start;
    while let Some(&size) = sizes.get(end) {
        if size >= LARGE_INPUT || bytes.saturating_add(size) > BATCH_BYTES {
            break;
        }
        bytes = bytes.saturating_add(size);
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn batches_stop_at_large_inputs_and_at_the_byte_budget() {
        let sizes = [MIB, MIB, LARGE_INPUT, MIB, 30 * MIB, 30 * MIB, 30 * MIB, 10];
        assert_eq!(batch_end(&sizes, 0), 2);
        assert_eq!(batch_end(&sizes, 2), 2); // a large input is never batched
        assert_eq!(batch_end(&sizes, 3), 6); // 1 + 30 + 30 MiB fit, 30 more would not
        assert_eq!(batch_end(&sizes, 6), 8);
    }

    #[test]
    fn results_come_in_file_order_and_errors_stop_delivery() {
        let files: Vec<PathBuf> = (0..50).map(|n| PathBuf::from(format!("f{n}"))).collect();
        let name = |path: &Path, _: ReadOptions| path.display().to_string();
        let mut seen = Vec::new();
        let done: Result<(), ()> = read_in_order(&files, ReadOptions::default(), name, name, |n| {
            seen.push(n);
            Ok(())
        });
        assert_eq!(done, Ok(()));
        let want: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        assert_eq!(seen, want);

        let mut count = 0;
        let stopped = read_in_order(&files, ReadOptions::default(), name, name, |_| {
            count += 1;
            if count == 3 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, count), (Err("stop"), 3));
    }

    #[test]
    fn a_lone_input_is_read_with_every_thread() {
        let threads_given = |names: &[&str]| {
            let files: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
            let options = ReadOptions {
                threads: 4,
                ..ReadOptions::default()
            };
            let threads = |_: &Path, options: ReadOptions| options.threads;
            let mut seen = Vec::new();
            let done: Result<(), ()> = read_in_order(&files, options, threads, threads, |n| {
                seen.push(n);
                Ok(())
            });
            assert_eq!(done, Ok(()));
            seen
        };
        assert_eq!(threads_given(&["alone"]), [4]);
        assert_eq!(threads_given(&["a", "b"]), [1, 1]);
    }
}
