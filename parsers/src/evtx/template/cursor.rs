//! Bounds-checked reads of the chunk bytes.

use crate::le::{le_u16, le_u32};

/// Bounds-checked little-endian reads.
pub(super) struct Cursor<'c> {
    pub(super) bytes: &'c [u8],
    pub(super) pos: usize,
}

impl<'c> Cursor<'c> {
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn take(&mut self, n: usize) -> Option<&'c [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }

    pub(super) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        let n = le_u16(self.bytes, self.pos)?;
        self.pos += 2;
        Some(n)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let n = le_u32(self.bytes, self.pos)?;
        self.pos += 4;
        Some(n)
    }
}
