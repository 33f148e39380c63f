//! The fix `evtdoctor fix` applied to the `--db` database, as its manifest
//! (`NAME.evtdoctor-fix.json` beside the database) records it: the HTML report draws it on the
//! timeline and says whether the database still is the fixed file.

use chrono::{DateTime, Utc};

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
