//! Separated long values: each table's long values live in their own B-tree. The key of a
//! value's root node is its id in big-endian order (data: reference count, total size); its
//! data follows in segments keyed by id + big-endian offset in the uncompressed value. A
//! segment shorter or longer than the span its offsets give is compressed on its own.

use super::btree;
use super::compression::{self, CompressionError};
use super::database::Database;
use super::le_u32;
use super::PageSource;
use crate::Problem;
use std::ops::ControlFlow;

/// Long values above this, alone or together in one row, are refused as damage (output
/// would not fit in memory).
pub const MAX_LONG_VALUE: usize = 256 * 1024 * 1024;

/// Why a long value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LongValueError {
    /// The tree could not be searched (its message).
    #[error("{0}")]
    Tree(String),
    #[error("long value has no root node")]
    NoRootNode,
    #[error("long value root node is damaged")]
    RootNodeDamaged,
    #[error("long value segment key of {0} bytes")]
    SegmentKey(usize),
    #[error("long value larger than the limit")]
    TooLarge,
    #[error("long value not found")]
    NotFound,
    #[error("long value segment at offset {offset}, expected {expected}")]
    SegmentOffset { offset: usize, expected: usize },
    #[error("long value segments out of order")]
    OutOfOrder,
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error("long value runs past the {0} bytes its root says")]
    RunsPast(usize),
    #[error("long value has {found} bytes, its root says {total}")]
    SizeDiffers { found: usize, total: usize },
}

/// Reassembles the long value whose tree key is `key` from the tree at `root`.
pub fn read<S: PageSource>(
    db: &Database<S>,
    root: u32,
    key: &[u8],
) -> Result<Vec<u8>, LongValueError> {
    let mut assembly: Option<Result<Assembly, LongValueError>> = None;
    let result = btree::seek(db, root, key, |node_key, node_data| {
        if !node_key.starts_with(key) {
            return ControlFlow::Break(());
        }
        match &mut assembly {
            None if node_key.len() != key.len() => {
                assembly = Some(Err(LongValueError::NoRootNode));
                ControlFlow::Break(())
            }
            None => {
                assembly = Some(Assembly::start(key, node_data, Keep::Bytes));
                ControlFlow::Continue(())
            }
            Some(Ok(value)) => match value.segment(node_key, node_data) {
                Ok(()) => ControlFlow::Continue(()),
                Err(error) => {
                    assembly = Some(Err(error));
                    ControlFlow::Break(())
                }
            },
            Some(Err(_)) => ControlFlow::Break(()),
        }
    });
    if let Err(problem) = result {
        return Err(LongValueError::Tree(problem.message));
    }
    let value = assembly.ok_or(LongValueError::NotFound)??.finish()?;
    Ok(value.bytes)
}

/// What an [`Assembly`] keeps of the value: its bytes, or only its size (a check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Bytes,
    Size,
}

/// A long value built from its tree's entries as they come in key order: the root node
/// (data: reference count, total size), then each segment (key: the value's key + its
/// big-endian offset). A segment is joined once the next one's offset gives its span.
#[derive(Debug)]
pub struct Assembly {
    key_len: usize,
    total: usize,
    keep: Keep,
    /// Stored bytes of the segments so far (compressed ones count as stored).
    stored: usize,
    /// The latest segment: its offset and stored bytes, waiting for its span.
    pending: Option<(usize, Vec<u8>)>,
    /// Bytes joined so far, and the bytes themselves when kept.
    size: usize,
    bytes: Vec<u8>,
}

/// A finished long value: its size, and its bytes when they were kept.
#[derive(Debug)]
pub struct Assembled {
    pub size: usize,
    pub bytes: Vec<u8>,
}

impl Assembly {
    /// Starts the value whose root node has key `key` and data `root_data`.
    pub fn start(key: &[u8], root_data: &[u8], keep: Keep) -> Result<Assembly, LongValueError> {
        let total = le_u32(root_data, 4)
            .map(|s| s as usize)
            .filter(|&total| total <= MAX_LONG_VALUE)
            .ok_or(LongValueError::RootNodeDamaged)?;
        Ok(Assembly {
            key_len: key.len(),
            total,
            keep,
            stored: 0,
            pending: None,
            size: 0,
            bytes: Vec::new(),
        })
    }

    /// Adds the segment with tree key `key` (the value's key + its offset) and data `data`.
    pub fn segment(&mut self, key: &[u8], data: &[u8]) -> Result<(), LongValueError> {
        let offset = key
            .get(self.key_len..)
            .and_then(|o| <[u8; 4]>::try_from(o).ok())
            .map(|o| u32::from_be_bytes(o) as usize)
            .ok_or(LongValueError::SegmentKey(key.len()))?;
        self.stored += data.len();
        if self.stored > MAX_LONG_VALUE {
            return Err(LongValueError::TooLarge);
        }
        if let Some((previous, chunk)) = self.pending.take() {
            self.join(previous, &chunk, offset)?;
        }
        self.pending = Some((offset, data.to_vec()));
        Ok(())
    }

    /// Joins the last segment and checks the size against the root's.
    pub fn finish(mut self) -> Result<Assembled, LongValueError> {
        if let Some((offset, chunk)) = self.pending.take() {
            self.join(offset, &chunk, self.total)?;
        }
        if self.size != self.total {
            return Err(LongValueError::SizeDiffers {
                found: self.size,
                total: self.total,
            });
        }
        Ok(Assembled {
            size: self.size,
            bytes: self.bytes,
        })
    }

    /// Joins the segment at `offset`, which spans up to `end`: decompressed when its stored
    /// size differs from its span.
    fn join(&mut self, offset: usize, chunk: &[u8], end: usize) -> Result<(), LongValueError> {
        if offset != self.size {
            return Err(LongValueError::SegmentOffset {
                offset,
                expected: self.size,
            });
        }
        let span = end.checked_sub(offset).ok_or(LongValueError::OutOfOrder)?;
        if chunk.len() == span {
            self.size += chunk.len();
            if self.keep == Keep::Bytes {
                self.bytes.extend_from_slice(chunk);
            }
        } else {
            let plain = compression::decompress(chunk)?;
            self.size += plain.len();
            if self.keep == Keep::Bytes {
                self.bytes.extend_from_slice(&plain);
            }
        }
        // Checked as it grows: segment keys may run far past the size the root gives, and a
        // few compressed bytes can stand for 64 KiB.
        if self.size > self.total {
            return Err(LongValueError::RunsPast(self.total));
        }
        Ok(())
    }
}

/// Adds the page offset of `root` to a long-value error.
pub fn problem<S: PageSource>(db: &Database<S>, root: u32, message: String) -> Problem {
    Problem::at_offset(
        db.page_offset(root),
        format!("long-value tree {root}: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Xpress data for `n` zero bytes: one literal, then one long match repeating it.
    fn zeros(n: u16) -> Vec<u8> {
        let mut data = vec![3 << 3];
        data.extend_from_slice(&n.to_le_bytes());
        data.extend_from_slice(&(1u32 << 30).to_le_bytes()); // literal, then a match
        data.push(0);
        data.extend_from_slice(&7u16.to_le_bytes()); // offset 1, length: see below
        data.push(15); // nibble: 15 more, then a length byte
        data.push(255); // 255: then a 16-bit length
        data.extend_from_slice(&(n - 1).to_le_bytes());
        data
    }

    const KEY: [u8; 4] = [0, 0, 0, 7];

    fn root(total: u32) -> Vec<u8> {
        [1u32.to_le_bytes(), total.to_le_bytes()].concat()
    }

    fn segment_key(offset: u32) -> Vec<u8> {
        [&KEY[..], &offset.to_be_bytes()].concat()
    }

    /// The value built from `segments` (offset, stored bytes) under a root saying `total`.
    fn assemble(
        total: u32,
        segments: &[(u32, Vec<u8>)],
        keep: Keep,
    ) -> Result<Assembled, LongValueError> {
        let mut value = Assembly::start(&KEY, &root(total), keep)?;
        for (offset, data) in segments {
            value.segment(&segment_key(*offset), data)?;
        }
        value.finish()
    }

    #[test]
    fn segments_past_the_root_size_stop_at_once() {
        assert_eq!(
            compression::decompress(&zeros(60000)).unwrap(),
            vec![0; 60000]
        );
        // A root saying 100 bytes, then compressed segments each standing for 60000: the
        // first already passes the size; before, every segment was expanded.
        let segments: Vec<(u32, Vec<u8>)> = (0..1000).map(|i| (i * 60000, zeros(60000))).collect();
        assert_eq!(
            assemble(100, &segments, Keep::Bytes).unwrap_err(),
            LongValueError::RunsPast(100)
        );
    }

    #[test]
    fn plain_and_compressed_segments_join_in_order_or_size_only() {
        let segments = [
            (0, b"abc".to_vec()),
            (3, zeros(1000)),
            (1003, b"z".to_vec()),
        ];
        let whole = assemble(1004, &segments, Keep::Bytes).unwrap();
        assert_eq!(whole.bytes, [&b"abc"[..], &[0; 1000], b"z"].concat());
        let sized = assemble(1004, &segments, Keep::Size).unwrap();
        assert_eq!((sized.size, sized.bytes.len()), (1004, 0));
    }

    #[test]
    fn gaps_overlaps_bad_keys_and_wrong_sizes_are_named() {
        let gap = [(1, b"ab".to_vec())];
        assert_eq!(
            assemble(3, &gap, Keep::Size).unwrap_err(),
            LongValueError::SegmentOffset {
                offset: 1,
                expected: 0
            }
        );
        assert_eq!(
            assemble(5, &[], Keep::Size).unwrap_err(),
            LongValueError::SizeDiffers { found: 0, total: 5 }
        );
        let mut value = Assembly::start(&KEY, &root(2), Keep::Size).unwrap();
        assert_eq!(
            value.segment(&KEY, b"ab").unwrap_err(),
            LongValueError::SegmentKey(4)
        );
        assert_eq!(
            Assembly::start(&KEY, &[1, 0, 0], Keep::Size).unwrap_err(),
            LongValueError::RootNodeDamaged
        );
    }
}
