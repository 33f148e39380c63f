//! Damaged copies of real .evt files (made in a temp dir): truncated, with flipped bytes, with
//! a broken end-of-file record. No panic, every record still whole in the copy is read, and
//! each damaged spot is reported with its offset.

use crate::common;
use common::Need;

use common::{corpus_dir, evtdoctor, evtdoctor_events};
use evtdoctor_parsers::le::le_u32;
use evtdoctor_parsers::Event;
use std::collections::BTreeSet;

const XP: &str = "evt/winxp_sp3_System_wrapped_dirty_plaso.Evt";
/// Where the XP log's end-of-file record is (PROVENANCE and `evt_corpus` confirm the reading).
const XP_CURSOR: usize = 0x1b9674;

fn original() -> (Vec<u8>, Vec<Event>) {
    let path = corpus_dir().join(XP);
    let (events, _) = evtdoctor_events(&path);
    (std::fs::read(&path).unwrap(), events)
}

fn size_at(bytes: &[u8], offset: usize) -> usize {
    le_u32(bytes, offset).unwrap() as usize
}

/// (offset, record number) of each event.
fn located(events: &[Event]) -> BTreeSet<(u64, u64)> {
    events
        .iter()
        .map(|e| (e.origin.offset.unwrap(), e.record_number.unwrap()))
        .collect()
}

fn read_copy(bytes: &[u8]) -> (Vec<Event>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.evt");
    std::fs::write(&path, bytes).unwrap();
    evtdoctor_events(&path)
}

#[test]
fn truncated_copies_keep_every_record_they_still_hold_whole() {
    common::needs!(Need::Corpus);
    let (bytes, events) = original();
    for cut in [0x31, 0x1000, 1_000_000, XP_CURSOR + 0x10, bytes.len() - 100] {
        let (found, stderr) = read_copy(&bytes[..cut]);
        let whole: BTreeSet<(u64, u64)> = events
            .iter()
            .filter(|e| {
                let at = e.origin.offset.unwrap() as usize;
                at + size_at(&bytes, at) <= cut
            })
            .map(|e| (e.origin.offset.unwrap(), e.record_number.unwrap()))
            .collect();
        let found_set = located(&found);
        let lost: Vec<_> = whole.difference(&found_set).collect();
        assert!(lost.is_empty(), "cut at {cut:#x}: lost {lost:?}");
        // Anything else read from the cut copy is a record torn by the cut, reported as such.
        for (offset, number) in found_set.difference(&whole) {
            assert!(
                stderr.contains(&format!("({offset:#x})")),
                "cut at {cut:#x}: record {number} at {offset:#x} read without a problem: {stderr}"
            );
        }
        eprintln!(
            "cut at {cut:#x}: {} of {} records",
            found.len(),
            events.len()
        );
    }
}

#[test]
fn headerless_stubs_are_refused_without_panic() {
    common::needs!(Need::Corpus);
    let (bytes, _) = original();
    for cut in [8, 0x2f] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stub.evt");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let out = evtdoctor(&["events", &path.to_string_lossy(), "--jsonl"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("not an .evt file header"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn flipped_bytes_lose_only_the_records_they_hit() {
    common::needs!(Need::Corpus);
    let (mut bytes, events) = original();
    let live: Vec<&Event> = events.iter().filter(|e| !e.origin.recovered).collect();
    // Eight live records spread over the file: four lose their signature, four their size.
    let hit: Vec<&Event> = (1..=8).map(|i| live[i * live.len() / 9]).collect();
    for (i, event) in hit.iter().enumerate() {
        let at = event.origin.offset.unwrap() as usize;
        if i % 2 == 0 {
            bytes[at + 4] ^= 0xff;
        } else {
            bytes[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        }
    }
    let (found, stderr) = read_copy(&bytes);
    let hit_set = located(&hit.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
    let expected: BTreeSet<_> = located(&events).difference(&hit_set).copied().collect();
    assert_eq!(located(&found), expected);
    assert_eq!(found.len(), events.len() - 8);
    for (offset, _) in &hit_set {
        assert!(
            stderr.contains(&format!("({offset:#x}): ")),
            "{offset:#x}: {stderr}"
        );
    }
}

#[test]
fn a_broken_end_of_file_record_still_reads_every_live_record() {
    common::needs!(Need::Corpus);
    let (mut bytes, events) = original();
    bytes[XP_CURSOR + 8] ^= 0xff; // second magic word
    let (found, stderr) = read_copy(&bytes);
    assert!(stderr.contains("no end-of-file record"), "{stderr}");
    let live = |events: &[Event]| -> BTreeSet<(u64, u64)> {
        located(
            &events
                .iter()
                .filter(|e| !e.origin.recovered)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(live(&found), live(&events));
    assert_eq!(live(&found).len(), 6063);
    // The slack is carved from where the chain broke, as before.
    assert_eq!(located(&found), located(&events));
}

/// Every sample and corpus .evt with a size word of its header set to 0 or 0xFFFFFFFF: the
/// same records as the intact file, none of them turned `recovered`, and one problem naming
/// the damage (evtexport and dissect.eventlog read such files too).
#[test]
fn a_damaged_header_size_word_loses_no_record() {
    common::needs!(Need::Corpus);
    let mut files = common::corpus_files("evt", &[".evt"]);
    files.extend(
        [
            "samples/kms-sp4/System.evt",
            "samples/kms-sp4/Application.evt",
        ]
        .map(|p| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)),
    );
    let mut mutants = 0;
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let read = |bytes: &[u8]| evtdoctor_parsers::evt::read_evt_all(bytes, true).unwrap();
        let (events, problems) = read(&bytes);
        let key = |e: &Event| (e.origin.offset, e.record_number, e.origin.recovered);
        let expected: Vec<_> = events.iter().map(key).collect();
        for at in [0, 44] {
            for value in [0u32, u32::MAX] {
                let mut copy = bytes.clone();
                copy[at..at + 4].copy_from_slice(&value.to_le_bytes());
                let (found, found_problems) = read(&copy);
                let name = format!("{} with {value:#x} at {at}", path.display());
                assert_eq!(
                    found.iter().map(key).collect::<Vec<_>>(),
                    expected,
                    "{name}"
                );
                let first = found_problems[0].to_string();
                assert!(
                    first.starts_with(&format!("offset {at} ({at:#x}): damaged file header")),
                    "{name}: {first}"
                );
                // A clean log's header no longer vouches for the end-of-file record, which is
                // found by its signature instead: nothing else changes.
                assert_eq!(
                    found_problems.len(),
                    problems.len() + 1,
                    "{name}: {found_problems:?}"
                );
                mutants += 1;
            }
        }
    }
    assert_eq!(mutants, 28);
}
