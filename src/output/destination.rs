//! Where a command's document goes: standard output, or the file of `-o` — written to a
//! temporary file in the target's folder and renamed over it at the end, so a reader never
//! sees half a report, a symlink at the target is replaced rather than followed, and an input
//! is never overwritten.

use crate::cli::{Format, ReportFormat};
use crate::defrag::files::same_file;
use anyhow::{bail, Context, Result};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A document format a file name can ask for by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Json,
    Jsonl,
    Csv,
    Markdown,
    Html,
}

/// Every extension that names a format (compared without case).
const EXTENSIONS: [(&str, Named); 8] = [
    ("json", Named::Json),
    ("jsonl", Named::Jsonl),
    ("ndjson", Named::Jsonl),
    ("csv", Named::Csv),
    ("md", Named::Markdown),
    ("markdown", Named::Markdown),
    ("html", Named::Html),
    ("htm", Named::Html),
];

/// A command's format choice (`--format`), which a file name may make instead.
pub trait OutputFormat: Copy {
    /// The format without `--format` or `-o`: the table for a terminal.
    const TABLE: Self;
    /// This command's format for the one a file name asks for, if it writes that format.
    fn named(named: Named) -> Option<Self>;
}

impl OutputFormat for Format {
    const TABLE: Self = Format::Table;
    fn named(named: Named) -> Option<Self> {
        match named {
            Named::Json => Some(Format::Json),
            Named::Jsonl => Some(Format::Jsonl),
            Named::Csv => Some(Format::Csv),
            Named::Markdown => Some(Format::Markdown),
            Named::Html => None,
        }
    }
}

impl OutputFormat for ReportFormat {
    const TABLE: Self = ReportFormat::Table;
    fn named(named: Named) -> Option<Self> {
        Some(match named {
            Named::Json => ReportFormat::Json,
            Named::Jsonl => ReportFormat::Jsonl,
            Named::Csv => ReportFormat::Csv,
            Named::Markdown => ReportFormat::Markdown,
            Named::Html => ReportFormat::Html,
        })
    }
}

/// The format given, else the one `-o`'s extension names, else the table; an extension that
/// names no format the command writes is a usage error.
pub fn resolve_format<F: OutputFormat>(given: Option<F>, output: Option<&Path>) -> Result<F> {
    let path = match (given, output) {
        (Some(format), _) => return Ok(format),
        (None, None) => return Ok(F::TABLE),
        (None, Some(path)) => path,
    };
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let named = EXTENSIONS
        .iter()
        .find(|(name, _)| *name == extension)
        .and_then(|&(_, named)| F::named(named));
    if let Some(format) = named {
        return Ok(format);
    }
    let known: Vec<String> = EXTENSIONS
        .iter()
        .filter(|(_, named)| F::named(*named).is_some())
        .map(|(name, _)| format!(".{name}"))
        .collect();
    bail!(
        "{}: cannot tell the format from the extension (use {}, or give --format)",
        path.display(),
        known.join(", ")
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_names_the_format_each_command_writes() {
        let named = |path: &str| resolve_format::<Format>(None, Some(Path::new(path))).ok();
        assert_eq!(named("out/EVENTS.NDJSON"), Some(Format::Jsonl));
        assert_eq!(named("t.md"), Some(Format::Markdown));
        assert_eq!(named("page.html"), None, "events writes no HTML");
        assert_eq!(named("notes.txt"), None);
        let report = |path: &str| resolve_format::<ReportFormat>(None, Some(Path::new(path)));
        assert_eq!(report("page.htm").unwrap(), ReportFormat::Html);
        assert_eq!(report("timeline.csv").unwrap(), ReportFormat::Csv);
        assert_eq!(
            report("report.txt").unwrap_err().to_string(),
            "report.txt: cannot tell the format from the extension (use .json, .jsonl, \
             .ndjson, .csv, .md, .markdown, .html, .htm, or give --format)"
        );
        // --format wins over the name; no name is the table.
        let given = resolve_format(Some(Format::Csv), Some(Path::new("x.json")));
        assert_eq!(given.unwrap(), Format::Csv);
        assert_eq!(resolve_format::<Format>(None, None).unwrap(), Format::Table);
    }
}
