//! Offline defragmentation (`db defrag`): the source's logical content rebuilt into a new,
//! compact file (see [`rebuild`]), then proven identical (see [`verify`]).

pub mod catalog_rows;
pub mod crash;
pub mod layout;
pub mod preflight;
pub mod rebuild;
pub mod unicode_keys;
pub mod verify;

use anyhow::{Context, Result};
use evtdoctor_parsers::ese::write::tree::Sink;
use evtdoctor_parsers::ese::{Database, PageSource};
use rebuild::{RebuildOptions, RebuildSummary};
use std::fs::File;
use std::path::Path;

/// Rebuilds `source` into `target`, which must not exist yet, and flushes it to disk. Pages
/// are gathered into runs of consecutive pages and each run goes out in one positioned write;
/// the header is written last.
pub fn write_rebuilt<S: PageSource>(
    source: &Database<S>,
    target: &Path,
    options: &RebuildOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<RebuildSummary> {
    let mut summary = RebuildSummary::default();
    write_new_file(target, source.page_size(), &mut |sink| {
        let rebuilt = rebuild::rebuild(source, options, sink, progress)?;
        summary = rebuilt.summary;
        Ok((summary.pages, rebuilt.headers))
    })?;
    Ok(summary)
}

/// What a file builder hands back: its page count (after the header pages) and the two
/// header pages.
pub type Built = (u32, Vec<u8>);

/// A new database file at `target` (which must not exist): `build` sends every page to the
/// sink and returns the page count and the two header pages, which go out last, so a file
/// cut short has no valid header. Flushed to disk before returning.
pub fn write_new_file(
    target: &Path,
    page_size: usize,
    build: &mut dyn FnMut(&mut Sink<'_>) -> Result<Built, String>,
) -> Result<()> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(target)
        .with_context(|| format!("{}: cannot create", target.display()))?;
    let mut pages = PageRun::new(&file, page_size);
    let mut io_error = None;
    let mut sink = |number: u32, bytes: Vec<u8>| {
        crash::point();
        pages.add(number, &bytes).map_err(|e| {
            let message = format!("writing page {number}: {e}");
            io_error = Some(e);
            message
        })
    };
    let built = build(&mut sink);
    let (page_count, headers) = match (built, io_error) {
        (Ok(built), _) => pages
            .flush()
            .map(|()| built)
            .with_context(|| format!("{}: writing", target.display()))?,
        (Err(message), Some(e)) => {
            return Err(anyhow::Error::new(e).context(format!("{}: {message}", target.display())))
        }
        (Err(message), None) => anyhow::bail!("{message}"),
    };
    let length = (u64::from(page_count) + 2) * page_size as u64;
    crash::point();
    file.set_len(length)
        .and_then(|()| write_at(&file, 0, &headers))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: writing", target.display()))?;
    Ok(())
}

/// Bytes of consecutive pages gathered before they are written.
const RUN_BYTES: usize = 1 << 20;

/// Consecutive pages waiting to be written together: the rebuild hands out most pages in
/// ascending order, so a run saves a system call per page.
struct PageRun<'a> {
    file: &'a File,
    page_size: usize,
    first: u32,
    bytes: Vec<u8>,
}

impl<'a> PageRun<'a> {
    fn new(file: &'a File, page_size: usize) -> PageRun<'a> {
        PageRun {
            file,
            page_size,
            first: 0,
            bytes: Vec::with_capacity(RUN_BYTES),
        }
    }

    fn add(&mut self, number: u32, page: &[u8]) -> std::io::Result<()> {
        let pages = (self.bytes.len() / self.page_size) as u64;
        let follows = u64::from(self.first) + pages == u64::from(number);
        if !follows || self.bytes.len() + page.len() > RUN_BYTES {
            self.flush()?;
            self.first = number;
        }
        self.bytes.extend_from_slice(page);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.bytes.is_empty() {
            return Ok(());
        }
        let offset = (u64::from(self.first) + 1) * self.page_size as u64;
        write_at(self.file, offset, &self.bytes)?;
        self.bytes.clear();
        Ok(())
    }
}

#[cfg(unix)]
fn write_at(file: &File, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut offset: u64, mut bytes: &[u8]) -> std::io::Result<()> {
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

/// Opens a file as a database, naming the path in the error.
pub fn open(path: &Path) -> Result<Database<File>> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    Database::open(file).map_err(|p| anyhow::anyhow!("{}: {p}", path.display()))
}
