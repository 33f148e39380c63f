//! `evtdoctor analyze`: read every input, correlate, diagnose, report.

use crate::cli::{AnalyzeArgs, FixArgs, OutputArgs, ReportFormat};
use crate::commands;
use crate::commands::events::print_problems;
use crate::correlate::{observe_batch, Correlation, Correlator, Fact, Observed};
use crate::diagnose::{
    diagnose, Context, DatabaseFile, DatabaseHeader, Diagnosis, Status, KMS_RULE,
};
use crate::input::{self, InputBytes, ReadOptions};
use crate::parallel;
use crate::progress::Progress;
use crate::report::{
    render_html, render_markdown, render_table, write_report_file, AppliedFix, InputSummary,
    Report, ReportOptions, TimeZone,
};
use crate::ExitCode;
use anyhow::{Context as _, Result};
use evtdoctor_parsers::detect::ESE_SIGNATURE;
use evtdoctor_parsers::ese::header::OsVersion as EseOsVersion;
use evtdoctor_parsers::ese::Database;
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
    let (files, path_errors) = input::discover(&args.paths);
    for error in &path_errors {
        eprintln!("evtdoctor: {}: {}", error.path.display(), error.message);
    }

    parallel::init_threads(args.read.threads);
    let progress = Progress::for_files(&files);
    // Events are observed on the reading threads (most are kept only as digests) and
    // correlated as they arrive, in input order.
    let correlator = RefCell::new(Correlator::default());
    let mut inputs = Vec::new();
    let read_with = |path: &Path, options, sink: &mut dyn FnMut(Vec<Observed>)| {
        let file: Arc<str> = path.display().to_string().into();
        input::read_batches(
            path,
            options,
            |events, _| observe_batch(&file, events),
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

    let database = args.db.as_deref().map(database_file);
    let correlation = correlator.into_inner().finish();
    let diagnosis = diagnose(
        &correlation,
        &Context {
            database: database.clone(),
        },
    );
    let active = diagnosis.has_active_findings();
    let fix_target = args
        .fix_db
        .as_ref()
        .map(|_| fix_target(&correlation, &diagnosis));
    let report = Report::new(
        inputs,
        correlation,
        diagnosis,
        ReportOptions {
            time_zone,
            database,
        },
    );
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
    match &args.output {
        Some(path) => {
            let inputs: Vec<_> = files
                .iter()
                .chain(&args.db)
                .chain(&args.fix_db)
                .cloned()
                .collect();
            write_report_file(path, &text, &inputs)?
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
            {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(e).context("writing the report")
                }
                _ => {}
            }
        }
    }
    if let (Some(db), Some(target)) = (&args.fix_db, fix_target) {
        run_fix(db, target)?;
    }
    Ok(if active {
        ExitCode::Found
    } else {
        ExitCode::Clean
    })
}

/// The OS version to stamp on the KMS database: the one the logs show running, when the KMS
/// finding is active; otherwise why no fix is called for.
fn fix_target(correlation: &Correlation, diagnosis: &Diagnosis) -> Result<EseOsVersion, String> {
    let kms_active = diagnosis
        .findings
        .iter()
        .any(|f| f.id == KMS_RULE.id && f.status == Status::Active);
    if !kms_active {
        return Err("no active KMS finding calls for it".into());
    }
    let running = correlation
        .hosts
        .iter()
        .flat_map(|host| &host.entries)
        .filter_map(|entry| match &entry.fact {
            Fact::Boot { os: Some(os) } | Fact::OsLevelChanged { to: os, .. } => {
                Some((entry.time, os))
            }
            _ => None,
        })
        .max_by_key(|(time, _)| *time);
    match running {
        Some((_, os)) => Ok(EseOsVersion {
            major: os.major,
            minor: os.minor,
            build: os.build,
            service_pack: os.service_pack,
        }),
        None => {
            Err("the logs do not show which OS version runs: use evtdoctor fix --target-os".into())
        }
    }
}

/// Runs `fix` on the database after the report (it asks before changing anything and says
/// what it did; analyze's exit code stays the diagnosis's).
fn run_fix(db: &Path, target: Result<EseOsVersion, String>) -> Result<()> {
    match target {
        Ok(os) => {
            eprintln!(
                "evtdoctor: the logs show {os} running; fixing {} for it",
                db.display()
            );
            commands::fix::run(&FixArgs {
                db: db.to_path_buf(),
                target_os: Some(os),
                backup_dir: None,
                dry_run: false,
                yes: false,
                rollback: false,
                output: OutputArgs::default(),
            })?;
            Ok(())
        }
        Err(reason) => {
            eprintln!("evtdoctor: --fix-db: not fixing {}: {reason}", db.display());
            Ok(())
        }
    }
}

/// The `--db` file: is it there, is it ESE, and what its header says.
fn database_file(path: &Path) -> DatabaseFile {
    let head = InputBytes::open(path)
        .ok()
        .map(|input| input.bytes().get(4..8).map(<[u8]>::to_vec));
    let ese_signature = matches!(head, Some(Some(sig)) if sig == ESE_SIGNATURE);
    let header = ese_signature
        .then(|| std::fs::File::open(path).ok())
        .flatten()
        .and_then(|file| Database::open(file).ok())
        .map(|database| DatabaseHeader {
            state: database.header.state,
            os_version: database.header.os_version,
            format_version: database.header.format_version,
            format_revision: database.header.format_revision,
        });
    DatabaseFile {
        path: path.to_path_buf(),
        exists: path.is_file(),
        ese_signature,
        header,
    }
}
