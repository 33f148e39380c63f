//! Writing a report to the file `-o` names: written whole under a fresh temporary name beside
//! it and renamed over it, so a reader never sees half a report; never through a symbolic
//! link and never over one of the inputs.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Attempts at a free temporary name before giving up.
const TEMP_NAMES: u32 = 100;

pub fn write_report_file(path: &Path, text: &str, inputs: &[PathBuf]) -> Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_symlink() {
            bail!(
                "{}: is a symbolic link; not writing through it",
                path.display()
            );
        }
        if meta.is_dir() {
            bail!("{}: is a directory", path.display());
        }
        if let Some(input) = inputs.iter().find(|input| same_file(path, input)) {
            bail!(
                "{}: is the input {}; not overwriting it",
                path.display(),
                input.display()
            );
        }
    }
    let (temp, mut file) = create_temp(path)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("writing the report to {}", path.display()));
    }
    Ok(())
}

/// A new file beside `path` (created exclusively, so nothing already there is followed).
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for n in 0..TEMP_NAMES {
        let temp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("creating a file beside {}", path.display()))
            }
        }
    }
    bail!("{}: no free temporary name beside it", path.display())
}

/// Whether two paths name one file (hard links and `a/../b` spellings included).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(a), Ok(b)) if a == b
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_report_but_not_an_input_or_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.html");
        write_report_file(&report, "one", &[]).unwrap();
        write_report_file(&report, "two", &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "two");

        let input = dir.path().join("System.evtx");
        std::fs::write(&input, "log").unwrap();
        let via_dots = dir.path().join("sub/../System.evtx");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let error = write_report_file(&via_dots, "x", std::slice::from_ref(&input)).unwrap_err();
        assert!(error.to_string().contains("is the input"), "{error}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "log");

        #[cfg(unix)]
        {
            let link = dir.path().join("link.html");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            let error = write_report_file(&link, "x", &[]).unwrap_err();
            assert!(error.to_string().contains("symbolic link"), "{error}");
            assert_eq!(std::fs::read_to_string(&input).unwrap(), "log");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }
}
