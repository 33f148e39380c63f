//! Tables ESE has deleted but not yet cleaned up: the catalog rows are flagged deleted, and
//! the tree's pages stay owned until the engine's background cleanup frees them. That is a
//! normal state of a live database, not damage; a compaction copies only the live tables.

use super::btree::{self, TreeEvent};
use super::catalog::{
    msysobjects, CATALOG_ROOT, COL_COLTYP_OR_PGNO_FDP, COL_ID, COL_NAME, COL_TYPE, TYPE_TABLE,
};
use super::database::Database;
use super::page::NODE_DELETED;
use super::record::{self, Layout, RecordFormat, Stored};
use super::{le_u16, le_u32, PageSource};
use std::ops::ControlFlow;

/// A table whose catalog row is flagged deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeletedTable {
    pub name: String,
    pub object_id: u32,
    pub root_page: u32,
}

/// The tables of the catalog whose rows are flagged deleted, in catalog order.
pub fn deleted_tables<S: PageSource>(db: &Database<S>) -> Vec<DeletedTable> {
    let mut schema = msysobjects();
    schema.columns.truncate(COL_NAME + 1);
    let (layout, format) = (Layout::new(&schema), RecordFormat::of(&db.header));
    let mut found = Vec::new();
    btree::walk(db, CATALOG_ROOT, |event| {
        let TreeEvent::Entry { data, flags, .. } = event else {
            return ControlFlow::Continue(());
        };
        if flags & NODE_DELETED == 0 {
            return ControlFlow::Continue(());
        }
        let Ok(stored) = record::decode(data, &schema, &layout, format) else {
            return ControlFlow::Continue(());
        };
        let bytes = |column: usize| match stored.get(column) {
            Some(Stored::Bytes(bytes)) => *bytes,
            _ => &[],
        };
        let kind = le_u16(bytes(COL_TYPE), 0).map(|t| t as i16);
        let ids = (
            le_u32(bytes(COL_ID), 0),
            le_u32(bytes(COL_COLTYP_OR_PGNO_FDP), 0),
        );
        if let (Some(TYPE_TABLE), (Some(object_id), Some(root_page))) = (kind, ids) {
            found.push(DeletedTable {
                name: String::from_utf8_lossy(bytes(COL_NAME)).into_owned(),
                object_id,
                root_page,
            });
        }
        ControlFlow::Continue(())
    });
    found
}
