//! The committed scenario samples (`samples/`): regenerating them gives the same bytes, the
//! independent readers read every .evt and .evtx back exactly as the scenarios define them,
//! evtdoctor reads every file with the expected counts, and the KMS 5085 of the positive
//! bundles carries KB 818952's payload in every format that can hold data.

use crate::common;
use common::Need;

use common::evtx_oracles::{libevtx_xml, python_evtx, python_view};
use common::{assert_same, evtdoctor, evtdoctor_events, evtexport, oracle, success_stdout};
use evtdoctor_parsers::Event;
use evtdoctor_testkit::logwriter::samples::{bundle, is_kms_5085, write_samples, KMS_EVENT_FILE};
use evtdoctor_testkit::logwriter::scenarios::{Scenario, ServerLogs, SCENARIOS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// KB 818952's data dump, byte for byte (written out here, not taken from the library).
const KB_HEX: &str = "362e302e363234392e30205054006b6d7365727665722e6370704031363533\
                      444431006b6d7365727665722e63707040313132304448613834006b6d736572\
                      7665722e6370704037303444443200";

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn file(scenario: &Scenario, name: &str) -> PathBuf {
    samples_dir().join(scenario.name).join(name)
}

/// Every file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn regenerating_gives_the_committed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_samples(dir.path()).unwrap();
    let fresh = tree(dir.path());
    let committed = tree(&samples_dir());
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "file list (regenerate with: cargo run -p evtdoctor-testkit --example gen_samples -- samples)"
    );
    // 5 bundles of 4 logs, 4 pasted texts, 5 CSV files, 4 setup logs, the README, the demo
    // KMS database (its contents are checked by tests/ese_writer.rs).
    assert_eq!(fresh.len(), 5 * 4 + 4 + 5 + 4 + 1 + 1);
    assert_eq!(fresh["kmsmdb.edb"].len(), 255 * 4096);
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "{name} differs (regenerate with: cargo run -p evtdoctor-testkit --example gen_samples -- samples)"
        );
    }
    let biggest = fresh
        .iter()
        .filter(|(name, _)| !name.ends_with(".edb"))
        .map(|(_, bytes)| bytes.len())
        .max()
        .unwrap();
    assert_eq!(
        biggest,
        4096 + 65536,
        "one-chunk .evtx files are the largest"
    );
}

#[test]
fn evt_files_read_back_identically_with_evtexport() {
    common::needs!(Need::Program("evtexport"));
    let mut records = 0;
    for scenario in SCENARIOS {
        let logs = scenario.logs().unwrap();
        for (name, events) in [
            ("System.evt", &logs.system),
            ("Application.evt", &logs.application),
        ] {
            let path = file(scenario, name);
            let exported = evtexport(&path, "items");
            assert_eq!(exported.len(), events.len(), "{}", path.display());
            for (event, theirs) in events.iter().zip(&exported) {
                assert_same(event, theirs, &path.display().to_string());
            }
            records += exported.len();
        }
    }
    // System + Application per bundle, as samples/README.md lists them.
    assert_eq!(
        records,
        (27 + 14) + (34 + 17) + (27 + 14) + (31 + 14) + (13 + 7)
    );
}

/// Record number, full identifier, source and data of every record, as dissect.eventlog
/// reads them (evtexport does not print the data).
const DISSECT_EVT: &str = r#"
import sys, json
from dissect.eventlog.evt import Evt
with open(sys.argv[1], 'rb') as f:
    print(json.dumps([[r.RecordNumber, r.EventID, r.SourceName, r.Data.hex()] for r in Evt(f)]))
"#;

fn dissect_evt(path: &Path) -> Value {
    let output = oracle("python3", &["-c", DISSECT_EVT, path.to_str().unwrap()]);
    serde_json::from_str(&success_stdout(output)).unwrap()
}

#[test]
fn evt_data_reads_back_with_dissect_eventlog() {
    common::needs!(Need::Python("dissect.eventlog"));
    for scenario in SCENARIOS {
        let logs = scenario.logs().unwrap();
        for (name, events) in [
            ("System.evt", &logs.system),
            ("Application.evt", &logs.application),
        ] {
            let expected: Vec<Value> = events
                .iter()
                .map(|e| {
                    serde_json::json!([
                        e.record_number,
                        e.full_event_id(),
                        e.source,
                        hex::encode(e.data.as_deref().unwrap())
                    ])
                })
                .collect();
            let path = file(scenario, name);
            assert_eq!(
                dissect_evt(&path),
                Value::Array(expected),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn evtx_files_read_back_identically_with_libevtx_and_python_evtx() {
    common::needs!(Need::Program("evtxexport"), Need::Python("Evtx"));
    for scenario in SCENARIOS {
        let logs = scenario.logs().unwrap();
        for (name, events) in [
            ("System.evtx", &logs.system),
            ("Application.evtx", &logs.application),
        ] {
            let path = file(scenario, name);
            let context = path.display().to_string();

            let xml = success_stdout(oracle("evtxexport", &["-f", "xml", &context]));
            let lines: Vec<Option<String>> = xml
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("evtxexport "))
                .map(|l| Some(l.to_owned()))
                .collect();
            let expected: Vec<Option<String>> = events.iter().flat_map(libevtx_xml).collect();
            assert_eq!(lines, expected, "{context}: evtxexport");

            let dump = python_evtx(&path, "all");
            assert_eq!(dump["header_valid"], true, "{context}");
            assert_eq!(
                dump["chunks"],
                serde_json::json!([[true, 1, events.len()]]),
                "{context}"
            );
            let expected: Vec<Value> = events.iter().map(python_view).collect();
            assert_eq!(
                dump["records"],
                Value::Array(expected),
                "{context}: python-evtx"
            );
        }
    }
}

/// `evtdoctor events FILE --jsonl`, parsed; nothing on stderr but the summary line.
fn read_clean(path: &Path) -> Vec<Event> {
    let (events, stderr) = evtdoctor_events(path);
    assert_eq!(stderr.lines().count(), 1, "{}: {stderr}", path.display());
    events
}

/// What every format keeps of an event: identity, time and strings.
fn identity(event: &Event) -> (String, u16, Option<i64>, Vec<String>) {
    (
        event.source.clone(),
        event.event_id,
        event.time().map(|t| t.timestamp()),
        event.strings.clone(),
    )
}

#[test]
fn evtdoctor_reads_every_sample_file_with_the_expected_events() {
    let mut files = 0;
    for scenario in SCENARIOS {
        let ServerLogs {
            system,
            application,
        } = scenario.logs().unwrap();
        for (name, events) in [
            ("System.evt", &system),
            ("Application.evt", &application),
            ("System.evtx", &system),
            ("Application.evtx", &application),
        ] {
            let read = read_clean(&file(scenario, name));
            assert_eq!(read.len(), events.len(), "{} {name}", scenario.name);
            for (read, written) in read.iter().zip(events.iter()) {
                assert_eq!(
                    identity(read),
                    identity(written),
                    "{} {name}",
                    scenario.name
                );
                assert_eq!(read.data, written.data, "{} {name}", scenario.name);
                assert!(!read.origin.recovered, "{} {name}", scenario.name);
            }
            files += 1;
        }

        // The CSV lists the Application log newest first, without data or insertion strings.
        let csv = read_clean(&file(scenario, "Application.csv"));
        assert_eq!(csv.len(), application.len(), "{}", scenario.name);
        for (read, written) in csv.iter().zip(application.iter().rev()) {
            assert_eq!(
                (&read.source, read.event_id, read.time()),
                (&written.source, written.event_id, written.time()),
                "{} csv",
                scenario.name
            );
            assert_eq!(
                read.data, None,
                "{}: a CSV export says it has no data",
                scenario.name
            );
            assert_eq!(read.computer.as_deref(), Some(scenario.computer));
        }
        files += 1;

        let kms: Vec<&Event> = application.iter().filter(|e| is_kms_5085(e)).collect();
        let text = file(scenario, KMS_EVENT_FILE);
        if kms.is_empty() {
            assert!(!text.exists(), "{}", text.display());
            continue;
        }
        let pasted = read_clean(&text);
        assert_eq!(pasted.len(), kms.len(), "{}", text.display());
        for (read, written) in pasted.iter().zip(kms) {
            assert_eq!(
                (&read.source, read.event_id, read.time(), &read.data),
                (
                    &written.source,
                    written.event_id,
                    written.time(),
                    &written.data
                ),
                "{}",
                text.display()
            );
            assert_eq!(read.message, written.message, "{}", text.display());
        }
        files += 1;
    }
    assert_eq!(files, 5 * 5 + 4);
}

/// The data of every MSExchangeKMS 5085 evtdoctor reads from `path`, in hex.
fn kms_data(path: &Path) -> Vec<Option<String>> {
    read_clean(path)
        .iter()
        .filter(|e| is_kms_5085(e))
        .map(|e| e.data.as_deref().map(hex::encode))
        .collect()
}

/// The dump lines of a text, with runs of blanks made one space.
fn dump_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            l.len() > 5 && l.as_bytes()[4] == b':' && l[..4].chars().all(|c| c.is_ascii_hexdigit())
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn positive_bundles_carry_the_kbs_exact_payload_wherever_the_format_can() {
    common::needs!(
        Need::Program("evtxexport"),
        Need::Python("dissect.eventlog"),
        Need::Python("Evtx")
    );
    let kb = vec![Some(KB_HEX.to_owned())];
    let kb_dump = dump_lines(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kb818952_event_5085.txt"),
        )
        .unwrap(),
    );
    assert_eq!(kb_dump.len(), 10);
    for scenario in SCENARIOS.iter().filter(|s| s.positive) {
        let name = scenario.name;
        // .evt: evtdoctor and dissect.eventlog.
        assert_eq!(kms_data(&file(scenario, "Application.evt")), kb, "{name}");
        let records = dissect_evt(&file(scenario, "Application.evt"));
        let kms: Vec<&Value> = records
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r[2] == "MSExchangeKMS")
            .collect();
        assert_eq!(kms.len(), 1, "{name}");
        assert_eq!(kms[0][1], 0xc000_13dd_u32, "{name}");
        assert_eq!(kms[0][3], KB_HEX, "{name}");

        // .evtx: evtdoctor, evtxexport and python-evtx.
        let evtx = file(scenario, "Application.evtx");
        assert_eq!(kms_data(&evtx), kb, "{name}");
        let xml = success_stdout(oracle("evtxexport", &["-f", "xml", evtx.to_str().unwrap()]));
        let binary = format!("<Binary>{}</Binary>", KB_HEX.to_uppercase());
        assert_eq!(xml.matches(&binary).count(), 1, "{name}");
        let dump = python_evtx(&evtx, "all");
        let binaries: Vec<&Value> = dump["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["binary"])
            .filter(|b| *b != "")
            .collect();
        assert_eq!(binaries, [KB_HEX], "{name}");

        // Pasted text: the dump lines are the KB's, and it reads back to the same bytes.
        let text = file(scenario, KMS_EVENT_FILE);
        assert_eq!(
            dump_lines(&std::fs::read_to_string(&text).unwrap()),
            kb_dump,
            "{name}"
        );
        assert_eq!(kms_data(&text), kb, "{name}");

        // CSV: no data column; evtdoctor says the data is unknown (null), not empty.
        assert_eq!(
            kms_data(&file(scenario, "Application.csv")),
            [None],
            "{name}"
        );
    }
}

#[test]
fn negative_bundles_differ_from_the_kb_case_where_they_should() {
    let by_name = |name: &str| SCENARIOS.iter().find(|s| s.name == name).unwrap();

    // Exchange 2000 SP2: the 5085 data names build 5762, the store's engine events too.
    let sp2 = by_name("sp4-no-exchange-sp3");
    let data = kms_data(&file(sp2, "Application.evtx"));
    let expected = hex::encode(b"6.0.5762.0 PT\0kmserver.cpp@1653DD1\0");
    assert!(
        data[0].as_deref().unwrap().starts_with(&expected),
        "{data:?}"
    );
    let engine_builds: Vec<String> = read_clean(&file(sp2, "Application.evt"))
        .iter()
        .filter(|e| e.source == "ESE98" && e.event_id == 100)
        .map(|e| e.strings[3..].join("."))
        .collect();
    assert_eq!(engine_builds, ["6.0.5762.0"; 4]);

    // 5085 while the boots still say SP3.
    let early = by_name("kms-before-sp4");
    let system = read_clean(&file(early, "System.evt"));
    let kms_time = read_clean(&file(early, "Application.evt"))
        .iter()
        .find(|e| is_kms_5085(e))
        .and_then(Event::time)
        .unwrap();
    let last_boot = system
        .iter()
        .rfind(|e| e.event_id == 6009 && e.time().unwrap() < kms_time)
        .unwrap();
    assert_eq!(last_boot.strings[2], "Service Pack 3");
    assert!(system
        .iter()
        .any(|e| e.event_id == 6009 && e.strings[2] == "Service Pack 4"));

    // Healthy: SP4 boots, KMS running, no 5085 in any file.
    let healthy = by_name("healthy");
    for file_name in ["Application.evt", "Application.evtx", "Application.csv"] {
        assert_eq!(
            kms_data(&file(healthy, file_name)),
            [] as [Option<String>; 0]
        );
    }
    let running: Vec<String> = read_clean(&file(healthy, "System.evtx"))
        .iter()
        .filter(|e| e.event_id == 7036)
        .map(|e| e.strings.join(" "))
        .filter(|s| s.starts_with("Microsoft Exchange Key Management"))
        .collect();
    assert_eq!(running.len(), 2);
    assert_eq!(
        bundle(healthy)
            .unwrap()
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>(),
        [
            "System.evt",
            "System.evtx",
            "Application.evt",
            "Application.evtx",
            "Application.csv"
        ]
    );
}

#[test]
fn pasted_kms_events_decode_to_the_scenarios_exchange_build() {
    let mut decoded = Vec::new();
    for scenario in SCENARIOS {
        let text = file(scenario, KMS_EVENT_FILE);
        if !text.exists() {
            continue;
        }
        let output = evtdoctor(&["decode", text.to_str().unwrap(), "--json"]);
        let events: Value = serde_json::from_str(&success_stdout(output)).unwrap();
        let payload = &events[0]["payload"];
        let build = &payload["build"];
        decoded.push(format!(
            "{} {}.{}.{}.{} {} {}",
            scenario.name,
            build["major"],
            build["minor"],
            build["build"],
            build["revision"],
            build["flavour"],
            payload["markers"].as_array().unwrap().len()
        ));
    }
    assert_eq!(
        decoded,
        [
            "kms-sp4 6.0.6249.0 \"PT\" 3",
            "kms-sp4-fixed 6.0.6249.0 \"PT\" 3",
            "sp4-no-exchange-sp3 6.0.5762.0 \"PT\" 3",
            "kms-before-sp4 6.0.6249.0 \"PT\" 3",
        ]
    );
}
