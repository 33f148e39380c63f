//! The hand-written event JSON of `events --json/--jsonl` is byte for byte what serde_json gives
//! for the same record, on every record of every corpus and sample log (text exports included,
//! for `time_basis`), and on events with every awkward value.

use crate::common;
use common::Need;

use common::{corpus_files, evtx_corpus_files};
use evtdoctor::input::{read_events_with_basis, ReadOptions};
use evtdoctor::output::event_json::write_event;
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::{Event, Level};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `events` printed before the writer existed: serde's form of the record.
#[derive(Serialize)]
struct Reference<'a> {
    file: &'a str,
    #[serde(flatten)]
    event: &'a Event,
    #[serde(skip_serializing_if = "is_utc")]
    time_basis: TimeBasis,
}

fn is_utc(basis: &TimeBasis) -> bool {
    *basis == TimeBasis::Utc
}

fn assert_same(file: &str, event: &Event, time_basis: TimeBasis) {
    let mut ours = Vec::new();
    write_event(&mut ours, file, event, time_basis);
    let reference = serde_json::to_vec(&Reference {
        file,
        event,
        time_basis,
    })
    .unwrap();
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(reference).unwrap()
    );
}

fn sample_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sample_files(&path, found);
        } else if !path.ends_with("README.md") && !path.ends_with("kmsmdb.edb") {
            // Every sample but the README and the demo database is an event log or export.
            found.push(path);
        }
    }
}

#[test]
fn every_corpus_and_sample_record_serializes_like_serde() {
    common::needs!(Need::Corpus);
    let mut files = corpus_files("evt", &[".evt"]);
    files.extend(evtx_corpus_files());
    sample_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"),
        &mut files,
    );
    files
        .push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kb818952_event_5085.txt"));
    let (mut records, mut with_basis) = (0, 0);
    for path in files {
        let name = path.display().to_string();
        let report = read_events_with_basis(&path, ReadOptions::default(), |event, basis| {
            assert_same(&name, &event, basis);
            records += 1;
            with_basis += usize::from(basis != TimeBasis::Utc);
        });
        assert!(report.fatal.is_none(), "{name}: {:?}", report.fatal);
    }
    // Every record of the corpus (7,600 and more in .evtx alone), and text records whose
    // times were read without a zone.
    assert!(records > 12_000, "{records}");
    assert!(with_basis > 0);
}

#[test]
fn awkward_values_serialize_like_serde() {
    let mut event = Event::new(
        "Quote \" back\\slash \u{1}\u{1f}\u{7f} ünï ✓",
        65535,
        Level::Other(77),
    );
    event.log = Some("tab\tnew\nline\r".into());
    event.record_number = Some(u64::MAX);
    event.time_generated = chrono::DateTime::from_timestamp(-62_135_596_800, 1);
    event.time_written = chrono::DateTime::from_timestamp(253_402_300_799, 999_999_999);
    event.qualifiers = Some(0);
    event.category = Some(u16::MAX);
    event.computer = Some(String::new());
    event.user = Some("S-1-5-18".into());
    event.strings = vec![String::new(), "\u{8}\u{c}".into()];
    event.data = Some((0..=255).collect());
    event.message = Some("two\r\nlines".into());
    event.origin.offset = Some(0);
    event.origin.line = Some(7);
    event.origin.recovered = true;
    let offset = chrono::FixedOffset::east_opt(-5 * 3600).unwrap();
    for basis in [
        TimeBasis::Utc,
        TimeBasis::AssumedUtc,
        TimeBasis::Offset(offset),
    ] {
        assert_same("C:\\logs\\\"odd\".evt", &event, basis);
    }
    // Times chrono writes itself: a leap second and a five-digit year.
    event.time_generated = chrono::DateTime::from_timestamp(1_483_228_799, 1_500_000_000);
    event.time_written = chrono::DateTime::from_timestamp(400_000_000_000, 0);
    event.data = None;
    assert_same("", &event, TimeBasis::Utc);
}
