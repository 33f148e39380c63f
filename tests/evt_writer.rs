//! Files written by `logwriter::evt` read back identically by libevt's `evtexport` and by
//! evtdoctor itself: clean, wrapped (with a record straddling the wrap point) and dirty.

use crate::common;
use common::Need;

use chrono::{TimeZone, Utc};
use common::{assert_same, evtdoctor_events, evtexport, oracle};
use evtdoctor_parsers::{Event, Level, Origin};
use evtdoctor_testkit::logwriter::evt::{EvtFile, EvtWriter};

/// The KMS 5085 data from KB 818952: NUL-separated ASCII, 78 bytes.
const KMS_DATA: &[u8] =
    b"6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0";

/// `count` varied events: boot records, the KMS failure with its data, audits with SIDs,
/// non-ASCII strings; record numbers from 1.
fn events(count: u32) -> Vec<Event> {
    (1..=count)
        .map(|n| {
            let time = Utc.with_ymd_and_hms(2003, 7, 1, 8, 0, 0).unwrap()
                + chrono::Duration::seconds(i64::from(n) * 61);
            let mut event = match n % 4 {
                0 => {
                    let mut e = Event::new("MSExchangeKMS", 5085, Level::Error);
                    e.qualifiers = Some(0xc000);
                    e.strings = vec![];
                    e.data = Some(KMS_DATA.to_vec());
                    e
                }
                1 => {
                    let mut e = Event::new("EventLog", 6009, Level::Information);
                    e.qualifiers = Some(0x8000);
                    e.strings = ["5.00.", "2195", "Service Pack 4", "Uniprocessor Free"]
                        .map(String::from)
                        .to_vec();
                    e.data = Some(Vec::new());
                    e
                }
                2 => {
                    let mut e = Event::new("Security", 528, Level::AuditSuccess);
                    e.qualifiers = Some(0);
                    e.category = Some(2);
                    e.user = Some("S-1-5-21-1004336348-1177238915-682003330-500".into());
                    e.strings = vec![format!("Administrator {n}"), "Jürgen ✓".into()];
                    e.data = Some(Vec::new());
                    e
                }
                _ => {
                    let mut e = Event::new("Service Control Manager", 7036, Level::Warning);
                    e.qualifiers = Some(0x4000);
                    e.user = Some("S-1-5-18".into());
                    e.strings = vec!["Line one\r\nline two".into(), String::new()];
                    e.data = Some(vec![0xde, 0xad, 0xbe, 0xef, n as u8]);
                    e
                }
            };
            event.record_number = Some(u64::from(n));
            event.time_generated = Some(time);
            event.time_written = Some(time + chrono::Duration::seconds(1));
            event.computer = Some("EXCH01".into());
            event.category = event.category.or(Some(0));
            event
        })
        .collect()
}

/// The event as read back, without where it was found.
fn without_origin(event: &Event) -> Event {
    Event {
        origin: Origin::default(),
        ..event.clone()
    }
}

fn write(dir: &tempfile::TempDir, name: &str, file: &EvtFile) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, &file.bytes).unwrap();
    path
}

/// Checks one written file with both readers: the live records are exactly `expected`.
fn assert_reads_back(path: &std::path::Path, expected: &[Event]) -> Vec<Event> {
    let exported = evtexport(path, "items");
    assert_eq!(exported.len(), expected.len(), "evtexport record count");
    for (event, theirs) in expected.iter().zip(&exported) {
        assert_same(event, theirs, &path.display().to_string());
    }
    let (read, stderr) = evtdoctor_events(path);
    let (live, carved): (Vec<Event>, Vec<Event>) =
        read.into_iter().partition(|e| !e.origin.recovered);
    let live_plain: Vec<Event> = live.iter().map(without_origin).collect();
    assert_eq!(
        live_plain, expected,
        "evtdoctor read-back; stderr: {stderr}"
    );
    assert!(!stderr.contains("offset"), "no problems expected: {stderr}");
    carved
}

fn evtinfo(path: &std::path::Path) -> String {
    let out = oracle("evtinfo", &[&path.to_string_lossy()]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clean_log_reads_back_identically() {
    common::needs!(Need::Program("evtexport"), Need::Program("evtinfo"));
    let dir = tempfile::tempdir().unwrap();
    let all = events(12);
    let file = EvtWriter::new(0x10000).write(&all).unwrap();
    assert_eq!(
        (file.wrapped, file.straddling, file.live.clone()),
        (false, None, 1..=12)
    );
    let path = write(&dir, "clean.evt", &file);
    let carved = assert_reads_back(&path, &all);
    assert!(carved.is_empty());
    let info = evtinfo(&path);
    assert!(info.contains("Number of records\t\t: 12"), "{info}");
    assert!(
        !info.contains("Is dirty") && !info.contains("Has wrapped"),
        "{info}"
    );
}

#[test]
fn wrapped_log_with_a_straddling_record_reads_back_and_its_slack_is_carved() {
    common::needs!(Need::Program("evtexport"), Need::Program("evtinfo"));
    let dir = tempfile::tempdir().unwrap();
    let all = events(100);
    let file = EvtWriter::new(0x1010).write(&all).unwrap();
    assert!(file.wrapped);
    let straddling = file.straddling.expect("a record split at the wrap point");
    assert!(file.live.contains(&straddling));
    let path = write(&dir, "wrapped.evt", &file);
    let live: Vec<Event> = all
        .iter()
        .filter(|e| file.live.contains(&(e.record_number.unwrap() as u32)))
        .cloned()
        .collect();
    assert!(live.len() > 10 && live.len() < 100, "{} live", live.len());
    let carved = assert_reads_back(&path, &live);

    // Overwritten records that survive whole in slack (none here: the service frees only
    // what the next record needs) come back unchanged, as libevt recovers them.
    for event in &carved {
        let number = event.record_number.unwrap();
        assert!(
            !file.live.contains(&(number as u32)),
            "carved {number} is not live"
        );
        assert_eq!(without_origin(event), all[number as usize - 1]);
    }
    let recovered = evtexport(&path, "recovered");
    let mut theirs: Vec<u64> = recovered.iter().map(|r| r.number).collect();
    let mut mine: Vec<u64> = carved.iter().filter_map(|e| e.record_number).collect();
    theirs.sort_unstable();
    mine.sort_unstable();
    assert_eq!(mine, theirs, "carved = libevt's recovered");
    let info = evtinfo(&path);
    assert!(
        info.contains("Has wrapped") && !info.contains("Is dirty"),
        "{info}"
    );
}

#[test]
fn dirty_wrapped_log_reads_back_from_its_cursor() {
    common::needs!(Need::Program("evtexport"), Need::Program("evtinfo"));
    let dir = tempfile::tempdir().unwrap();
    // A big record among small ones: once it is overwritten, the next records fit in its
    // space without overwriting, so the header (rewritten only on overwrite) falls behind.
    let mut all = events(100);
    all[84].data = Some(vec![0x5a; 1500]);
    let file = EvtWriter::new(0x1010).dirty(true).write(&all).unwrap();
    assert!(file.wrapped);
    // The header's end offset lags behind: only the cursor tells where the records end.
    let header_end = u32::from_le_bytes(file.bytes[0x14..0x18].try_into().unwrap());
    assert_ne!(header_end, file.cursor_offset);
    let path = write(&dir, "dirty.evt", &file);
    let live: Vec<Event> = all
        .iter()
        .filter(|e| file.live.contains(&(e.record_number.unwrap() as u32)))
        .cloned()
        .collect();
    assert_reads_back(&path, &live);
    let info = evtinfo(&path);
    assert!(info.contains("Is dirty"), "{info}");
}
