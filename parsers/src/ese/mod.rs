//! ESE ("JET Blue") database reader, in layers: file header → pages and checksums → B-trees →
//! catalog → records and long values, plus a verifier (`check`).
//!
//! Everything reads through [`PageSource`], so the app can feed pages with `pread` (constant
//! memory whatever the file size) and tests can feed bytes held in memory. Layout facts come
//! from the libesedb format documentation and Microsoft's published ESE source.

pub mod branch_walk;
pub mod btree;
pub mod catalog;
pub mod check;
pub mod checksum;
pub mod cleanup;
pub mod compression;
pub mod database;
pub mod header;
pub mod leaf_chain;
pub mod logfile;
pub mod longvalue;
pub mod longvalue_index;
pub mod page;
mod page_buffer;
pub mod read_ahead;
pub mod record;
mod schema;
pub mod seek_rules;
pub mod space;
pub mod value;
pub mod write;

pub use catalog::{Catalog, ColumnDef, TableDef};
pub use database::Database;
pub use header::FileHeader;
pub use value::Value;

/// The layers below read their fields with these.
pub(crate) use crate::le::{le_u16, le_u32, le_u64};

/// Random access to the bytes of a database file.
pub trait PageSource {
    /// Fills as much of `buf` as the source holds at `offset`; returns how many bytes were read
    /// (fewer than `buf.len()` only at the end of the source).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;

    /// Total size in bytes.
    fn size(&self) -> u64;

    /// All of the source's bytes, when it holds them in memory (a buffer, a mapped file):
    /// pages are then copied straight out of it, without read-ahead.
    fn in_memory(&self) -> Option<&[u8]> {
        None
    }
}

impl PageSource for [u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let available = &self[start..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        Ok(n)
    }

    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn in_memory(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl PageSource for Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }

    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn in_memory(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl PageSource for std::fs::File {
    #[cfg(unix)]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut filled = 0;
        while filled < buf.len() {
            let n = FileExt::read_at(self, &mut buf[filled..], offset + filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    #[cfg(windows)]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::windows::fs::FileExt;
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.seek_read(&mut buf[filled..], offset + filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
}
