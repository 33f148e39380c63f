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

/// Rebuilds `source` into `target`, which must not exist yet, and flushes it to disk. Pages go
/// out with positioned writes as they fill; the header is written last.
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
    let page_size = page_size as u64;
    let mut io_error = None;
    let mut sink = |number: u32, bytes: Vec<u8>| {
        let offset = (u64::from(number) + 1) * page_size;
        crash::point();
        write_at(&file, offset, &bytes).map_err(|e| {
            let message = format!("writing page {number}: {e}");
            io_error = Some(e);
            message
        })
    };
    let built = build(&mut sink);
    let (pages, headers) = match (built, io_error) {
        (Ok(built), _) => built,
        (Err(message), Some(e)) => {
            return Err(anyhow::Error::new(e).context(format!("{}: {message}", target.display())))
        }
        (Err(message), None) => anyhow::bail!("{message}"),
    };
    let length = (u64::from(pages) + 2) * page_size;
    crash::point();
    file.set_len(length)
        .and_then(|()| write_at(&file, 0, &headers))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: writing", target.display()))?;
    Ok(())
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
