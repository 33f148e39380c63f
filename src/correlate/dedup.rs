//! The same record read from two inputs (an .evt and its CSV export, two copies of a log)
//! counts once.
//!
//! Two events are the same when they share log and record number (one computer is implied:
//! merging runs per computer), or, when that is not known on both sides, the same time,
//! source and event id with the same insertion strings (an input without strings, such as an
//! export that kept only the message, matches any).

use super::SourcedEvent;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

type RecordKey = (String, u64);
type ContentKey = (DateTime<Utc>, String, u16);

/// Keeps the first copy of each event, in input order, and returns how many were dropped.
/// A later copy fills in what the kept one lacks (binary data, message, log name).
pub fn merge(events: Vec<SourcedEvent>) -> (Vec<SourcedEvent>, usize) {
    let mut kept: Vec<SourcedEvent> = Vec::with_capacity(events.len());
    let mut by_record: HashMap<RecordKey, usize> = HashMap::new();
    let mut by_content: HashMap<ContentKey, Vec<usize>> = HashMap::new();
    let mut dropped = 0;
    for sourced in events {
        let record = record_key(&sourced);
        let content = content_key(&sourced);
        let found = record
            .as_ref()
            .and_then(|k| by_record.get(k).copied())
            .or_else(|| {
                let candidates = by_content.get(content.as_ref()?)?;
                candidates
                    .iter()
                    .copied()
                    .find(|&i| kept.get(i).is_some_and(|k| same_content(k, &sourced)))
            });
        let index = match found {
            Some(index) => {
                dropped += 1;
                if let Some(existing) = kept.get_mut(index) {
                    fill_missing(existing, sourced);
                }
                index
            }
            None => {
                kept.push(sourced);
                kept.len() - 1
            }
        };
        if let Some(key) = record {
            by_record.entry(key).or_insert(index);
        }
        if let Some(key) = content {
            let list = by_content.entry(key).or_default();
            if !list.contains(&index) {
                list.push(index);
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

/// Same strings (or one side has none), and not two different records of the same log.
fn same_content(a: &SourcedEvent, b: &SourcedEvent) -> bool {
    if let (Some(ka), Some(kb)) = (record_key(a), record_key(b)) {
        if ka != kb {
            return false;
        }
    }
    let (a, b) = (&a.event.strings, &b.event.strings);
    a.is_empty() || b.is_empty() || a == b
}

fn fill_missing(kept: &mut SourcedEvent, copy: SourcedEvent) {
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
        assert_eq!(kept[0].file, "System.csv");
        assert_eq!(kept[0].event.data, Some(vec![1, 2]));
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
    fn different_records_at_the_same_time_stay_apart() {
        let a = event("a.evt", Some("System"), Some(7), &["x"]);
        let b = event("a.evt", Some("System"), Some(8), &["x"]);
        assert_eq!(merge(vec![a, b]).0.len(), 2);
    }
}
