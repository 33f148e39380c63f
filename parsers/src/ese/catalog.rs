//! The catalog (MSysObjects, rooted at page 4): every table, column, index and long-value
//! tree, and the reader that turns a table's records into typed values.

use super::btree::{self, TreeEvent};
use super::compression;
use super::database::Database;
use super::longvalue::{self, LongValueError};
use super::longvalue_index::LongValueIndex;
use super::page::NODE_DELETED;
use super::record::{self, Stored};
pub use super::schema::{ColumnDef, IndexDef, LongValueTree, TableDef};
use super::value::{ColumnType, Value};
use super::PageSource;
use crate::Problem;
use serde::Serialize;
use std::ops::ControlFlow;

/// Objects and pages ESE fixes: the database's own (space) tree, MSysObjects and its shadow.
pub const DATABASE_ROOT: u32 = 1;
pub const DATABASE_OBJECT_ID: u32 = 1;
pub const CATALOG_ROOT: u32 = 4;
pub const CATALOG_OBJECT_ID: u32 = 2;
pub const SHADOW_ROOT: u32 = 24;
pub const SHADOW_OBJECT_ID: u32 = 3;

/// Positions of the MSysObjects columns used here, in [`msysobjects`] order.
const COL_OBJID_TABLE: usize = 0;
pub(crate) const COL_TYPE: usize = 1;
pub(crate) const COL_ID: usize = 2;
/// Column type for columns; root page for tables, indexes and long-value trees.
pub(crate) const COL_COLTYP_OR_PGNO_FDP: usize = 3;
const COL_SPACE_USAGE: usize = 4;
const COL_FLAGS: usize = 5;
/// Code page for columns.
const COL_PAGES_OR_LOCALE: usize = 6;
pub(crate) const COL_NAME: usize = 12;
const COL_TEMPLATE_TABLE: usize = 14;
const COL_DEFAULT_VALUE: usize = 15;

/// Catalog record types (the Type column, a signed 16-bit value).
pub const TYPE_TABLE: i16 = 1;
pub const TYPE_COLUMN: i16 = 2;
pub const TYPE_INDEX: i16 = 3;
pub const TYPE_LONG_VALUE: i16 = 4;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    pub tables: Vec<TableDef>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Reads MSysObjects. Damaged catalog records become problems; the rest is kept.
    pub fn read<S: PageSource>(db: &Database<S>) -> (Catalog, Vec<Problem>) {
        // Only the columns read below are decoded (the fixed ones and the first variable ones
        // up to DefaultValue); the catalog of a wide table has a record per column.
        let mut schema = msysobjects();
        schema.columns.truncate(COL_DEFAULT_VALUE + 1);
        let mut tables: Vec<TableDef> = Vec::new();
        let mut problems = Vec::new();
        let mut catalog_lv = None;
        TableReader::new(db, &schema).for_each(|row| {
            let values = match row {
                Ok(values) => values,
                Err(problem) => {
                    problems.push(problem);
                    return ControlFlow::Continue(());
                }
            };
            let int = |i: usize| match values.get(i) {
                Some(Value::Int(v)) => *v,
                Some(Value::UInt(v)) => *v as i64,
                _ => 0,
            };
            let text = |i: usize| match values.get(i) {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            };
            let owner = int(COL_OBJID_TABLE) as u32;
            let long_value_tree = || LongValueTree {
                object_id: int(COL_ID) as u32,
                root_page: int(COL_COLTYP_OR_PGNO_FDP) as u32,
            };
            let name = text(COL_NAME).unwrap_or_default();
            let kind = i16::try_from(int(COL_TYPE)).unwrap_or(0);
            match kind {
                TYPE_TABLE => tables.push(TableDef {
                    name,
                    object_id: int(COL_ID) as u32,
                    root_page: int(COL_COLTYP_OR_PGNO_FDP) as u32,
                    columns: Vec::new(),
                    indexes: Vec::new(),
                    long_values: None,
                    template: text(COL_TEMPLATE_TABLE).filter(|t| !t.is_empty()),
                }),
                _ => {
                    let Some(table) = tables.iter_mut().rev().find(|t| t.object_id == owner) else {
                        if kind == TYPE_LONG_VALUE && owner == CATALOG_OBJECT_ID {
                            catalog_lv = Some(long_value_tree());
                        }
                        return ControlFlow::Continue(());
                    };
                    match kind {
                        TYPE_COLUMN => table.columns.push(ColumnDef {
                            id: int(COL_ID) as u32,
                            name,
                            kind: ColumnType(int(COL_COLTYP_OR_PGNO_FDP) as u32),
                            size: int(COL_SPACE_USAGE) as u32,
                            flags: int(COL_FLAGS) as u32,
                            codepage: int(COL_PAGES_OR_LOCALE) as u32,
                            from_template: false,
                            default: match values.get(COL_DEFAULT_VALUE) {
                                Some(Value::Binary(bytes)) => Some(bytes.clone()),
                                _ => None,
                            },
                        }),
                        TYPE_INDEX => table.indexes.push(IndexDef {
                            name,
                            object_id: int(COL_ID) as u32,
                            root_page: int(COL_COLTYP_OR_PGNO_FDP) as u32,
                        }),
                        TYPE_LONG_VALUE => table.long_values = Some(long_value_tree()),
                        _ => {}
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(lv) = catalog_lv {
            for table in tables
                .iter_mut()
                .filter(|t| t.object_id == CATALOG_OBJECT_ID)
            {
                table.long_values = Some(lv);
            }
        }
        inherit_template_columns(&mut tables);
        (Catalog { tables }, problems)
    }
}

/// A derived table stores its template's columns too; decode them as its own.
fn inherit_template_columns(tables: &mut [TableDef]) {
    for i in 0..tables.len() {
        let Some(template) = tables[i].template.clone() else {
            continue;
        };
        let mut inherited = tables
            .iter()
            .find(|t| t.name == template)
            .map(|t| t.columns.clone())
            .unwrap_or_default();
        for column in &mut inherited {
            column.from_template = true;
        }
        let own = std::mem::take(&mut tables[i].columns);
        tables[i].columns = inherited;
        tables[i].columns.extend(own);
    }
}

/// MSysObjects describes itself only partly, so its layout is built in (ESE cat.cxx).
pub fn msysobjects() -> TableDef {
    let fixed: [(&str, u32); 12] = [
        ("ObjidTable", 4),
        ("Type", 3),
        ("Id", 4),
        ("ColtypOrPgnoFDP", 4),
        ("SpaceUsage", 4),
        ("Flags", 4),
        ("PagesOrLocale", 4),
        ("RootFlag", 1),
        ("RecordOffset", 3),
        ("LCMapFlags", 4),
        ("KeyMost", 17),
        ("LVChunkMax", 4),
    ];
    let variable: [(&str, u32); 10] = [
        ("Name", 10),
        ("Stats", 9),
        ("TemplateTable", 10),
        ("DefaultValue", 9),
        ("KeyFldIDs", 9),
        ("VarSegMac", 9),
        ("ConditionalColumns", 9),
        ("TupleLimits", 9),
        ("Version", 9),
        ("SortID", 9),
    ];
    let tagged = [
        "CallbackData",
        "CallbackDependencies",
        "SeparateLV",
        "SpaceHints",
        "SpaceDeferredLVHints",
        "LocaleName",
    ];
    let column = |id: u32, name: &str, kind: u32| ColumnDef {
        id,
        name: name.to_owned(),
        kind: ColumnType(kind),
        size: 0,
        flags: 0,
        codepage: 1252,
        default: None,
        from_template: false,
    };
    let mut columns: Vec<ColumnDef> = Vec::new();
    columns.extend((1..).zip(fixed).map(|(id, (n, k))| column(id, n, k)));
    columns.extend((128..).zip(variable).map(|(id, (n, k))| column(id, n, k)));
    columns.extend((256..).zip(tagged).map(|(id, n)| column(id, n, 11)));
    TableDef {
        name: "MSysObjects".into(),
        object_id: CATALOG_OBJECT_ID,
        root_page: CATALOG_ROOT,
        columns,
        indexes: Vec::new(),
        long_values: None,
        template: None,
    }
}

/// Reads a table's records in primary-key order as typed values, one row per record.
pub struct TableReader<'a, S> {
    db: &'a Database<S>,
    table: &'a TableDef,
    layout: record::Layout,
    format: record::RecordFormat,
    /// The table's long values, checked by a walk of their tree: references found there are
    /// not sought again (see [`check_row`](Self::check_row)).
    long_values: Option<&'a LongValueIndex>,
}

/// Where a record is: its page, and its number in the table (from 1, in key order), which
/// problems name.
#[derive(Debug, Clone, Copy)]
struct RowAt {
    page: u32,
    record: u64,
}

impl<'a, S: PageSource> TableReader<'a, S> {
    pub fn new(db: &'a Database<S>, table: &'a TableDef) -> Self {
        TableReader {
            db,
            table,
            layout: record::Layout::new(table),
            format: record::RecordFormat::of(&db.header),
            long_values: None,
        }
    }

    /// The reader for a check, which looks long values up in `long_values` first.
    pub fn checking(mut self, long_values: Option<&'a LongValueIndex>) -> Self {
        self.long_values = long_values;
        self
    }

    /// Calls `visit` with each row (or the problem that cost a record or a page).
    pub fn for_each(&self, mut visit: impl FnMut(Result<Vec<Value>, Problem>) -> ControlFlow<()>) {
        let mut record = 0u64;
        btree::walk(self.db, self.table.root_page, |event| match event {
            TreeEvent::Entry {
                page, data, flags, ..
            } => {
                if flags & NODE_DELETED != 0 {
                    return ControlFlow::Continue(());
                }
                record += 1;
                visit(self.row(page.number, record, data))
            }
            TreeEvent::Problem(problem) => visit(Err(problem)),
            TreeEvent::Page { .. } => ControlFlow::Continue(()),
        });
    }

    /// Decodes the live record `data` found on `page`, the `record`th of the table (from 1),
    /// long values and compression resolved; a problem names the table, page and record.
    pub fn row(&self, page: u32, record: u64, data: &[u8]) -> Result<Vec<Value>, Problem> {
        let at = RowAt { page, record };
        let stored = record::decode(data, self.table, &self.layout, self.format)
            .map_err(|e| self.problem(at, e.to_string()))?;
        let mut long_value_bytes = 0;
        stored
            .into_iter()
            .zip(&self.table.columns)
            .map(|(s, column)| self.typed(s, column, at, &mut long_value_bytes))
            .collect()
    }

    fn problem(&self, at: RowAt, message: String) -> Problem {
        Problem::at_offset(
            self.db.page_offset(at.page),
            format!(
                "page {}: table {}, record {}: {message}",
                at.page, self.table.name, at.record
            ),
        )
    }

    /// `long_value_bytes` counts the long-value bytes the row has read so far: a damaged
    /// record may name one big long value thousands of times.
    fn typed(
        &self,
        stored: Stored<'_>,
        column: &ColumnDef,
        at: RowAt,
        long_value_bytes: &mut usize,
    ) -> Result<Value, Problem> {
        let decode = |bytes: &[u8]| Value::decode(column.kind, column.codepage, bytes);
        Ok(match stored {
            Stored::Null => Value::Null,
            Stored::Absent => match &column.default {
                Some(bytes) => decode(bytes),
                None => Value::Null,
            },
            Stored::Bytes(bytes) => decode(bytes),
            Stored::Compressed(bytes) => decode(&self.decompress(bytes, column, at)?),
            Stored::LongValue(id) => {
                let value = self.long_value(id, column, at)?;
                self.count_long_value(value.len(), column, at, long_value_bytes)?;
                decode(&value)
            }
            Stored::Multi(values) => Value::Multi(
                values
                    .into_iter()
                    .map(|v| self.typed(v, column, at, long_value_bytes))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn column_problem(&self, column: &ColumnDef, at: RowAt, message: String) -> Problem {
        self.problem(at, format!("column {}: {message}", column.name))
    }

    fn decompress(&self, bytes: &[u8], column: &ColumnDef, at: RowAt) -> Result<Vec<u8>, Problem> {
        compression::decompress(bytes).map_err(|e| self.column_problem(column, at, e.to_string()))
    }

    /// Checks the live record `data` as [`row`](Self::row) decodes it, without building its
    /// values (decoding a stored value cannot fail): the same problem, or none. A long value
    /// the walk of its tree checked is looked up, not sought and read again.
    pub fn check_row(&self, page: u32, record: u64, data: &[u8]) -> Result<(), Problem> {
        let at = RowAt { page, record };
        let stored = record::decode(data, self.table, &self.layout, self.format)
            .map_err(|e| self.problem(at, e.to_string()))?;
        let mut long_value_bytes = 0;
        for (stored, column) in stored.into_iter().zip(&self.table.columns) {
            self.check_stored(stored, column, at, &mut long_value_bytes)?;
        }
        Ok(())
    }

    fn check_stored(
        &self,
        stored: Stored<'_>,
        column: &ColumnDef,
        at: RowAt,
        long_value_bytes: &mut usize,
    ) -> Result<(), Problem> {
        match stored {
            Stored::Null | Stored::Absent | Stored::Bytes(_) => {}
            Stored::Compressed(bytes) => {
                self.decompress(bytes, column, at)?;
            }
            Stored::LongValue(id) => {
                let (root, key) = self.long_value_key(id, column, at)?;
                let size = match self.long_values.and_then(|index| index.size(&key)) {
                    Some(size) => size,
                    None => longvalue::read(self.db, root, &key).map(|value| value.len()),
                };
                let size = size.map_err(|e| self.long_value_problem(root, e, column, at))?;
                self.count_long_value(size, column, at, long_value_bytes)?;
            }
            Stored::Multi(values) => {
                for value in values {
                    self.check_stored(value, column, at, long_value_bytes)?;
                }
            }
        }
        Ok(())
    }

    /// Adds a long value's `size` to the row's total, refused past the limit.
    fn count_long_value(
        &self,
        size: usize,
        column: &ColumnDef,
        at: RowAt,
        long_value_bytes: &mut usize,
    ) -> Result<(), Problem> {
        *long_value_bytes += size;
        if *long_value_bytes > longvalue::MAX_LONG_VALUE {
            let message = "the row's long values exceed the size limit".to_owned();
            return Err(self.column_problem(column, at, message));
        }
        Ok(())
    }

    /// The long-value tree's root and the tree key of the value whose id is `id`.
    fn long_value_key(
        &self,
        id: &[u8],
        column: &ColumnDef,
        at: RowAt,
    ) -> Result<(u32, Vec<u8>), Problem> {
        let root = self.table.long_values.map(|t| t.root_page).ok_or_else(|| {
            self.column_problem(column, at, "long value but no long-value tree".into())
        })?;
        let key = record::long_value_key(id).ok_or_else(|| {
            self.column_problem(column, at, format!("long-value id of {} bytes", id.len()))
        })?;
        Ok((root, key))
    }

    fn long_value(&self, id: &[u8], column: &ColumnDef, at: RowAt) -> Result<Vec<u8>, Problem> {
        let (root, key) = self.long_value_key(id, column, at)?;
        longvalue::read(self.db, root, &key)
            .map_err(|e| self.long_value_problem(root, e, column, at))
    }

    fn long_value_problem(
        &self,
        root: u32,
        error: LongValueError,
        column: &ColumnDef,
        at: RowAt,
    ) -> Problem {
        longvalue::problem(
            self.db,
            root,
            format!(
                "{error} (table {}, record {}, column {})",
                self.table.name, at.record, column.name
            ),
        )
    }
}
