//! KB 818952: after Windows 2000 goes from SP3 to SP4 on an Exchange 2000 SP3 server, the
//! Key Management Service cannot mount its key database (MSExchangeKMS 5085); an offline
//! defragmentation of kmsmdb.edb (`eseutil /d`) repairs it.

use super::rules::eval::{file_name, named_file};
use super::{
    BuiltinRule, Confidence, Context, DatabaseFile, DatabaseHeader, Differential, Finding, Outcome,
    Remedy, Resolution, RuledOut, Status, Verdict,
};
use crate::correlate::{
    Evidence, Fact, HostTimeline, RecordRef, TimelineEntry, INDEX_CLEANUP_EVENTS,
    PAGE_CHECKSUM_EVENT,
};
use crate::knowledge::exchange::ExchangeBuild;
use crate::knowledge::windows::{service_pack_number, OsVersion};
use chrono::{DateTime, Utc};
use evtdoctor_parsers::ese::header::DbState;

pub const RULE: BuiltinRule = BuiltinRule {
    id: "kms-5085-after-windows-2000-sp4",
    title: "Exchange KMS cannot mount its key database after Windows 2000 SP4",
    kb: "KB 818952",
};

/// Where Exchange 2000 keeps the KMS database unless told otherwise (domain-facts.md §1-2).
const DEFAULT_DATABASE: &str = r"C:\Program Files\Exchsrvr\KMSData\kmsmdb.edb";

/// The service pack the rule is about, and the one it replaced in the KB's case.
const SP4: u32 = 4;
const SP3: u32 = 3;

/// What the logs say about the move to Windows 2000 SP4.
enum OsStory<'a> {
    /// Boots (6009) or an install (4371) show it; `from` is the level before.
    Changed {
        from: Option<u32>,
        at: Option<DateTime<Utc>>,
        evidence: Vec<Evidence>,
    },
    /// Only SP4 boots are seen.
    OnlySp4 { first: &'a RecordRef },
    /// Boots are seen, and none runs Windows 2000 SP4.
    NeverSp4 {
        last: &'a RecordRef,
        os: &'a OsVersion,
    },
    /// No record names the OS.
    Unknown,
}

pub fn check(host: &HostTimeline, context: &Context) -> Outcome {
    let failures = kms_events(host, 5085);
    let bad_passwords = kms_events(host, 5057);
    let Some(&first_failure) = failures.first() else {
        return match bad_passwords.first() {
            Some(password) => ruled_out(
                host,
                "MSExchangeKMS 5057 (startup password not valid) without any 5085: a password \
                 problem, not the database failure of KB 818952"
                    .to_owned(),
                vec![Evidence::Record((*password).clone())],
            ),
            None => Outcome::NotApplicable,
        };
    };

    let story = os_story(host);
    if let OsStory::NeverSp4 { last, os } = &story {
        let reason = format!(
            "MSExchangeKMS 5085 is logged, but no boot shows Windows 2000 SP4 (last boot: {os}, \
             {}); KB 818952 is about the move to Windows 2000 SP4",
            last.label()
        );
        return ruled_out(host, reason, records(&[first_failure, last]));
    }
    let change_at = match &story {
        OsStory::Changed { at, .. } => *at,
        OsStory::OnlySp4 { first } => first.time,
        _ => None,
    };
    let placed = Placement::new(&failures, change_at);
    let Some(&decisive) = placed.after.first().or(placed.undated.first()) else {
        let first_before = placed.before.first().copied().unwrap_or(first_failure);
        let reason = format!(
            "every MSExchangeKMS 5085 precedes the move to Windows 2000 SP4 (first: {}): the \
             failure is older than the service pack, so KB 818952 does not explain it",
            first_before.label()
        );
        let mut evidence = records(&[first_before]);
        evidence.extend(story_evidence(&story));
        return ruled_out(host, reason, evidence);
    };

    let build = exchange_build(host, decisive);
    if let Some((build, record, _)) = &build {
        if !build.is_exchange_2000_sp3() {
            let reason = format!(
                "different Exchange build: {} names {build} ({}); KB 818952 is about Exchange \
                 2000 SP3 (6.0.6249), and later builds such as the post-SP3 rollups are not SP3 \
                 for this rule",
                record.label(),
                build.describe()
            );
            // The failing 5085 usually names the build itself: cite it once.
            let cited = if decisive == *record {
                records(&[decisive])
            } else {
                records(&[decisive, record])
            };
            return ruled_out(host, reason, cited);
        }
    }

    let mut confidence = Confidence::new();
    let mut evidence = story_evidence(&story);
    weigh_os_story(&story, &mut confidence);
    weigh_placement(&story, &placed, &mut confidence);
    evidence.push(Evidence::Record(decisive.clone()));
    if let Some(record) = weigh_build(build.as_ref(), &mut confidence) {
        evidence.push(Evidence::Record(record.clone()));
    }
    if let Some(cleanup) = index_cleanup(host, change_at, decisive) {
        confidence.support(format!(
            "the database engine started an index cleanup after the Windows version change \
             ({}), the step the inferred mechanism says fails",
            cleanup.label()
        ));
        evidence.push(Evidence::Record(cleanup.clone()));
    }
    let header = context.database.as_ref().and_then(|db| db.header.as_ref());
    if let Some(header) = header {
        weigh_database_header(&story, header, &mut confidence);
        evidence.extend(
            context
                .database
                .as_ref()
                .and_then(DatabaseFile::header_evidence),
        );
    }
    evidence.extend(
        kms_service_failures(host)
            .into_iter()
            .map(|r| Evidence::Record(r.clone())),
    );

    let differentials = vec![
        database_missing(context),
        damaged_pages(host, decisive),
        dirty_shutdown(host, decisive, context.database.as_ref()),
        different_build(build.as_ref()),
        failure_before_sp4(&placed, change_at),
        wrong_password(&bad_passwords),
    ];
    // Damage left open weighs too: it changes what to do first.
    for differential in &differentials {
        let open_damage = differential.hypothesis == DAMAGED_PAGES
            && differential.verdict == Verdict::NotExcluded;
        if differential.verdict == Verdict::Supported || open_damage {
            confidence.weaken(differential.reason.clone());
        }
    }
    let database = context
        .database
        .as_ref()
        .map(|d| d.path.display().to_string())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let check_state_first = differentials
        .iter()
        .any(|d| d.hypothesis == DIRTY_SHUTDOWN && d.verdict != Verdict::Rejected);
    let damage = differentials
        .iter()
        .find(|d| d.hypothesis == DAMAGED_PAGES)
        .map_or(Verdict::Rejected, |d| d.verdict);
    let resolution = resolution(host, &failures);
    Outcome::Finding(Box::new(Finding {
        id: RULE.id.into(),
        title: RULE.title.into(),
        kb: RULE.kb.into(),
        computer: host.computer.clone(),
        status: if resolution.is_some() {
            Status::Resolved
        } else {
            Status::Active
        },
        confidence,
        summary: summary(&story, &failures, build.as_ref().map(|b| b.0)),
        evidence,
        differentials,
        remediation: remediation(&database, check_state_first, damage),
        resolution,
        // damaged pages withdraw the defragmentation: `--fix-db` must not run it either
        remedy: (damage != Verdict::Supported).then_some(Remedy::DefragDatabase),
    }))
}

/// ESE stamps the header with the OS version the indexes were built under (domain-facts.md 1a).
/// Built under Windows 2000 SP3 and attached under SP4 is exactly what the inferred mechanism
/// needs; a header that already says SP4 means the rebuild it blames has happened.
fn weigh_database_header(
    story: &OsStory<'_>,
    header: &DatabaseHeader,
    confidence: &mut Confidence,
) {
    let os = header.os_version;
    let windows_2000 = (os.major, os.minor, os.build) == (5, 0, 2195);
    let runs_sp4 = matches!(story, OsStory::Changed { .. } | OsStory::OnlySp4 { .. });
    if windows_2000 && os.service_pack < 4 && runs_sp4 {
        confidence.support(format!(
            "the database header says its indexes were built under {os} while the logs show \
             Windows 2000 SP4 running: attaching it under SP4 makes the engine rebuild them, the \
             step the inferred mechanism says fails (the strongest confirmation the files give)"
        ));
    } else if windows_2000 && os.service_pack >= 4 {
        confidence.weaken(format!(
            "the database header says its indexes were already built under {os}: the inferred \
             SP3-to-SP4 index rebuild does not explain a failure of this file"
        ));
    }
}

/// The 5085 records placed against the moment the server moved to SP4.
struct Placement<'a> {
    after: Vec<&'a RecordRef>,
    before: Vec<&'a RecordRef>,
    /// The failure or the change has no time.
    undated: Vec<&'a RecordRef>,
}

impl<'a> Placement<'a> {
    fn new(failures: &[&'a RecordRef], change_at: Option<DateTime<Utc>>) -> Placement<'a> {
        let mut placed = Placement {
            after: Vec::new(),
            before: Vec::new(),
            undated: Vec::new(),
        };
        for &failure in failures {
            match (failure.time, change_at) {
                (Some(t), Some(c)) if t >= c => placed.after.push(failure),
                (Some(_), Some(_)) => placed.before.push(failure),
                _ => placed.undated.push(failure),
            }
        }
        placed
    }
}

fn weigh_placement(story: &OsStory<'_>, placed: &Placement<'_>, confidence: &mut Confidence) {
    match (story, placed.after.first()) {
        // Already weighed as "no OS seen".
        (OsStory::Unknown, _) => {}
        (_, Some(first_after)) => confidence.support(format!(
            "the first 5085 after the move to SP4 is {}",
            first_after.label()
        )),
        (_, None) => confidence.weaken(
            "the 5085 has no time (or the SP4 change none), so it cannot be placed after the change",
        ),
    }
}

/// Weighs the Exchange build; returns the record that states it when that is not the 5085
/// itself (it then joins the evidence).
fn weigh_build<'a>(
    build: Option<&(ExchangeBuild, &'a RecordRef, bool)>,
    confidence: &mut Confidence,
) -> Option<&'a RecordRef> {
    match build {
        Some((build, record, true)) => {
            confidence.support(format!(
                "the failing 5085 itself names Exchange {build} ({}): {}",
                build.describe(),
                record.label()
            ));
            None
        }
        Some((build, record, false)) => {
            confidence.support(format!(
                "{} states Exchange {build} ({})",
                record.label(),
                build.describe()
            ));
            Some(record)
        }
        None => {
            confidence.weaken(
                "no record states the Exchange build (the 5085 carries no build in its data)",
            );
            None
        }
    }
}

fn ruled_out(host: &HostTimeline, reason: String, evidence: Vec<Evidence>) -> Outcome {
    Outcome::RuledOut(RuledOut {
        rule: RULE.id.into(),
        computer: host.computer.clone(),
        reason,
        evidence,
    })
}

fn records(refs: &[&RecordRef]) -> Vec<Evidence> {
    refs.iter()
        .map(|r| Evidence::Record((*r).clone()))
        .collect()
}

/// The records of one MSExchangeKMS event id, in timeline order.
fn kms_events(host: &HostTimeline, id: u16) -> Vec<&RecordRef> {
    host.entries
        .iter()
        .filter(|e| matches!(e.fact, Fact::KmsEvent { event_id, .. } if event_id == id))
        .filter_map(TimelineEntry::record)
        .collect()
}

fn kms_service_failures(host: &HostTimeline) -> Vec<&RecordRef> {
    host.entries
        .iter()
        .filter(|e| {
            matches!(&e.fact, Fact::ServiceFailed { service, .. }
                if crate::correlate::is_kms_service(service))
        })
        .filter_map(TimelineEntry::record)
        .collect()
}

fn os_story(host: &HostTimeline) -> OsStory<'_> {
    let is_sp4 = |os: &OsVersion| os.is_windows_2000() && os.service_pack == SP4;
    let install = host
        .entries
        .iter()
        .find(|e| matches!(&e.fact, Fact::ServicePackInstalled { os: Some(os), .. } if is_sp4(os)));
    let change = host.entries.iter().find_map(|e| match &e.fact {
        Fact::OsLevelChanged { from, to }
            if is_sp4(to) && from.is_windows_2000() && from.service_pack < SP4 =>
        {
            Some((e, from))
        }
        _ => None,
    });
    if let Some((change, from)) = change {
        let mut evidence = change.evidence.clone();
        let last_old_boot = change.record().and_then(|r| r.time);
        let setup_run = service_pack_setup_between(host, last_old_boot, change.time);
        // Between the last old boot and the first new one, where it happened.
        let installs = [install, setup_run].into_iter().flatten();
        for install in installs.filter_map(TimelineEntry::record) {
            evidence.insert(1.min(evidence.len()), Evidence::Record(install.clone()));
        }
        return OsStory::Changed {
            from: Some(from.service_pack),
            at: change.time,
            evidence,
        };
    }
    if let Some(install) = install {
        let from = match &install.fact {
            Fact::ServicePackInstalled { replaced, .. } => service_pack_number(replaced),
            _ => None,
        };
        return OsStory::Changed {
            from,
            at: install.time,
            evidence: install.evidence.clone(),
        };
    }
    let boots = host.entries.iter().filter_map(|e| match &e.fact {
        Fact::Boot { os: Some(os) } => Some((os, e.record()?)),
        _ => None,
    });
    let mut last = None;
    for (os, record) in boots {
        if is_sp4(os) {
            return OsStory::OnlySp4 { first: record };
        }
        last = Some((os, record));
    }
    match last {
        Some((os, last)) => OsStory::NeverSp4 { last, os },
        None => OsStory::Unknown,
    }
}

/// A successful service-pack run of the installer's setup log (`svcpack.log`) between two
/// boots: the log does not name the OS, so it only places an upgrade the boots show.
fn service_pack_setup_between(
    host: &HostTimeline,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
) -> Option<&TimelineEntry> {
    let (after, before) = (after?, before?);
    host.entries.iter().find(|e| {
        matches!(&e.fact, Fact::SetupRun { installer, succeeded: Some(true), .. }
            if installer.eq_ignore_ascii_case("service pack"))
            && e.time.is_some_and(|t| after <= t && t <= before)
    })
}

fn story_evidence(story: &OsStory<'_>) -> Vec<Evidence> {
    match story {
        OsStory::Changed { evidence, .. } => evidence.clone(),
        OsStory::OnlySp4 { first } => records(&[first]),
        OsStory::NeverSp4 { last, .. } => records(&[last]),
        OsStory::Unknown => Vec::new(),
    }
}

fn weigh_os_story(story: &OsStory<'_>, confidence: &mut Confidence) {
    let labels = |evidence: &[Evidence]| {
        evidence
            .iter()
            .map(Evidence::label)
            .collect::<Vec<_>>()
            .join(", then ")
    };
    match story {
        OsStory::Changed {
            from: Some(SP3),
            evidence,
            ..
        } => confidence.support(format!(
            "the move from Windows 2000 SP3 to SP4 is seen directly: {}",
            labels(evidence)
        )),
        OsStory::Changed { from, evidence, .. } => confidence.weaken(format!(
            "the logs show a move to SP4 from {} ({}), while the KB describes SP3 to SP4",
            from.map_or("an unknown level".to_owned(), |sp| format!("SP{sp}")),
            labels(evidence)
        )),
        OsStory::OnlySp4 { first } => confidence.weaken(format!(
            "only Windows 2000 SP4 boots are in the logs (first: {}); the SP3 → SP4 change \
             itself is not seen",
            first.label()
        )),
        OsStory::Unknown | OsStory::NeverSp4 { .. } => {
            confidence.weaken(
                "no boot (EventLog 6009) or install (NtServicePack 4371) record names the OS: \
                 Windows 2000 SP4 is assumed, not seen",
            );
            confidence.weaken("the 5085 cannot be placed after an SP4 upgrade");
        }
    }
}

/// The Exchange build that applies to the decisive 5085: its own data first, then any other
/// KMS record, then any Exchange or ESE record. The flag says "from the 5085's own data".
fn exchange_build<'a>(
    host: &'a HostTimeline,
    decisive: &'a RecordRef,
) -> Option<(ExchangeBuild, &'a RecordRef, bool)> {
    let stated = |entry: &'a TimelineEntry| match &entry.fact {
        Fact::KmsEvent { build: Some(b), .. }
        | Fact::DatabaseEvent { build: Some(b), .. }
        | Fact::ExchangeBuildSeen { build: b } => Some((*b, entry.record()?)),
        _ => None,
    };
    let all: Vec<(ExchangeBuild, &RecordRef)> = host.entries.iter().filter_map(stated).collect();
    if let Some((build, record)) = all.iter().find(|(_, r)| *r == decisive) {
        return Some((*build, record, true));
    }
    let kms_first = all
        .iter()
        .find(|(_, r)| r.source.eq_ignore_ascii_case("MSExchangeKMS"));
    kms_first
        .or(all.last())
        .map(|(build, record)| (*build, *record, false))
}

fn database_missing(context: &Context) -> Differential {
    let hypothesis = "The KMS database file is missing (restore it from backup instead)".to_owned();
    let (verdict, reason) = match &context.database {
        None => (
            Verdict::NotExcluded,
            "not checked: give --db with the path of kmsmdb.edb to check the file".to_owned(),
        ),
        Some(db) if !db.exists => (
            Verdict::Supported,
            format!(
                "there is no file at {}: a defragmentation needs the database, restore it \
                     from backup",
                db.path.display()
            ),
        ),
        Some(db) if !db.ese_signature => (
            Verdict::Supported,
            format!(
                "{} is not an ESE database (no 0x89abcdef signature)",
                db.path.display()
            ),
        ),
        Some(db) => (
            Verdict::Rejected,
            format!("{} exists and is an ESE database", db.path.display()),
        ),
    };
    Differential {
        hypothesis,
        verdict,
        reason,
        evidence: Vec::new(),
    }
}

const DIRTY_SHUTDOWN: &str =
    "The database was left in a dirty-shutdown state (recovery first, not defragmentation)";

/// A database left dirty by a crash needs soft recovery, not a defragmentation. The last
/// shutdown before the failure tells whether that is plausible.
fn dirty_shutdown(
    host: &HostTimeline,
    failure: &RecordRef,
    database: Option<&DatabaseFile>,
) -> Differential {
    let hypothesis = DIRTY_SHUTDOWN.to_owned();
    // The header itself settles it, when it was read.
    if let Some((db, header)) = database.and_then(|db| Some((db, db.header.as_ref()?))) {
        let (verdict, reason) = match header.state {
            DbState::CLEAN_SHUTDOWN => (
                Verdict::Rejected,
                "the database header reads Clean Shutdown".to_owned(),
            ),
            DbState::DIRTY_SHUTDOWN => (
                Verdict::Supported,
                "the database header reads Dirty Shutdown: it needs soft recovery (`eseutil /r` \
                 with its transaction logs) before any defragmentation"
                    .to_owned(),
            ),
            other => (
                Verdict::NotExcluded,
                format!("the database header reads {}", other.name()),
            ),
        };
        return Differential {
            hypothesis,
            verdict,
            reason,
            evidence: db.header_evidence().into_iter().collect(),
        };
    }
    let last_shutdown = host.entries.iter().rfind(|e| {
        matches!(e.fact, Fact::CleanShutdown | Fact::UnexpectedShutdown)
            && matches!((e.time, failure.time), (Some(t), Some(f)) if t <= f)
    });
    let (verdict, reason, evidence) = match last_shutdown {
        Some(entry) if entry.fact == Fact::CleanShutdown => (
            Verdict::Rejected,
            "the last shutdown before the failure was clean (EventLog 6006)".to_owned(),
            entry.evidence.clone(),
        ),
        Some(entry) => (
            Verdict::NotExcluded,
            "the shutdown before the failure was not clean (EventLog 6008): check that the \
             database header reads Clean Shutdown before defragmenting"
                .to_owned(),
            entry.evidence.clone(),
        ),
        None => (
            Verdict::NotExcluded,
            "no shutdown record precedes the failure; the database state is not known until \
             its header is read"
                .to_owned(),
            Vec::new(),
        ),
    };
    Differential {
        hypothesis,
        verdict,
        reason,
        evidence,
    }
}

/// True when `time` is known and lies in `[from, to]` (an unknown bound is open).
fn within(
    time: Option<DateTime<Utc>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> bool {
    time.is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|u| t <= u))
}

/// An ESE index-cleanup record (172-174) between the SP4 change and the failure.
fn index_cleanup<'a>(
    host: &'a HostTimeline,
    change_at: Option<DateTime<Utc>>,
    failure: &RecordRef,
) -> Option<&'a RecordRef> {
    host.entries
        .iter()
        .filter(|e| {
            matches!(e.fact, Fact::DatabaseEvent { event_id, .. }
                if INDEX_CLEANUP_EVENTS.contains(&event_id))
        })
        .find(|e| within(e.time, change_at, failure.time))
        .and_then(TimelineEntry::record)
}

const DAMAGED_PAGES: &str =
    "The database file is physically damaged (ESE 474, page checksum -1018)";

/// The KMS database's file name, as ESE 474 names the file it read.
const KMS_DATABASE_FILE: &str = "kmsmdb.edb";

/// Pages failing their checksum (ESE 474, -1018) mean physical damage: restore, not a
/// defragmentation. A 474 naming kmsmdb.edb settles it (the damage rule then leads); one
/// before the 5085 naming another file, or none, leaves it open.
fn damaged_pages(host: &HostTimeline, failure: &RecordRef) -> Differential {
    let hypothesis = DAMAGED_PAGES.to_owned();
    let damage = || {
        host.entries
            .iter()
            .filter(|e| {
                matches!(e.fact, Fact::DatabaseEvent { event_id, .. }
                    if event_id == PAGE_CHECKSUM_EVENT)
            })
            .filter_map(TimelineEntry::record)
    };
    let in_kms_database = damage().find_map(|record| {
        let file = named_file(record)?;
        file_name(&file)
            .eq_ignore_ascii_case(KMS_DATABASE_FILE)
            .then_some((record, file))
    });
    if let Some((record, file)) = in_kms_database {
        return Differential {
            hypothesis,
            verdict: Verdict::Supported,
            reason: format!(
                "{} reports damaged pages in {file}, the KMS database itself: the 5085 follows \
                 from the damage; restore the database from backup and check the hardware \
                 instead of defragmenting it (KB 810411)",
                record.label()
            ),
            evidence: records(&[record]),
        };
    }
    match damage().find(|r| within(r.time, None, failure.time)) {
        None => Differential {
            hypothesis,
            verdict: Verdict::Rejected,
            reason: "no ESE 474 page checksum failure before the 5085".to_owned(),
            evidence: Vec::new(),
        },
        Some(record) => Differential {
            hypothesis,
            verdict: Verdict::NotExcluded,
            reason: format!(
                "{} reports a page checksum failure; if it names kmsmdb.edb, restore the \
                 database from backup instead of defragmenting it",
                record.label()
            ),
            evidence: records(&[record]),
        },
    }
}

fn different_build(build: Option<&(ExchangeBuild, &RecordRef, bool)>) -> Differential {
    let hypothesis = "A different Exchange build (not Exchange 2000 SP3)".to_owned();
    match build {
        Some((build, record, _)) => Differential {
            hypothesis,
            verdict: Verdict::Rejected,
            reason: format!("{build} is {}, the build KB 818952 names", build.describe()),
            evidence: records(&[record]),
        },
        None => Differential {
            hypothesis,
            verdict: Verdict::NotExcluded,
            reason: "no record states the Exchange build".to_owned(),
            evidence: Vec::new(),
        },
    }
}

fn failure_before_sp4(placed: &Placement<'_>, change_at: Option<DateTime<Utc>>) -> Differential {
    let hypothesis =
        "The KMS failure began before SP4 (another cause damaged the database)".to_owned();
    let (verdict, reason, evidence) = match (placed.before.first(), placed.after.first(), change_at)
    {
        (Some(early), _, _) => (
            Verdict::Supported,
            format!(
                "a 5085 was already logged before the move to SP4 ({})",
                early.label()
            ),
            records(&[early]),
        ),
        (None, Some(after), Some(at)) => (
            Verdict::Rejected,
            format!(
                "no 5085 before the move to SP4 at {}; the first is {}",
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                after.label()
            ),
            Vec::new(),
        ),
        _ => (
            Verdict::NotExcluded,
            "the 5085 cannot be placed in time against the SP4 change".to_owned(),
            Vec::new(),
        ),
    };
    Differential {
        hypothesis,
        verdict,
        reason,
        evidence,
    }
}

fn wrong_password(bad_passwords: &[&RecordRef]) -> Differential {
    let hypothesis = "A wrong KMS startup password (MSExchangeKMS 5057)".to_owned();
    match bad_passwords.first() {
        None => Differential {
            hypothesis,
            verdict: Verdict::Rejected,
            reason: "no MSExchangeKMS 5057 in the logs".to_owned(),
            evidence: Vec::new(),
        },
        Some(record) => Differential {
            hypothesis,
            verdict: Verdict::NotExcluded,
            reason: format!(
                "{} refused the startup password as well: check it once the database mounts",
                record.label()
            ),
            evidence: records(&[record]),
        },
    }
}

/// Fixed when Service Control Manager reports KMS running after the last 5085 (and, by
/// construction, no 5085 follows). Undated failures leave it open.
fn resolution(host: &HostTimeline, failures: &[&RecordRef]) -> Option<Resolution> {
    let last_failure = failures
        .iter()
        .map(|f| f.time)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()?;
    let running = host.entries.iter().find(|e| {
        matches!(e.fact, Fact::ServiceRunning { .. }) && e.time.is_some_and(|t| t > last_failure)
    })?;
    let record = running.record()?;
    Some(Resolution {
        summary: format!(
            "KMS was running again at {} and no 5085 followed: the database mounts",
            record.label()
        ),
        evidence: running.evidence.clone(),
    })
}

fn summary(story: &OsStory<'_>, failures: &[&RecordRef], build: Option<ExchangeBuild>) -> String {
    let first = failures
        .first()
        .and_then(|f| f.time)
        .map(|t| format!("first at {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_else(|| "time not stated".to_owned());
    let os = match story {
        OsStory::Changed { from: Some(sp), .. } => {
            format!("It follows the move of Windows 2000 from SP{sp} to SP4.")
        }
        OsStory::Changed { from: None, .. } => "It follows the install of Windows 2000 SP4.".into(),
        OsStory::OnlySp4 { .. } => {
            "The server runs Windows 2000 SP4 (the level before is not in the logs).".into()
        }
        _ => "The logs do not show the OS version.".into(),
    };
    let exchange = match build {
        Some(b) => format!("Exchange build {b} ({}).", b.describe()),
        None => "The Exchange build is not stated.".into(),
    };
    format!(
        "The Key Management Service cannot mount its key database (MSExchangeKMS 5085, {} \
         time(s), {first}). {os} {exchange} This is the failure KB 818952 describes. Likely \
         mechanism (an inference, the KB states no cause): the database's indexes were built \
         under SP3, mounting under SP4 makes the engine rebuild them, and that fails here; an \
         offline defragmentation writes a new database with freshly built indexes.",
        failures.len()
    )
}

/// The steps; damaged pages withdraw the defragmentation (Supported) or ask for a page
/// check before it (not excluded).
fn remediation(database: &str, check_state_first: bool, damage: Verdict) -> Vec<String> {
    let mut steps = vec![
        "Take a full backup of the Exchange 2000 databases, including the KMSData folder."
            .to_owned(),
    ];
    if damage == Verdict::Supported {
        steps.push(format!(
            "Do not defragment the KMS database: its pages are damaged (see the page checksum \
             finding). Restore \"{database}\" from the last good backup and check the disks \
             and controllers under it (KB 810411, KB 314917); the defragmentation advice of KB \
             818952 is withdrawn."
        ));
    } else {
        if check_state_first {
            steps.push(format!(
                "Read the database header (`eseutil /mh \"{database}\"`): if the state is Dirty \
                 Shutdown, run soft recovery (`eseutil /r`) before going on."
            ));
        }
        if damage == Verdict::NotExcluded {
            steps.push(format!(
                "Check the KMS database's pages before defragmenting (`eseutil /k \"{database}\"`, \
                 or `evtdoctor db check` on a copy): a page checksum failure was logged; if it \
                 concerns this file, restore it from backup instead."
            ));
        }
        steps.push(format!(
            "Defragment the KMS database offline, on a copy taken off the server, stamping the \
             version it runs: `evtdoctor fix --db \"{database}\" --target-os \"5.0.2195 SP 4\"` (it \
             prints the whole procedure), or on the server from Exchsrvr\\Bin \
             `eseutil /d \"{database}\"`."
        ));
    }
    steps.push(
        "Start the Microsoft Exchange Key Management Service again and check that Service \
         Control Manager reports it running (7036) and that no new 5085 is logged."
            .to_owned(),
    );
    steps
}
