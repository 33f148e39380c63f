//! Copies of every corpus .evtx and .evt cut short at many offsets (every 512 bytes of the small
//! files, seeded pseudo-random offsets in the large ones): every live record that lies wholly
//! before the cut is read, no record appears that the whole file does not have, and a cut that
//! loses live records says so.

use crate::common;
use common::Need;

use common::corpus_files;
use evtdoctor_parsers::evt::read_evt_all;
use evtdoctor_parsers::evtx::{read_evtx_all, EvtxOptions, CHUNK_SIZE, FILE_HEADER_BLOCK};
use evtdoctor_parsers::{Event, Problem};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Files up to this size are cut every `SMALL_STEP` bytes; larger ones at `LARGE_CUTS` offsets.
const SMALL_FILE: usize = 128 * 1024;
const SMALL_STEP: usize = 512;
const LARGE_CUTS: usize = 12;

/// Every corpus .evtx and .evt, with the two incoming logs.
fn logs() -> Vec<PathBuf> {
    let mut logs = corpus_files("evtx", &[".evtx"]);
    logs.extend(corpus_files("evt", &[".evt"]));
    logs.extend(corpus_files("incoming", &[".evtx"]));
    logs
}

/// Deterministic offsets in `1..len` (a 64-bit LCG: the same cuts on every run).
fn seeded_cuts(len: usize, seed: u64) -> Vec<usize> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..LARGE_CUTS)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            1 + (state >> 33) as usize % (len - 1)
        })
        .collect()
}

fn cuts(len: usize, seed: u64) -> Vec<usize> {
    if len <= SMALL_FILE {
        (1..len.div_ceil(SMALL_STEP))
            .map(|i| i * SMALL_STEP)
            .chain([len - 1])
            .collect()
    } else {
        seeded_cuts(len, seed)
    }
}

/// A log format: how to read it, and where each live record ends in the file (by record
/// number; records the chain walk cannot place, past damage, are left out).
trait Format {
    /// Whether a live record before the cut is still read as live. A cut .evt loses its
    /// end-of-file record, which says where the live records end: records after the chain
    /// breaks are read as carved ones.
    const LIVE_STAYS_LIVE: bool;
    fn read(bytes: &[u8]) -> Result<(Vec<Event>, Vec<Problem>), Problem>;
    fn live_record_ends(bytes: &[u8], events: &[Event]) -> BTreeMap<u64, usize>;
}

struct Evtx;
impl Format for Evtx {
    const LIVE_STAYS_LIVE: bool = true;
    fn read(bytes: &[u8]) -> Result<(Vec<Event>, Vec<Problem>), Problem> {
        let options = EvtxOptions {
            threads: 1,
            ..EvtxOptions::default()
        };
        read_evtx_all(bytes, options)
    }

    /// Follows each chunk's records by their sizes from the chunk start.
    fn live_record_ends(bytes: &[u8], _: &[Event]) -> BTreeMap<u64, usize> {
        let mut ends = BTreeMap::new();
        for start in (FILE_HEADER_BLOCK..bytes.len()).step_by(CHUNK_SIZE) {
            let chunk = &bytes[start..bytes.len().min(start + CHUNK_SIZE)];
            if !chunk.starts_with(b"ElfChnk\0") {
                continue;
            }
            let free = u32_at(chunk, 48).min(chunk.len());
            let mut at = 512;
            while at + 24 <= free && chunk[at..].starts_with(b"\x2a\x2a\0\0") {
                let size = u32_at(chunk, at + 4);
                if size < 28 || at + size > free {
                    break;
                }
                let id = u64::from_le_bytes(chunk[at + 8..at + 16].try_into().unwrap());
                ends.insert(id, start + at + size);
                at += size;
            }
        }
        ends
    }
}

struct Evt;
impl Format for Evt {
    const LIVE_STAYS_LIVE: bool = false;
    fn read(bytes: &[u8]) -> Result<(Vec<Event>, Vec<Problem>), Problem> {
        read_evt_all(bytes, true)
    }

    /// A record's size opens it; the reader gives each record's offset.
    fn live_record_ends(bytes: &[u8], events: &[Event]) -> BTreeMap<u64, usize> {
        events
            .iter()
            .filter(|e| !e.origin.recovered)
            .map(|e| {
                let at = e.origin.offset.unwrap() as usize;
                (e.record_number.unwrap(), at + u32_at(bytes, at))
            })
            .collect()
    }
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// Over all cuts: records wholly before a cut, and how many of them were not read.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    cuts: usize,
    whole_before_cut: usize,
    lost: usize,
    cuts_losing_without_warning: usize,
}

/// Record numbers of the records read (`live`: leaving out those carved from slack).
fn numbers(events: &[Event], live: bool) -> BTreeSet<u64> {
    events
        .iter()
        .filter(|e| !(live && e.origin.recovered))
        .filter_map(|e| e.record_number)
        .collect()
}

fn cut_every_log<F: Format>(path: &std::path::Path, seed: u64, totals: &mut Totals) {
    let name = path.file_name().unwrap().to_string_lossy();
    let bytes = std::fs::read(path).unwrap();
    let (events, _) = F::read(&bytes).unwrap();
    let live = numbers(&events, true);
    let ends = F::live_record_ends(&bytes, &events);
    for cut in cuts(bytes.len(), seed) {
        // A cut inside the file header leaves nothing readable: the refusal is the warning.
        let (read, problems) = F::read(&bytes[..cut]).unwrap_or_else(|p| (Vec::new(), vec![p]));
        let phantoms: Vec<_> = numbers(&read, true).difference(&live).copied().collect();
        assert!(
            !F::LIVE_STAYS_LIVE || phantoms.is_empty(),
            "{name} cut at {cut}: phantom records {phantoms:?}"
        );
        let found = numbers(&read, F::LIVE_STAYS_LIVE);
        let whole: Vec<u64> = ends
            .iter()
            .filter(|(_, &end)| end <= cut)
            .map(|(&n, _)| n)
            .collect();
        let lost = whole.iter().filter(|n| !found.contains(n)).count();
        totals.cuts += 1;
        totals.whole_before_cut += whole.len();
        totals.lost += lost;
        let lost_to_cut = ends.values().any(|&end| end > cut);
        if lost_to_cut && problems.is_empty() {
            totals.cuts_losing_without_warning += 1;
        }
    }
}

#[test]
fn cut_copies_keep_every_record_wholly_before_the_cut() {
    common::needs!(Need::Corpus);
    let mut totals = Totals::default();
    for (seed, path) in logs().iter().enumerate() {
        let bytes_start = std::fs::read(path).unwrap();
        if bytes_start.starts_with(b"ElfFile\0") {
            cut_every_log::<Evtx>(path, seed as u64, &mut totals);
        } else {
            cut_every_log::<Evt>(path, seed as u64, &mut totals);
        }
    }
    // Before cut chunks were read: 5,948 of the 110,759 records were lost, and 140 cuts that
    // lost records said nothing.
    assert_eq!(
        totals,
        Totals {
            cuts: 1410,
            whole_before_cut: 110_759,
            lost: 0,
            cuts_losing_without_warning: 0,
        }
    );
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("samples/kms-sp4")
            .join(name),
    )
    .unwrap()
}

fn read_sample_evtx(bytes: &[u8]) -> (Vec<Event>, Vec<String>) {
    let (events, problems) = Evtx::read(bytes).unwrap();
    (events, problems.iter().map(|p| p.to_string()).collect())
}

#[test]
fn a_one_chunk_log_cut_short_keeps_its_records() {
    let bytes = sample("System.evtx");
    let (events, problems) = read_sample_evtx(&bytes[..69631]);
    assert_eq!(events.len(), 27);
    assert_eq!(problems, Vec::<String>::new(), "the cut fell in free space");
    // Cut inside record 2: record 1 is read, the rest is one warning, no phantom record.
    let second = Evtx::live_record_ends(&bytes, &[])[&1];
    let (events, problems) = read_sample_evtx(&bytes[..second + 10]);
    let numbers: Vec<_> = events.iter().map(|e| e.record_number).collect();
    assert_eq!(numbers, [Some(1)]);
    assert_eq!(
        problems,
        [format!(
            "offset {0} ({0:#x}): chunk 0 is cut short: file bytes {0}..13768 are missing; they \
             may have held 26 record(s) (IDs 2..=27)",
            second + 10
        )]
    );
}

#[test]
fn a_chunk_with_a_destroyed_header_is_read_by_its_record_sizes() {
    let mut bytes = sample("System.evtx");
    bytes[FILE_HEADER_BLOCK..FILE_HEADER_BLOCK + 512].fill(0xff);
    let (events, problems) = read_sample_evtx(&bytes);
    assert_eq!(events.len(), 27);
    assert!(events.iter().all(|e| !e.origin.recovered));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("offset 4096 (0x1000): chunk 0: Failed to parse chunk number 0")
            && problems[0]
                .ends_with("; read 27 record(s) by following their sizes from the chunk start"),
        "{problems:?}"
    );
}

#[test]
fn a_chunk_whose_records_fail_their_crc_is_read_with_a_warning() {
    let mut bytes = sample("System.evtx");
    // A byte inside record 1's strings: the record still decodes, the CRC32 no longer matches.
    let last = Evtx::live_record_ends(&bytes, &[])[&1] - 8;
    bytes[last] ^= 0x20;
    let (events, problems) = read_sample_evtx(&bytes);
    assert_eq!(events.len(), 27);
    assert_eq!(
        problems,
        ["offset 4096 (0x1000): chunk 0: the CRC32 of its records does not match the stored one; \
          its records were read as they are and may be altered"]
    );
}

#[test]
fn analyze_keeps_its_finding_when_both_evtx_logs_lose_their_last_byte() {
    let dir = tempfile::tempdir().unwrap();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/kms-sp4");
    for entry in std::fs::read_dir(&samples).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|e| e == "evtx") {
            bytes.pop();
        }
        std::fs::write(dir.path().join(path.file_name().unwrap()), bytes).unwrap();
    }
    let out = common::evtdoctor(&["analyze", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with(
        "1 finding(s): Exchange KMS cannot mount its key database after Windows 2000 SP4 on \
         EXCH01 (active, high confidence). Examined 98 event(s)"
    ));

    // Cut inside its records, Application.evtx loses 14: the verdict says it rests on that.
    let application = std::fs::read(samples.join("Application.evtx")).unwrap();
    std::fs::write(dir.path().join("Application.evtx"), &application[..5000]).unwrap();
    let out = common::evtdoctor(&["analyze", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "in 7 readable input(s); 1 of them are damaged or cut short (their problems are \
             listed), so the verdict rests on incomplete logs."
        ),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "Application.evtx: offset 5000 (0x1388): chunk 0 is cut short: file bytes 5000..10416 \
         are missing; they may have held 14 record(s) (IDs 1..=14)"
    ));
}
