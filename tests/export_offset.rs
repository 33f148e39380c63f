//! A text export of the events a binary log holds, written at a non-zero UTC offset and given
//! without --tz: analyze infers the offset from the shared events and counts each once.

use chrono::TimeDelta;
use evtdoctor_testkit::logwriter::evtx::write_evtx;
use evtdoctor_testkit::logwriter::samples::is_kms_5085;
use evtdoctor_testkit::logwriter::scenarios::SCENARIOS;
use evtdoctor_testkit::logwriter::text::{event_block, kb_bytes_view};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn analyze(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .arg("analyze")
        .arg("--json")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("evtdoctor runs")
}

fn report(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    crate::common::assert_valid_report(&text);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_kms_export_at_plus_five_thirty_counts_once_without_tz() {
    let scenario = SCENARIOS.iter().find(|s| s.name == "kms-sp4").unwrap();
    let logs = scenario.logs().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("System.evtx"),
        write_evtx(&logs.system).unwrap(),
    )
    .unwrap();
    let application = write_evtx(&logs.application).unwrap();
    std::fs::write(dir.path().join("Application.evtx"), application).unwrap();
    // Event Viewer on a server at UTC+05:30 shows (and copies) local times.
    let pasted: String = logs
        .application
        .iter()
        .filter(|e| is_kms_5085(e))
        .map(|e| {
            let mut local = e.clone();
            local.time_generated = e.time_generated.map(|t| t + TimeDelta::minutes(330));
            event_block(&local, &kb_bytes_view)
        })
        .collect();
    std::fs::write(dir.path().join("kms-event.txt"), pasted).unwrap();

    let logged = analyze(dir.path(), &["System.evtx", "Application.evtx"]);
    let both = analyze(
        dir.path(),
        &["System.evtx", "Application.evtx", "kms-event.txt"],
    );
    assert_eq!(both.status.code(), logged.status.code());
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        stderr.contains("kms-event.txt: times without a zone read at +05:30"),
        "{stderr}"
    );
    let (logged, both) = (report(&logged), report(&both));
    assert_eq!(both["inputs"][2]["time_basis"], "inferred +05:30");
    let read = |r: &Value| r["examined"]["events_read"].as_u64().unwrap();
    assert_eq!(read(&both), read(&logged) + 1);
    assert_eq!(both["examined"]["duplicates_merged"], 1);
    let finding = |r: &Value| r["findings"][0].clone();
    assert_eq!(finding(&both)["confidence"], finding(&logged)["confidence"]);
    assert_eq!(finding(&both)["summary"], finding(&logged)["summary"]);
}
