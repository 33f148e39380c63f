//! The circular record area of an .evt file: from the end of the header to the end of the
//! file, where writing wraps back to the header's end.

use super::HEADER_SIZE;
use crate::le::le_u32;
use std::borrow::Cow;

/// File offsets into the record area, with wrap-around arithmetic.
pub(crate) struct Ring<'a> {
    bytes: &'a [u8],
}

const START: usize = HEADER_SIZE as usize;

/// The part of the ring outside the live records: `len` bytes from `from`. The walk of the
/// live records finds it; carving reads it.
pub(crate) struct Slack {
    pub from: usize,
    pub len: usize,
}

impl<'a> Ring<'a> {
    /// `None` when the file has no room for records beyond its header.
    pub fn new(bytes: &'a [u8]) -> Option<Ring<'a>> {
        (bytes.len() > START).then_some(Ring { bytes })
    }

    /// The first offset of the ring (just after the header).
    pub fn start(&self) -> usize {
        START
    }

    /// Bytes the ring holds (file size minus header).
    pub fn capacity(&self) -> usize {
        self.bytes.len() - START
    }

    pub fn contains(&self, offset: usize) -> bool {
        (START..self.bytes.len()).contains(&offset)
    }

    /// Forward distance from `from` to `to`, wrapping if `to` lies before `from`.
    pub fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            self.bytes.len().saturating_sub(from) + to.saturating_sub(START)
        }
    }

    /// The offset `n` bytes after `offset`, wrapping at the end of the file.
    pub fn advance(&self, offset: usize, n: usize) -> usize {
        START + (offset.saturating_sub(START) + n) % self.capacity()
    }

    /// The offset `n` bytes before `offset` (n at most the capacity).
    pub fn back(&self, offset: usize, n: usize) -> usize {
        self.advance(offset, self.capacity() - n % self.capacity())
    }

    /// `len` bytes from `offset`; copied only when they straddle the wrap point.
    pub fn read(&self, offset: usize, len: usize) -> Option<Cow<'a, [u8]>> {
        if !self.contains(offset) || len > self.capacity() {
            return None;
        }
        let tail = self.bytes.get(offset..)?;
        if let Some(whole) = tail.get(..len) {
            return Some(Cow::Borrowed(whole));
        }
        let head = self.bytes.get(START..START + (len - tail.len()))?;
        Some(Cow::Owned([tail, head].concat()))
    }

    pub fn u32_at(&self, offset: usize) -> Option<u32> {
        le_u32(&self.read(offset, 4)?, 0)
    }

    /// The contiguous file slices (at most two) covering `len` bytes from `offset`, each with
    /// its file offset.
    pub fn pieces(&self, offset: usize, len: usize) -> impl Iterator<Item = (usize, &'a [u8])> {
        let len = len.min(self.capacity());
        let first_len = len.min(self.bytes.len().saturating_sub(offset));
        let first = self.bytes.get(offset..offset + first_len).unwrap_or(&[]);
        let second = self
            .bytes
            .get(START..START + (len - first_len))
            .unwrap_or(&[]);
        [(offset, first), (START, second)]
            .into_iter()
            .filter(|(_, piece)| !piece.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_bytes() -> Vec<u8> {
        (0..0x40u8).collect()
    }

    #[test]
    fn arithmetic_wraps_at_the_end_of_the_file() {
        let bytes = ring_bytes();
        let ring = Ring::new(&bytes).unwrap();
        assert_eq!(ring.capacity(), 0x10);
        assert_eq!(ring.advance(0x3c, 4), 0x30);
        assert_eq!(ring.advance(0x3c, 6), 0x32);
        assert_eq!(ring.back(0x30, 4), 0x3c);
        assert_eq!(ring.distance(0x3c, 0x34), 8);
        assert_eq!(ring.distance(0x34, 0x3c), 8);
        assert!(!ring.contains(0x2f) && !ring.contains(0x40));
    }

    #[test]
    fn reads_borrow_unless_they_straddle() {
        let bytes = ring_bytes();
        let ring = Ring::new(&bytes).unwrap();
        assert!(matches!(ring.read(0x30, 4), Some(Cow::Borrowed(_))));
        let joined = ring.read(0x3e, 4).unwrap();
        assert_eq!(joined.as_ref(), &[0x3e, 0x3f, 0x30, 0x31]);
        assert_eq!(ring.read(0x30, 0x11), None);
        assert_eq!(ring.read(0x10, 4), None);
        let pieces: Vec<_> = ring.pieces(0x3e, 4).collect();
        assert_eq!(
            pieces,
            vec![(0x3e, &bytes[0x3e..]), (0x30, &bytes[0x30..0x32])]
        );
        assert_eq!(Ring::new(&bytes[..0x30]).map(|r| r.capacity()), None);
    }
}
