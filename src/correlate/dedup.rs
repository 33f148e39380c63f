//! The same record read from two inputs (an .evt and its CSV export, two copies of a log)
//! counts once.
//!
//! Two events are the same when they share log and record number (one computer is implied:
//! merging runs per computer), or, when that is not known on both sides, the same time,
//! source and event id with the same insertion strings (an input without strings, such as an
//! export that kept only the message, matches any) and no conflicting record numbers.

use super::SourcedEvent;
use chrono::{DateTime, Utc};
use evtdoctor_parsers::Event;
use std::collections::HashMap;

type RecordKey = (String, u64);
type ContentKey = (DateTime<Utc>, String, u16);

/// Where kept events are found again.
#[derive(Default)]
struct Index {
    by_record: HashMap<RecordKey, usize>,
    /// Kept events by time, source and id, apart by whether they have a record key: an event
    /// with one matches by content only a kept event without one (two copies of a keyed
    /// record share the key), so bursts of keyed records never scan each other.
    keyed: HashMap<ContentKey, Vec<usize>>,
    unkeyed: HashMap<ContentKey, Vec<usize>>,
}

impl Index {
    fn find(
        &self,
        kept: &[SourcedEvent],
        record: Option<&RecordKey>,
        content: Option<&ContentKey>,
        copy: &Event,
    ) -> Option<usize> {
        if let Some(&index) = record.and_then(|k| self.by_record.get(k)) {
            return Some(index);
        }
        let content = content?;
        let unkeyed = self.unkeyed.get(content).into_iter().flatten();
        let keyed = record
            .is_none()
            .then(|| self.keyed.get(content))
            .flatten()
            .into_iter()
            .flatten();
        unkeyed
            .chain(keyed)
            .copied()
            .find(|&i| kept.get(i).is_some_and(|k| same_content(&k.event, copy)))
    }

    /// Files a newly kept event.
    fn add(&mut self, index: usize, record: Option<RecordKey>, content: Option<ContentKey>) {
        let keyed = record.is_some();
        if let Some(key) = record {
            self.by_record.entry(key).or_insert(index);
        }
        if let Some(key) = content {
            let map = if keyed {
                &mut self.keyed
            } else {
                &mut self.unkeyed
            };
            map.entry(key).or_default().push(index);
        }
    }

    /// Files the keys of a copy under the event it was merged into, so a third copy that
    /// only shares the copy's keys still finds it.
    fn alias(
        &mut self,
        index: usize,
        kept: &SourcedEvent,
        record: Option<RecordKey>,
        content: Option<ContentKey>,
    ) {
        if let Some(key) = record {
            self.by_record.entry(key).or_insert(index);
        }
        let Some(key) = content.filter(|c| Some(c) != content_key(kept).as_ref()) else {
            return;
        };
        let map = if record_key(kept).is_some() {
            &mut self.keyed
        } else {
            &mut self.unkeyed
        };
        let list = map.entry(key).or_default();
        if !list.contains(&index) {
            list.push(index);
        }
    }
}

/// Keeps one copy of each event (the first, unless a later one is more complete: see
/// [`completeness`]), in input order, and returns how many were dropped. The other copy fills
/// in what the kept one lacks (binary data, message, log name).
pub fn merge(events: Vec<SourcedEvent>) -> (Vec<SourcedEvent>, usize) {
    let mut kept: Vec<SourcedEvent> = Vec::with_capacity(events.len());
    let mut index = Index::default();
    let mut dropped = 0;
    for sourced in events {
        let record = record_key(&sourced);
        let content = content_key(&sourced);
        let found = index.find(&kept, record.as_ref(), content.as_ref(), &sourced.event);
        match found.and_then(|position| Some((position, kept.get_mut(position)?))) {
            Some((position, existing)) => {
                dropped += 1;
                fill_missing(existing, sourced);
                let existing = &*existing;
                index.alias(position, existing, record, content);
            }
            None => {
                index.add(kept.len(), record, content);
                kept.push(sourced);
            }
        }
    }
    (kept, dropped)
}

fn record_key(sourced: &SourcedEvent) -> Option<RecordKey> {
    let event = &sourced.event;
    Some((event.log.as_deref()?.to_lowercase(), event.record_number?))
}

fn content_key(sourced: &SourcedEvent) -> Option<ContentKey> {
    let event = &sourced.event;
    Some((event.time()?, event.source.to_lowercase(), event.event_id))
}

/// Same strings (a side without strings, an export that kept only the message, matches
/// any), and not two different record numbers: a .evt names no log, so two records of one
/// second with the same strings are told apart by their numbers alone.
fn same_content(a: &Event, b: &Event) -> bool {
    let different_records =
        matches!((a.record_number, b.record_number), (Some(x), Some(y)) if x != y);
    let (sa, sb) = (&a.strings, &b.strings);
    !different_records && (sa.is_empty() || sb.is_empty() || sa == sb)
}

/// How much of a record a copy holds: binary data and a record number mean it came from a log
/// rather than an export, and that copy is the one evidence should cite.
fn completeness(event: &Event) -> u8 {
    let has_data = event.data.as_ref().is_some_and(|d| !d.is_empty());
    u8::from(has_data) * 2 + u8::from(event.record_number.is_some()) + u8::from(event.log.is_some())
}

fn fill_missing(kept: &mut SourcedEvent, mut copy: SourcedEvent) {
    if completeness(&copy.event) > completeness(&kept.event) {
        std::mem::swap(kept, &mut copy);
    }
    let (kept, copy) = (&mut kept.event, copy.event);
    let has_data = |data: &Option<Vec<u8>>| data.as_ref().is_some_and(|d| !d.is_empty());
    if !has_data(&kept.data) && has_data(&copy.data) {
        kept.data = copy.data;
    }
    if kept.strings.is_empty() {
        kept.strings = copy.strings;
    }
    kept.message = kept.message.take().or(copy.message);
    kept.log = kept.log.take().or(copy.log);
    kept.record_number = kept.record_number.or(copy.record_number);
}

#[cfg(test)]
mod tests {
    use super::*;
    use evtdoctor_parsers::{Event, Level};

    fn event(file: &str, log: Option<&str>, record: Option<u64>, strings: &[&str]) -> SourcedEvent {
        let mut e = Event::new("EventLog", 6009, Level::Information);
        e.log = log.map(str::to_owned);
        e.record_number = record;
        e.time_generated = Some("2003-07-01T10:00:00Z".parse().unwrap());
        e.strings = strings.iter().map(|s| s.to_string()).collect();
        SourcedEvent {
            file: file.to_owned(),
            event: e,
        }
    }

    #[test]
    fn same_log_and_record_number_is_one_event() {
        let mut with_data = event("System.evt", Some("System"), Some(7), &["a"]);
        with_data.event.data = Some(vec![1, 2]);
        let mut export = event("System.csv", Some("system"), Some(7), &["a"]);
        export.event.data = None;
        let (kept, dropped) = merge(vec![export, with_data]);
        assert_eq!((kept.len(), dropped), (1, 1));
        // The copy from the log itself (it has the data) is the one evidence cites.
        assert_eq!(kept[0].file, "System.evt");
        assert_eq!(kept[0].event.data, Some(vec![1, 2]));
        assert_eq!(kept[0].event.log.as_deref(), Some("System"));
    }

    #[test]
    fn without_record_numbers_time_source_id_and_strings_decide() {
        let a = event("a.evt", Some("System"), Some(7), &["x"]);
        let paste = event("paste.txt", None, None, &[]);
        let other = event("b.evt", None, None, &["y"]);
        let (kept, dropped) = merge(vec![a, paste, other]);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].event.strings, vec!["y"]);
    }

    #[test]
    fn a_keyed_record_matches_an_export_read_before_it() {
        let export = event("System.csv", None, None, &["x"]);
        let mut evt = event("System.evt", Some("System"), Some(7), &["x"]);
        evt.event.data = Some(vec![9]);
        let again = event("copy.evt", Some("System"), Some(7), &["x"]);
        let (kept, dropped) = merge(vec![export, evt, again]);
        assert_eq!((kept.len(), dropped), (1, 2));
        assert_eq!(kept[0].event.log.as_deref(), Some("System"));
        assert_eq!(kept[0].event.data, Some(vec![9]));
    }

    #[test]
    fn a_burst_of_records_in_one_second_stays_apart_and_merges_with_its_copy() {
        let burst: Vec<SourcedEvent> = (0..5000)
            .map(|n| event("Security.evtx", Some("Security"), Some(n), &["x"]))
            .collect();
        let mut events = burst.clone();
        events.extend(burst);
        let (kept, dropped) = merge(events);
        assert_eq!((kept.len(), dropped), (5000, 5000));
    }

    #[test]
    fn records_without_a_log_name_are_told_apart_by_number() {
        // Two identical records of one second in a .evt (no log name), and a slack copy of
        // the first one.
        let a = event("System.evt", None, Some(7), &["x"]);
        let b = event("System.evt", None, Some(8), &["x"]);
        let mut slack = a.clone();
        slack.event.origin.recovered = true;
        let (kept, dropped) = merge(vec![a, b, slack]);
        assert_eq!((kept.len(), dropped), (2, 1));
    }

    #[test]
    fn different_records_at_the_same_time_stay_apart() {
        let a = event("a.evt", Some("System"), Some(7), &["x"]);
        let b = event("a.evt", Some("System"), Some(8), &["x"]);
        assert_eq!(merge(vec![a, b]).0.len(), 2);
    }
}
