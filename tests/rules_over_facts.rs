//! A team's own rule over facts (docs/rules.md), loaded with `--rules`'s loader and run in
//! process: facts placed against an OS change, a rule-out, a weigh, a differential that changes
//! the steps, phrases in the summary.

use evtdoctor::correlate::correlate_watching;
use evtdoctor::diagnose::rules::Pack;
use evtdoctor::diagnose::{diagnose_with, ConfidenceLevel, Context, Diagnosis, Verdict};
use evtdoctor_parsers::Event;
use evtdoctor_testkit::events::*;

const RULE: &str = r#"
id = "dxa-after-nt-sp4"
title = "Exchange DXA does not start after Windows NT 4.0 SP4"
kb = "Q224991"
applies = "failure.first_not_before"
evidence = ["upgrade.evidence", "failure.first_not_before", "failure.first"]
summary = "MSExchangeDX 249 {failure.count} time(s), first {failure.first}; {how}."

[[fact]]
name = "upgrade"
type = "service_pack_change"
release = "4.0.1381"
service_pack = 4

[[fact]]
name = "failure"
type = "events"
source = ["MSExchangeDX"]
event_id = [249]
placed_against = "upgrade.at"

[[fact]]
name = "damage"
type = "events"
source = ["ESE97"]
event_id = [474]
to = "failure.first_not_before"

[[rule_out]]
if = "failure.first and not failure.first_not_before"
reason = "the failure ({failure.first_before}) precedes the SP4 boot"
evidence = ["failure.first_before"]

[[weigh]]
[[weigh.case]]
if = "upgrade.from == 3"
support = "SP3 to SP4: {upgrade.evidence}"
[[weigh.case]]
lower = ["the move from SP3 is not seen"]

[[differential]]
id = "damage"
hypothesis = "The DXA database is damaged"
[[differential.case]]
if = "damage.first"
verdict = "not-excluded"
reason = "{damage.first} reports a page checksum failure"
evidence = ["damage.first"]
[[differential.case]]
verdict = "rejected"
reason = "no page checksum failure before it"

[[phrase]]
name = "how"
[[phrase.case]]
if = "upgrade.state == 'changed'"
text = "the SP4 boot is at {upgrade.at}"
[[phrase.case]]
text = "the OS change is not seen"

[[step]]
text = "Back up XDIR.EDB."

[[step]]
if = "differential.damage == 'rejected'"
text = "Defragment it."

[[step]]
if = "differential.damage != 'rejected'"
text = "Restore it."
"#;

fn diagnose_events(events: Vec<Event>) -> Diagnosis {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dxa.toml"), RULE).unwrap();
    let pack = Pack::with_dirs(&[dir.path().to_path_buf()]).unwrap();
    let correlation = correlate_watching(crate::common::sourced(events), pack.watched());
    diagnose_with(&correlation, &Context::default(), &pack)
}

fn nt_boot(record: u64, time: &str, sp: &str) -> Event {
    os_boot(record, time, "4.0", "1381", sp)
}

fn failure(record: u64, time: &str) -> Event {
    app_event(record, time, "MSExchangeDX", 249, &["-1201"])
}

#[test]
fn fires_after_the_change_with_its_evidence_steps_and_summary() {
    let diagnosis = diagnose_events(vec![
        nt_boot(1, "1999-05-01T08:00:00Z", "Service Pack 3"),
        failure(9, "1999-05-01T09:00:00Z"),
        nt_boot(2, "1999-05-02T08:00:00Z", "Service Pack 4"),
        failure(10, "1999-05-02T08:05:00Z"),
    ]);
    // The failure before the change is cited, yet does not rule it out: one came after.
    assert!(diagnosis.ruled_out.is_empty(), "{:#?}", diagnosis.ruled_out);
    let f = &diagnosis.findings[0];
    assert_eq!(f.id, "dxa-after-nt-sp4");
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert_eq!(
        f.confidence.reasons,
        ["SP3 to SP4: System record 1 (EventLog 6009, 1999-05-01 08:00:00 UTC), then System record 2 (EventLog 6009, 1999-05-02 08:00:00 UTC)"]
    );
    let cited: Vec<u64> = f
        .evidence
        .iter()
        .filter_map(|e| e.record()?.record_number)
        .collect();
    assert_eq!(cited, [1, 2, 10, 9]);
    assert_eq!(
        f.summary,
        "MSExchangeDX 249 2 time(s), first Application record 9 (MSExchangeDX 249, 1999-05-01 09:00:00 UTC); the SP4 boot is at 1999-05-02 08:00:00 UTC."
    );
    assert_eq!(f.differentials[0].verdict, Verdict::Rejected);
    assert_eq!(f.remediation, ["Back up XDIR.EDB.", "Defragment it."]);
}

#[test]
fn damage_before_the_failure_lowers_it_and_changes_the_step() {
    let diagnosis = diagnose_events(vec![
        nt_boot(2, "1999-05-02T08:00:00Z", "Service Pack 4"),
        app_event(5, "1999-05-02T08:01:00Z", "ESE97", 474, &["XDIR.EDB"]),
        failure(10, "1999-05-02T08:05:00Z"),
    ]);
    let f = &diagnosis.findings[0];
    assert_eq!(f.confidence.level, ConfidenceLevel::Low);
    assert_eq!(
        f.confidence.reasons,
        [
            "lowered: the move from SP3 is not seen",
            "lowered: not excluded: The DXA database is damaged",
        ]
    );
    assert_eq!(f.differentials[0].verdict, Verdict::NotExcluded);
    assert_eq!(
        f.differentials[0].reason,
        "Application record 5 (ESE97 474, 1999-05-02 08:01:00 UTC) reports a page checksum failure"
    );
    assert_eq!(f.remediation, ["Back up XDIR.EDB.", "Restore it."]);
    assert!(
        f.summary.ends_with("; the OS change is not seen."),
        "{}",
        f.summary
    );
}

#[test]
fn a_failure_only_before_the_change_is_ruled_out_and_none_is_nothing() {
    let diagnosis = diagnose_events(vec![
        nt_boot(1, "1999-05-01T08:00:00Z", "Service Pack 3"),
        failure(9, "1999-05-01T09:00:00Z"),
        nt_boot(2, "1999-05-02T08:00:00Z", "Service Pack 4"),
    ]);
    assert!(diagnosis.findings.is_empty());
    assert_eq!(diagnosis.ruled_out.len(), 1);
    assert_eq!(
        diagnosis.ruled_out[0].reason,
        "the failure (Application record 9 (MSExchangeDX 249, 1999-05-01 09:00:00 UTC)) precedes the SP4 boot"
    );
    let quiet = diagnose_events(vec![nt_boot(1, "1999-05-01T08:00:00Z", "Service Pack 3")]);
    assert!(quiet.findings.is_empty() && quiet.ruled_out.is_empty());
}
