//! The safe-replace protocol: a verified new file takes a database's place only after a
//! backup (never overwriting a file, its SHA-256 checked) and its rollback record are on
//! disk, and then by one atomic rename; a rollback puts the recorded backup back the same way.

use super::crash;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The folder a file is in.
pub fn beside(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The default temp path of a database: the new file is built (or a backup restored) there,
/// beside it, so the final rename stays on one file system.
pub fn default_temp(file: &Path) -> PathBuf {
    sibling(file, "defrag-tmp")
}

/// Where a backup goes, and the SHA-256 of the database and of the new file: they prove the
/// backup and go into the rollback record.
pub struct Backup<'a> {
    pub dir: &'a Path,
    pub database_sha256: &'a str,
    pub new_sha256: &'a str,
}

/// The backup (with its record for rollback), when one is asked for, then the rename that
/// puts `new` in place of `database`. Returns the backup's path.
pub fn back_up_and_replace(
    database: &Path,
    new: &Path,
    backup: Option<Backup<'_>>,
) -> Result<Option<PathBuf>> {
    let mut copy = None;
    if let Some(backup) = backup {
        let path = back_up(database, backup.dir, backup.database_sha256)?;
        let manifest = Manifest {
            database: database.to_path_buf(),
            backup: path.clone(),
            backup_sha256: backup.database_sha256.to_owned(),
            new_sha256: backup.new_sha256.to_owned(),
        };
        manifest.write(backup.dir)?;
        copy = Some(path);
    }
    replace(new, database)?;
    Ok(copy)
}

/// Copies the recorded backup beside the database, checks the copy's SHA-256 and renames it
/// over the database.
pub fn restore(manifest: &Manifest, database: &Path) -> Result<()> {
    let temp = default_temp(database);
    let _ = std::fs::remove_file(&temp);
    let mut target = File::options()
        .write(true)
        .create_new(true)
        .open(&temp)
        .with_context(|| format!("{}: cannot create", temp.display()))?;
    File::open(&manifest.backup)
        .and_then(|mut source| copy_with_crash_points(&mut source, &mut target))
        .and_then(|()| target.sync_all())
        .with_context(|| format!("{}: restoring", temp.display()))?;
    anyhow::ensure!(
        sha256_of(&temp)? == manifest.backup_sha256,
        "{}: the restored copy differs from the backup",
        temp.display()
    );
    replace(&temp, database)
}

/// What `fix --rollback` needs: which backup belongs to which database, and its hash.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub database: PathBuf,
    pub backup: PathBuf,
    pub backup_sha256: String,
    pub new_sha256: String,
}

impl Manifest {
    fn path(dir: &Path, database: &Path) -> PathBuf {
        let name = database.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!("{name}.evtdoctor-fix.json"))
    }

    /// Written to a temp name and renamed, so a crash leaves the old manifest or the new one.
    fn write(&self, dir: &Path) -> Result<()> {
        let path = Manifest::path(dir, &self.database);
        let temp = sibling(&path, "tmp");
        let text = serde_json::to_vec_pretty(self)?;
        crash::point();
        File::create(&temp)
            .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&temp, &path))
            .with_context(|| format!("{}: cannot write", path.display()))
    }

    pub fn read(dir: &Path, database: &Path) -> Result<Manifest> {
        let path = Manifest::path(dir, database);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "{}: no backup record (was the database fixed?)",
                path.display()
            )
        })?;
        serde_json::from_slice(&text).with_context(|| format!("{}: unreadable", path.display()))
    }
}

/// `dir/name.suffix` for a file `dir/name`.
fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    file.with_file_name(name)
}

/// Copies `file` into `dir` under a name no file has yet (`NAME.bak`, `NAME.1.bak`, ...),
/// flushes it and checks its SHA-256 against the original's.
fn back_up(file: &Path, dir: &Path, sha256: &str) -> Result<PathBuf> {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    for n in 0..1000 {
        let candidate = match n {
            0 => dir.join(format!("{name}.bak")),
            n => dir.join(format!("{name}.{n}.bak")),
        };
        let mut target = match File::options()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("{}: cannot create", candidate.display()))
            }
        };
        let copied = File::open(file)
            .and_then(|mut source| copy_with_crash_points(&mut source, &mut target))
            .and_then(|()| target.sync_all());
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&candidate);
            return Err(e).with_context(|| format!("{}: backup failed", candidate.display()));
        }
        let copy_sha = sha256_of(&candidate)?;
        anyhow::ensure!(
            copy_sha == sha256,
            "{}: the backup's SHA-256 differs from the original's",
            candidate.display()
        );
        return Ok(candidate);
    }
    anyhow::bail!("{}: no free backup name", dir.display())
}

/// Copies in 1 MiB pieces, each a crash point for the crash-safety tests.
fn copy_with_crash_points(source: &mut File, target: &mut File) -> io::Result<()> {
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        crash::point();
        let n = source.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        target.write_all(&buffer[..n])?;
    }
}

/// Renames the verified file over the original and flushes the directory entry.
fn replace(new: &Path, original: &Path) -> Result<()> {
    crash::point();
    std::fs::rename(new, original).with_context(|| {
        format!(
            "{}: cannot replace with {}",
            original.display(),
            new.display()
        )
    })?;
    crash::point();
    // The rename is done: a failed flush of the folder cannot undo it, only delay it.
    #[cfg(unix)]
    if let Some(dir) = original.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            eprintln!(
                "evtdoctor: warning: {}: flushing the folder: {e}",
                dir.display()
            );
        }
    }
    Ok(())
}

pub fn sha256_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("{}: reading", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
