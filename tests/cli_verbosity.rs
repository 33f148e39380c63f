//! `--quiet` and `--verbose`: what reaches stderr besides errors; stdout never changes.

use crate::common::evtdoctor;
use std::path::PathBuf;

fn sample(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    dir.to_str().unwrap().to_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn quiet_drops_the_summary_and_keeps_errors() {
    let folder = sample("kms-sp4");
    let normal = evtdoctor(&["events", &folder, "--jsonl"]);
    assert_eq!(
        stderr(&normal),
        "evtdoctor: 98 records (0 recovered) from 7 input(s)\n"
    );
    let quiet = evtdoctor(&["--quiet", "events", &folder, "--jsonl"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr(&quiet), "");
    assert_eq!(quiet.stdout, normal.stdout);

    // Errors stay: a missing input beside a readable one.
    let out = evtdoctor(&["events", "-q", &folder, "/nonexistent/System.evt"]);
    assert_eq!(
        stderr(&out),
        "evtdoctor: /nonexistent/System.evt: No such file or directory (os error 2)\n"
    );

    let analyze = evtdoctor(&["analyze", &folder, "--quiet"]);
    assert_eq!(analyze.status.code(), Some(1));
    assert_eq!(stderr(&analyze), "");
}

#[test]
fn verbose_says_what_each_input_gave() {
    let folder = sample("kms-sp4");
    let out = evtdoctor(&["events", &folder, "--verbose", "--jsonl"]);
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l
                .ends_with("System.evt: Evt, 65536 bytes, 27 records (0 recovered), 0 problem(s)")),
        "{text}"
    );
    assert_eq!(
        lines[7],
        "evtdoctor: 98 records (0 recovered) from 7 input(s)"
    );
    let conflicting = evtdoctor(&["events", &folder, "-q", "-v"]);
    assert_eq!(conflicting.status.code(), Some(2));
}
