//! NUL bytes and zeroed ranges in every sample text file (CSV exports, pasted events, setup
//! logs), as UTF-8 and as UTF-16: the damage is reported at its line and offset, and every
//! event whose lines it does not touch is still read.

use evtdoctor_parsers::text::{read_text, TextOptions};
use evtdoctor_parsers::{Event, Item};
use std::path::PathBuf;

/// Damaged spans per file: this many evenly spread, each as one NUL and as a zeroed range.
const SPOTS: usize = 12;
const ZEROED_RANGE: usize = 40;

fn text_samples() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("tests/fixtures/kb818952_event_5085.txt")];
    for dir in std::fs::read_dir(root.join("samples")).unwrap() {
        let dir = dir.unwrap().path();
        for name in ["Application.csv", "kms-event.txt", "svcpack.log"] {
            if dir.join(name).is_file() {
                files.push(dir.join(name));
            }
        }
    }
    files.sort();
    files
}

/// What identifies an event whatever line it ends up on.
fn key(event: &Event) -> String {
    format!(
        "{:?} {} {:?} {:?}",
        event.time_generated, event.event_id, event.source, event.strings
    )
}

/// The events of `items`, each with the last line it may span (up to the next event's first).
fn events_with_spans(items: &[Item]) -> Vec<(&Event, u64, u64)> {
    let events: Vec<&Event> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let first = e.origin.line.unwrap();
            let last = events
                .get(i + 1)
                .map_or(u64::MAX, |next| next.origin.line.unwrap() - 1);
            (*e, first, last)
        })
        .collect()
}

/// The 1-based line of input offset `at`, counting line feeds of `unit` bytes.
fn line_at(bytes: &[u8], at: usize, unit: usize) -> u64 {
    let newline: &[u8] = if unit == 2 { b"\n\0" } else { b"\n" };
    let body = &bytes[if unit == 2 { 2 } else { 0 }..at];
    body.chunks(unit).filter(|c| *c == newline).count() as u64 + 1
}

fn utf16(bytes: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut out = vec![0xff, 0xfe];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

#[test]
fn nul_bytes_and_zeroed_ranges_stay_on_their_lines() {
    let (mut mutants, mut kept, mut touched) = (0, 0, 0);
    for path in text_samples() {
        let utf8 = std::fs::read(&path).unwrap();
        for (bytes, unit) in [(utf8.clone(), 1), (utf16(&utf8), 2)] {
            let original = read_text(&bytes, TextOptions::default()).unwrap().items;
            let spans = events_with_spans(&original);
            assert!(!spans.is_empty(), "{}", path.display());
            let body = bytes.len() / unit - 1;
            for spot in 1..=SPOTS {
                let at = (spot * body / (SPOTS + 1)) * unit + if unit == 2 { 2 } else { 0 };
                for len in [unit, ZEROED_RANGE * unit] {
                    let end = (at + len).min(bytes.len());
                    let mut copy = bytes.clone();
                    copy[at..end].fill(0);
                    let name = format!("{} ({unit}-byte units) zeroed {at}..{end}", path.display());
                    let read = read_text(&copy, TextOptions::default())
                        .unwrap_or_else(|p| panic!("{name}: {p}"));
                    let problems: Vec<String> = read
                        .items
                        .iter()
                        .filter_map(|i| i.as_ref().err().map(|p| p.to_string()))
                        .collect();
                    let (first, last) = (line_at(&bytes, at, unit), line_at(&bytes, end, unit));
                    let reported = format!("line {first}, offset {at} ({at:#x}): ");
                    assert!(
                        problems.iter().any(|p| p.starts_with(&reported)),
                        "{name}: {problems:?}"
                    );
                    let found: Vec<String> = read
                        .items
                        .iter()
                        .filter_map(|i| i.as_ref().ok().map(key))
                        .collect();
                    for (event, from, to) in &spans {
                        if *to < first || *from > last {
                            assert!(found.contains(&key(event)), "{name}: lost {}", key(event));
                            kept += 1;
                        } else {
                            touched += 1;
                        }
                    }
                    mutants += 1;
                }
            }
        }
    }
    // 14 files × 2 encodings × 12 spots × 2 lengths; the events the damage touches may be
    // lost or read in part (each with its problem), all others are read.
    assert_eq!((mutants, kept, touched), (672, 2874, 726));
}
