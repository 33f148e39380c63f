//! What the writer is asked to build: tables with typed columns, a Long primary key, unique
//! secondary indexes, and rows given in primary-key order.

/// Column types the writer stores (JET_coltyp numbers in [`ColumnType::coltyp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Bit,
    Short,
    Long,
    /// Currency (a 64-bit integer of 1/10000 units); LongLong has the same storage.
    Currency,
    /// An OLE date (days since 1899-12-30 as a double).
    DateTime,
    /// Up to 255 bytes, stored in the record's variable part.
    Binary,
    /// Up to 255 bytes of code page 1252 text, stored in the variable part.
    Text,
    /// Any length, a tagged column; large values go to the table's long-value tree.
    LongBinary,
    LongText,
}

/// Where a record keeps a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Storage {
    Fixed,
    Variable,
    Tagged,
}

impl ColumnType {
    pub fn coltyp(self) -> u32 {
        match self {
            ColumnType::Bit => 1,
            ColumnType::Short => 3,
            ColumnType::Long => 4,
            ColumnType::Currency => 5,
            ColumnType::DateTime => 8,
            ColumnType::Binary => 9,
            ColumnType::Text => 10,
            ColumnType::LongBinary => 11,
            ColumnType::LongText => 12,
        }
    }

    pub fn storage(self) -> Storage {
        match self {
            ColumnType::Bit
            | ColumnType::Short
            | ColumnType::Long
            | ColumnType::Currency
            | ColumnType::DateTime => Storage::Fixed,
            ColumnType::Binary | ColumnType::Text => Storage::Variable,
            ColumnType::LongBinary | ColumnType::LongText => Storage::Tagged,
        }
    }

    /// Bytes of a fixed column; the maximum length of a variable one; 0 = unlimited.
    pub fn size(self) -> u32 {
        match self {
            ColumnType::Bit => 1,
            ColumnType::Short => 2,
            ColumnType::Long => 4,
            ColumnType::Currency | ColumnType::DateTime => 8,
            ColumnType::Binary | ColumnType::Text => 255,
            ColumnType::LongBinary | ColumnType::LongText => 0,
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, ColumnType::Text | ColumnType::LongText)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bit(bool),
    Short(i16),
    Long(i32),
    Currency(i64),
    DateTime(f64),
    /// Binary, Text (code page 1252 bytes), Long Binary and Long Text.
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
}

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

/// A column with the id the record format gives it.
#[derive(Debug, Clone)]
pub struct PlacedColumn {
    pub id: u32,
    pub name: String,
    pub kind: ColumnType,
    /// Offset of a fixed column's value in the record.
    pub record_offset: Option<u16>,
}

/// Column ids: fixed columns from 1, variable from 128, tagged from 256, each in schema order.
pub fn place_columns(columns: &[Column]) -> Result<Vec<PlacedColumn>, String> {
    let mut next = [1u32, 128, 256];
    let mut offset = 4u32;
    let mut placed = Vec::with_capacity(columns.len());
    for column in columns {
        let storage = column.kind.storage();
        let slot = &mut next[storage as usize];
        let id = *slot;
        *slot += 1;
        if (storage == Storage::Fixed && id > 127) || (storage == Storage::Variable && id > 255) {
            return Err(format!("too many columns of {}'s kind", column.name));
        }
        let record_offset = (storage == Storage::Fixed)
            .then(|| u16::try_from(offset).map_err(|_| "fixed columns too wide".to_owned()))
            .transpose()?;
        if storage == Storage::Fixed {
            offset += column.kind.size();
        }
        placed.push(PlacedColumn {
            id,
            name: column.name.clone(),
            kind: column.kind,
            record_offset,
        });
    }
    Ok(placed)
}
