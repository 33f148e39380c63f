//! One tree's live entries read on a thread of their own and handed over in packed batches,
//! so that the comparison reads the source's tree and the new file's tree on two cores: each
//! walk (pages read, checksummed, decoded) costs about as much as the other.

use evtdoctor_parsers::ese::btree::TreeCursor;
use evtdoctor_parsers::ese::{Database, PageSource};
use evtdoctor_parsers::Problem;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

/// Bytes of keys and data per batch; with the batches in flight, all the memory the hand-over
/// takes.
const BATCH_BYTES: usize = 256 << 10;
const BATCHES_IN_FLIGHT: usize = 4;

/// Entries packed one after another: each is a key then its data, in `bytes`.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Where each entry's key and data end (its key starts where the one before ends).
    ends: Vec<(usize, usize)>,
    /// What stopped the walk, after the entries.
    problem: Option<Problem>,
}

impl Batch {
    fn emptied(mut self) -> Batch {
        self.bytes.clear();
        self.ends.clear();
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
}

/// A live entry as received.
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub data: &'a [u8],
}

impl EntryStream {
    /// Starts reading the tree at `root` of `db` on a thread of `scope`.
    pub fn spawn<'scope, 'env, S: PageSource + Sync>(
        scope: &'scope Scope<'scope, 'env>,
        db: &'env Database<S>,
        root: u32,
    ) -> EntryStream {
        let (sender, batches) = sync_channel(BATCHES_IN_FLIGHT);
        let (used, to_reuse) = sync_channel(BATCHES_IN_FLIGHT + 2);
        scope.spawn(move || send_entries(db, root, &sender, &to_reuse));
        EntryStream {
            batches,
            used,
            batch: Batch::default(),
            next: 0,
        }
    }

    /// The next entry, the problem that stopped the walk, or `None` at the end.
    pub fn next_entry(&mut self) -> Option<Result<Entry<'_>, Problem>> {
        while self.next >= self.batch.ends.len() {
            if let Some(problem) = self.batch.problem.take() {
                return Some(Err(problem));
            }
            let read = std::mem::replace(&mut self.batch, self.batches.recv().ok()?);
            let _ = self.used.try_send(read);
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
}

/// Walks the tree, sending its live entries batch by batch; stops when the receiver is gone
/// (the comparison found a difference).
fn send_entries<S: PageSource>(
    db: &Database<S>,
    root: u32,
    sender: &SyncSender<Batch>,
    to_reuse: &Receiver<Batch>,
) {
    let mut cursor = TreeCursor::new(db, root);
    let mut batch = Batch::default();
    loop {
        match cursor.next_live_entry() {
            None => break,
            Some(Err(problem)) => {
                batch.problem = Some(problem);
                break;
            }
            Some(Ok(entry)) => {
                batch.bytes.extend_from_slice(&entry.key);
                let key_end = batch.bytes.len();
                batch.bytes.extend_from_slice(entry.data);
                batch.ends.push((key_end, batch.bytes.len()));
                if batch.bytes.len() >= BATCH_BYTES {
                    let next = to_reuse.try_recv().map(Batch::emptied).unwrap_or_default();
                    if sender.send(std::mem::replace(&mut batch, next)).is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = sender.send(batch);
}
