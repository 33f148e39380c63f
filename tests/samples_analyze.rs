//! `analyze` on every bundled scenario: the KB case gives exactly the KMS finding with its
//! evidence, the fixed server shows it resolved, and the look-alikes give no finding and say why.

use crate::common;

use common::{assert_valid_report, evtdoctor};
use serde_json::Value;

fn analyze(paths: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["analyze", "--json"];
    args.extend_from_slice(paths);
    let out = evtdoctor(&args);
    let json = String::from_utf8(out.stdout).unwrap();
    assert_valid_report(&json);
    (out.status.code(), serde_json::from_str(&json).unwrap())
}

fn bundle(name: &str) -> String {
    format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// (source, event id, record number or, for text, line) of each record cited.
fn cited(evidence: &Value) -> Vec<(String, u64, u64)> {
    evidence
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["event_id"].as_u64().unwrap(),
                e["record_number"].as_u64().or(e["line"].as_u64()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_kb_server_gives_exactly_the_kms_finding_with_high_confidence() {
    let (code, report) = analyze(&[&bundle("kms-sp4")]);
    assert_eq!(code, Some(1));
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f["id"], "kms-5085-after-windows-2000-sp4");
    assert_eq!(f["kb"], "KB 818952");
    assert_eq!(f["computer"], "EXCH01");
    assert_eq!(f["status"], "active");
    assert_eq!(f["confidence"]["level"], "high");
    // The SP3 boot, the SP4 setup run (svcpack.log line 1) and its install record, the first
    // SP4 boot and the failing 5085.
    let want = [
        ("EventLog", 6009, 15),
        ("Update.exe", 0, 1),
        ("NtServicePack", 4371, 21),
        ("EventLog", 6009, 23),
        ("MSExchangeKMS", 5085, 14),
    ]
    .map(|(s, id, n)| (s.to_owned(), id, n));
    assert_eq!(cited(&f["evidence"]), want);
    assert!(f["evidence"][4]["excerpt"]
        .as_str()
        .unwrap()
        .starts_with("data: 6.0.6249.0 PT | kmserver.cpp@1653DD1"));
    assert_eq!(report["ruled_out"], Value::Array(Vec::new()));
}

#[test]
fn the_fixed_server_shows_the_finding_resolved() {
    let (code, report) = analyze(&[&bundle("kms-sp4-fixed")]);
    assert_eq!(code, Some(0), "a resolved finding is not an active one");
    let f = &report["findings"][0];
    assert_eq!(f["status"], "resolved");
    assert!(!f["resolution"].is_null());
}

#[test]
fn look_alikes_give_no_finding_and_say_why() {
    let (code, report) = analyze(&[&bundle("sp4-no-exchange-sp3")]);
    assert_eq!(code, Some(0));
    assert_eq!(report["findings"], Value::Array(Vec::new()));
    let reason = report["ruled_out"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("different Exchange build"), "{reason}");
    assert!(
        reason.contains("6.0.5762.0 (Exchange 2000 Server SP2)"),
        "{reason}"
    );
    assert_eq!(
        cited(&report["ruled_out"][0]["evidence"]),
        [("MSExchangeKMS".to_owned(), 5085, 14)]
    );

    let (code, report) = analyze(&[&bundle("kms-before-sp4")]);
    assert_eq!(code, Some(0));
    assert_eq!(report["findings"], Value::Array(Vec::new()));
    let reason = report["ruled_out"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("every MSExchangeKMS 5085 precedes the move to Windows 2000 SP4"),
        "{reason}"
    );

    let (code, report) = analyze(&[&bundle("healthy")]);
    assert_eq!(code, Some(0));
    assert_eq!(report["findings"], Value::Array(Vec::new()));
    assert_eq!(report["ruled_out"], Value::Array(Vec::new()));
}

#[test]
fn the_pasted_kms_event_alone_gives_the_finding_with_low_confidence() {
    let paste = format!("{}/kms-event.txt", bundle("kms-sp4"));
    let (code, report) = analyze(&[&paste]);
    assert_eq!(code, Some(1));
    let f = &report["findings"][0];
    assert_eq!(f["confidence"]["level"], "low");
    let reasons = f["confidence"]["reasons"].to_string();
    assert!(
        reasons.contains("Windows 2000 SP4 is assumed, not seen"),
        "{reasons}"
    );
}

#[test]
fn the_setup_log_places_the_upgrade_when_no_install_record_survives() {
    use evtdoctor_testkit::logwriter::evtx::write_evtx;
    use evtdoctor_testkit::logwriter::scenarios::SCENARIOS;
    let scenario = SCENARIOS.iter().find(|s| s.name == "kms-sp4").unwrap();
    let mut logs = scenario.logs().unwrap();
    logs.system.retain(|e| e.source != "NtServicePack");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    write("System.evtx", &write_evtx(&logs.system).unwrap());
    write("Application.evtx", &write_evtx(&logs.application).unwrap());
    write(
        "svcpack.log",
        scenario.setup_log().unwrap().unwrap().as_bytes(),
    );

    let (code, report) = analyze(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let f = &report["findings"][0];
    assert_eq!(f["confidence"]["level"], "high");
    let want = [
        ("EventLog", 6009, 15),
        ("Update.exe", 0, 1),
        ("EventLog", 6009, 23),
        ("MSExchangeKMS", 5085, 14),
    ]
    .map(|(s, id, n)| (s.to_owned(), id, n));
    assert_eq!(cited(&f["evidence"]), want);
    let run = &f["evidence"][1];
    assert_eq!(run["log"], "Setup log");
    assert_eq!(run["time"], "2003-07-01T21:31:01Z");
    assert!(run["file"].as_str().unwrap().ends_with("svcpack.log"));
    let timeline = report["timeline"].as_array().unwrap();
    let runs: Vec<&Value> = timeline
        .iter()
        .filter(|t| t["kind"] == "setup_run")
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["package"], "Service Pack 4");
    assert_eq!(runs[0]["succeeded"], true);
    assert_eq!(
        runs[0]["summary"],
        "Service Pack setup of Service Pack 4: succeeded (extended error code 0x0)"
    );
}
