//! The events engine: reads inputs in order and streams the records a filter keeps into a
//! [`Sink`], rendered on the reading threads.

use crate::cli::Format;
use crate::filter::EventFilter;
use crate::input::{self, InputReport, ReadOptions};
use crate::output::events::{Rendered, Sink};
use crate::output::print_problems;
use crate::parallel;
use crate::progress::Progress;
use crate::verbosity;
use evtdoctor_parsers::Event;
use std::cell::RefCell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes every record of `files` that `filter` keeps to `sink`, in input order, and returns
/// what reading each input gave (its problems also go to stderr as it is delivered). Stops
/// at the first write error.
pub fn stream_matching<W: Write>(
    files: &[PathBuf],
    options: ReadOptions,
    filter: &EventFilter,
    format: Format,
    sink: &mut Sink<W>,
) -> io::Result<Vec<InputReport>> {
    parallel::init_threads(options.threads);
    // An input read alone writes from inside its read (streaming); every input writes what is
    // left when delivered.
    let sink = RefCell::new(sink);
    let progress = Progress::for_files(files);
    let mut reports = Vec::new();
    let read_together =
        |path: &Path, options| read_rendered(path, options, filter, format, |_| Ok(()));
    let read_alone = |path: &Path, options| {
        read_rendered(path, options, filter, format, |rendered| {
            sink.borrow_mut().write(std::mem::take(rendered))
        })
    };
    let written = parallel::read_in_order(files, options, read_together, read_alone, |output| {
        progress.advance(output.report.size);
        if let Some(e) = output.write_error {
            return Err(e);
        }
        sink.borrow_mut().write(output.rendered)?;
        print_problems(&output.report);
        verbosity::input_details(&output.report);
        reports.push(output.report);
        Ok(())
    });
    progress.finish();
    written.map(|()| reports)
}

/// One input read and its matching records rendered, by the thread that read it.
struct FileOutput {
    report: InputReport,
    rendered: Rendered,
    write_error: Option<io::Error>,
}

/// Reads one input, rendering each matching record (on the reader's worker threads for a large
/// .evtx); `spill` may write out what has piled up.
fn read_rendered(
    path: &Path,
    options: ReadOptions,
    filter: &EventFilter,
    format: Format,
    mut spill: impl FnMut(&mut Rendered) -> io::Result<()>,
) -> FileOutput {
    let name = path.display().to_string();
    let mut rendered = Rendered::default();
    let mut write_error = None;
    let render = |events: Vec<Event>, basis| {
        let mut batch = Rendered::for_events(format, events.len());
        for event in events.iter().filter(|e| filter.matches(e)) {
            batch.push(format, &name, event, basis)?;
        }
        Ok(batch)
    };
    let report = input::read_batches(path, options, render, |batch: io::Result<Rendered>| {
        if write_error.is_some() {
            return;
        }
        let added = batch.and_then(|batch| {
            rendered.append(batch);
            spill(&mut rendered)
        });
        if let Err(e) = added {
            write_error = Some(e);
        }
    });
    FileOutput {
        report,
        rendered,
        write_error,
    }
}
