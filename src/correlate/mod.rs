//! Correlation: events from every input of a server become one timeline per computer of
//! facts (boots, service-pack levels, installs, builds, failures), each with the records that
//! prove it.

mod dedup;
pub mod derived;
mod facts;
mod observed;
mod offset;

pub use facts::{Fact, WatchedEvents};
pub use observed::{observe_batch, Clock, Observed};
pub use offset::ExportOffset;

use crate::knowledge::catalog;
use chrono::{DateTime, Utc};
use dedup::Merger;
use evtdoctor_parsers::text::setup_log;
use evtdoctor_parsers::Event;
use foldhash::HashMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// An event and the input file it was read from.
#[derive(Debug, Clone)]
pub struct SourcedEvent {
    pub file: String,
    pub event: Event,
}

/// What proves a fact: an event record, or the header of the database given with `--db`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    Record(RecordRef),
    DatabaseHeader(DatabaseHeaderRef),
}

impl Evidence {
    /// The cited record, for evidence that is one.
    pub fn record(&self) -> Option<&RecordRef> {
        match self {
            Evidence::Record(r) => Some(r),
            Evidence::DatabaseHeader(_) => None,
        }
    }

    /// One line naming what is cited.
    pub fn label(&self) -> String {
        match self {
            Evidence::Record(r) => r.label(),
            Evidence::DatabaseHeader(h) => h.label(),
        }
    }
}

/// The fields of an ESE database header that bear on a diagnosis, as `eseutil /mh` names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseHeaderRef {
    pub file: String,
    /// `State:` (Clean Shutdown, Dirty Shutdown, ...).
    pub state: String,
    /// `OS Version:` the secondary indexes were built under, e.g. `(5.0.2195 SP 3)`.
    pub os_version: String,
    /// `Format ulVersion:` and revision, e.g. `0x620,9`.
    pub format: String,
}

impl DatabaseHeaderRef {
    pub fn label(&self) -> String {
        format!(
            "database header of {} (State: {}, OS Version: {}, Format: {})",
            self.file, self.state, self.os_version, self.format
        )
    }
}

/// One event record cited as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordRef {
    pub file: String,
    pub log: Option<String>,
    pub record_number: Option<u64>,
    /// The record's System/EventRecordID, only when it differs from `record_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_record_id: Option<u64>,
    pub time: Option<DateTime<Utc>>,
    pub source: String,
    /// The .evtx provider name, only when it differs from `source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub event_id: u16,
    /// Byte offset of the record in its file (binary inputs).
    pub offset: Option<u64>,
    /// First line of the record (text inputs).
    pub line: Option<u64>,
    /// Carved from free space or a damaged region rather than read from the live log.
    pub recovered: bool,
    /// The part of the record that decides (strings, payload build).
    pub excerpt: String,
    /// The record's message, else the built-in catalog's description.
    pub description: Option<String>,
}

impl RecordRef {
    pub fn new(sourced: &SourcedEvent, excerpt: impl Into<String>) -> RecordRef {
        let event = &sourced.event;
        RecordRef {
            file: sourced.file.clone(),
            log: event.log.clone(),
            record_number: event.record_number,
            event_record_id: event.event_record_id,
            time: event.time(),
            source: event.source.clone(),
            provider: event.provider.clone(),
            event_id: event.event_id,
            offset: event.origin.offset,
            line: event.origin.line,
            recovered: event.origin.recovered,
            excerpt: excerpt.into(),
            description: event
                .message
                .clone()
                .or_else(|| catalog::describe(&event.source, event.event_id, &event.strings)),
        }
    }

    /// How reasons name the record: `System record 3489 (EventLog 6009, 2011-09-09 18:29:39
    /// UTC)`; without a record number, `MSExchangeKMS 5085 record at line 12 (no time)`.
    pub fn label(&self) -> String {
        let time = match self.time {
            Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            None => "no time".to_owned(),
        };
        let recovered = if self.recovered { " (recovered)" } else { "" };
        if self.log.as_deref() == Some(setup_log::SETUP_LOG) {
            let line = self.line.map(|l| format!(" line {l}")).unwrap_or_default();
            return format!("setup log{line} ({} run, {time})", self.source);
        }
        let Some(number) = self.record_number else {
            let place = match (self.line, self.offset) {
                (Some(line), _) => format!(" at line {line}"),
                (None, Some(offset)) => format!(" at offset {offset}"),
                (None, None) => String::new(),
            };
            return format!(
                "{} {} record{place}{recovered} ({time})",
                self.source, self.event_id
            );
        };
        let log = self
            .log
            .as_deref()
            .map(|l| format!("{l} "))
            .unwrap_or_default();
        format!(
            "{log}record {number}{recovered} ({} {}, {time})",
            self.source, self.event_id
        )
    }
}

/// One fact on a computer's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub time: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub fact: Fact,
    /// One line a person reads.
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

impl TimelineEntry {
    /// The first record cited (every entry built from events has one).
    pub fn record(&self) -> Option<&RecordRef> {
        self.evidence.iter().find_map(Evidence::record)
    }
}

/// Everything known about one computer.
#[derive(Debug, Clone, Serialize)]
pub struct HostTimeline {
    pub computer: String,
    /// Distinct events (after merging duplicates).
    pub events: usize,
    pub first_event: Option<DateTime<Utc>>,
    pub last_event: Option<DateTime<Utc>>,
    pub files: Vec<String>,
    /// Oldest first; entries without a time keep their input order at the end.
    pub entries: Vec<TimelineEntry>,
}

/// The correlation result for all inputs.
#[derive(Debug, Clone, Serialize)]
pub struct Correlation {
    pub events_read: usize,
    pub duplicates_merged: usize,
    pub hosts: Vec<HostTimeline>,
    /// Text exports whose times the events they share with binary logs place at another
    /// offset than they were read with.
    #[serde(skip)]
    pub export_offsets: Vec<ExportOffset>,
}

/// The name used for events that do not say which computer logged them.
pub const UNKNOWN_COMPUTER: &str = "(unknown computer)";

/// Merges duplicates, groups by computer and derives each computer's timeline, keeping the
/// events `watched` names (those a rule pack reads: `Pack::watched`).
pub fn correlate_watching(events: Vec<SourcedEvent>, watched: WatchedEvents) -> Correlation {
    let observed = observed::observe_all(events, &watched);
    let mut correlator = Correlator::watching(watched);
    observed.into_iter().for_each(|e| correlator.add(e));
    correlator.finish()
}

/// Correlation built as events arrive (observed on the reading threads: [`observe_batch`]),
/// so a large log is never held whole: duplicates are merged per computer on arrival.
#[derive(Default)]
pub struct Correlator {
    events_read: usize,
    /// By computer key: the name first seen, and the merged events.
    hosts: BTreeMap<String, (String, Merger)>,
    /// Computer keys by the names events give.
    keys: HashMap<Arc<str>, String>,
    /// Events that name no computer, kept until every input is read (see [`Correlator::finish`]).
    unnamed: Vec<Observed>,
    /// Events whose times came from text without a zone, kept until every input is read: the
    /// binary logs' copies of them tell the text's offset.
    zone_less: Vec<Observed>,
    /// The events the rules read besides the known facts.
    watched: WatchedEvents,
}

impl Correlator {
    /// A correlator whose timelines keep the events `watched` names (give the same set to
    /// [`observe_batch`]).
    pub fn watching(watched: WatchedEvents) -> Correlator {
        Correlator {
            watched,
            ..Correlator::default()
        }
    }

    pub fn add(&mut self, observed: Observed) {
        self.events_read += 1;
        if observed.clock == Clock::Zoned {
            self.place(observed);
        } else {
            self.zone_less.push(observed);
        }
    }

    /// Files an event under its computer.
    fn place(&mut self, observed: Observed) {
        let Some(name) = observed.computer.as_deref() else {
            self.unnamed.push(observed);
            return;
        };
        let key = match self.keys.get(name) {
            Some(key) => key,
            None => self
                .keys
                .entry(name.into())
                .or_insert_with(|| computer_key(name)),
        };
        // The unknown computer's name is its own key.
        if key == UNKNOWN_COMPUTER {
            self.unnamed.push(observed);
            return;
        }
        let (_, merger) = self
            .hosts
            .entry(key.clone())
            .or_insert_with(|| (name.to_owned(), Merger::default()));
        merger.add(observed);
    }

    /// Events that name no computer (a pasted record without its Computer line) belong to the
    /// server when every other input names the same one; otherwise they are a computer of
    /// their own.
    pub fn finish(mut self) -> Correlation {
        let export_offsets = self.place_zone_less();
        let unnamed = std::mem::take(&mut self.unnamed);
        if !unnamed.is_empty() {
            let merger = match self.hosts.len() {
                1 => self.hosts.values_mut().next().map(|(_, merger)| merger),
                _ => None,
            };
            let merger = match merger {
                Some(merger) => merger,
                None => {
                    let name = UNKNOWN_COMPUTER.to_owned();
                    let entry = self.hosts.entry(computer_key(&name));
                    &mut entry.or_insert_with(|| (name, Merger::default())).1
                }
            };
            unnamed.into_iter().for_each(|e| merger.add(e));
        }
        let mut duplicates_merged = 0;
        let watched = &self.watched;
        let hosts = self
            .hosts
            .into_values()
            .map(|(computer, merger)| {
                let (events, duplicates) = merger.finish();
                duplicates_merged += duplicates;
                host_timeline(computer, events, watched)
            })
            .collect();
        Correlation {
            events_read: self.events_read,
            duplicates_merged,
            hosts,
            export_offsets,
        }
    }

    /// Files the events of text without a zone, each export's times moved to the offset its
    /// events shared with binary logs give when none was given (`--tz` is kept otherwise).
    fn place_zone_less(&mut self) -> Vec<ExportOffset> {
        let zone_less = std::mem::take(&mut self.zone_less);
        let logged = self
            .hosts
            .values()
            .flat_map(|(_, merger)| merger.kept())
            .chain(&self.unnamed);
        let found = offset::off_by(&zone_less, logged);
        let mut offsets = Vec::new();
        for (file, off_by, matches) in found {
            let given = zone_less
                .iter()
                .any(|e| e.file == file && e.clock == Clock::GivenOffset);
            // At no distance the times stand as read (and stay marked as assumed UTC).
            if off_by.is_zero() {
                continue;
            }
            offsets.push(ExportOffset {
                file: file.to_string(),
                off_by,
                matches,
                applied: !given,
            });
        }
        for mut event in zone_less {
            let shift = offsets
                .iter()
                .find(|o| o.applied && *o.file == *event.file)
                .map(|o| o.off_by);
            if let Some(by) = shift {
                event.shift_time(by);
            }
            self.place(event);
        }
        offsets
    }
}

/// One computer under all its names: .evt logs give the NetBIOS name (`DC1`), .evtx logs
/// the DNS name (`DC1.corp.example`). Case does not matter; an IP address stays whole.
fn computer_key(name: &str) -> String {
    let lower = name.to_lowercase();
    let is_address = lower
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b':');
    match lower.split_once('.') {
        Some((host, _)) if !is_address && !host.is_empty() => host.to_owned(),
        _ => lower,
    }
}

/// One computer's timeline from its merged events (in input order).
fn host_timeline(computer: String, events: Vec<Observed>, watched: &WatchedEvents) -> HostTimeline {
    let files: BTreeSet<&str> = events.iter().map(|e| &*e.file).collect();
    let files = files.into_iter().map(str::to_owned).collect();
    let times = events.iter().filter_map(|e| e.time);
    let (first_event, last_event) = (times.clone().min(), times.max());
    let count = events.len();
    let mut whole: Vec<SourcedEvent> = events
        .into_iter()
        .filter_map(Observed::into_sourced)
        .collect();
    // Stable: same-time events keep input order; undated ones go last.
    whole.sort_by_key(|e| (e.event.time().is_none(), e.event.time()));
    HostTimeline {
        computer,
        events: count,
        first_event,
        last_event,
        files,
        entries: facts::timeline(&whole, watched),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_record_however_it_is_known() {
        let mut event = Event::new("EventLog", 6009, evtdoctor_parsers::Level::Information);
        event.log = Some("System".into());
        event.record_number = Some(3500);
        event.time_generated = Some("2011-09-09T18:29:39Z".parse().unwrap());
        let mut sourced = SourcedEvent {
            file: "SysEvent.Evt".into(),
            event,
        };
        let label = |s: &SourcedEvent| RecordRef::new(s, "").label();
        assert_eq!(
            label(&sourced),
            "System record 3500 (EventLog 6009, 2011-09-09 18:29:39 UTC)"
        );
        sourced.event.origin.recovered = true;
        assert_eq!(
            label(&sourced),
            "System record 3500 (recovered) (EventLog 6009, 2011-09-09 18:29:39 UTC)"
        );
        sourced.event.record_number = None;
        sourced.event.time_generated = None;
        sourced.event.origin.line = Some(12);
        assert_eq!(
            label(&sourced),
            "EventLog 6009 record at line 12 (recovered) (no time)"
        );
        sourced.event.log = Some(setup_log::SETUP_LOG.into());
        sourced.event.source = setup_log::SETUP_SOURCE.into();
        assert_eq!(
            label(&sourced),
            "setup log line 12 (Update.exe run, no time)"
        );
    }

    #[test]
    fn netbios_and_dns_names_are_one_computer() {
        assert_eq!(computer_key("DC1.internal.greendale.edu"), "dc1");
        assert_eq!(computer_key("dc1"), "dc1");
        assert_eq!(computer_key("10.0.0.1"), "10.0.0.1");
        assert_eq!(computer_key(".odd"), ".odd");
        assert_eq!(computer_key(UNKNOWN_COMPUTER), UNKNOWN_COMPUTER);
    }
}
