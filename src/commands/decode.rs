//! `evtdoctor decode`: read pasted event text (or an export, or a log) and show every event
//! with its binary data made readable.

use crate::cli::DecodeArgs;
use crate::input::{self, InputReport, ReadOptions};
use crate::output::decode::{self, Decoded};
use crate::output::destination::{resolve_format, Destination};
use crate::output::print_problems;
use crate::ExitCode;
use anyhow::{Context, Result};
use evtdoctor_parsers::payload::decode_payload;
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::Event;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub fn run(args: &DecodeArgs) -> Result<ExitCode> {
    let format = resolve_format(args.output.given(), args.file.path.as_deref())?;
    let options = args.read.options();
    let mut decoded = Vec::new();
    let mut collect = |event: Event, time_basis: TimeBasis| {
        let payload = event.data.as_deref().map(decode_payload);
        decoded.push(Decoded {
            event,
            time_basis,
            payload,
        });
    };
    let report = match args.input.as_deref() {
        None => read_stdin(options, &mut collect)?,
        Some(path) if path == Path::new("-") => read_stdin(options, &mut collect)?,
        Some(path) => input::read_events_with_basis(path, options, &mut collect),
    };
    print_problems(&report);
    if decoded.is_empty() {
        crate::error!("{}: no event could be decoded", report.path.display());
        return Ok(ExitCode::Usage);
    }
    let inputs: Vec<PathBuf> = args.input.iter().cloned().collect();
    let mut destination = Destination::open(args.file.path.as_deref(), &inputs)?;
    let written = {
        let mut out = BufWriter::new(destination.writer());
        decode::write(&mut out, format, &decoded).and_then(|()| out.flush())
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("writing output")?,
    }
    destination.finish()?;
    crate::note!(
        "evtdoctor: decoded {} event(s){}",
        decoded.len(),
        if report.problems.is_empty() {
            String::new()
        } else {
            format!("; {} problem(s) listed above", report.problems.len())
        }
    );
    Ok(ExitCode::Clean)
}

fn read_stdin(options: ReadOptions, sink: impl FnMut(Event, TimeBasis)) -> Result<InputReport> {
    let bytes = input::read_capped(io::stdin().lock()).context("reading standard input")?;
    Ok(input::read_bytes(
        &PathBuf::from("<stdin>"),
        &bytes,
        options,
        sink,
    ))
}
