//! The writer's key normalisation, proven against real ESE: for every corpus database, each
//! index whose key columns are of a type the writer normalises (Bit, Short, Long, Currency,
//! LongLong, DateTime, Binary, code-page text) is read back, and the key we compute from each
//! row's values must equal the key ESE stored for that row. The catalog's own indexes (Id,
//! Name, RootObjects) give thousands of Long, Short, Bit and text keys; the corpus tables give
//! the rest.

use crate::common;
use common::Need;

use common::corpus_files;
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::catalog::{msysobjects, Catalog, TableReader};
use evtdoctor_parsers::ese::page::NODE_DELETED;
use evtdoctor_parsers::ese::value::Value;
use evtdoctor_parsers::ese::write::keys;
use evtdoctor_parsers::ese::Database;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::ControlFlow;

/// Positions in [`msysobjects`] order.
const OBJID_TABLE: usize = 0;
const TYPE: usize = 1;
const FLAGS: usize = 5;
const NAME: usize = 12;
const KEY_FLD_IDS: usize = 16;
const TYPE_INDEX: i64 = 3;
const UNICODE: u32 = 1200;

/// Our normalised segment of one value, `None` when the writer does not normalise it.
fn segment(coltyp: u32, codepage: u32, value: &Value) -> Option<Vec<u8>> {
    Some(match (coltyp, value) {
        (1, Value::Bool(b)) => keys::bit(*b),
        (3, Value::Int(v)) => keys::short(*v as i16),
        (4, Value::Int(v)) => keys::long(*v as i32),
        (5 | 15, Value::Int(v)) => keys::long_long(*v),
        (8, Value::DateTime(days)) => keys::date_time(*days),
        (8, Value::FileTime(ticks)) => keys::date_time(f64::from_bits(*ticks as u64)),
        (9, Value::Binary(b)) if !b.is_empty() => keys::binary(b),
        (10, Value::Text(t)) if codepage != UNICODE && t.is_ascii() && !t.is_empty() => {
            keys::text(t.as_bytes())
        }
        _ => return None,
    })
}

/// (name, key column ids) of each index of each table, from the raw catalog records.
fn index_columns(db: &Database<File>) -> BTreeMap<(u32, String), Vec<u32>> {
    let schema = msysobjects();
    let mut indexes = BTreeMap::new();
    TableReader::new(db, &schema).for_each(|row| {
        let row = row.unwrap();
        let int = |i: usize| match &row[i] {
            Value::Int(v) => *v,
            _ => 0,
        };
        if int(TYPE) != TYPE_INDEX {
            return ControlFlow::Continue(());
        }
        let (Value::Text(name), Value::Binary(fields)) = (&row[NAME], &row[KEY_FLD_IDS]) else {
            return ControlFlow::Continue(());
        };
        // 4-byte segments (flags, column id) when the index says so, else 2-byte column ids
        // (negative: descending).
        let extended = (int(FLAGS) >> 16) & 1 == 1;
        let columns: Option<Vec<u32>> = if extended {
            fields
                .chunks(4)
                .map(|c| {
                    (c[0] == 0 && c[1] == 0).then(|| u32::from(u16::from_le_bytes([c[2], c[3]])))
                })
                .collect()
        } else {
            fields
                .chunks(2)
                .map(|c| u32::try_from(i16::from_le_bytes([c[0], c[1]])).ok())
                .collect()
        };
        if let Some(columns) = columns {
            indexes.insert((int(OBJID_TABLE) as u32, name.clone()), columns);
        }
        ControlFlow::Continue(())
    });
    indexes
}

/// Live entries of a tree as (key, data).
fn entries(db: &Database<File>, root: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    btree::walk(db, root, |event| {
        match event {
            TreeEvent::Entry {
                key, data, flags, ..
            } if flags & NODE_DELETED == 0 => out.push((key.into_owned(), data.to_vec())),
            TreeEvent::Problem(p) => panic!("{p}"),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    out
}

#[derive(Default, Debug)]
struct Proven {
    keys: usize,
    by_type: BTreeMap<u32, usize>,
    too_long: usize,
}

#[test]
fn normalised_keys_equal_the_keys_ese_stored() {
    common::needs!(Need::Corpus);
    let mut proven = Proven::default();
    for path in corpus_files("ese", &[".edb", ".dat", ".mdb", ".db"]) {
        let db = Database::open(File::open(&path).unwrap()).unwrap();
        let (catalog, problems) = Catalog::read(&db);
        if !problems.is_empty() {
            continue; // the dirty database: its catalog is mid-update
        }
        let indexes = index_columns(&db);
        let mut tables = catalog.tables.clone();
        if let Some(t) = tables.iter_mut().find(|t| t.name == "MSysObjects") {
            t.columns = msysobjects().columns;
        }
        for table in &tables {
            let mut rows = Vec::new();
            TableReader::new(&db, table).for_each(|row| {
                rows.push(row.unwrap());
                ControlFlow::Continue(())
            });
            let records = entries(&db, table.root_page);
            assert_eq!(records.len(), rows.len(), "{}", table.name);
            for index in &table.indexes {
                let Some(columns) = indexes.get(&(table.object_id, index.name.clone())) else {
                    continue;
                };
                let positions: Option<Vec<usize>> = columns
                    .iter()
                    .map(|id| table.columns.iter().position(|c| c.id == *id))
                    .collect();
                let Some(positions) = positions else { continue };
                let primary = index.root_page == table.root_page;
                let stored: BTreeMap<Vec<u8>, Vec<u8>> = if primary {
                    BTreeMap::new()
                } else {
                    entries(&db, index.root_page)
                        .into_iter()
                        .map(|(k, d)| (d, k))
                        .collect()
                };
                for (row, (record_key, _)) in rows.iter().zip(&records) {
                    let mut ours = Vec::new();
                    for &at in &positions {
                        let column = &table.columns[at];
                        match segment(column.kind.0, column.codepage, &row[at]) {
                            Some(s) => ours.extend(s),
                            None => {
                                ours.clear();
                                break;
                            }
                        }
                    }
                    if ours.is_empty() {
                        continue;
                    }
                    if ours.len() >= keys::KEY_MOST {
                        proven.too_long += 1;
                        continue;
                    }
                    let theirs = if primary {
                        record_key
                    } else {
                        stored.get(record_key).unwrap_or_else(|| {
                            panic!("{}: {} has no entry for a row", path.display(), index.name)
                        })
                    };
                    assert_eq!(
                        hex::encode(&ours),
                        hex::encode(theirs),
                        "{} {}.{}",
                        path.display(),
                        table.name,
                        index.name
                    );
                    proven.keys += 1;
                    for &at in &positions {
                        *proven.by_type.entry(table.columns[at].kind.0).or_default() += 1;
                    }
                }
            }
        }
    }
    eprintln!("{proven:?}");
    assert_eq!(proven.keys, 220_484, "{proven:?}");
    assert_eq!(proven.too_long, 0);
    // Key segments proven, by JET column type: Bit, Short, Long, Currency, DateTime, Binary,
    // Text, LongLong.
    let by_type: Vec<(u32, usize)> = proven.by_type.into_iter().collect();
    assert_eq!(
        by_type,
        [
            (1, 76),
            (3, 199_804),
            (4, 359_888),
            (5, 1),
            (8, 12_727),
            (9, 80),
            (10, 66_677),
            (15, 1)
        ]
    );
}
