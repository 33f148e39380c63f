//! `fix` and `db defrag` against hostile paths, races and a wrong rollback: planted symlinks,
//! symlinked and hard-linked databases, a database changed after the fix, a database owned by
//! another user, a second run at once, leftovers of a crashed run.

use crate::common;
use common::Need;

use super::fix_cli::{fix, holds_verified_new_file, kms_copy, sha256, stderr, Mount, TARGET_OS};
use common::evtdoctor;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fix_yes(file: &Path) -> Output {
    fix(file, &["--target-os", TARGET_OS, "--yes"])
}

fn os_version_of(file: &Path) -> String {
    let header = evtdoctor(&["db", "header", file.to_str().unwrap()]);
    let text = String::from_utf8(header.stdout).unwrap();
    text.lines()
        .find(|l| l.contains("OS Version:"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn planted_symlinks_are_never_followed() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"not yours").unwrap();
    let names = [
        "kmsmdb.edb.evtdoctor-fix.json.tmp",
        "kmsmdb.edb.evtdoctor-fix.json",
        "kmsmdb.edb.defrag-tmp",
        "kmsmdb.edb.bak-tmp",
        "kmsmdb.edb.bak",
    ];
    for name in names {
        std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
    }
    let out = fix_yes(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for leftover in [&names[0], &names[2], &names[3]] {
        assert!(
            stderr(&out).contains(&format!("removed {}", dir.path().join(leftover).display())),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"not yours");
    // The planted `.bak` is skipped, the record replaces the planted link (not its target).
    let manifest = dir.path().join("kmsmdb.edb.evtdoctor-fix.json");
    assert!(!manifest.symlink_metadata().unwrap().is_symlink());
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(
        record["backup"],
        dir.path().join("kmsmdb.edb.1.bak").to_str().unwrap()
    );
    assert_eq!(os_version_of(&file), "OS Version: (5.0.2195 SP 4)");

    // A symlink planted at the lock file stops the run before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let before = sha256(&file);
    std::os::unix::fs::symlink(&victim, dir.path().join("kmsmdb.edb.evtdoctor.lock")).unwrap();
    let out = fix_yes(&file);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("the database is untouched"));
    assert_eq!(sha256(&file), before);
    assert_eq!(std::fs::read(&victim).unwrap(), b"not yours");
}

#[test]
fn a_symlinked_database_has_its_target_fixed_and_a_hard_linked_one_needs_force() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let file = kms_copy(&real, "dissect_basic_4k.edb");
    let link = dir.path().join("link.edb");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = fix_yes(&link);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is a symbolic link: working on its target"),
        "{}",
        stderr(&out)
    );
    assert!(link.symlink_metadata().unwrap().is_symlink());
    assert_eq!(os_version_of(&file), "OS Version: (5.0.2195 SP 4)");
    assert!(real.join("kmsmdb.edb.bak").exists());

    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let other = dir.path().join("other-name.edb");
    std::fs::hard_link(&file, &other).unwrap();
    let before = sha256(&file);
    let out = fix_yes(&file);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("1 other hard link(s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sha256(&file), before);
    let out = fix(&file, &["--target-os", TARGET_OS, "--yes", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sha256(&other), before);
    assert_eq!(os_version_of(&file), "OS Version: (5.0.2195 SP 4)");
}

#[test]
fn rollback_refuses_a_file_changed_since_the_fix_unless_forced() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let original = sha256(&file);
    assert_eq!(fix_yes(&file).status.code(), Some(0));
    // Newer data copied over the fixed database.
    let later = tempfile::tempdir().unwrap();
    let newer = kms_copy(later.path(), "dissect_index_4k.edb");
    std::fs::copy(&newer, &file).unwrap();
    let out = fix(&file, &["--rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not the file the fix wrote"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sha256(&file), sha256(&newer));
    let out = fix(&file, &["--rollback", "--yes", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sha256(&file), original);
    let kept: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("kmsmdb.edb.replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "{}", stderr(&out));
    assert_eq!(sha256(&kept[0]), sha256(&newer));
}

#[test]
fn an_older_record_with_relative_paths_rolls_back_from_another_folder() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let original = sha256(&file);
    assert_eq!(fix_yes(&file).status.code(), Some(0));
    let manifest = dir.path().join("kmsmdb.edb.evtdoctor-fix.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(record["database"], file.to_str().unwrap());
    record["database"] = "./kmsmdb.edb".into();
    record["backup"] = "./kmsmdb.edb.bak".into();
    std::fs::write(&manifest, serde_json::to_vec(&record).unwrap()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(["fix", "--rollback", "--yes", "--db", file.to_str().unwrap()])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sha256(&file), original);
}

/// Run as root (CI is): a 0600 database owned by nobody stays so, and the backup and the
/// record are no wider.
#[test]
fn owner_and_mode_are_kept_and_the_backup_is_no_wider() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(&file, Some(nobody), Some(nobody)).expect("chown needs root");
    let out = fix_yes(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (nobody, nobody, 0o600)
    );
    for name in ["kmsmdb.edb.bak", "kmsmdb.edb.evtdoctor-fix.json"] {
        let mode = std::fs::metadata(dir.path().join(name)).unwrap().mode();
        assert_eq!(mode & 0o077, 0, "{name}: {mode:o}");
    }
    assert_eq!(os_version_of(&file), "OS Version: (5.0.2195 SP 4)");
}

#[test]
fn a_second_run_is_refused_naming_the_holder_and_a_stale_lock_is_taken_over() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let before = sha256(&file);
    let lock = dir.path().join("kmsmdb.edb.evtdoctor.lock");
    std::fs::write(&lock, b"4242\n").unwrap();
    // --no-fork: the process holding the lock is the one killed below.
    let mut holder = Command::new("flock")
        .arg("--no-fork")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    // Until flock(1) holds the lock, a run would take it over.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let outcomes = [
        fix_yes(&file),
        fix(&file, &["--rollback", "--yes"]),
        evtdoctor(&["db", "defrag", file.to_str().unwrap()]),
    ];
    holder.kill().unwrap();
    holder.wait().unwrap();
    for out in outcomes {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out)
                .contains("another evtdoctor run (process 4242) is working on this database"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(sha256(&file), before);
    // The holder is gone: its lock file is taken over with a note.
    let out = fix_yes(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("took over the lock"),
        "{}",
        stderr(&out)
    );
    assert!(!lock.exists());
}

/// Two real `fix` processes on one database: the second, started while the first holds the
/// run lock, is refused naming the first's PID; the first replaces the database with the
/// verified new file, and its rollback restores the original.
#[test]
fn two_fixes_at_once_one_runs_the_other_is_refused_naming_it() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    // The largest corpus database: its fix lasts long enough for the second to start.
    let file = kms_copy(dir.path(), "dissect_large_32k.edb");
    let original = sha256(&file);
    let lock = dir.path().join("kmsmdb.edb.evtdoctor.lock");
    let spawn_fix = || {
        Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
            .args(["fix", "--db", file.to_str().unwrap()])
            .args(["--target-os", TARGET_OS, "--yes"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn_fix();
    let pid = first.id().to_string();
    // The first holds the lock once its PID is in the lock file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&lock).map_or(true, |held| held.trim() != pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first fix never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let second = spawn_fix().wait_with_output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert_eq!(
        stderr(&second)
            .replace(lock.to_str().unwrap(), "LOCK")
            .replace(file.to_str().unwrap(), "FILE"),
        format!(
            "evtdoctor: FILE: refused: another evtdoctor run (process {pid}) is working on this \
             database (lock file LOCK); the database is untouched\n"
        )
    );
    assert!(second.stdout.is_empty());
    assert!(holds_verified_new_file(&file));
    assert!(!lock.exists());
    let rollback = fix(&file, &["--rollback", "--yes"]);
    assert_eq!(rollback.status.code(), Some(0), "{}", stderr(&rollback));
    assert_eq!(sha256(&file), original);
}

#[test]
fn defrag_removes_the_leftovers_of_a_crashed_run_but_refuses_an_existing_temp() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    std::fs::write(dir.path().join("kmsmdb.edb.defrag-tmp"), b"cut").unwrap();
    std::fs::write(dir.path().join("kmsmdb.edb.bak-tmp"), b"cut").unwrap();
    let out = evtdoctor(&["db", "defrag", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("kmsmdb.edb.defrag-tmp, left by an interrupted run"));
    assert!(stderr(&out).contains("kmsmdb.edb.bak-tmp, left by an interrupted run"));
    // An explicit temp path that exists may be anything, the database itself included.
    let before = sha256(&file);
    let file_arg = file.to_str().unwrap();
    let out = evtdoctor(&["db", "defrag", file_arg, "--temp", file_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("File exists"), "{}", stderr(&out));
    assert_eq!(sha256(&file), before);
}

/// A sparse database on a full tmpfs: reading its holes needs memory the disk has not got,
/// which through a mapping was a SIGBUS; through positioned reads it is a clean outcome.
#[test]
fn a_sparse_source_on_a_full_disk_ends_cleanly() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let point = dir.path().to_str().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs", point])
        .status()
        .unwrap()
        .success();
    assert!(mounted, "mount needs root");
    let _mount = Mount(dir.path().to_path_buf());
    let file = kms_copy(dir.path(), "dissect_basic_4k.edb");
    let before = sha256(&file);
    let length = std::fs::metadata(&file).unwrap().len();
    // 32 MiB of holes past the end: pages of zeros, which ESE reads as unused.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(length + (32 << 20))
        .unwrap();
    let mut filler = std::fs::File::create(dir.path().join("filler")).unwrap();
    let block = vec![1u8; 64 << 10];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);
    for out in [
        evtdoctor(&["db", "defrag", file.to_str().unwrap(), "--no-backup"]),
        fix_yes(&file),
    ] {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("No space left on device"),
            "{}",
            stderr(&out)
        );
    }
    let mut zeros = std::fs::read(&file).unwrap();
    assert_eq!(zeros.len() as u64, length + (32 << 20));
    zeros.truncate(length as usize);
    use sha2::{Digest, Sha256};
    assert_eq!(hex::encode(Sha256::digest(&zeros)), before);
}

/// A report never replaces an input, whatever name the input is given by.
#[test]
fn a_report_never_overwrites_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("System.evtx");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kms-sp4/System.evtx");
    std::fs::copy(&sample, &log).unwrap();
    let other_name = dir.path().join("report.txt");
    std::fs::hard_link(&log, &other_name).unwrap();
    let before = sha256(&log);
    for output in [&log, &other_name] {
        let out = evtdoctor(&[
            "analyze",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
            "--output",
            output.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("refused: the report would overwrite the input"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(sha256(&log), before);
}
