//! The source's trees handed to the rebuild as `db check`'s judgement walks them (the two run
//! side by side, engine.rs): the source is read once for both instead of once each, and the
//! rebuild's thread no longer reads or walks it. The rebuild copies the trees of user tables
//! in the order the check walks them (a table's long values, its records, its indexes); a
//! tree the check does not hand over (damaged, walked out of order, or no judgement at all)
//! the rebuild walks itself. What the rebuild wrote is proven against a walk of its own of
//! the source either way (verify.rs).

use super::entry_stream::{self, EntrySender, EntryStream};
use evtdoctor_parsers::ese::check::TreeTap;
use evtdoctor_parsers::ese::page::NODE_DELETED;
use evtdoctor_parsers::Problem;
use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};

/// One tree for the rebuild: its entries, or `None` when the check does not hand them over.
struct Handoff {
    root: u32,
    entries: Option<EntryStream>,
}

/// The check's side: a [`TreeTap`] that hands over, in order, the trees the rebuild copies.
pub struct FeedTap {
    /// Roots of the trees still to hand over, in the rebuild's order.
    wanted: VecDeque<u32>,
    handoffs: Option<Sender<Handoff>>,
    open: Option<EntrySender>,
}

/// The rebuild's side.
pub struct SourceFeed {
    handoffs: Option<Receiver<Handoff>>,
}

/// The two sides for a rebuild that copies the trees at `roots`, in that order.
pub fn feed(roots: Vec<u32>) -> (FeedTap, SourceFeed) {
    let (sender, receiver) = channel();
    let tap = FeedTap {
        wanted: roots.into(),
        handoffs: Some(sender),
        open: None,
    };
    let feed = SourceFeed {
        handoffs: Some(receiver),
    };
    (tap, feed)
}

impl SourceFeed {
    /// A rebuild that walks every tree itself.
    pub fn none() -> SourceFeed {
        SourceFeed { handoffs: None }
    }

    /// The entries of the tree at `root`, the next one the rebuild copies, when the check
    /// hands them over; waits until the check gets there.
    pub fn take(&mut self, root: u32) -> Option<EntryStream> {
        let handoff = self.handoffs.as_ref()?.recv();
        match handoff {
            Ok(Handoff { root: r, entries }) if r == root => entries,
            // Out of step (or the check is over): this tree and the rest are walked here.
            _ => {
                self.handoffs = None;
                None
            }
        }
    }
}

impl FeedTap {
    fn hand_over(&mut self, handoff: Handoff) -> bool {
        let sent = self.handoffs.as_ref().map(|h| h.send(handoff).is_ok());
        if sent != Some(true) {
            self.handoffs = None;
        }
        self.handoffs.is_some()
    }
}

impl TreeTap for FeedTap {
    fn open(&mut self, root: u32) -> bool {
        self.close();
        let Some(at) = self.wanted.iter().position(|&r| r == root) else {
            return false;
        };
        // Trees the check passed by (it walks each tree once) are the rebuild's to walk.
        let passed: Vec<u32> = self.wanted.drain(..at).collect();
        for root in passed {
            self.hand_over(Handoff {
                root,
                entries: None,
            });
        }
        self.wanted.pop_front();
        let (sender, entries) = entry_stream::channel(entry_stream::FOLLOWED_BATCHES);
        let handed = self.hand_over(Handoff {
            root,
            entries: Some(entries),
        });
        self.open = handed.then_some(sender);
        handed
    }

    fn entry(&mut self, key: &[u8], data: &[u8], flags: u8) {
        let Some(sender) = self.open.as_mut() else {
            return;
        };
        let wanted = if flags & NODE_DELETED != 0 {
            sender.pass_deleted();
            true
        } else {
            sender.push(key, data)
        };
        if !wanted {
            self.open = None;
        }
    }

    fn problem(&mut self, problem: &Problem) {
        if let Some(sender) = self.open.take() {
            sender.fail(problem.clone());
        }
    }

    fn close(&mut self) {
        if let Some(sender) = self.open.take() {
            sender.finish();
        }
    }

    fn done(&mut self) {
        self.close();
        self.handoffs = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = Result<(Vec<u8>, Vec<u8>), String>;

    fn entries_of(stream: &mut EntryStream) -> Vec<Read> {
        let mut read = Vec::new();
        while let Some(entry) = stream.next_entry() {
            read.push(
                entry
                    .map(|e| (e.key.to_vec(), e.data.to_vec()))
                    .map_err(|p| p.message),
            );
        }
        read
    }

    #[test]
    fn trees_the_check_passes_by_or_does_not_walk_are_left_to_the_rebuild() {
        let (mut tap, mut feed) = feed(vec![10, 20, 30]);
        // The check walks a tree the rebuild does not copy (the catalog's), then 20: 10 was
        // passed by.
        assert!(!tap.open(5));
        assert!(tap.open(20));
        tap.entry(b"a", b"1", 0);
        tap.entry(b"b", b"gone", NODE_DELETED);
        tap.entry(b"c", b"3", 0);
        tap.done();
        assert!(feed.take(10).is_none());
        let mut fed = feed.take(20).expect("20 handed over");
        let expected = vec![
            Ok((b"a".to_vec(), b"1".to_vec())),
            Ok((b"c".to_vec(), b"3".to_vec())),
        ];
        assert_eq!(entries_of(&mut fed), expected);
        assert_eq!(fed.deleted(), 1);
        // The check is over: 30 was never handed over.
        assert!(feed.take(30).is_none());
    }

    #[test]
    fn out_of_step_the_rebuild_walks_the_rest_itself() {
        let (mut tap, mut feed) = feed(vec![10, 20]);
        assert!(tap.open(10));
        tap.close();
        assert!(tap.open(20));
        tap.close();
        assert!(feed.take(20).is_none(), "10 was handed over, not 20");
        assert!(feed.take(10).is_none());
    }

    #[test]
    fn damage_and_a_walk_cut_short_reach_the_rebuild_as_problems() {
        let (mut tap, mut feed) = feed(vec![10, 20]);
        assert!(tap.open(10));
        tap.entry(b"a", b"1", 0);
        tap.problem(&Problem::at_offset(8192, "bad node"));
        tap.entry(b"b", b"2", 0);
        tap.close();
        assert!(tap.open(20));
        tap.entry(b"a", b"1", 0);
        // The check's thread stops (a panic): the stream is not ended.
        drop(tap);
        let mut damaged = feed.take(10).unwrap();
        let expected = vec![
            Ok((b"a".to_vec(), b"1".to_vec())),
            Err("bad node".to_string()),
        ];
        assert_eq!(entries_of(&mut damaged), expected);
        let mut cut = feed.take(20).unwrap();
        let message = "the walk of the tree stopped before its end".to_string();
        assert_eq!(entries_of(&mut cut), vec![Err(message)]);
    }
}
