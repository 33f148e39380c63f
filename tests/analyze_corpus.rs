//! `evtdoctor analyze` on real corpus logs, its facts counted against independent readers
//! (`dissect.eventlog` for .evt, `evtxexport` for .evtx).
//!
//! The Windows XP System log holds an SP2 → SP3 upgrade: the timeline must show it with its
//! records (install 3489, last SP2 boot 3221, first SP3 boot 3500).

use crate::common;
use common::Need;

use common::{assert_valid_report, corpus_dir, oracle};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The oracle's counts for a .evt file's allocated records, as JSON: all records, 6009
/// boots, NtServicePack 4377 hotfixes, and records per computer.
const EVT_COUNTS: &str = r#"
import collections, json, sys
from dissect.eventlog.evt import Evt
counts = {'records': 0, 'boots': 0, 'hotfixes': 0, 'computers': collections.Counter()}
for r in Evt(open(sys.argv[1], 'rb')):
    counts['records'] += 1
    counts['boots'] += r.SourceName == 'EventLog' and r.EventCode == 6009
    counts['hotfixes'] += r.SourceName == 'NtServicePack' and r.EventCode == 4377
    counts['computers'][r.Computername] += 1
print(json.dumps(counts))
"#;

fn evt_counts(evt: &str) -> Value {
    let out = Command::new("python3")
        .args(["-c", EVT_COUNTS])
        .arg(corpus_dir().join("evt").join(evt))
        .output()
        .expect("python3 runs (pip install dissect.eventlog)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Copies corpus .evt files into `dir` (the corpus is read-only) under the given names.
fn copy_evt(dir: &Path, files: &[(&str, &str)]) {
    for (evt, name) in files {
        std::fs::copy(corpus_dir().join("evt").join(evt), dir.join(name)).unwrap();
    }
}

/// Runs `analyze --json` in `dir` on the named inputs; returns the validated report.
fn analyze_json(dir: &Path, inputs: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .arg("analyze")
        .args(inputs)
        .arg("--json")
        .current_dir(dir)
        .output()
        .expect("evtdoctor runs");
    assert_eq!(out.status.code(), Some(0), "no finding on these hosts");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_valid_report(&text);
    serde_json::from_str(&text).unwrap()
}

const XP_LOG: &str = "winxp_sp3_System_wrapped_dirty_plaso.Evt";

fn record_numbers(evidence: &Value) -> Vec<u64> {
    evidence
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record_number"].as_u64().unwrap())
        .collect()
}

#[test]
fn xp_log_timeline_shows_the_sp2_to_sp3_upgrade() {
    common::needs!(Need::Corpus, Need::Python("dissect.eventlog"));
    let counts = evt_counts(XP_LOG);
    let dir = tempfile::tempdir().unwrap();
    copy_evt(dir.path(), &[(XP_LOG, "SysEvent.Evt")]);
    let report = analyze_json(dir.path(), &["SysEvent.Evt"]);

    // Live records as the oracle counts them; the rest were carved from slack.
    let input = &report["inputs"][0];
    let live = input["records"].as_u64().unwrap() - input["recovered"].as_u64().unwrap();
    assert_eq!(live, counts["records"].as_u64().unwrap());
    assert_eq!(live, 6063);
    let host = &report["hosts"][0];
    assert_eq!(host["computer"], "WKS-WINXP32BIT");
    assert_eq!(host["boots"], counts["boots"]);
    assert_eq!(host["hotfixes_installed"], counts["hotfixes"]);
    assert_eq!(host["service_packs_installed"], 1);
    let levels: Vec<&str> = host["os_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        levels,
        vec!["Windows XP 5.1.2600 SP2", "Windows XP 5.1.2600 SP3"]
    );

    let timeline = report["timeline"].as_array().unwrap();
    let of_kind =
        |kind: &str| -> Vec<&Value> { timeline.iter().filter(|e| e["kind"] == kind).collect() };
    let installs = of_kind("service_pack_installed");
    assert_eq!(installs.len(), 1);
    assert_eq!(record_numbers(&installs[0]["evidence"]), vec![3489]);
    assert_eq!(installs[0]["time"], "2011-09-09T18:22:54Z");
    assert_eq!(installs[0]["installed"], "Service Pack 3");
    assert_eq!(installs[0]["replaced"], "Service Pack 2");
    assert_eq!(installs[0]["os"]["service_pack"], 3);

    let changes = of_kind("os_level_changed");
    assert_eq!(changes.len(), 1);
    assert_eq!(record_numbers(&changes[0]["evidence"]), vec![3221, 3500]);
    assert_eq!(changes[0]["time"], "2011-09-09T18:29:39Z");
    assert_eq!(changes[0]["from"]["service_pack"], 2);
    assert_eq!(changes[0]["to"]["service_pack"], 3);
    // The install sits between the last SP2 boot and the first SP3 boot.
    let position = |kind: &str| timeline.iter().position(|e| e["kind"] == kind).unwrap();
    assert!(position("service_pack_installed") < position("os_level_changed"));
}

/// (provider, event id) of every record `evtxexport -f xml` prints.
fn evtxexport_ids(path: &str) -> Vec<(String, u16)> {
    let out = oracle("evtxexport", &["-f", "xml", path]);
    let xml = String::from_utf8_lossy(&out.stdout);
    xml.split("<Event ")
        .skip(1)
        .map(|event| {
            let provider = event
                .split("<Provider Name=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default();
            let id = event
                .split("<EventID")
                .nth(1)
                .and_then(|rest| rest.split('>').nth(1))
                .and_then(|rest| rest.split('<').next())
                .and_then(|id| id.trim().parse().ok())
                .unwrap_or_default();
            (provider.to_owned(), id)
        })
        .collect()
}

#[test]
fn evtx_boot_and_failure_facts_match_evtxexport() {
    common::needs!(Need::Corpus, Need::Program("evtxexport"));
    let log = corpus_dir().join("evtx/System_binarydata_plaso.evtx");
    let log = log.to_str().unwrap();
    let ids = evtxexport_ids(log);
    let count = |provider: &str, id: u16| {
        ids.iter()
            .filter(|(p, i)| p == provider && *i == id)
            .count() as u64
    };
    let out = common::evtdoctor(&["analyze", log, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_valid_report(&text);
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["examined"]["events_read"], ids.len() as u64);
    assert_eq!(ids.len(), 5009);

    let timeline = report["timeline"].as_array().unwrap();
    let facts = |kind: &str| timeline.iter().filter(|e| e["kind"] == kind).count() as u64;
    assert_eq!(facts("boot"), count("EventLog", 6009));
    assert_eq!(facts("event_log_started"), count("EventLog", 6005));
    assert_eq!(facts("clean_shutdown"), count("EventLog", 6006));
    assert_eq!(facts("unexpected_shutdown"), count("EventLog", 6008));
    let scm_failures: u64 = [7000, 7001, 7023, 7024]
        .iter()
        .map(|&id| count("Service Control Manager", id))
        .sum();
    assert_eq!(facts("service_failed"), scm_failures);
    // The values measured with evtxexport 20181227 on this file.
    assert_eq!(
        [
            facts("boot"),
            facts("event_log_started"),
            facts("clean_shutdown")
        ],
        [8, 8, 6]
    );
    assert_eq!([facts("unexpected_shutdown"), scm_failures], [1, 2]);
    let boots: u64 = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["boots"].as_u64().unwrap())
        .sum();
    assert_eq!(boots, 8);
}

#[test]
fn system_and_application_logs_of_one_server_share_its_timeline() {
    common::needs!(Need::Corpus, Need::Python("dissect.eventlog"));
    let system = evt_counts("win2003_sp2_System_dirty_evtparser.evt");
    let application = evt_counts("win2003_sp2_Application_dirty_evtparser.evt");
    let dir = tempfile::tempdir().unwrap();
    copy_evt(
        dir.path(),
        &[
            ("win2003_sp2_System_dirty_evtparser.evt", "System.evt"),
            (
                "win2003_sp2_Application_dirty_evtparser.evt",
                "Application.evt",
            ),
        ],
    );
    let report = analyze_json(dir.path(), &["System.evt", "Application.evt"]);
    assert_eq!(report["examined"]["events_read"], 95 + 67);
    assert_eq!(report["examined"]["duplicates_merged"], 0);
    let server = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["computer"] == "WIN2003S-CF42A4")
        .unwrap();
    let expected = system["computers"]["WIN2003S-CF42A4"].as_u64().unwrap()
        + application["computers"]["WIN2003S-CF42A4"]
            .as_u64()
            .unwrap();
    assert_eq!(server["events"], expected);
    assert_eq!(
        server["files"],
        serde_json::json!(["Application.evt", "System.evt"])
    );
    // The first boot was logged under the image's name (MACHINENAME), before it was renamed.
    let boots: Vec<(&str, u64)> = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["computer"].as_str().unwrap(),
                h["boots"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(boots, vec![("MACHINENAME", 1), ("WIN2003S-CF42A4", 5)]);
    assert_eq!(system["boots"], 6);
    assert_eq!(
        server["os_history"][0]["label"],
        "Windows Server 2003 5.2.3790 SP2"
    );
    assert_eq!(server["os_history"][0]["boots"], 5);
}

#[test]
fn the_same_log_given_twice_counts_once() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    copy_evt(
        dir.path(),
        &[(XP_LOG, "SysEvent.Evt"), (XP_LOG, "copy.Evt")],
    );
    let once = analyze_json(dir.path(), &["SysEvent.Evt"]);
    let twice = analyze_json(dir.path(), &["SysEvent.Evt", "copy.Evt"]);
    let read_once = once["examined"]["events_read"].as_u64().unwrap();
    assert_eq!(twice["examined"]["events_read"], 2 * read_once);
    // Every record of the copy merges, besides the slack copies merged within one file.
    assert_eq!(
        twice["examined"]["duplicates_merged"].as_u64().unwrap(),
        once["examined"]["duplicates_merged"].as_u64().unwrap() + read_once
    );
    assert_eq!(twice["hosts"][0]["events"], once["hosts"][0]["events"]);
    assert_eq!(twice["hosts"][0]["boots"], 24);
    assert_eq!(
        twice["timeline"].as_array().unwrap().len(),
        once["timeline"].as_array().unwrap().len()
    );
}

/// Two copies of a real log are one log: every record of the second copy merges with the
/// first's (most of them kept only as digests: they state no fact), and the timeline is the
/// single copy's.
#[test]
fn copies_of_a_real_log_merge_record_for_record() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let source = corpus_dir().join("evtx/System_binarydata_plaso.evtx");
    for name in ["a.evtx", "b.evtx"] {
        std::fs::copy(&source, dir.path().join(name)).unwrap();
    }
    let single = analyze_json(dir.path(), &["a.evtx"]);
    let both = analyze_json(dir.path(), &["a.evtx", "b.evtx"]);
    assert_eq!(single["examined"]["events_read"], 5009);
    assert_eq!(single["examined"]["duplicates_merged"], 0);
    assert_eq!(both["examined"]["events_read"], 2 * 5009);
    assert_eq!(both["examined"]["duplicates_merged"], 5009);
    let events = |report: &Value| {
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["events"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(events(&single), 5009);
    assert_eq!(events(&both), 5009);
    // The first copy is the one cited.
    assert_eq!(single["timeline"], both["timeline"]);
}
