//! `evtdoctor analyze` on real corpus logs, its facts counted against independent readers.
//!
//! The Windows XP System log holds an SP2 → SP3 upgrade. Until the .evt reader lands, the
//! independent reader `dissect.eventlog` (PyPI) turns it into Event XML, which `evtdoctor
//! analyze` reads; the timeline must show the upgrade with its records (install 3489, last SP2
//! boot 3221, first SP3 boot 3500) and count what the oracle counts.

mod common;

use common::{assert_valid_report, corpus_dir, oracle};
use serde_json::Value;
use std::process::Command;

/// Prints the allocated records as Event XML on stdout, and the oracle's own counts
/// (6009 boots, NtServicePack 4377 hotfixes, all records) on stderr as JSON.
const TO_XML: &str = r#"
import json, re, sys
from xml.sax.saxutils import escape, quoteattr
from dissect.eventlog.evt import Evt
bad = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f]')
clean = lambda s: escape(bad.sub('', s))
levels = {0: 4, 1: 2, 2: 3, 4: 4, 8: 0, 16: 0}
counts = {'records': 0, 'boots': 0, 'hotfixes': 0}
out = ['<Events>']
for r in Evt(open(sys.argv[1], 'rb')):
    counts['records'] += 1
    counts['boots'] += r.SourceName == 'EventLog' and r.EventCode == 6009
    counts['hotfixes'] += r.SourceName == 'NtServicePack' and r.EventCode == 4377
    data = ''.join('<Data>%s</Data>' % clean(s) for s in r.Strings)
    out.append(
        '<Event><System><Provider Name=%s/><EventID Qualifiers="%d">%d</EventID>'
        '<Level>%d</Level><TimeCreated SystemTime="%s"/><EventRecordID>%d</EventRecordID>'
        '<Channel>System</Channel><Computer>%s</Computer></System><EventData>%s%s</EventData></Event>'
        % (quoteattr(r.SourceName), r.EventID >> 16, r.EventCode, levels.get(r.EventType, 4),
           r.TimeGenerated.isoformat(), r.RecordNumber, clean(r.Computername), data,
           '<Binary>%s</Binary>' % r.Data.hex() if r.Data else ''))
out.append('</Events>')
print('\n'.join(out))
print(json.dumps(counts), file=sys.stderr)
"#;

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
    let log = corpus_dir().join("evt/winxp_sp3_System_wrapped_dirty_plaso.Evt");
    let oracle = Command::new("python3")
        .args(["-c", TO_XML])
        .arg(&log)
        .output()
        .expect("python3 runs (pip install dissect.eventlog)");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let counts: Value = serde_json::from_slice(&oracle.stderr).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("SysEvent.xml");
    std::fs::write(&xml, &oracle.stdout).unwrap();

    let out = common::evtdoctor(&["analyze", xml.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no finding on an XP workstation"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_valid_report(&text);
    let report: Value = serde_json::from_str(&text).unwrap();

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
