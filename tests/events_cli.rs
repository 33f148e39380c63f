//! `evtdoctor events` as a user meets it: formats, filters, exit codes, bad inputs beside good ones,
//! and damaged copies of real files.

use crate::common;
use common::Need;

use common::{corpus_dir, evtdoctor};
use serde_json::Value;
use std::path::Path;

fn binary_corpus_file() -> String {
    corpus_dir()
        .join("evtx/attack_netlogon5805_zerologon_binary.evtx")
        .to_string_lossy()
        .into_owned()
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn jsonl_gives_every_field_of_a_classic_event_with_binary_data() {
    common::needs!(Need::Corpus);
    let out = evtdoctor(&["events", "--jsonl", "--id", "5805", &binary_corpus_file()]);
    assert_eq!(out.status.code(), Some(0));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    let event: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(event["source"], "NETLOGON");
    assert_eq!(event["event_id"], 5805);
    assert_eq!(event["qualifiers"], 0);
    assert_eq!(event["level"], "error");
    assert_eq!(event["log"], "System");
    assert_eq!(event["record_number"], 2);
    assert_eq!(event["computer"], "01566s-win16-ir.threebeesco.com");
    assert_eq!(
        event["strings"],
        serde_json::json!(["01566S-WIN16-IR", "%%5"])
    );
    assert_eq!(event["data"], "220000c0");
    assert_eq!(event["time_generated"], "2020-09-15T19:28:49.359772Z");
    assert_eq!(
        event["time_written"],
        Value::Null,
        "a zero FILETIME is no time"
    );
}

#[test]
fn json_csv_and_table_carry_the_same_records() {
    common::needs!(Need::Corpus);
    let file = binary_corpus_file();
    let json = evtdoctor(&["events", "--json", &file]);
    let array: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(array.len(), 2);
    assert_eq!(array[0]["event_id"], 104);

    let csv = evtdoctor(&["events", "--format", "csv", &file]);
    let lines = stdout_lines(&csv);
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("file,log,record_number,event_record_id,time_generated"));
    assert!(lines[2].contains(",5805,0,Error,NETLOGON,"), "{}", lines[2]);
    assert!(lines[2].contains(",220000c0,"), "{}", lines[2]);

    let table = evtdoctor(&["events", &file]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("NETLOGON") && text.contains("5805"), "{text}");
    assert!(text.contains("Time (UTC)"));
}

#[test]
fn filters_select_by_level_source_and_time() {
    common::needs!(Need::Corpus);
    let file = binary_corpus_file();
    let count = |args: &[&str]| {
        let mut all = vec!["events", "--jsonl"];
        all.extend_from_slice(args);
        all.push(&file);
        stdout_lines(&evtdoctor(&all)).len()
    };
    assert_eq!(count(&[]), 2);
    assert_eq!(count(&["--level", "error"]), 1);
    assert_eq!(count(&["--level", "information,error"]), 2);
    assert_eq!(count(&["--source", "microsoft-windows-eventlog"]), 1);
    assert_eq!(count(&["--since", "2020-09-15T19:28:40Z"]), 1);
    assert_eq!(count(&["--until", "2020-09-15T19:28:40Z"]), 1);
    assert_eq!(count(&["--id", "1,2,3"]), 0);
}

#[test]
fn unreadable_inputs_are_listed_and_readable_ones_still_read() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("garbage.bin"),
        [0u8, 1, 2, 3, 0xff, 0xfe, 7, 9, 0],
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.evtx"), b"").unwrap();
    std::fs::copy(binary_corpus_file(), dir.path().join("good.log")).unwrap();
    let out = evtdoctor(&["events", "--jsonl", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout_lines(&out).len(),
        2,
        "the .evtx is detected by content"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("garbage.bin: offset 0 (0x0): not a recognised event log format"));
    assert!(stderr.contains("empty.evtx: offset 0 (0x0): empty file"));
    assert!(
        stderr.contains("2 records (0 recovered) from 1 input(s); 2 unreadable"),
        "{stderr}"
    );
}

#[test]
fn no_readable_input_is_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, [0u8; 64]).unwrap();
    let out = evtdoctor(&["events", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let missing = evtdoctor(&["events", "/nonexistent/evtdoctor/file.evtx"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty(), "stdout carries no document");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such file"));
    let empty = tempfile::tempdir().unwrap();
    let out = evtdoctor(&["events", "--json", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the directory holds no logs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let usage = evtdoctor(&["events", "--format", "yaml", "x"]);
    assert_eq!(usage.status.code(), Some(2));
}

/// Reads a damaged copy and returns (exit code, record numbers read).
fn read_damaged(path: &Path) -> (Option<i32>, Vec<u64>) {
    let out = evtdoctor(&["events", "--jsonl", "--no-recover", path.to_str().unwrap()]);
    let numbers = stdout_lines(&out)
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["record_number"]
                .as_u64()
                .unwrap()
        })
        .collect();
    (out.status.code(), numbers)
}

#[test]
fn truncated_and_bit_flipped_evtx_copies_never_panic_and_keep_intact_records() {
    common::needs!(Need::Corpus);
    let original = std::fs::read(corpus_dir().join("evtx/System_binarydata_plaso.evtx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.evtx");

    // Cut in the middle of chunk 20 of 33: the first 20 chunks are whole.
    let cut = 4096 + 20 * 65536 + 30_000;
    std::fs::write(&path, &original[..cut]).unwrap();
    let (code, numbers) = read_damaged(&path);
    assert_eq!(code, Some(0));
    // Chunks 0..20 hold records 1..=3828 in this file; chunk 20 holds 3829..=3907 whole
    // before the cut.
    assert!(
        numbers == (1..=3907).collect::<Vec<u64>>(),
        "{} records",
        numbers.len()
    );
    assert_eq!(numbers[..10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // Flip bits in every 997th byte past the file header: records in undamaged places survive,
    // and nothing panics (the process exits normally).
    let mut flipped = original.clone();
    for i in (4096..flipped.len()).step_by(997) {
        flipped[i] ^= 0x5a;
    }
    std::fs::write(&path, &flipped).unwrap();
    let out = evtdoctor(&["events", "--jsonl", "--no-recover", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    // libevtx exports none of this copy; evtdoctor keeps over a quarter of the 5009 records
    // and names each damaged chunk by its file offset.
    assert!(
        stdout_lines(&out).len() > 1300,
        "{}",
        stdout_lines(&out).len()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("offset 69632 (0x11000): chunk 1:"),
        "{stderr}"
    );

    // A destroyed file header is fatal for the file, reported with its offset.
    let mut headless = original;
    headless[..8].copy_from_slice(b"XXXXXXXX");
    std::fs::write(&path, &headless).unwrap();
    let out = evtdoctor(&["events", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn table_describes_known_events_from_the_catalog_when_the_log_has_no_message() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/kms-sp4/System.evt");
    let out = evtdoctor(&["events", "--id", "6005", sample]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("The Event Log service started (the system is booting)."),
        "{text}"
    );
}

/// A FIFO met in a directory is skipped with a message; named on the command line it is read
/// until its writer closes it; an endless device stops at the cap with a clear error.
#[cfg(unix)]
#[test]
fn fifos_and_devices_are_skipped_in_folders_and_read_up_to_a_cap_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kms-sp4/System.evt");
    std::fs::copy(&sample, dir.path().join("System.evt")).unwrap();
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");

    let out = evtdoctor(&["events", "--jsonl", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_lines(&out).len(), 27);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipe: skipped: not a regular file (FIFO, device or socket)"),
        "{stderr}"
    );

    let writer = {
        let (fifo, sample) = (fifo.clone(), sample.clone());
        std::thread::spawn(move || std::fs::write(fifo, std::fs::read(sample).unwrap()))
    };
    let out = evtdoctor(&["events", "--jsonl", fifo.to_str().unwrap()]);
    writer.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_lines(&out).len(), 27);

    let out = evtdoctor(&["events", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "/dev/zero: cannot read: not a regular file and longer than the 256 MiB read from such \
         inputs"
    ));
}

/// `--source` matches the legacy source name and the provider name; a filtered export's two
/// record numbers are both given.
#[test]
fn source_matches_provider_or_event_source_name_and_both_record_numbers_show() {
    common::needs!(Need::Corpus);
    let path = corpus_dir().join("incoming/museum_win10_application_eventsourcename.evtx");
    for name in [
        "Microsoft-Windows-Security-SPP",
        "Software Protection Platform Service",
    ] {
        let out = evtdoctor(&[
            "events",
            "--jsonl",
            "--source",
            name,
            path.to_str().unwrap(),
        ]);
        let lines = stdout_lines(&out);
        // 353 live records; the 26 more carving once added were copies of live ones.
        assert_eq!(lines.len(), 353, "{name}");
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["source"], "Software Protection Platform Service");
        assert_eq!(first["provider"], "Microsoft-Windows-Security-SPP");
    }
    let path = corpus_dir().join("evtx/attack_netlogon5805_zerologon_binary.evtx");
    let out = evtdoctor(&["events", "--jsonl", path.to_str().unwrap()]);
    let numbers: Vec<(Value, Value)> = stdout_lines(&out)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["record_number"].clone(), v["event_record_id"].clone())
        })
        .collect();
    assert_eq!(
        numbers,
        [(1.into(), 63220.into()), (2.into(), 63221.into())],
        "the export renumbered the record headers only"
    );
}

/// `-o FILE`: the format from the extension, the path confirmed on stderr, nothing on stdout;
/// an unknown extension is a usage error and an input is never overwritten.
#[test]
fn output_file_takes_its_format_from_the_extension_and_spares_inputs() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kms-sp4");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("events.ndjson");
    let out = evtdoctor(&[
        "events",
        samples.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("wrote {}", target.display())),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written.lines().count(), 98);
    for line in written.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }

    let text = dir.path().join("events.txt");
    let out = evtdoctor(&[
        "events",
        samples.to_str().unwrap(),
        "-o",
        text.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!text.exists());

    let input = dir.path().join("System.evt");
    std::fs::copy(samples.join("System.evt"), &input).unwrap();
    let alias = dir.path().join("alias.csv");
    std::fs::hard_link(&input, &alias).unwrap();
    let before = std::fs::read(&input).unwrap();
    for target in [&input, &alias] {
        let out = evtdoctor(&[
            "events",
            input.to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            target.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
}
