//! How `fix` and `db defrag` touch the file system safely: every file they make is created
//! exclusively (never through a planted symlink), no wider than the database; one run at a
//! time per database (a lock file beside it naming its holder); leftovers of a crashed run
//! are named and removed by the next.

use anyhow::Result;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// `dir/name.suffix` for a file `dir/name`.
pub fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    file.with_file_name(name)
}

/// Creates `path` for writing, failing if anything (a symlink included) is there already;
/// `mode` limits its permissions (Unix).
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = File::options();
    options.write(true).read(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// The permission bits a file made from `original` may have: its own, without execute bits.
pub fn mode_of(original: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        original.permissions().mode() & 0o666
    }
    #[cfg(not(unix))]
    {
        let _ = original;
        0o666
    }
}

/// Gives the new file the database's owner, group and mode. Returns a note when the owner
/// could not be kept (only root may give a file away).
pub fn keep_owner_and_mode(file: &File, original: &Metadata) -> Result<Option<String>> {
    #[cfg(unix)]
    {
        use anyhow::Context;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        file.set_permissions(std::fs::Permissions::from_mode(original.mode() & 0o7777))
            .context("setting the new file's mode")?;
        let mine = file.metadata()?;
        if (mine.uid(), mine.gid()) != (original.uid(), original.gid()) {
            if let Err(e) =
                std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid()))
            {
                return Ok(Some(format!(
                    "the new file keeps the mode {:o} but not the owner {}:{} ({e}; only root \
                     can give a file away)",
                    original.mode() & 0o7777,
                    original.uid(),
                    original.gid()
                )));
            }
            // chown may clear set-id bits: set the mode again.
            file.set_permissions(std::fs::Permissions::from_mode(original.mode() & 0o7777))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (file, original);
    Ok(None)
}

/// Whether two paths name the same file (device and inode), not merely the same name.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => identity(&a) == identity(&b),
        _ => false,
    }
}

#[cfg(unix)]
fn identity(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(meta: &Metadata) -> (u64, u64) {
    (meta.len(), 0)
}

/// Other names the file has (hard links), which a rename would split from the new file.
fn other_links(meta: &Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.nlink().saturating_sub(1)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// Why a run could not claim its database; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The database or its lock file could not be inspected, opened or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: cannot lock: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error(
        "the file has {0} other hard link(s): replacing it would leave them on the old file \
         (pass --force to replace this name only)"
    )]
    HardLinks(u64),
    /// `holder` names the other run's process.
    #[error(
        "another evtdoctor run ({holder}) is working on this database (lock file {})",
        path.display()
    )]
    Busy { holder: String, path: PathBuf },
    #[error("{}: the lock file keeps changing", path.display())]
    LockChanging { path: PathBuf },
}

impl ClaimError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> ClaimError + '_ {
        |source| ClaimError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The database a run works on: a symlink's target (said in a note; the link stays), and a
/// refusal of a file with other hard links unless `force`.
pub fn resolve_database(path: &Path, force: bool) -> Result<PathBuf, ClaimError> {
    let link = std::fs::symlink_metadata(path).map_err(ClaimError::io(path))?;
    let file = if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(path).map_err(ClaimError::io(path))?;
        eprintln!(
            "evtdoctor: note: {} is a symbolic link: working on its target {} (the link is kept)",
            path.display(),
            target.display()
        );
        target
    } else {
        path.to_path_buf()
    };
    let meta = std::fs::metadata(&file).map_err(ClaimError::io(&file))?;
    let others = other_links(&meta);
    if others > 0 && !force {
        return Err(ClaimError::HardLinks(others));
    }
    Ok(file)
}

/// Removes a file a crashed run left at `path`, saying so.
pub fn remove_leftover(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok() {
        match std::fs::remove_file(path) {
            Ok(()) => eprintln!(
                "evtdoctor: note: removed {}, left by an interrupted run",
                path.display()
            ),
            Err(e) => eprintln!(
                "evtdoctor: warning: {}: left by an interrupted run, cannot remove: {e}",
                path.display()
            ),
        }
    }
}

/// Gives the finished `temp` the name `target` only if no file has it (a hard link, then
/// the temp name removed): it never replaces a file.
pub fn rename_no_replace(temp: &Path, target: &Path) -> io::Result<()> {
    std::fs::hard_link(temp, target)?;
    std::fs::remove_file(temp)
}

/// One run at a time per database: an exclusive advisory lock on `NAME.evtdoctor.lock`
/// beside it (a lock on the database itself would go with the old file at the rename),
/// holding the holder's PID. Released, and the file removed, when dropped.
pub struct RunLock {
    path: PathBuf,
    file: File,
}

impl RunLock {
    pub fn take(database: &Path) -> Result<RunLock, ClaimError> {
        let path = sibling(database, "evtdoctor.lock");
        // Another run may remove the file between our open and our lock: try again then.
        for _ in 0..10 {
            let file = open_lock_file(&path).map_err(ClaimError::io(&path))?;
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => {}
                Err(fs4::TryLockError::WouldBlock) => {
                    let holder = read_pid(&file)
                        .map_or_else(|| "another process".to_owned(), |p| format!("process {p}"));
                    return Err(ClaimError::Busy { holder, path });
                }
                Err(fs4::TryLockError::Error(source)) => {
                    return Err(ClaimError::Lock { path, source })
                }
            }
            let still_there = match (std::fs::symlink_metadata(&path), file.metadata()) {
                (Ok(now), Ok(ours)) => identity(&now) == identity(&ours),
                _ => false,
            };
            if !still_there {
                continue;
            }
            if let Some(pid) = read_pid(&file) {
                eprintln!(
                    "evtdoctor: note: took over the lock {} of process {pid}, which ended \
                     without releasing it",
                    path.display()
                );
            }
            let mut lock = RunLock { path, file };
            lock.write_pid().map_err(ClaimError::io(&lock.path))?;
            return Ok(lock);
        }
        Err(ClaimError::LockChanging { path })
    }

    fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        std::io::Seek::rewind(&mut self.file)?;
        writeln!(self.file, "{}", std::process::id())?;
        self.file.sync_all()
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked, so the next run creates a fresh one.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Opens (creating if needed) the lock file, never through a symlink.
fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = File::options();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

fn read_pid(file: &File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_new_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let error = create_new(&planted, 0o600).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.edb");
        let held = RunLock::take(&db).unwrap();
        let refusal = RunLock::take(&db).err().unwrap();
        assert_eq!(
            refusal.to_string(),
            format!(
                "another evtdoctor run (process {}) is working on this database (lock file {})",
                std::process::id(),
                dir.path().join("k.edb.evtdoctor.lock").display()
            )
        );
        drop(held);
        assert!(!dir.path().join("k.edb.evtdoctor.lock").exists());
        // A lock file left by a dead process is taken over.
        std::fs::write(dir.path().join("k.edb.evtdoctor.lock"), b"999999\n").unwrap();
        let taken = RunLock::take(&db).unwrap();
        let pid = std::fs::read_to_string(dir.path().join("k.edb.evtdoctor.lock")).unwrap();
        assert_eq!(pid, format!("{}\n", std::process::id()));
        drop(taken);
    }
}
