//! Damaged copies of real ESE databases: `db check` names each problem (page, kind) and exits
//! 1; `db dump` still yields every record that is not on a damaged page; nothing panics.

use crate::common;
use common::Need;

use common::{corpus_dir, evtdoctor};
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::catalog::TableReader;
use evtdoctor_parsers::ese::check;
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::{Catalog, Database};
use serde_json::Value as Json;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// A 4 KiB SRUM database whose biggest table spans many leaf pages.
const SRUM: &str = "srum_win10_2004_goese_4k.dat";
const BIG_TABLE: &str = "{5C8CF1C7-7257-4F13-B223-970EF5939312}";
const BIG_TABLE_ROWS: usize = 4038;
const PAGE: usize = 4096;

fn corpus_bytes(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join("ese").join(name)).unwrap()
}

fn write_copy(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("damaged.edb");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The leaf pages of `table` in key order, with the records on each.
fn leaves(bytes: &[u8], table: &str) -> Vec<(u32, usize)> {
    let db = Database::open(bytes.to_vec()).unwrap();
    let (catalog, _) = Catalog::read(&db);
    let root = catalog.table(table).unwrap().root_page;
    let mut leaves: Vec<(u32, usize)> = Vec::new();
    btree::walk(&db, root, |event| {
        if let TreeEvent::Entry { page, .. } = event {
            match leaves.last_mut() {
                Some((number, count)) if *number == page.number => *count += 1,
                _ => leaves.push((page.number, 1)),
            }
        }
        ControlFlow::Continue(())
    });
    leaves
}

fn offset(page: u32) -> usize {
    (page as usize + 1) * PAGE
}

/// `db check --jsonl` findings and exit code.
fn check_findings(file: &Path) -> (Option<i32>, Vec<Json>) {
    let out = evtdoctor(&["db", "check", file.to_str().unwrap(), "--jsonl"]);
    let findings = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), findings)
}

/// `db dump --table T --jsonl`: records, exit code and stderr.
fn dump_table(file: &Path, table: &str) -> (Option<i32>, Vec<Json>, String) {
    let out = evtdoctor(&[
        "db",
        "dump",
        file.to_str().unwrap(),
        "--table",
        table,
        "--jsonl",
    ]);
    let records = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code(),
        records,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn kinds_on(findings: &[Json], page: u32) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["page"] == page)
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn single_flipped_bit_is_located_and_corrected_in_memory() {
    common::needs!(Need::Corpus);
    let original = corpus_bytes(SRUM);
    let (page, _) = leaves(&original, BIG_TABLE)[3];
    let mut bytes = original.clone();
    let byte = offset(page) + 1000;
    bytes[byte] ^= 0x04;
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["page"], page);
    assert_eq!(findings[0]["kind"], "checksum-correctable");
    assert_eq!(findings[0]["offset"], byte as u64);
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("bit 2 of byte 1000"));

    // The dump reads the corrected page: every record, as in the intact file.
    let (code, damaged, stderr) = dump_table(&file, BIG_TABLE);
    assert_eq!(code, Some(1), "the correction is reported");
    assert!(stderr.contains(&format!("page {page}")), "{stderr}");
    let (_, expected, _) = dump_table(&corpus_dir().join("ese").join(SRUM), BIG_TABLE);
    assert_eq!(expected.len(), BIG_TABLE_ROWS);
    assert_eq!(damaged, expected);
}

#[test]
fn damaged_data_page_costs_only_its_own_records() {
    common::needs!(Need::Corpus);
    let original = corpus_bytes(SRUM);
    let leaves = leaves(&original, BIG_TABLE);
    let (page, on_page) = leaves[5];
    let mut bytes = original.clone();
    bytes[offset(page) + 500] ^= 0xff;
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    assert!(
        kinds_on(&findings, page).contains(&"checksum".to_owned()),
        "{findings:?}"
    );

    let (code, records, stderr) = dump_table(&file, BIG_TABLE);
    assert_eq!(code, Some(1));
    assert_eq!(records.len(), BIG_TABLE_ROWS - on_page);
    assert!(
        stderr.contains(&format!("offset {}", offset(page))),
        "{stderr}"
    );
}

#[test]
fn broken_leaf_link_is_reported_and_dump_is_complete() {
    common::needs!(Need::Corpus);
    let original = corpus_bytes(SRUM);
    let (page, _) = leaves(&original, BIG_TABLE)[2];
    let mut bytes = original.clone();
    let at = offset(page);
    // Point the leaf's "next" link (header offset 20) at the wrong page, checksum kept valid.
    let wrong = (page + 7).to_le_bytes();
    bytes[at + 20..at + 24].copy_from_slice(&wrong);
    set_page_checksums(&mut bytes[at..at + PAGE], page);
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    let links: Vec<&Json> = findings
        .iter()
        .filter(|f| f["kind"] == "sibling-link")
        .collect();
    assert_eq!(links.len(), 1, "{findings:?}");
    assert!(links[0]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("page {page} says next is {}", page + 7)));

    // The dump walks down from the root, not along the links: nothing is lost.
    let (code, records, _) = dump_table(&file, BIG_TABLE);
    assert_eq!(code, Some(0));
    assert_eq!(records.len(), BIG_TABLE_ROWS);
}

#[test]
fn branch_link_beyond_the_file_loses_only_that_subtree() {
    common::needs!(Need::Corpus);
    let original = corpus_bytes(SRUM);
    let db = Database::open(original.clone()).unwrap();
    let (catalog, _) = Catalog::read(&db);
    let root = catalog.table(BIG_TABLE).unwrap().root_page;
    let root_page = db.read_page(root).page.unwrap();
    assert!(!root_page.header.is(evtdoctor_parsers::ese::page::FLAG_LEAF));
    // The first child pointer of the root (the last 4 bytes of node 1).
    let (value, _) = root_page.tag(1).unwrap();
    let child = u32::from_le_bytes(value[value.len() - 4..].try_into().unwrap());
    let value_at = value.as_ptr() as usize - root_page.bytes().as_ptr() as usize;
    let mut bytes = original.clone();
    let at = offset(root) + value_at + value.len() - 4;
    bytes[at..at + 4].copy_from_slice(&999_999u32.to_le_bytes());
    set_page_checksums(&mut bytes[offset(root)..offset(root) + PAGE], root);
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    assert!(
        findings.iter().any(|f| f["kind"] == "tree"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("page 999999: child link beyond the file")),
        "{findings:?}"
    );
    let lost: usize = {
        let mut n = 0;
        btree::walk(&db, child, |event| {
            if let TreeEvent::Entry { .. } = event {
                n += 1;
            }
            ControlFlow::Continue(())
        });
        n
    };
    let (code, records, _) = dump_table(&file, BIG_TABLE);
    assert_eq!(code, Some(1));
    assert_eq!(records.len(), BIG_TABLE_ROWS - lost);
    assert!(lost > 0 && lost < BIG_TABLE_ROWS);
}

#[test]
fn truncated_file_is_reported_and_the_rest_is_read() {
    common::needs!(Need::Corpus);
    let original = corpus_bytes(SRUM);
    let cut = original.len() * 3 / 4 + 1234;
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &original[..cut]);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    let truncated: Vec<&Json> = findings
        .iter()
        .filter(|f| f["kind"] == "truncated")
        .collect();
    assert!(!truncated.is_empty(), "{findings:?}");
    assert_eq!(truncated[0]["page"], (cut / PAGE - 1) as u64);

    let (code, records, _) = dump_table(&file, BIG_TABLE);
    assert_eq!(code, Some(1));
    let expected: usize = leaves(&original, BIG_TABLE)
        .iter()
        .filter(|(page, _)| offset(*page) + PAGE <= cut)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(records.len(), expected);
    assert!(expected > 0 && expected < BIG_TABLE_ROWS);
}

#[test]
fn damaged_primary_header_falls_back_to_the_shadow() {
    common::needs!(Need::Corpus);
    let original = corpus_bytes(SRUM);
    let mut bytes = original.clone();
    bytes[52] ^= 0x01; // the state field: the header checksum no longer matches
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "header");
    assert_eq!(findings[0]["offset"], 0);
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("primary header damaged"));

    let out = evtdoctor(&["db", "header", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let header: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        header["state_name"], "Clean Shutdown",
        "read from the shadow"
    );

    let (_, records, _) = dump_table(&file, BIG_TABLE);
    assert_eq!(records.len(), BIG_TABLE_ROWS);
}

#[test]
fn damaged_shadow_header_is_reported() {
    common::needs!(Need::Corpus);
    let mut bytes = corpus_bytes(SRUM);
    bytes[PAGE + 300] ^= 0x10;
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);
    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "header");
    assert_eq!(findings[0]["offset"], PAGE as u64);
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("shadow header damaged"));
}

#[test]
fn not_a_database_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), b"hello, not an ESE file");
    for command in ["header", "check", "dump"] {
        let out = evtdoctor(&["db", command, file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a readable ESE database"));
    }
}

/// Pseudo-random damage all over several files, read in process: never a panic.
#[test]
fn random_damage_never_panics() {
    common::needs!(Need::Corpus);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in [
        SRUM,
        "dissect_multivalue_4k.edb",
        "bits_qmgr_win11_dirty_16k.db",
    ] {
        let original = corpus_bytes(name);
        for _ in 0..40 {
            let mut bytes = original.clone();
            for _ in 0..(next() % 64 + 1) {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            if next() % 4 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let Ok(db) = Database::open(bytes) else {
                continue;
            };
            check::check(&db, |_| {}, |_| {});
            let (catalog, _) = Catalog::read(&db);
            for table in &catalog.tables {
                TableReader::new(&db, table).for_each(|_| ControlFlow::Continue(()));
            }
        }
    }
}

#[test]
fn free_pages_missing_from_the_space_trees_are_reported_as_leaked() {
    common::needs!(Need::Corpus);
    use evtdoctor_parsers::ese::space::SpaceHeader;
    let original = corpus_bytes(SRUM);
    let db = Database::open(original.clone()).unwrap();
    let (catalog, _) = Catalog::read(&db);
    // The first table whose free-extent tree (the page after its owned-extent tree) lists a
    // live extent in a one-page tree.
    let (free_list, first, last) = catalog
        .tables
        .iter()
        .filter_map(|t| {
            let root = db.read_page(t.root_page).page?;
            let header = SpaceHeader::parse(root.external_header())?;
            let free_root = header.space_tree.checked_add(1)?;
            let page = db
                .read_page(free_root)
                .page
                .filter(|_| header.multiple_extents())?;
            let node = page.node(1).ok().filter(|n| !n.is_deleted())?;
            let last = u32::from_be_bytes(node.suffix[node.suffix.len() - 4..].try_into().ok()?);
            let count = u32::from_le_bytes(node.data.get(..4)?.try_into().ok()?);
            (count > 0 && page.header.is(evtdoctor_parsers::ese::page::FLAG_LEAF)).then_some((
                free_root,
                last + 1 - count,
                last,
            ))
        })
        .next()
        .expect("a table with free extents");
    let mut bytes = original.clone();
    let at = offset(free_list);
    bytes[at + PAGE - 8 + 3] |= 0x40; // tag 1: node flag "deleted" (0x2 in the top 3 bits)
    set_page_checksums(&mut bytes[at..at + PAGE], free_list);
    let dir = tempfile::tempdir().unwrap();
    let file = write_copy(dir.path(), &bytes);

    let (code, findings) = check_findings(&file);
    assert_eq!(code, Some(1));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "space-leak");
    assert_eq!(findings[0]["page"], first);
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("pages {first}-{last}: owned by the database")));
}
