//! The terminal rendering: a few comfy tables, most important first.

use super::{evidence_line, Report, HOST_HEADERS, INPUT_HEADERS};
use crate::diagnose::{ConfidenceLevel, Finding, Status};
use crate::output;
use comfy_table::{Attribute, Cell, Color, Table};
use std::fmt::Write;

/// At most this many highlight rows; the JSON report has the full timeline.
const SHOWN_HIGHLIGHTS: usize = 40;

/// Hex digits of an input's SHA-256 shown in the table (the JSON report has all of it).
const SHORT_HASH: usize = 16;

/// Renders the report for a terminal. `fit_terminal` wraps to the terminal's width;
/// otherwise to a fixed width, so the same report always renders the same. `color` marks
/// active findings and their confidence.
pub fn render_table(report: &Report, fit_terminal: bool, color: bool) -> String {
    let new_table = |headers: &[&str]| output::table_fitting(headers, fit_terminal);
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", report.conclusion);

    let mut findings = new_table(&["Finding", "Computer", "Status", "Confidence", "KB"]);
    if color {
        findings.enforce_styling();
    }
    for f in &report.findings {
        let mut status = Cell::new(f.status.name());
        let mut confidence = Cell::new(f.confidence.level.name());
        if color {
            status = match f.status {
                Status::Active => status.fg(Color::Red).add_attribute(Attribute::Bold),
                Status::Resolved => status.fg(Color::Green),
            };
            confidence = match f.confidence.level {
                ConfidenceLevel::High => confidence.fg(Color::Red),
                ConfidenceLevel::Medium => confidence.fg(Color::Yellow),
                ConfidenceLevel::Low => confidence,
            };
        }
        findings.add_row(vec![
            Cell::new(&f.title),
            Cell::new(&f.computer),
            status,
            confidence,
            Cell::new(&f.kb),
        ]);
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "{findings}\n");
    }
    for finding in &report.findings {
        let _ = writeln!(out, "{}\n", finding_table(finding, &new_table));
    }
    if !report.ruled_out.is_empty() {
        let mut table = new_table(&["Rule not applied", "Computer", "Why"]);
        for r in &report.ruled_out {
            table.add_row(vec![
                r.rule.to_string(),
                r.computer.clone(),
                r.reason.clone(),
            ]);
        }
        let _ = writeln!(out, "{table}\n");
    }
    if !report.notes.is_empty() {
        let mut table = new_table(&["Note", "Computer", "Rule"]);
        for n in &report.notes {
            table.add_row(vec![n.text.clone(), n.computer.clone(), n.rule.to_string()]);
        }
        let _ = writeln!(out, "{table}\n");
    }

    let mut hosts = new_table(&HOST_HEADERS);
    for host in &report.hosts {
        hosts.add_row(report.host_cells(host));
    }
    if !report.hosts.is_empty() {
        let _ = writeln!(out, "{hosts}\n");
    }

    let highlights = report.highlights();
    if !highlights.is_empty() {
        let header = report.time_header();
        let mut table = new_table(&[header.as_str(), "Computer", "What", "Evidence"]);
        for row in highlights.iter().take(SHOWN_HIGHLIGHTS) {
            table.add_row(report.highlight_cells(row));
        }
        let _ = writeln!(out, "{table}");
        if highlights.len() > SHOWN_HIGHLIGHTS {
            let _ = writeln!(
                out,
                "… {} more timeline highlights (all {} entries with --format json)",
                highlights.len() - SHOWN_HIGHLIGHTS,
                report.timeline.len()
            );
        }
        out.push('\n');
    }

    let mut inputs = new_table(&INPUT_HEADERS);
    for input in &report.inputs {
        inputs.add_row(input.cells(SHORT_HASH));
    }
    let _ = writeln!(out, "{inputs}");
    if let Some(note) = report.assumed_utc_note() {
        let _ = writeln!(out, "{note}");
    }
    if let Some(fix) = &report.fix {
        let _ = write!(out, "\nDatabase fix:\n{}", fix.to_text());
    }
    out
}

fn finding_table(f: &Finding, new_table: &dyn Fn(&[&str]) -> Table) -> Table {
    let mut table = new_table(&["", &f.title]);
    let numbered = |items: &[String]| {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    table.add_row(vec!["ID".to_owned(), format!("{} ({})", f.id, f.kb)]);
    table.add_row(vec!["Computer".to_owned(), f.computer.clone()]);
    table.add_row(vec!["Summary".to_owned(), f.summary.clone()]);
    table.add_row(vec![
        "Confidence".to_owned(),
        format!(
            "{}\n{}",
            f.confidence.level.name(),
            f.confidence
                .reasons
                .iter()
                .map(|r| format!("- {r}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    ]);
    let evidence: Vec<String> = f.evidence.iter().map(evidence_line).collect();
    table.add_row(vec!["Evidence".to_owned(), evidence.join("\n")]);
    let differentials: Vec<String> = f
        .differentials
        .iter()
        .map(|d| format!("- {}: {} ({})", d.hypothesis, d.verdict.name(), d.reason))
        .collect();
    table.add_row(vec!["Considered".to_owned(), differentials.join("\n")]);
    table.add_row(vec!["What to do".to_owned(), numbered(&f.remediation)]);
    if let Some(resolution) = &f.resolution {
        table.add_row(vec!["Resolved".to_owned(), resolution.summary.clone()]);
    }
    table
}
