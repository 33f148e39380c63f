//! ESE databases damaged to make `db check` do too much work: each must finish at once with
//! exact findings. Found by reading the code for loops and allocations sized by stored
//! numbers (issue #8) and by the `fuzz/` targets.

use crate::common;
use common::Need;

use common::ese::{json_lines, put_u32};
use common::{corpus_dir, evtdoctor};
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::Database;
use evtdoctor_parsers::le::le_u32;
use serde_json::{json, Value as Json};
use std::ops::ControlFlow;
use std::path::Path;

const SOURCE: &str = "dissect_basic_4k.edb";
const PAGE: usize = 4096;

fn corpus_copy() -> Vec<u8> {
    std::fs::read(corpus_dir().join("ese").join(SOURCE)).unwrap()
}

/// Page `number` of `bytes` (page 1 follows the two header pages).
fn page(bytes: &mut [u8], number: u32) -> &mut [u8] {
    let at = (number as usize + 1) * PAGE;
    &mut bytes[at..at + PAGE]
}

/// `db check --jsonl` on `bytes`: its findings, and its summary line (stderr); it must exit 1
/// (problems found).
fn check(dir: &Path, bytes: &[u8]) -> (Vec<Json>, String) {
    let path = dir.join("hostile.edb");
    std::fs::write(&path, bytes).unwrap();
    let out = evtdoctor(&["db", "check", path.to_str().unwrap(), "--jsonl"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let findings = json_lines(&String::from_utf8(out.stdout).unwrap());
    (findings, stderr.replace(path.to_str().unwrap(), "FILE"))
}

/// The database's space tree says it owns pages 1-4294967295 and a table's root says its one
/// extent runs to the end of the page numbers: checking that the table's extent lies in the
/// database's, and marking its pages as accounted for, used to step through four billion
/// pages (minutes) each.
#[test]
fn extents_claiming_every_page_number() {
    common::needs!(Need::Corpus);
    let mut bytes = corpus_copy();
    // Page 2: the database's owned-extent tree, one leaf entry (key = last page, big-endian;
    // data = page count) at byte 56 of the page: 1-254 in the original.
    let entry = page(&mut bytes, 2);
    assert_eq!(entry[56..66], [4, 0, 0, 0, 0, 0xfe, 0xfe, 0, 0, 0]);
    entry[58..62].copy_from_slice(&u32::MAX.to_be_bytes());
    put_u32(entry, 62, u32::MAX);
    set_page_checksums(entry, 2);
    // Page 30: root of a single-extent table; its space header (tag 0, at byte 40) starts
    // with the extent's page count: 1 in the original.
    let root = page(&mut bytes, 30);
    assert_eq!(le_u32(root, 40), Some(1));
    put_u32(root, 40, 0xffff_ff00);
    set_page_checksums(root, 30);

    let dir = tempfile::tempdir().unwrap();
    let (findings, summary) = check(dir.path(), &bytes);
    assert_eq!(
        findings,
        vec![json!({
            "page": 255,
            "kind": "truncated",
            "offset": 1048576,
            "message": "the database owns pages up to 4294967295, the file ends after page 254"
        })]
    );
    assert_eq!(
        summary,
        "evtdoctor: FILE: 254 pages (23 in use, 0 past the database's space), 7 trees, \
         282 records checked; 1 problem(s)\n"
    );
}

/// The catalog says table `basic` is rooted where MSysObjids is: the tree is walked (and its
/// records counted) once, and the second claim is a finding. Before, every catalog entry
/// naming a root walked the whole tree again: thousands of entries, thousands of walks.
#[test]
fn catalog_naming_one_root_twice() {
    common::needs!(Need::Corpus);
    let mut bytes = corpus_copy();
    let (page_number, at) = catalog_record(&bytes, "basic");
    // Fixed columns from byte 4: ObjidTable (4), Type (2), Id (4), then the root page.
    let root_at = at + 14;
    let catalog_page = page(&mut bytes, page_number);
    assert_eq!(le_u32(catalog_page, root_at), Some(31));
    put_u32(catalog_page, root_at, 29);
    set_page_checksums(catalog_page, page_number);

    let dir = tempfile::tempdir().unwrap();
    let (findings, summary) = check(dir.path(), &bytes);
    assert_eq!(
        findings,
        vec![json!({
            "page": 29,
            "kind": "tree",
            "offset": 122880,
            "message": "page 29 (basic): root of another tree too"
        })]
    );
    // Still 7 trees and every record: the table's primary index names page 31, which is now
    // walked as that index.
    assert_eq!(
        summary,
        "evtdoctor: FILE: 254 pages (23 in use, 0 past the database's space), 7 trees, \
         282 records checked; 1 problem(s)\n"
    );
}

/// The page and the in-page offset of the MSysObjects record of table `name`.
fn catalog_record(bytes: &[u8], name: &str) -> (u32, usize) {
    let db = Database::open(bytes.to_vec()).unwrap();
    let mut found = None;
    btree::walk(&db, 4, |event| {
        if let TreeEvent::Entry { page, data, .. } = event {
            let is_table = data.get(8..10) == Some(&[1, 0]);
            if is_table && data.windows(name.len()).any(|w| w == name.as_bytes()) {
                let at = data.as_ptr() as usize - page.bytes().as_ptr() as usize;
                found = Some((page.number, at));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found.unwrap()
}
