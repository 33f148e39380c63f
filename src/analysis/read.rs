//! Reading every input and correlating its events as they arrive.

use crate::correlate::{observe_batch, Correlation, Correlator, Observed, WatchedEvents};
use crate::input::{self, ReadOptions};
use crate::output::print_problems;
use crate::parallel;
use crate::progress::Progress;
use crate::report::InputSummary;
use crate::verbosity;
use std::cell::RefCell;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads `files` on every core and correlates their events in input order; each input's
/// problems go to stderr as it is delivered.
pub fn correlate(
    files: &[PathBuf],
    options: ReadOptions,
    watched: WatchedEvents,
) -> (Vec<InputSummary>, Correlation) {
    parallel::init_threads(options.threads);
    let progress = Progress::for_files(files);
    // Events are observed on the reading threads (most are kept only as digests) and
    // correlated as they arrive, in input order.
    let correlator = RefCell::new(Correlator::watching(watched.clone()));
    let mut summaries = Vec::new();
    let read_with = |path: &Path, options, sink: &mut dyn FnMut(Vec<Observed>)| {
        let file: Arc<str> = path.display().to_string().into();
        input::read_batches(
            path,
            options,
            |events, basis| observe_batch(&file, events, basis, &watched),
            sink,
        )
    };
    let read_together = |path: &Path, options| {
        let mut found = Vec::new();
        let report = read_with(path, options, &mut |observed| found.extend(observed));
        (report, found)
    };
    let read_alone = |path: &Path, options| {
        let mut correlator = correlator.borrow_mut();
        let report = read_with(path, options, &mut |observed| {
            observed.into_iter().for_each(|e| correlator.add(e))
        });
        (report, Vec::new())
    };
    let delivered = parallel::read_in_order(
        files,
        options,
        read_together,
        read_alone,
        |(report, found)| {
            progress.advance(report.size);
            print_problems(&report);
            verbosity::input_details(&report);
            summaries.push(InputSummary::from_report(&report));
            let mut correlator = correlator.borrow_mut();
            found.into_iter().for_each(|e| correlator.add(e));
            Ok::<(), Infallible>(())
        },
    );
    let Ok(()) = delivered;
    progress.finish();
    let correlation = correlator.into_inner().finish();
    super::export_offsets::report_export_offsets(
        &correlation.export_offsets,
        options.tz,
        &mut summaries,
    );
    (summaries, correlation)
}
