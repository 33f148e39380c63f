//! What the writer is asked to build: tables with typed columns, a Long primary key, unique
//! secondary indexes, and rows given in primary-key order.

use evtdoctor_parsers::ese::write::columns::Column;
use evtdoctor_parsers::ese::Value;

/// A unique secondary index over one column (Long, Currency, DateTime, Binary or Text).
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    /// Position of the column in [`Table::columns`].
    pub column: usize,
}

/// One row: its values in column order; `deleted` leaves it in the file flagged deleted.
#[derive(Debug, Clone)]
pub struct Row {
    pub values: Vec<Value>,
    pub deleted: bool,
}

/// Rows of a table in ascending primary-key order. The writer walks them once per tree it
/// builds (table, long values, each index), so a generator need not hold them.
pub trait RowSource {
    fn rows(&self) -> Box<dyn Iterator<Item = Row> + '_>;
}

impl RowSource for Vec<Row> {
    fn rows(&self) -> Box<dyn Iterator<Item = Row> + '_> {
        Box::new(self.iter().cloned())
    }
}

/// A table: the first column is its autoincrement-style Long primary key.
pub struct Table<'a> {
    pub name: String,
    pub primary_index: String,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    pub rows: &'a dyn RowSource,
    /// Pages the table keeps free (listed in its available-extent tree).
    pub spare_pages: u32,
}
