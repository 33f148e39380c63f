//! A big database for the defrag benchmark (issue #8), grown from a real one: the records of
//! the SRUM file's largest table are written again and again, each copy under its own key
//! prefix, into a new tree appended to the file, and the catalog is pointed at it. The records
//! stay the real ones, so `db defrag` copies and verifies real data. Not run by default (it
//! writes a file of the size asked for):
//!
//! `EVTDOCTOR_BIG_DB=/path/big.dat EVTDOCTOR_BIG_DB_MIB=1024 cargo test --release --test
//! ese_defrag_big -- --ignored`, then `scripts/bench-defrag.sh /path/big.dat`.

use crate::common;

use common::{corpus_dir, evtdoctor};
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::catalog::CATALOG_ROOT;
use evtdoctor_parsers::ese::checksum::{set_page_checksums, uses_ecc};
use evtdoctor_parsers::ese::page::{FLAG_INDEX, FLAG_LONG_VALUE, NODE_DELETED};
use evtdoctor_parsers::ese::write::space::space_header;
use evtdoctor_parsers::ese::write::{PageFormat, TreeBuilder, WriteError};
use evtdoctor_parsers::ese::{Catalog, Database};
use evtdoctor_parsers::le::le_u32;
use serde_json::Value as Json;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;

const SRUM: &str = "srum_win10_2004_goese_4k.dat";
const BIG_TABLE: &str = "{5C8CF1C7-7257-4F13-B223-970EF5939312}";
/// Catalog record fields (after the 4-byte record header): Type at 8, Id at 10, root at 14.
const TYPE_AT: usize = 8;
const ID_AT: usize = 10;
const ROOT_AT: usize = 14;

#[test]
#[ignore = "writes a big file; run by hand for the benchmark"]
fn grown_database_defragments_and_verifies() {
    let path = std::env::var("EVTDOCTOR_BIG_DB").expect("EVTDOCTOR_BIG_DB=path of the file");
    let mib: u64 = std::env::var("EVTDOCTOR_BIG_DB_MIB")
        .map(|v| v.parse().expect("a number of MiB"))
        .unwrap_or(1024);
    let source = std::fs::read(corpus_dir().join("ese").join(SRUM)).unwrap();
    let db = Database::open(source.clone()).unwrap();
    let page_size = db.page_size();
    let (catalog, _) = Catalog::read(&db);
    let table = catalog.table(BIG_TABLE).unwrap();
    let mut records = Vec::new();
    let mut tree_flags = 0;
    btree::walk(&db, table.root_page, |event| {
        match event {
            TreeEvent::Page { page, depth: 0 } => {
                tree_flags = page.header.flags & (FLAG_INDEX | FLAG_LONG_VALUE | 0x0400)
            }
            TreeEvent::Entry {
                key, data, flags, ..
            } if flags & NODE_DELETED == 0 => records.push((key.into_owned(), data.to_vec())),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    let file = std::fs::File::create(&path).unwrap();
    file.write_all_at(&source, 0).unwrap();
    let first = db.read_raw(1).unwrap();
    let format = PageFormat {
        page_size,
        ecc: uses_ecc(&first),
        common_flags: le_u32(&first, 36).unwrap() & 0x0800,
        db_time: db.header.db_time,
    };
    // The new tree: root, two pages kept for its space trees, then its pages in order.
    let new_root = db.page_count() + 1;
    let next = std::cell::Cell::new(new_root + 3);
    let mut allocate = || {
        next.set(next.get() + 1);
        Ok(next.get() - 1)
    };
    let mut sink = |number: u32, page: Vec<u8>| {
        let offset = (u64::from(number) + 1) * page_size as u64;
        file.write_all_at(&page, offset)
            .map_err(|e| WriteError::sink(format!("writing page {number}"), e))
    };
    let mut builder = TreeBuilder::new(format, table.object_id, tree_flags, new_root);
    let target = mib << 20;
    let mut copies = 0u32;
    while u64::from(next.get()) * page_size as u64 + 2 * page_size as u64 <= target {
        for (key, data) in &records {
            let mut grown_key = copies.to_be_bytes().to_vec();
            grown_key.extend_from_slice(key);
            builder
                .add(&grown_key, data, &mut allocate, &mut sink)
                .unwrap();
        }
        copies += 1;
    }
    let header = space_header(1, 1, new_root + 1, tree_flags);
    builder.finish(&header, &mut allocate, &mut sink).unwrap();
    // The catalog and its shadow now name the new root for the table and its primary index.
    let shadow_root = catalog.tables.iter().find(|t| t.object_id == 3).unwrap();
    for root in [CATALOG_ROOT, shadow_root.root_page] {
        let mut patches = Vec::new();
        btree::walk(&db, root, |event| {
            if let TreeEvent::Entry { page, data, .. } = event {
                let kind = u16::from_le_bytes([data[TYPE_AT], data[TYPE_AT + 1]]);
                let names_table = le_u32(data, ID_AT) == Some(table.object_id)
                    && le_u32(data, ROOT_AT) == Some(table.root_page);
                if [1, 3].contains(&kind) && names_table {
                    let at = data.as_ptr() as usize - page.bytes().as_ptr() as usize;
                    patches.push((page.number, at + ROOT_AT));
                }
            }
            ControlFlow::Continue(())
        });
        assert!(!patches.is_empty());
        for (number, at) in patches {
            let mut page = db.read_raw(number).unwrap();
            page[at..at + 4].copy_from_slice(&new_root.to_le_bytes());
            set_page_checksums(&mut page, number);
            let offset = (u64::from(number) + 1) * page_size as u64;
            file.write_all_at(&page, offset).unwrap();
        }
    }
    file.sync_all().unwrap();
    drop(file);

    let temp = format!("{path}.defragmented");
    let _ = std::fs::remove_file(&temp);
    let out = evtdoctor(&[
        "db",
        "defrag",
        &path,
        "--temp",
        &temp,
        "--preserve-temp",
        "--no-backup",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    let grown = records.len() as u64 * u64::from(copies);
    let original: u64 = 7807;
    let expected = original - records.len() as u64 + grown;
    assert_eq!(report["records_verified"], expected);
    std::fs::remove_file(&temp).unwrap();
}
