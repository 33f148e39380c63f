//! From the paths the user named to the inputs read: directories walked, bundles opened,
//! standard input named once.

use super::bundle::Bundle;
use super::source::STDIN;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A path the user named that cannot be used as an input.
#[derive(Debug, Clone)]
pub struct PathError {
    pub path: PathBuf,
    pub message: String,
}

/// Expands the given paths into input names: files as they are, directories walked
/// recursively (sorted, so runs are deterministic; hidden entries skipped), each .zip/.gz
/// bundle into its log members (`bundle.zip!System.evtx`), `-` for standard input. Naming
/// standard input twice is a usage error.
pub fn discover(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathError>)> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut stdin_named = false;
    for path in paths {
        if path == Path::new(STDIN) {
            if stdin_named {
                bail!("standard input (`-`) is named more than once");
            }
            stdin_named = true;
            files.push(path.clone());
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = files.len();
                for file in walk(path, &mut errors) {
                    expand(file, &mut files, &mut errors);
                }
                if files.len() == before {
                    errors.push(PathError {
                        path: path.clone(),
                        message: "the directory holds no logs (no files in it or below it)".into(),
                    });
                }
            }
            Ok(_) => expand(path.clone(), &mut files, &mut errors),
            Err(e) => errors.push(PathError {
                path: path.clone(),
                message: e.to_string(),
            }),
        }
    }
    Ok((files, errors))
}

/// A file as an input, or a bundle as the inputs it holds.
fn expand(file: PathBuf, files: &mut Vec<PathBuf>, errors: &mut Vec<PathError>) {
    let Some(bundle) = Bundle::of(&file) else {
        files.push(file);
        return;
    };
    match bundle.members() {
        Ok(members) => files.extend(members.iter().map(|m| bundle.member_name(m))),
        Err(error) => errors.push(PathError {
            path: file.clone(),
            message: error.to_string(),
        }),
    }
}

/// The files in and below `dir`, sorted.
fn walk(dir: &Path, errors: &mut Vec<PathError>) -> Vec<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(PathError {
                    path: dir,
                    message: e.to_string(),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => found.push(path),
                // Symlinks: follow to files, not into directories (no cycles).
                Ok(t) if t.is_symlink() => match std::fs::metadata(&path) {
                    Ok(target) if target.is_file() => found.push(path),
                    Ok(target) if !target.is_dir() => skip_special(&path),
                    _ => {}
                },
                Ok(_) => skip_special(&path),
                Err(_) => {}
            }
        }
    }
    found.sort();
    found
}

/// FIFOs, devices and sockets met while walking a directory are not read (one could block or
/// never end); named on the command line they are, up to [`super::MAX_STREAM`].
fn skip_special(path: &Path) {
    eprintln!(
        "evtdoctor: {}: skipped: not a regular file (FIFO, device or socket); name it on the \
         command line to read it",
        path.display()
    );
}
