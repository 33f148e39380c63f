//! `--fix-db`: the fix after the diagnosis; and the fix `evtdoctor fix` recorded for `--db`.

use crate::defrag::crash;
use crate::defrag::engine::DefragError;
use crate::defrag::fix::{self, Confirm, FixPlan};
use crate::defrag::replace::{beside, sha256_of, Manifest};
use crate::diagnose::NoRemedy;
use crate::output::defrag::{print_refusal, FixResult, FixStatus};
use crate::report::AppliedFix;
use anyhow::Result;
use chrono::{DateTime, Utc};
use evtdoctor_parsers::ese::header::OsVersion;
use std::path::Path;

/// Fixes the database once diagnosed, for the OS version the logs show running (after
/// `confirm` says yes); the result goes into the report, and analyze's exit code stays the
/// diagnosis's.
pub fn fix(
    db: &Path,
    target: Result<OsVersion, NoRemedy>,
    confirm: &mut Confirm<'_>,
) -> Result<FixResult> {
    let os = match target {
        Ok(os) => os,
        Err(reason) => {
            crate::note!("evtdoctor: --fix-db: not fixing {}: {reason}", db.display());
            return Ok(FixResult::unchanged(
                db,
                FixStatus::NotAttempted,
                reason.to_string(),
            ));
        }
    };
    crate::note!(
        "evtdoctor: the logs show {os} running; fixing {} for it",
        db.display()
    );
    let plan = FixPlan {
        db: db.to_path_buf(),
        target_os: Some(os),
        backup_dir: None,
        dry_run: false,
        force: false,
    };
    let result = match fix::fix(&plan, confirm) {
        Ok(report) => FixResult::done(db, &report, false)?,
        Err(DefragError::Failed(error)) => return Err(error),
        Err(error) => {
            let reason = error.to_string();
            print_refusal(db, error)?;
            FixResult::unchanged(db, FixStatus::Refused, reason)
        }
    };
    crash::report_points_passed();
    Ok(result)
}

/// The fix recorded for `database`, if `evtdoctor fix` ran on it (with its default backup
/// folder).
pub fn applied(database: &Path) -> Option<AppliedFix> {
    let dir = beside(database);
    let manifest = Manifest::read(&dir, database).ok()?;
    let time = std::fs::metadata(Manifest::path(&dir, database))
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from);
    let still_in_place = sha256_of(database)
        .ok()
        .map(|sha| sha == manifest.new_sha256);
    Some(AppliedFix {
        database: manifest.database.display().to_string(),
        backup: manifest.backup.display().to_string(),
        backup_sha256: manifest.backup_sha256,
        new_sha256: manifest.new_sha256,
        time,
        still_in_place,
    })
}
