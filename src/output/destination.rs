//! Where a command's document goes: standard output, or the file of `-o` — written to a
//! temporary file in the target's folder and renamed over it at the end, so a reader never
//! sees half a report, a symlink at the target is replaced rather than followed, and an input
//! is never overwritten.

use crate::cli::Format;
use crate::defrag::files::same_file;
use anyhow::{bail, Context, Result};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// The format a file's extension asks for (`None`: an extension no format has).
pub fn format_of(path: &Path) -> Option<Format> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "json" => Some(Format::Json),
        "jsonl" | "ndjson" => Some(Format::Jsonl),
        "csv" => Some(Format::Csv),
        "md" | "markdown" => Some(Format::Markdown),
        _ => None,
    }
}

/// The format given, else the one `-o`'s extension names; an unknown extension without a
/// format is a usage error.
pub fn resolve_format(given: Option<Format>, output: Option<&Path>) -> Result<Format> {
    match (given, output) {
        (Some(format), _) => Ok(format),
        (None, None) => Ok(Format::Table),
        (None, Some(path)) => match format_of(path) {
            Some(format) => Ok(format),
            None => bail!(
                "{}: cannot tell the format from the extension (use .json, .jsonl, .ndjson, \
                 .csv or .md, or give --format)",
                path.display()
            ),
        },
    }
}

pub enum Destination {
    Stdout,
    File { temp: NamedTempFile, path: PathBuf },
}

impl Destination {
    /// Standard output, or a temporary file beside `path`; refuses a path that is one of the
    /// `inputs` (the same file, whatever name it goes by).
    pub fn open(path: Option<&Path>, inputs: &[PathBuf]) -> Result<Destination> {
        let Some(path) = path else {
            return Ok(Destination::Stdout);
        };
        if let Some(input) = inputs
            .iter()
            .find(|input| same_file(crate::input::file_of(input), path))
        {
            bail!(
                "{}: is the input {}; refusing to overwrite it",
                path.display(),
                input.display()
            );
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = NamedTempFile::new_in(folder)
            .with_context(|| format!("cannot create a file in {}", folder.display()))?;
        Ok(Destination::File {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// Where to write the document.
    pub fn writer(&mut self) -> Box<dyn Write + '_> {
        match self {
            Destination::Stdout => Box::new(io::stdout().lock()),
            Destination::File { temp, .. } => Box::new(temp.as_file_mut()),
        }
    }

    /// Puts the written file in place and says so on stderr.
    pub fn finish(self) -> Result<()> {
        if let Destination::File { temp, path } = self {
            temp.as_file().sync_all()?;
            temp.persist(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            crate::note!("evtdoctor: wrote {}", path.display());
        }
        Ok(())
    }
}
