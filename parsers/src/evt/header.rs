//! The file header and the end-of-file record ("cursor"), which both locate the live records.

use super::ring::Ring;
use super::{CURSOR_MAGIC, CURSOR_SIZE, HEADER_SIZE, SIGNATURE};
use crate::Problem;
use memchr::memmem;
use nom::bytes::complete::tag;
use nom::number::complete::le_u32;
use nom::sequence::tuple;
use nom::IResult;
use serde::Serialize;

/// The header's status flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HeaderFlags(pub u32);

impl HeaderFlags {
    /// The log was open (being written) when the file was copied: header offsets are stale.
    pub const DIRTY: u32 = 0x1;
    /// Writing has gone round the end of the file at least once.
    pub const WRAPPED: u32 = 0x2;
    /// The last write failed because the log was full.
    pub const LOG_FULL: u32 = 0x4;
    /// The log should be archived before it is overwritten.
    pub const ARCHIVE: u32 = 0x8;

    pub fn dirty(self) -> bool {
        self.0 & Self::DIRTY != 0
    }

    pub fn wrapped(self) -> bool {
        self.0 & Self::WRAPPED != 0
    }

    pub fn log_full(self) -> bool {
        self.0 & Self::LOG_FULL != 0
    }

    pub fn archive(self) -> bool {
        self.0 & Self::ARCHIVE != 0
    }
}

/// The 0x30-byte file header (`ELF_LOGFILE_HEADER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHeader {
    pub major_version: u32,
    pub minor_version: u32,
    /// File offset of the oldest record.
    pub start_offset: u32,
    /// File offset of the end-of-file record.
    pub end_offset: u32,
    /// The number the next record will get.
    pub next_record_number: u32,
    /// The oldest record's number (0 in an empty log).
    pub oldest_record_number: u32,
    pub max_size: u32,
    pub flags: HeaderFlags,
    /// Seconds a record must be kept before it may be overwritten.
    pub retention: u32,
}

impl FileHeader {
    /// Parses the header at the start of `bytes`; a file without one is not an .evt file.
    pub fn parse(bytes: &[u8]) -> Result<FileHeader, Problem> {
        match header(bytes) {
            Ok((_, (sizes, header))) if sizes == [HEADER_SIZE; 2] => Ok(header),
            _ => Err(Problem::at_offset(
                0,
                format!("not an .evt file header (needs {HEADER_SIZE:#x} bytes: size, \"LfLe\", …, size)"),
            )),
        }
    }

    /// The header of a file whose header has its signature but a wrong size word (at its
    /// start or end): its other fields are taken as those of a log copied while open (dirty),
    /// so the live records are found from the end-of-file record, not from the header. The
    /// problem names the damage. `None` when even that cannot be read.
    pub fn parse_damaged(bytes: &[u8]) -> Option<(FileHeader, Problem)> {
        let (_, (sizes, mut header)) = header(bytes).ok()?;
        let [first, last] = sizes;
        let at = if first != HEADER_SIZE { 0 } else { 0x2c };
        header.flags.0 |= HeaderFlags::DIRTY;
        let problem = Problem::at_offset(
            at,
            format!(
                "damaged file header (size words {first:#x} and {last:#x}, expected \
                 {HEADER_SIZE:#x}): records located from the end-of-file record instead"
            ),
        );
        Some((header, problem))
    }

    pub fn to_bytes(&self) -> [u8; HEADER_SIZE as usize] {
        let mut out = [0u8; HEADER_SIZE as usize];
        let words = [
            HEADER_SIZE,
            u32::from_le_bytes(*SIGNATURE),
            self.major_version,
            self.minor_version,
            self.start_offset,
            self.end_offset,
            self.next_record_number,
            self.oldest_record_number,
            self.max_size,
            self.flags.0,
            self.retention,
            HEADER_SIZE,
        ];
        for (slot, word) in out.chunks_exact_mut(4).zip(words) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

/// The header's fields and its two size words (at its start and end).
fn header(input: &[u8]) -> IResult<&[u8], ([u32; 2], FileHeader)> {
    let (rest, (first_size, _, major_version, minor_version, start_offset, end_offset)) =
        tuple((le_u32, tag(&SIGNATURE[..]), le_u32, le_u32, le_u32, le_u32))(input)?;
    let (rest, (next_record_number, oldest_record_number, max_size, flags, retention, last_size)) =
        tuple((le_u32, le_u32, le_u32, le_u32, le_u32, le_u32))(rest)?;
    Ok((
        rest,
        (
            [first_size, last_size],
            FileHeader {
                major_version,
                minor_version,
                start_offset,
                end_offset,
                next_record_number,
                oldest_record_number,
                max_size,
                flags: HeaderFlags(flags),
                retention,
            },
        ),
    ))
}

/// The end-of-file record (`ELF_EOF_RECORD`): written after the newest record, it holds the
/// live range even when the header is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cursor {
    /// File offset of the oldest record.
    pub begin_offset: u32,
    /// File offset of this end-of-file record itself.
    pub end_offset: u32,
    pub next_record_number: u32,
    pub oldest_record_number: u32,
}

impl Cursor {
    /// Parses a cursor from its 0x28 bytes.
    pub fn parse(bytes: &[u8]) -> Option<Cursor> {
        let size = || nom::combinator::verify(le_u32, |&s| s == CURSOR_SIZE);
        let magic = |m: u32| nom::combinator::verify(le_u32, move |&w| w == m);
        let [m1, m2, m3, m4] = CURSOR_MAGIC;
        let parsed: IResult<&[u8], _> = tuple((
            size(),
            magic(m1),
            magic(m2),
            magic(m3),
            magic(m4),
            le_u32,
            le_u32,
            le_u32,
            le_u32,
            size(),
        ))(bytes);
        let (_, (_, _, _, _, _, begin, end, next, oldest, _)) = parsed.ok()?;
        Some(Cursor {
            begin_offset: begin,
            end_offset: end,
            next_record_number: next,
            oldest_record_number: oldest,
        })
    }

    pub fn to_bytes(&self) -> [u8; CURSOR_SIZE as usize] {
        let mut out = [0u8; CURSOR_SIZE as usize];
        let [m1, m2, m3, m4] = CURSOR_MAGIC;
        let words = [
            CURSOR_SIZE,
            m1,
            m2,
            m3,
            m4,
            self.begin_offset,
            self.end_offset,
            self.next_record_number,
            self.oldest_record_number,
            CURSOR_SIZE,
        ];
        for (slot, word) in out.chunks_exact_mut(4).zip(words) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

/// The cursor at `offset`, if one is there and names itself and a begin offset in the ring.
pub(crate) fn cursor_at(ring: &Ring<'_>, offset: usize) -> Option<Cursor> {
    let cursor = Cursor::parse(&ring.read(offset, CURSOR_SIZE as usize)?)?;
    let names_itself = usize::try_from(cursor.end_offset).ok() == Some(offset);
    let begin_in_ring = usize::try_from(cursor.begin_offset).is_ok_and(|b| ring.contains(b));
    (names_itself && begin_in_ring).then_some(cursor)
}

/// Searches the whole ring for the cursor: by its magic words, then across the wrap point
/// (where its magic may be split). Should an older one survive too, the newest state (highest
/// next record number) wins.
pub(crate) fn find_cursor(ring: &Ring<'_>) -> Option<(usize, Cursor)> {
    let magic: Vec<u8> = CURSOR_MAGIC.iter().flat_map(|w| w.to_le_bytes()).collect();
    let finder = memmem::Finder::new(&magic);
    let whole = ring
        .pieces(ring.start(), ring.capacity())
        .flat_map(|(start, piece)| finder.find_iter(piece).map(move |hit| start + hit))
        .map(|hit| ring.back(hit, 4));
    let across_wrap = (1..CURSOR_SIZE as usize).map(|k| ring.back(ring.start(), k));
    whole
        .chain(across_wrap)
        .filter_map(|offset| Some((offset, cursor_at(ring, offset)?)))
        .max_by_key(|(_, cursor)| cursor.next_record_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> FileHeader {
        FileHeader {
            major_version: 1,
            minor_version: 1,
            start_offset: 0x1e0130,
            end_offset: 0x1b81f0,
            next_record_number: 0x1d06,
            oldest_record_number: 0x570,
            max_size: 0x1f0000,
            flags: HeaderFlags(0xb),
            retention: 0,
        }
    }

    #[test]
    fn header_round_trips_and_flags_decode() {
        let header = sample_header();
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..8], b"\x30\0\0\0LfLe");
        assert_eq!(FileHeader::parse(&bytes), Ok(header.clone()));
        let flags = header.flags;
        assert!(flags.dirty() && flags.wrapped() && !flags.log_full() && flags.archive());
    }

    #[test]
    fn bad_headers_are_refused_with_offset_zero() {
        let bytes = sample_header().to_bytes();
        assert!(FileHeader::parse(&bytes[..0x2f]).is_err());
        let mut wrong_end = bytes;
        wrong_end[0x2c] = 0x31;
        let problem = FileHeader::parse(&wrong_end).unwrap_err();
        assert_eq!(problem.offset, Some(0));
        let mut wrong_signature = bytes;
        wrong_signature[4] = b'X';
        assert!(FileHeader::parse(&wrong_signature).is_err());
    }

    fn ring_with_cursor_at(len: usize, offset: usize) -> Vec<u8> {
        let cursor = Cursor {
            begin_offset: 0x30,
            end_offset: offset as u32,
            next_record_number: 7,
            oldest_record_number: 3,
        }
        .to_bytes();
        let mut bytes = vec![0u8; len];
        for (i, b) in cursor.iter().enumerate() {
            let at = if offset + i < len {
                offset + i
            } else {
                0x30 + (offset + i - len)
            };
            bytes[at] = *b;
        }
        bytes
    }

    #[test]
    fn finds_the_cursor_anywhere_and_across_the_wrap_point() {
        for offset in [0x30, 0x80, 0xd8, 0xe0, 0xec, 0xfc] {
            let bytes = ring_with_cursor_at(0x100, offset);
            let ring = Ring::new(&bytes).unwrap();
            let (found, cursor) = find_cursor(&ring).unwrap();
            assert_eq!(found, offset);
            assert_eq!(
                (cursor.next_record_number, cursor.oldest_record_number),
                (7, 3)
            );
            assert_eq!(cursor_at(&ring, offset), Some(cursor));
        }
    }

    #[test]
    fn of_two_cursors_the_newest_wins() {
        let mut bytes = ring_with_cursor_at(0x100, 0x80);
        let newer = Cursor {
            begin_offset: 0x30,
            end_offset: 0xc0,
            next_record_number: 9,
            oldest_record_number: 3,
        };
        bytes[0xc0..0xe8].copy_from_slice(&newer.to_bytes());
        let ring = Ring::new(&bytes).unwrap();
        assert_eq!(find_cursor(&ring), Some((0xc0, newer)));
    }

    #[test]
    fn a_cursor_that_names_another_offset_is_not_the_cursor() {
        let mut bytes = ring_with_cursor_at(0x100, 0x80);
        bytes[0x80 + 24] = 0x90; // end offset no longer names itself
        let ring = Ring::new(&bytes).unwrap();
        assert_eq!(find_cursor(&ring), None);
    }
}
