//! A from-scratch ESE database writer: tables given as a schema and rows become a file that
//! ESE readers open (catalog, shadow catalog, tables, long values, secondary indexes, space
//! trees, header). Records, keys, catalog rows and the header are encoded, and trees laid out,
//! by the parser crate's `ese::write`, the same path as the defrag engine; rows are walked
//! once per tree, so memory holds pages being filled and the secondary index keys being
//! sorted, never the rows.
//!
//! Fragmentation on demand, as a database in use would have it: rows flagged deleted stay
//! in place, tables keep spare pages in their available-extent trees, and the database can
//! keep free pages at its end.

pub mod bench;
pub mod kms;
pub mod random;
pub mod tables;

use anyhow::Context;
use evtdoctor_parsers::ese::catalog::DATABASE_ROOT;
use evtdoctor_parsers::ese::page::{FLAG_INDEX, FLAG_LONG_VALUE};
use evtdoctor_parsers::ese::space::Extent;
use evtdoctor_parsers::ese::value::{ColumnType, Value};
use evtdoctor_parsers::ese::write::catalog::{self, CatalogRecord, TableObjects};
use evtdoctor_parsers::ese::write::columns::{place_columns, PlacedColumn, Storage};
use evtdoctor_parsers::ese::write::header::{header_pages, HeaderSpec};
use evtdoctor_parsers::ese::write::layout::{
    write_database_space, write_space, PageAllocator, Runs, TreePlace, TreeWriter,
};
use evtdoctor_parsers::ese::write::tree::Sink;
use evtdoctor_parsers::ese::write::{keys, record, PageFormat, WriteError};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use tables::{Row, Table};

/// Page flag: records use the tagged-column index (ESE98 on) rather than ESE97's linear list.
const NEW_RECORD_FORMAT: u32 = 0x0800;
/// First object id of user trees (2-5 are the catalog's).
const FIRST_USER_OBJECT_ID: u32 = 6;

/// The file as a whole.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub header: HeaderSpec,
    /// Free pages at the end of the file, listed in the database's available-extent tree.
    pub free_pages: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Pages after the two header pages.
    pub pages: u32,
    /// Live records of the user tables.
    pub records: u64,
    /// Records left in place flagged deleted.
    pub deleted: u64,
    /// Separated long values (live and deleted).
    pub long_values: u64,
}

/// Writes a new database file at `path` (which must not exist): the pages where the layout
/// puts them, then the two header pages.
pub fn write_file(path: &Path, spec: &FileSpec, tables: &[Table<'_>]) -> anyhow::Result<Written> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    let page_size = spec.header.page_size as u64;
    let mut out = BufWriter::new(file);
    // Most pages come in ascending order: seek only when one does not follow the last.
    let mut at = 0u64;
    let mut sink = |number: u32, bytes: Vec<u8>| {
        let offset = (u64::from(number) + 1) * page_size;
        let result = if offset == at {
            out.write_all(&bytes)
        } else {
            out.seek(SeekFrom::Start(offset))
                .and_then(|_| out.write_all(&bytes))
        };
        at = offset + bytes.len() as u64;
        result.map_err(|e| WriteError::sink(format!("writing page {number}"), e))
    };
    let (written, headers) = write_database(spec, tables, &mut sink)
        .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()))?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.set_len((u64::from(written.pages) + 2) * page_size)
        .and_then(|()| (&file).seek(SeekFrom::Start(0)).map(drop))
        .and_then(|()| (&file).write_all(&headers))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: writing", path.display()))?;
    Ok(written)
}

/// Sends every page to `sink`; returns what was written and the two header pages.
pub fn write_database(
    spec: &FileSpec,
    tables: &[Table<'_>],
    sink: &mut Sink<'_>,
) -> Result<(Written, Vec<u8>), String> {
    let format = PageFormat {
        page_size: spec.header.page_size,
        ecc: spec.header.revision >= 0x0b,
        common_flags: NEW_RECORD_FORMAT,
        db_time: spec.header.db_time,
    };
    let mut fixed = vec![DATABASE_ROOT, 2, 3];
    for root in [
        catalog::CATALOG_ROOT,
        catalog::NAME_INDEX_ROOT,
        catalog::ROOT_OBJECTS_ROOT,
        catalog::SHADOW_ROOT,
    ] {
        fixed.extend([root, root + 1, root + 2]);
    }
    let mut run = Run {
        format,
        pages: PageAllocator::new(&fixed),
        written: Written::default(),
    };
    let mut next_object_id = FIRST_USER_OBJECT_ID;
    let mut placed_tables = Vec::with_capacity(tables.len());
    for table in tables {
        placed_tables.push(run.write_table(table, &mut next_object_id, sink)?);
    }
    let objects: Vec<TableObjects<'_>> = tables
        .iter()
        .zip(&placed_tables)
        .map(|(table, placed)| placed.objects(table))
        .collect();
    let records = catalog::records(&objects)?;
    run.write_catalog(&records, sink)?;
    let free = match spec.free_pages {
        0 => Vec::new(),
        n => {
            let first = run.pages.next_page()?;
            for _ in 1..n {
                run.pages.next_page()?;
            }
            vec![Extent {
                first,
                last: first + n - 1,
            }]
        }
    };
    write_database_space(format, &run.pages, &free, sink)?;
    run.written.pages = run.pages.last_page();
    Ok((run.written, header_pages(&spec.header, next_object_id - 1)?))
}

struct Run {
    format: PageFormat,
    pages: PageAllocator,
    written: Written,
}

/// Where a user table's trees went.
struct PlacedTable {
    columns: Vec<PlacedColumn>,
    object_id: u32,
    root: u32,
    long_values: Option<(u32, u32)>,
    /// (object id, root) per secondary index.
    indexes: Vec<(u32, u32)>,
}

impl PlacedTable {
    fn objects<'a>(&'a self, table: &'a Table<'_>) -> TableObjects<'a> {
        TableObjects {
            name: &table.name,
            object_id: self.object_id,
            root: self.root,
            columns: &self.columns,
            primary_index: &table.primary_index,
            indexes: table
                .indexes
                .iter()
                .zip(&self.indexes)
                .map(|(index, &(object_id, root))| {
                    let column = self.columns.get(index.column).map_or(0, |c| c.id);
                    (index.name.as_str(), object_id, root, column)
                })
                .collect(),
            long_values: self.long_values,
        }
    }
}

impl Run {
    fn place(
        &mut self,
        object_id: u32,
        tree_flags: u32,
        parent_root: u32,
    ) -> Result<TreePlace, String> {
        Ok(TreePlace {
            object_id,
            tree_flags,
            root: self.pages.next_three()?,
            parent_root,
            use_holes: false,
        })
    }

    /// A table, its long values and its indexes, then their space trees.
    fn write_table(
        &mut self,
        table: &Table<'_>,
        next_object_id: &mut u32,
        sink: &mut Sink<'_>,
    ) -> Result<PlacedTable, String> {
        let columns = place_columns(&table.columns)?;
        if columns.first().map(|c| c.kind) != Some(ColumnType::LONG) {
            return Err(format!(
                "table {}: the first column must be the Long primary key",
                table.name
            ));
        }
        let mut take_id = || {
            let id = *next_object_id;
            *next_object_id += 1;
            id
        };
        let table_place = self.place(take_id(), 0, DATABASE_ROOT)?;
        let has_long_values = columns.iter().any(|c| c.storage == Storage::Tagged);
        let lv_place = if has_long_values {
            Some(self.place(take_id(), FLAG_LONG_VALUE, table_place.root)?)
        } else {
            None
        };
        let mut index_places = Vec::new();
        for _ in &table.indexes {
            index_places.push(self.place(take_id(), FLAG_INDEX, table_place.root)?);
        }
        let mut family = Runs::default();
        let mut owned = self.write_records(table, &columns, table_place, sink)?;
        if let Some(place) = lv_place {
            let runs = self.write_long_values(table, &columns, place, sink)?;
            write_space(self.format, &place, &runs, &[], sink)?;
            family.extend(&runs);
        }
        for (index, place) in table.indexes.iter().zip(&index_places) {
            let runs = self.write_index(table, &columns, index.column, *place, sink)?;
            write_space(self.format, place, &runs, &[], sink)?;
            family.extend(&runs);
        }
        let mut spare = Runs::default();
        for _ in 0..table.spare_pages {
            spare.add(self.pages.next_page()?);
        }
        owned.extend(&family);
        owned.extend(&spare);
        write_space(self.format, &table_place, &owned, &spare.extents(), sink)?;
        Ok(PlacedTable {
            columns,
            object_id: table_place.object_id,
            root: table_place.root,
            long_values: lv_place.map(|p| (p.object_id, p.root)),
            indexes: index_places.iter().map(|p| (p.object_id, p.root)).collect(),
        })
    }

    fn write_records(
        &mut self,
        table: &Table<'_>,
        columns: &[PlacedColumn],
        place: TreePlace,
        sink: &mut Sink<'_>,
    ) -> Result<Runs, String> {
        let mut tree = TreeWriter::new(self.format, place);
        let mut next_lv = 0u32;
        let mut previous: Option<Vec<u8>> = None;
        for row in table.rows.rows() {
            let key = primary_key(&row)?;
            if previous.as_ref().is_some_and(|p| *p >= key) {
                return Err(format!(
                    "table {}: rows are not in ascending primary-key order",
                    table.name
                ));
            }
            let record = record::encode(columns, &row.values, &mut || {
                next_lv += 1;
                next_lv
            })?;
            self.add(&mut tree, &key, &record, row.deleted, sink)?;
            if row.deleted {
                self.written.deleted += 1;
            } else {
                self.written.records += 1;
            }
            previous = Some(key);
        }
        Ok(tree.finish(&mut self.pages, sink)?)
    }

    /// Each separated value: a root node (reference count, size), then its segments keyed by
    /// id and offset (both big-endian). Ids count up in row and column order, as the records
    /// were given them.
    fn write_long_values(
        &mut self,
        table: &Table<'_>,
        columns: &[PlacedColumn],
        place: TreePlace,
        sink: &mut Sink<'_>,
    ) -> Result<Runs, String> {
        let mut tree = TreeWriter::new(self.format, place);
        let mut next_lv = 0u32;
        for row in table.rows.rows() {
            for (column, value) in columns.iter().zip(&row.values) {
                let Value::Binary(bytes) = value else {
                    continue;
                };
                if !record::is_separated(column, value) {
                    continue;
                }
                next_lv += 1;
                let id = next_lv.to_be_bytes();
                let size = u32::try_from(bytes.len()).map_err(|_| "long value over 4 GiB")?;
                let mut root = 1u32.to_le_bytes().to_vec();
                root.extend_from_slice(&size.to_le_bytes());
                self.add(&mut tree, &id, &root, row.deleted, sink)?;
                let chunk_size = long_value_chunk(self.format.page_size);
                for (i, chunk) in bytes.chunks(chunk_size).enumerate() {
                    let mut key = id.to_vec();
                    key.extend_from_slice(&((i * chunk_size) as u32).to_be_bytes());
                    self.add(&mut tree, &key, chunk, row.deleted, sink)?;
                }
                self.written.long_values += 1;
            }
        }
        Ok(tree.finish(&mut self.pages, sink)?)
    }

    /// A unique secondary index: key = the column's normalised value, data = the primary key.
    /// Rows without a value get no entry. Keys that already ascend with the rows stream
    /// straight into the tree; otherwise they are sorted in memory first.
    fn write_index(
        &mut self,
        table: &Table<'_>,
        columns: &[PlacedColumn],
        column: usize,
        place: TreePlace,
        sink: &mut Sink<'_>,
    ) -> Result<Runs, String> {
        let kind = columns
            .get(column)
            .map(|c| c.kind)
            .ok_or("index on a missing column")?;
        let entries = || {
            table.rows.rows().filter_map(move |row| {
                let value = row.values.get(column).unwrap_or(&Value::Null);
                match index_key(kind, value) {
                    Ok(None) => None,
                    Ok(Some(key)) => Some(primary_key(&row).map(|p| (key, p, row.deleted))),
                    Err(message) => Some(Err(message)),
                }
            })
        };
        let mut previous: Option<Vec<u8>> = None;
        let mut ascending = true;
        for entry in entries() {
            let (key, _, _) = entry?;
            if previous.as_ref().is_some_and(|p| *p >= key) {
                ascending = false;
                break;
            }
            previous = Some(key);
        }
        let mut tree = TreeWriter::new(self.format, place);
        if ascending {
            for entry in entries() {
                let (key, primary, deleted) = entry?;
                self.add(&mut tree, &key, &primary, deleted, sink)?;
            }
            return Ok(tree.finish(&mut self.pages, sink)?);
        }
        let mut sorted = entries().collect::<Result<Vec<_>, _>>()?;
        sorted.sort();
        if let Some(pair) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "table {}: duplicate key {} in a unique index",
                table.name,
                hex::encode(&pair[0].0)
            ));
        }
        for (key, primary, deleted) in sorted {
            self.add(&mut tree, &key, &primary, deleted, sink)?;
        }
        Ok(tree.finish(&mut self.pages, sink)?)
    }

    fn add(
        &mut self,
        tree: &mut TreeWriter,
        key: &[u8],
        data: &[u8],
        deleted: bool,
        sink: &mut Sink<'_>,
    ) -> Result<(), String> {
        if deleted {
            Ok(tree.add_deleted(key, data, &mut self.pages, sink)?)
        } else {
            Ok(tree.add(key, data, &mut self.pages, sink)?)
        }
    }

    /// MSysObjects with its Name and RootObjects indexes, then the shadow copy, at the roots
    /// ESE fixes; the catalog takes the pages between them first.
    fn write_catalog(
        &mut self,
        records: &[CatalogRecord],
        sink: &mut Sink<'_>,
    ) -> Result<(), String> {
        let fixed_place = |object_id, tree_flags, root, parent_root| TreePlace {
            object_id,
            tree_flags,
            root,
            parent_root,
            use_holes: true,
        };
        let catalog = fixed_place(
            catalog::CATALOG_OBJECT_ID,
            0,
            catalog::CATALOG_ROOT,
            DATABASE_ROOT,
        );
        let mut owned = self.write_tree(
            catalog,
            records.iter().map(|r| (r.key.clone(), r.record.clone())),
            sink,
        )?;
        let mut names: Vec<(Vec<u8>, Vec<u8>)> = records
            .iter()
            .map(|r| (r.name_key.clone(), r.key.clone()))
            .collect();
        names.sort();
        let mut roots: Vec<(Vec<u8>, Vec<u8>)> = records
            .iter()
            .filter_map(|r| r.root_object_key.clone().map(|k| (k, r.key.clone())))
            .collect();
        roots.sort();
        for (object_id, root, entries) in [
            (
                catalog::NAME_INDEX_OBJECT_ID,
                catalog::NAME_INDEX_ROOT,
                names,
            ),
            (
                catalog::ROOT_OBJECTS_OBJECT_ID,
                catalog::ROOT_OBJECTS_ROOT,
                roots,
            ),
        ] {
            let place = fixed_place(object_id, FLAG_INDEX, root, catalog::CATALOG_ROOT);
            let runs = self.write_tree(place, entries.into_iter(), sink)?;
            write_space(self.format, &place, &runs, &[], sink)?;
            owned.extend(&runs);
        }
        write_space(self.format, &catalog, &owned, &[], sink)?;
        let shadow = fixed_place(
            catalog::SHADOW_OBJECT_ID,
            0,
            catalog::SHADOW_ROOT,
            DATABASE_ROOT,
        );
        let runs = self.write_tree(
            shadow,
            records.iter().map(|r| (r.key.clone(), r.record.clone())),
            sink,
        )?;
        Ok(write_space(self.format, &shadow, &runs, &[], sink)?)
    }

    fn write_tree(
        &mut self,
        place: TreePlace,
        entries: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
        sink: &mut Sink<'_>,
    ) -> Result<Runs, String> {
        let mut tree = TreeWriter::new(self.format, place);
        for (key, data) in entries {
            tree.add(&key, &data, &mut self.pages, sink)?;
        }
        Ok(tree.finish(&mut self.pages, sink)?)
    }
}

/// Bytes of one long-value segment: three quarters of a page, so a segment and its key fit
/// one page with room to spare.
fn long_value_chunk(page_size: usize) -> usize {
    page_size / 4 * 3
}

/// The primary key: the first column, a Long.
fn primary_key(row: &Row) -> Result<Vec<u8>, String> {
    match row.values.first() {
        Some(&Value::Int(id)) => Ok(keys::long(as_long(id)?)),
        other => Err(format!("primary key must be a Long, not {other:?}")),
    }
}

/// The normalised key of an indexed value; `None` for NULL (no entry).
fn index_key(kind: ColumnType, value: &Value) -> Result<Option<Vec<u8>>, String> {
    let key = match (kind, value) {
        (_, Value::Null) => return Ok(None),
        (ColumnType::LONG, &Value::Int(v)) => keys::long(as_long(v)?),
        (ColumnType::CURRENCY, Value::Int(v)) => keys::long_long(*v),
        (ColumnType::DATE_TIME, Value::DateTime(v)) => keys::date_time(*v),
        (ColumnType::BINARY, Value::Binary(b)) if !b.is_empty() => keys::binary(b),
        (ColumnType::TEXT, Value::Binary(b)) if !b.is_empty() => keys::text(b),
        (kind, value) => {
            return Err(format!(
                "cannot index {value:?} of a {} column",
                kind.name()
            ))
        }
    };
    if key.len() > keys::KEY_MOST {
        return Err(format!(
            "index key of {} bytes is longer than {}",
            key.len(),
            keys::KEY_MOST
        ));
    }
    Ok(Some(key))
}

/// A Long column's value: an `Int` in the 32-bit range.
fn as_long(value: i64) -> Result<i32, String> {
    i32::try_from(value).map_err(|_| format!("{value} is out of a Long column's range"))
}
