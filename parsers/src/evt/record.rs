//! One `EVENTLOGRECORD`: recognising it in the ring and decoding it into an [`Event`].

use super::ring::Ring;
use super::{RECORD_FIXED_SIZE, SIGNATURE};
use crate::event::{Event, Level};
use crate::sid;
use crate::utf16::{ascii_string, until_nul};
use chrono::{DateTime, Utc};
use nom::bytes::complete::tag;
use nom::number::complete::{le_u16, le_u32};
use nom::sequence::tuple;
use nom::IResult;
use std::borrow::Cow;

/// The smallest record: fixed part, two empty names and the closing size.
pub(crate) const MIN_RECORD_SIZE: usize = RECORD_FIXED_SIZE as usize + 2 + 2 + 4;

/// A record found at a ring offset: size and signature fit.
pub(crate) struct Located {
    pub size: usize,
    /// The closing size copy matches (Windows leaves it 0 in a record cut short by a crash).
    pub closed: bool,
}

/// The record at `offset` if it is whole: its closing size copy matches. Damaged candidates
/// cost no copy, so scanning slack full of them stays linear.
pub(crate) fn probe_whole<'a>(
    ring: &Ring<'a>,
    offset: usize,
    room: usize,
) -> Option<Cow<'a, [u8]>> {
    match locate(ring, offset, room) {
        Ok(Located { size, closed: true }) => ring.read(offset, size),
        _ => None,
    }
}

/// Why there is no record at an offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoRecord {
    #[error("record size unreadable")]
    SizeUnreadable,
    #[error("no record here (size field {size:#x} is impossible in {room:#x} bytes of log)")]
    ImpossibleSize { size: usize, room: usize },
    #[error("no record signature \"LfLe\"")]
    NoSignature,
}

/// Looks for a record at `offset` that fits in `room` bytes, without copying it; or says why
/// there is none.
pub(crate) fn locate(ring: &Ring<'_>, offset: usize, room: usize) -> Result<Located, NoRecord> {
    let Some(size) = ring.u32_at(offset).and_then(|s| usize::try_from(s).ok()) else {
        return Err(NoRecord::SizeUnreadable);
    };
    if size < MIN_RECORD_SIZE || size % 4 != 0 || size > room {
        return Err(NoRecord::ImpossibleSize { size, room });
    }
    if ring.read(ring.advance(offset, 4), 4).as_deref() != Some(&SIGNATURE[..]) {
        return Err(NoRecord::NoSignature);
    }
    let closing = ring.u32_at(ring.advance(offset, size - 4));
    let closed = closing.and_then(|c| usize::try_from(c).ok()) == Some(size);
    Ok(Located { size, closed })
}

/// The fixed part of a record.
struct Fixed {
    record_number: u32,
    time_generated: u32,
    time_written: u32,
    event_id: u32,
    event_type: u16,
    num_strings: u16,
    category: u16,
    string_offset: u32,
    sid_length: u32,
    sid_offset: u32,
    data_length: u32,
    data_offset: u32,
}

fn fixed(input: &[u8]) -> IResult<&[u8], Fixed> {
    let (rest, (_size, _, record_number, time_generated, time_written, event_id)) =
        tuple((le_u32, tag(&SIGNATURE[..]), le_u32, le_u32, le_u32, le_u32))(input)?;
    let (rest, (event_type, num_strings, category, _flags, _closing_record)) =
        tuple((le_u16, le_u16, le_u16, le_u16, le_u32))(rest)?;
    let (rest, (string_offset, sid_length, sid_offset, data_length, data_offset)) =
        tuple((le_u32, le_u32, le_u32, le_u32, le_u32))(rest)?;
    Ok((
        rest,
        Fixed {
            record_number,
            time_generated,
            time_written,
            event_id,
            event_type,
            num_strings,
            category,
            string_offset,
            sid_length,
            sid_offset,
            data_length,
            data_offset,
        },
    ))
}

/// A decoded record, and what in it could not be decoded (its fields are left empty).
pub(crate) struct Decoded {
    pub event: Event,
    pub defect: Option<String>,
}

/// Decodes the record in `bytes` (exactly one record, closing size included) found at file
/// offset `offset`.
pub(crate) fn decode(bytes: &[u8], offset: usize) -> Decoded {
    let body_end = bytes.len().saturating_sub(4);
    let Ok((_, f)) = fixed(bytes) else {
        // `probe` checked size and signature, so only a too-short slice gets here.
        let mut event = Event::new("", 0, Level::Other(0));
        event.origin.offset = Some(offset as u64);
        return Decoded {
            event,
            defect: Some("record shorter than its fixed part".into()),
        };
    };
    let body = bytes.get(..body_end).unwrap_or_default();
    let names = body.get(RECORD_FIXED_SIZE as usize..).unwrap_or_default();
    let (source, used) = utf16z(names);
    let (computer, _) = utf16z(names.get(used..).unwrap_or_default());

    let mut event = Event::new(
        source,
        (f.event_id & 0xffff) as u16,
        Level::from_evt_type(f.event_type),
    );
    event.qualifiers = Some((f.event_id >> 16) as u16);
    event.record_number = Some(u64::from(f.record_number));
    event.time_generated = unix_time(f.time_generated);
    event.time_written = unix_time(f.time_written);
    event.category = Some(f.category);
    event.computer = Some(computer);
    event.origin.offset = Some(offset as u64);

    let mut defects = Vec::new();
    if f.sid_length > 0 {
        match span(body, f.sid_offset, f.sid_length).map(sid::to_text) {
            Some(Some(sid)) => event.user = Some(sid),
            Some(None) => defects.push("user SID malformed".to_owned()),
            None => defects.push(outside("user SID", f.sid_offset, f.sid_length)),
        }
    }
    if f.num_strings > 0 {
        match read_strings(body, f.string_offset, f.num_strings) {
            Ok(strings) => event.strings = strings,
            Err((strings, defect)) => {
                event.strings = strings;
                defects.push(defect);
            }
        }
    }
    event.data = Some(if f.data_length == 0 {
        Vec::new()
    } else if let Some(data) = span(body, f.data_offset, f.data_length) {
        data.to_vec()
    } else {
        defects.push(outside("data", f.data_offset, f.data_length));
        Vec::new()
    });
    Decoded {
        event,
        defect: (!defects.is_empty()).then(|| {
            format!(
                "record {}: {} (left empty)",
                f.record_number,
                defects.join("; ")
            )
        }),
    }
}

fn outside(what: &str, offset: u32, length: u32) -> String {
    format!("{what} at record offset {offset:#x}, {length} bytes, lies outside the record")
}

/// The rest of `body` from `offset`, if that is inside it and after the fixed part.
fn from_offset(body: &[u8], offset: u32) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    if start < RECORD_FIXED_SIZE as usize {
        return None;
    }
    body.get(start..)
}

/// `length` bytes at `offset` of `body`, if they are inside it and after the fixed part.
fn span(body: &[u8], offset: u32, length: u32) -> Option<&[u8]> {
    from_offset(body, offset)?.get(..usize::try_from(length).ok()?)
}

/// `count` NUL-terminated strings from `offset`. On damage: the strings read so far and why.
fn read_strings(
    body: &[u8],
    offset: u32,
    count: u16,
) -> Result<Vec<String>, (Vec<String>, String)> {
    let Some(mut rest) = from_offset(body, offset) else {
        return Err((
            Vec::new(),
            format!("strings offset {offset:#x} lies outside the record"),
        ));
    };
    // Each string takes at least its NUL: the body bounds the count, whatever the header says.
    let mut strings = Vec::with_capacity(usize::from(count).min(rest.len() / 2));
    for _ in 0..count {
        if rest.len() < 2 {
            let defect = format!(
                "only {} of {count} strings fit in the record",
                strings.len()
            );
            return Err((strings, defect));
        }
        let (text, used) = utf16z(rest);
        strings.push(text);
        rest = rest.get(used..).unwrap_or_default();
    }
    Ok(strings)
}

/// A UTF-16LE string up to its NUL (or the end of `bytes`), and the bytes it took with the NUL.
/// Unpaired surrogates become U+FFFD.
fn utf16z(bytes: &[u8]) -> (String, usize) {
    let (units, ascii) = until_nul(bytes);
    let used = (units.len() + 2).min(bytes.len() & !1);
    // ASCII, the common case, needs no decoding: its low bytes are the text.
    if let Some(text) = ascii.then(|| ascii_string(units)).flatten() {
        return (text, used);
    }
    let units = units
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    let text = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    (text, used)
}

/// 0 means "not set".
fn unix_time(seconds: u32) -> Option<DateTime<Utc>> {
    (seconds != 0)
        .then(|| DateTime::from_timestamp(i64::from(seconds), 0))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evt::testdata::{record, RecordSpec};
    use crate::evt::HEADER_SIZE;

    #[test]
    fn decodes_every_field() {
        let spec = RecordSpec {
            data: b"6.0.6249.0 PT\0".to_vec(),
            sid: vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
            ..RecordSpec::kms(5085)
        };
        let bytes = record(&spec);
        let Decoded { event, defect } = decode(&bytes, 0x1234);
        assert_eq!(defect, None);
        assert_eq!(event.source, "MSExchangeKMS");
        assert_eq!(event.computer.as_deref(), Some("EXCH01"));
        assert_eq!(event.event_id, 5085);
        assert_eq!(event.qualifiers, Some(0xc000));
        assert_eq!(event.full_event_id(), 0xc000_13dd);
        assert_eq!(event.level, Level::Error);
        assert_eq!(event.category, Some(0));
        assert_eq!(event.record_number, Some(5085));
        assert_eq!(
            event.time_generated.map(|t| t.to_rfc3339()),
            Some("2003-07-01T08:00:00+00:00".into())
        );
        assert_eq!(event.time_written, event.time_generated);
        assert_eq!(event.user.as_deref(), Some("S-1-5-18"));
        assert_eq!(event.strings, vec!["Schlüssel", "", "third"]);
        assert_eq!(event.data.as_deref(), Some(&b"6.0.6249.0 PT\0"[..]));
        assert_eq!(event.origin.offset, Some(0x1234));
        assert!(!event.origin.recovered);
    }

    #[test]
    fn fields_pointing_outside_the_record_are_dropped_with_a_defect() {
        let mut bytes = record(&RecordSpec {
            data: vec![1, 2, 3],
            ..RecordSpec::kms(7)
        });
        bytes[52..56].copy_from_slice(&0xffff_fff0u32.to_le_bytes()); // data offset
        bytes[36..40].copy_from_slice(&0x10u32.to_le_bytes()); // strings inside the fixed part
        let Decoded { event, defect } = decode(&bytes, 0);
        assert_eq!(event.data, Some(Vec::new()));
        assert!(event.strings.is_empty());
        let defect = defect.unwrap();
        assert!(
            defect.starts_with("record 7: strings offset 0x10"),
            "{defect}"
        );
        assert!(
            defect.contains("data at record offset 0xfffffff0, 3 bytes"),
            "{defect}"
        );
    }

    #[test]
    fn too_many_strings_keep_those_that_fit() {
        let mut bytes = record(&RecordSpec::kms(1));
        bytes[26..28].copy_from_slice(&60000u16.to_le_bytes());
        let Decoded { event, defect } = decode(&bytes, 0);
        assert_eq!(&event.strings[..3], ["Schlüssel", "", "third"]);
        assert!(defect.unwrap().contains("of 60000 strings fit"));
    }

    #[test]
    fn strings_stop_at_nul_or_end_and_survive_bad_utf16() {
        assert_eq!(utf16z(b"a\0b\0c\0d\0e\0\0\0f\0"), ("abcde".into(), 12));
        assert_eq!(utf16z(b"a\0b\0c\0\0\0e\0f\0g\0"), ("abc".into(), 8));
        assert_eq!(
            utf16z(b"\0\x01\0\x01\0\x01\0\x01"),
            ("\u{100}\u{100}\u{100}\u{100}".into(), 8)
        );
        assert_eq!(utf16z(b"A\0B\0\0\0C\0"), ("AB".into(), 6));
        assert_eq!(utf16z(b"a\0b\0c\0d\0\xe9\0\0\0"), ("abcd\u{e9}".into(), 12));
        assert_eq!(utf16z(b"A\0B"), ("A".into(), 2));
        assert_eq!(utf16z(&[0x00, 0xd8, 0x41, 0x00]), ("\u{fffd}A".into(), 4));
        assert_eq!(utf16z(b""), (String::new(), 0));
    }

    #[test]
    fn locate_says_why_there_is_no_record() {
        let mut bytes = vec![0; HEADER_SIZE as usize];
        let whole = record(&RecordSpec::kms(5085));
        bytes.extend_from_slice(&whole);
        let size = whole.len();
        let ring = Ring::new(&bytes).unwrap();
        let (start, room) = (ring.start(), ring.capacity());
        let found = locate(&ring, start, room).unwrap();
        assert_eq!((found.size, found.closed), (size, true));
        assert_eq!(
            locate(&ring, start, size - 4).err().unwrap().to_string(),
            format!(
                "no record here (size field {size:#x} is impossible in {:#x} bytes of log)",
                size - 4
            )
        );
        bytes[start + 4] = b'X';
        let ring = Ring::new(&bytes).unwrap();
        assert_eq!(
            locate(&ring, start, room).err().unwrap().to_string(),
            "no record signature \"LfLe\""
        );
    }
}
