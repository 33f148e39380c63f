//! Turning events into facts, and deriving the facts no single event states (the moment the
//! service-pack level changed between two boots).

use super::{Evidence, RecordRef, SourcedEvent, TimelineEntry};
use crate::knowledge::catalog::{self, source_is};
use crate::knowledge::exchange::ExchangeBuild;
use crate::knowledge::windows::{service_pack_number, OsVersion};
use evtdoctor_parsers::payload::decode_payload;
use evtdoctor_parsers::text::setup_log;
use evtdoctor_parsers::Event;
use serde::Serialize;

/// Names by which Service Control Manager events refer to the Exchange KMS service.
pub const KMS_SERVICE_NAMES: &[&str] = &["Key Management", "MSExchangeKMS"];

/// What a timeline entry states.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    /// EventLog 6009: the OS version and service pack in force at this boot.
    Boot { os: Option<OsVersion> },
    /// EventLog 6005.
    EventLogStarted,
    /// EventLog 6006.
    CleanShutdown,
    /// EventLog 6008: the shutdown before this boot was not clean.
    UnexpectedShutdown,
    /// Derived: two consecutive boots ran different OS levels (evidence: both boot records).
    OsLevelChanged { from: OsVersion, to: OsVersion },
    /// NtServicePack 4371: a service pack was installed.
    ServicePackInstalled {
        os: Option<OsVersion>,
        installed: String,
        replaced: String,
    },
    /// NtServicePack 4377: a hotfix was installed.
    HotfixInstalled { hotfix: String },
    /// One run of the package installer as its setup log (`svcpack.log`, `KB*.log`) tells
    /// it; `succeeded` is `None` when the log stops before the installer's exit code.
    SetupRun {
        /// What the installer said it installs: `Service Pack`, `Hotfix`.
        installer: String,
        package: Option<String>,
        outcome: String,
        succeeded: Option<bool>,
    },
    /// An Exchange build stated by an Exchange or Exchange-ESE record.
    ExchangeBuildSeen { build: ExchangeBuild },
    /// Service Control Manager 7000/7001/7023/7024.
    ServiceFailed {
        service: String,
        event_id: u16,
        detail: String,
    },
    /// Service Control Manager 7036 "running", kept for the services rules watch (KMS).
    ServiceRunning { service: String },
    /// An MSExchangeKMS event, with the Exchange build its binary data names.
    KmsEvent {
        event_id: u16,
        build: Option<ExchangeBuild>,
    },
    /// An Exchange database engine (ESE) event the catalog knows.
    DatabaseEvent {
        event_id: u16,
        build: Option<ExchangeBuild>,
    },
    /// An event a rule of the pack reads that states none of the facts above.
    RuleEvent { event_id: u16 },
}

/// The events the rules read (by source and id), kept on the timeline even when they state no
/// other fact.
#[derive(Debug, Clone, Default)]
pub struct WatchedEvents {
    /// Case-folded source and event id.
    pairs: Vec<(String, u16)>,
}

impl WatchedEvents {
    pub fn add(&mut self, source: &str, event_id: u16) {
        if !self.contains(source, event_id) {
            self.pairs.push((source.to_lowercase(), event_id));
        }
    }

    /// Checked for every event that states no other fact: ids first, as they rarely match.
    pub fn contains(&self, source: &str, event_id: u16) -> bool {
        self.pairs
            .iter()
            .any(|(s, id)| *id == event_id && s.eq_ignore_ascii_case(source))
    }
}

impl Fact {
    /// Facts worth a line in a summary (the full timeline is in the JSON report).
    pub fn is_highlight(&self) -> bool {
        match self {
            Fact::DatabaseEvent { event_id, .. } => {
                INDEX_CLEANUP_EVENTS.contains(event_id) || *event_id == PAGE_CHECKSUM_EVENT
            }
            Fact::Boot { .. }
            | Fact::EventLogStarted
            | Fact::CleanShutdown
            | Fact::HotfixInstalled { .. } => false,
            _ => true,
        }
    }
}

/// ESE events of the index cleanup that follows a Windows version change (KB 215297).
pub const INDEX_CLEANUP_EVENTS: [u16; 3] = [172, 173, 174];
/// ESE event of a page that failed its checksum when read (-1018, KB 810411).
pub const PAGE_CHECKSUM_EVENT: u16 = 474;

/// The timeline of one computer's events (already merged and in time order).
pub fn timeline(events: &[SourcedEvent], watched: &WatchedEvents) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = Vec::new();
    let mut last_boot: Option<(OsVersion, RecordRef)> = None;
    for sourced in events {
        let Some((fact, summary, excerpt)) = fact_of(&sourced.event, watched) else {
            continue;
        };
        let excerpt = excerpt.unwrap_or_else(|| sourced.event.strings.join(" | "));
        let record = RecordRef::new(sourced, excerpt);
        if let Fact::Boot { os: Some(os) } = &fact {
            if let Some((previous, previous_record)) = &last_boot {
                if previous != os {
                    entries.push(TimelineEntry {
                        time: record.time,
                        summary: format!("OS level changed: {previous} → {os}"),
                        fact: Fact::OsLevelChanged {
                            from: previous.clone(),
                            to: os.clone(),
                        },
                        evidence: vec![
                            Evidence::Record(previous_record.clone()),
                            Evidence::Record(record.clone()),
                        ],
                    });
                }
            }
            last_boot = Some((os.clone(), record.clone()));
        }
        entries.push(TimelineEntry {
            time: record.time,
            fact,
            summary,
            evidence: vec![Evidence::Record(record)],
        });
    }
    entries
}

/// A fact as one event states it: the fact, a one-line summary, and the decisive excerpt
/// when it is not simply the insertion strings.
type Stated = (Fact, String, Option<String>);

/// True when the event states a fact the timeline keeps.
pub fn states_fact(event: &Event, watched: &WatchedEvents) -> bool {
    fact_of(event, watched).is_some()
}

/// Exchange's services log under sources named `MSExchange...`.
const EXCHANGE_PREFIX: &str = "msexchange";

/// The fact an event states, if it is one the timeline keeps.
fn fact_of(event: &Event, watched: &WatchedEvents) -> Option<Stated> {
    known_fact(event).or_else(|| {
        watched
            .contains(&event.source, event.event_id)
            .then(|| rule_event_fact(event))
    })
}

/// An event a rule reads, summarized by its description or strings.
fn rule_event_fact(event: &Event) -> Stated {
    let what = event
        .message
        .clone()
        .or_else(|| catalog::describe(&event.source, event.event_id, &event.strings))
        .unwrap_or_else(|| event.strings.join(" | "));
    let summary = format!(
        "{} {}: {}",
        event.source,
        event.event_id,
        crate::output::truncate(&what, 80)
    );
    let fact = Fact::RuleEvent {
        event_id: event.event_id,
    };
    (fact, summary, None)
}

/// The fact an event states by what the program knows of its source.
fn known_fact(event: &Event) -> Option<Stated> {
    let source = event.source.as_str();
    if source_is(source, catalog::EVENT_LOG) {
        event_log_fact(event)
    } else if source_is(source, catalog::SERVICE_PACK_SETUP) {
        service_pack_fact(event)
    } else if event.log.as_deref() == Some(setup_log::SETUP_LOG)
        && source == setup_log::SETUP_SOURCE
    {
        Some(setup_run_fact(event))
    } else if source_is(source, catalog::SERVICE_CONTROL_MANAGER) {
        service_fact(event)
    } else if source_is(source, catalog::KMS) {
        Some(kms_fact(event))
    } else if source_is(source, catalog::EXCHANGE_ESE) {
        database_fact(event)
    } else if source
        .get(..EXCHANGE_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(EXCHANGE_PREFIX))
    {
        let build = build_in_text(event)?;
        let summary = format!("Exchange build {build} ({})", build.describe());
        Some((Fact::ExchangeBuildSeen { build }, summary, None))
    } else {
        None
    }
}

/// Boots and shutdowns (EventLog 6005/6006/6008/6009).
fn event_log_fact(event: &Event) -> Option<Stated> {
    let (fact, summary) = match event.event_id {
        6009 => {
            let os = OsVersion::from_boot_record(&event.strings, event.message.as_deref());
            let summary = match &os {
                Some(os) => format!("Boot: {os}"),
                None => "Boot (OS version not readable)".to_owned(),
            };
            (Fact::Boot { os }, summary)
        }
        6005 => (Fact::EventLogStarted, "Event Log service started".into()),
        6006 => (Fact::CleanShutdown, "Clean shutdown".into()),
        6008 => (
            Fact::UnexpectedShutdown,
            "The previous shutdown was unexpected".into(),
        ),
        _ => return None,
    };
    Some((fact, summary, None))
}

/// Service pack and hotfix installs (NtServicePack 4371/4377).
fn service_pack_fact(event: &Event) -> Option<Stated> {
    let text = |i: usize| {
        event
            .strings
            .get(i)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    match event.event_id {
        4371 => {
            let os = service_pack_number(&text(1))
                .and_then(|sp| OsVersion::from_release_name(&text(0), sp));
            let summary = format!(
                "Service pack installed: {} {} (replacing {})",
                text(0),
                text(1),
                text(2)
            );
            let fact = Fact::ServicePackInstalled {
                os,
                installed: text(1),
                replaced: text(2),
            };
            Some((fact, summary, None))
        }
        4377 => Some((
            Fact::HotfixInstalled { hotfix: text(1) },
            format!("Hotfix installed: {}", text(1)),
            None,
        )),
        _ => None,
    }
}

/// A package installer run read from its setup log.
fn setup_run_fact(event: &Event) -> Stated {
    let text = |i: usize| event.strings.get(i).map(String::as_str).unwrap_or_default();
    let package = Some(text(setup_log::field::PACKAGE).to_owned()).filter(|p| !p.is_empty());
    let installer = text(setup_log::field::KIND).to_owned();
    let outcome = text(setup_log::field::OUTCOME).to_owned();
    let summary = format!(
        "{installer} setup{}: {outcome}",
        package
            .as_deref()
            .map(|p| format!(" of {p}"))
            .unwrap_or_default()
    );
    let fact = Fact::SetupRun {
        installer,
        package,
        outcome,
        succeeded: setup_log::run_succeeded(event),
    };
    (fact, summary, None)
}

/// Service start failures, and the KMS service running again (Service Control Manager).
fn service_fact(event: &Event) -> Option<Stated> {
    let strings = &event.strings;
    let service = strings.first().map(|s| s.trim()).unwrap_or_default();
    match event.event_id {
        id @ (7000 | 7001 | 7023 | 7024) => {
            let service = service.to_owned();
            let summary = format!("Service failed ({id}): {service}");
            let fact = Fact::ServiceFailed {
                service,
                event_id: id,
                detail: strings.get(1..).unwrap_or_default().join(" | "),
            };
            Some((fact, summary, None))
        }
        7036 if is_kms_service(service)
            && strings
                .get(1)
                .is_some_and(|s| contains_ignoring_case(s, "running")) =>
        {
            let summary = format!("Service running: {service}");
            let service = service.to_owned();
            Some((Fact::ServiceRunning { service }, summary, None))
        }
        _ => None,
    }
}

/// Every MSExchangeKMS event, with the build its binary data (or text) names.
fn kms_fact(event: &Event) -> Stated {
    let payload = event
        .data
        .as_deref()
        .filter(|data| !data.is_empty())
        .map(decode_payload);
    let payload_build = payload
        .as_ref()
        .and_then(|p| p.build.as_ref())
        .and_then(ExchangeBuild::from_payload);
    let build = payload_build.or_else(|| build_in_text(event));
    // The payload's strings decide (build, then the failing calls' file@line markers).
    let excerpt = payload.filter(|p| !p.strings.is_empty()).map(|p| {
        let strings: Vec<&str> = p.strings.iter().map(|s| s.text.as_str()).collect();
        format!("data: {}", strings.join(" | "))
    });
    let what = catalog::describe(&event.source, event.event_id, &event.strings)
        .unwrap_or_else(|| "MSExchangeKMS event".to_owned());
    let summary = format!(
        "KMS {}: {}",
        event.event_id,
        crate::output::truncate(&what, 80)
    );
    let fact = Fact::KmsEvent {
        event_id: event.event_id,
        build,
    };
    (fact, summary, excerpt)
}

/// Exchange database engine events the catalog knows (engine start/stop, index cleanup,
/// page checksum failures).
fn database_fact(event: &Event) -> Option<Stated> {
    let what = catalog::describe(&event.source, event.event_id, &event.strings)?;
    let summary = format!("{} {}: {what}", event.source, event.event_id);
    let fact = Fact::DatabaseEvent {
        event_id: event.event_id,
        build: build_in_text(event),
    };
    Some((fact, summary, None))
}

pub fn is_kms_service(service: &str) -> bool {
    KMS_SERVICE_NAMES
        .iter()
        .any(|name| contains_ignoring_case(service, name))
}

/// `text` contains `word` (ASCII), whatever the case: checked for most records of a
/// System log, so it does not allocate.
fn contains_ignoring_case(text: &str, word: &str) -> bool {
    text.as_bytes()
        .windows(word.len())
        .any(|window| window.eq_ignore_ascii_case(word.as_bytes()))
}

/// An Exchange build written in an event's strings or message: dotted (`6.0.6249.0`) or as
/// four consecutive numeric insertion strings (ESE `%5.%6.%7.%8`).
fn build_in_text(event: &Event) -> Option<ExchangeBuild> {
    let texts = event.strings.iter().chain(event.message.as_ref());
    for text in texts {
        let starts = text.char_indices().filter(|&(i, c)| {
            c.is_ascii_digit() && !text[..i].ends_with(|p: char| p.is_ascii_digit() || p == '.')
        });
        for (i, _) in starts {
            if let Some(build) = ExchangeBuild::parse_leading(&text[i..]) {
                return Some(build);
            }
        }
    }
    event.strings.windows(4).find_map(|w| {
        let numeric = w
            .iter()
            .all(|s| !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()));
        if !numeric {
            return None;
        }
        let dotted = w.iter().map(|s| s.trim()).collect::<Vec<_>>().join(".");
        ExchangeBuild::parse_leading(&dotted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evtdoctor_parsers::Level;

    #[test]
    fn reads_the_build_from_the_kms_payload() {
        let data =
            b"6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0";
        let mut event = Event::new("MSExchangeKMS", 5085, Level::Error);
        event.data = Some(data.to_vec());
        let (fact, _, excerpt) = fact_of(&event, &WatchedEvents::default()).unwrap();
        let excerpt = excerpt.unwrap();
        let Fact::KmsEvent {
            build: Some(build), ..
        } = fact
        else {
            panic!("{fact:?}")
        };
        assert_eq!(build.to_string(), "6.0.6249.0");
        assert!(excerpt.starts_with("data: 6.0.6249.0 PT | kmserver.cpp@1653DD1"));
    }

    #[test]
    fn reads_builds_from_strings() {
        let mut ese = Event::new("ESE98", 100, Level::Information);
        ese.strings = ["MSExchangeIS", "1234", "x", "6", "0", "6249", "0"]
            .map(String::from)
            .to_vec();
        assert_eq!(build_in_text(&ese).unwrap().to_string(), "6.0.6249.0");
        let mut sa = Event::new("MSExchangeSA", 1000, Level::Information);
        sa.message = Some("Exchange version 6.0.6603.1 starting (Windows 5.0.2195)".into());
        assert_eq!(build_in_text(&sa).unwrap().to_string(), "6.0.6603.1");
        sa.message = Some("build 16.0.6249.0".into());
        assert_eq!(build_in_text(&sa), None);
    }
}
