//! The project's .evtx writer, proven by reading its output back with evtdoctor and with the
//! independent readers (libevtx's evtxinfo/evtxexport, python-evtx).

mod common;

use chrono::{DateTime, Duration, Utc};
use common::evtdoctor;
use evtdoctor::logwriter::evtx::write_evtx;
use evtdoctor_parsers::{Event, Level};

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

fn text(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Reads a file back with `evtdoctor events --jsonl`.
fn read_back(path: &Path) -> Vec<Event> {
    text(evtdoctor(&["events", "--jsonl", path.to_str().unwrap()]))
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
