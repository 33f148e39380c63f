//! The same record read from two inputs (an .evt and its CSV export, two copies of a log)
//! counts once.
//!
//! Two events are the same when they share log and record number (one computer is implied:
//! merging runs per computer), or, when that is not known on both sides, the same time,
//! source and event id with the same insertion strings (an input without strings, such as an
//! export that kept only the message, matches any) and no conflicting record numbers.

use super::observed::{ContentKey, Observed};
use foldhash::HashMap;

/// Where kept events are found again, by the hashes of their keys computed when they were
/// observed (a hash only finds candidates: the keys themselves decide).
#[derive(Default)]
struct Index {
    by_record: HashMap<u64, usize>,
    /// Kept events by time, source and id, apart by whether they have a record key: an event
    /// with one matches by content only a kept event without one (two copies of a keyed
    /// record share the key), so bursts of keyed records never scan each other.
    keyed: Chains,
    unkeyed: Chains,
}

impl Index {
    fn find(&self, kept: &[Observed], copy: &Observed) -> Option<usize> {
        if let Some(hash) = copy.record_hash {
            let found = self.by_record.get(&hash).copied();
            let same_key = |&i: &usize| kept.get(i).is_some_and(|k| k.same_record_key(copy));
            if let Some(index) = found.filter(same_key) {
                return Some(index);
            }
        }
        let hash = copy.content_hash?;
        let keyed = copy.record_hash.is_none().then_some(&self.keyed);
        let candidates = self
            .unkeyed
            .get(hash)
            .chain(keyed.into_iter().flat_map(|chains| chains.get(hash)));
        candidates.into_iter().find(|&i| {
            kept.get(i)
                .is_some_and(|k| k.same_content_key(copy) && same_content(k, copy))
        })
    }

    /// Files a newly kept event.
    fn add(&mut self, index: usize, event: &Observed) {
        if let Some(hash) = event.record_hash {
            self.by_record.entry(hash).or_insert(index);
        }
        if let Some(hash) = event.content_hash {
            let chains = if event.record_hash.is_some() {
                &mut self.keyed
            } else {
                &mut self.unkeyed
            };
            chains.push(hash, index);
        }
    }

    /// Files the keys of a copy under the event it was merged into, so a third copy that
    /// only shares the copy's keys still finds it.
    fn alias(&mut self, index: usize, kept: &Observed, copy_keys: CopyKeys) {
        if let Some(hash) = copy_keys.record_hash {
            self.by_record.entry(hash).or_insert(index);
        }
        let Some(hash) = copy_keys.content_hash else {
            return;
        };
        if copy_keys.content_key == kept.content_key() {
            return;
        }
        let chains = if kept.record_key().is_some() {
            &mut self.keyed
        } else {
            &mut self.unkeyed
        };
        if !chains.get(hash).any(|i| i == index) {
            chains.push(hash, index);
        }
    }
}

/// What aliasing needs of a copy once it is merged away.
struct CopyKeys {
    record_hash: Option<u64>,
    content_hash: Option<u64>,
    content_key: Option<ContentKey>,
}

/// Lists of kept events by a key hash, in the order they were filed, without a heap
/// allocation per key: the nodes of all lists share one vector.
#[derive(Default)]
struct Chains {
    /// First and last node of each list.
    ends: HashMap<u64, (usize, usize)>,
    /// Kept event and next node of the same list.
    nodes: Vec<(usize, Option<usize>)>,
}

impl Chains {
    fn push(&mut self, hash: u64, kept: usize) {
        let node = self.nodes.len();
        self.nodes.push((kept, None));
        match self.ends.get_mut(&hash) {
            Some((_, last)) => {
                if let Some((_, next)) = self.nodes.get_mut(*last) {
                    *next = Some(node);
                }
                *last = node;
            }
            None => {
                self.ends.insert(hash, (node, node));
            }
        }
    }

    fn get(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let first = self.ends.get(&hash).map(|&(first, _)| first);
        std::iter::successors(first.and_then(|n| self.nodes.get(n)), |&&(_, next)| {
            next.and_then(|n| self.nodes.get(n))
        })
        .map(|&(kept, _)| kept)
    }
}

/// Keeps one copy of each event (the first, unless a later one is more complete: see
/// [`fill_missing`]), in input order, and returns how many were dropped.
#[cfg(test)]
pub fn merge(events: Vec<Observed>) -> (Vec<Observed>, usize) {
    let mut merger = Merger::default();
    events.into_iter().for_each(|e| merger.add(e));
    merger.finish()
}

/// Merges events as they arrive, in input order.
#[derive(Default)]
pub struct Merger {
    kept: Vec<Observed>,
    index: Index,
    dropped: usize,
}

impl Merger {
    pub fn add(&mut self, observed: Observed) {
        let (kept, index) = (&mut self.kept, &mut self.index);
        let found = index.find(kept, &observed);
        match found.and_then(|position| Some((position, kept.get_mut(position)?))) {
            Some((position, existing)) => {
                self.dropped += 1;
                let copy_keys = CopyKeys {
                    record_hash: observed.record_hash,
                    content_hash: observed.content_hash,
                    content_key: observed.content_key(),
                };
                fill_missing(existing, observed);
                let existing = &*existing;
                index.alias(position, existing, copy_keys);
            }
            None => {
                index.add(kept.len(), &observed);
                kept.push(observed);
            }
        }
    }

    /// The events kept so far, in input order.
    pub fn kept(&self) -> &[Observed] {
        &self.kept
    }

    /// The kept events, in input order, and how many copies were dropped.
    pub fn finish(self) -> (Vec<Observed>, usize) {
        (self.kept, self.dropped)
    }
}

/// Same strings (a side without strings, an export that kept only the message, matches
/// any), and not two different record numbers: a .evt names no log, so two records of one
/// second with the same strings are told apart by their numbers alone.
fn same_content(a: &Observed, b: &Observed) -> bool {
    let different_records =
        matches!((a.record_number, b.record_number), (Some(x), Some(y)) if x != y);
    let (sa, sb) = (a.strings, b.strings);
    !different_records && (sa.is_none() || sb.is_none() || sa == sb)
}

/// Merges a copy into the kept event. The more complete copy is the one kept and cited, and
/// the other fills in what it lacks (binary data, strings, message, log name). When only one
/// copy was kept whole (it states a fact; the other is a digest), that one is kept: evidence
/// cites a record whose whole content is at hand.
fn fill_missing(kept: &mut Observed, mut copy: Observed) {
    let prefer_copy = match (&kept.whole, &copy.whole) {
        (Some(_), None) => false,
        (None, Some(_)) => true,
        _ => copy.completeness() > kept.completeness(),
    };
    if prefer_copy {
        std::mem::swap(kept, &mut copy);
    }
    // What is known of the record, whole or not.
    kept.has_data |= copy.has_data;
    kept.strings = kept.strings.or(copy.strings);
    kept.log = kept.log.take().or(copy.log);
    kept.record_number = kept.record_number.or(copy.record_number);
    let Some(kept) = kept.whole.as_deref_mut() else {
        return;
    };
    kept.record_number = kept.record_number.or(copy.record_number);
    let Some(copy) = copy.whole.map(|c| *c) else {
        return;
    };
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
    use crate::correlate::observed::observe_all;
    use crate::correlate::SourcedEvent;
    use evtdoctor_parsers::{Event, Level};

    /// Merges whole events and gives back the kept ones.
    fn merge_events(events: Vec<SourcedEvent>) -> (Vec<SourcedEvent>, usize) {
        let (kept, dropped) = merge(observe_all(events, &Default::default()));
        let kept = kept
            .into_iter()
            .filter_map(Observed::into_sourced)
            .collect();
        (kept, dropped)
    }

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
        let (kept, dropped) = merge_events(vec![export, with_data]);
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
        let (kept, dropped) = merge_events(vec![a, paste, other]);
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
        let (kept, dropped) = merge_events(vec![export, evt, again]);
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
        let (kept, dropped) = merge_events(events);
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
        let (kept, dropped) = merge_events(vec![a, b, slack]);
        assert_eq!((kept.len(), dropped), (2, 1));
    }

    #[test]
    fn different_records_at_the_same_time_stay_apart() {
        let a = event("a.evt", Some("System"), Some(7), &["x"]);
        let b = event("a.evt", Some("System"), Some(8), &["x"]);
        assert_eq!(merge_events(vec![a, b]).0.len(), 2);
    }

    #[test]
    fn events_that_state_no_fact_merge_as_digests() {
        let disk = |file: &str, record: u64, strings: &[&str]| {
            let mut e = event(file, Some("System"), Some(record), strings);
            e.event.source = "Disk".into();
            e.event.event_id = 11;
            e
        };
        let events = vec![
            disk("a.evtx", 1, &["\\Device\\Harddisk0"]),
            disk("b.evtx", 1, &["\\Device\\Harddisk0"]),
            disk("a.evtx", 2, &["\\Device\\Harddisk1"]),
        ];
        let observed = observe_all(events, &Default::default());
        assert!(observed.iter().all(|o| o.whole.is_none()));
        let (kept, dropped) = merge(observed);
        assert_eq!((kept.len(), dropped), (2, 1));
        assert_eq!(&*kept[0].file, "a.evtx");
    }

    #[test]
    fn the_copy_that_states_the_fact_is_kept_over_a_digest() {
        // The same record number read from a log whose copy lost its strings (a digest: an
        // SCM record states a fact only with its service name) and from one that has them.
        let scm = |file: &str, strings: &[&str]| {
            let mut e = event(file, Some("System"), Some(40), strings);
            e.event.source = "Service Control Manager".into();
            e.event.event_id = 7036;
            e
        };
        let mut bare = scm("bare.evt", &[]);
        bare.event.data = Some(vec![1]);
        let full = scm("full.evtx", &["Key Management", "running"]);
        let (kept, dropped) = merge_events(vec![bare, full]);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].file, "full.evtx");
        assert_eq!(kept[0].event.strings, ["Key Management", "running"]);
    }
}
