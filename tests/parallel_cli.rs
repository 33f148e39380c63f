//! Reading many inputs on several threads gives the same bytes as reading them one by one.

use crate::common;
use common::Need;

use common::{corpus_files, evtdoctor, evtx_corpus_files};
use evtdoctor_testkit::events::{boot, kms_failure};
use evtdoctor_testkit::logwriter::{evt::EvtWriter, evtx::write_evtx};
use std::path::Path;
use std::process::Output;

/// Generated logs of 1 to 6 records (half .evt, half .evtx), the small real corpus logs (11),
/// a damaged copy and a file that is no log: 163 inputs in nested folders. Returns the records
/// written.
fn many_inputs(dir: &Path) -> u64 {
    let mut written = 0;
    for n in 0..150u64 {
        let events: Vec<_> = (0..=n % 5)
            .map(|i| {
                if i % 2 == 0 {
                    boot(n * 10 + i, "2003-07-01T08:00:00Z", "Service Pack 4")
                } else {
                    kms_failure(n * 10 + i, "2003-07-01T08:01:00Z", "6.0.6249.0")
                }
            })
            .collect();
        written += events.len() as u64;
        let folder = dir.join(format!("server{}", n % 3));
        std::fs::create_dir_all(&folder).unwrap();
        let (name, bytes) = if n % 2 == 0 {
            let file = EvtWriter::new(0x4000).write(&events).unwrap();
            (format!("log{n:03}.evt"), file.bytes)
        } else {
            (format!("log{n:03}.evtx"), write_evtx(&events).unwrap())
        };
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    let real = dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    for file in corpus_files("evt", &[".evt"])
        .into_iter()
        .chain(evtx_corpus_files())
    {
        // The multi-MiB ones would only slow the debug build down.
        if std::fs::metadata(&file).unwrap().len() <= 0x11000 {
            std::fs::copy(&file, real.join(file.file_name().unwrap())).unwrap();
        }
    }
    let mut damaged = std::fs::read(real.join("testapp_small_dirty_dissect.evt")).unwrap();
    damaged[0x200..0x240].fill(0xee);
    std::fs::write(real.join("damaged.evt"), damaged).unwrap();
    std::fs::write(real.join("notes.bin"), [0u8, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    written
}

fn run(args: &[&str], dir: &Path, threads: &str) -> Output {
    let dir = dir.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend(["--threads", threads, dir]);
    evtdoctor(&all)
}

#[test]
fn events_output_is_the_same_bytes_whatever_the_thread_count() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let written = many_inputs(dir.path());
    for format in ["jsonl", "json", "csv", "table"] {
        let args = ["events", "--format", format];
        let one = run(&args, dir.path(), "1");
        let two = run(&args, dir.path(), "2");
        assert_eq!(one.status.code(), Some(0), "{format}");
        assert_eq!(two.status.code(), Some(0), "{format}");
        assert!(one.stdout == two.stdout, "{format}: stdout differs");
        assert_eq!(
            String::from_utf8_lossy(&one.stderr),
            String::from_utf8_lossy(&two.stderr),
            "{format}: problems not reported in the same order"
        );
    }

    // Every record once, files in path order: the generated ones first (real/ sorts last).
    let out = run(&["events", "--jsonl"], dir.path(), "2");
    let files: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            event["file"].as_str().unwrap().to_owned()
        })
        .collect();
    let generated = files.iter().filter(|f| !f.contains("/real/")).count();
    assert_eq!(generated as u64, written);
    assert!(files.windows(2).all(|pair| pair[0] <= pair[1]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("notes.bin: offset 0 (0x0): not a recognised event log format"));
}

#[test]
fn analyze_report_is_the_same_bytes_whatever_the_thread_count() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    many_inputs(dir.path());
    let one = run(&["analyze", "--json"], dir.path(), "1");
    let two = run(&["analyze", "--json"], dir.path(), "2");
    assert_eq!(one.status.code(), Some(1)); // the KMS failure is found
    assert_eq!(two.status.code(), one.status.code());
    assert!(one.stdout == two.stdout, "report differs");
    assert_eq!(one.stderr, two.stderr);
    let report: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(report["inputs"].as_array().unwrap().len(), 163);
}
