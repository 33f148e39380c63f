//! `evtdoctor analyze`: read every input, correlate, diagnose, report.

use crate::cli::{AnalyzeArgs, ReportFormat};
use crate::correlate::{observe_batch, Correlator, Observed};
use crate::defrag::crash;
use crate::defrag::engine::DefragError;
use crate::defrag::files::same_file;
use crate::defrag::fix::{self, FixPlan};
use crate::diagnose::rules::Pack;
use crate::diagnose::{diagnose_with, Context, DatabaseFile, NoRemedy};
use crate::input::{self, ReadOptions};
use crate::output::defrag::{ask_to_replace, print_refusal, FixResult, FixStatus};
use crate::output::destination::Destination;
use crate::output::print_problems;
use crate::parallel;
use crate::progress::Progress;
use crate::report::{
    render_html, render_markdown, render_table, AppliedFix, InputSummary, Report, ReportOptions,
    TimeZone,
};
use crate::verbosity;
use crate::ExitCode;
use anyhow::{Context as _, Result};
use evtdoctor_parsers::ese::header::OsVersion as EseOsVersion;
use std::cell::RefCell;
use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

pub fn run(args: &AnalyzeArgs) -> Result<ExitCode> {
    let time_zone = TimeZone::from_offset(args.read.tz);
    let options = ReadOptions {
        threads: args.read.threads,
        no_recover: args.read.no_recover,
        tz: args.read.tz,
        hash: true,
    };
    let pack = match Pack::with_dirs(&args.rules) {
        Ok(pack) => pack,
        Err(problems) => {
            problems.iter().for_each(|p| eprintln!("evtdoctor: {p}"));
            return Ok(ExitCode::Usage);
        }
    };
    let watched = pack.watched();
    let (files, path_errors) = input::discover(&args.paths)?;
    for error in &path_errors {
        eprintln!("evtdoctor: {}: {}", error.path.display(), error.message);
    }
    if let Some(output) = &args.output {
        let inputs = files.iter().chain(&args.fix_db);
        if let Some(input) = inputs
            .into_iter()
            .find(|i| same_file(input::file_of(i), output))
        {
            eprintln!(
                "evtdoctor: {}: refused: the report would overwrite the input {}",
                output.display(),
                input.display()
            );
            return Ok(ExitCode::Usage);
        }
    }

    parallel::init_threads(args.read.threads);
    let progress = Progress::for_files(&files);
    // Events are observed on the reading threads (most are kept only as digests) and
    // correlated as they arrive, in input order.
    let correlator = RefCell::new(Correlator::watching(watched.clone()));
    let mut inputs = Vec::new();
    let read_with = |path: &Path, options, sink: &mut dyn FnMut(Vec<Observed>)| {
        let file: Arc<str> = path.display().to_string().into();
        input::read_batches(
            path,
            options,
            |events, _| observe_batch(&file, events, &watched),
            sink,
        )
    };
    let read_together = |path: &Path, options| {
        let mut found = Vec::new();
        let report = read_with(path, options, &mut |observed| found.extend(observed));
        (report, found)
    };
    let read_alone = |path: &Path, options| {
        let mut correlator = correlator.borrow_mut();
        let report = read_with(path, options, &mut |observed| {
            observed.into_iter().for_each(|e| correlator.add(e))
        });
        (report, Vec::new())
    };
    let delivered = parallel::read_in_order(
        &files,
        options,
        read_together,
        read_alone,
        |(report, found)| {
            progress.advance(report.size);
            print_problems(&report);
            verbosity::input_details(&report);
            inputs.push(InputSummary::from_report(&report));
            let mut correlator = correlator.borrow_mut();
            found.into_iter().for_each(|e| correlator.add(e));
            Ok::<(), Infallible>(())
        },
    );
    let Ok(()) = delivered;
    progress.finish();
    inputs.extend(
        path_errors
            .iter()
            .map(|e| InputSummary::missing(&e.path, &e.message)),
    );
    if !inputs.iter().any(|i| i.unreadable.is_none()) {
        eprintln!("evtdoctor: no readable input");
        return Ok(ExitCode::Usage);
    }

    let database = args.db.as_deref().map(DatabaseFile::inspect);
    let correlation = correlator.into_inner().finish();
    let diagnosis = diagnose_with(
        &correlation,
        &Context {
            database: database.clone(),
        },
        &pack,
    );
    let active = diagnosis.has_active_findings();
    let fix_target = args
        .fix_db
        .as_ref()
        .map(|_| diagnosis.database_defrag(&correlation));
    let fix = match (&args.fix_db, fix_target) {
        (Some(db), Some(target)) => Some(fix_database(db, target, args.yes)?),
        _ => None,
    };
    let mut report = Report::new(
        inputs,
        correlation,
        diagnosis,
        ReportOptions {
            time_zone,
            database,
        },
    );
    report.fix = fix;
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match args.resolved_format() {
        ReportFormat::Table => render_table(&report, to_terminal),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Markdown => render_markdown(&report),
        ReportFormat::Html => {
            let fix = args.db.as_deref().and_then(AppliedFix::find);
            render_html(&report, fix.as_ref())
        }
    };
    let inputs: Vec<_> = files
        .iter()
        .chain(&args.db)
        .chain(&args.fix_db)
        .cloned()
        .collect();
    let mut destination = Destination::open(args.output.as_deref(), &inputs)?;
    let written = {
        let mut writer = destination.writer();
        writer
            .write_all(text.as_bytes())
            .and_then(|()| writer.flush())
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the report")
        }
        _ => {}
    }
    destination.finish()?;
    Ok(if active {
        ExitCode::Found
    } else {
        ExitCode::Clean
    })
}

/// Fixes the database once diagnosed, for the OS version the logs show running (it asks
/// before changing anything, unless `yes`); the result goes into the report, and analyze's
/// exit code stays the diagnosis's.
fn fix_database(db: &Path, target: Result<EseOsVersion, NoRemedy>, yes: bool) -> Result<FixResult> {
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
    let result = match fix::fix(&plan, &mut |db| Ok(yes || ask_to_replace(db)?)) {
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
