//! What `db defrag`, `fix` and `analyze --fix-db` print: the defrag report (table, CSV or
//! JSON), the steps after a fix, and why nothing was changed.

use super::{write_aligned_fields, write_fields_csv, write_json};
use crate::cli::Format;
use crate::defrag::engine::{DefragError, Facts, Report};
use crate::defrag::replace::Manifest;
use crate::knowledge::kms;
use crate::ExitCode;
use anyhow::Result;
use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::path::Path;

/// Prints a finished defrag in `format`.
pub fn print_report(report: &Report, format: Format) -> Result<()> {
    let fields = fields(report);
    let mut out = BufWriter::new(io::stdout().lock());
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
            let mut object: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| (k.replace(' ', "_"), serde_json::Value::String(v.clone())))
                .collect();
            object.insert(
                "unicode_indexes".into(),
                serde_json::to_value(&report.unicode)?,
            );
            write_json(&mut out, &object, format == Format::Json)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Prints a finished fix: the report, then (in a table) what the dry run showed or the steps
/// on the server.
pub fn print_fix(db: &Path, report: &Report, format: Format, dry_run: bool) -> Result<()> {
    print_report(report, format)?;
    if format == Format::Table {
        let mut out = io::stdout().lock();
        if dry_run {
            writeln!(
                out,
                "\nDry run passed: the rebuilt file verified and was deleted; {} is unchanged.",
                db.display()
            )?;
        } else {
            writeln!(out, "\n{}", kms::procedure(db, report.after.hash()?))?;
        }
    }
    Ok(())
}

pub fn print_restored(db: &Path, manifest: &Manifest) {
    println!(
        "Restored {} from {} (SHA-256 {}).",
        db.display(),
        manifest.backup.display(),
        manifest.backup_sha256
    );
}

/// Says on stderr why nothing was changed; the exit code tells a refusal (1) from a file that
/// is not a database (2). Other failures go on to the caller.
pub fn print_refusal(file: &Path, error: DefragError) -> Result<ExitCode> {
    match error {
        DefragError::Refused(message) => {
            eprintln!("evtdoctor: {}: refused: {message}", file.display());
            Ok(ExitCode::Found)
        }
        DefragError::Unreadable(message) => {
            eprintln!("evtdoctor: {message}");
            Ok(ExitCode::Usage)
        }
        DefragError::Failed(error) => Err(error),
    }
}

/// Asks on the terminal before a database is replaced; without a terminal the answer is no.
pub fn ask_to_replace(db: &Path) -> io::Result<bool> {
    if !io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!(
        "Back up {}, rebuild it and replace it with the verified result? [y/N] ",
        db.display()
    );
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn shown_hash(facts: &Facts) -> String {
    facts
        .sha256
        .clone()
        .unwrap_or_else(|| "not computed (no backup)".into())
}

fn fields(report: &Report) -> Vec<(&'static str, String)> {
    let path = |p: &Path| p.display().to_string();
    vec![
        ("database", path(&report.file)),
        ("new file", path(&report.new_file)),
        (
            "backup",
            report.backup.as_deref().map_or("none".into(), path),
        ),
        ("size before", report.before.size.to_string()),
        ("size after", report.after.size.to_string()),
        ("sha256 before", shown_hash(&report.before)),
        ("sha256 after", shown_hash(&report.after)),
        ("OS version before", report.before.os_version.to_string()),
        ("OS version after", report.after.os_version.to_string()),
        ("pages after", report.summary.pages.to_string()),
        ("trees rebuilt", report.summary.trees.to_string()),
        ("entries copied", report.summary.entries.to_string()),
        (
            "deleted entries dropped",
            report.summary.dropped.to_string(),
        ),
        (
            "deleted tables left out (awaiting ESE's cleanup)",
            match report.summary.deleted_tables.as_slice() {
                [] => "none".into(),
                names => names.join(", "),
            },
        ),
        ("tables verified", report.verified.tables.to_string()),
        ("records verified", report.verified.records.to_string()),
        (
            "long-value chunks verified",
            report.verified.long_value_chunks.to_string(),
        ),
        (
            "index entries verified",
            report.verified.index_entries.to_string(),
        ),
        ("Unicode text indexes", unicode_summary(report)),
    ]
}

/// One clause per index with Unicode text in its key.
fn unicode_summary(report: &Report) -> String {
    if report.unicode.is_empty() {
        return "none".into();
    }
    let clauses: Vec<String> = report
        .unicode
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
