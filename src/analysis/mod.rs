//! The analyze engine: find the inputs, read and correlate them, diagnose, optionally fix the
//! database, and put it all in one [`Report`]. Rendering and writing the report are the
//! caller's.

mod database_fix;
mod export_offsets;
mod read;

use crate::defrag::files::same_file;
use crate::defrag::fix::Confirm;
use crate::diagnose::rules::{FileProblem, Pack};
use crate::diagnose::{diagnose_with, Context, DatabaseFile};
use crate::input::{self, ReadOptions};
use crate::output::print_path_errors;
use crate::report::{InputSummary, Report, ReportOptions, TimeZone};
use std::path::{Path, PathBuf};

/// What to analyze and how.
pub struct AnalysisRequest<'a> {
    /// Log files or directories.
    pub paths: &'a [PathBuf],
    /// Folders of extra rule files.
    pub rule_dirs: &'a [PathBuf],
    /// How to read the inputs (they are always hashed: the report identifies them).
    pub read: ReadOptions,
    pub time_zone: TimeZone,
    /// The database the logs are about (`--db`).
    pub database: Option<&'a Path>,
    /// The copy of the database to fix after the diagnosis (`--fix-db`).
    pub fix: Option<FixRequest<'a>>,
    /// The file the report will be written to: refused before reading if it is an input.
    pub report_file: Option<&'a Path>,
    /// Look up the fix `evtdoctor fix` recorded for `database` (it hashes the database).
    pub find_applied_fix: bool,
}

/// The database `--fix-db` names, and who says yes before it is replaced.
pub struct FixRequest<'a> {
    pub db: &'a Path,
    pub confirm: &'a mut Confirm<'a>,
}

/// A finished analysis.
pub struct Analysis {
    pub report: Report,
    /// Every file read (logs and databases): the report must not overwrite one.
    pub inputs: Vec<PathBuf>,
    /// Whether a finding is active (the exit code says so).
    pub found: bool,
}

/// Why no report was made.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The extra rule files do not read (each problem is its own line).
    #[error("{} problem(s) in the rule files", .0.len())]
    Rules(Vec<FileProblem>),
    #[error("{}: refused: the report would overwrite the input {}", output.display(), input.display())]
    OverwritesInput { output: PathBuf, input: PathBuf },
    /// The paths cannot be used as given (standard input named twice).
    #[error(transparent)]
    Inputs(anyhow::Error),
    #[error("no readable input")]
    NoReadableInput,
    /// Fixing the database failed after it had started (not a refusal).
    #[error(transparent)]
    FixFailed(anyhow::Error),
}

/// Runs the whole analysis. Progress, each input's problems and the fix's questions and notes
/// go to stderr as it runs.
pub fn analyze(request: AnalysisRequest<'_>) -> Result<Analysis, AnalysisError> {
    let pack = Pack::with_dirs(request.rule_dirs).map_err(AnalysisError::Rules)?;
    let (files, path_errors) = input::discover(request.paths).map_err(AnalysisError::Inputs)?;
    print_path_errors(&path_errors);
    let fix_db = request.fix.as_ref().map(|fix| fix.db);
    if let Some(output) = request.report_file {
        let mut inputs = files.iter().map(PathBuf::as_path).chain(fix_db);
        if let Some(input) = inputs.find(|i| same_file(input::file_of(i), output)) {
            return Err(AnalysisError::OverwritesInput {
                output: output.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }

    let options = ReadOptions {
        hash: true,
        ..request.read
    };
    let (mut summaries, correlation) = read::correlate(&files, options, pack.watched());
    summaries.extend(
        path_errors
            .iter()
            .map(|e| InputSummary::missing(&e.path, &e.message)),
    );
    if !summaries.iter().any(|i| i.unreadable.is_none()) {
        return Err(AnalysisError::NoReadableInput);
    }

    let database = request.database.map(DatabaseFile::inspect);
    let diagnosis = diagnose_with(
        &correlation,
        &Context {
            database: database.clone(),
        },
        &pack,
    );
    let found = diagnosis.has_active_findings();
    let fix = match request.fix {
        Some(fix) => {
            let target = diagnosis.database_defrag(&correlation);
            Some(database_fix::fix(fix.db, target, fix.confirm).map_err(AnalysisError::FixFailed)?)
        }
        None => None,
    };
    let mut report = Report::new(
        summaries,
        correlation,
        diagnosis,
        ReportOptions {
            time_zone: request.time_zone,
            database,
        },
    );
    report.fix = fix;
    // After the fix: `--db` and `--fix-db` may name the same file.
    report.applied_fix = request
        .database
        .filter(|_| request.find_applied_fix)
        .and_then(database_fix::applied);
    let inputs = files
        .into_iter()
        .chain(request.database.map(Path::to_path_buf))
        .chain(fix_db.map(Path::to_path_buf))
        .collect();
    Ok(Analysis {
        report,
        inputs,
        found,
    })
}
