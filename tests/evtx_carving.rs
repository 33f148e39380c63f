//! Records carved from .evtx free space, against `evtx_dump --recover-records` (the `evtx`
//! crate) and `evtxexport -m all` (libevtx) on every corpus .evtx: evtdoctor keeps every
//! record they recover that could be real, and neither copies of live records nor records
//! read through a template that is no longer theirs.

use crate::common;
use common::Need;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use common::{evtdoctor, evtx_corpus_files, oracle, oracle_stdout, rust_evtx_dump, success_stdout};
use evtdoctor_parsers::evtx::{read_evtx_all, EvtxOptions, FILE_HEADER_BLOCK};
use evtdoctor_parsers::{Event, Level};
use evtdoctor_testkit::logwriter::evtx::write_evtx;
use std::collections::BTreeSet;
use std::path::Path;

/// A record as the readers name it: its header number and a time.
type Key = (u64, DateTime<Utc>);

/// Recovered records per file, and how those of the oracles relate to evtdoctor's.
struct Expected {
    file: &'static str,
    ours: usize,
    /// `evtx_dump --recover-records`: all, copies of live records, template overwritten.
    dump: (usize, usize, usize),
    /// `evtxexport -m all` past its live records: all, records evtdoctor reads as live.
    libevtx: (usize, usize),
}

const EXPECTED: &[Expected] = &[
    // No free space with record signatures in these.
    quiet("Application_no_crc32_omerevtx.evtx"),
    quiet("Security_dirty_omerevtx.evtx"),
    quiet("System_binarydata_plaso.evtx"),
    quiet("attack_netlogon5805_zerologon_binary.evtx"),
    quiet("attack_powershell4104_minidump_lsass.evtx"),
    quiet("attack_security4624_pth.evtx"),
    // 15 stale Sysmon records of an earlier pass (4335..=4348, 4356) after the one live
    // record; evtxexport 20181227 lists no recovered record for this one-chunk file.
    Expected {
        file: "attack_sysmon10_lsass_mimikatz.evtx",
        ours: 15,
        dump: (15, 0, 0),
        libevtx: (0, 0),
    },
    quiet("attack_system7045_remote_service.evtx"),
    // Chunk 7's slack holds 45641..=45690 of the log's previous pass. libevtx stops its walk
    // of chunk 7 at the destroyed record (see evtx_corpus) and lists the 31 live records
    // after it (47675..=47705) as recovered; evtdoctor reads them as live.
    Expected {
        file: "corrupt_bad_chunk_magic_omerevtx.evtx",
        ours: 50,
        dump: (50, 0, 0),
        libevtx: (81, 31),
    },
    // The log was cleared and records 1..=5 rewrote its only chunk: the 52 stale records
    // (40..=92 but 60) name template 0xbc3f3893 at chunk offset 550, where the new records'
    // template 0x406c665f now sits. evtx_dump renders them through the new template (the
    // wrong fields); evtdoctor drops them, as libevtx does.
    Expected {
        file: "testapp_binarydata_dissect.evtx",
        ours: 0,
        dump: (52, 0, 52),
        libevtx: (0, 0),
    },
    // Every one of the 37 hits both oracles carve (record 88 eleven times, 435..=457, 507
    // three times) is a copy of a live record: same number, same time.
    Expected {
        file: "museum_win10_application_eventsourcename.evtx",
        ours: 0,
        dump: (37, 37, 0),
        libevtx: (37, 37),
    },
    // The 26 hits are copies of live records of the chunk the file header does not count
    // (libevtx reads neither that chunk nor its slack).
    Expected {
        file: "museum_win10_ntfs_operational_extra_chunk.evtx",
        ours: 0,
        dump: (26, 26, 0),
        libevtx: (0, 0),
    },
];

const fn quiet(file: &'static str) -> Expected {
    Expected {
        file,
        ours: 0,
        dump: (0, 0, 0),
        libevtx: (0, 0),
    }
}

#[test]
fn carving_keeps_what_the_oracles_recover_that_could_be_real() {
    common::needs!(
        Need::Corpus,
        Need::Program("evtxexport"),
        Need::RustEvtxDump
    );
    let files = evtx_corpus_files();
    assert_eq!(
        files.len(),
        EXPECTED.len(),
        "a corpus .evtx without a row here"
    );
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = EXPECTED.iter().find(|e| e.file == name).expect(&name);
        let events = our_events(&path);
        let (carved, live): (Vec<&Event>, Vec<&Event>) =
            events.iter().partition(|e| e.origin.recovered);
        // (A live record whose template is damaged has no times: it has no key.)
        let written = |e: &&Event| Some((e.record_number?, e.time_written?));
        let created = |e: &&Event| Some((e.record_number?, e.time_generated?));
        let live_written: BTreeSet<Key> = live.iter().filter_map(written).collect();
        let carved_written: BTreeSet<Key> = carved.iter().filter_map(written).collect();
        assert_eq!(carved.len(), expected.ours, "{name}: evtdoctor recovered");
        assert_eq!(
            carved_written.len(),
            carved.len(),
            "{name}: a carved copy twice"
        );
        assert!(
            carved_written.is_disjoint(&live_written),
            "{name}: a carved copy of a live record"
        );

        let dump = dump_recovered(&path);
        let live_created: BTreeSet<Key> = live.iter().filter_map(created).collect();
        let carved_created: BTreeSet<Key> = carved.iter().filter_map(created).collect();
        let copies = dump.iter().filter(|k| live_created.contains(k)).count();
        let (kept, dropped): (Vec<&Key>, Vec<&Key>) = dump
            .iter()
            .filter(|k| !live_created.contains(k))
            .partition(|k| carved_created.contains(k));
        let bytes = std::fs::read(&path).unwrap();
        let overwritten = dropped
            .iter()
            .filter(|(number, _)| template_overwritten(&bytes, *number))
            .count();
        assert_eq!(
            (dump.len(), copies, overwritten),
            expected.dump,
            "{name}: evtx_dump recovered, copies of live records, template overwritten"
        );
        assert_eq!(
            dropped.len(),
            overwritten,
            "{name}: evtx_dump recovers a record evtdoctor drops for no known reason"
        );
        assert_eq!(
            kept.len() + copies + overwritten,
            dump.len(),
            "{name}: every evtx_dump record accounted for"
        );

        let lib = libevtx_recovered(&path);
        let read_as_live = lib.iter().filter(|k| live_written.contains(k)).count();
        assert_eq!(
            (lib.len(), read_as_live),
            expected.libevtx,
            "{name}: evtxexport recovered, read as live by evtdoctor"
        );
        let missed: Vec<&Key> = lib
            .iter()
            .filter(|k| !live_written.contains(k) && !carved_written.contains(k))
            .collect();
        assert!(missed.is_empty(), "{name}: libevtx recovers {missed:?}");
    }
}

/// One chunk of seven records whose header is rolled back to the first three, as when a
/// cleared log starts over: records 4..=7 lie in its free space. Record 4 is overwritten with
/// a copy of record 2, record 5 names another template, record 6 has a time in 1617; only
/// record 7 could be real.
#[test]
fn carving_drops_copies_foreign_templates_and_absurd_times() {
    let start = DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z")
        .unwrap()
        .to_utc();
    let events: Vec<Event> = (1..=7)
        .map(|n| {
            let mut e = Event::new("Disk", 11, Level::Error);
            e.record_number = Some(n);
            e.log = Some("System".into());
            e.computer = Some("HOST".into());
            e.time_generated = Some(start + TimeDelta::minutes(n as i64));
            e.time_written = e.time_generated;
            e.strings = vec!["\\Device\\Harddisk0".into()];
            e
        })
        .collect();
    let mut bytes = write_evtx(&events).unwrap();
    let chunk = FILE_HEADER_BLOCK;
    let records: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(at, w)| *at >= chunk && *w == b"\x2a\x2a\x00\x00")
        .map(|(at, _)| at)
        .collect();
    assert_eq!(records.len(), 7);
    let put = |bytes: &mut Vec<u8>, at: usize, value: &[u8]| {
        bytes[at..at + value.len()].copy_from_slice(value)
    };
    // The header: last record number and ID 3, the last record and the free space after it.
    put(&mut bytes, chunk + 16, &3u64.to_le_bytes());
    put(&mut bytes, chunk + 32, &3u64.to_le_bytes());
    put(
        &mut bytes,
        chunk + 44,
        &((records[2] - chunk) as u32).to_le_bytes(),
    );
    put(
        &mut bytes,
        chunk + 48,
        &((records[3] - chunk) as u32).to_le_bytes(),
    );
    let size = records[2] - records[1];
    assert_eq!(
        records[4] - records[3],
        size,
        "records 2 and 4 are the same size"
    );
    bytes.copy_within(records[1]..records[2], records[3]);
    // Record 5's template instance (after the fragment header) names its template at +2.
    assert_eq!(bytes[records[4] + 28], 0x0c);
    put(&mut bytes, records[4] + 30, &0xdead_beefu32.to_le_bytes());
    put(
        &mut bytes,
        records[5] + 16,
        &5_000_000_000_000_000u64.to_le_bytes(),
    );

    let (read, _problems) = read_evtx_all(&bytes, EvtxOptions::default()).unwrap();
    let numbers = |recovered: bool| -> Vec<u64> {
        read.iter()
            .filter(|e| e.origin.recovered == recovered)
            .map(|e| e.record_number.unwrap())
            .collect()
    };
    assert_eq!(numbers(false), [1, 2, 3]);
    assert_eq!(numbers(true), [7]);
    let carved = read.iter().find(|e| e.origin.recovered).unwrap();
    assert_eq!(carved.time_written, events[6].time_written);
    assert_eq!(carved.strings, events[6].strings);
}

fn our_events(path: &Path) -> Vec<Event> {
    let out = evtdoctor(&[
        "events",
        "--jsonl",
        "--threads",
        "1",
        path.to_str().unwrap(),
    ]);
    success_stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an Event per line"))
        .collect()
}

/// The records `evtx_dump --recover-records` marks recovered: number and TimeCreated.
fn dump_recovered(path: &Path) -> Vec<Key> {
    let args = ["-o", "json", "--no-indent", "--recover-records", "-t", "1"];
    let mut args = args.to_vec();
    args.push(path.to_str().unwrap());
    let text = oracle_stdout(&rust_evtx_dump(), &args);
    let mut lines = text.lines();
    let mut keys = Vec::new();
    while let Some(line) = lines.next() {
        let Some(number) = line
            .strip_prefix("Record ")
            .and_then(|rest| rest.strip_suffix(" (recovered)"))
        else {
            continue;
        };
        let record: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let time = record["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"]
            .as_str()
            .unwrap();
        keys.push((number.parse().unwrap(), time.parse().unwrap()));
    }
    keys
}

/// The records `evtxexport -m all` prints after those `evtxexport` prints: number and
/// written time.
fn libevtx_recovered(path: &Path) -> Vec<Key> {
    let path = path.to_str().unwrap();
    // evtxexport exits with an error on the files it cannot read to the end; what it printed
    // before counts.
    let export =
        |args: &[&str]| String::from_utf8_lossy(&oracle("evtxexport", args).stdout).into_owned();
    let live = export(&[path]).matches("\nEvent number").count();
    let all = export(&["-m", "all", path]);
    let mut keys = Vec::new();
    let mut number = None;
    for line in all.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        match field.trim() {
            "Event number" => number = value.trim().parse().ok(),
            "Written time" => {
                let time = NaiveDateTime::parse_from_str(value.trim(), "%b %d, %Y %H:%M:%S%.f UTC")
                    .unwrap()
                    .and_utc();
                keys.push((number.take().unwrap(), time));
            }
            _ => {}
        }
    }
    keys.split_off(live)
}

/// Whether every record numbered `number` in the file names a template (by the first four
/// bytes of its GUID) other than the one stored where it points.
fn template_overwritten(bytes: &[u8], number: u64) -> bool {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut found = false;
    let signatures = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"\x2a\x2a\x00\x00");
    for (at, _) in signatures {
        if bytes.get(at + 8..at + 16) != Some(&number.to_le_bytes()[..]) {
            continue;
        }
        let chunk = 4096 + (at - 4096) / 65536 * 65536;
        let mut instance = at + 24;
        if bytes[instance] == 0x0f {
            instance += 4;
        }
        assert_eq!(
            bytes[instance], 0x0c,
            "record {number}: a template instance"
        );
        let definition = chunk + u32_at(instance + 6) as usize;
        if u32_at(instance + 2) == u32_at(definition + 4) {
            return false;
        }
        found = true;
    }
    found
}
