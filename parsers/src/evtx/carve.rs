//! Which records carved from a chunk's free space are kept: those that could be real records of
//! this log, and are not copies of records it still holds.
//!
//! The crate carves every record signature whose size copy checks out. Among those hits are
//! stale copies of live records (a chunk rewritten in place leaves its old tail behind),
//! records of an earlier pass whose template has since been overwritten (the crate then reads
//! them through whatever definition now sits at that offset), and bytes that only look like a
//! record (absurd numbers and times). A carved record is kept when:
//! - the template it names is the one at the offset it points to (a template instance names
//!   its definition by the first four bytes of the definition's GUID);
//! - no live record of the file has its number and time, and no record carved before it in
//!   the chunk does;
//! - its time is within [`SANE_YEARS`], and its number and time are near the chunk's live
//!   records or near those of a carved neighbour that passes the same checks.

use super::walk::{CHUNK_HEADER_SIZE, RECORD_HEADER_SIZE, RECORD_SIGNATURE};
use super::{CHUNK_SIZE, FILE_HEADER_BLOCK};
use crate::event::Event;
use crate::evtx::binxml::token;
use crate::le::{le_u32, le_u64};
use crate::Item;
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use std::collections::HashSet;
use std::ops::RangeInclusive;

/// The years a carved record may be written in: .evtx logs exist since 2006; earlier or far
/// later times are bytes that only look like a record (or a clock far off).
const SANE_YEARS: RangeInclusive<i32> = 2000..=2099;

/// The most records one chunk holds (a record takes at least its header and size copy).
const MAX_RECORDS_PER_CHUNK: u64 = (CHUNK_SIZE / (RECORD_HEADER_SIZE + 4)) as u64;

/// How far a carved record's time may be from the times it is compared with: a log that
/// rarely fills keeps stale records for months.
const NEAR_IN_TIME: TimeDelta = TimeDelta::days(366);

/// One record the chunk walk gave: read from the live area, or carved.
pub enum Slot {
    Read(Item),
    Carved(Carved),
}

/// A carved record whose template resolves, before the chunk-wide checks.
pub struct Carved {
    event: Event,
    number: u64,
    filetime: u64,
}

impl Carved {
    /// The record whose BinXML starts at `binxml_start` of `chunk`, if the template it names
    /// is the one stored where it points (`event` is how it converted).
    pub fn new(chunk: &[u8], binxml_start: usize, event: Event) -> Option<Carved> {
        let header = binxml_start.checked_sub(RECORD_HEADER_SIZE)?;
        if !template_resolves(chunk, binxml_start) {
            return None;
        }
        Some(Carved {
            event,
            number: le_u64(chunk, header + 8)?,
            filetime: le_u64(chunk, header + 16)?,
        })
    }
}

/// Whether the template instance at `binxml_start` (if the record starts with one) names the
/// definition stored at the offset it gives.
fn template_resolves(chunk: &[u8], binxml_start: usize) -> bool {
    let mut at = binxml_start;
    if chunk.get(at) == Some(&token::FRAGMENT_HEADER) {
        at += 4;
    }
    if chunk.get(at) != Some(&token::TEMPLATE_INSTANCE) {
        return true;
    }
    let named = le_u32(chunk, at + 2);
    let definition = le_u32(chunk, at + 6).map(|offset| offset as usize);
    // The definition: next definition offset (4), then the GUID.
    let stored = definition.and_then(|offset| le_u32(chunk, offset.checked_add(4)?));
    named.is_some() && named == stored
}

/// Where the live records of a file sit, to tell a carved copy of one.
pub struct LiveRecords<'a> {
    bytes: &'a [u8],
    /// Each readable chunk header's record ID range, and its live area in `bytes`.
    chunks: Vec<(RangeInclusive<u64>, std::ops::Range<usize>)>,
}

impl<'a> LiveRecords<'a> {
    /// Reads the chunk headers of `bytes` (an .evtx file).
    pub fn index(bytes: &'a [u8]) -> LiveRecords<'a> {
        let chunks = bytes
            .get(FILE_HEADER_BLOCK..)
            .unwrap_or_default()
            .chunks(CHUNK_SIZE)
            .enumerate()
            .filter(|(_, chunk)| chunk.starts_with(b"ElfChnk\0"))
            .filter_map(|(number, chunk)| {
                let ids = le_u64(chunk, 24)?..=le_u64(chunk, 32)?;
                let free = (le_u32(chunk, 48)? as usize).min(chunk.len());
                let start = FILE_HEADER_BLOCK + number * CHUNK_SIZE;
                Some((ids, start + CHUNK_HEADER_SIZE.min(free)..start + free))
            })
            .collect();
        LiveRecords { bytes, chunks }
    }

    /// Whether a live record has this number and time.
    fn holds(&self, number: u64, filetime: u64) -> bool {
        self.chunks
            .iter()
            .filter(|(ids, _)| ids.contains(&number))
            .any(|(_, live)| {
                let area = &self.bytes[live.clone()];
                memchr::memmem::find_iter(area, RECORD_SIGNATURE).any(|at| {
                    le_u64(area, at + 8) == Some(number) && le_u64(area, at + 16) == Some(filetime)
                })
            })
    }

    /// How far a record number may be from its chunk's range: records of the log's earlier
    /// pass over the file are up to a file's worth of records older.
    fn near_in_number(&self) -> u64 {
        (self.chunks.len() as u64 + 1) * MAX_RECORDS_PER_CHUNK
    }
}

/// The chunk's items in walk order, keeping the carved records that pass the checks (marked
/// `recovered`); `ids` is the chunk header's record ID range.
pub fn settle(slots: Vec<Slot>, ids: RangeInclusive<u64>, live: &LiveRecords<'_>) -> Vec<Item> {
    let times = live_time_span(&slots);
    let mut seen = HashSet::new();
    let mut slots: Vec<Slot> = slots
        .into_iter()
        .filter(|slot| match slot {
            Slot::Read(_) => true,
            Slot::Carved(c) => {
                c.event
                    .time_written
                    .is_some_and(|t| SANE_YEARS.contains(&t.year()))
                    && !live.holds(c.number, c.filetime)
                    && seen.insert((c.number, c.filetime))
            }
        })
        .collect();
    let carved: Vec<(u64, DateTime<Utc>)> = slots
        .iter()
        .filter_map(|slot| match slot {
            Slot::Carved(c) => Some((c.number, c.event.time_written?)),
            Slot::Read(_) => None,
        })
        .collect();
    let near_in_number = live.near_in_number();
    let mut index = 0;
    slots.retain(|slot| {
        let Slot::Carved(_) = slot else {
            return true;
        };
        let (number, time) = carved[index];
        let neighbours = [index.checked_sub(1), Some(index + 1)]
            .into_iter()
            .flatten()
            .filter_map(|i| carved.get(i));
        index += 1;
        let by_chunk = distance(number, &ids) <= near_in_number
            && times.as_ref().is_some_and(|span| near_span(time, span));
        by_chunk
            || neighbours.into_iter().any(|&(n, t)| {
                n.abs_diff(number) <= MAX_RECORDS_PER_CHUNK && (t - time).abs() <= NEAR_IN_TIME
            })
    });
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Read(item) => item,
            Slot::Carved(mut c) => {
                c.event.origin.recovered = true;
                Ok(c.event)
            }
        })
        .collect()
}

/// The earliest and latest time of the chunk's live records.
fn live_time_span(slots: &[Slot]) -> Option<RangeInclusive<DateTime<Utc>>> {
    let mut times = slots.iter().filter_map(|slot| match slot {
        Slot::Read(Ok(event)) => event.time_written,
        _ => None,
    });
    let first = times.next()?;
    let (min, max) = times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
    Some(min..=max)
}

fn near_span(time: DateTime<Utc>, span: &RangeInclusive<DateTime<Utc>>) -> bool {
    *span.start() - NEAR_IN_TIME <= time && time <= *span.end() + NEAR_IN_TIME
}

/// How far `number` is from `ids` (0 inside).
fn distance(number: u64, ids: &RangeInclusive<u64>) -> u64 {
    if number < *ids.start() {
        ids.start() - number
    } else {
        number.saturating_sub(*ids.end())
    }
}
