//! The columns of a table being written: the types the writer stores, and the id and record
//! place each column gets.

use super::error::WriteError;
use crate::ese::value::ColumnType;

/// Where a record keeps a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Storage {
    Fixed,
    Variable,
    Tagged,
}

impl Storage {
    /// Where the writer keeps a column of `kind`: Bit, Short, Long, Currency and DateTime are
    /// fixed; Binary and Text (up to 255 bytes) variable; Long Binary and Long Text tagged
    /// (large values go to the table's long-value tree). `None` for types it does not write.
    pub fn of(kind: ColumnType) -> Option<Storage> {
        match kind {
            ColumnType::BIT
            | ColumnType::SHORT
            | ColumnType::LONG
            | ColumnType::CURRENCY
            | ColumnType::DATE_TIME => Some(Storage::Fixed),
            ColumnType::BINARY | ColumnType::TEXT => Some(Storage::Variable),
            ColumnType::LONG_BINARY | ColumnType::LONG_TEXT => Some(Storage::Tagged),
            _ => None,
        }
    }
}

/// Longest value of a variable column.
const VARIABLE_MOST: u32 = 255;

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
}

/// A column with the id the record format gives it.
#[derive(Debug, Clone)]
pub struct PlacedColumn {
    pub id: u32,
    pub name: String,
    pub kind: ColumnType,
    pub storage: Storage,
    /// Bytes of a fixed column; the maximum length of a variable one; 0 = unlimited.
    pub size: u32,
    /// Offset of a fixed column's value in the record.
    pub record_offset: Option<u16>,
}

/// Column ids: fixed columns from 1, variable from 128, tagged from 256, each in schema order.
pub fn place_columns(columns: &[Column]) -> Result<Vec<PlacedColumn>, WriteError> {
    let mut next = [1u32, 128, 256];
    let mut offset = 4u32;
    let mut placed = Vec::with_capacity(columns.len());
    for column in columns {
        let storage = Storage::of(column.kind).ok_or_else(|| {
            WriteError::encode(format!(
                "column {}: the writer does not store {} columns",
                column.name,
                column.kind.name()
            ))
        })?;
        let size = match storage {
            Storage::Fixed => column.kind.fixed_size().map_or(0, |n| n as u32),
            Storage::Variable => VARIABLE_MOST,
            Storage::Tagged => 0,
        };
        let slot = &mut next[storage as usize];
        let id = *slot;
        *slot += 1;
        if (storage == Storage::Fixed && id > 127) || (storage == Storage::Variable && id > 255) {
            return Err(WriteError::encode(format!(
                "too many columns of {}'s kind",
                column.name
            )));
        }
        let record_offset = (storage == Storage::Fixed)
            .then(|| {
                u16::try_from(offset).map_err(|_| WriteError::encode("fixed columns too wide"))
            })
            .transpose()?;
        if storage == Storage::Fixed {
            offset += size;
        }
        placed.push(PlacedColumn {
            id,
            name: column.name.clone(),
            kind: column.kind,
            storage,
            size,
            record_offset,
        });
    }
    Ok(placed)
}
