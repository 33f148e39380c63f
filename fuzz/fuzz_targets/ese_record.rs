//! ESE record decoding on arbitrary bytes: fixed, variable and tagged columns (both tagged
//! layouts), multi-values, compression and long-value ids, then typed values as text.
//! Byte 0 picks the format and the table; the rest is the record.
#![no_main]

use evtdoctor_parsers::ese::catalog::{msysobjects, ColumnDef, TableDef};
use evtdoctor_parsers::ese::record::{self, Layout, RecordFormat, Stored};
use evtdoctor_parsers::ese::value::ColumnType;
use evtdoctor_parsers::ese::{compression, Value};
use libfuzzer_sys::fuzz_target;

/// A table with a fixed, a variable and a tagged column of every column type, half of the
/// text columns in UTF-16.
fn every_type() -> TableDef {
    let mut table = msysobjects();
    table.name = "EveryType".into();
    table.columns.clear();
    for kind in 1..=18u32 {
        for (first_id, codepage) in [(1, 1252), (128, 1200), (256, 1252)] {
            table.columns.push(ColumnDef {
                id: first_id + kind - 1,
                name: format!("c{first_id}_{kind}"),
                kind: ColumnType(kind),
                size: 4,
                flags: 0,
                codepage,
                from_template: false,
                default: None,
            });
        }
    }
    table.columns.sort_by_key(|c| c.id);
    table
}

fn show(stored: &Stored<'_>, column: &ColumnDef) {
    match stored {
        Stored::Bytes(bytes) => drop(Value::decode(column.kind, column.codepage, bytes).display()),
        Stored::Compressed(bytes) => {
            if let Ok(plain) = compression::decompress(bytes) {
                drop(Value::decode(column.kind, column.codepage, &plain).display());
            }
        }
        Stored::LongValue(id) => drop(record::long_value_key(id)),
        Stored::Multi(values) => values.iter().for_each(|v| show(v, column)),
        Stored::Null | Stored::Absent => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, record)) = data.split_first() else {
        return;
    };
    let format = RecordFormat {
        large_pages: control & 1 != 0,
        linear_tags: control & 2 != 0,
    };
    let table = if control & 4 != 0 {
        every_type()
    } else {
        msysobjects()
    };
    let layout = Layout::new(&table);
    if let Ok(stored) = record::decode(record, &table, &layout, format) {
        for (value, column) in stored.iter().zip(&table.columns) {
            show(value, column);
        }
    }
});
