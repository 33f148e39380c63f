//! What correlation keeps of each event read: the whole event when it states a fact the
//! timeline cites, and otherwise only what merging duplicates and counting need. A large log
//! is mostly events no rule reads (service state changes, driver messages); holding them whole
//! cost more than reading them.
//!
//! Events are observed in batches on the reading threads ([`observe_batch`]); the names every
//! event of a batch repeats (file, computer, log, source) are shared, not copied per event.

use super::facts::{self, WatchedEvents};
use super::SourcedEvent;
use chrono::{DateTime, TimeDelta, Utc};
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::Event;
use foldhash::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

/// One event as correlation keeps it.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The input it was read from.
    pub file: Arc<str>,
    /// The computer as the event names it (trimmed), `None` when it names none.
    pub computer: Option<Arc<str>>,
    pub time: Option<DateTime<Utc>>,
    /// How the time became UTC.
    pub clock: Clock,
    /// Log name, case-folded.
    pub log: Option<Arc<str>>,
    /// Source, case-folded.
    pub source: Arc<str>,
    pub event_id: u16,
    pub record_number: Option<u64>,
    /// A fingerprint of the insertion strings; `None` when the event has none.
    pub strings: Option<u64>,
    /// The record has binary data.
    pub has_data: bool,
    /// Hashes of the record and content keys, computed on the reading threads.
    pub record_hash: Option<u64>,
    pub content_hash: Option<u64>,
    /// The event itself, when it states a fact or carries a message (an export's text, kept
    /// for the evidence it may describe); `None` for the rest.
    pub whole: Option<Box<Event>>,
}

/// How an event's time became UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Stored with its zone (binary logs, zoned text).
    #[default]
    Zoned,
    /// Text without a zone read as UTC (no `--tz`): it may be off by the export's offset.
    AssumedUtc,
    /// Text without a zone read with the `--tz` offset.
    GivenOffset,
}

impl From<TimeBasis> for Clock {
    fn from(basis: TimeBasis) -> Clock {
        match basis {
            TimeBasis::Utc => Clock::Zoned,
            TimeBasis::AssumedUtc => Clock::AssumedUtc,
            TimeBasis::Offset(_) | TimeBasis::Inferred(_) => Clock::GivenOffset,
        }
    }
}

/// Time, case-folded source and event id: what makes two copies of a record alike when
/// neither says which log and record it is.
pub type ContentKey = (DateTime<Utc>, Arc<str>, u16);

impl Observed {
    /// The record key: log and record number.
    pub fn record_key(&self) -> Option<(&str, u64)> {
        Some((self.log.as_deref()?, self.record_number?))
    }

    pub fn same_record_key(&self, other: &Observed) -> bool {
        self.record_key().is_some() && self.record_key() == other.record_key()
    }

    pub fn content_key(&self) -> Option<ContentKey> {
        Some((self.time?, Arc::clone(&self.source), self.event_id))
    }

    pub fn same_content_key(&self, other: &Observed) -> bool {
        self.time.is_some()
            && (self.time, self.event_id) == (other.time, other.event_id)
            && self.source == other.source
    }

    /// Moves the event's time by `by` (an export's times read at the wrong offset).
    pub fn shift_time(&mut self, by: TimeDelta) {
        self.time = self.time.map(|t| t + by);
        self.content_hash = self
            .time
            .map(|time| content_hash(time, &self.source, self.event_id));
        if let Some(event) = self.whole.as_deref_mut() {
            for time in [&mut event.time_generated, &mut event.time_written] {
                *time = time.map(|t| t + by);
            }
        }
    }

    /// The whole event with its file, for the timeline.
    pub fn into_sourced(self) -> Option<SourcedEvent> {
        let event = *self.whole?;
        Some(SourcedEvent {
            file: self.file.to_string(),
            event,
        })
    }

    /// How much of the record this copy holds: binary data and a record number mean it came
    /// from a log rather than an export, and that copy is the one evidence should cite.
    pub fn completeness(&self) -> u8 {
        u8::from(self.has_data) * 2
            + u8::from(self.record_number.is_some())
            + u8::from(self.log.is_some())
    }
}

/// Observes a batch of events read from `file` (their times made UTC as `basis` says); the
/// events the rules read are kept whole.
pub fn observe_batch(
    file: &Arc<str>,
    events: Vec<Event>,
    basis: TimeBasis,
    watched: &WatchedEvents,
) -> Vec<Observed> {
    let mut names = SharedNames::default();
    events
        .into_iter()
        .map(|event| Observed {
            clock: basis.into(),
            ..observe(file, event, &mut names, watched)
        })
        .collect()
}

/// Observes events of several inputs (tests and small callers).
pub fn observe_all(events: Vec<SourcedEvent>, watched: &WatchedEvents) -> Vec<Observed> {
    let mut names = SharedNames::default();
    events
        .into_iter()
        .map(|sourced| {
            let file = names.file(&sourced.file);
            observe(&file, sourced.event, &mut names, watched)
        })
        .collect()
}

fn observe(
    file: &Arc<str>,
    event: Event,
    names: &mut SharedNames,
    watched: &WatchedEvents,
) -> Observed {
    let computer = event
        .computer
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| names.computer(c));
    let keep_whole = event.message.is_some() || facts::states_fact(&event, watched);
    let log = event.log.as_deref().map(|log| names.log(log));
    let source = names.source(&event.source);
    let time = event.time();
    let key_hasher = KEY_HASHER.get_or_init(Default::default);
    Observed {
        file: Arc::clone(file),
        computer,
        time,
        clock: Clock::Zoned,
        record_hash: log
            .as_deref()
            .zip(event.record_number)
            .map(|key| key_hasher.hash_one(key)),
        content_hash: time.map(|time| content_hash(time, &source, event.event_id)),
        log,
        source,
        event_id: event.event_id,
        record_number: event.record_number,
        strings: fingerprint(&event.strings),
        has_data: event.data.as_ref().is_some_and(|d| !d.is_empty()),
        whole: keep_whole.then(|| Box::new(event)),
    }
}

/// Hashes record and content keys the same way on every thread.
static KEY_HASHER: OnceLock<foldhash::fast::RandomState> = OnceLock::new();

fn content_hash(time: DateTime<Utc>, source: &str, event_id: u16) -> u64 {
    KEY_HASHER
        .get_or_init(Default::default)
        .hash_one((time, source, event_id))
}

/// A 64-bit fingerprint of the strings, seeded at random per run: two events' strings are
/// taken as equal when their fingerprints are. Only events of the same time, source and id
/// are ever compared, so a chance collision is not a practical concern.
fn fingerprint(strings: &[String]) -> Option<u64> {
    if strings.is_empty() {
        return None;
    }
    static SEED: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    Some(SEED.get_or_init(Default::default).hash_one(strings))
}

/// The names a batch repeats, shared rather than copied for every event.
#[derive(Default)]
struct SharedNames {
    /// Case-folded log names.
    logs: NameTable,
    /// Case-folded sources.
    sources: NameTable,
    computers: NameTable,
    files: NameTable,
}

impl SharedNames {
    fn log(&mut self, name: &str) -> Arc<str> {
        self.logs.get(name, str::to_lowercase)
    }

    fn source(&mut self, name: &str) -> Arc<str> {
        self.sources.get(name, str::to_lowercase)
    }

    fn computer(&mut self, name: &str) -> Arc<str> {
        self.computers.get(name, str::to_owned)
    }

    fn file(&mut self, name: &str) -> Arc<str> {
        self.files.get(name, str::to_owned)
    }
}

/// Shared values by the text they were made from; the last one is checked first, as
/// consecutive events mostly repeat it.
#[derive(Default)]
struct NameTable {
    last: Option<(Arc<str>, Arc<str>)>,
    all: HashMap<Arc<str>, Arc<str>>,
}

impl NameTable {
    fn get(&mut self, name: &str, make: impl FnOnce(&str) -> String) -> Arc<str> {
        if let Some((text, value)) = &self.last {
            if **text == *name {
                return Arc::clone(value);
            }
        }
        let (text, value) = match self.all.get_key_value(name) {
            Some((text, value)) => (Arc::clone(text), Arc::clone(value)),
            None => {
                let (text, value): (Arc<str>, Arc<str>) = (name.into(), make(name).into());
                self.all.insert(Arc::clone(&text), Arc::clone(&value));
                (text, value)
            }
        };
        self.last = Some((text, Arc::clone(&value)));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evtdoctor_parsers::Level;

    fn event(source: &str, id: u16, strings: &[&str]) -> Event {
        let mut e = Event::new(source, id, Level::Information);
        e.computer = Some(" DC1 ".into());
        e.log = Some("System".into());
        e.record_number = Some(9);
        e.strings = strings.iter().map(|s| s.to_string()).collect();
        e
    }

    #[test]
    fn only_fact_stating_events_are_kept_whole() {
        let file: Arc<str> = "System.evtx".into();
        let observed = observe_batch(
            &file,
            vec![
                event(
                    "Service Control Manager",
                    7036,
                    &["Print Spooler", "running"],
                ),
                event("EventLog", 6009, &["5.00.", "2195", "Service Pack 4"]),
                event(
                    "Service Control Manager",
                    7036,
                    &["Key Management", "running"],
                ),
            ],
            TimeBasis::Utc,
            &WatchedEvents::default(),
        );
        let whole: Vec<bool> = observed.iter().map(|o| o.whole.is_some()).collect();
        assert_eq!(whole, [false, true, true]);
        let first = &observed[0];
        assert_eq!(first.computer.as_deref(), Some("DC1"));
        assert_eq!(&*first.source, "service control manager");
        assert_eq!(first.record_key(), Some(("system", 9)));
        // The batch shares one copy of each repeated name.
        assert!(Arc::ptr_eq(&observed[0].source, &observed[2].source));
        assert!(Arc::ptr_eq(
            observed[0].computer.as_ref().unwrap(),
            observed[1].computer.as_ref().unwrap()
        ));
    }

    #[test]
    fn fingerprints_tell_strings_apart() {
        let a = fingerprint(&["a".into(), "bc".into()]);
        assert!(a.is_some());
        assert_eq!(a, fingerprint(&["a".into(), "bc".into()]));
        assert_ne!(a, fingerprint(&["ab".into(), "c".into()]));
        assert_ne!(a, fingerprint(&["a".into()]));
        assert_eq!(fingerprint(&[]), None);
    }
}
