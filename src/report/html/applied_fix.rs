//! The fix `evtdoctor fix` applied to the `--db` database, as its manifest
//! (`NAME.evtdoctor-fix.json` beside the database) records it: the report draws it on the
//! timeline and says whether the database still is the fixed file.

use crate::defrag::replace::{beside, sha256_of, Manifest};
use chrono::{DateTime, Utc};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct AppliedFix {
    pub database: String,
    pub backup: String,
    pub backup_sha256: String,
    pub new_sha256: String,
    /// When the manifest was written (the end of the fix), from its modification time.
    pub time: Option<DateTime<Utc>>,
    /// Whether the database on disk still has the fixed file's SHA-256.
    pub still_in_place: Option<bool>,
}

impl AppliedFix {
    /// The fix recorded for `database`, if `fix` ran on it (with its default backup folder).
    pub fn find(database: &Path) -> Option<AppliedFix> {
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
}
