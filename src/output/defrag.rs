//! What `db defrag`, `fix` and `analyze --fix-db` print: the defrag report (table, CSV or
//! JSON), the steps after a fix, and why nothing was changed.

use super::{write_aligned_fields, write_fields_csv, write_json};
use crate::cli::Format;
use crate::defrag::engine::{DefragError, Report};
use crate::defrag::replace::Manifest;
use crate::defrag::unicode_keys::UnicodeIndex;
use crate::knowledge::kms;
use crate::ExitCode;
use anyhow::Result;
use serde::Serialize;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

/// A defrag's result as JSON: numbers as numbers, snake_case keys, `null` for what was not
/// made or not computed (published as docs/schemas/defrag.schema.json).
#[derive(Debug, Clone, Serialize)]
pub struct DefragResult {
    pub database: String,
    pub new_file: String,
    pub backup: Option<String>,
    pub size_before: u64,
    pub size_after: u64,
    pub sha256_before: Option<String>,
    pub sha256_after: Option<String>,
    pub os_version_before: String,
    pub os_version_after: String,
    pub pages_after: u32,
    pub trees_rebuilt: u32,
    pub entries_copied: u64,
    pub deleted_entries_dropped: u64,
    /// Tables deleted in the catalog whose pages await ESE's cleanup: left out of the new file.
    pub deleted_tables_left_out: Vec<String>,
    pub tables_verified: usize,
    pub records_verified: u64,
    pub long_value_chunks_verified: u64,
    pub index_entries_verified: u64,
    pub unicode_indexes: Vec<UnicodeIndex>,
}

impl DefragResult {
    pub fn of(report: &Report) -> DefragResult {
        let path = |p: &Path| p.display().to_string();
        DefragResult {
            database: path(&report.file),
            new_file: path(&report.new_file),
            backup: report.backup.as_deref().map(path),
            size_before: report.before.size,
            size_after: report.after.size,
            sha256_before: report.before.sha256.clone(),
            sha256_after: report.after.sha256.clone(),
            os_version_before: report.before.os_version.to_string(),
            os_version_after: report.after.os_version.to_string(),
            pages_after: report.summary.pages,
            trees_rebuilt: report.summary.trees,
            entries_copied: report.summary.entries,
            deleted_entries_dropped: report.summary.dropped,
            deleted_tables_left_out: report.summary.deleted_tables.clone(),
            tables_verified: report.verified.tables,
            records_verified: report.verified.records,
            long_value_chunks_verified: report.verified.long_value_chunks,
            index_entries_verified: report.verified.index_entries,
            unicode_indexes: report.unicode.clone(),
        }
    }
}

/// What a fix came to, as `fix --json` prints it and `analyze --fix-db` puts in its report
/// (published as docs/schemas/fix.schema.json).
#[derive(Debug, Clone, Serialize)]
pub struct FixResult {
    pub status: FixStatus,
    pub database: String,
    /// The OS version the indexes were stamped for.
    pub target_os: Option<String>,
    /// Why nothing was changed (refused or not attempted).
    pub reason: Option<String>,
    pub defrag: Option<DefragResult>,
    /// The steps on the server after a fix (the fix runs on a copy taken off it).
    pub procedure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixStatus {
    Fixed,
    DryRunPassed,
    Refused,
    NotAttempted,
}

impl FixResult {
    /// A finished fix (or dry run), with the procedure for a real one.
    pub fn done(db: &Path, report: &Report, dry_run: bool) -> Result<FixResult> {
        Ok(FixResult {
            status: if dry_run {
                FixStatus::DryRunPassed
            } else {
                FixStatus::Fixed
            },
            database: db.display().to_string(),
            target_os: Some(report.after.os_version.to_string()),
            reason: None,
            defrag: Some(DefragResult::of(report)),
            procedure: if dry_run {
                None
            } else {
                Some(kms::procedure(db, report.after.hash()?))
            },
        })
    }

    /// A fix that changed nothing, and why.
    pub fn unchanged(db: &Path, status: FixStatus, reason: String) -> FixResult {
        FixResult {
            status,
            database: db.display().to_string(),
            target_os: None,
            reason: Some(reason),
            defrag: None,
            procedure: None,
        }
    }

    /// The fix as text for people: the defrag's fields, then the next steps or the reason.
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        if let Some(defrag) = &self.defrag {
            let _ = write_aligned_fields(&mut out, &fields(defrag));
        }
        let mut text = String::from_utf8_lossy(&out).into_owned();
        match self.status {
            FixStatus::DryRunPassed => text.push_str(&format!(
                "\nDry run passed: the rebuilt file verified and was deleted; {} is unchanged.\n",
                self.database
            )),
            FixStatus::Fixed => {
                if let Some(procedure) = &self.procedure {
                    text.push_str(&format!("\n{procedure}\n"));
                }
            }
            FixStatus::Refused | FixStatus::NotAttempted => text.push_str(&format!(
                "Not fixed: {}\n",
                self.reason.as_deref().unwrap_or("")
            )),
        }
        text
    }
}

/// Writes a finished defrag in `format`.
pub fn write_report(out: &mut dyn Write, report: &Report, format: Format) -> Result<()> {
    let result = DefragResult::of(report);
    let fields = fields(&result);
    let mut out = BufWriter::new(out);
    match format {
        Format::Table | Format::Markdown => {
            write_aligned_fields(&mut out, &fields)?;
            writeln!(
                out,
                "\nOlder backups and transaction logs no longer apply to the new file: \
                 take a fresh full backup once the service runs on it."
            )?;
        }
        Format::Csv => {
            write_fields_csv(&mut out, &fields)?;
        }
        Format::Json | Format::Jsonl => {
            write_json(&mut out, &result, format == Format::Json)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes a finished fix: the report with the steps on the server (or what the dry run
/// showed) in a table, the typed result in JSON, the defrag's fields in CSV.
pub fn print_fix(
    out: &mut dyn Write,
    db: &Path,
    report: &Report,
    format: Format,
    dry_run: bool,
) -> Result<()> {
    let result = FixResult::done(db, report, dry_run)?;
    let mut out = BufWriter::new(out);
    match format {
        Format::Json | Format::Jsonl => write_json(&mut out, &result, format == Format::Json)?,
        Format::Csv => write_fields_csv(&mut out, &fields(&DefragResult::of(report)))?,
        Format::Table | Format::Markdown => out.write_all(result.to_text().as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

pub fn print_restored(out: &mut dyn Write, db: &Path, manifest: &Manifest) -> io::Result<()> {
    writeln!(
        out,
        "Restored {} from {} (SHA-256 {}).",
        db.display(),
        manifest.backup.display(),
        manifest.backup_sha256
    )
}

/// Says on stderr why nothing was changed; the exit code tells a refusal (1) from a file that
/// is not a database (2). Other failures go on to the caller.
pub fn print_refusal(file: &Path, error: DefragError) -> Result<ExitCode> {
    match error {
        DefragError::Refused(message) => {
            crate::error!("{}: refused: {message}", file.display());
            Ok(ExitCode::Found)
        }
        DefragError::Unreadable(message) => {
            crate::error!("{message}");
            Ok(ExitCode::Usage)
        }
        DefragError::Failed(error) => Err(error),
    }
}

/// Asks on the terminal before a database is rebuilt and replaced.
pub fn ask_to_replace(db: &Path) -> io::Result<bool> {
    ask(&replace_question(db))
}

fn replace_question(db: &Path) -> String {
    format!(
        "Back up {}, rebuild it and replace it with the verified result?",
        db.display()
    )
}

/// Asks on the terminal before a rollback puts the recorded backup back over the database.
pub fn ask_to_restore(db: &Path) -> io::Result<bool> {
    ask(&restore_question(db))
}

fn restore_question(db: &Path) -> String {
    format!(
        "Put the backup recorded by the last fix back in place of {}?",
        db.display()
    )
}

/// A yes/no question on stderr, no by default; without a terminal the answer is no.
fn ask(question: &str) -> io::Result<bool> {
    if !io::stdin().is_terminal() || !io::stderr().is_terminal() {
        return Ok(false);
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|dialoguer::Error::IO(e)| e)
}

fn shown_hash(hash: &Option<String>) -> String {
    hash.clone()
        .unwrap_or_else(|| "not computed (no backup)".into())
}

fn fields(result: &DefragResult) -> Vec<(&'static str, String)> {
    vec![
        ("database", result.database.clone()),
        ("new file", result.new_file.clone()),
        (
            "backup",
            result.backup.clone().unwrap_or_else(|| "none".into()),
        ),
        ("size before", result.size_before.to_string()),
        ("size after", result.size_after.to_string()),
        ("sha256 before", shown_hash(&result.sha256_before)),
        ("sha256 after", shown_hash(&result.sha256_after)),
        ("OS version before", result.os_version_before.clone()),
        ("OS version after", result.os_version_after.clone()),
        ("pages after", result.pages_after.to_string()),
        ("trees rebuilt", result.trees_rebuilt.to_string()),
        ("entries copied", result.entries_copied.to_string()),
        (
            "deleted entries dropped",
            result.deleted_entries_dropped.to_string(),
        ),
        (
            "deleted tables left out (awaiting ESE's cleanup)",
            match result.deleted_tables_left_out.as_slice() {
                [] => "none".into(),
                names => names.join(", "),
            },
        ),
        ("tables verified", result.tables_verified.to_string()),
        ("records verified", result.records_verified.to_string()),
        (
            "long-value chunks verified",
            result.long_value_chunks_verified.to_string(),
        ),
        (
            "index entries verified",
            result.index_entries_verified.to_string(),
        ),
        (
            "Unicode text indexes",
            unicode_summary(&result.unicode_indexes),
        ),
    ]
}

/// One clause per index with Unicode text in its key.
fn unicode_summary(indexes: &[UnicodeIndex]) -> String {
    if indexes.is_empty() {
        return "none".into();
    }
    let clauses: Vec<String> = indexes
        .iter()
        .map(|i| {
            let ascii = match i.non_ascii {
                0 => "all plain ASCII".to_owned(),
                n => format!("{n} not plain ASCII"),
            };
            format!(
                "{}.{} ({}): {} values, {ascii}",
                i.table,
                i.index,
                i.columns.join(", "),
                i.values
            )
        })
        .collect();
    clauses.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_asks_its_own_question() {
        let db = Path::new("kmsmdb.edb");
        assert_eq!(
            replace_question(db),
            "Back up kmsmdb.edb, rebuild it and replace it with the verified result?"
        );
        assert_eq!(
            restore_question(db),
            "Put the backup recorded by the last fix back in place of kmsmdb.edb?"
        );
    }
}
