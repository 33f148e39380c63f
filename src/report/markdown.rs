//! The Markdown rendering, for pasting into a ticket: the same facts as the table.

use super::{evidence_line, Report, HOST_HEADERS, INPUT_HEADERS};
use crate::output::markdown_table;
use std::fmt::Write;

fn table<R: AsRef<[String]>>(out: &mut String, headers: &[&str], rows: &[R]) {
    let _ = writeln!(out, "{}", markdown_table(headers, rows));
}

pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", title(report));
    let _ = writeln!(out, "{}\n", report.conclusion);
    let _ = writeln!(
        out,
        "Tool: {} {} · report schema {} · times in {}\n",
        report.tool.name, report.tool.version, report.schema_version, report.time_zone
    );

    let _ = writeln!(out, "## Findings\n");
    if report.findings.is_empty() {
        let rules: Vec<String> = report
            .examined
            .rules
            .iter()
            .map(|r| format!("`{}` ({})", r.id, r.kb))
            .collect();
        match rules.is_empty() {
            true => {
                let _ = writeln!(out, "None. No rule of the pack found records it weighs.\n");
            }
            false => {
                let _ = writeln!(out, "None. Rules examined: {}.\n", rules.join(", "));
            }
        }
    }
    for f in &report.findings {
        let _ = writeln!(out, "### {} ({})\n", f.title, f.kb);
        let _ = writeln!(out, "- ID: `{}`", f.id);
        let _ = writeln!(out, "- Computer: {}", f.computer);
        let _ = writeln!(out, "- Status: {}", f.status.name());
        let _ = writeln!(out, "- Confidence: **{}**", f.confidence.level.name());
        for reason in &f.confidence.reasons {
            let _ = writeln!(out, "  - {reason}");
        }
        let _ = writeln!(out, "\n{}\n", f.summary);
        let _ = writeln!(out, "**Evidence**\n");
        for e in &f.evidence {
            let _ = writeln!(out, "- {}", evidence_line(e));
        }
        let _ = writeln!(out, "\n**Alternatives considered**\n");
        for d in &f.differentials {
            let _ = writeln!(
                out,
                "- {}: *{}*, {}",
                d.hypothesis,
                d.verdict.name(),
                d.reason
            );
        }
        let _ = writeln!(out, "\n**What to do**\n");
        for (i, step) in f.remediation.iter().enumerate() {
            let _ = writeln!(out, "{}. {step}", i + 1);
        }
        if let Some(resolution) = &f.resolution {
            let _ = writeln!(out, "\n**Resolved:** {}", resolution.summary);
        }
        out.push('\n');
    }
    if !report.ruled_out.is_empty() {
        let _ = writeln!(out, "## Rules that did not apply\n");
        for r in &report.ruled_out {
            let _ = writeln!(out, "- `{}` on {}: {}", r.rule, r.computer, r.reason);
        }
        out.push('\n');
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "## Notes\n");
        for n in &report.notes {
            let _ = writeln!(out, "- {} on {} (`{}`)", n.text, n.computer, n.rule);
        }
        out.push('\n');
    }

    if let Some(fix) = &report.fix {
        let _ = writeln!(out, "## Database fix\n\n```text\n{}```\n", fix.to_text());
    }

    let _ = writeln!(out, "## Computers\n");
    let hosts: Vec<[String; 6]> = report.hosts.iter().map(|h| report.host_cells(h)).collect();
    table(&mut out, &HOST_HEADERS, &hosts);
    let _ = writeln!(out, "\n## Timeline highlights\n");
    let header = report.time_header();
    let highlights: Vec<[String; 4]> = report
        .highlights()
        .iter()
        .map(|row| report.highlight_cells(row))
        .collect();
    table(
        &mut out,
        &[header.as_str(), "Computer", "What", "Evidence"],
        &highlights,
    );
    let _ = writeln!(
        out,
        "\nThe full timeline ({} entries) is in the JSON report.\n",
        report.timeline.len()
    );

    let _ = writeln!(out, "## Inputs\n");
    let inputs: Vec<[String; 6]> = report
        .inputs
        .iter()
        .map(|input| {
            let mut cells = input.cells(usize::MAX);
            cells[0] = format!("`{}`", cells[0]);
            cells
        })
        .collect();
    table(&mut out, &INPUT_HEADERS, &inputs);
    if report.assumed_utc_note().is_some() {
        let _ = writeln!(out, "\n{}", crate::output::assumed_utc_note_markdown());
    }
    out
}

/// At most this many computers are named in the title (the rest are counted).
const TITLED_COMPUTERS: usize = 3;

/// `evtdoctor analysis: EXCH01, 2003-06-02 to 2003-07-05`: the computers and the days the
/// logs cover, in the report's zone.
fn title(report: &Report) -> String {
    let mut title = "evtdoctor analysis".to_owned();
    let names: Vec<&str> = report.hosts.iter().map(|h| h.computer.as_str()).collect();
    match names.len() {
        0 => return title,
        n if n <= TITLED_COMPUTERS => title.push_str(&format!(": {}", names.join(", "))),
        n => title.push_str(&format!(
            ": {}, and {} more computers",
            names[..TITLED_COMPUTERS].join(", "),
            n - TITLED_COMPUTERS
        )),
    }
    let first = report.hosts.iter().filter_map(|h| h.first_event).min();
    let last = report.hosts.iter().filter_map(|h| h.last_event).max();
    if let (Some(first), Some(last)) = (first, last) {
        let (first, last) = (report.show_date(first), report.show_date(last));
        match first == last {
            true => title.push_str(&format!(", {first}")),
            false => title.push_str(&format!(", {first} to {last}")),
        }
    }
    title
}
