//! `evtdoctor events`: list the records of event logs, filtered.

use crate::cli::{EventsArgs, FilterArgs, Format, LevelArg};
use crate::input::{self, InputReport, ReadOptions};
use crate::output::destination::{self, Destination};
use crate::output::events::{Rendered, Sink};
use crate::output::print_problems;
use crate::parallel;
use crate::progress::Progress;
use crate::verbosity;
use crate::ExitCode;
use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use evtdoctor_parsers::{Event, Level};
use std::cell::RefCell;
use std::io::{self, BufWriter};
use std::path::Path;

pub fn run(args: &EventsArgs) -> Result<ExitCode> {
    let filter = EventFilter::from_args(&args.filter)?;
    let format = destination::resolve_format(args.output.given(), args.output_file.as_deref())?;
    let options = ReadOptions {
        threads: args.read.threads,
        no_recover: args.read.no_recover,
        tz: args.read.tz,
        hash: false,
    };
    parallel::init_threads(args.read.threads);
    let (files, path_errors) = input::discover(&args.paths)?;
    for error in &path_errors {
        eprintln!("evtdoctor: {}: {}", error.path.display(), error.message);
    }

    if files.is_empty() {
        // Nothing to list: stdout stays empty rather than saying no record matched.
        eprintln!("evtdoctor: no readable input");
        return Ok(ExitCode::Usage);
    }

    let mut destination = Destination::open(args.output_file.as_deref(), &files)?;
    // An input read alone writes from inside its read (streaming); every input writes what is
    // left when delivered.
    let sink = RefCell::new(Sink::new(format, BufWriter::new(destination.writer()))?);
    let progress = Progress::for_files(&files);
    let mut reports = Vec::new();
    let read_together =
        |path: &Path, options| read_rendered(path, options, &filter, format, |_| Ok(()));
    let read_alone = |path: &Path, options| {
        read_rendered(path, options, &filter, format, |rendered| {
            sink.borrow_mut().write(std::mem::take(rendered))
        })
    };
    let written = parallel::read_in_order(&files, options, read_together, read_alone, |output| {
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
    match written.and_then(|()| sink.into_inner().finish()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::Clean),
        other => other.context("writing output")?,
    }
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

/// The record filters of `events`, parsed once.
pub struct EventFilter {
    ids: Vec<u16>,
    sources: Vec<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    levels: Vec<Level>,
}

impl EventFilter {
    pub fn from_args(args: &FilterArgs) -> Result<EventFilter> {
        Ok(EventFilter {
            ids: args.ids.clone(),
            sources: args.source.iter().map(|s| s.to_lowercase()).collect(),
            since: args.since.as_deref().map(parse_time).transpose()?,
            until: args.until.as_deref().map(parse_time).transpose()?,
            levels: args.level.iter().map(|l| level_of(*l)).collect(),
        })
    }

    pub fn matches(&self, event: &Event) -> bool {
        if !self.ids.is_empty() && !self.ids.contains(&event.event_id) {
            return false;
        }
        let named = |name: &str| self.sources.contains(&name.to_lowercase());
        if !self.sources.is_empty()
            && !named(&event.source)
            && !event.provider.as_deref().is_some_and(named)
        {
            return false;
        }
        if !self.levels.is_empty() && !self.levels.contains(&event.level) {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(time) = event.time() else {
                return false;
            };
            if self.since.is_some_and(|since| time < since) {
                return false;
            }
            if self.until.is_some_and(|until| time >= until) {
                return false;
            }
        }
        true
    }
}

fn level_of(level: LevelArg) -> Level {
    match level {
        LevelArg::Critical => Level::Critical,
        LevelArg::Error => Level::Error,
        LevelArg::Warning => Level::Warning,
        LevelArg::Information => Level::Information,
        LevelArg::Verbose => Level::Verbose,
        LevelArg::AuditSuccess => Level::AuditSuccess,
        LevelArg::AuditFailure => Level::AuditFailure,
    }
}

/// RFC 3339, `YYYY-MM-DD HH:MM[:SS]` (UTC) or `YYYY-MM-DD` (its midnight, UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for pattern in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    bail!("cannot read time {text:?}: use RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_time_forms() {
        let want = "2003-07-01T10:00:00+00:00";
        for text in [
            "2003-07-01T10:00:00Z",
            "2003-07-01T12:00:00+02:00",
            "2003-07-01 10:00:00",
            "2003-07-01 10:00",
        ] {
            assert_eq!(parse_time(text).unwrap().to_rfc3339(), want, "{text}");
        }
        assert_eq!(
            parse_time("2003-07-01").unwrap().to_rfc3339(),
            "2003-07-01T00:00:00+00:00"
        );
        assert!(parse_time("July 1st").is_err());
    }

    #[test]
    fn filter_combines_all_conditions() {
        let args = FilterArgs {
            ids: vec![5085],
            source: vec!["msexchangekms".into()],
            since: Some("2003-07-01".into()),
            until: None,
            level: vec![LevelArg::Error],
        };
        let filter = EventFilter::from_args(&args).unwrap();
        let mut event = Event::new("MSExchangeKMS", 5085, Level::Error);
        event.time_generated = Some(parse_time("2003-07-02").unwrap());
        assert!(filter.matches(&event));
        event.time_generated = Some(parse_time("2003-06-30").unwrap());
        assert!(!filter.matches(&event));
        event.time_generated = None;
        assert!(!filter.matches(&event));
        let other = Event::new("MSExchangeKMS", 5057, Level::Error);
        assert!(!filter.matches(&other));
    }
}
