//! .evtx reader: the `evtx` crate walks chunks and renders BinXML; this module turns each
//! record into the common [`Event`].
//!
//! The crate renders a record to XML bytes in its worker threads; the XML is converted to an
//! [`Event`] there too (see [`crate::event_xml`]), so the caller only receives finished events.

use crate::event::Event;
use crate::event_xml::parse_events;
use crate::{Item, Problem};
use chrono::{DateTime, Utc};
use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};
use std::io::Cursor;

/// Size of the file header block and of each chunk, for turning chunk numbers into offsets.
const FILE_HEADER_BLOCK: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;

/// How to read an .evtx file.
#[derive(Debug, Clone, Copy)]
pub struct EvtxOptions {
    /// Worker threads for chunk rendering; 0 lets the pool decide.
    pub threads: usize,
    /// Also carve records from unallocated chunk space (marked `recovered`).
    pub recover: bool,
}

impl Default for EvtxOptions {
    fn default() -> Self {
        EvtxOptions {
            threads: 0,
            recover: true,
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
    for result in parser.serialized_records(convert_record) {
        sink(result.unwrap_or_else(|e| Err(problem_from(&e))));
    }
    Ok(())
}

/// Runs in the crate's worker threads: render one record and convert it.
fn convert_record(record: evtx::err::Result<evtx::EvtxRecord<'_>>) -> evtx::err::Result<Item> {
    let record = record?;
    let written = timestamp_to_utc(record.timestamp);
    let record_id = record.event_record_id;
    let serialized = record.into_xml_bytes()?;
    let (mut events, problem) = parse_events(&serialized.data);
    Ok(match (events.pop(), problem) {
        (Some(mut event), None) => {
            event.time_written = written;
            event.record_number = Some(record_id);
            event.origin.recovered = serialized.recovered;
            Ok(event)
        }
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
            FILE_HEADER_BLOCK + chunk_id * CHUNK_SIZE,
            format!("chunk {chunk_id}: {message}"),
        ),
        EvtxError::FailedToReadRecordAt {
            chunk: Some(chunk),
            offset,
            ..
        } => Problem::at_offset(FILE_HEADER_BLOCK + chunk * CHUNK_SIZE + offset, message),
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
