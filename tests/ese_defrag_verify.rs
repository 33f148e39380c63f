//! The defrag's own verification (src/defrag/verify.rs) on a real database and the copy `db
//! defrag` rebuilt from it: it counts every record dissect.database reads, and one changed
//! byte in a record, an index entry or a long-value chunk of the new file (checksums kept
//! valid, so `db check` passes) makes it fail, naming the tree and the entry.

mod common;

use common::ese::{dissect, json_lines};
use common::{corpus_dir, evtdoctor};
use evtdoctor::defrag::verify::{read_catalog, verify, Verified};
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::{check, Catalog, Database};
use std::ops::ControlFlow;
use std::path::Path;

const SRUM: &str = "srum_win10_2004_goese_4k.dat";
const BIG_TABLE: &str = "{5C8CF1C7-7257-4F13-B223-970EF5939312}";
/// Long values in many chunks.
const MULTIVALUE: &str = "dissect_multivalue_4k.edb";

/// The corpus file and the file `db defrag` rebuilt from it, as bytes.
fn old_and_new(name: &str, dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let old = std::fs::read(corpus_dir().join("ese").join(name)).unwrap();
    let source = dir.join(name);
    std::fs::write(&source, &old).unwrap();
    let target = dir.join(format!("{name}.rebuilt"));
    let out = evtdoctor(&[
        "db",
        "defrag",
        source.to_str().unwrap(),
        "--temp",
        target.to_str().unwrap(),
        "--preserve-temp",
        "--no-backup",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (old, std::fs::read(&target).unwrap())
}

fn verify_bytes(old: &[u8], new: &[u8]) -> Result<Verified, String> {
    let old = Database::open(old.to_vec()).unwrap();
    let new = Database::open(new.to_vec()).unwrap();
    verify(&old, &read_catalog(&old).unwrap(), &new)
}

/// Flips the last data byte of the `nth` entry (1-based) of the tree at `root` and puts the
/// page's checksum right again.
fn flip_entry_byte(bytes: &mut [u8], root: u32, nth: usize) {
    let db = Database::open(bytes.to_vec()).unwrap();
    let page_size = db.page_size();
    let mut seen = 0;
    let mut target = None;
    btree::walk(&db, root, |event| {
        if let TreeEvent::Entry { page, data, .. } = event {
            seen += 1;
            if seen == nth {
                let at = data.as_ptr() as usize - page.bytes().as_ptr() as usize;
                target = Some((page.number, at + data.len() - 1));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    let (number, at) = target.expect("the tree has that many entries");
    let start = (number as usize + 1) * page_size;
    let page = &mut bytes[start..start + page_size];
    page[at] ^= 0x01;
    set_page_checksums(page, number);
}

fn catalog(bytes: &[u8]) -> Catalog {
    Catalog::read(&Database::open(bytes.to_vec()).unwrap()).0
}

fn check_findings(bytes: &[u8]) -> usize {
    let mut findings = 0;
    check::check(
        &Database::open(bytes.to_vec()).unwrap(),
        |_| findings += 1,
        |_| {},
    );
    findings
}

#[test]
fn every_record_index_entry_and_long_value_chunk_is_compared() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(SRUM, dir.path());
    let oracle_rows = json_lines(&dissect(&[
        "dump",
        corpus_dir().join("ese").join(SRUM).to_str().unwrap(),
    ]))
    .len();
    let verified = verify_bytes(&old, &new).unwrap();
    // Every table's records, the catalog and its shadow (241 each) included.
    assert_eq!(oracle_rows, 7807);
    assert_eq!(
        verified,
        Verified {
            tables: 14,
            records: 7807,
            long_value_chunks: 0,
            index_entries: 13682,
        }
    );
    let (old, new) = old_and_new(MULTIVALUE, dir.path());
    let verified = verify_bytes(&old, &new).unwrap();
    assert_eq!((verified.records, verified.long_value_chunks), (211, 36));
}

#[test]
fn one_changed_byte_in_a_record_fails_and_names_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(SRUM, dir.path());
    let root = catalog(&new).table(BIG_TABLE).unwrap().root_page;
    flip_entry_byte(&mut new, root, 1000);
    assert_eq!(
        check_findings(&new),
        0,
        "db check cannot see a changed value"
    );
    let error = verify_bytes(&old, &new).unwrap_err();
    assert!(
        error.starts_with(&format!("table {BIG_TABLE}: records: entry 1000 (key ")),
        "{error}"
    );
}

#[test]
fn one_changed_byte_in_an_index_entry_fails_and_names_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(SRUM, dir.path());
    let table = catalog(&new).table(BIG_TABLE).unwrap().clone();
    let index = table
        .indexes
        .iter()
        .find(|i| i.root_page != table.root_page)
        .unwrap();
    flip_entry_byte(&mut new, index.root_page, 7);
    assert_eq!(check_findings(&new), 0);
    let error = verify_bytes(&old, &new).unwrap_err();
    let expected = format!("table {BIG_TABLE}, index {}: entry 7 (key ", index.name);
    assert!(error.starts_with(&expected), "{error}");
}

#[test]
fn one_changed_byte_in_a_long_value_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(MULTIVALUE, dir.path());
    let (name, tree) = catalog(&new)
        .tables
        .iter()
        .find_map(|t| Some((t.name.clone(), t.long_values?)))
        .unwrap();
    flip_entry_byte(&mut new, tree.root_page, 20);
    assert_eq!(check_findings(&new), 0);
    let error = verify_bytes(&old, &new).unwrap_err();
    let expected = format!("table {name}: long values: entry 20 (key ");
    assert!(error.starts_with(&expected), "{error}");
}
