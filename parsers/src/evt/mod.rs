//! Legacy EventLog (.evt) reader: Windows NT 3.1 to Server 2003.
//!
//! A file is a 0x30-byte header followed by a circular buffer of `EVENTLOGRECORD`s that runs
//! from the header to the end of the file and wraps back to offset 0x30. The live records start
//! at the oldest record's offset and end at an end-of-file record (the "cursor"), which holds
//! the true offsets when the header is stale (a log copied while in use is "dirty"). Records
//! may straddle the wrap point. Everything outside the live range is slack that may still hold
//! whole overwritten records; [`read_evt`] carves those when asked.

mod carve;
mod header;
mod record;
mod ring;
mod walk;

pub use header::{Cursor, FileHeader, HeaderFlags};

use crate::{Item, Problem};
use ring::Ring;

/// Size of the file header, which is also the offset the circular buffer wraps back to.
pub const HEADER_SIZE: u32 = crate::detect::EVT_HEADER_SIZE;
/// Signature of the header and of every record.
pub const SIGNATURE: &[u8; 4] = crate::detect::EVT_SIGNATURE;
/// Size of the end-of-file record.
pub const CURSOR_SIZE: u32 = 0x28;
/// The four words after the end-of-file record's size.
pub const CURSOR_MAGIC: [u32; 4] = [0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444];
/// Size of the fixed part of a record, before the source name.
pub const RECORD_FIXED_SIZE: u32 = 0x38;

/// Reads every record of a legacy .evt file held in memory and hands each to `sink`: the live
/// records oldest first, then (with `recover`) the whole records carved from slack, marked
/// `origin.recovered`. Damaged regions become [`Problem`] items and reading goes on.
///
/// Fails only when `bytes` does not start with an .evt file header signature; a header with
/// a damaged size word is reported and read as a dirty one (see [`FileHeader::parse_damaged`]).
pub fn read_evt(bytes: &[u8], recover: bool, mut sink: impl FnMut(Item)) -> Result<(), Problem> {
    let header = match FileHeader::parse(bytes) {
        Ok(header) => header,
        Err(not_evt) => {
            let (header, damage) = FileHeader::parse_damaged(bytes).ok_or(not_evt)?;
            sink(Err(damage));
            header
        }
    };
    let Some(ring) = Ring::new(bytes) else {
        return Ok(()); // a header alone: an empty log
    };
    let live = walk::live_range(&header, &ring, &mut sink);
    let slack = walk::walk_live(&ring, &live, &mut sink);
    if recover {
        carve::carve_slack(&ring, &slack, &mut sink);
    }
    Ok(())
}

/// Reads a whole .evt file into events and problems (for tests and small files).
pub fn read_evt_all(
    bytes: &[u8],
    recover: bool,
) -> Result<(Vec<crate::Event>, Vec<Problem>), Problem> {
    let mut events = Vec::new();
    let mut problems = Vec::new();
    read_evt(bytes, recover, |item| match item {
        Ok(e) => events.push(e),
        Err(p) => problems.push(p),
    })?;
    Ok((events, problems))
}

#[cfg(test)]
mod testdata;

#[cfg(test)]
mod tests {
    use super::testdata::{file, record, RecordSpec};
    use super::*;

    /// A wrapped log with a straddling record, a stale header and slack.
    fn sample() -> Vec<u8> {
        let records: Vec<_> = (1..=5).map(|n| record(&RecordSpec::kms(n))).collect();
        let size = records[0].len();
        let len = 0x30 + 6 * size + 0x28;
        file(len, len - size - 8, &records, true)
    }

    #[test]
    fn any_truncation_or_flipped_byte_reads_without_panic() {
        let bytes = sample();
        assert_eq!(read_evt_all(&bytes, true).unwrap().0.len(), 5);
        for cut in 0..bytes.len() {
            let _ = read_evt_all(&bytes[..cut], true);
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] ^= flip;
                let Ok((events, _)) = read_evt_all(&damaged, true) else {
                    assert!(at < 0x30, "only a damaged header refuses the file");
                    continue;
                };
                // One flipped byte costs at most the record it hits.
                let numbers: std::collections::BTreeSet<_> =
                    events.iter().filter_map(|e| e.record_number).collect();
                assert!(numbers.len() >= 4, "{at:#x} ^ {flip:#x}: {numbers:?}");
            }
        }
    }
}
