//! `evtdoctor analyze`: read every input, correlate, diagnose, report.

use crate::analysis::{analyze, AnalysisError, AnalysisRequest, FixRequest};
use crate::cli::{AnalyzeArgs, ReportFormat};
use crate::output::color;
use crate::output::defrag::ask_to_replace;
use crate::output::destination::{resolve_format, Destination};
use crate::report::{
    render_html, render_markdown, render_table, render_timeline_csv, render_timeline_jsonl,
    TimeZone,
};
use crate::ExitCode;
use anyhow::{Context as _, Result};
use std::io::{IsTerminal, Write};
use std::path::Path;

pub fn run(args: &AnalyzeArgs) -> Result<ExitCode> {
    // A report name whose format is unknown is refused before anything is read or fixed.
    let format = resolve_format(args.format_given(), args.output.as_deref())?;
    let mut confirm = |db: &Path| Ok(args.yes || ask_to_replace(db)?);
    let request = AnalysisRequest {
        paths: &args.paths,
        rule_dirs: &args.rules,
        read: args.read.options(),
        time_zone: TimeZone::from_offset(args.read.tz),
        database: args.db.as_deref(),
        fix: args.fix_db.as_deref().map(|db| FixRequest {
            db,
            confirm: &mut confirm,
        }),
        report_file: args.output.as_deref(),
        find_applied_fix: format == ReportFormat::Html,
    };
    let analysis = match analyze(request) {
        Ok(analysis) => analysis,
        Err(AnalysisError::FixFailed(error) | AnalysisError::Inputs(error)) => return Err(error),
        Err(AnalysisError::Rules(problems)) => {
            problems.iter().for_each(|p| crate::error!("{p}"));
            return Ok(ExitCode::Usage);
        }
        Err(refusal) => {
            crate::error!("{refusal}");
            return Ok(ExitCode::Usage);
        }
    };
    let report = &analysis.report;
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match format {
        ReportFormat::Table => render_table(
            report,
            to_terminal,
            color::in_document(args.output.is_some()),
        ),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Jsonl => render_timeline_jsonl(report),
        ReportFormat::Csv => render_timeline_csv(report),
        ReportFormat::Markdown => render_markdown(report),
        ReportFormat::Html => render_html(report),
    };
    let mut destination = Destination::open(args.output.as_deref(), &analysis.inputs)?;
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
    Ok(if analysis.found {
        ExitCode::Found
    } else {
        ExitCode::Clean
    })
}
