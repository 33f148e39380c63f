//! The remediation workflow around the defrag engine for the only copy of a key database:
//! refuse what a defrag cannot cure (dirty shutdown, a file in use, too little space), ask,
//! then rebuild, verify, back up and replace; or put the recorded backup back.

use super::engine::{self, DefragError, Plan, Report};
use super::preflight;
use super::replace::{self, beside, Manifest};
use anyhow::Context;
use evtdoctor_parsers::ese::header::{DbState, OsVersion};
use evtdoctor_parsers::ese::FileHeader;
use std::path::{Path, PathBuf};

/// Free space the database's folder needs, in percent of the database (temp file + slack).
const SPACE_NEEDED_PERCENT: u64 = 110;

/// What `fix` is asked to do.
pub struct FixPlan {
    pub db: PathBuf,
    /// The version of the server that will mount the file.
    pub target_os: Option<OsVersion>,
    /// Where the backup goes (default: beside the database).
    pub backup_dir: Option<PathBuf>,
    /// Rebuild and verify into the temp file, then delete it: nothing is changed.
    pub dry_run: bool,
    /// Replace a database that has other hard links.
    pub force: bool,
}

/// Whether the database may be replaced: asked once every check has passed.
pub type Confirm<'a> = dyn FnMut(&Path) -> std::io::Result<bool> + 'a;

fn refused(message: impl Into<String>) -> DefragError {
    DefragError::Refused(message.into())
}

/// Checks, asks, then defragments the database in place (or, in a dry run, only proves that
/// it can).
pub fn fix(plan: &FixPlan, confirm: &mut Confirm<'_>) -> Result<Report, DefragError> {
    let Some(target_os) = plan.target_os else {
        return Err(refused(
            "--target-os is required: the version of the server that will mount the file \
             (e.g. \"5.0.2195 SP 4\"); keeping the database's own version would not cure the \
             KMS case, where the indexes were built under an older service pack",
        ));
    };
    let (path, _lock) = engine::claim(&plan.db, plan.force, plan.backup_dir.as_deref())?;
    let db = preflight::open_for_repair(&path)?;
    let dir = beside(&path);
    if db.header.state != DbState::CLEAN_SHUTDOWN {
        return Err(refused(recovery_advice(&db.header, &dir)));
    }
    drop(db);
    let holders = preflight::processes_holding(&path);
    if !holders.is_empty() {
        let pids: Vec<String> = holders.iter().map(u32::to_string).collect();
        return Err(refused(format!(
            "the file is open in process(es) {}",
            pids.join(", ")
        )));
    }
    let size = std::fs::metadata(&path).map_err(anyhow::Error::new)?.len();
    let needed = size.saturating_mul(SPACE_NEEDED_PERCENT) / 100;
    if let Some(free) = preflight::free_space(&dir).filter(|&free| free < needed) {
        return Err(refused(format!(
            "{free} bytes free in {}, the rebuild needs about {needed} ({SPACE_NEEDED_PERCENT}% \
             of the database)",
            dir.display()
        )));
    }
    let temp = replace::default_temp(&path);
    if !plan.dry_run && !confirm(&path).map_err(anyhow::Error::new)? {
        return Err(not_confirmed());
    }
    let report = engine::execute(&Plan {
        file: path.clone(),
        temp: Some(temp.clone()),
        keep_temp: plan.dry_run,
        backup_dir: (!plan.dry_run).then(|| plan.backup_dir.clone().unwrap_or(dir)),
        target_os: Some(target_os),
    })?;
    if plan.dry_run {
        std::fs::remove_file(&temp)
            .with_context(|| format!("{}: cannot remove", temp.display()))?;
    }
    Ok(report)
}

fn not_confirmed() -> DefragError {
    refused("not confirmed (answer y, or pass --yes)")
}

/// Puts the backup recorded by the last fix back in place, once it is proven unchanged and
/// an ESE database, the file in place proven to be the one the fix wrote (or, with `force`,
/// kept as `NAME.replaced-TIMESTAMP`), and the replacement confirmed. Returns the record.
pub fn rollback(
    db: &Path,
    backup_dir: Option<&Path>,
    force: bool,
    confirm: &mut Confirm<'_>,
) -> Result<Manifest, DefragError> {
    let (db, _lock) = engine::claim(db, force, backup_dir)?;
    let dir = backup_dir.map_or_else(|| beside(&db), Path::to_path_buf);
    let manifest = Manifest::read(&dir, &db).map_err(|e| refused(format!("{e:#}")))?;
    if replace::sha256_of(&manifest.backup)? != manifest.backup_sha256 {
        return Err(refused(format!(
            "the backup {} no longer has the SHA-256 recorded for it",
            manifest.backup.display()
        )));
    }
    if let Err(e) = super::open(&manifest.backup) {
        return Err(refused(format!(
            "the backup is not an ESE database one can read: {e:#}"
        )));
    }
    let changed = replace::sha256_of(&db)? != manifest.new_sha256;
    if changed && !force {
        return Err(refused(format!(
            "{} is not the file the fix wrote (its SHA-256 differs from the one recorded):              it changed since, and a rollback would lose that; --force keeps it as              NAME.replaced-TIMESTAMP and rolls back",
            db.display()
        )));
    }
    if !confirm(&db).map_err(anyhow::Error::new)? {
        return Err(not_confirmed());
    }
    if changed {
        let kept = replace::keep_replaced(&db)?;
        eprintln!(
            "evtdoctor: note: the file in place differed from the one the fix wrote: kept as {}",
            kept.display()
        );
    }
    replace::restore(&manifest, &db)?;
    Ok(manifest)
}

/// Why a dirty database cannot be fixed here, and what the logs beside it allow.
fn recovery_advice(header: &FileHeader, dir: &Path) -> String {
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
