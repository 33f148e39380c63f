//! The catalog from scratch: MSysObjects records describing itself, its shadow and every
//! user table (its columns, primary and secondary indexes and long-value tree), keyed by
//! (ObjidTable, Type, Id) as ESE keys them, with the catalog's two secondary indexes: Name
//! (ObjidTable, Type, Name) and RootObjects (RootFlag, Name, tables only). Index key columns
//! (KeyFldIDs) use the format's original 2-byte column ids.

use super::columns::{place_columns, Column, PlacedColumn};
use super::error::WriteError;
use super::keys;
use super::record::encode;
use crate::ese::value::{ColumnType, Value};

pub use crate::ese::catalog::{CATALOG_OBJECT_ID, CATALOG_ROOT, SHADOW_OBJECT_ID, SHADOW_ROOT};
use crate::ese::catalog::{TYPE_COLUMN, TYPE_INDEX, TYPE_LONG_VALUE, TYPE_TABLE};

/// The catalog's two secondary indexes: object ids and the root pages ESE fixes for them.
pub const NAME_INDEX_OBJECT_ID: u32 = 4;
pub const ROOT_OBJECTS_OBJECT_ID: u32 = 5;
pub const NAME_INDEX_ROOT: u32 = 7;
pub const ROOT_OBJECTS_ROOT: u32 = 10;

/// Catalog flags: a system table; column NOT NULL / autoincrement; index unique, no NULL
/// segment, primary.
const TABLE_SYSTEM: i32 = 0xc000_0000_u32 as i32;
const COLUMN_NOT_NULL: i32 = 0x1;
const COLUMN_AUTOINCREMENT: i32 = 0x4;
const INDEX_UNIQUE_NO_NULLS: i32 = 0x11;
const INDEX_PRIMARY: i32 = 0x20;
const INDEX_UNIQUE_SOME_NULLS: i32 = 0x09;
/// Table density (percent) and the locale and LCMapString flags of indexes (en-US, case
/// and width insensitive), as ESE records them.
const DENSITY: i32 = 80;
const LOCALE_EN_US: i32 = 1033;
const LC_MAP_FLAGS: i32 = 0x0003_0401;
const CODE_PAGE_1252: i32 = 1252;

/// One user table as the catalog names it.
pub struct TableObjects<'a> {
    pub name: &'a str,
    pub object_id: u32,
    pub root: u32,
    pub columns: &'a [PlacedColumn],
    pub primary_index: &'a str,
    /// (name, object id, root, column ids) of each secondary index.
    pub indexes: Vec<(&'a str, u32, u32, u32)>,
    /// (object id, root) of the long-value tree.
    pub long_values: Option<(u32, u32)>,
}

/// A catalog record with its keys.
pub struct CatalogRecord {
    pub key: Vec<u8>,
    pub record: Vec<u8>,
    pub name_key: Vec<u8>,
    /// Only tables are root objects.
    pub root_object_key: Option<Vec<u8>>,
}

/// MSysObjects' own columns (ids 1-10, 128-134, 256-257).
fn catalog_columns() -> Vec<Column> {
    let columns: [(&str, ColumnType); 19] = [
        ("ObjidTable", ColumnType::LONG),
        ("Type", ColumnType::SHORT),
        ("Id", ColumnType::LONG),
        ("ColtypOrPgnoFDP", ColumnType::LONG),
        ("SpaceUsage", ColumnType::LONG),
        ("Flags", ColumnType::LONG),
        ("PagesOrLocale", ColumnType::LONG),
        ("RootFlag", ColumnType::BIT),
        ("RecordOffset", ColumnType::SHORT),
        ("LCMapFlags", ColumnType::LONG),
        ("Name", ColumnType::TEXT),
        ("Stats", ColumnType::BINARY),
        ("TemplateTable", ColumnType::TEXT),
        ("DefaultValue", ColumnType::BINARY),
        ("KeyFldIDs", ColumnType::BINARY),
        ("VarSegMac", ColumnType::BINARY),
        ("ConditionalColumns", ColumnType::BINARY),
        ("CallbackData", ColumnType::LONG_BINARY),
        ("CallbackDependencies", ColumnType::LONG_BINARY),
    ];
    columns
        .iter()
        .map(|&(name, kind)| Column {
            name: name.to_owned(),
            kind,
        })
        .collect()
}

/// Catalog columns stored NOT NULL.
const NOT_NULL: [&str; 8] = [
    "ObjidTable",
    "Type",
    "Id",
    "ColtypOrPgnoFDP",
    "SpaceUsage",
    "Flags",
    "PagesOrLocale",
    "Name",
];

/// The fields of one catalog record that vary.
#[derive(Default)]
struct Fields<'a> {
    owner: u32,
    kind: i16,
    id: u32,
    coltyp_or_root: u32,
    space_usage: i32,
    flags: i32,
    pages_or_locale: i32,
    root_flag: bool,
    record_offset: Option<u16>,
    lc_map_flags: Option<i32>,
    name: &'a str,
    key_columns: Option<Vec<u8>>,
}

/// Every catalog record, in key order.
pub fn records(tables: &[TableObjects<'_>]) -> Result<Vec<CatalogRecord>, WriteError> {
    let schema = place_columns(&catalog_columns())?;
    let mut all = Vec::new();
    for (owner, root, name, pages, indexes) in [
        (CATALOG_OBJECT_ID, CATALOG_ROOT, "MSysObjects", 20, true),
        (SHADOW_OBJECT_ID, SHADOW_ROOT, "MSysObjectsShadow", 5, false),
    ] {
        let id_index = key_columns(&[1, 2, 3]);
        all.push(table_fields(owner, root, name, pages, TABLE_SYSTEM));
        all.extend(schema.iter().map(|c| {
            let mut fields = column_fields(owner, c, 1252);
            if NOT_NULL.contains(&c.name.as_str()) {
                fields.flags = COLUMN_NOT_NULL;
            }
            fields
        }));
        all.push(index_fields(
            owner,
            owner,
            root,
            "Id",
            INDEX_UNIQUE_NO_NULLS | INDEX_PRIMARY,
            id_index,
        ));
        if indexes {
            all.push(index_fields(
                owner,
                NAME_INDEX_OBJECT_ID,
                NAME_INDEX_ROOT,
                "Name",
                INDEX_UNIQUE_NO_NULLS,
                key_columns(&[1, 2, 128]),
            ));
            all.push(index_fields(
                owner,
                ROOT_OBJECTS_OBJECT_ID,
                ROOT_OBJECTS_ROOT,
                "RootObjects",
                INDEX_UNIQUE_SOME_NULLS,
                key_columns(&[8, 128]),
            ));
        }
    }
    for table in tables {
        all.push(table_fields(table.object_id, table.root, table.name, 1, 0));
        for (i, column) in table.columns.iter().enumerate() {
            let code_page = if column.kind.is_text() {
                CODE_PAGE_1252
            } else {
                0
            };
            let mut fields = column_fields(table.object_id, column, code_page);
            if i == 0 {
                fields.flags = COLUMN_NOT_NULL | COLUMN_AUTOINCREMENT;
            }
            all.push(fields);
        }
        let primary = key_columns(&[table.columns.first().map_or(1, |c| c.id)]);
        all.push(index_fields(
            table.object_id,
            table.object_id,
            table.root,
            table.primary_index,
            INDEX_UNIQUE_NO_NULLS | INDEX_PRIMARY,
            primary,
        ));
        for &(name, object_id, root, column) in &table.indexes {
            all.push(index_fields(
                table.object_id,
                object_id,
                root,
                name,
                INDEX_UNIQUE_NO_NULLS,
                key_columns(&[column]),
            ));
        }
        if let Some((object_id, root)) = table.long_values {
            all.push(Fields {
                owner: table.object_id,
                kind: TYPE_LONG_VALUE,
                id: object_id,
                coltyp_or_root: root,
                space_usage: 100,
                pages_or_locale: 1,
                name: "LV",
                ..Fields::default()
            });
        }
    }
    let mut records = all
        .iter()
        .map(|fields| catalog_record(&schema, fields))
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(records)
}

fn table_fields(owner: u32, root: u32, name: &str, pages: i32, flags: i32) -> Fields<'_> {
    Fields {
        owner,
        kind: TYPE_TABLE,
        id: owner,
        coltyp_or_root: root,
        space_usage: DENSITY,
        flags,
        pages_or_locale: pages,
        root_flag: true,
        name,
        ..Fields::default()
    }
}

fn column_fields(owner: u32, column: &PlacedColumn, code_page: i32) -> Fields<'_> {
    Fields {
        owner,
        kind: TYPE_COLUMN,
        id: column.id,
        coltyp_or_root: column.kind.0,
        space_usage: column.size as i32,
        pages_or_locale: code_page,
        record_offset: column.record_offset,
        name: &column.name,
        ..Fields::default()
    }
}

fn index_fields(
    owner: u32,
    id: u32,
    root: u32,
    name: &str,
    flags: i32,
    columns: Vec<u8>,
) -> Fields<'_> {
    Fields {
        owner,
        kind: TYPE_INDEX,
        id,
        coltyp_or_root: root,
        space_usage: DENSITY,
        flags,
        pages_or_locale: LOCALE_EN_US,
        lc_map_flags: Some(LC_MAP_FLAGS),
        name,
        key_columns: Some(columns),
        ..Fields::default()
    }
}

/// Key columns as the format's 2-byte column ids (negative would mean descending).
fn key_columns(ids: &[u32]) -> Vec<u8> {
    ids.iter()
        .flat_map(|&id| (id as u16).to_le_bytes())
        .collect()
}

fn catalog_record(schema: &[PlacedColumn], f: &Fields<'_>) -> Result<CatalogRecord, WriteError> {
    let long = |v: i32| Value::Int(i64::from(v));
    let optional = |v: Option<Value>| v.unwrap_or(Value::Null);
    let mut values = vec![
        long(f.owner as i32),
        Value::Int(i64::from(f.kind)),
        long(f.id as i32),
        long(f.coltyp_or_root as i32),
        long(f.space_usage),
        long(f.flags),
        long(f.pages_or_locale),
        optional(f.root_flag.then_some(Value::Bool(true))),
        optional(f.record_offset.map(|o| Value::Int(i64::from(o as i16)))),
        optional(f.lc_map_flags.map(long)),
        Value::Binary(f.name.as_bytes().to_vec()),
        Value::Null,
        Value::Null,
        Value::Null,
        optional(f.key_columns.clone().map(Value::Binary)),
    ];
    values.resize(schema.len(), Value::Null);
    let record = encode(schema, &values, &mut || 0)?;
    let mut key = keys::long(f.owner as i32);
    key.extend(keys::short(f.kind));
    key.extend(keys::long(f.id as i32));
    let mut name_key = keys::long(f.owner as i32);
    name_key.extend(keys::short(f.kind));
    name_key.extend(keys::text(f.name.as_bytes()));
    let root_object_key = f.root_flag.then(|| {
        let mut k = keys::bit(true);
        k.extend(keys::text(f.name.as_bytes()));
        k
    });
    Ok(CatalogRecord {
        key,
        record,
        name_key,
        root_object_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_records_are_sorted_and_their_names_unique() {
        let columns = place_columns(&[Column {
            name: "Id".into(),
            kind: ColumnType::LONG,
        }])
        .unwrap();
        let table = TableObjects {
            name: "Users",
            object_id: 6,
            root: 27,
            columns: &columns,
            primary_index: "Primary",
            indexes: vec![("ById", 8, 33, 1)],
            long_values: Some((7, 30)),
        };
        let records = records(&[table]).unwrap();
        // Catalog and shadow: table, 19 columns, Id index; the catalog's Name and
        // RootObjects; Users: table, column, two indexes, long values.
        assert_eq!(records.len(), 2 * 21 + 2 + 5);
        assert!(records.windows(2).all(|w| w[0].key < w[1].key));
        let mut names: Vec<&[u8]> = records.iter().map(|r| r.name_key.as_slice()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), records.len());
        let roots = records
            .iter()
            .filter(|r| r.root_object_key.is_some())
            .count();
        assert_eq!(roots, 3);
        let first = &records[0];
        assert_eq!(
            first.key,
            [0x7f, 0x80, 0, 0, 2, 0x7f, 0x80, 1, 0x7f, 0x80, 0, 0, 2]
        );
        assert_eq!(first.name_key[8..], *b"\x7fMSYSOBJECTS\0");
    }
}
