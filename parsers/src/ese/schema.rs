//! What the catalog says a table is: its columns, indexes and long-value tree. A leaf module:
//! the catalog reader builds these, and the record decoder reads records by them.

use super::value::ColumnType;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDef {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Bytes for fixed binary/text columns, maximum length otherwise (0 = none).
    pub size: u32,
    pub flags: u32,
    pub codepage: u32,
    /// Inherited from the table's template table.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_template: bool,
    /// What a record that does not store the column reads as.
    #[serde(skip_serializing_if = "Option::is_none", with = "hex_bytes")]
    pub default: Option<Vec<u8>>,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }
}

impl ColumnDef {
    /// Bytes the column takes in the fixed part of a record.
    pub fn fixed_size(&self) -> usize {
        self.kind.fixed_size().unwrap_or(self.size as usize)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexDef {
    pub name: String,
    pub object_id: u32,
    pub root_page: u32,
}

/// A table's long-value tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LongValueTree {
    pub object_id: u32,
    pub root_page: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableDef {
    pub name: String,
    pub object_id: u32,
    pub root_page: u32,
    pub columns: Vec<ColumnDef>,
    pub indexes: Vec<IndexDef>,
    pub long_values: Option<LongValueTree>,
    pub template: Option<String>,
}
