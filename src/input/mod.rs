//! Finding inputs, reading them and turning them into events: the I/O policy the parser crate
//! leaves to the application.

use chrono::FixedOffset;
use evtdoctor_parsers::evtx::{read_evtx_chunks, EvtxOptions};
use evtdoctor_parsers::text::{read_text, TextOptions, TimeBasis};
use evtdoctor_parsers::{detect_format, Event, InputFormat, Item, Problem};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod bundle;
mod discover;
mod source;

pub use discover::{discover, PathError};
pub use source::{file_head, file_of, read_capped, read_input, size_hint, MAX_FILE, MAX_STREAM};

/// How many bytes detection looks at.
const DETECT_HEAD: usize = 8192;

/// Options for reading inputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    pub threads: usize,
    pub no_recover: bool,
    /// The offset zone-less text times were written in (`--tz`).
    pub tz: Option<FixedOffset>,
    /// Also compute each input's SHA-256 (for reports that must identify their evidence).
    pub hash: bool,
}

/// What reading one input gave: counts and every problem met.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    pub path: PathBuf,
    /// Detected format, `None` when the content is not a known format.
    pub format: Option<InputFormat>,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file, when asked for.
    pub sha256: Option<String>,
    pub records: u64,
    pub recovered: u64,
    /// Damage inside the input; the records around it were still read.
    pub problems: Vec<Problem>,
    /// Why nothing could be read from this input at all.
    pub fatal: Option<String>,
    /// How the input's times became UTC (binary logs store UTC; text exports may not).
    pub time_basis: TimeBasis,
}

impl InputReport {
    fn new(path: &Path) -> InputReport {
        InputReport {
            path: path.to_path_buf(),
            format: None,
            size: 0,
            sha256: None,
            records: 0,
            recovered: 0,
            problems: Vec::new(),
            fatal: None,
            time_basis: TimeBasis::Utc,
        }
    }

    /// True when the input gave at least its header: it counts as a readable input.
    pub fn readable(&self) -> bool {
        self.fatal.is_none()
    }
}

/// Reads one input and hands every event to `sink`, in input order.
/// Never fails: what went wrong is in the returned report.
pub fn read_events(path: &Path, options: ReadOptions, mut sink: impl FnMut(Event)) -> InputReport {
    read_events_with_basis(path, options, |event, _| sink(event))
}

/// [`read_events`], also telling the sink how the event's times became UTC (text exports
/// without a zone are read as UTC unless `--tz` says otherwise).
pub fn read_events_with_basis(
    path: &Path,
    options: ReadOptions,
    mut sink: impl FnMut(Event, TimeBasis),
) -> InputReport {
    read_batches(path, options, each_event, |(events, basis)| {
        events.into_iter().for_each(|event| sink(event, basis))
    })
}

/// Reads one input in batches of events (a chunk's for .evtx, [`BATCH_EVENTS`] for the other
/// formats). `per_batch` turns each batch into the caller's value, on worker threads for a
/// large .evtx (so filtering and rendering scale with them); `sink` gets the values on the
/// calling thread, in input order. Never fails: what went wrong is in the returned report.
pub fn read_batches<R: Send>(
    path: &Path,
    options: ReadOptions,
    per_batch: impl Fn(Vec<Event>, TimeBasis) -> R + Sync,
    sink: impl FnMut(R),
) -> InputReport {
    match read_input(path) {
        Ok(bytes) => read_bytes_batches(path, &bytes, options, per_batch, sink),
        Err(e) => {
            let mut report = InputReport::new(path);
            report.fatal = Some(format!("cannot read: {e}"));
            report
        }
    }
}

/// Reads an input already in memory; `name` labels it in the report.
pub fn read_bytes(
    name: &Path,
    bytes: &[u8],
    options: ReadOptions,
    mut sink: impl FnMut(Event, TimeBasis),
) -> InputReport {
    read_bytes_batches(name, bytes, options, each_event, |(events, basis)| {
        events.into_iter().for_each(|event| sink(event, basis))
    })
}

/// A batch handed on as it is, for the callers that take one event at a time.
fn each_event(events: Vec<Event>, basis: TimeBasis) -> (Vec<Event>, TimeBasis) {
    (events, basis)
}

/// Events per batch for the formats read on one thread.
const BATCH_EVENTS: usize = 4096;

/// One batch's value, with what the report counts.
struct Batch<R> {
    value: R,
    records: u64,
    recovered: u64,
    problems: Vec<Problem>,
}

/// Splits a batch's items into events (turned into the caller's value) and problems.
fn batch<R>(
    items: Vec<Item>,
    basis: TimeBasis,
    per_batch: &impl Fn(Vec<Event>, TimeBasis) -> R,
) -> Batch<R> {
    let mut problems = Vec::new();
    // A list of its own: collecting in place into the items' list would shrink (copy) it.
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(event) => events.push(event),
            Err(problem) => problems.push(problem),
        }
    }
    Batch {
        records: events.len() as u64,
        recovered: events.iter().filter(|e| e.origin.recovered).count() as u64,
        value: per_batch(events, basis),
        problems,
    }
}

/// [`read_bytes`] in batches (see [`read_batches`]).
pub fn read_bytes_batches<R: Send>(
    name: &Path,
    bytes: &[u8],
    options: ReadOptions,
    per_batch: impl Fn(Vec<Event>, TimeBasis) -> R + Sync,
    sink: impl FnMut(R),
) -> InputReport {
    // The hash is computed on a worker thread while the input is read.
    let mut sha256 = None;
    let mut report = rayon::in_place_scope(|scope| {
        if options.hash {
            scope.spawn(|_| sha256 = Some(hex::encode(Sha256::digest(bytes))));
        }
        read_unhashed(name, bytes, options, per_batch, sink)
    });
    report.sha256 = sha256;
    report
}

/// [`read_bytes_batches`] without the hash.
fn read_unhashed<R: Send>(
    name: &Path,
    bytes: &[u8],
    options: ReadOptions,
    per_batch: impl Fn(Vec<Event>, TimeBasis) -> R + Sync,
    mut sink: impl FnMut(R),
) -> InputReport {
    let mut report = InputReport::new(name);
    report.size = bytes.len() as u64;
    report.format = detect_format(&bytes[..bytes.len().min(DETECT_HEAD)]);
    // Text (XML included: it may be UTF-16) is read whole first, so its time basis is known
    // before any event is handed on.
    let text = match report.format {
        Some(InputFormat::Text | InputFormat::Xml) => {
            Some(read_text(bytes, TextOptions { offset: options.tz }))
        }
        _ => None,
    };
    if let Some(Ok(read)) = &text {
        report.time_basis = read.time_basis;
    }
    let basis = report.time_basis;
    let (mut records, mut recovered, mut problems) = (0, 0, Vec::new());
    let mut deliver = |batch: Batch<R>| {
        records += batch.records;
        recovered += batch.recovered;
        problems.extend(batch.problems);
        sink(batch.value);
    };
    // The single-threaded readers' items, gathered into batches.
    let mut pending = Vec::new();
    let mut take = |item: Item| {
        pending.push(item);
        if pending.len() >= BATCH_EVENTS {
            deliver(batch(std::mem::take(&mut pending), basis, &per_batch));
        }
    };
    let outcome = match (report.format, text) {
        (_, Some(Ok(read))) => {
            read.items.into_iter().for_each(&mut take);
            Ok(())
        }
        (_, Some(Err(problem))) => Err(problem),
        (Some(InputFormat::Evtx), _) => read_evtx_chunks(
            bytes,
            EvtxOptions {
                threads: options.threads,
                recover: !options.no_recover,
                ..EvtxOptions::default()
            },
            |items| batch(items, basis, &per_batch),
            &mut deliver,
        ),
        (Some(InputFormat::Evt), _) => {
            evtdoctor_parsers::evt::read_evt(bytes, !options.no_recover, &mut take).map(|_| ())
        }
        (Some(InputFormat::Ese), _) => Err(Problem::at_offset(
            0,
            "an ESE database, not an event log (use `evtdoctor db`)",
        )),
        (_, None) if bytes.is_empty() => Err(Problem::at_offset(0, "empty file")),
        _ => Err(Problem::at_offset(
            0,
            bundle::misnamed(bytes).unwrap_or("not a recognised event log format"),
        )),
    };
    if !pending.is_empty() {
        deliver(batch(pending, basis, &per_batch));
    }
    report.records = records;
    report.recovered = recovered;
    report.problems = problems;
    if let Err(problem) = outcome {
        report.fatal = Some(problem.to_string());
    }
    report
}
