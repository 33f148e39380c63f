//! `evtdoctor fix`: refusals, dry run, the fix and its rollback, and crash safety (SIGKILL at
//! many points of a run, disk full) on copies of real corpus databases.

use crate::common;
use common::Need;

use common::{corpus_files, evtdoctor};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const TARGET_OS: &str = "5.0.2195 SP 4";

fn corpus(name: &str) -> PathBuf {
    corpus_files("ese", &[".edb", ".dat", ".db"])
        .into_iter()
        .find(|f| f.file_name().unwrap() == name)
        .unwrap()
}

/// A writable copy named kmsmdb.edb in `dir`.
pub(crate) fn kms_copy(dir: &Path, source: &str) -> PathBuf {
    let file = dir.join("kmsmdb.edb");
    std::fs::write(&file, std::fs::read(corpus(source)).unwrap()).unwrap();
    file
}

pub(crate) fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

pub(crate) fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn fix(file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["fix", "--db", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    evtdoctor(&args)
}

#[test]
fn fix_refuses_without_a_target_os_or_confirmation() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let before = sha256(&file);
    let out = fix(&file, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--target-os is required"),
        "{}",
        stderr(&out)
    );
    // No terminal to ask and no --yes: nothing happens.
    let out = fix(&file, &["--target-os", TARGET_OS]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not confirmed"));
    assert_eq!(sha256(&file), before);
    assert_eq!(files_in(dir.path()), ["kmsmdb.edb"]);
}

#[test]
fn a_dirty_database_is_refused_with_its_logs_listed() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "bits_qmgr_win11_dirty_16k.db");
    let before = sha256(&file);
    let out = fix(&file, &["--target-os", TARGET_OS, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(message.contains("Dirty Shutdown"), "{message}");
    assert!(
        message.contains("generations 23-23 (0x17-0x17)"),
        "{message}"
    );
    assert!(
        message.contains("no transaction log or checkpoint file"),
        "{message}"
    );

    // The current log belongs to the database's stream; 0x16 to another one; the checkpoint
    // is an empty file.
    let db_log_signature = std::fs::read(&file).unwrap()[108..136].to_vec();
    let write_log = |name: &str, generation: u32, signature: &[u8]| {
        std::fs::write(dir.path().join(name), log_header(generation, signature)).unwrap();
    };
    write_log("E00.log", 0x18, &db_log_signature);
    write_log("E0000016.log", 0x16, &[9; 28]);
    std::fs::write(dir.path().join("E00.chk"), b"").unwrap();
    let message = stderr(&fix(&file, &["--target-os", TARGET_OS, "--yes"]));
    assert!(
        message.contains(
            "beside it: E00.chk (unreadable header: offset 0 (0x0): shorter than a 4096-byte \
             checkpoint header), E00.log (log generation 0x18, this database's log stream), \
             E0000016.log (log generation 0x16, another log stream: its signature differs \
             from the database's)"
        ),
        "{message}"
    );
    assert!(message.contains("missing: 0x17"), "{message}");
    write_log("E0000017.log", 0x17, &db_log_signature);
    let message = stderr(&fix(&file, &["--target-os", TARGET_OS, "--yes"]));
    assert!(message.contains("present: 0x17"), "{message}");
    assert!(!message.contains("missing"), "{message}");
    assert_eq!(sha256(&file), before);
}

/// A transaction log header as ESE lays it out: generation at 4, 512-byte sectors at 8, the
/// log stream's signature at 44, and the header checksum at 0.
fn log_header(generation: u32, signature: &[u8]) -> Vec<u8> {
    let mut page = vec![0u8; 4096];
    page[4..8].copy_from_slice(&generation.to_le_bytes());
    page[8..10].copy_from_slice(&512u16.to_le_bytes());
    page[44..44 + signature.len()].copy_from_slice(signature);
    let sum = evtdoctor_parsers::ese::checksum::xor_checksum(&page);
    page[..4].copy_from_slice(&sum.to_le_bytes());
    page
}

#[test]
fn a_database_open_in_another_process_is_refused() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3<'{}'; sleep 30", file.display()))
        .spawn()
        .unwrap();
    // Wait until the shell has the file open.
    let fd_of = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.filter_map(|f| std::fs::read_link(f.ok()?.path()).ok())
                    .any(|l| l == file)
            })
            .unwrap_or(false)
    };
    for _ in 0..100 {
        if fd_of(holder.id()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = fix(&file, &["--target-os", TARGET_OS, "--yes"]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("open in process(es) {}", holder.id())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dry_run_changes_nothing_then_fix_and_rollback() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_text_longvalues_4k.edb");
    let original = sha256(&file);
    let out = fix(&file, &["--target-os", TARGET_OS, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Dry run passed"));
    assert_eq!(sha256(&file), original);
    assert_eq!(files_in(dir.path()), ["kmsmdb.edb"]);

    let out = fix(&file, &["--target-os", TARGET_OS, "--dry-run", "--json"]);
    let json = String::from_utf8(out.stdout).unwrap();
    let result: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(result["status"], "dry_run_passed");
    assert_eq!(result["defrag"]["os_version_after"], "(5.0.2195 SP 4)");
    assert!(result["defrag"]["records_verified"].as_u64().unwrap() > 0);
    assert_eq!(result["procedure"], serde_json::Value::Null);
    common::assert_valid_json("schemas/fix.schema.json", &json);

    let out = fix(&file, &["--target-os", TARGET_OS, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "OS version before: (6.2.9200 SP 0)",
        "OS version after: (5.0.2195 SP 4)",
        "net stop MSExchangeKMS",
        "no new event 5085",
        "no longer apply",
        &format!("its SHA-256 must be\n   {}", sha256(&file)),
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    assert_eq!(
        files_in(dir.path()),
        [
            "kmsmdb.edb",
            "kmsmdb.edb.bak",
            "kmsmdb.edb.evtdoctor-fix.json"
        ]
    );
    assert_eq!(sha256(&dir.path().join("kmsmdb.edb.bak")), original);
    let header =
        String::from_utf8(evtdoctor(&["db", "header", file.to_str().unwrap()]).stdout).unwrap();
    assert!(header.contains("OS Version: (5.0.2195 SP 4)"));

    let out = fix(&file, &["--rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sha256(&file), original);

    // A backup that changed since is not restored.
    std::fs::write(dir.path().join("kmsmdb.edb.bak"), b"tampered").unwrap();
    let out = fix(&file, &["--rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no longer has the SHA-256"));
}

/// Runs `fix` with the crash hook set to `at` (0 counts the points and crashes nowhere).
fn fix_crashing_at(file: &Path, at: u64) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args([
            "fix",
            "--db",
            file.to_str().unwrap(),
            "--target-os",
            TARGET_OS,
            "--yes",
        ])
        .env("EVTDOCTOR_TEST_CRASH_AT", at.to_string())
        .output()
        .unwrap()
}

/// The database holds the new file when `db check` passes on it and it carries the target OS.
pub(crate) fn holds_verified_new_file(file: &Path) -> bool {
    let check = evtdoctor(&["db", "check", file.to_str().unwrap(), "--jsonl"]);
    let header =
        String::from_utf8(evtdoctor(&["db", "header", file.to_str().unwrap()]).stdout).unwrap();
    check.status.code() == Some(0) && header.contains("OS Version: (5.0.2195 SP 4)")
}

#[test]
fn sigkill_at_any_point_leaves_the_original_or_the_verified_new_file() {
    common::needs!(Need::Corpus);
    let source = "srum_win10_2004_goese_4k.dat";
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), source);
    let original = sha256(&file);
    let counted = fix_crashing_at(&file, 0);
    assert_eq!(counted.status.code(), Some(0), "{}", stderr(&counted));
    let total: u64 = stderr(&counted)
        .split("test hook: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(total > 600, "{total} crash points");
    let points: Vec<u64> = (1..=60).map(|i| i * total / 60).collect();
    let (mut original_kept, mut replaced) = (0, 0);
    for at in points {
        let dir = tempfile::tempdir().unwrap();
        let file = kms_copy(dir.path(), source);
        let out = fix_crashing_at(&file, at);
        assert_eq!(out.status.code(), None, "point {at}: killed");
        // A backup under a backup's name is always complete.
        let backup = dir.path().join("kmsmdb.edb.bak");
        assert!(
            !backup.exists() || sha256(&backup) == original,
            "point {at}: cut backup"
        );
        if sha256(&file) == original {
            original_kept += 1;
        } else {
            assert!(
                holds_verified_new_file(&file),
                "point {at}: neither old nor new"
            );
            replaced += 1;
        }
        let rerun = fix(&file, &["--target-os", TARGET_OS, "--yes"]);
        assert_eq!(
            rerun.status.code(),
            Some(0),
            "point {at}: rerun: {}",
            stderr(&rerun)
        );
        assert!(holds_verified_new_file(&file));
    }
    assert!(
        original_kept >= 55 && replaced >= 1,
        "{original_kept} kept, {replaced} replaced"
    );
}

#[test]
fn disk_full_ends_with_a_clear_error_and_the_original_intact() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "srum_win10_2004_goese_4k.dat");
    let original = sha256(&file);
    // Files may not grow past 1 MiB (ulimit -f counts KiB in bash); an ignored SIGXFSZ turns
    // the limit into write errors, as a full disk gives.
    let script = format!(
        "trap '' XFSZ; ulimit -f 1024; exec '{}' fix --db '{}' --target-os '{TARGET_OS}' --yes",
        env!("CARGO_BIN_EXE_evtdoctor"),
        file.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("File too large"), "{}", stderr(&out));
    assert!(stderr(&out).contains("the database is untouched"));
    assert_eq!(sha256(&file), original);
    assert_eq!(files_in(dir.path()), ["kmsmdb.edb"]);
}

/// Unmounts the test's tmpfs however the test ends.
pub(crate) struct Mount(pub(crate) PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A read-only mount (CI runs as root, so file modes would stop nothing): a clear refusal,
/// and the database as it was.
#[test]
fn a_read_only_target_is_refused_and_left_intact() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let mounted = |args: &[&str]| Command::new("mount").args(args).status().unwrap().success();
    let point = dir.path().to_str().unwrap();
    assert!(
        mounted(&["-t", "tmpfs", "-o", "size=8m", "tmpfs", point]),
        "mount needs root"
    );
    let _mount = Mount(dir.path().to_path_buf());
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let original = sha256(&file);
    assert!(mounted(&["-o", "remount,ro", point]));
    let out = fix(&file, &["--target-os", TARGET_OS, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(message.contains("Read-only file system"), "{message}");
    assert!(message.contains("the database is untouched"), "{message}");
    assert_eq!(sha256(&file), original);
    assert_eq!(files_in(dir.path()), ["kmsmdb.edb"]);
}
