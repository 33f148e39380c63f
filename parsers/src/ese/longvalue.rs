//! Separated long values: each table's long values live in their own B-tree. The key of a
//! value's root node is its id in big-endian order (data: reference count, total size); its
//! data follows in segments keyed by id + big-endian byte offset.

use super::btree;
use super::database::Database;
use super::le_u32;
use super::PageSource;
use crate::Problem;
use std::ops::ControlFlow;

/// Long values above this are refused as damage (output would not fit in memory).
pub const MAX_LONG_VALUE: usize = 256 * 1024 * 1024;

/// Reassembles the long value whose tree key is `key` from the tree at `root`.
pub fn read<S: PageSource>(db: &Database<S>, root: u32, key: &[u8]) -> Result<Vec<u8>, String> {
    let mut size: Option<usize> = None;
    let mut data = Vec::new();
    let mut error = None;
    let result = btree::seek(db, root, key, |node_key, node_data| {
        if !node_key.starts_with(key) {
            return ControlFlow::Break(());
        }
        let Some(total) = size else {
            if node_key.len() != key.len() {
                error = Some("long value has no root node".to_owned());
                return ControlFlow::Break(());
            }
            let total = le_u32(node_data, 4).map(|s| s as usize);
            match total {
                Some(total) if total <= MAX_LONG_VALUE => {
                    size = Some(total);
                    data.reserve(total.min(1 << 20));
                    return ControlFlow::Continue(());
                }
                _ => {
                    error = Some("long value root node is damaged".to_owned());
                    return ControlFlow::Break(());
                }
            }
        };
        let offset = node_key
            .get(key.len()..)
            .and_then(|o| o.try_into().ok())
            .map(|o: [u8; 4]| u32::from_be_bytes(o) as usize);
        if offset != Some(data.len()) {
            error = Some(format!(
                "long value segment at offset {offset:?}, expected {}",
                data.len()
            ));
            return ControlFlow::Break(());
        }
        let take = node_data.len().min(total - data.len());
        data.extend_from_slice(&node_data[..take]);
        if data.len() >= total {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Err(problem) = result {
        return Err(problem.message);
    }
    if let Some(error) = error {
        return Err(error);
    }
    match size {
        None => Err("long value not found".into()),
        Some(total) if data.len() < total => Err(format!(
            "long value cut short: {} of {total} bytes",
            data.len()
        )),
        Some(_) => Ok(data),
    }
}

/// Adds the page offset of `root` to a long-value error.
pub fn problem<S: PageSource>(db: &Database<S>, root: u32, message: String) -> Problem {
    Problem::at_offset(
        db.page_offset(root),
        format!("long-value tree {root}: {message}"),
    )
}
