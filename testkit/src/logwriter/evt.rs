//! The project's own legacy .evt writer: lays events out the way the Windows EventLog service
//! does, so tests, samples and benchmarks get realistic logs (circular, wrapped, dirty).
//!
//! ```
//! use evtdoctor_testkit::logwriter::evt::EvtWriter;
//! use evtdoctor_parsers::{Event, Level};
//!
//! let mut event = Event::new("MSExchangeKMS", 5085, Level::Error);
//! event.qualifiers = Some(0xc000);
//! event.computer = Some("EXCH01".into());
//! let log = EvtWriter::new(0x10000).write(&[event]).unwrap();
//! assert_eq!(&log.bytes[4..8], b"LfLe");
//! ```

use anyhow::{ensure, Context, Result};
use chrono::{DateTime, Utc};
use evtdoctor_parsers::evt::{
    Cursor, FileHeader, HeaderFlags, CURSOR_SIZE, HEADER_SIZE, RECORD_FIXED_SIZE, SIGNATURE,
};
use evtdoctor_parsers::{sid, Event};
use std::collections::VecDeque;

/// Settings for one .evt file. Records are numbered consecutively from the first record number;
/// the log name is not stored in an .evt file (Windows takes it from the file's registration).
#[derive(Debug, Clone)]
pub struct EvtWriter {
    max_size: u32,
    dirty: bool,
    first_record_number: u32,
}

/// A written file and where its interesting parts ended up.
#[derive(Debug, Clone)]
pub struct EvtFile {
    pub bytes: Vec<u8>,
    /// Record numbers still live (older ones were overwritten; parts may survive in slack).
    pub live: std::ops::RangeInclusive<u32>,
    /// Writing went round the end of the file.
    pub wrapped: bool,
    /// The live record split across the wrap point, if any.
    pub straddling: Option<u32>,
    /// File offset of the end-of-file record.
    pub cursor_offset: u32,
}

impl EvtWriter {
    /// A log of `max_size` bytes (the file size; it must hold the header and a cursor).
    /// When the events do not fit, the oldest are overwritten and the log wraps.
    pub fn new(max_size: u32) -> EvtWriter {
        EvtWriter {
            max_size,
            dirty: false,
            first_record_number: 1,
        }
    }

    /// Leave the log as a copy taken while it was open: header flagged dirty and holding the
    /// state it was last rewritten with. Like the EventLog service (as real dirty logs show),
    /// the header is rewritten only when the log is opened (empty here) and when a write
    /// overwrites the oldest records, so its end offset and next record number lag behind;
    /// only the end-of-file record knows the truth.
    pub fn dirty(mut self, dirty: bool) -> EvtWriter {
        self.dirty = dirty;
        self
    }

    pub fn first_record_number(mut self, number: u32) -> EvtWriter {
        self.first_record_number = number;
        self
    }

    /// Writes `events` oldest first. Fails on an event that cannot be stored (a record larger
    /// than the log, a time outside 1970..2106, a user that is not a SID string).
    pub fn write(&self, events: &[Event]) -> Result<EvtFile> {
        let mut ring = RingWriter::new(self.max_size)?;
        let mut live: VecDeque<(u32, usize, usize)> = VecDeque::new(); // number, offset, size
        let mut used = 0;
        let mut straddling = None;
        let mut number = self.first_record_number;
        // What the header held when the service last rewrote it: at first an empty log's.
        let mut flushed = Cursor {
            begin_offset: HEADER_SIZE,
            end_offset: HEADER_SIZE,
            next_record_number: number,
            oldest_record_number: 0,
        };
        for event in events {
            let record = encode_record(event, number).with_context(|| {
                format!("record {number} ({} {})", event.source, event.event_id)
            })?;
            let needed = record.len() + CURSOR_SIZE as usize;
            ensure!(
                needed <= ring.capacity(),
                "record {number} needs {needed} bytes with the cursor; the log holds {}",
                ring.capacity()
            );
            // Like the EventLog service: overwrite the oldest records until the new one and
            // the end-of-file record fit.
            let mut overwrote = false;
            while ring.capacity() - used < needed {
                let Some((_, _, size)) = live.pop_front() else {
                    break;
                };
                used -= size;
                overwrote = true;
            }
            let offset = ring.pos;
            if ring.put(&record) {
                straddling = Some(number);
            }
            live.push_back((number, offset, record.len()));
            used += record.len();
            number = number.checked_add(1).context("record numbers exhausted")?;
            if overwrote {
                flushed = live_state(&live, ring.pos, number)?;
            }
        }
        straddling = straddling.filter(|n| live.iter().any(|(live_n, _, _)| live_n == n));
        let cursor = live_state(&live, ring.pos, number)?;
        ring.put(&cursor.to_bytes());
        let wrapped = ring.wrapped;
        let wrapped_flag = if wrapped { HeaderFlags::WRAPPED } else { 0 };
        let header = if self.dirty {
            self.header(&flushed, HeaderFlags::DIRTY | wrapped_flag)
        } else {
            self.header(&cursor, wrapped_flag)
        };
        let mut bytes = ring.bytes;
        bytes[..HEADER_SIZE as usize].copy_from_slice(&header.to_bytes());
        Ok(EvtFile {
            bytes,
            live: live.front().map_or(number, |(n, _, _)| *n)..=number.saturating_sub(1),
            wrapped,
            straddling,
            cursor_offset: cursor.end_offset,
        })
    }

    /// A header describing the live range `state`.
    fn header(&self, state: &Cursor, flags: u32) -> FileHeader {
        FileHeader {
            major_version: 1,
            minor_version: 1,
            start_offset: state.begin_offset,
            end_offset: state.end_offset,
            next_record_number: state.next_record_number,
            oldest_record_number: state.oldest_record_number,
            max_size: self.max_size,
            flags: HeaderFlags(flags),
            retention: 0,
        }
    }
}

/// The live range as the end-of-file record (and a flushed header) states it.
fn live_state(live: &VecDeque<(u32, usize, usize)>, end: usize, next: u32) -> Result<Cursor> {
    Ok(Cursor {
        begin_offset: to_u32(live.front().map_or(end, |(_, offset, _)| *offset))?,
        end_offset: to_u32(end)?,
        next_record_number: next,
        oldest_record_number: live.front().map_or(0, |(n, _, _)| *n),
    })
}

/// The file being written: a circular area after the header.
struct RingWriter {
    bytes: Vec<u8>,
    pos: usize,
    wrapped: bool,
}

impl RingWriter {
    fn new(max_size: u32) -> Result<RingWriter> {
        let len = usize::try_from(max_size)?;
        ensure!(
            len >= (HEADER_SIZE + CURSOR_SIZE) as usize && len % 4 == 0,
            "max size {max_size} must be a multiple of 4 holding at least the header and a cursor"
        );
        Ok(RingWriter {
            bytes: vec![0; len],
            pos: HEADER_SIZE as usize,
            wrapped: false,
        })
    }

    fn capacity(&self) -> usize {
        self.bytes.len() - HEADER_SIZE as usize
    }

    /// Writes `data` at the current position, continuing after the header at the end of the
    /// file. True when `data` was split.
    fn put(&mut self, data: &[u8]) -> bool {
        let room = self.bytes.len() - self.pos;
        let (now, later) = data.split_at(data.len().min(room));
        self.bytes[self.pos..self.pos + now.len()].copy_from_slice(now);
        self.pos += now.len();
        if self.pos == self.bytes.len() {
            self.pos = HEADER_SIZE as usize;
            self.wrapped = true;
        }
        if later.is_empty() {
            return false;
        }
        self.bytes[self.pos..self.pos + later.len()].copy_from_slice(later);
        self.pos += later.len();
        true
    }
}

fn to_u32(value: usize) -> Result<u32> {
    u32::try_from(value).context("offset beyond 4 GiB")
}

/// One `EVENTLOGRECORD`: fixed part, source, computer, SID (DWORD-aligned), strings, data,
/// padding, closing size.
fn encode_record(event: &Event, number: u32) -> Result<Vec<u8>> {
    let mut tail = Vec::new();
    push_utf16z(&mut tail, &event.source);
    push_utf16z(&mut tail, event.computer.as_deref().unwrap_or(""));
    pad4(&mut tail);
    let fixed = RECORD_FIXED_SIZE as usize;
    let sid_offset = fixed + tail.len();
    let sid = event
        .user
        .as_deref()
        .map(|text| {
            sid::from_text(text).with_context(|| format!("user {text:?} is not a SID string"))
        })
        .transpose()?
        .unwrap_or_default();
    tail.extend_from_slice(&sid);
    let string_offset = fixed + tail.len();
    for s in &event.strings {
        push_utf16z(&mut tail, s);
    }
    let data_offset = fixed + tail.len();
    let data = event.data.as_deref().unwrap_or_default();
    tail.extend_from_slice(data);
    pad4(&mut tail);
    let size = to_u32(fixed + tail.len() + 4)?;

    let mut out = Vec::with_capacity(fixed + tail.len() + 4);
    let words = [
        size,
        u32::from_le_bytes(*SIGNATURE),
        number,
        unix_seconds(event.time_generated)?,
        unix_seconds(event.time_written)?,
        event.full_event_id(),
    ];
    words
        .iter()
        .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    let num_strings = u16::try_from(event.strings.len()).context("more than 65535 strings")?;
    let halves = [
        event.level.evt_type(),
        num_strings,
        event.category.unwrap_or(0),
        0,
    ];
    halves
        .iter()
        .for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
    let words = [
        0, // closing record number: unused
        to_u32(string_offset)?,
        to_u32(sid.len())?,
        to_u32(sid_offset)?,
        to_u32(data.len())?,
        to_u32(data_offset)?,
    ];
    words
        .iter()
        .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    out.extend_from_slice(&tail);
    out.extend_from_slice(&size.to_le_bytes());
    Ok(out)
}

fn push_utf16z(out: &mut Vec<u8>, text: &str) {
    for unit in text.encode_utf16().chain([0]) {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Seconds since 1970 as the record stores them; no time is 0.
fn unix_seconds(time: Option<DateTime<Utc>>) -> Result<u32> {
    time.map_or(Ok(0), |t| {
        u32::try_from(t.timestamp())
            .with_context(|| format!("time {t} does not fit an .evt record"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_that_are_no_sid_are_refused() {
        for user in ["SYSTEM", "S-1-5-x"] {
            let mut event = Event::new("Src", 1, evtdoctor_parsers::Level::Information);
            event.user = Some(user.into());
            let error = EvtWriter::new(0x10000).write(&[event]).unwrap_err();
            assert!(
                format!("{error:#}").contains("is not a SID string"),
                "{error:#}"
            );
        }
    }

    #[test]
    fn refuses_records_larger_than_the_log() {
        let mut event = Event::new("Big", 1, evtdoctor_parsers::Level::Information);
        event.data = Some(vec![0; 200]);
        let error = EvtWriter::new(0x100).write(&[event]).unwrap_err();
        assert!(error.to_string().contains("the log holds 208"), "{error}");
    }
}
