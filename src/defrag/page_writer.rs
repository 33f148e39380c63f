//! Writing the rebuilt file's pages: consecutive pages are gathered into runs, and each run
//! goes out in one positioned write on a thread of its own. Copying the pages into the
//! system's cache is about half of a rebuild's system time; on that thread it runs beside
//! the rebuild instead of in its way.

use super::buffer_pool::{buffer_pool, BufferPool};
use std::fs::File;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Bytes of consecutive pages gathered before they are written.
const RUN_BYTES: usize = 1 << 20;
/// Runs waiting for the writing thread: the rebuild waits when it is that far ahead.
const RUNS_QUEUED: usize = 4;
/// Run buffers in all: those queued, the one being written and the one being filled; they go
/// round, so memory holds a few MiB whatever the file's size.
const RUN_BUFFERS: usize = RUNS_QUEUED + 2;

enum Job {
    /// Consecutive pages from page `first` on.
    Write { first: u32, bytes: Vec<u8> },
    /// Answered once every write sent before it is done.
    Settle(SyncSender<()>),
}

/// Which pages are on the file: the comparison reads each leaf of a tree as soon as it is
/// (verify.rs), long before the tree is complete.
#[derive(Default)]
pub struct WrittenPages {
    state: Mutex<Written>,
    changed: Condvar,
}

/// One bit per page number, growing as pages are marked.
#[derive(Default)]
struct PageBits(Vec<u64>);

impl PageBits {
    /// Marks page `number`; false when it was marked already.
    fn insert(&mut self, number: u32) -> bool {
        let (word, bit) = (number as usize / 64, number % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let was = self.0[word];
        self.0[word] = was | 1 << bit;
        was >> bit & 1 == 0
    }

    fn contains(&self, number: u32) -> bool {
        let (word, bit) = (number as usize / 64, number % 64);
        self.0.get(word).is_some_and(|w| w >> bit & 1 == 1)
    }
}

#[derive(Default)]
struct Written {
    pages: PageBits,
    /// No page will be written any more (the writer is done, or failed).
    closed: bool,
    /// Every page counts as written (a file written before it is read).
    all: bool,
}

impl Written {
    fn has(&self, number: u32) -> bool {
        self.all || self.pages.contains(number)
    }
}

impl WrittenPages {
    /// A file written in full already.
    pub fn complete() -> WrittenPages {
        let written = WrittenPages::default();
        written.lock().all = true;
        written
    }

    fn lock(&self) -> MutexGuard<'_, Written> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark(&self, first: u32, count: u32) {
        let mut state = self.lock();
        for number in first..first.saturating_add(count) {
            state.pages.insert(number);
        }
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Waits until page `number` is written; then how many pages from it on are (at most
    /// `limit`); `None` when it never will be.
    pub fn wait_for(&self, number: u32, limit: u32) -> Option<u32> {
        let mut state = self.lock();
        while !state.has(number) {
            if state.closed {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let written = (number..number.saturating_add(limit)).take_while(|&n| state.has(n));
        Some(written.count() as u32)
    }
}

/// Runs `body` with a [`PageRun`] whose runs a second thread writes into `file`, marking in
/// `written` the pages written. Writes still queued when `body` returns are finished before
/// this returns; call [`PageRun::settle`] to know they succeeded.
pub fn with_page_runs<T>(
    file: &File,
    page_size: usize,
    written: &WrittenPages,
    body: impl FnOnce(&mut PageRun<'_>) -> T,
) -> T {
    let failure = Mutex::new(None);
    std::thread::scope(|scope| {
        let (jobs, queue) = sync_channel(RUNS_QUEUED);
        let (buffers, emptied) = buffer_pool(RUN_BUFFERS);
        let failure = &failure;
        let writer = Writer {
            file,
            page_size,
            written,
            failure,
        };
        scope.spawn(move || writer.write_jobs(queue, emptied));
        body(&mut PageRun {
            jobs,
            buffers: buffers.made_one(),
            failure,
            page_size,
            first: 0,
            bytes: Vec::with_capacity(RUN_BYTES),
            written: PageBits::default(),
        })
    })
}

/// Consecutive pages waiting to be written together: the rebuild hands out most pages in
/// ascending order, so a run saves a system call per page.
pub struct PageRun<'a> {
    jobs: SyncSender<Job>,
    /// Run buffers; the writing thread gives each back once written.
    buffers: BufferPool<Vec<u8>>,
    /// The writing thread's error, which stopped it.
    failure: &'a Mutex<Option<std::io::Error>>,
    page_size: usize,
    first: u32,
    bytes: Vec<u8>,
    /// Pages written so far, one bit each: the verifier reads a tree as soon as it is
    /// written, which proves the final file only if no page is ever written again.
    written: PageBits,
}

impl PageRun<'_> {
    pub fn add(&mut self, number: u32, page: &[u8]) -> std::io::Result<()> {
        self.mark_written(number)?;
        let pages = (self.bytes.len() / self.page_size) as u64;
        let follows = u64::from(self.first) + pages == u64::from(number);
        if !follows || self.bytes.len() + page.len() > RUN_BYTES {
            self.send_run()?;
            self.first = number;
        }
        self.bytes.extend_from_slice(page);
        Ok(())
    }

    /// Hands every page added so far to the writing thread, without waiting.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.send_run()
    }

    /// Writes every page added so far and waits until that is done.
    pub fn settle(&mut self) -> std::io::Result<()> {
        self.send_run()?;
        let (answer, settled) = sync_channel(1);
        self.send(Job::Settle(answer))?;
        settled.recv().map_err(|_| self.failure())
    }

    fn mark_written(&mut self, number: u32) -> std::io::Result<()> {
        if !self.written.insert(number) {
            return Err(std::io::Error::other(format!(
                "page {number} written twice (a bug)"
            )));
        }
        Ok(())
    }

    /// Hands the pages gathered to the writing thread.
    fn send_run(&mut self) -> std::io::Result<()> {
        if self.bytes.is_empty() {
            return Ok(());
        }
        let next = self.buffers.take(|| Vec::with_capacity(RUN_BYTES));
        let next = next.ok_or_else(|| self.failure())?;
        let bytes = std::mem::replace(&mut self.bytes, next);
        self.send(Job::Write {
            first: self.first,
            bytes,
        })
    }

    fn send(&self, job: Job) -> std::io::Result<()> {
        self.jobs.send(job).map_err(|_| self.failure())
    }

    /// Why the writing thread stopped.
    fn failure(&self) -> std::io::Error {
        let taken = self.failure.lock().map(|mut f| f.take()).ok().flatten();
        taken.unwrap_or_else(|| std::io::Error::other("the page writer stopped"))
    }
}

/// The writing thread's side.
struct Writer<'a> {
    file: &'a File,
    page_size: usize,
    written: &'a WrittenPages,
    failure: &'a Mutex<Option<std::io::Error>>,
}

impl Writer<'_> {
    /// Writes each run at its place until the first error, which it leaves in `failure`
    /// (dropping the queue, so the rebuild's next hand-over fails); then no page is written
    /// any more.
    fn write_jobs(self, queue: Receiver<Job>, emptied: SyncSender<Vec<u8>>) {
        for job in queue {
            match job {
                Job::Write { first, mut bytes } => {
                    // Page n is at (n + 1) * page size: two header pages come first.
                    let offset = (u64::from(first) + 1) * self.page_size as u64;
                    if let Err(e) = write_at(self.file, offset, &bytes) {
                        if let Ok(mut slot) = self.failure.lock() {
                            *slot = Some(e);
                        }
                        break;
                    }
                    let count = bytes.len() / self.page_size;
                    self.written.mark(first, u32::try_from(count).unwrap_or(0));
                    start_writeback(self.file, offset, bytes.len());
                    bytes.clear();
                    let _ = emptied.try_send(bytes);
                }
                Job::Settle(answer) => {
                    let _ = answer.send(());
                }
            }
        }
        self.written.close();
    }
}

/// Starts writing a run out to the disk without waiting for it: the flush before the
/// rename then finds most of the file there already, instead of all of it to write.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for the whole call; the call reads no memory of ours.
    // Only a hint: a failure changes nothing (the flush writes what it did not).
    unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: usize) {}

#[cfg(unix)]
pub fn write_at(file: &File, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(windows)]
pub fn write_at(file: &File, mut offset: u64, mut bytes: &[u8]) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        let n = file.seek_write(bytes, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_written_together_and_no_page_twice() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("new")).unwrap();
        let written = WrittenPages::default();
        with_page_runs(&file, 4, &written, |run| {
            for number in [1, 2, 3, 7] {
                run.add(number, &[number as u8; 4]).unwrap();
            }
            let twice = run.add(2, &[0; 4]).unwrap_err();
            assert_eq!(twice.to_string(), "page 2 written twice (a bug)");
            run.settle().unwrap();
        });
        let bytes = std::fs::read(dir.path().join("new")).unwrap();
        // Page n is at (n + 1) * page size: two header pages come first.
        let expected: Vec<u8> = [0, 0, 1, 2, 3, 0, 0, 0, 7]
            .iter()
            .flat_map(|&n| [n; 4])
            .collect();
        assert_eq!(bytes, expected);
        // Written pages are known; a page never written is not waited for past the end.
        assert_eq!(written.wait_for(1, 8), Some(3));
        assert_eq!(written.wait_for(7, 8), Some(1));
        assert_eq!(written.wait_for(4, 8), None);
    }

    /// A write the system refuses stops the writing thread, and the rebuild hears its error
    /// (here: the file is open for reading only).
    #[cfg(unix)]
    #[test]
    fn a_refused_write_reaches_the_rebuild_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new");
        std::fs::write(&path, b"").unwrap();
        let read_only = File::open(&path).unwrap();
        let written = WrittenPages::default();
        let error = with_page_runs(&read_only, 4, &written, |run| {
            run.add(1, &[1; 4]).unwrap();
            run.settle().unwrap_err()
        });
        assert_eq!(error.raw_os_error(), Some(libc::EBADF));
        assert_eq!(written.wait_for(1, 1), None, "the page was not written");
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }
}
