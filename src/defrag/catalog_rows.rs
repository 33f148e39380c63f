//! Catalog records name the root page (FDP) of every table, index and long-value tree; the
//! rebuilt file moves those roots, so the records are copied with that one field changed.
//! Everything else, the key included, stays as stored.

use evtdoctor_parsers::ese::catalog::{TYPE_INDEX, TYPE_LONG_VALUE, TYPE_TABLE};
use evtdoctor_parsers::le::{le_u16, le_u32};
use std::collections::HashMap;

/// Fixed columns of an MSysObjects record after its 4-byte record header: ObjidTable (4),
/// Type (2), Id (4), then ColtypOrPgnoFDP (4).
const TYPE_AT: usize = 8;
const ID_AT: usize = 10;
const PGNO_AT: usize = 14;

/// Why a catalog record could not be given its tree's new root.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("catalog record shorter than its fixed columns")]
    Short,
    #[error("catalog object {id} (type {kind}) has no rebuilt tree")]
    NoTree { id: u32, kind: i16 },
    /// The catalog and the trees disagree.
    #[error("catalog object {id} names root page {stored}, its tree was read at {old}")]
    OtherRoot { id: u32, stored: u32, old: u32 },
}

/// Old and new root page of every tree, by object id.
#[derive(Debug, Default)]
pub struct RootMap(HashMap<u32, (u32, u32)>);

impl RootMap {
    pub fn insert(&mut self, object_id: u32, old_root: u32, new_root: u32) {
        self.0.insert(object_id, (old_root, new_root));
    }

    /// The record with its root page replaced; other record types unchanged. Fails when the
    /// record's root is not the one the tree walk used (the catalog and trees disagree).
    pub fn patch(&self, record: &[u8]) -> Result<Vec<u8>, PatchError> {
        // The Type column is a signed 16-bit value.
        let Some(kind) = le_u16(record, TYPE_AT).map(|bits| bits as i16) else {
            return Err(PatchError::Short);
        };
        if ![TYPE_TABLE, TYPE_INDEX, TYPE_LONG_VALUE].contains(&kind) {
            return Ok(record.to_vec());
        }
        let (Some(id), Some(stored)) = (le_u32(record, ID_AT), le_u32(record, PGNO_AT)) else {
            return Err(PatchError::Short);
        };
        let (old, new) = self
            .0
            .get(&id)
            .copied()
            .ok_or(PatchError::NoTree { id, kind })?;
        if stored != old {
            return Err(PatchError::OtherRoot { id, stored, old });
        }
        let mut patched = record.to_vec();
        patched[PGNO_AT..PGNO_AT + 4].copy_from_slice(&new.to_le_bytes());
        Ok(patched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: i16, id: u32, pgno: u32) -> Vec<u8> {
        let mut r = vec![12, 0x80, 0, 0, 2, 0, 0, 0];
        r.extend_from_slice(&kind.to_le_bytes());
        r.extend_from_slice(&id.to_le_bytes());
        r.extend_from_slice(&pgno.to_le_bytes());
        r.extend_from_slice(b"rest");
        r
    }

    #[test]
    fn roots_are_replaced_and_columns_kept() {
        let mut map = RootMap::default();
        map.insert(7, 40, 31);
        assert_eq!(map.patch(&record(1, 7, 40)).unwrap(), record(1, 7, 31));
        assert_eq!(
            map.patch(&record(2, 7, 9)).unwrap(),
            record(2, 7, 9),
            "columns keep coltyp"
        );
        let other_root = map.patch(&record(3, 7, 41)).unwrap_err();
        assert_eq!(
            other_root.to_string(),
            "catalog object 7 names root page 41, its tree was read at 40"
        );
        assert!(matches!(
            map.patch(&record(4, 8, 40)),
            Err(PatchError::NoTree { id: 8, kind: 4 })
        ));
        assert!(matches!(map.patch(&[1, 2, 3]), Err(PatchError::Short)));
    }
}
