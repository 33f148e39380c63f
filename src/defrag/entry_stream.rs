//! One tree's live entries handed from the thread that walks it to another in packed batches:
//! the comparison walks the new file's tree on a thread of its own (verify.rs), and the
//! rebuild takes the source's trees from the walk of `db check`'s judgement
//! (`source_feed.rs`).

use super::buffer_pool::{buffer_pool, BufferPool};
use evtdoctor_parsers::Problem;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SendError, SyncSender};

/// Bytes of keys and data per batch.
const BATCH_BYTES: usize = 256 << 10;
/// Batches the walk may send ahead of the reader.
const BATCHES_IN_FLIGHT: usize = 4;
/// Batches in all for a stream read once: those in flight, the one being read and the one
/// being filled; with `BATCH_BYTES`, all the memory the hand-over takes.
pub const BATCHES: usize = BATCHES_IN_FLIGHT + 2;
/// Batches in all for a stream a second reader follows ([`EntryStream::tee`]), which holds
/// the batches whose entries are not on the file yet: they cover what the rebuild and the
/// page writer may hold back (page_writer.rs), about 6 MiB.
pub const FOLLOWED_BATCHES: usize = 32;

/// Entries packed one after another: each is a key then its data, in `bytes`.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Where each entry's key and data end (its key starts where the one before ends).
    ends: Vec<(usize, usize)>,
    /// What stopped the walk, after the entries.
    problem: Option<Problem>,
    /// Deleted entries passed over while this batch was filled.
    deleted: u64,
    /// The walk's last batch: without one, the walk stopped before the tree's end.
    last: bool,
}

impl Batch {
    fn emptied(mut self) -> Batch {
        self.bytes.clear();
        self.ends.clear();
        self.deleted = 0;
        self.last = false;
        self
    }
}

/// The receiving end: the entries in key order, then `None` (or the problem that stopped the
/// walk).
pub struct EntryStream {
    batches: Receiver<Batch>,
    /// Batches read go back to the sender to be filled again: no memory is freed on another
    /// thread than the one that took it, and none is taken anew per batch.
    used: SyncSender<Batch>,
    /// Where batches read go instead, when a second reader follows this one ([`Self::tee`]).
    forward: Option<SyncSender<Batch>>,
    batch: Batch,
    next: usize,
    /// Deleted entries counted in the batches read so far.
    deleted: u64,
    problem_told: bool,
}

/// A live entry as received.
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub data: &'a [u8],
}

impl EntryStream {
    fn new(batches: Receiver<Batch>, used: SyncSender<Batch>) -> EntryStream {
        EntryStream {
            batches,
            used,
            forward: None,
            batch: Batch::default(),
            next: 0,
            deleted: 0,
            problem_told: false,
        }
    }

    /// The next entry, the problem that stopped the walk, or `None` at the end.
    pub fn next_entry(&mut self) -> Option<Result<Entry<'_>, Problem>> {
        self.next_entry_or_idle(&mut || {})
    }

    /// [`next_entry`](Self::next_entry), calling `idle` before it waits for the walk.
    pub fn next_entry_or_idle(
        &mut self,
        idle: &mut dyn FnMut(),
    ) -> Option<Result<Entry<'_>, Problem>> {
        while self.next >= self.batch.ends.len() {
            // The problem stays in the batch for a follower (see `tee`), told here once.
            if let Some(problem) = self.batch.problem.as_ref().filter(|_| !self.problem_told) {
                self.problem_told = true;
                return Some(Err(problem.clone()));
            }
            if self.batch.last {
                return None;
            }
            // The batch read goes on before the wait: a reader following this one may need
            // its entries to let the walk go on (see `tee`).
            let read = std::mem::take(&mut self.batch);
            self.deleted += read.deleted;
            self.pass_on(read);
            self.next = 0;
            self.batch = match self.batches.try_recv() {
                Ok(batch) => batch,
                Err(_) => {
                    idle();
                    match self.batches.recv() {
                        Ok(batch) => batch,
                        Err(_) => {
                            self.batch.last = true;
                            return Some(Err(Problem {
                                offset: None,
                                line: None,
                                message: "the walk of the tree stopped before its end".into(),
                            }));
                        }
                    }
                }
            };
        }
        let start = match self.next {
            0 => 0,
            n => self.batch.ends[n - 1].1,
        };
        let (key_end, data_end) = self.batch.ends[self.next];
        self.next += 1;
        let span = |range: Range<usize>| &self.batch.bytes[range];
        Some(Ok(Entry {
            key: span(start..key_end),
            data: span(key_end..data_end),
        }))
    }

    /// Deleted entries the walk passed over, once the stream has ended.
    pub fn deleted(&self) -> u64 {
        self.deleted + self.batch.deleted
    }

    /// A second stream of the same entries, which gets each batch once this one is done
    /// with it (and gives it back to the walk): the defrag's comparison reads the entries
    /// the rebuild copied without a copy of its own. Its reader must keep up, or the walk
    /// waits: batches are not made anew for it.
    pub fn tee(&mut self) -> EntryStream {
        // Room for every batch there is, so the pass never waits.
        let (forward, forwarded) = sync_channel(FOLLOWED_BATCHES + 2);
        self.forward = Some(forward);
        EntryStream::new(forwarded, self.used.clone())
    }

    /// Hands a batch read to the stream that follows, or back to the walk.
    fn pass_on(&mut self, read: Batch) {
        let read = match &self.forward {
            Some(forward) => match forward.send(read) {
                Ok(()) => return,
                // The follower is gone: batches go back to the walk again.
                Err(SendError(read)) => {
                    self.forward = None;
                    read
                }
            },
            None => read,
        };
        let _ = self.used.try_send(read.emptied());
    }
}

/// A followed stream hands its follower the batch it ends on (with the end or the problem).
impl Drop for EntryStream {
    fn drop(&mut self) {
        if self.forward.is_some() {
            let read = std::mem::take(&mut self.batch);
            self.pass_on(read);
        }
    }
}

/// A stream's two ends, with `batches` batches in all: the walk of a tree puts its entries
/// into the first.
pub fn channel(batches: usize) -> (EntrySender, EntryStream) {
    let (sender, batches_sent) = sync_channel(BATCHES_IN_FLIGHT);
    let (batches_to_fill, used) = buffer_pool(batches);
    let sending = EntrySender {
        sender,
        batches: batches_to_fill.made_one(),
        batch: Batch::default(),
    };
    let stream = EntryStream::new(batches_sent, used);
    (sending, stream)
}

/// The sending end; dropped without [`EntrySender::finish`] or [`EntrySender::fail`], the
/// receiver gets a problem where the entries stop.
pub struct EntrySender {
    sender: SyncSender<Batch>,
    /// Batches; the receiver gives each back once read.
    batches: BufferPool<Batch>,
    batch: Batch,
}

impl EntrySender {
    /// Adds a live entry; `false` once the receiver is gone (nothing more is wanted).
    pub fn push(&mut self, key: &[u8], data: &[u8]) -> bool {
        let size = key.len() + data.len();
        // A full batch goes before the entry that would make its buffer grow past
        // BATCH_BYTES (a grown buffer would double, and stay doubled as it is reused).
        let full = !self.batch.ends.is_empty() && self.batch.bytes.len() + size > BATCH_BYTES;
        if full && !self.send_batch() {
            return false;
        }
        let batch = &mut self.batch;
        if batch.bytes.capacity() == 0 {
            batch.bytes.reserve_exact(BATCH_BYTES.max(size));
        }
        batch.bytes.extend_from_slice(key);
        let key_end = batch.bytes.len();
        batch.bytes.extend_from_slice(data);
        batch.ends.push((key_end, batch.bytes.len()));
        true
    }

    fn send_batch(&mut self) -> bool {
        let Some(next) = self.batches.take(Batch::default) else {
            return false;
        };
        self.sender
            .send(std::mem::replace(&mut self.batch, next))
            .is_ok()
    }

    /// Counts a deleted entry passed over.
    pub fn pass_deleted(&mut self) {
        self.batch.deleted += 1;
    }

    /// Ends the stream with the problem that stopped the walk.
    pub fn fail(mut self, problem: Problem) {
        self.batch.problem = Some(problem);
        self.finish();
    }

    /// Ends the stream.
    pub fn finish(mut self) {
        self.batch.last = true;
        let _ = self.sender.send(self.batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = Result<Vec<u8>, String>;

    fn keys_of(stream: &mut EntryStream) -> Vec<Read> {
        let mut read = Vec::new();
        while let Some(entry) = stream.next_entry() {
            read.push(entry.map(|e| e.key.to_vec()).map_err(|p| p.message));
        }
        read
    }

    /// Each entry fills half a batch: every one goes out in a batch of its own.
    fn half_batch() -> Vec<u8> {
        vec![7; BATCH_BYTES / 2 + 1]
    }

    #[test]
    fn a_follower_reads_every_batch_the_first_reader_is_done_with_and_then_the_end() {
        let (mut sender, mut first) = channel(BATCHES);
        let mut follower = first.tee();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for key in 0..5u8 {
                    assert!(sender.push(&[key], &half_batch()));
                }
                sender.fail(Problem::at_offset(8192, "bad node"));
            });
            let expected: Vec<Read> = (0..5u8)
                .map(|key| Ok(vec![key]))
                .chain([Err("bad node".to_string())])
                .collect();
            assert_eq!(keys_of(&mut first), expected);
            drop(first);
            assert_eq!(keys_of(&mut follower), expected);
        });
    }

    #[test]
    fn the_follower_of_a_reader_that_stops_hears_that_the_entries_stop() {
        let (mut sender, mut first) = channel(BATCHES);
        let mut follower = first.tee();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for key in 0..5u8 {
                    if !sender.push(&[key], &half_batch()) {
                        return;
                    }
                }
                sender.finish();
            });
            let read = first.next_entry().map(|e| e.map(|e| e.key.to_vec()));
            assert_eq!(read.unwrap().unwrap(), vec![0]);
            drop(first);
        });
        let message = "the walk of the tree stopped before its end".to_string();
        assert_eq!(keys_of(&mut follower), vec![Ok(vec![0]), Err(message)]);
    }
}
