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

/// A small deterministic generator (xorshift64), so the damage below is the same every run.
struct Damage(u64);

impl Damage {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// `evtdoctor args`, killed (and the test failed) if it runs past a minute.
fn within_a_minute(args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("evtdoctor {args:?} still runs after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The defrag runs the judgement, the rebuild fed by its walk, the writer and the comparison
/// on threads that wait for each other: on the bundled sample damaged 60 ways (1-8 bits
/// flipped in one page, its checksum made right again), every run ends; it either refuses,
/// leaving the database as it was and nothing beside it, or replaces it with a file `db
/// check` calls clean.
#[test]
fn a_damaged_database_never_hangs_the_defrag_and_is_refused_or_rebuilt_clean() {
    let sample_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kmsmdb.edb");
    let sample = std::fs::read(sample_path).unwrap();
    let page_size = Database::open(sample.clone()).unwrap().page_size();
    let pages = sample.len() / page_size - 2;
    let mut damage = Damage(0x5eed_f00d);
    let (mut refused, mut rebuilt) = (0, 0);
    for case in 0..60 {
        let mut bytes = sample.clone();
        let number = 1 + damage.below(pages) as u32;
        let at = (number as usize + 1) * page_size;
        for _ in 0..=damage.below(8) {
            // Past the checksum, which is made right again below.
            let byte = at + 8 + damage.below(page_size - 8);
            bytes[byte] ^= 1 << damage.below(8);
        }
        set_page_checksums(&mut bytes[at..at + page_size], number);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsmdb.edb");
        std::fs::write(&path, &bytes).unwrap();
        let file = path.to_str().unwrap();
        let out = within_a_minute(&["db", "defrag", file, "--no-backup"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            left,
            ["kmsmdb.edb"],
            "case {case} (page {number}): {stderr}"
        );
        match out.status.code() {
            Some(1) => {
                refused += 1;
                assert!(stderr.contains("the database is untouched"), "{stderr}");
                assert!(
                    std::fs::read(&path).unwrap() == bytes,
                    "case {case}: changed"
                );
            }
            Some(0) => {
                rebuilt += 1;
                let checked = within_a_minute(&["db", "check", file]);
                assert_eq!(
                    checked.status.code(),
                    Some(0),
                    "case {case} (page {number})"
                );
            }
            code => panic!("case {case} (page {number}): exit {code:?}: {stderr}"),
        }
    }
    assert_eq!((refused, rebuilt), (14, 46));
}
