//! Checks before a fix touches anything: transaction logs beside a database that needs
//! recovery, free space, and other processes holding the file open.

use evtdoctor_parsers::ese::header::FileHeader;
use std::path::{Path, PathBuf};

/// A transaction log or checkpoint file found beside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// The generation its name gives (`E000000001A.log` is 0x1A); the current log
    /// (`E00.log`, `edb.log`) and checkpoint files (`*.chk`) have none in their name.
    pub generation: Option<u32>,
}

/// `E00*.log`, `edb*.log` and `*.chk` files in `dir`, sorted by name.
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
            let generation = log_base.and_then(|base| {
                let digits = &name[base.len()..name.len() - 4];
                (!digits.is_empty())
                    .then(|| u32::from_str_radix(digits, 16).ok())
                    .flatten()
            });
            (log_base.is_some() || name.ends_with(".chk")).then(|| LogFile {
                path: e.path(),
                generation,
            })
        })
        .collect();
    logs.sort_by(|a, b| a.path.cmp(&b.path));
    logs
}

/// Which of the generations the header requires are present as numbered log files.
pub fn required_generations(header: &FileHeader, logs: &[LogFile]) -> (Vec<u32>, Vec<u32>) {
    let (low, high) = (header.log_required_min, header.log_required_max);
    if low == 0 || high < low || high - low > 100_000 {
        return (Vec::new(), Vec::new());
    }
    (low..=high).partition(|g| logs.iter().any(|l| l.generation == Some(*g)))
}

/// Bytes free for an unprivileged writer on the filesystem holding `dir`.
#[cfg(unix)]
pub fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a zeroed statvfs the call fills in.
    let status = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    // The field types are 32-bit on some targets, 64-bit on others.
    #[allow(clippy::useless_conversion)]
    (status == 0).then(|| u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

#[cfg(not(unix))]
pub fn free_space(_dir: &Path) -> Option<u64> {
    None
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
                    l.generation,
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
