//! Finding the live range (header or cursor) and walking its records oldest first.

use super::carve::find_records;
use super::header::{cursor_at, find_cursor, FileHeader};
use super::record::{decode, locate};
use super::ring::{Ring, Slack};
use super::CURSOR_SIZE;
use crate::{Item, Problem};

/// Where the live records are.
pub(crate) struct LiveRange {
    /// Offset of the oldest live record.
    pub start: usize,
    /// Offset of the end-of-file record; `None` when it was not found.
    pub cursor: Option<usize>,
}

/// The live range, from the header when it was closed cleanly, else from the cursor (the
/// header of a log copied while open is stale).
pub(crate) fn live_range(
    header: &FileHeader,
    ring: &Ring<'_>,
    sink: &mut impl FnMut(Item),
) -> LiveRange {
    let header_end = usize::try_from(header.end_offset).unwrap_or(usize::MAX);
    if !header.flags.dirty() {
        if let Some(cursor) = cursor_at(ring, header_end) {
            return LiveRange {
                start: cursor.begin_offset as usize,
                cursor: Some(header_end),
            };
        }
    }
    if let Some((offset, cursor)) = find_cursor(ring) {
        if !header.flags.dirty() {
            sink(Err(Problem::at_offset(
                u64::from(header.end_offset),
                format!(
                    "header says the log was closed, but its end-of-file record is at {offset:#x}"
                ),
            )));
        }
        return LiveRange {
            start: cursor.begin_offset as usize,
            cursor: Some(offset),
        };
    }
    let header_start = usize::try_from(header.start_offset).unwrap_or(usize::MAX);
    let start = if ring.contains(header_start) {
        header_start
    } else {
        ring.start()
    };
    sink(Err(Problem::at_offset(
        0,
        format!(
            "no end-of-file record: reading from offset {start:#x} until the record chain breaks"
        ),
    )));
    LiveRange {
        start,
        cursor: None,
    }
}

/// Hands every live record to `sink` and returns the slack: from the end of the cursor (or
/// where the chain broke) round to the oldest record. Damage becomes a problem and the walk
/// goes on at the next whole record.
pub(crate) fn walk_live(ring: &Ring<'_>, live: &LiveRange, sink: &mut impl FnMut(Item)) -> Slack {
    let range = match live.cursor {
        Some(cursor) => ring.distance(live.start, cursor),
        None => ring.capacity(),
    };
    let mut left = range;
    let mut pos = live.start;
    while left > 0 {
        let step = match locate(ring, pos, left) {
            Ok(found) => {
                // A torn record's size cannot be trusted: it ends at the latest where the next
                // whole record starts (this also keeps copies linear in the file size).
                let (len, step) = if found.closed {
                    (found.size, found.size)
                } else {
                    let skip = next_record(ring, pos, left);
                    (found.size.min(skip), skip)
                };
                let bytes = ring.read(pos, len).unwrap_or_default();
                let decoded = decode(&bytes, pos);
                if let Some(defect) = decoded.defect {
                    sink(Err(Problem::at_offset(pos as u64, defect)));
                }
                sink(Ok(decoded.event));
                if !found.closed {
                    sink(Err(Problem::at_offset(
                        pos as u64,
                        format!(
                            "record's closing size is wrong (torn?): fields read as far as \
                             they go; next record {step} bytes on"
                        ),
                    )));
                }
                step
            }
            Err(_) if live.cursor.is_none() => break,
            Err(reason) => {
                let skip = next_record(ring, pos, left);
                sink(Err(Problem::at_offset(
                    pos as u64,
                    format!("{reason}; skipped {skip} bytes of the live log"),
                )));
                skip
            }
        };
        pos = ring.advance(pos, step);
        left -= step;
    }
    match live.cursor {
        Some(cursor) => Slack {
            from: ring.advance(cursor, CURSOR_SIZE as usize),
            len: ring.capacity().saturating_sub(range + CURSOR_SIZE as usize),
        },
        None => Slack {
            from: pos,
            len: ring.capacity() - (range - left),
        },
    }
}

/// Distance from `pos` to the next whole record after it within `left` bytes (or `left`).
fn next_record(ring: &Ring<'_>, pos: usize, left: usize) -> usize {
    find_records(ring, ring.advance(pos, 4), left.saturating_sub(4))
        .next()
        .map_or(left, |(distance, _, _)| distance + 4)
}

#[cfg(test)]
mod tests {
    use crate::evt::read_evt_all;
    use crate::evt::testdata::{file, record, RecordSpec};

    fn numbers(events: &[crate::Event]) -> Vec<u64> {
        events.iter().filter_map(|e| e.record_number).collect()
    }

    fn records(first: u32, count: u32) -> Vec<Vec<u8>> {
        (first..first + count)
            .map(|n| record(&RecordSpec::kms(n)))
            .collect()
    }

    #[test]
    fn clean_log_reads_in_order_with_offsets() {
        let recs = records(1, 3);
        let bytes = file(0x400, 0x30, &recs, false);
        let (events, problems) = read_evt_all(&bytes, true).unwrap();
        assert_eq!(problems, vec![]);
        assert_eq!(numbers(&events), [1, 2, 3]);
        let size = recs[0].len() as u64;
        let offsets: Vec<_> = events.iter().filter_map(|e| e.origin.offset).collect();
        assert_eq!(offsets, [0x30, 0x30 + size, 0x30 + 2 * size]);
    }

    #[test]
    fn dirty_log_uses_the_cursor_not_the_stale_header() {
        let bytes = file(0x400, 0x30, &records(1, 4), true);
        let (events, problems) = read_evt_all(&bytes, false).unwrap();
        assert_eq!(problems, vec![]);
        assert_eq!(numbers(&events), [1, 2, 3, 4]);
    }

    #[test]
    fn wrapped_log_reassembles_the_record_straddling_the_wrap_point() {
        let recs = records(10, 4);
        let size = recs[0].len();
        let len = 0x30 + 4 * size + 0x28 + 8; // room for all four and the cursor
        let first = len - size - ((size / 2) & !3); // the second one straddles the wrap point
        for dirty in [false, true] {
            let bytes = file(len, first, &recs, dirty);
            let (events, problems) = read_evt_all(&bytes, false).unwrap();
            assert_eq!(problems, vec![]);
            assert_eq!(numbers(&events), [10, 11, 12, 13]);
            let straddler = &events[1];
            assert!(straddler.origin.offset.unwrap() as usize + size > len);
            assert_eq!(straddler.strings, ["Schlüssel", "", "third"]);
        }
    }

    #[test]
    fn damaged_record_is_a_problem_and_the_next_ones_still_read() {
        let recs = records(1, 4);
        let size = recs[0].len();
        let mut bytes = file(0x400, 0x30, &recs, false);
        bytes[0x30 + size + 4] = b'X'; // signature of record 2
        let (events, problems) = read_evt_all(&bytes, false).unwrap();
        assert_eq!(numbers(&events), [1, 3, 4]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].offset, Some((0x30 + size) as u64));
        assert!(problems[0]
            .message
            .contains(&format!("skipped {size} bytes")));
    }

    #[test]
    fn a_lost_cursor_reads_the_chain_from_the_header() {
        let recs = records(1, 3);
        let mut bytes = file(0x400, 0x30, &recs, false);
        let cursor_at = 0x30 + 3 * recs[0].len();
        bytes[cursor_at + 4] = 0; // break the cursor's magic
        let (events, problems) = read_evt_all(&bytes, false).unwrap();
        assert_eq!(numbers(&events), [1, 2, 3]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.starts_with("no end-of-file record"));
    }
}
