//! The safe-replace protocol: a verified new file takes a database's place only after a
//! backup (never overwriting a file, its SHA-256 checked) and its rollback record are on
//! disk, and then by one atomic rename; a rollback puts the recorded backup back the same way.

use super::crash;
use super::files::{self, sibling};
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

/// Where a backup is written until it is complete and its hash checked.
fn backup_temp(database: &Path, dir: &Path) -> PathBuf {
    dir.join(format!(
        "{}.bak-tmp",
        database.file_name().unwrap_or_default().to_string_lossy()
    ))
}

/// Removes what a crashed run of `fix` or `db defrag` can leave (the new file at the default
/// temp path, a partial backup, a partial rollback record), naming each; run under the lock.
pub fn remove_leftovers(database: &Path, backup_dir: &Path) {
    files::remove_leftover(&default_temp(database));
    files::remove_leftover(&backup_temp(database, backup_dir));
    files::remove_leftover(&sibling(&Manifest::path(backup_dir, database), "tmp"));
}

/// Where a backup goes, and the SHA-256 of the database and of the new file: they prove the
/// backup and go into the rollback record.
pub struct Backup<'a> {
    pub dir: &'a Path,
    pub database_sha256: &'a str,
    pub new_sha256: &'a str,
    /// Permission bits the backup and its record may have (those of the database).
    pub mode: u32,
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
        let path = back_up(database, backup.dir, backup.database_sha256, backup.mode)?;
        let manifest = Manifest {
            database: std::path::absolute(database)?,
            backup: std::path::absolute(&path)?,
            backup_sha256: backup.database_sha256.to_owned(),
            new_sha256: backup.new_sha256.to_owned(),
        };
        manifest.write(backup.dir, backup.mode)?;
        copy = Some(path);
    }
    replace(new, database)?;
    Ok(copy)
}

/// Copies the recorded backup beside the database, checks the copy's SHA-256 and renames it
/// over the database.
pub fn restore(manifest: &Manifest, database: &Path) -> Result<()> {
    let temp = default_temp(database);
    let original = std::fs::metadata(database)
        .with_context(|| format!("{}: cannot stat", database.display()))?;
    let mut target = files::create_new(&temp, files::mode_of(&original))
        .with_context(|| format!("{}: cannot create", temp.display()))?;
    if let Some(note) = files::keep_owner_and_mode(&target, &original)? {
        eprintln!("evtdoctor: note: {note}");
    }
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

/// Gives the file in place a second name, `NAME.replaced-TIMESTAMP`, so a rollback over it
/// loses nothing.
pub fn keep_replaced(database: &Path) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let kept = sibling(database, &format!("replaced-{stamp}"));
    std::fs::hard_link(database, &kept)
        .with_context(|| format!("{}: cannot keep the file in place", kept.display()))?;
    Ok(kept)
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
    pub fn path(dir: &Path, database: &Path) -> PathBuf {
        let name = database.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!("{name}.evtdoctor-fix.json"))
    }

    /// Written to a temp name and renamed, so a crash leaves the old manifest or the new one;
    /// no more readable than the database.
    fn write(&self, dir: &Path, mode: u32) -> Result<()> {
        let path = Manifest::path(dir, &self.database);
        let temp = sibling(&path, "tmp");
        let text = serde_json::to_vec_pretty(self)?;
        crash::point();
        files::create_new(&temp, mode)
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
        let mut manifest: Manifest = serde_json::from_slice(&text)
            .with_context(|| format!("{}: unreadable", path.display()))?;
        // Older records hold paths relative to their own folder.
        let folder = std::path::absolute(dir)?;
        manifest.database = folder.join(&manifest.database);
        manifest.backup = folder.join(&manifest.backup);
        Ok(manifest)
    }
}

/// Copies `file` into `dir` under a temporary name, flushes it, checks its SHA-256 against
/// the original's, and only then gives it a name no file has yet (`NAME.bak`, `NAME.1.bak`,
/// ...): a crash never leaves a cut backup under a backup's name.
fn back_up(file: &Path, dir: &Path, sha256: &str, mode: u32) -> Result<PathBuf> {
    let temp = backup_temp(file, dir);
    let mut target = files::create_new(&temp, mode)
        .with_context(|| format!("{}: cannot create", temp.display()))?;
    let copied = File::open(file)
        .and_then(|mut source| copy_with_crash_points(&mut source, &mut target))
        .and_then(|()| target.sync_all())
        .with_context(|| format!("{}: backup failed", temp.display()))
        .and_then(|()| sha256_of(&temp));
    let copy_sha = match copied {
        Ok(hash) => hash,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    if copy_sha != sha256 {
        let _ = std::fs::remove_file(&temp);
        anyhow::bail!(
            "{}: the backup's SHA-256 differs from the original's",
            temp.display()
        );
    }
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    for n in 0..1000 {
        let candidate = match n {
            0 => dir.join(format!("{name}.bak")),
            n => dir.join(format!("{name}.{n}.bak")),
        };
        crash::point();
        match files::rename_no_replace(&temp, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e).with_context(|| format!("{}: cannot create", candidate.display()));
            }
        }
    }
    let _ = std::fs::remove_file(&temp);
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
