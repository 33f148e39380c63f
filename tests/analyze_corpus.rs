//! `evtdoctor analyze` on real corpus logs, its facts counted against independent readers.
//!
//! The Windows XP System log holds an SP2 → SP3 upgrade. Until the .evt reader lands, the
//! independent reader `dissect.eventlog` (PyPI) turns it into Event XML, which `evtdoctor
//! analyze` reads; the timeline must show the upgrade with its records (install 3489, last SP2
//! boot 3221, first SP3 boot 3500) and count what the oracle counts.

mod common;

use common::{assert_valid_report, corpus_dir, oracle};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Prints the allocated records of an .evt file as Event XML of the given channel on stdout,
/// and the oracle's own counts on stderr as JSON: all records, 6009 boots, NtServicePack
/// 4377 hotfixes, and records per computer.
const TO_XML: &str = r#"
import collections, json, re, sys
from xml.sax.saxutils import escape, quoteattr
from dissect.eventlog.evt import Evt
bad = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f]')
clean = lambda s: escape(bad.sub('', s))
levels = {0: 4, 1: 2, 2: 3, 4: 4, 8: 0, 16: 0}
counts = {'records': 0, 'boots': 0, 'hotfixes': 0, 'computers': collections.Counter()}
out = ['<Events>']
for r in Evt(open(sys.argv[1], 'rb')):
    counts['records'] += 1
    counts['boots'] += r.SourceName == 'EventLog' and r.EventCode == 6009
    counts['hotfixes'] += r.SourceName == 'NtServicePack' and r.EventCode == 4377
    counts['computers'][r.Computername] += 1
    data = ''.join('<Data>%s</Data>' % clean(s) for s in r.Strings)
    out.append(
        '<Event><System><Provider Name=%s/><EventID Qualifiers="%d">%d</EventID>'
        '<Level>%d</Level><TimeCreated SystemTime="%s"/><EventRecordID>%d</EventRecordID>'
        '<Channel>%s</Channel><Computer>%s</Computer></System><EventData>%s%s</EventData></Event>'
        % (quoteattr(r.SourceName), r.EventID >> 16, r.EventCode, levels.get(r.EventType, 4),
           r.TimeGenerated.isoformat(), r.RecordNumber, sys.argv[2], clean(r.Computername), data,
           '<Binary>%s</Binary>' % r.Data.hex() if r.Data else ''))
out.append('</Events>')
print('\n'.join(out))
print(json.dumps(counts), file=sys.stderr)
"#;

/// Converts a corpus .evt file with the oracle into `<dir>/<name>`; returns the oracle's counts.
fn evt_as_xml(evt: &str, channel: &str, dir: &Path, name: &str) -> Value {
    let log = corpus_dir().join("evt").join(evt);
    let oracle = Command::new("python3")
        .args(["-c", TO_XML])
        .arg(&log)
        .arg(channel)
        .output()
        .expect("python3 runs (pip install dissect.eventlog)");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    std::fs::write(dir.join(name), &oracle.stdout).unwrap();
    serde_json::from_slice(&oracle.stderr).unwrap()
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
    let dir = tempfile::tempdir().unwrap();
    let counts = evt_as_xml(
        "winxp_sp3_System_wrapped_dirty_plaso.Evt",
        "System",
        dir.path(),
        "SysEvent.xml",
    );
    let report = analyze_json(dir.path(), &["SysEvent.xml"]);

    assert_eq!(report["examined"]["events_read"], counts["records"]);
    assert_eq!(report["examined"]["events_read"], 6063);
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
    let dir = tempfile::tempdir().unwrap();
    let system = evt_as_xml(
        "win2003_sp2_System_dirty_evtparser.evt",
        "System",
        dir.path(),
        "System.xml",
    );
    let application = evt_as_xml(
        "win2003_sp2_Application_dirty_evtparser.evt",
        "Application",
        dir.path(),
        "Application.xml",
    );
    let report = analyze_json(dir.path(), &["System.xml", "Application.xml"]);
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
        serde_json::json!(["Application.xml", "System.xml"])
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
    let dir = tempfile::tempdir().unwrap();
    let counts = evt_as_xml(
        "winxp_sp3_System_wrapped_dirty_plaso.Evt",
        "System",
        dir.path(),
        "SysEvent.xml",
    );
    std::fs::copy(dir.path().join("SysEvent.xml"), dir.path().join("copy.xml")).unwrap();
    let report = analyze_json(dir.path(), &["SysEvent.xml", "copy.xml"]);
    assert_eq!(report["examined"]["events_read"], 2 * 6063);
    assert_eq!(report["examined"]["duplicates_merged"], counts["records"]);
    assert_eq!(report["hosts"][0]["events"], 6063);
    assert_eq!(report["hosts"][0]["boots"], counts["boots"]);
}
