//! The shipped rule pack on scenario events: each rule fires where it must, stays silent where
//! it must, and yields to or outranks its neighbour as its file says. Every report validates
//! against the JSON Schema.

use super::analyze_rules::{database_file, run, run_with};
use evtdoctor::diagnose::{ConfidenceLevel, Context, Diagnosis, Finding, Verdict};
use evtdoctor_parsers::ese::header::DbState;
use evtdoctor_parsers::Event;
use evtdoctor_testkit::events::*;

const KMS: &str = "kms-5085-after-windows-2000-sp4";
const DAMAGE: &str = "ese-page-checksum-damage";
const DIRTY: &str = "database-dirty-shutdown";
const PASSWORD: &str = "kms-startup-password";
const INDEXES: &str = "index-rebuild-after-os-upgrade";
const KMS_DB: &str = r"C:\Program Files\Exchsrvr\KMSData\kmsmdb.edb";
const STORE_DB: &str = r"C:\Program Files\Exchsrvr\mdbdata\priv1.edb";

fn ids(diagnosis: &Diagnosis) -> Vec<&str> {
    diagnosis.findings.iter().map(|f| &*f.id).collect()
}

fn finding<'a>(diagnosis: &'a Diagnosis, id: &str) -> &'a Finding {
    diagnosis
        .findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}: {:#?}", diagnosis.findings))
}

fn verdict(finding: &Finding, hypothesis_start: &str) -> Verdict {
    finding
        .differentials
        .iter()
        .find(|d| d.hypothesis.starts_with(hypothesis_start))
        .unwrap_or_else(|| panic!("no differential {hypothesis_start:?}"))
        .verdict
}

fn database(state: DbState) -> Context {
    database_file("priv1.edb", state, 4)
}

#[test]
fn page_damage_in_a_store_names_the_file_and_asks_for_a_restore() {
    let diagnosis = run(vec![
        boot(100, "2003-07-01T08:00:00Z", "Service Pack 4"),
        page_checksum_failure(200, "2003-07-02T10:00:00Z", STORE_DB),
        page_checksum_failure(201, "2003-07-02T10:05:00Z", STORE_DB),
    ]);
    assert_eq!(ids(&diagnosis), [DAMAGE]);
    let f = finding(&diagnosis, DAMAGE);
    assert_eq!(f.kb, "KB 810411");
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert!(f.summary.starts_with(&format!(
        "The database engine read 2 page(s) of {STORE_DB} that failed their checksum"
    )));
    assert_eq!(f.evidence.len(), 2);
    assert_eq!(verdict(f, "A crash left"), Verdict::Rejected);
    assert_eq!(f.remediation.len(), 4, "{:#?}", f.remediation);
    assert!(f.remediation[1].starts_with(&format!("Restore {STORE_DB} from the last good backup")));
    assert!(f.remediation[3].starts_with("Do not defragment or repair"));
    assert_eq!(diagnosis.rules.len(), 1);
}

#[test]
fn page_damage_after_an_unexpected_shutdown_lowers_confidence_and_adds_the_recovery_step() {
    let diagnosis = run(vec![
        unexpected_shutdown(99, "2003-07-02T09:00:00Z"),
        page_checksum_failure(200, "2003-07-02T10:00:00Z", STORE_DB),
    ]);
    let f = finding(&diagnosis, DAMAGE);
    assert_eq!(verdict(f, "A crash left"), Verdict::NotExcluded);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert!(f.confidence.reasons.iter().any(|r| {
        r
        == "lowered: not excluded: A crash left the database inconsistent (recovery may be enough)"
    }));
    assert_eq!(f.remediation.len(), 5);
    assert!(f.remediation[3].contains("soft recovery"));
}

#[test]
fn page_damage_in_the_kms_database_outranks_kb_818952_and_withdraws_the_defragmentation() {
    let mut events = positive();
    events.push(page_checksum_failure(498, "2003-07-05T08:10:40Z", KMS_DB));
    let diagnosis = run(events);
    assert_eq!(ids(&diagnosis), [DAMAGE, KMS]);
    let kms = finding(&diagnosis, KMS);
    assert_eq!(
        verdict(kms, "The database file is physically damaged"),
        Verdict::Supported
    );
    assert_eq!(kms.confidence.level, ConfidenceLevel::Medium);
    assert!(kms.confidence.reasons.iter().any(|r| r.starts_with(
        "lowered: Application record 498 (ESE98 474, 2003-07-05 08:10:40 UTC) reports damaged pages in"
    )));
    assert!(!kms.remediation.iter().any(|s| s.contains("eseutil /d")));
    assert!(kms.remediation[1].starts_with("Do not defragment the KMS database"));
    assert!(kms.remediation[1].contains("advice of KB 818952 is withdrawn"));
}

#[test]
fn page_damage_in_another_database_leaves_kms_first_with_a_page_check() {
    let mut events = positive();
    events.push(page_checksum_failure(498, "2003-07-05T08:10:40Z", STORE_DB));
    let diagnosis = run(events);
    assert_eq!(ids(&diagnosis), [KMS, DAMAGE]);
    let kms = finding(&diagnosis, KMS);
    assert_eq!(
        verdict(kms, "The database file is physically damaged"),
        Verdict::NotExcluded
    );
    assert_eq!(kms.confidence.level, ConfidenceLevel::Medium);
    assert_eq!(kms.remediation.len(), 4);
    assert!(kms.remediation[1].starts_with("Check the KMS database's pages before defragmenting"));
    assert!(kms.remediation[2].contains("eseutil /d"));
}

#[test]
fn a_storage_group_failing_with_550_after_a_crash_needs_soft_recovery_first() {
    let events = vec![
        unexpected_shutdown(99, "2003-07-05T08:00:00Z"),
        storage_group_start_error(300, "2003-07-05T08:05:00Z", "0xfffffdda"),
    ];
    let diagnosis = run(events.clone());
    assert_eq!(ids(&diagnosis), [DIRTY]);
    let f = finding(&diagnosis, DIRTY);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert!(f.confidence.reasons[1].starts_with("System record 99 (EventLog 6008"));
    assert_eq!(
        verdict(f, "The database file is physically damaged"),
        Verdict::Rejected
    );
    let soft = f.remediation.iter().position(|s| s.contains("eseutil /r"));
    let hard = f.remediation.iter().position(|s| s.contains("eseutil /p"));
    assert!(soft.unwrap() < hard.unwrap(), "{:#?}", f.remediation);

    // The header read with --db confirms it, or says the file is not the one that failed.
    let dirty = run_with(events.clone(), database(DbState::DIRTY_SHUTDOWN));
    let f = finding(&dirty, DIRTY);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert!(f
        .confidence
        .reasons
        .iter()
        .any(|r| r == "the header of priv1.edb reads Dirty Shutdown: the database still needs its logs replayed"));
    assert!(f.evidence.iter().any(|e| e.record().is_none()));
    let clean = run_with(events, database(DbState::CLEAN_SHUTDOWN));
    let f = finding(&clean, DIRTY);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
}

#[test]
fn other_store_errors_are_not_a_dirty_shutdown() {
    let diagnosis = run(vec![storage_group_start_error(
        300,
        "2003-07-05T08:05:00Z",
        "0xfffff764",
    )]);
    assert!(diagnosis.findings.is_empty(), "{:#?}", diagnosis.findings);
    assert!(diagnosis.rules.is_empty());
}

#[test]
fn a_dirty_shutdown_beside_page_damage_says_a_restore_may_be_needed() {
    let diagnosis = run(vec![
        storage_group_start_error(300, "2003-07-05T08:05:00Z", "0xfffffdda"),
        page_checksum_failure(301, "2003-07-05T08:06:00Z", STORE_DB),
    ]);
    assert_eq!(ids(&diagnosis), [DAMAGE, DIRTY]);
    let f = finding(&diagnosis, DIRTY);
    assert_eq!(
        verdict(f, "The database file is physically damaged"),
        Verdict::NotExcluded
    );
    // No 6008 and damage not excluded: two reasons lower it.
    assert_eq!(f.confidence.level, ConfidenceLevel::Low);
    assert!(f
        .remediation
        .iter()
        .any(|s| s.contains("restore it from backup (see KB 810411)")));
}

#[test]
fn a_wrong_startup_password_alone_is_its_own_finding() {
    let diagnosis = run(vec![kms_bad_password(500, "2003-07-05T08:11:00Z")]);
    assert_eq!(ids(&diagnosis), [PASSWORD]);
    let f = finding(&diagnosis, PASSWORD);
    assert_eq!(f.confidence.level, ConfidenceLevel::High);
    assert_eq!(f.remediation.len(), 2);
    assert!(f.remediation[1].contains("startup parameters"));
}

#[test]
fn a_service_start_failure_beside_the_password_is_not_excluded() {
    let mut failed = app_event(
        140,
        "2003-07-05T08:11:30Z",
        "Service Control Manager",
        7000,
        &[
            "Microsoft Exchange Key Management Service",
            "The service did not start",
        ],
    );
    failed.log = Some("System".into());
    let diagnosis = run(vec![kms_bad_password(500, "2003-07-05T08:11:00Z"), failed]);
    let f = finding(&diagnosis, PASSWORD);
    assert_eq!(verdict(f, "The service account"), Verdict::NotExcluded);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert_eq!(f.remediation.len(), 3);
}

#[test]
fn the_password_rule_yields_to_kb_818952() {
    let mut events = positive();
    events.push(kms_bad_password(501, "2003-07-05T08:12:00Z"));
    let diagnosis = run(events);
    assert_eq!(ids(&diagnosis), [KMS]);
    let rules: Vec<&str> = diagnosis.rules.iter().map(|r| &*r.id).collect();
    assert_eq!(rules, [KMS, PASSWORD]);
}

fn upgrade() -> Vec<Event> {
    vec![
        boot(100, "2003-07-01T08:00:00Z", "Service Pack 3"),
        boot(103, "2003-07-05T08:10:05Z", "Service Pack 4"),
    ]
}

#[test]
fn one_index_rebuild_after_the_upgrade_is_a_note() {
    let mut events = upgrade();
    // Before the upgrade: not counted.
    events.push(index_cleanup(90, "2003-06-20T08:00:00Z", STORE_DB));
    events.push(index_cleanup(110, "2003-07-05T08:11:00Z", STORE_DB));
    let diagnosis = run(events);
    assert!(diagnosis.findings.is_empty());
    assert_eq!(diagnosis.notes.len(), 1);
    let note = &diagnosis.notes[0];
    assert_eq!(note.rule, INDEXES);
    assert_eq!(
        note.text,
        "The database engine rebuilt indexes after the OS change (Application record 110 \
         (ESE98 172, 2003-07-05 08:11:00 UTC)): expected once per upgrade (Q215297)."
    );
}

#[test]
fn index_rebuilds_that_repeat_are_a_finding() {
    let mut events = upgrade();
    events.push(index_cleanup(110, "2003-07-05T08:11:00Z", STORE_DB));
    events.push(unexpected_shutdown(111, "2003-07-06T08:00:00Z"));
    events.push(index_cleanup(112, "2003-07-06T08:05:00Z", STORE_DB));
    let diagnosis = run(events);
    assert!(diagnosis.notes.is_empty());
    let f = finding(&diagnosis, INDEXES);
    assert!(f
        .summary
        .starts_with("The database engine started index cleanup 2 times"));
    assert_eq!(verdict(f, "Unclean shutdowns"), Verdict::Supported);
    assert_eq!(f.confidence.level, ConfidenceLevel::Medium);
    assert!(f.remediation.iter().any(|s| s.contains("EventLog 6008")));
}
