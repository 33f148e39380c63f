//! .evtx reader: the `evtx` crate finds and checks chunks and renders BinXML; this module turns
//! each record into the common [`Event`].
//!
//! Chunks are converted on worker threads, a few in flight per thread, while the calling
//! thread reads the next ones and hands on the finished ones in order. Classic-shaped records are built straight from their template
//! substitution values ([`template`]); any other record is rendered to XML and read by
//! [`crate::event_xml`]. An undamaged chunk's records are found by [`walk`]; the crate walks
//! every other chunk (resyncing past damage, carving stale records). A cut last chunk and a
//! chunk whose header is destroyed are rebuilt by [`salvage`] for the crate to read.

pub mod binxml;
mod carve;
mod salvage;
mod template;
mod walk;

use crate::event::Event;
use crate::event_xml::parse_events;
use crate::{Item, Problem};
use chrono::{DateTime, Utc};
use evtx::err::EvtxError;
use evtx::{EvtxChunk, EvtxChunkData, EvtxParser, ParserSettings};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use template::{PlanCache, ValueLists};

/// Size of the file header block (chunks start after it); shared with the project's writer.
pub const FILE_HEADER_BLOCK: usize = 4096;
/// Size of every chunk; records never cross one.
pub const CHUNK_SIZE: usize = 65536;

/// Chunks in flight per worker thread: enough that no worker waits for the next chunk, few
/// enough that what is held stays small (a few MiB).
const CHUNKS_IN_FLIGHT_PER_THREAD: usize = 4;

/// How to read an .evtx file.
#[derive(Debug, Clone, Copy)]
pub struct EvtxOptions {
    /// Worker threads for chunk conversion; 0 lets the pool decide. 1 reads on the calling
    /// thread.
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
    read_evtx_chunks(
        bytes,
        options,
        |items| items,
        |items| items.into_iter().for_each(&mut sink),
    )
}

/// [`read_evtx`], with `per_chunk` turning each chunk's items into the caller's value on the
/// worker threads (filtering and rendering scale with the threads that way); `sink` gets the
/// values on the calling thread, in chunk order.
pub fn read_evtx_chunks<T: Send>(
    bytes: &[u8],
    options: EvtxOptions,
    per_chunk: impl Fn(Vec<Item>) -> T + Sync,
    mut sink: impl FnMut(T),
) -> Result<(), Problem> {
    let settings = ParserSettings::new()
        .indent(false)
        .recover_records(options.recover);
    let mut parser = EvtxParser::from_read_seek(Cursor::new(bytes))
        .map_err(|e| {
            Problem::at_offset(0, format!("not a readable .evtx file: {}", error_chain(&e)))
        })?
        .with_configuration(settings.clone());
    let settings = Arc::new(settings);
    let live = carve::LiveRecords::index(bytes);
    // Each conversion takes a plan cache no other one uses; its plans serve later chunks.
    let caches = Mutex::new(Vec::<PlanCache>::new());
    let convert = |chunk| {
        let mut plans = caches
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default();
        let items = chunk_items(chunk, bytes, &settings, options, &mut plans, &live);
        if let Ok(mut spare) = caches.lock() {
            spare.push(plans);
        }
        per_chunk(items)
    };
    let counted_chunks = parser.header().chunk_count;
    let mut chunks = chunk_jobs(parser.chunks(), bytes, counted_chunks);
    let threads = match options.threads {
        0 => rayon::current_num_threads(),
        n => n,
    };
    if threads <= 1 {
        chunks.for_each(|chunk| sink(convert(chunk)));
        return Ok(());
    }
    let (done, results) = mpsc::channel();
    let mut waiting = BTreeMap::new();
    let (mut started, mut delivered) = (0usize, 0usize);
    rayon::in_place_scope(|scope| loop {
        // Keep the workers busy: chunks are read on this thread and converted on the pool, a
        // bounded number at a time; results are handed on in chunk order.
        while started - delivered < threads * CHUNKS_IN_FLIGHT_PER_THREAD {
            let Some(chunk) = chunks.next() else {
                break;
            };
            let (done, convert, number) = (done.clone(), &convert, started);
            scope.spawn(move |_| {
                // A panic is re-raised on this thread rather than leaving it waiting.
                let converted = panic::catch_unwind(AssertUnwindSafe(|| convert(chunk)));
                let _ = done.send((number, converted));
            });
            started += 1;
        }
        if delivered == started {
            break;
        }
        match waiting.remove(&delivered) {
            Some(Ok(value)) => {
                sink(value);
                delivered += 1;
            }
            Some(Err(panicked)) => panic::resume_unwind(panicked),
            None => match results.recv() {
                Ok((number, converted)) => {
                    waiting.insert(number, converted);
                }
                Err(_) => break,
            },
        }
    });
    Ok(())
}

/// One chunk to convert: as the crate read it, or the cut one at the end of the file.
enum ChunkJob {
    Read(evtx::err::Result<EvtxChunkData>),
    Cut(Result<salvage::Salvaged, Option<Problem>>),
}

/// The crate's chunks in record order, with the cut chunk at the end of the file (which the
/// crate does not read) where the file's end falls in that order: before the walk wraps
/// around to the first chunk, or last.
fn chunk_jobs<'a>(
    chunks: impl Iterator<Item = evtx::err::Result<EvtxChunkData>> + 'a,
    bytes: &'a [u8],
    counted_chunks: u16,
) -> impl Iterator<Item = ChunkJob> + 'a {
    let whole_chunks = bytes.len().saturating_sub(FILE_HEADER_BLOCK) / CHUNK_SIZE;
    let counted_end = salvage::chunk_offset(u64::from(counted_chunks));
    let mut end_of_file = Some((whole_chunks as u64, counted_end));
    let mut chunks = chunks.peekable();
    let mut previous = None;
    std::iter::from_fn(move || {
        if let Some(next) = chunks.peek() {
            let number = chunk_number(next);
            let wrapped = matches!((number, previous), (Some(n), Some(p)) if n < p);
            if !wrapped {
                previous = number.or(previous);
                return chunks.next().map(ChunkJob::Read);
            }
        }
        if let Some((number, counted_end)) = end_of_file.take() {
            return Some(ChunkJob::Cut(salvage::cut_chunk(
                bytes,
                number,
                counted_end,
            )));
        }
        chunks.next().map(ChunkJob::Read)
    })
}

/// The number of the chunk the crate read or failed to read.
fn chunk_number(chunk: &evtx::err::Result<EvtxChunkData>) -> Option<u64> {
    match chunk {
        Ok(data) => data.number,
        Err(e) => failed_chunk(e),
    }
}

fn failed_chunk(error: &EvtxError) -> Option<u64> {
    match error {
        EvtxError::FailedToParseChunk { chunk_id, .. } => Some(*chunk_id),
        _ => None,
    }
}

/// The items of one chunk: its records, then the problem that says what of it was lost.
fn chunk_items(
    job: ChunkJob,
    bytes: &[u8],
    settings: &Arc<ParserSettings>,
    options: EvtxOptions,
    plans: &mut PlanCache,
    live: &carve::LiveRecords<'_>,
) -> Vec<Item> {
    let (mut data, loss) = match job {
        ChunkJob::Read(Ok(data)) => {
            let loss = checksum_problem(&data);
            (data, loss.map(Loss::Known))
        }
        ChunkJob::Read(Err(e)) => {
            let rebuilt = failed_chunk(&e).and_then(|number| salvage::rebuilt_chunk(bytes, number));
            match rebuilt {
                Some(data) => (data, Some(Loss::HeaderRebuilt(problem_from(&e)))),
                None => return vec![Err(problem_from(&e))],
            }
        }
        ChunkJob::Cut(Ok(salvaged)) => (salvaged.data, salvaged.loss.map(Loss::Known)),
        ChunkJob::Cut(Err(loss)) => return loss.into_iter().map(Err).collect(),
    };
    let mut items = records_of(&mut data, settings, options, plans, live);
    match loss {
        Some(Loss::Known(problem)) => items.push(Err(problem)),
        Some(Loss::HeaderRebuilt(mut problem)) => {
            let read = items.iter().filter(|item| item.is_ok()).count();
            problem.message.push_str(&format!(
                "; read {read} record(s) by following their sizes from the chunk start"
            ));
            items.push(Err(problem));
        }
        None => {}
    }
    items
}

/// What a chunk's problem line says besides its records.
enum Loss {
    Known(Problem),
    /// The header could not be read: this is why; the records read are counted.
    HeaderRebuilt(Problem),
}

/// A chunk whose stored CRC32s do not match: its records are read as they are, with a warning.
fn checksum_problem(data: &EvtxChunkData) -> Option<Problem> {
    let damaged = match (
        data.validate_header_checksum(),
        data.validate_data_checksum(),
    ) {
        (true, true) => return None,
        (false, true) => "header",
        (true, false) => "records",
        (false, false) => "header and records",
    };
    let number = data.number.unwrap_or_default();
    Some(Problem::at_offset(
        salvage::chunk_offset(number),
        format!("chunk {number}: the CRC32 of its {damaged} does not match the stored one; its records were read as they are and may be altered"),
    ))
}

/// The items of a chunk's records, with the carved ones [`carve`] keeps.
fn records_of(
    data: &mut EvtxChunkData,
    settings: &Arc<ParserSettings>,
    options: EvtxOptions,
    plans: &mut PlanCache,
    live: &carve::LiveRecords<'_>,
) -> Vec<Item> {
    let chunk_id = data.number.unwrap_or_default();
    let mut chunk = match data.parse(Arc::clone(settings)) {
        Ok(chunk) => chunk,
        Err(e) => {
            let error = EvtxError::FailedToParseChunk {
                chunk_id,
                source: Box::new(e),
            };
            return vec![Err(problem_from(&error))];
        }
    };
    plans.start_chunk();
    if options.via_templates {
        if let Some(items) = clean_chunk_items(&chunk, options.recover, plans) {
            return items;
        }
    }
    let ids = chunk.header.first_event_record_id..=chunk.header.last_event_record_id;
    let mut plans = options.via_templates.then_some(plans);
    let slots = chunk
        .iter()
        .filter_map(|record| match record {
            Ok(record) if record.recovered => {
                let (data, start) = (record.chunk.data, record.binxml_offset as usize);
                // Carved hits that do not convert are noise, not damage.
                let event = convert_record(Ok(record), plans.as_deref_mut())
                    .ok()?
                    .ok()?;
                carve::Carved::new(data, start, event).map(carve::Slot::Carved)
            }
            record => Some(carve::Slot::Read(
                convert_record(record, plans.as_deref_mut())
                    .unwrap_or_else(|e| Err(problem_from(&e))),
            )),
        })
        .collect();
    carve::settle(slots, ids, live)
}

/// The events of an undamaged chunk whose records all take the template path; `None` sends the
/// chunk through the crate.
fn clean_chunk_items(
    chunk: &EvtxChunk<'_>,
    recover: bool,
    plans: &mut PlanCache,
) -> Option<Vec<Item>> {
    let records = walk::clean_records(chunk, recover)?;
    // Sized up front: growing a list of events copies them all.
    let mut items = Vec::with_capacity(records.len());
    let mut lists = ValueLists::default();
    for record in records {
        let (start, len) = (record.binxml_start, record.binxml_len);
        let mut event = template::record_event(chunk.data, start, len, plans, &mut lists)?;
        event.time_written = timestamp_to_utc(record.timestamp);
        set_record_numbers(&mut event, record.record_id);
        items.push(Ok(event));
    }
    Some(items)
}

/// Converts one record the crate read.
fn convert_record(
    record: evtx::err::Result<evtx::EvtxRecord<'_>>,
    plans: Option<&mut PlanCache>,
) -> evtx::err::Result<Item> {
    let record = record?;
    let fast = plans.and_then(|plans| {
        let (start, len) = (record.binxml_offset as usize, record.binxml_size as usize);
        template::record_event(
            record.chunk.data,
            start,
            len,
            plans,
            &mut ValueLists::default(),
        )
    });
    let mut event = match fast {
        Some(event) => event,
        None => match xml_event(record.clone())? {
            Ok(event) => event,
            Err(problem) => return Ok(Err(problem)),
        },
    };
    event.time_written = timestamp_to_utc(record.timestamp);
    set_record_numbers(&mut event, record.event_record_id);
    Ok(Ok(event))
}

/// The record header's number is the record number; the one in System/EventRecordID (read
/// into `event_record_id` by the template path, `record_number` by the XML path) is kept
/// beside it when it differs.
fn set_record_numbers(event: &mut Event, header_number: u64) {
    let in_xml = event.event_record_id.take().or(event.record_number);
    event.record_number = Some(header_number);
    event.event_record_id = in_xml.filter(|&id| id != header_number);
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

/// The record time as UTC; a zero FILETIME means "not set".
fn timestamp_to_utc(ts: evtx::Timestamp) -> Option<DateTime<Utc>> {
    if ts.as_second() == crate::filetime::EPOCH_SECONDS && ts.subsec_nanosecond() == 0 {
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
