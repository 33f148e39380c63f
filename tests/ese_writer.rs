//! The database writer's demo KMS database (`samples/kmsmdb.edb`), read back by three
//! independent paths: libesedb's `esedbexport`, dissect.database and `evtdoctor db dump` each
//! give the generator's rows exactly. Deleted rows stay in the file flagged deleted: libesedb
//! and evtdoctor skip them, dissect.database (which ignores the flag) lists them too. The
//! header is ESE98's, `db check` finds nothing, `db defrag` shrinks it and keeps every row,
//! and `analyze --db` takes its header as evidence. A database in the current page format
//! (the benchmark generator's) reads back the same way.

use crate::common;
use common::Need;

use common::ese::{dissect, json_lines};
use common::{evtdoctor, oracle, success_stdout};
use evtdoctor_parsers::ese::value::{ColumnType, Value};
use evtdoctor_parsers::ese::write::columns::place_columns;
use evtdoctor_parsers::ese::write::record::is_separated;
use evtdoctor_testkit::dbwriter::bench::{
    bench_table, write_bench_database, BenchFormat, BenchRows,
};
use evtdoctor_testkit::dbwriter::kms::{
    kms_rows, kms_tables, write_kms_database, KMS_DATABASE_FILE,
};
use evtdoctor_testkit::dbwriter::tables::{Row, RowSource, Table};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};

fn demo(dir: &Path) -> PathBuf {
    let path = dir.join(KMS_DATABASE_FILE);
    write_kms_database(&path).unwrap();
    path
}

fn ole_date(days: f64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let micros = (days * 86_400e6).round() as i64;
    (epoch + chrono::Duration::microseconds(micros))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A row as `db dump --jsonl` and the dissect oracle print it.
fn expected(table: &Table<'_>, row: &Row) -> Json {
    let mut record = serde_json::Map::new();
    for (column, value) in table.columns.iter().zip(&row.values) {
        let cell = match (column.kind, value) {
            (_, Value::Null) => Json::Null,
            (_, Value::Int(v)) => json!(v),
            (_, Value::DateTime(d)) => json!(ole_date(*d)),
            (kind, Value::Binary(b)) if kind.is_text() => json!(String::from_utf8_lossy(b)),
            (_, Value::Binary(b)) => json!(hex::encode(b)),
            (_, other) => panic!("no {other:?} in the demo"),
        };
        record.insert(column.name.clone(), cell);
    }
    json!({"table": table.name, "record": record})
}

/// A row as esedbexport prints it: columns in id order, dates as the raw double's two words,
/// separated Long Binary values not exported by that build (checked through the other two
/// readers).
fn esedbexport_line(table: &Table<'_>, row: &Row) -> String {
    let placed = place_columns(&table.columns).unwrap();
    let mut cells: Vec<(u32, String)> = placed
        .iter()
        .zip(&row.values)
        .map(|(column, value)| {
            let text = match (column.kind, value) {
                (ColumnType::LONG_BINARY, value) if is_separated(column, value) => String::new(),
                (_, Value::Int(v)) => v.to_string(),
                (_, Value::DateTime(d)) => {
                    let bits = d.to_bits();
                    format!("(0x{:08x} 0x{:08x})", bits >> 32, bits as u32)
                }
                (kind, Value::Binary(b)) if kind.is_text() => String::from_utf8_lossy(b).into(),
                (_, Value::Binary(b)) => hex::encode(b),
                (_, other) => panic!("no {other:?} in the demo"),
            };
            (column.id, text)
        })
        .collect();
    cells.sort_by_key(|(id, _)| *id);
    cells
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\t")
}

fn esedbexport_header(table: &Table<'_>) -> String {
    let mut placed = place_columns(&table.columns).unwrap();
    placed.sort_by_key(|c| c.id);
    placed
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join("\t")
}

#[test]
fn demo_rows_read_back_identically_with_three_readers() {
    common::needs!(
        Need::Program("esedbexport"),
        Need::Python("dissect.database")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = demo(dir.path());
    let path = file.to_str().unwrap();
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(KMS_DATABASE_FILE);
    assert!(
        std::fs::read(&committed).unwrap() == std::fs::read(&file).unwrap(),
        "samples/kmsmdb.edb is stale"
    );

    let target = dir.path().join("export");
    let out = oracle("esedbexport", &["-t", target.to_str().unwrap(), path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = dir.path().join("export.export");

    let rows = kms_rows();
    let tables = kms_tables(&rows);
    let mut counts = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        let all: Vec<Row> = table.rows.rows().collect();
        let live: Vec<&Row> = all.iter().filter(|r| !r.deleted).collect();
        let expected_live: Vec<Json> = live.iter().map(|r| expected(table, r)).collect();
        let expected_all: Vec<Json> = all.iter().map(|r| expected(table, r)).collect();

        let ours = json_lines(&success_stdout(evtdoctor(&[
            "db",
            "dump",
            path,
            "--table",
            &table.name,
            "--jsonl",
        ])));
        assert_eq!(ours, expected_live, "evtdoctor {}", table.name);

        let theirs = json_lines(&dissect(&["dump", path, &table.name]));
        assert_eq!(theirs, expected_all, "dissect.database {}", table.name);

        // esedbexport numbers user tables after the two catalog tables.
        let text =
            std::fs::read_to_string(export.join(format!("{}.{}", table.name, i + 2))).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(esedbexport_header(table).as_str()));
        let exported: Vec<&str> = lines.collect();
        let wanted: Vec<String> = live.iter().map(|r| esedbexport_line(table, r)).collect();
        assert_eq!(exported, wanted, "esedbexport {}", table.name);
        counts.push((table.name.clone(), live.len(), all.len()));
    }
    let counts: Vec<(&str, usize, usize)> = counts
        .iter()
        .map(|(n, l, a)| (n.as_str(), *l, *a))
        .collect();
    assert_eq!(
        counts,
        [
            ("Users", 58, 80),
            ("Certificates", 106, 160),
            ("KeyRecoveryRecords", 108, 160),
            ("RevocationList", 33, 41)
        ]
    );
    // The catalog describes itself, its shadow and every table, column, index and LV tree.
    let catalog = json_lines(&success_stdout(evtdoctor(&[
        "db",
        "dump",
        path,
        "--table",
        "MSysObjects",
        "--jsonl",
    ])));
    let shadow = json_lines(&dissect(&["dump", path, "MSysObjectsShadow"]));
    assert_eq!(catalog.len(), 83);
    assert_eq!(shadow.len(), 83);
}

#[test]
fn demo_header_check_and_defrag() {
    common::needs!(Need::Python("dissect.database"));
    let dir = tempfile::tempdir().unwrap();
    let file = demo(dir.path());
    let path = file.to_str().unwrap();

    let header: Json = serde_json::from_str(&success_stdout(evtdoctor(&[
        "db", "header", path, "--json",
    ])))
    .unwrap();
    let header = &header["header"];
    assert_eq!(header["format_version"], 0x620);
    assert_eq!(header["format_revision"], 9);
    assert_eq!(header["page_size"], 4096);
    assert_eq!(header["state"], 3);
    let text = success_stdout(evtdoctor(&["db", "header", path]));
    for line in [
        "Format ulVersion: 0x620,9",
        "cbDbPage: 4096",
        "State: Clean Shutdown",
        "OS Version: (5.0.2195 SP 3)",
        "Create time:08/14/2002 09:30:00.000",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    let oracle_header: Json = serde_json::from_str(&dissect(&["header", path])).unwrap();
    assert_eq!(
        oracle_header,
        json!({"page_size": 4096, "format_version": 0x620, "format_revision": 9, "state": 3, "os_version": [5, 0, 2195, 3]})
    );

    let check = evtdoctor(&["db", "check", path, "--jsonl"]);
    assert_eq!(check.status.code(), Some(0));
    assert!(check.stdout.is_empty());

    let before_rows = json_lines(&success_stdout(evtdoctor(&["db", "dump", path, "--jsonl"])));
    let user_rows = |rows: &[Json]| -> Vec<Json> {
        rows.iter()
            .filter(|r| !r["table"].as_str().unwrap().starts_with("MSys"))
            .cloned()
            .collect()
    };
    let before = file.metadata().unwrap().len();
    let out = evtdoctor(&["db", "defrag", path, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = file.metadata().unwrap().len();
    // Deleted rows, spare and free pages gone: 255 pages become 163.
    assert_eq!((before, after), (255 * 4096, 163 * 4096));
    let after_rows = json_lines(&success_stdout(evtdoctor(&["db", "dump", path, "--jsonl"])));
    assert_eq!(user_rows(&after_rows), user_rows(&before_rows));
    assert_eq!(user_rows(&after_rows).len(), 58 + 106 + 108 + 33);
}

#[test]
fn analyze_takes_the_demo_header_as_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let file = demo(dir.path());
    let bundle = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join("kms-sp4");
    let out = evtdoctor(&[
        "analyze",
        bundle.to_str().unwrap(),
        "--db",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "the KMS finding is active");
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["database"]["header"],
        json!({"state": "Clean Shutdown", "os_version": {"major": 5, "minor": 0, "build": 2195, "service_pack": 3}, "format_version": 0x620, "format_revision": 9})
    );
    let finding = &report["findings"][0];
    assert_eq!(finding["status"], "active");
    let evidence: Vec<&Json> = finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "database_header")
        .collect();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0]["os_version"], "(5.0.2195 SP 3)");
    assert_eq!(evidence[0]["format"], "0x620,9");
    assert_eq!(evidence[0]["state"], "Clean Shutdown");
}

/// The benchmark generator in the current page format (revision 0x14, 8 KiB pages, ECC
/// checksums): the same three readers give its rows exactly.
#[test]
fn modern_format_database_reads_back_identically() {
    common::needs!(
        Need::Program("esedbexport"),
        Need::Python("dissect.database")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.edb");
    let path = file.to_str().unwrap();
    let written = write_bench_database(&file, 2, BenchFormat::Modern).unwrap();
    assert_eq!((written.records, written.deleted), (299, 42));

    let text = success_stdout(evtdoctor(&["db", "header", path]));
    for line in [
        "Format ulVersion: 0x620,20",
        "cbDbPage: 8192",
        "State: Clean Shutdown",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    let check = evtdoctor(&["db", "check", path, "--jsonl"]);
    assert_eq!(check.status.code(), Some(0));
    assert!(check.stdout.is_empty());

    let rows = BenchRows::for_megabytes(2);
    let table = bench_table(&rows);
    let all: Vec<Row> = rows.rows().collect();
    let live: Vec<&Row> = all.iter().filter(|r| !r.deleted).collect();
    let ours = json_lines(&success_stdout(evtdoctor(&[
        "db",
        "dump",
        path,
        "--table",
        "EventArchive",
        "--jsonl",
    ])));
    let expected_live: Vec<Json> = live.iter().map(|r| expected(&table, r)).collect();
    assert_eq!(ours, expected_live);
    let theirs = json_lines(&dissect(&["dump", path, "EventArchive"]));
    let expected_all: Vec<Json> = all.iter().map(|r| expected(&table, r)).collect();
    assert_eq!(theirs, expected_all);

    let target = dir.path().join("export");
    let out = oracle("esedbexport", &["-t", target.to_str().unwrap(), path]);
    assert!(out.status.success());
    let text =
        std::fs::read_to_string(dir.path().join("export.export").join("EventArchive.2")).unwrap();
    let exported: Vec<&str> = text.lines().skip(1).collect();
    let wanted: Vec<String> = live.iter().map(|r| esedbexport_line(&table, r)).collect();
    assert_eq!(exported, wanted);
}
