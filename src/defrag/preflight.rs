//! Checks before a fix or a defrag touches anything: `db check`'s judgement of the database,
//! transaction logs beside a database that needs recovery, free space, and other processes
//! holding the file open.

use super::engine::DefragError;
use evtdoctor_parsers::ese::check::{self, TreeTap};
use evtdoctor_parsers::ese::database::OpenError;
use evtdoctor_parsers::ese::header::{FileHeader, HEADER_CHECKSUM_SPAN};
use evtdoctor_parsers::ese::logfile::{
    read_recovery_header, CheckpointHeader, LogHeader, RecoveryFile,
};
use evtdoctor_parsers::ese::Database;
use evtdoctor_parsers::Problem;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Opens the database a repair is asked for: a file that is no ESE database is unreadable
/// (exit 2); header values ESE refuses (`db check`'s header findings, the first reasons it
/// gives) are refused before anything else is looked at.
pub fn open_for_repair(path: &Path) -> Result<Database<File>, DefragError> {
    let file = File::open(path)
        .map_err(|e| DefragError::Unreadable(format!("{}: cannot open: {e}", path.display())))?;
    let db = Database::open(file).map_err(|error| match error {
        OpenError::NotEse(_) => DefragError::Unreadable(format!("{}: {error}", path.display())),
        OpenError::Damaged { .. } => damaged(&error.to_string()),
    })?;
    match db.header.faults().first() {
        Some(fault) => Err(damaged(&fault.problem().to_string())),
        None => Ok(db),
    }
}

/// A second reader of `source`, the database at `path`, for [`judge`] to read while a
/// rebuild reads `source`: pages either finds right are not checksummed again.
pub fn reader_beside(path: &Path, source: &Database<File>) -> Result<Database<File>, String> {
    let mut db = super::open(path).map_err(|e| format!("{e:#}"))?;
    db.share_checksums_with(source);
    Ok(db)
}

/// `db check`'s judgement of `db`: the reason to refuse a database it calls damaged (header
/// values ESE refuses, page, tree and record damage). The same judgement as `db check`, so a
/// defrag never replaces a database with a file that carries damage yet looks verified.
/// `tap` hears each tree as the check walks it.
pub fn judge(db: &Database<File>, tap: &mut dyn TreeTap) -> Result<(), String> {
    check::verdict_tapped(db, tap)
        .map(drop)
        .map_err(|damage| damage_reason(&damage.to_string()))
}

fn damage_reason(what: &str) -> String {
    format!("db check finds the database damaged ({what})")
}

fn damaged(what: &str) -> DefragError {
    DefragError::Refused(format!(
        "{}; the database is untouched",
        damage_reason(what)
    ))
}

/// A transaction log or checkpoint file found beside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// The generation its name gives (`E000000001A.log` is 0x1A); the current log
    /// (`E00.log`, `edb.log`) and checkpoint files (`*.chk`) have none in their name.
    pub named_generation: Option<u32>,
    /// What its header says, or why it could not be read.
    pub header: Result<RecoveryFile, RecoveryHeaderError>,
}

/// Why a recovery file's header could not be read (the I/O error as its kind and text, so
/// that a listing of logs can be compared and copied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryHeaderError {
    #[error("{message}")]
    Io {
        kind: std::io::ErrorKind,
        message: String,
    },
    #[error("{0}")]
    Header(Problem),
}

impl From<std::io::Error> for RecoveryHeaderError {
    fn from(error: std::io::Error) -> Self {
        RecoveryHeaderError::Io {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

impl LogFile {
    /// The generation a log's header states (the name's when the header is unreadable).
    pub fn generation(&self) -> Option<u32> {
        match &self.header {
            Ok(RecoveryFile::Log(log)) => Some(log.generation),
            Ok(RecoveryFile::Checkpoint(_)) => None,
            Err(_) => self.named_generation,
        }
    }

    /// Whether its header names the database's log stream (`None`: header unreadable).
    pub fn belongs_to(&self, db: &FileHeader) -> Option<bool> {
        let signature = match self.header.as_ref().ok()? {
            RecoveryFile::Log(log) => &log.signature,
            RecoveryFile::Checkpoint(checkpoint) => &checkpoint.signature,
        };
        Some(*signature == db.log_signature)
    }

    /// One line: name, what the header says, and whether it is this database's stream.
    pub fn describe(&self, db: &FileHeader) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let said = match &self.header {
            Ok(RecoveryFile::Log(log)) => format!("log generation 0x{:X}", log.generation),
            Ok(RecoveryFile::Checkpoint(c)) => format!("checkpoint at {}", c.checkpoint.eseutil()),
            Err(problem) => return format!("{name} (unreadable header: {problem})"),
        };
        let stream = match self.belongs_to(db) {
            Some(true) => "this database's log stream",
            _ => "another log stream: its signature differs from the database's",
        };
        let checksum = match &self.header {
            Ok(RecoveryFile::Log(LogHeader {
                checksum_ok: false, ..
            }))
            | Ok(RecoveryFile::Checkpoint(CheckpointHeader {
                checksum_ok: false, ..
            })) => ", header checksum wrong",
            _ => "",
        };
        format!("{name} ({said}, {stream}{checksum})")
    }
}

/// `E00*.log`, `edb*.log` and `*.chk` files in `dir`, sorted by name, with their headers.
pub fn transaction_logs(dir: &Path) -> Vec<LogFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut logs: Vec<LogFile> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_lowercase();
            let log_base = ["e00", "e01", "e02", "edb"]
                .iter()
                .find(|base| name.starts_with(*base) && name.ends_with(".log"));
            let is_checkpoint = name.ends_with(".chk");
            if log_base.is_none() && !is_checkpoint {
                return None;
            }
            let named_generation = log_base.and_then(|base| {
                let digits = &name[base.len()..name.len() - 4];
                (!digits.is_empty())
                    .then(|| u32::from_str_radix(digits, 16).ok())
                    .flatten()
            });
            Some(LogFile {
                header: read_header(&e.path(), is_checkpoint),
                path: e.path(),
                named_generation,
            })
        })
        .collect();
    logs.sort_by(|a, b| a.path.cmp(&b.path));
    logs
}

fn read_header(path: &Path, is_checkpoint: bool) -> Result<RecoveryFile, RecoveryHeaderError> {
    let mut first = Vec::with_capacity(HEADER_CHECKSUM_SPAN);
    std::fs::File::open(path)
        .and_then(|f| f.take(HEADER_CHECKSUM_SPAN as u64).read_to_end(&mut first))?;
    read_recovery_header(&first, is_checkpoint).map_err(RecoveryHeaderError::Header)
}

/// Which of the generations the header requires are present as logs of its own stream.
pub fn required_generations(header: &FileHeader, logs: &[LogFile]) -> (Vec<u32>, Vec<u32>) {
    let (low, high) = (header.log_required_min, header.log_required_max);
    if low == 0 || high < low || high - low > 100_000 {
        return (Vec::new(), Vec::new());
    }
    (low..=high).partition(|g| {
        logs.iter()
            .any(|l| l.generation() == Some(*g) && l.belongs_to(header) != Some(false))
    })
}

/// Bytes free for an unprivileged writer on the filesystem holding `dir`.
pub fn free_space(dir: &Path) -> Option<u64> {
    fs4::available_space(dir).ok()
}

/// Processes that have `file` open, where the OS can tell (Linux: /proc/*/fd).
pub fn processes_holding(file: &Path) -> Vec<u32> {
    let Ok(target) = std::fs::canonicalize(file) else {
        return Vec::new();
    };
    let me = std::process::id();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    processes
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.filter_map(|fd| fd.ok())
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link == target))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_give_generations() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "E00.log",
            "E000000001A.log",
            "edb00002.log",
            "E00.chk",
            "kmsmdb.edb",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let logs = transaction_logs(dir.path());
        let found: Vec<(String, Option<u32>)> = logs
            .iter()
            .map(|l| {
                (
                    l.path.file_name().unwrap().to_string_lossy().into(),
                    l.named_generation,
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("E00.chk".into(), None),
                ("E00.log".into(), None),
                ("E000000001A.log".into(), Some(0x1a)),
                ("edb00002.log".into(), Some(2)),
            ]
        );
    }

    #[test]
    fn a_file_this_process_holds_is_not_reported_but_free_space_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db.edb");
        let _open = std::fs::File::create(&file).unwrap();
        assert!(processes_holding(&file).is_empty());
        assert!(free_space(dir.path()).is_some_and(|free| free > 0));
    }
}
