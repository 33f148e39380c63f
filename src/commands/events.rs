//! `evtdoctor events`: list the records of event logs, filtered.

use crate::cli::EventsArgs;
use crate::filter::EventFilter;
use crate::input;
use crate::listing::stream_matching;
use crate::output::destination::{self, Destination};
use crate::output::events::Sink;
use crate::output::print_path_errors;
use crate::ExitCode;
use anyhow::{Context, Result};
use std::io::{self, BufWriter};

pub fn run(args: &EventsArgs) -> Result<ExitCode> {
    let filter = EventFilter::from_args(&args.filter)?;
    let format = destination::resolve_format(args.output.given(), args.file.path.as_deref())?;
    let (files, path_errors) = input::discover(&args.paths)?;
    print_path_errors(&path_errors);

    if files.is_empty() {
        // Nothing to list: stdout stays empty rather than saying no record matched.
        crate::error!("no readable input");
        return Ok(ExitCode::Usage);
    }

    let mut destination = Destination::open(args.file.path.as_deref(), &files)?;
    let mut sink = Sink::new(format, BufWriter::new(destination.writer()))?;
    let listed = stream_matching(&files, args.read.options(), &filter, format, &mut sink);
    let reports = match listed.and_then(|reports| sink.finish().map(|()| reports)) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::Clean),
        other => other.context("writing output")?,
    };
    destination.finish()?;

    let readable = reports.iter().filter(|r| r.readable()).count();
    let records: u64 = reports.iter().map(|r| r.records).sum();
    let recovered: u64 = reports.iter().map(|r| r.recovered).sum();
    let unreadable = reports.len() - readable + path_errors.len();
    crate::note!(
        "evtdoctor: {records} records ({recovered} recovered) from {readable} input(s){}",
        if unreadable > 0 {
            format!("; {unreadable} unreadable")
        } else {
            String::new()
        }
    );
    Ok(if readable == 0 {
        ExitCode::Usage
    } else {
        ExitCode::Clean
    })
}
