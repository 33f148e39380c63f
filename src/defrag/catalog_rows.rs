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

/// Old and new root page of every tree, by object id.
#[derive(Debug, Default)]
pub struct RootMap(HashMap<u32, (u32, u32)>);

impl RootMap {
    pub fn insert(&mut self, object_id: u32, old_root: u32, new_root: u32) {
        self.0.insert(object_id, (old_root, new_root));
    }

    /// The record with its root page replaced; other record types unchanged. Fails when the
    /// record's root is not the one the tree walk used (the catalog and trees disagree).
    pub fn patch(&self, record: &[u8]) -> Result<Vec<u8>, String> {
        // The Type column is a signed 16-bit value.
        let Some(kind) = le_u16(record, TYPE_AT).map(|bits| bits as i16) else {
            return Err("catalog record shorter than its fixed columns".into());
        };
        if ![TYPE_TABLE, TYPE_INDEX, TYPE_LONG_VALUE].contains(&kind) {
            return Ok(record.to_vec());
        }
        let (Some(id), Some(stored)) = (le_u32(record, ID_AT), le_u32(record, PGNO_AT)) else {
            return Err("catalog record shorter than its fixed columns".into());
        };
        let (old, new) = self
            .0
            .get(&id)
            .copied()
            .ok_or_else(|| format!("catalog object {id} (type {kind}) has no rebuilt tree"))?;
        if stored != old {
            return Err(format!(
                "catalog object {id} names root page {stored}, its tree was read at {old}"
            ));
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
        assert_eq!(map.patch(&record(1, 7, 40)), Ok(record(1, 7, 31)));
        assert_eq!(
            map.patch(&record(2, 7, 9)),
            Ok(record(2, 7, 9)),
            "columns keep coltyp"
        );
        assert!(map
            .patch(&record(3, 7, 41))
            .unwrap_err()
            .contains("root page 41"));
        assert!(map
            .patch(&record(4, 8, 40))
            .unwrap_err()
            .contains("no rebuilt tree"));
        assert!(map.patch(&[1, 2, 3]).is_err());
    }
}
