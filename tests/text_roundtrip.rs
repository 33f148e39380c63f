//! Event text round trips: corpus records whose binary data the binary readers decoded are
//! rendered to every text shape engineers paste (Bytes view, Words view, tab export, event XML)
//! and read back; the bytes and fields must come back identical. Real XML from the oracles
//! (evtx_dump, evtxexport) and evtdoctor's own CSV are read back through the binary too.

use crate::common;
use common::Need;

use common::{corpus_files, evtdoctor, evtx_corpus_files, oracle, rust_evtx_dump};
use evtdoctor::input::{read_events, ReadOptions};
use evtdoctor_parsers::evtx::{read_evtx_all, EvtxOptions};
use evtdoctor_parsers::text::{read_text, TextKind, TextOptions, TimeBasis};
use evtdoctor_parsers::{Event, Level};
use evtdoctor_testkit::logwriter::text as render;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The allocated records of an .evtx file (no carving: the oracles export allocated records).
fn evtx_events(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap();
    let options = EvtxOptions {
        threads: 1,
        recover: false,
        ..EvtxOptions::default()
    };
    let (events, _) = read_evtx_all(&bytes, options).unwrap();
    events
}

/// Renders binary data as a dump view.
type Dump = dyn Fn(&[u8]) -> String;

fn with_data(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.data.as_ref().is_some_and(|d| !d.is_empty()))
        .count()
}

/// The .evtx corpus files whose records carry binary data, with their records.
fn evtx_with_data() -> Vec<(PathBuf, Vec<Event>)> {
    evtx_corpus_files()
        .into_iter()
        .map(|path| {
            let events = evtx_events(&path);
            (path, events)
        })
        .filter(|(_, events)| with_data(events) > 0)
        .collect()
}

/// Reads rendered text back, failing on any problem.
fn read_back(text: impl AsRef<[u8]>, kind: TextKind) -> Vec<Event> {
    let read = read_text(text.as_ref(), TextOptions::default()).expect("text recognised");
    assert_eq!(read.kind, kind);
    read.items
        .into_iter()
        .map(|item| item.unwrap_or_else(|p| panic!("problem reading back: {p}")))
        .collect()
}

/// What a text export keeps of a level.
fn exported_level(level: Level) -> Level {
    match level {
        Level::Other(_) => Level::Other(0),
        other => other,
    }
}

/// The description as the block reader gives it: lines without trailing blanks, no blank
/// lines around.
fn normalised_description(event: &Event) -> Option<String> {
    let text = render::description(event).replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty())?;
    let last = lines.iter().rposition(|l| !l.is_empty())?;
    Some(lines[first..=last].join("\n"))
}

/// Fields a pasted block and a classic tab export carry.
fn assert_export_fields(original: &Event, back: &Event, what: &str) {
    assert_eq!(back.source, original.source, "{what}: source");
    assert_eq!(back.event_id, original.event_id, "{what}: event id");
    assert_eq!(back.level, exported_level(original.level), "{what}: level");
    assert_eq!(
        back.category,
        Some(original.category.unwrap_or(0)),
        "{what}"
    );
    assert_eq!(back.computer, original.computer, "{what}: computer");
    assert_eq!(back.user, original.user, "{what}: user");
    let seconds = |e: &Event| e.time().map(|t| t.timestamp());
    assert_eq!(seconds(back), seconds(original), "{what}: time");
}

/// Renders `events` as pasted blocks with `dump`, reads them back and compares everything.
fn assert_blocks_round_trip(
    name: &str,
    events: &[Event],
    view: &str,
    dump: &dyn Fn(&[u8]) -> String,
) {
    let text: String = events
        .iter()
        .map(|e| render::event_block(e, dump))
        .collect();
    let back = read_back(&text, TextKind::Blocks);
    assert_eq!(back.len(), events.len(), "{name} {view}: event count");
    for (index, (original, back)) in events.iter().zip(&back).enumerate() {
        let what = format!("{name} {view} event {index}");
        assert_export_fields(original, back, &what);
        assert_eq!(
            back.message,
            normalised_description(original),
            "{what}: description"
        );
        let expected = original.data.clone().filter(|d| !d.is_empty());
        assert_eq!(back.data, expected, "{what}: data");
    }
}

fn assert_all_views_round_trip(name: &str, events: &[Event]) {
    let views: [(&str, &Dump); 4] = [
        ("bytes/8/ascii", &|d| render::bytes_view(d, 8, true, false)),
        ("bytes/16/plain", &|d| {
            render::bytes_view(d, 16, false, true)
        }),
        ("bytes/16/ascii", &|d| render::bytes_view(d, 16, true, true)),
        ("words", &render::words_view),
    ];
    for (view, dump) in views {
        assert_blocks_round_trip(name, events, view, dump);
    }
}

#[test]
fn evtx_records_with_data_are_the_ones_the_oracle_lists() {
    common::needs!(Need::Corpus, Need::Program("evtxexport"));
    // evtxexport's <Binary> elements are the independent count of records with data.
    let found = evtx_with_data();
    let names: Vec<String> = found
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "Application_no_crc32_omerevtx.evtx",
            "System_binarydata_plaso.evtx",
            "attack_netlogon5805_zerologon_binary.evtx",
            "testapp_binarydata_dissect.evtx",
            "museum_win10_application_eventsourcename.evtx",
        ]
    );
    for (path, events) in &found {
        let xml = oracle("evtxexport", &["-f", "xml", path.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&xml.stdout);
        let binaries = text.matches("<Binary>").count();
        assert_eq!(with_data(events), binaries, "{}", path.display());
    }
}

#[test]
fn bytes_and_words_dumps_round_trip_every_evtx_record() {
    common::needs!(Need::Corpus);
    let mut checked = 0;
    for (path, events) in evtx_with_data() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_all_views_round_trip(&name, &events);
        checked += with_data(&events);
    }
    // 1 + 3540 + 1 + 2 records with data (PROVENANCE-eventlogs.md, evtxexport), and 46 in
    // the museum Application log (the oracle test above counts them with evtxexport).
    assert_eq!(checked, 3590);
}

/// Records with a Data section per .evt corpus file, as PROVENANCE-eventlogs.md counts them
/// with an independent byte scan (allocated and slack records).
const EVT_WITH_DATA: [(&str, usize); 5] = [
    ("testapp_small_clean_dissect.evt", 2),
    ("testapp_small_dirty_dissect.evt", 2),
    ("win2003_sp2_Application_dirty_evtparser.evt", 29),
    ("win2003_sp2_System_dirty_evtparser.evt", 25),
    ("winxp_sp3_System_wrapped_dirty_plaso.Evt", 860),
];

#[test]
fn evt_records_with_data_round_trip_through_every_dump_view() {
    common::needs!(Need::Corpus);
    for path in corpus_files("evt", &[".evt"]) {
        let mut events = Vec::new();
        let report = read_events(&path, ReadOptions::default(), |e| events.push(e));
        assert!(
            !events.is_empty(),
            "{}: no records from the .evt reader ({:?})",
            path.display(),
            report.fatal
        );
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = EVT_WITH_DATA
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c);
        assert_eq!(
            Some(with_data(&events)),
            expected,
            "{name}: records with data"
        );
        assert_all_views_round_trip(&name, &events);
        eprintln!(
            "{name}: {} records, {} with data, round-tripped through 4 dump views",
            events.len(),
            with_data(&events)
        );
    }
}

#[test]
fn classic_tab_export_round_trips_fields_and_says_it_has_no_data() {
    common::needs!(Need::Corpus);
    for (path, events) in evtx_with_data() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text: String = events.iter().map(render::classic_tab_row).collect();
        let back = read_back(&text, TextKind::Delimited);
        assert_eq!(back.len(), events.len(), "{name}");
        for (index, (original, back)) in events.iter().zip(&back).enumerate() {
            let what = format!("{name} tab row {index}");
            assert_export_fields(original, back, &what);
            let description = render::description(original).replace("\r\n", "\n");
            assert_eq!(
                back.message,
                (!description.trim().is_empty()).then_some(description),
                "{what}"
            );
            assert_eq!(back.data, None, "{what}: an export without data says so");
        }
    }
}

#[test]
fn wevtutil_and_evtx_dump_shaped_xml_round_trips_every_field() {
    common::needs!(Need::Corpus);
    for (path, events) in evtx_with_data() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let wevtutil: String = events.iter().map(render::event_xml).collect();
        let evtx_dump: String = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                format!(
                    "Record {}\n<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n",
                    i + 1,
                    render::event_xml(e)
                )
            })
            .collect();
        // PowerShell redirects wevtutil's output as UTF-16LE with a byte-order mark.
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(wevtutil.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let shapes = [
            ("wevtutil", wevtutil.into_bytes()),
            ("wevtutil utf-16", utf16),
            ("evtx_dump", evtx_dump.into_bytes()),
        ];
        for (shape, text) in shapes {
            let back = read_back(&text, TextKind::Xml);
            assert_eq!(back.len(), events.len(), "{name} {shape}");
            for (original, back) in events.iter().zip(&back) {
                let mut expected = original.clone();
                // XML has no written time, and levels only by number. The writer names one
                // provider (the source) and one record number (the header's).
                expected.time_written = None;
                expected.provider = None;
                expected.event_record_id = None;
                if matches!(expected.level, Level::AuditSuccess | Level::AuditFailure) {
                    expected.level = Level::Information;
                }
                assert_eq!(back, &expected, "{name} {shape}");
            }
        }
    }
}

/// `evtdoctor events --jsonl` of one input, without the fields that name where records came
/// from.
pub(crate) fn events_jsonl(args: &[&str]) -> Vec<Value> {
    let output = evtdoctor(&[&["events", "--jsonl", "--no-recover"], args].concat());
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            for key in ["file", "origin", "time_basis"] {
                object.remove(key);
            }
            value
        })
        .collect()
}

#[test]
fn oracle_xml_from_evtx_dump_and_evtxexport_reads_like_the_log() {
    common::needs!(
        Need::Corpus,
        Need::RustEvtxDump,
        Need::Program("evtxexport")
    );
    let dir = tempfile::tempdir().unwrap();
    let evtx_dump = rust_evtx_dump();
    for (path, _) in evtx_with_data() {
        let log = path.to_str().unwrap();
        let mut from_log = events_jsonl(&[log]);
        for value in &mut from_log {
            // Neither XML rendering carries the record header's written time.
            value["time_written"] = Value::Null;
        }
        let dumps = [
            ("evtx_dump", oracle(&evtx_dump, &["-t", "1", log])),
            ("evtxexport", oracle("evtxexport", &["-f", "xml", log])),
        ];
        for (tool, output) in dumps {
            assert!(output.status.success(), "{tool} {log}");
            let xml = dir.path().join(format!("{tool}.xml"));
            std::fs::write(&xml, &output.stdout).unwrap();
            let from_xml = events_jsonl(&[xml.to_str().unwrap()]);
            assert_eq!(from_xml.len(), from_log.len(), "{tool} {log}");
            for (a, b) in from_xml.iter().zip(&from_log) {
                assert_eq!(a["data"], b["data"], "{tool} {log}: data");
                assert_eq!(a["event_id"], b["event_id"], "{tool} {log}");
                assert_eq!(a["source"], b["source"], "{tool} {log}");
                assert_eq!(a["time_generated"], b["time_generated"], "{tool} {log}");
            }
        }
    }
}

#[test]
fn evtdoctor_csv_reads_back_into_the_same_events() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    for (path, _) in evtx_with_data() {
        let log = path.to_str().unwrap();
        let csv = evtdoctor(&["events", "--format", "csv", "--no-recover", log]);
        assert!(csv.status.success());
        let file = dir.path().join("events.csv");
        std::fs::write(&file, &csv.stdout).unwrap();
        let from_csv = events_jsonl(&[file.to_str().unwrap()]);
        let from_log = events_jsonl(&[log]);
        assert_eq!(from_csv.len(), from_log.len(), "{log}");
        for (a, b) in from_csv.iter().zip(&from_log) {
            let mut b = b.clone();
            // Every field comes back (strings exactly, from their JSON array); the
            // description's line breaks come back as LF.
            if let Some(message) = b["message"].as_str() {
                b["message"] = message.replace("\r\n", "\n").into();
            }
            assert_eq!(a, &b, "{log}");
        }
    }
}

#[test]
fn zone_less_times_are_marked_and_tz_shifts_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.txt");
    std::fs::write(
        &file,
        "7/1/2003\t10:00:05 AM\tMSExchangeKMS\tError\tNone\t5085\tN/A\tEXCH01\tKMS can not mount\r\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let assumed = evtdoctor(&["events", "--jsonl", path]);
    let value: Value = serde_json::from_slice(&assumed.stdout).unwrap();
    assert_eq!(value["time_generated"], "2003-07-01T10:00:05Z");
    assert_eq!(value["time_basis"], TimeBasis::AssumedUtc.label());
    let table = String::from_utf8(evtdoctor(&["events", path]).stdout).unwrap();
    assert!(table.contains("2003-07-01 10:00:05 *"), "{table}");
    assert!(table.contains("read as UTC"), "{table}");
    let shifted = evtdoctor(&["events", "--jsonl", "--tz", "-05:00", path]);
    let value: Value = serde_json::from_slice(&shifted.stdout).unwrap();
    assert_eq!(value["time_generated"], "2003-07-01T15:00:05Z");
    assert_eq!(value["time_basis"], "-05:00");
}
