//! Hand-built .evt bytes for the unit tests (the app's writer is not reachable from here).

use super::{Cursor, FileHeader, HeaderFlags, HEADER_SIZE};

/// The fields of one test record.
pub struct RecordSpec {
    pub number: u32,
    pub source: &'static str,
    pub computer: &'static str,
    pub event_id: u32,
    pub event_type: u16,
    pub strings: Vec<&'static str>,
    pub sid: Vec<u8>,
    pub data: Vec<u8>,
}

impl RecordSpec {
    /// An MSExchangeKMS 5085 error (full id 0xc00013dd) numbered `number`.
    pub fn kms(number: u32) -> RecordSpec {
        RecordSpec {
            number,
            source: "MSExchangeKMS",
            computer: "EXCH01",
            event_id: 0xc000_13dd,
            event_type: 1,
            strings: vec!["Schlüssel", "", "third"],
            sid: Vec::new(),
            data: Vec::new(),
        }
    }
}

fn utf16z(text: &str, out: &mut Vec<u8>) {
    for unit in text.encode_utf16().chain([0]) {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// One record's bytes, laid out as Windows does.
pub fn record(spec: &RecordSpec) -> Vec<u8> {
    const TIME: u32 = 1_057_046_400; // 2003-07-01 08:00:00 UTC
    let mut tail = Vec::new();
    utf16z(spec.source, &mut tail);
    utf16z(spec.computer, &mut tail);
    pad4(&mut tail);
    let sid_offset = 0x38 + tail.len();
    tail.extend_from_slice(&spec.sid);
    let string_offset = 0x38 + tail.len();
    for s in &spec.strings {
        utf16z(s, &mut tail);
    }
    let data_offset = 0x38 + tail.len();
    tail.extend_from_slice(&spec.data);
    pad4(&mut tail);
    let size = (0x38 + tail.len() + 4) as u32;
    let mut out = Vec::new();
    for word in [
        size,
        u32::from_le_bytes(*b"LfLe"),
        spec.number,
        TIME,
        TIME,
        spec.event_id,
    ] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for half in [spec.event_type, spec.strings.len() as u16, 0, 0] {
        out.extend_from_slice(&half.to_le_bytes());
    }
    let sid_len = spec.sid.len();
    let data_len = spec.data.len();
    for word in [0, string_offset, sid_len, sid_offset, data_len, data_offset] {
        out.extend_from_slice(&(word as u32).to_le_bytes());
    }
    out.extend_from_slice(&tail);
    out.extend_from_slice(&size.to_le_bytes());
    out
}

/// A file of `len` bytes whose records are written from `first_offset` on, wrapping at the end
/// of the file, followed by a cursor. `dirty` leaves the header as an empty log's.
pub fn file(len: usize, first_offset: usize, records: &[Vec<u8>], dirty: bool) -> Vec<u8> {
    let ring_start = HEADER_SIZE as usize;
    let mut bytes = vec![0u8; len];
    let mut pos = first_offset;
    let put = |bytes: &mut Vec<u8>, pos: &mut usize, data: &[u8]| {
        for &b in data {
            bytes[*pos] = b;
            *pos = if *pos + 1 == len {
                ring_start
            } else {
                *pos + 1
            };
        }
    };
    for r in records {
        put(&mut bytes, &mut pos, r);
    }
    let first_number = records
        .first()
        .map_or(0, |r| u32::from_le_bytes(r[8..12].try_into().unwrap()));
    let cursor = Cursor {
        begin_offset: first_offset as u32,
        end_offset: pos as u32,
        next_record_number: first_number + records.len() as u32,
        oldest_record_number: first_number,
    };
    put(&mut bytes, &mut pos, &cursor.to_bytes());
    let header = FileHeader {
        major_version: 1,
        minor_version: 1,
        start_offset: if dirty { 0x30 } else { cursor.begin_offset },
        end_offset: if dirty { 0x30 } else { cursor.end_offset },
        next_record_number: if dirty { 1 } else { cursor.next_record_number },
        oldest_record_number: if dirty {
            0
        } else {
            cursor.oldest_record_number
        },
        max_size: len as u32,
        flags: HeaderFlags(if dirty { HeaderFlags::DIRTY } else { 0 }),
        retention: 0,
    };
    bytes[..ring_start].copy_from_slice(&header.to_bytes());
    bytes
}
