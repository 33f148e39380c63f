//! One tree's live entries handed from the thread that walks it to another in packed batches:
//! the comparison walks the new file's tree on a thread of its own (verify.rs), and the
//! rebuild takes the source's trees from the walk of `db check`'s judgement
//! (`source_feed.rs`).

use super::buffer_pool::{buffer_pool, BufferPool};
use evtdoctor_parsers::Problem;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes of keys and data per batch; with the batches in flight, all the memory the hand-over
/// takes.
const BATCH_BYTES: usize = 256 << 10;
const BATCHES_IN_FLIGHT: usize = 4;
/// Batches in all: those in flight, the one being read and the one being filled.
const BATCHES: usize = BATCHES_IN_FLIGHT + 2;

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
    batch: Batch,
    next: usize,
    /// Deleted entries counted in the batches read so far.
    deleted: u64,
}

/// A live entry as received.
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub data: &'a [u8],
}

impl EntryStream {
    /// The next entry, the problem that stopped the walk, or `None` at the end.
    pub fn next_entry(&mut self) -> Option<Result<Entry<'_>, Problem>> {
        while self.next >= self.batch.ends.len() {
            if let Some(problem) = self.batch.problem.take() {
                return Some(Err(problem));
            }
            if self.batch.last {
                return None;
            }
            let Ok(received) = self.batches.recv() else {
                self.batch.last = true;
                return Some(Err(Problem {
                    offset: None,
                    line: None,
                    message: "the walk of the tree stopped before its end".into(),
                }));
            };
            let read = std::mem::replace(&mut self.batch, received);
            self.deleted += read.deleted;
            let _ = self.used.try_send(read.emptied());
            self.next = 0;
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
}

/// A stream's two ends: the walk of a tree puts its entries into the first.
pub fn channel() -> (EntrySender, EntryStream) {
    let (sender, batches) = sync_channel(BATCHES_IN_FLIGHT);
    let (batches_to_fill, used) = buffer_pool(BATCHES);
    let sending = EntrySender {
        sender,
        batches: batches_to_fill.made_one(),
        batch: Batch::default(),
    };
    let stream = EntryStream {
        batches,
        used,
        batch: Batch::default(),
        next: 0,
        deleted: 0,
    };
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
