//! The project's .evtx writer, proven by reading its output back with evtdoctor and with the
//! independent readers (libevtx's evtxinfo/evtxexport, python-evtx).

use crate::common;
use common::Need;

use chrono::{DateTime, Duration, Utc};
use common::evtx_oracles::{libevtx_xml, python_evtx, python_view};
use common::{evtdoctor, oracle, success_stdout};
use evtdoctor_parsers::{Event, Level};
use evtdoctor_testkit::logwriter::evtx::write_evtx;
use serde_json::Value;
use sha2::{Digest, Sha256};

use std::path::{Path, PathBuf};

/// The Data of the KB 818952 event 5085: the Exchange build and three kmserver.cpp markers.
const KMS_5085_DATA: &[u8] =
    b"6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[allow(clippy::too_many_arguments)]
fn event(
    record: u64,
    source: &str,
    event_id: u16,
    qualifiers: Option<u16>,
    level: Level,
    generated: &str,
    log: &str,
    strings: &[&str],
    data: &[u8],
) -> Event {
    let mut e = Event::new(source, event_id, level);
    e.record_number = Some(record);
    e.qualifiers = qualifiers;
    e.time_generated = Some(at(generated));
    e.time_written = Some(at(generated) + Duration::seconds(1));
    e.log = Some(log.into());
    e.computer = Some("KMSSRV01".into());
    e.category = Some(0);
    e.strings = strings.iter().map(|s| s.to_string()).collect();
    e.data = Some(data.to_vec());
    e
}

/// The varied sample: the KMS failure, the SP4 boot banner, empty strings, no data, unicode,
/// missing qualifiers, a user SID, a category.
fn sample_events() -> Vec<Event> {
    let mut events = vec![
        event(
            1,
            "EventLog",
            6009,
            Some(0x8000),
            Level::Information,
            "2003-07-01T09:58:41Z",
            "System",
            &["5.00.", "2195", "Service Pack 4", "Uniprocessor Free"],
            &[],
        ),
        event(
            2,
            "EventLog",
            6005,
            Some(0x8000),
            Level::Information,
            "2003-07-01T09:58:41.0000001Z",
            "System",
            &[],
            &[],
        ),
        event(
            3,
            "MSExchangeKMS",
            5085,
            Some(0xc000),
            Level::Error,
            "2003-07-01T10:00:05.1234567Z",
            "Application",
            &[],
            KMS_5085_DATA,
        ),
        event(
            4,
            "Userenv",
            1000,
            None,
            Level::Warning,
            "2003-07-01T10:00:06Z",
            "Application",
            &["", "between empties", ""],
            &[0x00, 0xff, 0x10],
        ),
        event(
            5,
            "Ünïcödé Quelle",
            7,
            Some(0x4000),
            Level::Error,
            "2003-07-01T10:00:07Z",
            "Application",
            &[
                "日本語のテキスト",
                "emoji 🎉 and a & b <c> \"d\" 'e'",
                "tab\there",
            ],
            &[],
        ),
    ];
    events[2].user = None;
    events[3].user = Some("S-1-5-18".into());
    events[3].category = Some(3);
    events[4].user = Some("S-1-5-21-1587066498-1489273250-1035260531-1108".into());
    events[4].computer = Some("SRV-ÄÖÜ".into());
    events
}

fn write_file(dir: &Path, name: &str, events: &[Event]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, write_evtx(events).unwrap()).unwrap();
    path
}

/// Reads a file back with `evtdoctor events --jsonl`.
fn read_back(path: &Path) -> Vec<Event> {
    success_stdout(evtdoctor(&["events", "--jsonl", path.to_str().unwrap()]))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn evtdoctor_reads_back_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    let path = write_file(dir.path(), "sample.evtx", &events);
    let read = read_back(&path);
    assert_eq!(read.len(), events.len());
    for (read, written) in read.iter().zip(&events) {
        assert!(!read.origin.recovered);
        let mut expected = written.clone();
        expected.origin = read.origin.clone();
        assert_eq!(read, &expected);
    }
    assert_eq!(read[2].data.as_deref(), Some(KMS_5085_DATA));
    assert_eq!(KMS_5085_DATA.len(), 78);
}

#[test]
fn python_evtx_reads_back_the_sample_with_valid_checksums() {
    common::needs!(Need::Python("Evtx"));
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    let path = write_file(dir.path(), "sample.evtx", &events);
    let dump = python_evtx(&path, "all");
    assert_eq!(dump["header_valid"], true);
    assert_eq!(dump["chunks"], serde_json::json!([[true, 1, 5]]));
    assert_eq!(dump["count"], 5);
    let expected: Vec<Value> = events.iter().map(python_view).collect();
    assert_eq!(dump["records"], Value::Array(expected));
}

#[test]
fn libevtx_reads_back_the_sample_as_uncorrupted_xml() {
    common::needs!(Need::Program("evtxexport"), Need::Program("evtxinfo"));
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    let path = write_file(dir.path(), "sample.evtx", &events);
    let file = path.to_str().unwrap();

    let info = success_stdout(oracle("evtxinfo", &[file]));
    assert!(info.contains("Number of records\t\t: 5\n"), "{info}");
    assert!(
        info.contains("Number of recovered records\t: 0\n"),
        "{info}"
    );
    assert!(!info.contains("corrupted"), "{info}");

    let xml = success_stdout(oracle("evtxexport", &["-f", "xml", file]));
    let lines: Vec<&str> = xml
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("evtxexport "))
        .collect();
    let expected: Vec<Option<String>> = events.iter().flat_map(libevtx_xml).collect();
    assert_eq!(lines.len(), expected.len(), "{xml}");
    for (line, want) in lines.iter().zip(&expected) {
        match want {
            Some(want) => assert_eq!(line, want),
            None => assert!(line.starts_with("<Data>") && line.ends_with("</Data>")),
        }
    }
    assert!(xml.contains(&format!(
        "<Binary>{}</Binary>",
        hex::encode_upper(KMS_5085_DATA)
    )));
}

/// `evtxexport`'s text mode: record number, written time, source, computer, user and
/// strings (the binary data follows the strings as one hex string).
#[test]
fn libevtx_text_export_lists_ids_times_sources_and_strings() {
    common::needs!(Need::Program("evtxexport"));
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    let path = write_file(dir.path(), "sample.evtx", &events);
    let export = success_stdout(oracle("evtxexport", &[path.to_str().unwrap()]));
    let blocks: Vec<&str> = export
        .split("\n\n")
        .filter(|b| b.contains("Event number"))
        .collect();
    assert_eq!(blocks.len(), events.len());
    for (block, e) in blocks.iter().zip(&events) {
        let field = |name: &str| -> Vec<String> {
            block
                .lines()
                .filter_map(|l| l.split_once(&format!("{name}\t")))
                .map(|(_, v)| {
                    v.trim_start_matches('\t')
                        .trim_start_matches(": ")
                        .to_string()
                })
                .collect()
        };
        assert_eq!(
            field("Event number"),
            [e.record_number.unwrap().to_string()]
        );
        let written = e.time_written.unwrap().format("%b %d, %Y %H:%M:%S%.9f UTC");
        assert_eq!(field("Written time"), [written.to_string()]);
        assert_eq!(field("Source name"), [e.source.as_str()]);
        assert_eq!(field("Computer name"), [e.computer.clone().unwrap()]);
        assert_eq!(
            field("User security identifier"),
            e.user.iter().cloned().collect::<Vec<_>>()
        );
        let mut strings = e.strings.clone();
        if let Some(data) = e.data.as_deref().filter(|d| !d.is_empty()) {
            strings.push(hex::encode_upper(data));
        }
        let shown: Vec<String> = block
            .lines()
            .filter(|l| l.starts_with("String: "))
            .map(|l| l.split_once("\t: ").unwrap().1.to_string())
            .collect();
        assert_eq!(shown.len(), strings.len());
        for (shown, want) in shown.iter().zip(&strings) {
            if !want.chars().any(|c| c > '\u{ffff}') {
                assert_eq!(shown, want);
            }
        }
    }
}

/// Audits carry level 0 and say their outcome in the keywords, next to the classic-source bit.
#[test]
fn audits_are_written_with_level_zero_and_outcome_keywords() {
    common::needs!(Need::Python("Evtx"));
    let dir = tempfile::tempdir().unwrap();
    let mut success = Event::new("Security", 528, Level::AuditSuccess);
    success.log = Some("Security".into());
    let mut failure = success.clone();
    failure.event_id = 529;
    failure.level = Level::AuditFailure;
    let path = write_file(dir.path(), "audits.evtx", &[success, failure]);
    let dump = python_evtx(&path, "all");
    let seen: Vec<(Value, Value)> = dump["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["level"].clone(), r["keywords"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (0.into(), "0x00a0000000000000".into()),
            (0.into(), "0x0090000000000000".into())
        ]
    );
}

#[test]
fn an_empty_log_is_valid_for_every_reader() {
    common::needs!(Need::Program("evtxinfo"), Need::Python("Evtx"));
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "empty.evtx", &[]);
    let info = success_stdout(oracle("evtxinfo", &[path.to_str().unwrap()]));
    assert!(info.contains("Number of records\t\t: 0\n"), "{info}");
    assert!(!info.contains("corrupted"), "{info}");
    let dump = python_evtx(&path, "all");
    assert_eq!(dump["header_valid"], true);
    assert_eq!(dump["chunks"], serde_json::json!([[true, 0, 0]]));
    assert_eq!(dump["count"], 0);
    assert_eq!(read_back(&path), []);
}

/// 5,000 events of varied shapes: enough for several chunks, several templates per chunk.
fn many_events() -> Vec<Event> {
    let start = at("2003-07-01T00:00:00Z");
    (1..=5000u64)
        .map(|n| {
            let strings: Vec<String> = (0..n % 5)
                .map(|i| format!("string {i} of record {n}"))
                .collect();
            let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
            let data = vec![(n % 251) as u8; (n % 7) as usize * 3];
            let generated = start + Duration::milliseconds(n as i64 * 1500);
            event(
                n,
                ["EventLog", "MSExchangeKMS", "Service Control Manager"][(n % 3) as usize],
                (n % 9000) as u16,
                Some(0x4000),
                [Level::Information, Level::Warning, Level::Error][(n % 3) as usize],
                &generated.to_rfc3339(),
                "Application",
                &strings,
                &data,
            )
        })
        .collect()
}

#[test]
fn many_events_fill_several_chunks_and_round_trip() {
    common::needs!(
        Need::Program("evtxexport"),
        Need::Program("evtxinfo"),
        Need::Python("Evtx")
    );
    let dir = tempfile::tempdir().unwrap();
    let events = many_events();
    let path = write_file(dir.path(), "many.evtx", &events);
    let size = std::fs::metadata(&path).unwrap().len();
    let chunks = (size - 4096) / 65536;
    assert_eq!(size, 4096 + chunks * 65536);
    assert!(chunks >= 5, "{chunks} chunks");

    let read = read_back(&path);
    assert_eq!(read.len(), 5000);
    for (read, written) in read.iter().zip(&events) {
        let mut expected = written.clone();
        expected.origin = read.origin.clone();
        assert_eq!(read, &expected);
    }

    let info = success_stdout(oracle("evtxinfo", &[path.to_str().unwrap()]));
    assert!(info.contains("Number of records\t\t: 5000\n"), "{info}");
    assert!(!info.contains("corrupted"), "{info}");
    let export = success_stdout(oracle("evtxexport", &[path.to_str().unwrap()]));
    let numbers: Vec<u64> = export
        .lines()
        .filter_map(|l| l.strip_prefix("Event number\t\t\t: "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(numbers, (1..=5000).collect::<Vec<u64>>());

    let spots = [1u64, 2, 1234, 2500, 4999, 5000];
    let list: Vec<String> = spots.iter().map(u64::to_string).collect();
    let dump = python_evtx(&path, &list.join(","));
    assert_eq!(dump["count"], 5000);
    assert_eq!(dump["header_valid"], true);
    let ranges = dump["chunks"].as_array().unwrap();
    assert_eq!(ranges.len() as u64, chunks);
    let mut next = 1;
    for range in ranges {
        assert_eq!(range[0], true, "chunk checksums");
        assert_eq!(range[1], next);
        next = range[2].as_u64().unwrap() + 1;
    }
    assert_eq!(next, 5001);
    let expected: Vec<Value> = spots
        .iter()
        .map(|&n| python_view(&events[n as usize - 1]))
        .collect();
    assert_eq!(dump["records"], Value::Array(expected));
}

#[test]
fn the_same_events_give_the_same_bytes() {
    let events = many_events();
    let first = Sha256::digest(write_evtx(&events).unwrap());
    let second = Sha256::digest(write_evtx(&events).unwrap());
    assert_eq!(first, second);
    let mut changed = events.clone();
    changed[4321].strings.push("one more".into());
    assert_ne!(Sha256::digest(write_evtx(&changed).unwrap()), first);
}
