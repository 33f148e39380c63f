//! Facts derived from a computer's whole timeline rather than stated by one record: how the
//! server reached a service pack, which Exchange build applies to a record, the last shutdown
//! before a moment. Rules read them by name (`docs/rules.md`, fact types).

use super::{Evidence, Fact, HostTimeline, RecordRef, TimelineEntry};
use crate::knowledge::exchange::ExchangeBuild;
use crate::knowledge::windows::{service_pack_number, OsVersion};
use chrono::{DateTime, Utc};

/// A Windows release as `major.minor.build` (`5.0.2195` is Windows 2000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
}

impl Release {
    /// Reads `5.0.2195`.
    pub fn parse(text: &str) -> Option<Release> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        let release = Release {
            major: parts.next()??,
            minor: parts.next()??,
            build: parts.next()??,
        };
        parts.next().is_none().then_some(release)
    }

    fn is(&self, os: &OsVersion) -> bool {
        (os.major, os.minor, os.build) == (self.major, self.minor, self.build)
    }
}

/// What the logs say about a server reaching service pack `target` of a release.
#[derive(Debug, Clone)]
pub enum ServicePackChange<'a> {
    /// Boots (a change between two boots) or an install record show it; `from` is the level
    /// before when known.
    Changed {
        from: Option<u32>,
        at: Option<DateTime<Utc>>,
        evidence: Vec<Evidence>,
    },
    /// Only boots at the target level are seen (the first of them).
    OnlyTarget { first: &'a RecordRef },
    /// Boots are seen, and none runs the target level (the last of them).
    Never {
        last: &'a RecordRef,
        os: &'a OsVersion,
    },
    /// No record names the OS.
    Unknown,
}

impl ServicePackChange<'_> {
    /// When the server reached the target level, as far as the records date it.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            ServicePackChange::Changed { at, .. } => *at,
            ServicePackChange::OnlyTarget { first } => first.time,
            _ => None,
        }
    }

    /// The records that show it.
    pub fn evidence(&self) -> Vec<Evidence> {
        match self {
            ServicePackChange::Changed { evidence, .. } => evidence.clone(),
            ServicePackChange::OnlyTarget { first } => vec![Evidence::Record((*first).clone())],
            ServicePackChange::Never { last, .. } => vec![Evidence::Record((*last).clone())],
            ServicePackChange::Unknown => Vec::new(),
        }
    }
}

/// How the server reached service pack `target` of `release`: a level change between two
/// boots (with the install record and a successful service-pack setup run between them
/// joining the evidence), else an install record, else the boots alone.
pub fn service_pack_change(
    host: &HostTimeline,
    release: Release,
    target: u32,
) -> ServicePackChange<'_> {
    let is_target = |os: &OsVersion| release.is(os) && os.service_pack == target;
    let install = host.entries.iter().find(
        |e| matches!(&e.fact, Fact::ServicePackInstalled { os: Some(os), .. } if is_target(os)),
    );
    let change = host.entries.iter().find_map(|e| match &e.fact {
        Fact::OsLevelChanged { from, to }
            if is_target(to) && release.is(from) && from.service_pack < target =>
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
        return ServicePackChange::Changed {
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
        return ServicePackChange::Changed {
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
        if is_target(os) {
            return ServicePackChange::OnlyTarget { first: record };
        }
        last = Some((os, record));
    }
    match last {
        Some((os, last)) => ServicePackChange::Never { last, os },
        None => ServicePackChange::Unknown,
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

/// The Exchange build that applies to `record`: its own data first, then the first record of
/// the same source that states one, then the last record that states one. The flag says
/// "from the record's own data".
pub fn exchange_build_for<'a>(
    host: &'a HostTimeline,
    record: &RecordRef,
) -> Option<(ExchangeBuild, &'a RecordRef, bool)> {
    let stated = |entry: &'a TimelineEntry| match &entry.fact {
        Fact::KmsEvent { build: Some(b), .. }
        | Fact::DatabaseEvent { build: Some(b), .. }
        | Fact::ExchangeBuildSeen { build: b } => Some((*b, entry.record()?)),
        _ => None,
    };
    let all: Vec<(ExchangeBuild, &RecordRef)> = host.entries.iter().filter_map(stated).collect();
    if let Some((build, found)) = all.iter().find(|(_, r)| *r == record) {
        return Some((*build, found, true));
    }
    let same_source = all
        .iter()
        .find(|(_, r)| r.source.eq_ignore_ascii_case(&record.source));
    same_source
        .or(all.last())
        .map(|(build, found)| (*build, *found, false))
}

/// The last clean (EventLog 6006) or unexpected (6008) shutdown at or before `time`; none when
/// `time` is unknown. The flag says "clean".
pub fn last_shutdown_before(
    host: &HostTimeline,
    time: Option<DateTime<Utc>>,
) -> Option<(&TimelineEntry, bool)> {
    let entry = host.entries.iter().rfind(|e| {
        matches!(e.fact, Fact::CleanShutdown | Fact::UnexpectedShutdown)
            && matches!((e.time, time), (Some(t), Some(at)) if t <= at)
    })?;
    Some((entry, entry.fact == Fact::CleanShutdown))
}
