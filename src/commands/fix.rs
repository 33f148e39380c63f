//! `evtdoctor fix`: the remediation workflow around `db defrag` for the only copy of a key
//! database: refuse what a defrag cannot cure (dirty shutdown, a file in use, too little
//! space), back up with SHA-256, rebuild and verify, replace atomically, and print the whole
//! procedure around it; `--rollback` puts the recorded backup back.

use crate::cli::{FixArgs, Format};
use crate::commands::db_defrag::{
    self, beside, copy_with_crash_points, default_temp, sha256_of, Manifest, Outcome, Plan,
};
use crate::defrag::{self, crash, preflight};
use crate::ExitCode;
use anyhow::{Context, Result};
use evtdoctor_parsers::ese::header::DbState;
use std::fs::File;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Free space the database's folder needs, in percent of the database (temp file + slack).
const SPACE_NEEDED_PERCENT: u64 = 110;

pub fn run(args: &FixArgs) -> Result<ExitCode> {
    let code = if args.rollback {
        rollback(args)?
    } else {
        fix(args)?
    };
    if std::env::var_os("EVTDOCTOR_TEST_CRASH_AT").is_some() {
        eprintln!(
            "evtdoctor: test hook: {} crash points passed",
            crash::points_passed()
        );
    }
    Ok(code)
}

fn refused(db: &Path, message: &str) -> Result<ExitCode> {
    eprintln!("evtdoctor: {}: refused: {message}", db.display());
    Ok(ExitCode::Found)
}

fn fix(args: &FixArgs) -> Result<ExitCode> {
    let Some(target_os) = args.target_os else {
        return refused(
            &args.db,
            "--target-os is required: the version of the server that will mount the file \
             (e.g. \"5.0.2195 SP 4\"); keeping the database's own version would not cure the \
             KMS case, where the indexes were built under an older service pack",
        );
    };
    let db = match defrag::open(&args.db) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("evtdoctor: {e:#}");
            return Ok(ExitCode::Usage);
        }
    };
    let dir = beside(&args.db);
    if db.header.state != DbState::CLEAN_SHUTDOWN {
        return refused(&args.db, &recovery_advice(&db.header, &dir));
    }
    drop(db);
    let holders = preflight::processes_holding(&args.db);
    if !holders.is_empty() {
        let pids: Vec<String> = holders.iter().map(u32::to_string).collect();
        return refused(
            &args.db,
            &format!("the file is open in process(es) {}", pids.join(", ")),
        );
    }
    let size = std::fs::metadata(&args.db)?.len();
    let needed = size.saturating_mul(SPACE_NEEDED_PERCENT) / 100;
    if let Some(free) = preflight::free_space(&dir).filter(|&free| free < needed) {
        return refused(
            &args.db,
            &format!(
                "{free} bytes free in {}, the rebuild needs about {needed} ({SPACE_NEEDED_PERCENT}% \
                 of the database)",
                dir.display()
            ),
        );
    }
    let temp = default_temp(&args.db);
    // A temp file left by an interrupted run is never the database: start afresh.
    let _ = std::fs::remove_file(&temp);
    if !args.dry_run && !args.yes && !confirmed(&args.db)? {
        return refused(&args.db, "not confirmed (answer y, or pass --yes)");
    }
    let plan = Plan {
        file: args.db.clone(),
        temp: Some(temp.clone()),
        keep_temp: args.dry_run,
        backup_dir: (!args.dry_run).then(|| args.backup_dir.clone().unwrap_or(dir)),
        target_os: Some(target_os),
    };
    let report = match db_defrag::execute(&plan)? {
        Outcome::Done(report) => report,
        Outcome::Refused(message) => return refused(&args.db, &message),
        Outcome::Unreadable(message) => {
            eprintln!("evtdoctor: {message}");
            return Ok(ExitCode::Usage);
        }
    };
    if args.dry_run {
        std::fs::remove_file(&temp)
            .with_context(|| format!("{}: cannot remove", temp.display()))?;
    }
    let format = args.output.resolved();
    report.print(format)?;
    if format == Format::Table {
        let mut out = std::io::stdout().lock();
        if args.dry_run {
            writeln!(
                out,
                "\nDry run passed: the rebuilt file verified and was deleted; {} is unchanged.",
                args.db.display()
            )?;
        } else {
            writeln!(out, "\n{}", procedure(&args.db, report.after.hash()?))?;
        }
    }
    Ok(ExitCode::Clean)
}

/// Why a dirty database cannot be fixed here, and what the logs beside it allow.
fn recovery_advice(header: &evtdoctor_parsers::ese::FileHeader, dir: &Path) -> String {
    let logs = preflight::transaction_logs(dir);
    let (present, missing) = preflight::required_generations(header, &logs);
    let names: Vec<String> = logs.iter().map(|l| l.describe(header)).collect();
    let listed = |g: &[u32]| {
        g.iter()
            .map(|g| format!("0x{g:X}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut advice = format!(
        "the database is in state {:?}: it needs log recovery (eseutil /r) on the server \
         before a defrag; it requires log generations {}-{} (0x{:X}-0x{:X})",
        header.state.name(),
        header.log_required_min,
        header.log_required_max,
        header.log_required_min,
        header.log_required_max
    );
    if names.is_empty() {
        advice.push_str(&format!(
            "; no transaction log or checkpoint file is beside it in {}: copy E00*.log and \
             E00.chk from the server's log folder",
            dir.display()
        ));
    } else {
        advice.push_str(&format!("; beside it: {}", names.join(", ")));
        if !present.is_empty() {
            advice.push_str(&format!("; present: {}", listed(&present)));
        }
        if !missing.is_empty() {
            advice.push_str(&format!(
                "; missing: {} (eseutil /r cannot replay without them, unless the current \
                 log E00.log is one of them)",
                listed(&missing)
            ));
        }
    }
    advice
}

fn confirmed(db: &Path) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!(
        "Back up {}, rebuild it and replace it with the verified result? [y/N] ",
        db.display()
    );
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The steps around the fix: the tool runs on a copy off the server.
fn procedure(db: &Path, new_sha256: &str) -> String {
    let name = db.file_name().unwrap_or_default().to_string_lossy();
    format!(
        "What to do next (the fix ran on a copy; a Windows 2000 server cannot run evtdoctor):\n\
         1. On the server, keep the KMS service stopped (net stop MSExchangeKMS) while the file is out.\n\
         2. Copy this fixed {name} back over the server's copy, in the KMS data folder.\n\
         3. Compare hashes: copy the server's {name} off once more; its SHA-256 must be\n\
         \x20  {new_sha256}\n\
         4. Move the old transaction logs and checkpoint (E00*.log, E00.chk) aside, keeping them:\n\
         \x20  after a defrag they no longer apply to the database.\n\
         5. Start the KMS service (net start MSExchangeKMS).\n\
         6. Collect the new System and Application logs and run `evtdoctor analyze` on them:\n\
         \x20  no new event 5085 means the fix held.\n\
         7. Take a fresh full backup: older backups and transaction logs do not apply to the new file.\n\
         To undo: evtdoctor fix --rollback --db {}",
        db.display()
    )
}

fn rollback(args: &FixArgs) -> Result<ExitCode> {
    let dir = args.backup_dir.clone().unwrap_or_else(|| beside(&args.db));
    let manifest = match Manifest::read(&dir, &args.db) {
        Ok(manifest) => manifest,
        Err(e) => return refused(&args.db, &format!("{e:#}")),
    };
    let backup_sha = sha256_of(&manifest.backup)?;
    if backup_sha != manifest.backup_sha256 {
        return refused(
            &args.db,
            &format!(
                "the backup {} no longer has the SHA-256 recorded for it",
                manifest.backup.display()
            ),
        );
    }
    if !args.yes && !confirmed(&args.db)? {
        return refused(&args.db, "not confirmed (answer y, or pass --yes)");
    }
    let temp = default_temp(&args.db);
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
    db_defrag::replace(&temp, &args.db)?;
    println!(
        "Restored {} from {} (SHA-256 {}).",
        args.db.display(),
        manifest.backup.display(),
        manifest.backup_sha256
    );
    Ok(ExitCode::Clean)
}
