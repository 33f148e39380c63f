//! `evtdoctor db header|dump|check` on the real ESE corpus, compared with independent readers:
//! `esedbinfo`/`esedbexport` (Debian libesedb-utils, 2018 build) and PyPI `dissect.database`
//! (through tests/oracles/ese_dissect.py).

use crate::common;
use common::Need;

use chrono::{DateTime, NaiveDateTime};
use common::ese::{dissect, json_lines};
use common::{corpus_files, evtdoctor, oracle};
use evtdoctor_parsers::{filetime, guid};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The two corpus files the 2018 libesedb cannot read; dissect.database is their oracle.
const ESEDB_UNREADABLE: [&str; 2] = ["dissect_large_32k.edb", "bits_qmgr_win11_dirty_16k.db"];

/// The corpus, and the SRUM databases of today's Windows in `incoming/`.
fn ese_files() -> Vec<PathBuf> {
    let mut files = corpus_files("ese", &[".edb", ".dat", ".mdb", ".db"]);
    files.extend(corpus_files("incoming", &[".dat"]));
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn esedb_readable(path: &Path) -> bool {
    !ESEDB_UNREADABLE.contains(&name(path).as_str())
}

/// `evtdoctor db dump --jsonl` (exit code checked: 0 on the sound corpus).
fn dump(file: &Path, table: Option<&str>) -> Vec<Json> {
    let mut args = vec!["db", "dump", file.to_str().unwrap(), "--jsonl"];
    if let Some(table) = table {
        args.extend(["--table", table]);
    }
    let out = evtdoctor(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&String::from_utf8(out.stdout).unwrap())
}

fn header_fields(file: &Path) -> Json {
    let out = evtdoctor(&["db", "header", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", file.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// eseutil's field `name` in `db header --json`.
fn eseutil_field(header: &Json, name: &str) -> String {
    let fields = header["eseutil"].as_array().unwrap();
    let field = fields.iter().find(|f| f["field"] == name).unwrap();
    field["value"].as_str().unwrap().to_owned()
}

/// `Key:\tvalue` lines of esedbinfo's first section.
fn esedbinfo(file: &Path) -> BTreeMap<String, String> {
    let out = oracle("esedbinfo", &[file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "esedbinfo failed on {}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .take_while(|l| !l.starts_with("Catalog"))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn header_matches_esedbinfo_and_dissect() {
    common::needs!(
        Need::Corpus,
        Need::Program("esedbinfo"),
        Need::Python("dissect.database")
    );
    let mut compared = 0;
    for file in ese_files() {
        let ours = header_fields(&file);
        let field = |k: &str| eseutil_field(&ours, k);
        // esedbinfo reads the 32 KiB file's header and catalog; only its table export fails.
        if name(&file) != "bits_qmgr_win11_dirty_16k.db" {
            let theirs = esedbinfo(&file);
            assert_eq!(
                field("File Type"),
                theirs["File type"],
                "{}",
                file.display()
            );
            assert_eq!(field("Format ulVersion"), theirs["Current format"]);
            assert_eq!(field("Created ulVersion"), theirs["Created in format"]);
            assert_eq!(format!("{} bytes", field("cbDbPage")), theirs["Page size"]);
            compared += 1;
        } else {
            let out = oracle("esedbinfo", &[file.to_str().unwrap()]);
            assert!(
                !out.status.success(),
                "esedbinfo now reads {}",
                file.display()
            );
        }
        let theirs: Json =
            serde_json::from_str(&dissect(&["header", file.to_str().unwrap()])).unwrap();
        let header = &ours["header"];
        assert_eq!(
            header["page_size"],
            theirs["page_size"],
            "{}",
            file.display()
        );
        assert_eq!(header["format_version"], theirs["format_version"]);
        assert_eq!(header["format_revision"], theirs["format_revision"]);
        assert_eq!(header["state"], theirs["state"]);
        let os = theirs["os_version"].as_array().unwrap();
        let expected = format!("({}.{}.{} SP {})", os[0], os[1], os[2], os[3]);
        assert_eq!(field("OS Version"), expected, "{}", file.display());
    }
    assert_eq!(compared, 12, "every file esedbinfo reads compared");

    // The Windows 11 file libesedb cannot read: values from its provenance record.
    let bits = ese_files()
        .into_iter()
        .find(|f| name(f) == "bits_qmgr_win11_dirty_16k.db")
        .unwrap();
    let ours = header_fields(&bits);
    assert_eq!(eseutil_field(&ours, "State"), "Dirty Shutdown");
    assert_eq!(eseutil_field(&ours, "Format ulVersion"), "0x620,300");
    assert_eq!(eseutil_field(&ours, "cbDbPage"), "16384");
    assert_eq!(eseutil_field(&ours, "OS Version"), "(10.0.26100 SP 0)");
}

#[test]
fn header_table_output_uses_eseutil_field_names() {
    common::needs!(Need::Corpus);
    let file = ese_files()
        .into_iter()
        .find(|f| name(f) == "dissect_basic_4k.edb")
        .unwrap();
    let out = evtdoctor(&["db", "header", file.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "Format ulMagic: 0x89abcdef",
        "Format ulVersion: 0x620,20",
        "cbDbPage: 4096",
        "State: Clean Shutdown",
        "OS Version: (6.2.9200 SP 0)",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

/// Every record of every table equals dissect.database's reading of it.
#[test]
fn dump_matches_dissect_on_every_file() {
    common::needs!(Need::Corpus, Need::Python("dissect.database"));
    let mut records = 0;
    for file in ese_files() {
        let ours = dump(&file, None);
        let theirs = json_lines(&dissect(&["dump-live", file.to_str().unwrap()]));
        assert_eq!(ours.len(), theirs.len(), "{}", file.display());
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(o, t, "{} record {i}", file.display());
        }
        records += ours.len();
    }
    // 190+190+201+259+130166+211+220+7807+683+992+191 records in the 11 files of ese/, and
    // 1019+4034 in the two of incoming/.
    assert_eq!(records, 146_163);
}

/// Cells esedbexport prints differently from the stored value; each is checked against
/// dissect.database instead.
fn esedbexport_gap(ours: &Json, theirs: &str) -> Option<&'static str> {
    let text = ours.as_str().unwrap_or("");
    if ours.is_number() && theirs == "0.000000" {
        Some("32-bit float printed as 0.000000")
    } else if theirs.is_empty() && !ours.is_null() {
        Some("value not exported (long, compressed, default or multi-valued)")
    } else if text.chars().any(|c| u32::from(c) > 0xffff) {
        Some("characters outside the BMP mangled")
    } else if date_within(text, theirs, 1_000_000) {
        Some("OLE date converted with sub-second error")
    } else if text.is_ascii() && !text.is_empty() && as_utf16(text) == theirs {
        Some("compressed 8-bit text decoded as UTF-16")
    } else if theirs.chars().count() == 1 && text.starts_with(theirs) {
        Some("fixed UTF-16 text cut at its first NUL byte")
    } else if text.contains(['\t', '\n', '\r']) || ours.is_array() {
        Some("control characters escaped")
    } else {
        None
    }
}

/// The bytes of `text` read as UTF-16LE pairs (a trailing odd byte dropped).
fn as_utf16(text: &str) -> String {
    let units: Vec<u16> = text
        .as_bytes()
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Whether esedbexport's text is the same value as ours.
fn esedbexport_agrees(ours: &Json, theirs: &str) -> bool {
    match ours {
        // A NULL fixed column: esedbexport prints the 0x2a filler bytes the page holds.
        Json::Null => {
            [
                "",
                "true",
                "42",
                "10794",
                "707406378",
                "3038287259199220266",
            ]
            .contains(&theirs)
                || theirs.chars().all(|c| c == '*')
                || theirs.replace("2a", "").is_empty()
                || theirs.replace("2a00", "").is_empty()
        }
        Json::Bool(b) => theirs == b.to_string(),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                // Currency is printed unsigned; FILETIMEs in integer columns as dates.
                theirs == i.to_string()
                    || theirs == (i as u64).to_string()
                    || filetime_matches(i, theirs)
            } else if let Some(u) = n.as_u64() {
                theirs == u.to_string()
            } else {
                theirs == format!("{:.6}", n.as_f64().unwrap())
            }
        }
        Json::String(s) => {
            s == theirs
                || s.replace('\\', "\\\\") == theirs
                || guid_matches(s, theirs)
                || date_matches(s, theirs)
        }
        Json::Array(_) | Json::Object(_) => false,
    }
}

/// esedbexport prints a GUID's 16 bytes as stored.
fn guid_matches(ours: &str, theirs: &str) -> bool {
    guid::from_text(ours).is_some_and(|bytes| hex::encode(bytes) == theirs)
}

/// esedbexport's dates: `(0xHIGH 0xLOW)` for the raw OLE double, or `Mon DD, YYYY
/// HH:MM:SS.nnnnnnnnn`; equal when within a millisecond (OLE dates are float noise below).
fn date_matches(ours: &str, theirs: &str) -> bool {
    date_within(ours, theirs, 1000)
}

fn date_within(ours: &str, theirs: &str, tolerance_micros: i64) -> bool {
    let Some(ours) = parse_iso(ours) else {
        return false;
    };
    let theirs_time = if let Some(hex) = theirs.strip_prefix("(0x") {
        let (high, low) = hex.trim_end_matches(')').split_once(" 0x").unwrap();
        let bits =
            u64::from_str_radix(high, 16).unwrap() << 32 | u64::from_str_radix(low, 16).unwrap();
        let days = f64::from_bits(bits);
        let epoch =
            NaiveDateTime::parse_from_str("1899-12-30 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        epoch.checked_add_signed(chrono::Duration::microseconds(
            (days * 86_400e6).round() as i64
        ))
    } else {
        NaiveDateTime::parse_from_str(theirs, "%b %d, %Y %H:%M:%S%.f").ok()
    };
    theirs_time
        .is_some_and(|t| (t - ours).num_microseconds().unwrap_or(i64::MAX).abs() < tolerance_micros)
}

fn filetime_matches(ticks: i64, theirs: &str) -> bool {
    let Ok(theirs) = NaiveDateTime::parse_from_str(theirs, "%b %d, %Y %H:%M:%S%.f") else {
        return false;
    };
    let Some((seconds, nanos)) = u64::try_from(ticks).ok().and_then(filetime::to_unix) else {
        return false;
    };
    DateTime::from_timestamp(seconds, nanos).is_some_and(|time| time.naive_utc() == theirs)
}

fn parse_iso(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.strip_suffix('Z')?, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Every table, column and record value equals what esedbexport writes, after accounting
/// for its printing rules; the cells it cannot print are checked against dissect.database.
#[test]
fn dump_matches_esedbexport() {
    common::needs!(
        Need::Corpus,
        Need::Program("esedbexport"),
        Need::Python("dissect.database")
    );
    let work = tempfile::tempdir().unwrap();
    let (mut cells, mut tables, mut rows) = (0usize, 0usize, 0usize);
    let mut gaps: BTreeMap<&'static str, usize> = BTreeMap::new();
    for file in ese_files().into_iter().filter(|f| esedb_readable(f)) {
        let target = work.path().join(name(&file));
        let out = oracle(
            "esedbexport",
            &["-t", target.to_str().unwrap(), file.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "esedbexport failed on {}",
            file.display()
        );
        let export_dir = PathBuf::from(format!("{}.export", target.display()));
        let mut exported: Vec<PathBuf> = std::fs::read_dir(&export_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        exported.sort();
        let ours_all = dump(&file, None);
        // The table overview (markdown) names every table of our catalog, empty ones too.
        let listing = evtdoctor(&["db", "dump", file.to_str().unwrap(), "--format", "markdown"]);
        let listing = String::from_utf8(listing.stdout).unwrap();
        let our_tables = listing.lines().skip(2).count();
        let dissect_all = json_lines(&dissect(&["dump-live", file.to_str().unwrap()]));
        for path in &exported {
            let (table, _) = name(path)
                .rsplit_once('.')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .unwrap();
            let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
            let mut lines = text.split('\n');
            let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
            let their_rows: Vec<Vec<&str>> = lines
                .filter(|l| !l.is_empty())
                .map(|l| l.split('\t').collect())
                .collect();
            let ours: Vec<&Json> = ours_all
                .iter()
                .filter(|r| r["table"] == table.as_str())
                .collect();
            let dissect_rows: Vec<&Json> = dissect_all
                .iter()
                .filter(|r| r["table"] == table.as_str())
                .collect();
            let listed = format!("| {table} ");
            assert!(
                listing.contains(&listed),
                "{}: {table} missing",
                file.display()
            );
            assert_eq!(
                ours.len(),
                their_rows.len(),
                "{} {table}: rows",
                file.display()
            );
            tables += 1;
            rows += ours.len();
            for (i, (o, t)) in ours.iter().zip(&their_rows).enumerate() {
                let record = o["record"].as_object().unwrap();
                let columns: Vec<&str> = record.keys().map(String::as_str).collect();
                assert_eq!(columns, header, "{} {table}: columns", file.display());
                for ((column, value), theirs) in record.iter().zip(t) {
                    cells += 1;
                    if esedbexport_agrees(value, theirs) {
                        continue;
                    }
                    let gap = esedbexport_gap(value, theirs).unwrap_or_else(|| {
                        panic!(
                            "{} {table} row {i} {column}: ours {value}, esedbexport {theirs:?}",
                            file.display()
                        )
                    });
                    assert_eq!(
                        &dissect_rows[i]["record"][column],
                        value,
                        "{} {table} row {i} {column}: dissect disagrees ({gap})",
                        file.display()
                    );
                    *gaps.entry(gap).or_default() += 1;
                }
            }
        }
        assert_eq!(exported.len(), our_tables, "{}: tables", file.display());
    }
    eprintln!("esedbexport: {tables} tables, {rows} rows, {cells} cells; checked with dissect instead: {gaps:?}");
    assert_eq!((tables, rows), (89, 15_806));
    let deferred: usize = gaps.values().sum();
    assert!(
        deferred * 100 < cells,
        "most cells compare directly ({deferred} of {cells} deferred)"
    );
}

#[test]
fn check_finds_no_problem_in_the_corpus() {
    common::needs!(Need::Corpus);
    for file in ese_files() {
        let out = evtdoctor(&["db", "check", file.to_str().unwrap(), "--jsonl"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(out.stdout.is_empty());
        // The two SRUM files of incoming/ hold a table deleted in the catalog whose pages await
        // ESE's cleanup: a note, not a problem (and not leaked pages).
        let stderr = String::from_utf8_lossy(&out.stderr);
        let note = |object, root| {
            format!("note: table {{5C8CF1C7-7257-4F13-B223-970EF5939312}} (object {object}, root page {root}) is deleted in the catalog")
        };
        match name(&file).as_str() {
            "museum_srum_win10_clean_deleted_tables.dat" => {
                assert!(stderr.contains(&note(12, 47)), "{stderr}")
            }
            "museum_srum_win11_clean_4k.dat" => assert!(stderr.contains(&note(15, 63)), "{stderr}"),
            _ => assert!(!stderr.contains("note:"), "{stderr}"),
        }
    }
}
