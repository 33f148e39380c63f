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
    let mut size: Option<usize> = None;
    let mut segments: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut stored = 0usize;
    let mut error = None;
    let result = btree::seek(db, root, key, |node_key, node_data| {
        if !node_key.starts_with(key) {
            return ControlFlow::Break(());
        }
        if size.is_none() {
            if node_key.len() != key.len() {
                error = Some(LongValueError::NoRootNode);
                return ControlFlow::Break(());
            }
            match le_u32(node_data, 4).map(|s| s as usize) {
                Some(total) if total <= MAX_LONG_VALUE => size = Some(total),
                _ => {
                    error = Some(LongValueError::RootNodeDamaged);
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        }
        let offset = node_key
            .get(key.len()..)
            .and_then(|o| <[u8; 4]>::try_from(o).ok())
            .map(|o| u32::from_be_bytes(o) as usize);
        let Some(offset) = offset else {
            error = Some(LongValueError::SegmentKey(node_key.len()));
            return ControlFlow::Break(());
        };
        stored += node_data.len();
        if stored > MAX_LONG_VALUE {
            error = Some(LongValueError::TooLarge);
            return ControlFlow::Break(());
        }
        segments.push((offset, node_data.to_vec()));
        ControlFlow::Continue(())
    });
    if let Err(problem) = result {
        return Err(LongValueError::Tree(problem.message));
    }
    if let Some(error) = error {
        return Err(error);
    }
    let total = size.ok_or(LongValueError::NotFound)?;
    assemble(&segments, total)
}

/// Joins the segments, decompressing those whose stored size differs from their span.
fn assemble(segments: &[(usize, Vec<u8>)], total: usize) -> Result<Vec<u8>, LongValueError> {
    let mut value = Vec::with_capacity(total.min(1 << 20));
    for (i, (offset, chunk)) in segments.iter().enumerate() {
        if *offset != value.len() {
            return Err(LongValueError::SegmentOffset {
                offset: *offset,
                expected: value.len(),
            });
        }
        let end = segments.get(i + 1).map_or(total, |(next, _)| *next);
        let span = end.checked_sub(*offset).ok_or(LongValueError::OutOfOrder)?;
        if chunk.len() == span {
            value.extend_from_slice(chunk);
        } else {
            value.extend_from_slice(&compression::decompress(chunk)?);
        }
        // Checked as it grows: segment keys may run far past the size the root gives, and a
        // few compressed bytes can stand for 64 KiB.
        if value.len() > total {
            return Err(LongValueError::RunsPast(total));
        }
    }
    if value.len() != total {
        return Err(LongValueError::SizeDiffers {
            found: value.len(),
            total,
        });
    }
    Ok(value)
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

    #[test]
    fn segments_past_the_root_size_stop_at_once() {
        assert_eq!(
            compression::decompress(&zeros(60000)).unwrap(),
            vec![0; 60000]
        );
        // A root saying 100 bytes, then compressed segments each standing for 60000: the
        // first already passes the size; before, every segment was expanded.
        let segments: Vec<(usize, Vec<u8>)> =
            (0..1000).map(|i| (i * 60000, zeros(60000))).collect();
        assert_eq!(
            assemble(&segments, 100).unwrap_err(),
            LongValueError::RunsPast(100)
        );
    }
}
