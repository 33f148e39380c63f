//! `evtdoctor analyze`: read every input, correlate, diagnose, report.

use crate::cli::{AnalyzeArgs, ReportFormat};
use crate::commands::events::print_problems;
use crate::correlate::{correlate, SourcedEvent};
use crate::diagnose::{diagnose, Context, DatabaseFile};
use crate::input::{self, InputBytes, ReadOptions};
use crate::parallel;
use crate::progress::Progress;
use crate::report::{render_markdown, render_table, InputSummary, Report, ReportOptions, TimeZone};
use crate::ExitCode;
use anyhow::{Context as _, Result};
use evtdoctor_parsers::detect::ESE_SIGNATURE;
use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::path::Path;

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
    let mut events = Vec::new();
    let mut inputs = Vec::new();
    let read = |path: &Path, options| {
        let file = path.display().to_string();
        let mut found = Vec::new();
        let report = input::read_events(path, options, |event| {
            found.push(SourcedEvent {
                file: file.clone(),
                event,
            })
        });
        (report, found)
    };
    let delivered = parallel::read_in_order(&files, options, read, read, |(report, found)| {
        progress.advance(report.size);
        print_problems(&report);
        inputs.push(InputSummary::from_report(&report));
        events.extend(found);
        Ok::<(), Infallible>(())
    });
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
    let correlation = correlate(events);
    let diagnosis = diagnose(
        &correlation,
        &Context {
            database: database.clone(),
        },
    );
    let active = diagnosis.has_active_findings();
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
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("writing the report to {}", path.display()))?,
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
    Ok(if active {
        ExitCode::Found
    } else {
        ExitCode::Clean
    })
}

/// What can be said about the `--db` file without the ESE reader: is it there, is it ESE.
fn database_file(path: &Path) -> DatabaseFile {
    let head = InputBytes::open(path)
        .ok()
        .map(|input| input.bytes().get(4..8).map(<[u8]>::to_vec));
    DatabaseFile {
        path: path.to_path_buf(),
        exists: path.is_file(),
        ese_signature: matches!(head, Some(Some(sig)) if sig == ESE_SIGNATURE),
    }
}
