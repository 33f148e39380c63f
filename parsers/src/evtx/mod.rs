//! .evtx reader: the `evtx` crate walks chunks and renders BinXML; this module turns each
//! record into the common [`Event`].
//!
//! Records are converted in the crate's worker threads, so the caller only receives finished
//! events. Classic-shaped records are built straight from their template substitution values
//! ([`template`]); any other record is rendered to XML and read by [`crate::event_xml`].

mod template;

use crate::event::Event;
use crate::event_xml::parse_events;
use crate::{Item, Problem};
use chrono::{DateTime, Utc};
use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};
use std::io::Cursor;
use template::PlanCache;

/// Size of the file header block (chunks start after it); shared with the project's writer.
pub const FILE_HEADER_BLOCK: usize = 4096;
/// Size of every chunk; records never cross one.
pub const CHUNK_SIZE: usize = 65536;

/// How to read an .evtx file.
#[derive(Debug, Clone, Copy)]
pub struct EvtxOptions {
    /// Worker threads for chunk rendering; 0 lets the pool decide.
    pub threads: usize,
    /// Also carve records from unallocated chunk space (marked `recovered`).
    pub recover: bool,
    /// Build classic-shaped records from their template values (fast). `false` renders every
    /// record to XML: the reference path the fast one is tested against.
    pub via_templates: bool,
}

impl Default for EvtxOptions {
    fn default() -> Self {
        EvtxOptions {
            threads: 0,
            recover: true,
            via_templates: true,
        }
    }
}

/// Reads every record of an .evtx file held in memory and hands each, in record order, to
/// `sink`. Streams: memory stays bounded by the chunks in flight, whatever the file size.
///
/// Fails only when `bytes` has no .evtx file header; damaged chunks and records become
/// [`Problem`] items between the records that could be read.
pub fn read_evtx(
    bytes: &[u8],
    options: EvtxOptions,
    mut sink: impl FnMut(Item),
) -> Result<(), Problem> {
    let settings = ParserSettings::new()
        .num_threads(options.threads)
        .indent(false)
        .recover_records(options.recover);
    let mut parser = EvtxParser::from_read_seek(Cursor::new(bytes))
        .map_err(|e| {
            Problem::at_offset(0, format!("not a readable .evtx file: {}", error_chain(&e)))
        })?
        .with_configuration(settings);
    // The closure is cloned for each chunk, so each chunk gets its own (empty) plan cache: template
    // offsets are chunk-relative.
    let via_templates = options.via_templates;
    let mut plans = PlanCache::default();
    let convert = move |record: evtx::err::Result<evtx::EvtxRecord<'_>>| {
        convert_record(record, via_templates.then_some(&mut plans))
    };
    for result in parser.serialized_records(convert) {
        sink(result.unwrap_or_else(|e| Err(problem_from(&e))));
    }
    Ok(())
}

/// Runs in the crate's worker threads: convert one record.
fn convert_record(
    record: evtx::err::Result<evtx::EvtxRecord<'_>>,
    plans: Option<&mut PlanCache>,
) -> evtx::err::Result<Item> {
    let record = record?;
    let fast = plans.and_then(|plans| {
        let (start, len) = (record.binxml_offset as usize, record.binxml_size as usize);
        template::record_event(record.chunk.data, start, len, plans)
    });
    let mut event = match fast {
        Some(event) => event,
        None => match xml_event(record.clone())? {
            Ok(event) => event,
            Err(problem) => return Ok(Err(problem)),
        },
    };
    event.time_written = timestamp_to_utc(record.timestamp);
    event.record_number = Some(record.event_record_id);
    event.origin.recovered = record.recovered;
    Ok(Ok(event))
}

/// The slow, general path: render the record to XML and read that.
fn xml_event(record: evtx::EvtxRecord<'_>) -> evtx::err::Result<Item> {
    let record_id = record.event_record_id;
    let serialized = record.into_xml_bytes()?;
    let (mut events, problem) = parse_events(&serialized.data);
    Ok(match (events.pop(), problem) {
        (Some(event), None) => Ok(event),
        (_, problem) => Err(Problem {
            offset: None,
            line: None,
            message: format!(
                "record {record_id}: rendered XML unusable: {}",
                problem
                    .map(|p| p.message)
                    .unwrap_or_else(|| "no <Event>".into())
            ),
        }),
    })
}

/// FILETIME (100 ns ticks since 1601) to UTC; zero means "not set".
pub(crate) fn filetime_to_utc(ticks: u64) -> Option<DateTime<Utc>> {
    if ticks == 0 {
        return None;
    }
    let seconds = i64::try_from(ticks / 10_000_000).ok()? + FILETIME_EPOCH_SECONDS;
    DateTime::from_timestamp(seconds, (ticks % 10_000_000) as u32 * 100)
}

/// Seconds from 1970 back to 1601-01-01, the FILETIME epoch: a zero FILETIME means "not set".
const FILETIME_EPOCH_SECONDS: i64 = -11_644_473_600;

fn timestamp_to_utc(ts: evtx::Timestamp) -> Option<DateTime<Utc>> {
    if ts.as_second() == FILETIME_EPOCH_SECONDS && ts.subsec_nanosecond() == 0 {
        return None;
    }
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().max(0) as u32)
}

/// Names the chunk (as a file offset) or record an error belongs to.
fn problem_from(error: &EvtxError) -> Problem {
    let message = error_chain(error);
    match error {
        EvtxError::FailedToParseChunk { chunk_id, .. } => Problem::at_offset(
            FILE_HEADER_BLOCK as u64 + chunk_id * CHUNK_SIZE as u64,
            format!("chunk {chunk_id}: {message}"),
        ),
        EvtxError::FailedToReadRecordAt {
            chunk: Some(chunk),
            offset,
            ..
        } => Problem::at_offset(
            FILE_HEADER_BLOCK as u64 + chunk * CHUNK_SIZE as u64 + offset,
            message,
        ),
        _ => Problem {
            offset: None,
            line: None,
            message,
        },
    }
}

/// The error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads a whole .evtx file into events and problems (for tests and small files).
pub fn read_evtx_all(
    bytes: &[u8],
    options: EvtxOptions,
) -> Result<(Vec<Event>, Vec<Problem>), Problem> {
    let mut events = Vec::new();
    let mut problems = Vec::new();
    read_evtx(bytes, options, |item| match item {
        Ok(e) => events.push(e),
        Err(p) => problems.push(p),
    })?;
    Ok((events, problems))
}
