//! The diagnosis engine on scenario events, in process: every positive scenario gives exactly
//! the KMS finding with the right confidence and evidence; every negative one gives none (or
//! the differential that explains it). Every report validates against the JSON Schema.

use crate::common;

use crate::common::correlate_shipped;
use common::{assert_valid_report, sourced};
use evtdoctor::correlate::Evidence;
use evtdoctor::diagnose::{
    diagnose, ConfidenceLevel, Context, DatabaseFile, DatabaseHeader, Diagnosis, Finding, NoRemedy,
    Remedy, Status, Verdict,
};
use evtdoctor::report::{InputSummary, Report, ReportOptions, TimeZone};
use evtdoctor_parsers::ese::header::{DbState, OsVersion};
use evtdoctor_parsers::Event;
use evtdoctor_testkit::events::*;

const RULE: &str = "kms-5085-after-windows-2000-sp4";

/// The diagnosis of `events` (with `context`), after its report validated against the schema.
pub(crate) fn run_with(events: Vec<Event>, context: Context) -> Diagnosis {
    let correlation = correlate_shipped(sourced(events));
    let diagnosis = diagnose(&correlation, &context);
    let report = Report::new(
        Vec::<InputSummary>::new(),
        correlation,
        diagnosis.clone(),
        ReportOptions {
            time_zone: TimeZone::utc(),
            database: context.database.clone(),
        },
    );
    assert_valid_report(&report.to_json());
    diagnosis
}

pub(crate) fn run(events: Vec<Event>) -> Diagnosis {
    run_with(events, Context::default())
}

fn only_finding(diagnosis: &Diagnosis) -> &Finding {
    assert_eq!(diagnosis.findings.len(), 1, "{diagnosis:#?}");
    assert!(diagnosis.ruled_out.is_empty(), "{:#?}", diagnosis.ruled_out);
    let finding = &diagnosis.findings[0];
    assert_eq!(finding.id, RULE);
    assert_eq!(finding.kb, "KB 818952");
    finding
}

/// (source, event id, record number) of each evidence record, in order.
fn cited(evidence: &[Evidence]) -> Vec<(String, u16, Option<u64>)> {
    evidence
        .iter()
        .filter_map(Evidence::record)
        .map(|r| (r.source.clone(), r.event_id, r.record_number))
        .collect()
}

fn ev(source: &str, id: u16, record: u64) -> (String, u16, Option<u64>) {
    (source.to_owned(), id, Some(record))
}

fn verdict(finding: &Finding, hypothesis_start: &str) -> Verdict {
    finding
        .differentials
        .iter()
        .find(|d| d.hypothesis.starts_with(hypothesis_start))
        .unwrap_or_else(|| panic!("no differential {hypothesis_start:?}"))
        .verdict
}

fn ruled_out_reason(diagnosis: &Diagnosis) -> &str {
    assert!(diagnosis.findings.is_empty(), "{:#?}", diagnosis.findings);
    assert_eq!(diagnosis.ruled_out.len(), 1, "{:#?}", diagnosis.ruled_out);
    assert_eq!(diagnosis.ruled_out[0].rule, RULE);
    &diagnosis.ruled_out[0].reason
}

#[test]
fn sp3_to_sp4_then_5085_is_the_kb_case_with_high_confidence() {
    let diagnosis = run(positive());
    let f = only_finding(&diagnosis);
    assert_eq!(f.computer, COMPUTER);
    assert_eq!(f.status, Status::Active);
    assert_eq!(
        f.confidence.level,
        ConfidenceLevel::High,
        "{:#?}",
        f.confidence
    );
    assert_eq!(
        cited(&f.evidence),
        vec![
            ev("EventLog", 6009, 100),
            ev("EventLog", 6009, 103),
            ev("MSExchangeKMS", 5085, 500)
        ]
    );
    let failure = f.evidence[2].record().expect("a record");
    assert_eq!(failure.file, "Application.xml");
    assert_eq!(
        failure.excerpt,
        "data: 6.0.6249.0 PT | kmserver.cpp@1653DD1 | kmserver.cpp@1120DHa84 | kmserver.cpp@704DD2"
    );
    assert!(failure
        .description
        .as_deref()
        .unwrap()
        .contains("cannot mount its key database"));
    for (hypothesis, want) in [
        ("The KMS database file is missing", Verdict::NotExcluded),
        ("The database file is physically damaged", Verdict::Rejected),
        (
            "The database was left in a dirty-shutdown",
            Verdict::Rejected,
        ),
        ("A different Exchange build", Verdict::Rejected),
        ("The KMS failure began before SP4", Verdict::Rejected),
        ("A wrong KMS startup password", Verdict::Rejected),
    ] {
        assert_eq!(verdict(f, hypothesis), want, "{hypothesis}");
    }
    assert_eq!(f.remediation.len(), 3);
    assert!(f.remediation[0].contains("full backup"));
    assert!(
        f.remediation[1].contains(r#"`eseutil /d "C:\Program Files\Exchsrvr\KMSData\kmsmdb.edb"`"#)
    );
    assert!(f.remediation[1].contains("evtdoctor fix --db"));
    assert!(f.remediation[1].contains(r#"--target-os "5.0.2195 SP 4""#));
    assert!(f.remediation[2].contains("Key Management Service"));
    assert!(f.summary.contains("an inference"));
}

#[test]
fn the_install_record_joins_the_evidence_between_the_two_boots() {
    let mut events = positive();
    events.push(service_pack_install(
        99,
        "2003-07-05T07:50:00Z",
        "Windows 2000",
        "Service Pack 4",
        "Service Pack 3",
    ));
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert_eq!(
        cited(&f.evidence),
        vec![
            ev("EventLog", 6009, 100),
            ev("NtServicePack", 4371, 99),
            ev("EventLog", 6009, 103),
            ev("MSExchangeKMS", 5085, 500)
        ]
    );
}

#[test]
fn the_install_record_alone_shows_the_change() {
    let events = vec![
        service_pack_install(
            99,
            "2003-07-05T07:50:00Z",
            "Windows 2000",
            "Service Pack 4",
            "Service Pack 3",
        ),
        kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6249.0"),
    ];
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert_eq!(
        cited(&f.evidence),
        vec![
            ev("NtServicePack", 4371, 99),
            ev("MSExchangeKMS", 5085, 500)
        ]
    );
}

#[test]
fn only_sp4_boots_give_medium_confidence_and_say_why() {
    let events = vec![
        boot(103, "2003-07-05T08:10:05Z", "Service Pack 4"),
        kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6249.0"),
    ];
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert!(f
        .confidence
        .reasons
        .iter()
        .any(|r| r.starts_with("lowered: only Windows 2000 SP4 boots are in the logs")));
}

#[test]
fn the_pasted_kb_text_alone_gives_low_confidence_with_the_reasons() {
    let diagnosis = run(vec![kb_paste()]);
    let f = only_finding(&diagnosis);
    assert_eq!(f.computer, "ComputerName");
    assert_eq!(f.confidence.level, ConfidenceLevel::Low);
    let lowered: Vec<&String> = f
        .confidence
        .reasons
        .iter()
        .filter(|r| r.starts_with("lowered:"))
        .collect();
    assert_eq!(lowered.len(), 2, "{lowered:?}");
    assert!(lowered[0].contains("no boot (EventLog 6009) or install (NtServicePack 4371)"));
    // The payload still names the build, and that is said.
    assert!(f
        .confidence
        .reasons
        .iter()
        .any(|r| r.contains("the failing 5085 itself names Exchange 6.0.6249.0")));
    assert_eq!(
        verdict(f, "The KMS failure began before SP4"),
        Verdict::NotExcluded
    );
}

#[test]
fn a_5085_without_data_lowers_confidence() {
    let mut events = positive();
    events[4].data = Some(Vec::new());
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert_eq!(
        verdict(f, "A different Exchange build"),
        Verdict::NotExcluded
    );
}

#[test]
fn no_sp_change_means_no_finding() {
    let events = vec![
        boot(100, "2003-07-01T08:00:00Z", "Service Pack 3"),
        boot(103, "2003-07-05T08:10:05Z", "Service Pack 3"),
        kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6249.0"),
    ];
    let diagnosis = run(events);
    assert!(ruled_out_reason(&diagnosis)
        .contains("no boot shows Windows 2000 SP4 (last boot: Windows 2000 5.0.2195 SP3"));
}

#[test]
fn a_5085_before_the_sp4_change_is_not_the_kb_case() {
    let events = vec![
        boot(100, "2003-07-01T08:00:00Z", "Service Pack 3"),
        kms_failure(500, "2003-07-02T08:11:00Z", "6.0.6249.0"),
        boot(103, "2003-07-05T08:10:05Z", "Service Pack 4"),
    ];
    let diagnosis = run(events);
    let reason = ruled_out_reason(&diagnosis);
    assert!(reason.starts_with("every MSExchangeKMS 5085 precedes the move to Windows 2000 SP4"));
    assert!(reason.contains("Application record 500"));
}

#[test]
fn a_5085_before_and_after_sp4_fires_with_the_earlier_failure_held_against_it() {
    let mut events = positive();
    events.push(kms_failure(400, "2003-07-02T08:11:00Z", "6.0.6249.0"));
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert_eq!(
        verdict(f, "The KMS failure began before SP4"),
        Verdict::Supported
    );
}

#[test]
fn a_post_sp3_rollup_build_is_a_differential_not_the_kb_case() {
    let mut events = positive();
    events[4] = kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6603.1");
    let diagnosis = run(events);
    let reason = ruled_out_reason(&diagnosis);
    assert!(reason.starts_with("different Exchange build"), "{reason}");
    assert!(reason.contains("6.0.6603.1 (Exchange 2000 Server post-SP3 rollup)"));
}

#[test]
fn an_older_exchange_build_is_a_differential_not_the_kb_case() {
    let mut events = positive();
    events[4] = kms_failure(500, "2003-07-05T08:11:00Z", "6.0.5762.4");
    let reason = ruled_out_reason(&run(events)).to_owned();
    assert!(
        reason.contains("6.0.5762.4 (Exchange 2000 Server SP2)"),
        "{reason}"
    );
}

#[test]
fn a_wrong_password_alone_is_not_the_kb_case() {
    let mut events = positive();
    events[4] = kms_bad_password(500, "2003-07-05T08:11:00Z");
    let diagnosis = run(events);
    // The startup-password rule finds it (tests/rule_pack.rs); KB 818952 says why not.
    let ids: Vec<&str> = diagnosis.findings.iter().map(|f| &*f.id).collect();
    assert_eq!(ids, ["kms-startup-password"]);
    assert_eq!(diagnosis.ruled_out.len(), 1, "{:#?}", diagnosis.ruled_out);
    assert_eq!(diagnosis.ruled_out[0].rule, RULE);
    assert!(diagnosis.ruled_out[0]
        .reason
        .starts_with("MSExchangeKMS 5057 (startup password not valid) without any 5085"));
}

#[test]
fn a_wrong_password_beside_the_failure_is_not_excluded() {
    let mut events = positive();
    events.push(kms_bad_password(501, "2003-07-05T08:12:00Z"));
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert_eq!(
        verdict(f, "A wrong KMS startup password"),
        Verdict::NotExcluded
    );
}

#[test]
fn another_windows_release_is_not_the_kb_case() {
    let events = vec![
        os_boot(
            100,
            "2003-07-01T08:00:00Z",
            "5.02.",
            "3790",
            "Service Pack 1",
        ),
        kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6249.0"),
    ];
    let reason = ruled_out_reason(&run(events)).to_owned();
    assert!(
        reason.contains("last boot: Windows Server 2003 5.2.3790 SP1"),
        "{reason}"
    );
}

#[test]
fn an_unexpected_shutdown_before_the_failure_asks_for_a_state_check_first() {
    let mut events = positive();
    events[1] = unexpected_shutdown(101, "2003-07-05T08:10:01Z");
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(
        verdict(f, "The database was left in a dirty-shutdown"),
        Verdict::NotExcluded
    );
    assert_eq!(f.remediation.len(), 4);
    assert!(f.remediation[1].contains("eseutil /mh"));
    assert!(f.remediation[1].contains("eseutil /r"));
}

#[test]
fn a_missing_database_file_is_supported_and_lowers_confidence() {
    let missing = DatabaseFile {
        path: "/nonexistent/kmsmdb.edb".into(),
        exists: false,
        ese_signature: false,
        header: None,
    };
    let context = Context {
        database: Some(missing),
    };
    let diagnosis = run_with(positive(), context);
    let f = only_finding(&diagnosis);
    assert_eq!(
        verdict(f, "The KMS database file is missing"),
        Verdict::Supported
    );
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert!(f.remediation[1].contains(r#"eseutil /d "/nonexistent/kmsmdb.edb""#));
}

#[test]
fn kms_running_after_the_last_failure_marks_the_finding_resolved() {
    let diagnosis = run(resolved());
    let f = only_finding(&diagnosis);
    assert_eq!(f.status, Status::Resolved);
    let resolution = f.resolution.as_ref().unwrap();
    assert_eq!(
        cited(&resolution.evidence),
        vec![ev("Service Control Manager", 7036, 140)]
    );
    assert!(!diagnosis.has_active_findings());
}

#[test]
fn a_failure_after_the_service_ran_again_keeps_the_finding_active() {
    let mut events = resolved();
    events.push(kms_failure(502, "2003-07-08T09:00:00Z", "6.0.6249.0"));
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.status, Status::Active);
    assert!(f.resolution.is_none());
}

#[test]
fn the_same_records_in_two_inputs_count_once() {
    let correlation = {
        let mut events = sourced(positive());
        // The same records again, as a CSV export would give them: other file, no data.
        let mut copies = sourced(positive());
        for copy in &mut copies {
            copy.file = "export.csv".into();
            copy.event.data = None;
        }
        events.extend(copies);
        correlate_shipped(events)
    };
    assert_eq!(correlation.events_read, 10);
    assert_eq!(correlation.duplicates_merged, 5);
    let diagnosis = diagnose(&correlation, &Context::default());
    let f = only_finding(&diagnosis);
    assert_eq!(f.evidence.len(), 3);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
}

#[test]
fn only_the_failing_computer_gets_the_finding() {
    let mut events = positive();
    let mut other = boot(7, "2003-07-01T08:00:00Z", "Service Pack 4");
    other.computer = Some("DC01".into());
    events.push(other);
    let correlation = correlate_shipped(sourced(events));
    assert_eq!(correlation.hosts.len(), 2);
    let diagnosis = diagnose(&correlation, &Context::default());
    assert_eq!(only_finding(&diagnosis).computer, COMPUTER);
}

#[test]
fn logs_without_kms_events_give_nothing() {
    let diagnosis = run(positive().into_iter().take(4).collect());
    assert!(diagnosis.findings.is_empty());
    assert!(diagnosis.ruled_out.is_empty());
}

#[test]
fn an_index_cleanup_after_the_change_corroborates_the_finding() {
    let mut events = positive();
    // Before the SP4 boot: not part of this failure.
    events.push(ese_event(450, "2003-07-02T08:00:00Z", 172, &["KMSERVER"]));
    events.push(ese_event(499, "2003-07-05T08:10:30Z", 172, &["KMSERVER"]));
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(
        cited(&f.evidence),
        vec![
            ev("EventLog", 6009, 100),
            ev("EventLog", 6009, 103),
            ev("MSExchangeKMS", 5085, 500),
            ev("ESE98", 172, 499)
        ]
    );
    assert!(f
        .confidence
        .reasons
        .iter()
        .any(|r| r.starts_with("the database engine started an index cleanup")));
}

#[test]
fn a_page_checksum_failure_before_the_5085_is_not_excluded() {
    let mut events = positive();
    events.push(ese_event(498, "2003-07-05T08:10:40Z", 474, &["KMSERVER"]));
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(
        verdict(f, "The database file is physically damaged"),
        Verdict::NotExcluded
    );
    assert_eq!(
        verdict(
            only_finding(&run(positive())),
            "The database file is physically damaged"
        ),
        Verdict::Rejected
    );
}

#[test]
fn the_build_from_another_exchange_record_when_the_5085_has_no_data() {
    let mut events = positive();
    events[4].data = Some(Vec::new());
    let mut store = Event::new("MSExchangeIS", 1001, evtdoctor_parsers::Level::Information);
    store.log = Some("Application".into());
    store.record_number = Some(480);
    store.time_generated = Some("2003-07-05T08:10:50Z".parse().unwrap());
    store.computer = Some(COMPUTER.into());
    store.strings = vec!["Microsoft Exchange Information Store 6.0.6249.0 started".into()];
    events.push(store);
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert_eq!(
        cited(&f.evidence),
        vec![
            ev("EventLog", 6009, 100),
            ev("EventLog", 6009, 103),
            ev("MSExchangeKMS", 5085, 500),
            ev("MSExchangeIS", 1001, 480)
        ]
    );
    assert!(f.confidence.reasons.iter().any(|r| r
        == "Application record 480 (MSExchangeIS 1001, 2003-07-05 08:10:50 UTC) states Exchange 6.0.6249.0 (Exchange 2000 Server SP3)"));
}

#[test]
fn a_pasted_failure_without_a_computer_joins_the_only_server() {
    let mut events = positive();
    events[4].computer = None;
    events[4].log = None;
    events[4].record_number = None;
    let diagnosis = run(events);
    let f = only_finding(&diagnosis);
    assert_eq!(f.computer, COMPUTER);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
}

/// A `--db` kmsmdb.edb whose header was read.
fn database_with(state: DbState, service_pack: u32) -> Context {
    database_file("kmsmdb.edb", state, service_pack)
}

/// A `--db` file at `path` whose header was read (Windows 2000, `service_pack`).
pub(crate) fn database_file(path: &str, state: DbState, service_pack: u32) -> Context {
    Context {
        database: Some(DatabaseFile {
            path: path.into(),
            exists: true,
            ese_signature: true,
            header: Some(DatabaseHeader {
                state,
                os_version: OsVersion {
                    major: 5,
                    minor: 0,
                    build: 2195,
                    service_pack,
                },
                format_version: 0x620,
                format_revision: 9,
            }),
        }),
    }
}

fn header_evidence(finding: &Finding) -> Vec<String> {
    finding
        .evidence
        .iter()
        .filter(|e| e.record().is_none())
        .map(Evidence::label)
        .collect()
}

#[test]
fn an_sp3_header_under_sp4_is_the_strongest_confirmation() {
    let diagnosis = run_with(positive(), database_with(DbState::CLEAN_SHUTDOWN, 3));
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert!(
        f.confidence
            .reasons
            .iter()
            .any(|r| r.contains("built under (5.0.2195 SP 3)") && r.contains("strongest")),
        "{:#?}",
        f.confidence
    );
    assert_eq!(
        header_evidence(f),
        [
            "database header of kmsmdb.edb (State: Clean Shutdown, OS Version: (5.0.2195 SP 3), \
          Format: 0x620,9)"
        ]
    );
    assert_eq!(
        verdict(f, "The database was left in a dirty-shutdown"),
        Verdict::Rejected
    );
    assert_eq!(
        verdict(f, "The KMS database file is missing"),
        Verdict::Rejected
    );
}

#[test]
fn a_dirty_header_points_to_recovery_first() {
    let diagnosis = run_with(positive(), database_with(DbState::DIRTY_SHUTDOWN, 3));
    let f = only_finding(&diagnosis);
    assert_eq!(
        verdict(f, "The database was left in a dirty-shutdown"),
        Verdict::Supported
    );
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert!(f.remediation.iter().any(|step| step.contains("eseutil /r")));
}

#[test]
fn an_sp4_header_weakens_the_index_rebuild_explanation() {
    let diagnosis = run_with(positive(), database_with(DbState::CLEAN_SHUTDOWN, 4));
    let f = only_finding(&diagnosis);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert!(f
        .confidence
        .reasons
        .iter()
        .any(|r| r.contains("already built under (5.0.2195 SP 4)")));
}

#[test]
fn only_an_active_kms_finding_calls_for_a_defrag_stamped_with_the_running_os() {
    let defrag_of = |events| {
        let correlation = correlate_shipped(sourced(events));
        let diagnosis = diagnose(&correlation, &Context::default());
        assert_eq!(diagnosis.findings[0].remedy, Some(Remedy::DefragDatabase));
        diagnosis.database_defrag(&correlation)
    };
    let os = defrag_of(positive()).expect("the KB case calls for the fix");
    assert_eq!(
        os,
        OsVersion {
            major: 5,
            minor: 0,
            build: 2195,
            service_pack: 4
        }
    );
    let unknown = defrag_of(vec![kb_paste()]).unwrap_err();
    assert!(matches!(unknown, NoRemedy::RunningOsUnknown));
    assert_eq!(
        unknown.to_string(),
        "the logs do not show which OS version runs: use evtdoctor fix --target-os"
    );
    let ran_again = defrag_of(resolved()).unwrap_err();
    assert!(matches!(ran_again, NoRemedy::NotCalledFor));
    assert_eq!(ran_again.to_string(), "no active KMS finding calls for it");
}
