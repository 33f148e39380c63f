//! The UTC offset of a text export, from the events it shares with binary logs.
//!
//! Event Viewer exports and pasted records carry local times without a zone. When a binary log
//! holds the same events (same source and id, and the same strings or log and record number
//! where both sides have them), each pair says how far the export's times are off; an offset
//! is a whole number of quarter hours within ±14 hours, so a chance pair rarely fits one.

use super::observed::Observed;
use chrono::{FixedOffset, TimeDelta};
use foldhash::HashMap;
use std::sync::Arc;

/// What the shared events say of one export's times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOffset {
    pub file: String,
    /// How far its times were from the binary logs' (binary minus export).
    pub off_by: TimeDelta,
    /// The events that agree on it.
    pub matches: usize,
    /// The export's times were moved by `off_by` (they had been read as UTC); otherwise the
    /// `--tz` given was kept and contradicts the events.
    pub applied: bool,
}

impl ExportOffset {
    /// The offset the export's times were written in, by its shared events, for times read
    /// with `given` (`None`: read as UTC).
    pub fn offset(&self, given: Option<FixedOffset>) -> Option<FixedOffset> {
        let given = given.map_or(0, |g| g.local_minus_utc());
        let off_by = i32::try_from(self.off_by.num_seconds()).ok()?;
        FixedOffset::east_opt(given - off_by)
    }
}

/// Offsets are whole quarter hours (Nepal's +05:45, India's +05:30) within ±14 hours.
const QUARTER_HOUR: i64 = 15 * 60;
const MOST_OFFSET: i64 = 14 * 3600;

/// For each file of `exported` (events whose times came from text without a zone), how far
/// its times are from those of the same events in `logged`, when its shared events agree on
/// one distance; files whose events match none, or disagree, are left out.
pub fn off_by<'a>(
    exported: &[Observed],
    logged: impl Iterator<Item = &'a Observed>,
) -> Vec<(Arc<str>, TimeDelta, usize)> {
    let mut by_event: HashMap<(&str, u16), Vec<&Observed>> = HashMap::default();
    for event in logged.filter(|e| e.time.is_some()) {
        by_event
            .entry((&event.source, event.event_id))
            .or_default()
            .push(event);
    }
    // Per file, in the order files come: how many events support each distance (seconds).
    let mut votes: Vec<(Arc<str>, HashMap<i64, usize>)> = Vec::new();
    for export in exported {
        let Some(time) = export.time else { continue };
        let Some(candidates) = by_event.get(&(&*export.source, export.event_id)) else {
            continue;
        };
        let mut distances: Vec<i64> = candidates
            .iter()
            .filter(|logged| same_event(logged, export))
            .filter_map(|logged| Some(logged.time?.timestamp() - time.timestamp()))
            .filter(|d| d % QUARTER_HOUR == 0 && d.abs() <= MOST_OFFSET)
            .collect();
        distances.sort_unstable();
        distances.dedup();
        if distances.is_empty() {
            continue;
        }
        let tally = match votes.iter_mut().find(|(file, _)| *file == export.file) {
            Some((_, tally)) => tally,
            None => {
                votes.push((Arc::clone(&export.file), HashMap::default()));
                &mut votes.last_mut().expect("just pushed").1
            }
        };
        for d in distances {
            *tally.entry(d).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .filter_map(|(file, tally)| {
            let (&best, &count) = tally.iter().max_by_key(|&(d, n)| (n, -d.abs()))?;
            let tied = tally.iter().any(|(&d, &n)| d != best && n == count);
            (!tied).then(|| (file, TimeDelta::seconds(best), count))
        })
        .collect()
}

/// Whether a logged event and an exported one can be the same record: nothing they both
/// state differs (strings, or log and record number).
fn same_event(logged: &Observed, export: &Observed) -> bool {
    let strings = match (logged.strings, export.strings) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let records = match (logged.record_key(), export.record_key()) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    strings && records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::observed::observe_all;
    use crate::correlate::SourcedEvent;
    use evtdoctor_parsers::{Event, Level};

    fn at(file: &str, time: &str, strings: &[&str]) -> SourcedEvent {
        let mut e = Event::new("MSExchangeKMS", 5085, Level::Error);
        e.time_generated = Some(time.parse().unwrap());
        e.strings = strings.iter().map(|s| s.to_string()).collect();
        SourcedEvent {
            file: file.into(),
            event: e,
        }
    }

    fn off(exported: Vec<SourcedEvent>, logged: Vec<SourcedEvent>) -> Vec<(String, i64, usize)> {
        let exported = observe_all(exported, &Default::default());
        let logged = observe_all(logged, &Default::default());
        off_by(&exported, logged.iter())
            .into_iter()
            .map(|(file, d, n)| (file.to_string(), d.num_minutes(), n))
            .collect()
    }

    #[test]
    fn shared_events_give_the_exports_offset() {
        let logged = vec![
            at("a.evtx", "2003-07-05T08:11:00.4Z", &["x"]),
            at("a.evtx", "2003-07-05T09:00:07Z", &["y"]),
        ];
        // Read as UTC, the export's 10:11:00 local is two hours late: UTC+2.
        let exported = vec![
            at("paste.txt", "2003-07-05T10:11:00Z", &["x"]),
            at("paste.txt", "2003-07-05T11:00:07Z", &[]),
        ];
        assert_eq!(off(exported, logged), [("paste.txt".into(), -120, 2)]);
    }

    #[test]
    fn differing_strings_odd_distances_and_ties_give_nothing() {
        let logged = vec![
            at("a.evtx", "2003-07-05T08:11:00Z", &["x"]),
            at("a.evtx", "2003-07-05T09:11:00Z", &["z"]),
        ];
        // Other strings; 7 minutes off; then two distances one event each.
        assert!(off(
            vec![at("p.txt", "2003-07-05T10:11:00Z", &["y"])],
            logged.clone()
        )
        .is_empty());
        assert!(off(
            vec![at("p.txt", "2003-07-05T08:18:00Z", &["x"])],
            logged.clone()
        )
        .is_empty());
        assert!(off(vec![at("p.txt", "2003-07-05T10:11:00Z", &[])], logged).is_empty());
    }
}
