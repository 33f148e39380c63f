//! Offline defragmentation (`db defrag`): the source's logical content rebuilt into a new,
//! compact file (see [`rebuild`]), then proven identical (see [`verify`]) by the [`engine`],
//! which hands it to the safe-replace protocol ([`replace`]); [`fix`] wraps it for a key
//! database.

mod buffer_pool;
pub mod catalog_rows;
pub mod crash;
pub mod engine;
pub mod entry_stream;
pub mod files;
pub mod fix;
mod leaf_stream;
pub mod page_writer;
pub mod preflight;
pub mod rebuild;
pub mod replace;
pub mod source_feed;
pub mod unicode_keys;
pub mod verify;

use anyhow::{Context, Result};
use evtdoctor_parsers::ese::write::tree::Sink;
use evtdoctor_parsers::ese::write::WriteError;
use evtdoctor_parsers::ese::{Database, PageSource};
use page_writer::WrittenPages;
use rebuild::{RebuildError, RebuildOptions, RebuildSummary, Tell};
use source_feed::SourceFeed;
use std::cell::RefCell;
use std::fs::File;
use std::path::Path;
use verify::TreeNews;

/// The file a rebuild writes (new and empty), its path, and which of its pages are on it.
#[derive(Clone, Copy)]
pub struct NewFile<'a> {
    pub file: &'a File,
    pub path: &'a Path,
    pub written: &'a WrittenPages,
}

/// Rebuilds `source` into `target`; `tell` hears of each user tree as it is written (see
/// [`TreeNews`]), so it can be verified while the rebuild goes on. The file is not flushed
/// to disk: see [`flush`].
pub fn write_rebuilt<S: PageSource>(
    source: &Database<S>,
    target: &NewFile<'_>,
    options: &RebuildOptions,
    progress: &mut dyn FnMut(u64),
    tell: &mut Tell<'_>,
    feed: &mut SourceFeed,
) -> Result<RebuildSummary> {
    let mut summary = RebuildSummary::default();
    let page_size = source.page_size();
    write_pages(target, page_size, &mut |sink, pages_out| {
        let mut told = |news: TreeNews| match news {
            // A tree is announced written once its pages are on the file.
            TreeNews::Written(tree) => {
                pages_out(PagesOut::Settle)?;
                tell(TreeNews::Written(tree))
            }
            TreeNews::Waiting => Ok(pages_out(PagesOut::Flush)?),
            leaves @ TreeNews::Leaves(_) => tell(leaves),
        };
        let rebuilt = rebuild::rebuild(source, options, sink, progress, &mut told, feed)?;
        summary = rebuilt.summary;
        Ok((summary.pages, rebuilt.headers))
    })?;
    Ok(summary)
}

/// What a file builder hands back: its page count (after the header pages) and the two
/// header pages.
pub type Built = (u32, Vec<u8>);

/// Sends the pages gathered so far to the file: at once, or waiting until they are written.
pub type WriteOut<'a> = dyn FnMut(PagesOut) -> Result<(), WriteError> + 'a;

pub enum PagesOut {
    /// Hand them to the writing thread.
    Flush,
    /// And wait until they are written.
    Settle,
}

/// Creates `target`, which must not exist yet, for writing.
pub fn create(target: &Path) -> Result<File> {
    files::create_new(target, 0o666).with_context(|| format!("{}: cannot create", target.display()))
}

/// Flushes a written file to disk.
pub fn flush(file: &File, target: &Path) -> Result<()> {
    crash::point();
    file.sync_all()
        .with_context(|| format!("{}: flushing to disk", target.display()))
}

/// Fills `file` (new and empty) with what `build` sends to the sink: pages are gathered into
/// runs of consecutive pages and each run goes out in one positioned write (and at once when
/// `build` calls its second argument); the header pages are written last. Not flushed.
/// The target's `written` hears of each page on the file.
fn write_pages(
    target: &NewFile<'_>,
    page_size: usize,
    build: &mut dyn FnMut(&mut Sink<'_>, &mut WriteOut<'_>) -> Result<Built, RebuildError>,
) -> Result<()> {
    let NewFile {
        file,
        path: target,
        written,
    } = *target;
    let built = page_writer::with_page_runs(file, page_size, written, |run| {
        let pages = RefCell::new(run);
        let mut sink = |number: u32, bytes: Vec<u8>| {
            crash::point();
            let added = pages.borrow_mut().add(number, &bytes);
            added.map_err(|e| WriteError::sink(format!("writing page {number}"), e))
        };
        let mut write_out = |how: PagesOut| {
            let mut pages = pages.borrow_mut();
            let sent = match how {
                PagesOut::Flush => pages.flush(),
                PagesOut::Settle => pages.settle(),
            };
            sent.map_err(|e| WriteError::sink("writing pages", e))
        };
        let built = build(&mut sink, &mut write_out)?;
        write_out(PagesOut::Settle)?;
        Ok::<_, RebuildError>(built)
    });
    let (page_count, headers) = match built {
        Ok(built) => built,
        Err(error) => {
            // The file's I/O error stays the cause, so a full disk is known by its kind.
            let message = error.to_string();
            return Err(match error.into_io() {
                Some(e) => {
                    anyhow::Error::new(e).context(format!("{}: {message}", target.display()))
                }
                None => anyhow::anyhow!(message),
            });
        }
    };
    let length = (u64::from(page_count) + 2) * page_size as u64;
    crash::point();
    file.set_len(length)
        .and_then(|()| page_writer::write_at(file, 0, &headers))
        .with_context(|| format!("{}: writing", target.display()))
}

/// Opens a file as a database, naming the path in the error. Pages are read with positioned
/// reads, not mapped: a file cut short by another process, or a sparse file whose holes the
/// disk cannot fill, gives a read error, never a fault (SIGBUS).
pub fn open(path: &Path) -> Result<Database<File>> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    advise_sequential(&file);
    Database::open(file).map_err(|p| anyhow::anyhow!("{}: {p}", path.display()))
}

/// Tells the kernel the file is read mostly front to back (the trees are laid out in order),
/// so its read-ahead of a file not yet cached runs further. Only a hint: failure changes nothing.
#[cfg(target_os = "linux")]
fn advise_sequential(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the whole call; the hint reads no memory of ours.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
}

#[cfg(not(target_os = "linux"))]
fn advise_sequential(_file: &File) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_its_io_error_through_the_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new");
        let file = File::create(&path).unwrap();
        let written = WrittenPages::default();
        let target = NewFile {
            file: &file,
            path: &path,
            written: &written,
        };
        let error = write_pages(&target, 4, &mut |sink, _| {
            sink(1, vec![0; 4])?;
            let twice = sink(1, vec![0; 4]).unwrap_err();
            let cause = Box::new(RebuildError::from(twice));
            Err(RebuildError::Tree { page: 9, cause })
        })
        .unwrap_err();
        let io = error.root_cause().downcast_ref::<std::io::Error>();
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::Other)
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{}: tree at page 9: writing page 1: page 1 written twice (a bug)",
                path.display()
            )
        );
    }
}
