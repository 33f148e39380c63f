//! `db check` judges a database as ESE would attach it (header values) and as `db dump` reads
//! it (every record decoded); `db defrag` and `fix` refuse what it calls damaged. Negative
//! controls: values planted in the sample KMS database with valid checksums.

use crate::common;

use super::fix_cli::{files_in, fix, sha256, stderr, TARGET_OS};
use common::ese::put_u32;
use common::evtdoctor;
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::header::set_header_checksum;
use evtdoctor_parsers::ese::page::NODE_DELETED;
use evtdoctor_parsers::ese::{Catalog, Database};
use serde_json::{json, Value as Json};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

const PAGE: usize = 4096;

fn sample() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kmsmdb.edb")).unwrap()
}

/// Sets `value` at `at` in both header copies, their checksums made right again.
fn plant_in_header(bytes: &mut [u8], at: usize, value: u32) {
    for copy in [0, PAGE] {
        let header = &mut bytes[copy..copy + PAGE];
        put_u32(header, at, value);
        set_header_checksum(header);
    }
}

/// What `db check --json`, `db defrag` and `fix` do with `bytes` (as kmsmdb.edb): check's
/// problems (it must exit 1), and the refusals (exit 1, the file untouched).
fn judged(bytes: &[u8]) -> (Vec<Json>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kmsmdb.edb");
    std::fs::write(&file, bytes).unwrap();
    let path = file.to_str().unwrap();
    let check = evtdoctor(&["db", "check", path, "--json"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let report: Json = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["damaged"], true);
    let before = sha256(&file);
    let refusals = [
        evtdoctor(&["db", "defrag", path]),
        fix(&file, &["--target-os", TARGET_OS, "--yes"]),
    ]
    .map(|out| {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(sha256(&file), before);
        stderr(&out).replace(path, "FILE")
    });
    assert_eq!(files_in(dir.path()), ["kmsmdb.edb"], "nothing left behind");
    (
        report["problems"].as_array().unwrap().clone(),
        refusals.to_vec(),
    )
}

fn refused_for(message: &str) -> Vec<String> {
    let line = format!(
        "evtdoctor: FILE: refused: db check finds the database damaged ({message}); the database is untouched\n"
    );
    vec![line.clone(), line]
}

#[test]
fn an_impossible_format_version_is_damage() {
    let mut bytes = sample();
    plant_in_header(&mut bytes, 8, 0xffff);
    let (problems, refusals) = judged(&bytes);
    let message = "format version 0xffff: ESE reads only 0x620";
    assert_eq!(
        problems,
        [json!({"page": null, "kind": "header", "offset": 8, "message": message})]
    );
    assert_eq!(refusals, refused_for(&format!("offset 8 (0x8): {message}")));
}

#[test]
fn a_page_size_ese_never_uses_is_damage_not_an_unreadable_file() {
    let mut bytes = sample();
    plant_in_header(&mut bytes, 236, 3000);
    let (problems, refusals) = judged(&bytes);
    let message = "page size 3000: ESE uses 0 (4 KiB), 2048, 4096, 8192, 16384 or 32768";
    assert_eq!(
        problems,
        [json!({"page": null, "kind": "header", "offset": 236, "message": message})]
    );
    assert_eq!(
        refusals,
        refused_for(&format!("offset 236 (0xec): {message}"))
    );
}

#[test]
fn a_state_ese_does_not_define_is_damage() {
    let mut bytes = sample();
    plant_in_header(&mut bytes, 52, 9);
    let (problems, refusals) = judged(&bytes);
    let message = "database state 9: none of ESE's states (1-8)";
    assert_eq!(
        problems,
        [json!({"page": null, "kind": "header", "offset": 52, "message": message})]
    );
    assert_eq!(
        refusals,
        refused_for(&format!("offset 52 (0x34): {message}"))
    );
}

#[test]
fn a_file_size_that_is_not_whole_pages_is_damage() {
    let mut bytes = sample();
    let size = bytes.len();
    assert_eq!(size % PAGE, 0);
    bytes.extend_from_slice(&[0; 100]);
    let (problems, refusals) = judged(&bytes);
    let message = "file ends 100 bytes into page 254 (truncated)";
    assert_eq!(
        problems,
        [json!({"page": 254, "kind": "truncated", "offset": size, "message": message})]
    );
    assert_eq!(
        refusals,
        refused_for(&format!(
            "1 problem(s); first: offset {size} (0x{size:x}): {message}"
        ))
    );
}

/// The first live record with variable columns of a user table: its table, page, number in
/// the table and offset in the file.
fn record_with_variable_columns(bytes: &[u8]) -> (String, u32, u64, usize) {
    let db = Database::open(bytes.to_vec()).unwrap();
    let (catalog, _) = Catalog::read(&db);
    for table in catalog
        .tables
        .iter()
        .filter(|t| !t.name.starts_with("MSys"))
    {
        let mut number = 0u64;
        let mut found = None;
        btree::walk(&db, table.root_page, |event| {
            if let TreeEvent::Entry {
                page, data, flags, ..
            } = event
            {
                if flags & NODE_DELETED == 0 {
                    number += 1;
                    if data[1] >= 128 {
                        let at = data.as_ptr() as usize - page.bytes().as_ptr() as usize;
                        let file_at = (page.number as usize + 1) * PAGE + at;
                        found = Some((page.number, number, file_at));
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if let Some((page, number, at)) = found {
            return (table.name.clone(), page, number, at);
        }
    }
    panic!("no record with variable columns");
}

#[test]
fn a_bad_variable_column_offset_db_dump_reports_is_damage_to_db_check() {
    let mut bytes = sample();
    let (table, page, number, at) = record_with_variable_columns(&bytes);
    // Word 2 of a record: where its variable-column offsets start; the first says where
    // column 128 ends, now far past the record.
    let offsets_at = at + usize::from(u16::from_le_bytes([bytes[at + 2], bytes[at + 3]]));
    bytes[offsets_at..offsets_at + 2].copy_from_slice(&0x7fffu16.to_le_bytes());
    let page_at = (page as usize + 1) * PAGE;
    set_page_checksums(&mut bytes[page_at..page_at + PAGE], page);

    let message = format!(
        "page {page}: table {table}, record {number}: variable column 128 has a bad offset 32767"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.edb");
    std::fs::write(&file, &bytes).unwrap();
    let dump = evtdoctor(&[
        "db",
        "dump",
        file.to_str().unwrap(),
        "--table",
        &table,
        "--json",
    ]);
    assert_eq!(dump.status.code(), Some(1), "{}", stderr(&dump));
    let dumped: Json = serde_json::from_slice(&dump.stdout).unwrap();
    assert_eq!(
        dumped["problems"],
        json!([{"page": null, "kind": "record", "offset": page_at, "message": message}])
    );

    let (problems, refusals) = judged(&bytes);
    assert_eq!(
        problems,
        [json!({"page": page, "kind": "record", "offset": page_at, "message": message})]
    );
    assert_eq!(
        refusals,
        refused_for(&format!(
            "1 problem(s); first: offset {page_at} (0x{page_at:x}): {message}"
        ))
    );
}

#[test]
fn every_corpus_database_and_the_sample_pass() {
    common::needs!(common::Need::Corpus, common::Need::Python("jsonschema"));
    let mut files: Vec<PathBuf> = common::corpus_files("ese", &[".edb", ".dat", ".db", ".mdb"]);
    files.extend(common::corpus_files("incoming", &[".dat"]));
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kmsmdb.edb"));
    assert_eq!(files.len(), 14);
    for file in files {
        let out = evtdoctor(&["db", "check", file.to_str().unwrap(), "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            stderr(&out)
        );
        let report: Json = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["problems"], json!([]), "{}", file.display());
        assert!(
            report["records"].as_u64().unwrap() > 0,
            "{}",
            file.display()
        );
        common::assert_valid_json(
            "schemas/db-check.schema.json",
            &String::from_utf8_lossy(&out.stdout),
        );
    }
}

/// `db header`, `db dump` and `db check` of the sample and of a damaged copy, as published:
/// their JSON validates against docs/schemas, and `-o` writes the same document to a file.
#[test]
fn db_json_matches_the_published_schemas_and_goes_to_o_files() {
    common::needs!(common::Need::Python("jsonschema"));
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.edb");
    let mut bytes = sample();
    plant_in_header(&mut bytes, 8, 0xffff);
    std::fs::write(&damaged, &bytes).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kmsmdb.edb");
    for file in [sample.to_str().unwrap(), damaged.to_str().unwrap()] {
        for (command, schema) in [
            (&["db", "header"][..], "db-header"),
            (&["db", "check"][..], "db-check"),
            (&["db", "dump", "--table", "MSysObjects"][..], "db-dump"),
            (&["db", "dump"][..], "db-dump"),
        ] {
            let mut args = command.to_vec();
            args.extend([file, "--json"]);
            let out = evtdoctor(&args);
            let stdout = String::from_utf8(out.stdout).unwrap();
            common::assert_valid_json(&format!("schemas/{schema}.schema.json"), &stdout);
            let written = dir.path().join(format!("{schema}.json"));
            args.truncate(args.len() - 1);
            args.extend(["-o", written.to_str().unwrap()]);
            let to_file = evtdoctor(&args);
            assert!(to_file.stdout.is_empty());
            assert_eq!(to_file.status.code(), out.status.code());
            assert_eq!(std::fs::read_to_string(&written).unwrap(), stdout);
        }
    }
    let lines = evtdoctor(&["db", "check", damaged.to_str().unwrap(), "--jsonl"]);
    common::assert_valid_json_lines(
        "schemas/db-problem.schema.json",
        &String::from_utf8(lines.stdout).unwrap(),
    );
    let header: Json = serde_json::from_slice(
        &evtdoctor(&["db", "header", sample.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(header["header"]["format_version"], 0x620);
    assert_eq!(header["header"]["page_size"], 4096);
    assert_eq!(header["state_name"], "Clean Shutdown");
    assert_eq!(
        header["eseutil"][4],
        json!({"field": "Format ulVersion", "value": "0x620,9"})
    );
}

#[test]
fn o_never_replaces_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kmsmdb.edb");
    std::fs::write(&file, sample()).unwrap();
    let before = sha256(&file);
    let path = file.to_str().unwrap();
    for command in [
        &["db", "header"][..],
        &["db", "check"][..],
        &["db", "dump"][..],
        &["db", "defrag"][..],
    ] {
        let mut args = command.to_vec();
        args.extend([path, "--json", "-o", path]);
        let out = evtdoctor(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("refusing to overwrite it"),
            "{}",
            stderr(&out)
        );
        assert_eq!(sha256(&file), before);
    }
    assert_eq!(files_in(dir.path()), ["kmsmdb.edb"]);
}

/// The first long value of the sample with a root and segments: its table, the file offset
/// of its root node's data, and its key.
fn first_long_value(bytes: &[u8]) -> (String, usize, Vec<u8>) {
    let db = Database::open(bytes.to_vec()).unwrap();
    let (catalog, _) = Catalog::read(&db);
    for table in &catalog.tables {
        let Some(tree) = table.long_values else {
            continue;
        };
        let mut found = None;
        btree::walk(&db, tree.root_page, |event| {
            if let TreeEvent::Entry {
                page,
                key,
                data,
                flags,
            } = event
            {
                if flags & NODE_DELETED == 0 && key.len() == 4 {
                    let at = data.as_ptr() as usize - page.bytes().as_ptr() as usize;
                    found = Some(((page.number as usize + 1) * PAGE + at, key.into_owned()));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Some((at, key)) = found {
            return (table.name.clone(), at, key);
        }
    }
    panic!("no long value in the sample");
}

/// `db check` checks long values in one walk of their tree and looks the records'
/// references up there; `db dump` seeks each. Both must name the same fault.
fn check_and_dump_agree(bytes: &[u8], table: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kmsmdb.edb");
    std::fs::write(&file, bytes).unwrap();
    let path = file.to_str().unwrap();
    let dump = evtdoctor(&["db", "dump", path, "--table", table, "--json"]);
    assert_eq!(dump.status.code(), Some(1), "{}", stderr(&dump));
    let dumped: Json = serde_json::from_slice(&dump.stdout).unwrap();
    let (problems, _) = judged(bytes);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "record");
    assert_eq!(
        problems[0]["message"], dumped["problems"][0]["message"],
        "check and dump disagree"
    );
    problems[0]["message"].as_str().unwrap().to_owned()
}

#[test]
fn a_long_value_whose_root_gives_a_wrong_size_is_the_same_damage_to_check_and_dump() {
    let mut bytes = sample();
    let (table, at, _) = first_long_value(&bytes);
    let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
    put_u32(&mut bytes, at + 4, size + 100);
    let page = at / PAGE - 1;
    set_page_checksums(
        &mut bytes[(page + 1) * PAGE..(page + 2) * PAGE],
        page as u32,
    );
    let message = check_and_dump_agree(&bytes, &table);
    assert!(message.starts_with("long-value tree "), "{message}");
    assert!(
        message.contains(&format!("table {table}, record ")),
        "{message}"
    );
}

#[test]
fn a_long_value_whose_root_node_is_lost_is_the_same_damage_to_check_and_dump() {
    let mut bytes = sample();
    let (table, at, key) = first_long_value(&bytes);
    // The root node's key (the id, big-endian; the writer stores keys whole) lies just before
    // its data. One less: still in key order, but the records' id now names only segments.
    assert_eq!(bytes[at - 4..at], key[..]);
    let id = u32::from_be_bytes(key.try_into().unwrap());
    bytes[at - 4..at].copy_from_slice(&(id - 1).to_be_bytes());
    let page = at / PAGE - 1;
    set_page_checksums(
        &mut bytes[(page + 1) * PAGE..(page + 2) * PAGE],
        page as u32,
    );
    let message = check_and_dump_agree(&bytes, &table);
    assert!(
        message.contains(": long value has no root node (table "),
        "{message}"
    );
}
