//! Which indexes sort Unicode text, and whether every value they hold is plain ASCII.
//!
//! ESE stores index keys normalised by the Windows sort routines of the OS that built them
//! (LCMapString); that is why the header records the OS version. A rebuild copies keys as
//! stored, so stamping a newer OS version is only sound where the new OS sorts the values the
//! same. For plain ASCII text every Windows version does; for other text it may not, and the
//! engineer has to hear so.

use evtdoctor_parsers::ese::catalog::{msysobjects, TableReader};
use evtdoctor_parsers::ese::value::{ColumnType, CODEPAGE_UNICODE};
use evtdoctor_parsers::ese::{Catalog, ColumnDef, Database, PageSource, TableDef, Value};
use evtdoctor_parsers::Problem;
use serde::Serialize;
use std::ops::ControlFlow;

/// Index flag: key segments are 4 bytes (flags word, column id word), not 2-byte signed ids.
const EXTENDED_SEGMENTS: i64 = 0x0001_0000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnicodeIndex {
    pub table: String,
    pub index: String,
    /// The Unicode text columns in its key.
    pub columns: Vec<String>,
    /// Values of those columns in the table (NULLs not counted).
    pub values: u64,
    /// How many of them are not plain ASCII.
    pub non_ascii: u64,
}

/// Why the Unicode indexes could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum UnicodeKeysError {
    #[error("catalog layout without index key columns")]
    NoKeyColumns,
    /// A row of the catalog or of a table could not be read.
    #[error("{0}")]
    Unreadable(Problem),
}

/// Every index (primary ones included) with a Unicode text column in its key.
pub fn unicode_indexes<S: PageSource>(
    db: &Database<S>,
    catalog: &Catalog,
) -> Result<Vec<UnicodeIndex>, UnicodeKeysError> {
    let mut found = Vec::new();
    for (table_id, index, column_ids) in index_keys(db)? {
        let Some(table) = catalog.tables.iter().find(|t| t.object_id == table_id) else {
            continue;
        };
        let unicode: Vec<&ColumnDef> = column_ids
            .iter()
            .filter_map(|id| table.columns.iter().find(|c| c.id == *id))
            .filter(|c| is_unicode_text(c))
            .collect();
        if unicode.is_empty() {
            continue;
        }
        let (values, non_ascii) = count_values(db, table, &unicode)?;
        found.push(UnicodeIndex {
            table: table.name.clone(),
            index,
            columns: unicode.iter().map(|c| c.name.clone()).collect(),
            values,
            non_ascii,
        });
    }
    Ok(found)
}

fn is_unicode_text(column: &ColumnDef) -> bool {
    [ColumnType::TEXT, ColumnType::LONG_TEXT].contains(&column.kind)
        && column.codepage == CODEPAGE_UNICODE
}

/// (owning table's object id, index name, key column ids) of every index in the catalog.
fn index_keys<S: PageSource>(
    db: &Database<S>,
) -> Result<Vec<(u32, String, Vec<u32>)>, UnicodeKeysError> {
    let schema = msysobjects();
    let column = |name: &str| schema.columns.iter().position(|c| c.name == name);
    let (Some(owner), Some(kind), Some(flags), Some(name), Some(keys)) = (
        column("ObjidTable"),
        column("Type"),
        column("Flags"),
        column("Name"),
        column("KeyFldIDs"),
    ) else {
        return Err(UnicodeKeysError::NoKeyColumns);
    };
    let mut indexes = Vec::new();
    let mut failure = None;
    TableReader::new(db, &schema).for_each(|row| {
        let row = match row {
            Ok(row) => row,
            Err(problem) => {
                failure = Some(problem);
                return ControlFlow::Break(());
            }
        };
        let int = |i: usize| match row.get(i) {
            Some(Value::Int(v)) => *v,
            Some(Value::UInt(v)) => *v as i64,
            _ => 0,
        };
        if int(kind) == 3 {
            let segments = match row.get(keys) {
                Some(Value::Binary(bytes)) => key_columns(bytes, int(flags)),
                _ => Vec::new(),
            };
            let index_name = match row.get(name) {
                Some(Value::Text(text)) => text.clone(),
                _ => String::new(),
            };
            indexes.push((int(owner) as u32, index_name, segments));
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(problem) => Err(UnicodeKeysError::Unreadable(problem)),
        None => Ok(indexes),
    }
}

/// Column ids of an index key: 4-byte segments (flags, id) with extended segments, else
/// 2-byte signed ids whose sign is the sort direction.
fn key_columns(bytes: &[u8], flags: i64) -> Vec<u32> {
    if flags & EXTENDED_SEGMENTS != 0 {
        bytes
            .chunks_exact(4)
            .map(|s| u32::from(u16::from_le_bytes([s[2], s[3]])))
            .collect()
    } else {
        bytes
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs().into())
            .collect()
    }
}

/// Values of `columns` in `table`, and how many are not plain ASCII.
fn count_values<S: PageSource>(
    db: &Database<S>,
    table: &TableDef,
    columns: &[&ColumnDef],
) -> Result<(u64, u64), UnicodeKeysError> {
    let positions: Vec<usize> = columns
        .iter()
        .filter_map(|c| table.columns.iter().position(|t| t.id == c.id))
        .collect();
    let (mut values, mut non_ascii) = (0u64, 0u64);
    let mut failure = None;
    TableReader::new(db, table).for_each(|row| {
        let row = match row {
            Ok(row) => row,
            Err(problem) => {
                failure = Some(problem);
                return ControlFlow::Break(());
            }
        };
        for value in positions.iter().filter_map(|&i| row.get(i)) {
            let texts: Vec<&String> = match value {
                Value::Text(text) => vec![text],
                Value::Multi(items) => items
                    .iter()
                    .filter_map(|v| match v {
                        Value::Text(text) => Some(text),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for text in texts {
                values += 1;
                non_ascii += u64::from(!text.is_ascii());
            }
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(problem) => Err(UnicodeKeysError::Unreadable(problem)),
        None => Ok((values, non_ascii)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments_in_both_layouts() {
        let extended = [0, 0, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        assert_eq!(key_columns(&extended, 0x1000e), vec![128, 1, 256]);
        let old = [0x80, 0, 0xfe, 0xff]; // +128, -2 (descending)
        assert_eq!(key_columns(&old, 0x0e), vec![128, 2]);
    }
}
