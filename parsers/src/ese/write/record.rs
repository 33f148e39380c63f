//! Encoding one record: a 4-byte header (last fixed id, last variable id, offset of the
//! variable-offset array), fixed values in id order and their NULL bitmap, variable-column
//! end offsets (bit 15 = NULL) and data, then the tagged columns as (id, offset) pairs and
//! values. Long Text / Long Binary values carry a header byte: 0x01 (a long value kept in
//! the record) or 0x05 (separated into the long-value tree, followed by its 4-byte id).

use super::columns::{PlacedColumn, Storage};
use super::error::WriteError;
use crate::ese::value::{ColumnType, Value};

/// Long values above this go to the long-value tree; smaller ones stay in the record.
pub const INTRINSIC_MOST: usize = 1024;
/// Tagged-offset word bit: the value starts with a header byte.
const HAS_HEADER: u16 = 0x4000;
const OFFSET_MASK: usize = 0x1fff;
const HEADER_LONG_VALUE: u8 = 0x01;
const HEADER_SEPARATED: u8 = 0x04;

/// Whether a column's value is separated into the long-value tree.
pub fn is_separated(column: &PlacedColumn, value: &Value) -> bool {
    column.storage == Storage::Tagged
        && matches!(value, Value::Binary(b) if b.len() > INTRINSIC_MOST)
}

/// The bytes a column stores for `value` (little-endian numbers). Bit takes `Bool`; Short,
/// Long and Currency take `Int` in their range; DateTime an OLE date; Binary, Text and their
/// Long forms take `Binary` (text as its code page 1252 bytes).
pub fn column_bytes(column: &PlacedColumn, value: &Value) -> Result<Option<Vec<u8>>, WriteError> {
    let out_of_range =
        || WriteError::encode(format!("column {}: {value:?} is out of range", column.name));
    let bytes = match (column.kind, value) {
        (_, Value::Null) => return Ok(None),
        (ColumnType::BIT, Value::Bool(v)) => vec![if *v { 0xff } else { 0 }],
        (ColumnType::SHORT, &Value::Int(v)) => i16::try_from(v)
            .map_err(|_| out_of_range())?
            .to_le_bytes()
            .to_vec(),
        (ColumnType::LONG, &Value::Int(v)) => i32::try_from(v)
            .map_err(|_| out_of_range())?
            .to_le_bytes()
            .to_vec(),
        (ColumnType::CURRENCY, Value::Int(v)) => v.to_le_bytes().to_vec(),
        (ColumnType::DATE_TIME, Value::DateTime(v)) => v.to_le_bytes().to_vec(),
        (_, Value::Binary(b)) if column.storage != Storage::Fixed => b.clone(),
        (kind, value) => {
            return Err(WriteError::encode(format!(
                "column {}: {value:?} is not a {}",
                column.name,
                kind.name()
            )))
        }
    };
    if column.storage == Storage::Variable && bytes.len() > column.size as usize {
        return Err(WriteError::encode(format!(
            "column {}: {} bytes, more than {}",
            column.name,
            bytes.len(),
            column.size
        )));
    }
    Ok(Some(bytes))
}

/// The record for `values` (in `columns` order). `next_long_value` gives the id of each
/// separated value, in column order.
pub fn encode(
    columns: &[PlacedColumn],
    values: &[Value],
    next_long_value: &mut dyn FnMut() -> u32,
) -> Result<Vec<u8>, WriteError> {
    if values.len() != columns.len() {
        return Err(WriteError::encode(format!(
            "{} values for {} columns",
            values.len(),
            columns.len()
        )));
    }
    let mut fixed = Vec::new();
    let mut variable = Vec::new();
    let mut tagged = Vec::new();
    for (column, value) in columns.iter().zip(values) {
        match column.storage {
            Storage::Fixed => fixed.push((column, column_bytes(column, value)?)),
            Storage::Variable => variable.push((column.id, column_bytes(column, value)?)),
            Storage::Tagged => {
                if let Some(bytes) = column_bytes(column, value)? {
                    let mut stored = Vec::with_capacity(5);
                    if is_separated(column, value) {
                        stored.push(HEADER_LONG_VALUE | HEADER_SEPARATED);
                        stored.extend_from_slice(&next_long_value().to_le_bytes());
                    } else {
                        stored.push(HEADER_LONG_VALUE);
                        stored.extend_from_slice(&bytes);
                    }
                    tagged.push((column.id, stored));
                }
            }
        }
    }
    // Variable columns are stored up to the last one with a value.
    while variable.last().is_some_and(|(_, v)| v.is_none()) {
        variable.pop();
    }
    let last_fixed = fixed.last().map_or(0, |(c, _)| c.id);
    let last_variable = variable.last().map_or(127, |(id, _)| *id);
    let mut record = vec![last_fixed as u8, last_variable as u8, 0, 0];
    let mut bitmap = vec![0u8; (last_fixed as usize).div_ceil(8)];
    for (i, (column, bytes)) in fixed.iter().enumerate() {
        match bytes {
            Some(bytes) => record.extend_from_slice(bytes),
            None => {
                record.resize(record.len() + column.size as usize, 0);
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
    }
    record.extend_from_slice(&bitmap);
    let offsets_at =
        u16::try_from(record.len()).map_err(|_| WriteError::encode("fixed part too long"))?;
    record[2..4].copy_from_slice(&offsets_at.to_le_bytes());
    let mut data = Vec::new();
    for (_, bytes) in &variable {
        let word = match bytes {
            Some(bytes) => {
                data.extend_from_slice(bytes);
                end_offset(data.len())?
            }
            None => end_offset(data.len())? | 0x8000,
        };
        record.extend_from_slice(&word.to_le_bytes());
    }
    record.extend_from_slice(&data);
    let mut offset = tagged.len() * 4;
    for (id, stored) in &tagged {
        let at = u16::try_from(offset)
            .ok()
            .filter(|&o| usize::from(o) <= OFFSET_MASK);
        let at =
            at.ok_or_else(|| WriteError::encode("tagged columns longer than a record can index"))?;
        record.extend_from_slice(&(*id as u16).to_le_bytes());
        record.extend_from_slice(&(at | HAS_HEADER).to_le_bytes());
        offset += stored.len();
    }
    for (_, stored) in tagged {
        record.extend_from_slice(&stored);
    }
    Ok(record)
}

fn end_offset(len: usize) -> Result<u16, WriteError> {
    u16::try_from(len)
        .ok()
        .filter(|&n| n < 0x8000)
        .ok_or_else(|| WriteError::encode("variable columns longer than a record"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::catalog::{ColumnDef, TableDef};
    use crate::ese::record::{decode, Layout, RecordFormat, Stored};
    use crate::ese::write::columns::{place_columns, Column};

    /// The reader decodes what the writer encodes: NULLs in every part, an intrinsic and a
    /// separated long value.
    #[test]
    fn records_decode_with_the_reader() {
        let spec = [
            ("Id", ColumnType::LONG),
            ("Fee", ColumnType::CURRENCY),
            ("When", ColumnType::DATE_TIME),
            ("Serial", ColumnType::BINARY),
            ("Note", ColumnType::TEXT),
            ("Blob", ColumnType::LONG_BINARY),
            ("Memo", ColumnType::LONG_TEXT),
        ];
        let columns: Vec<Column> = spec
            .iter()
            .map(|&(name, kind)| Column {
                name: name.into(),
                kind,
            })
            .collect();
        let placed = place_columns(&columns).unwrap();
        let ids: Vec<u32> = placed.iter().map(|c| c.id).collect();
        assert_eq!(ids, [1, 2, 3, 128, 129, 256, 257]);
        let big = vec![7u8; INTRINSIC_MOST + 1];
        let values = [
            Value::Int(-5),
            Value::Null,
            Value::DateTime(37_000.5),
            Value::Null,
            Value::Binary(b"note".to_vec()),
            Value::Binary(big.clone()),
            Value::Binary(b"short memo".to_vec()),
        ];
        let record = encode(&placed, &values, &mut || 42).unwrap();
        let table = TableDef {
            name: "T".into(),
            object_id: 6,
            root_page: 27,
            columns: placed
                .iter()
                .map(|c| ColumnDef {
                    id: c.id,
                    name: c.name.clone(),
                    kind: c.kind,
                    size: c.size,
                    flags: 0,
                    codepage: 1252,
                    from_template: false,
                    default: None,
                })
                .collect(),
            indexes: Vec::new(),
            long_values: None,
            template: None,
        };
        let format = RecordFormat {
            large_pages: false,
            linear_tags: false,
        };
        let stored = decode(&record, &table, &Layout::new(&table), format).unwrap();
        assert_eq!(
            stored,
            [
                Stored::Bytes(&(-5i32).to_le_bytes()),
                Stored::Null,
                Stored::Bytes(&37_000.5f64.to_le_bytes()),
                Stored::Null,
                Stored::Bytes(b"note"),
                Stored::LongValue(&42u32.to_le_bytes()),
                Stored::Bytes(b"short memo"),
            ]
        );
        assert!(encode(&placed, &values[..2], &mut || 0).is_err());
        let wrong = [Value::Binary(vec![1]), Value::Null, Value::Null];
        assert!(encode(&placed[..3], &wrong, &mut || 0).is_err());
    }
}
