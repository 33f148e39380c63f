//! The Markdown rendering, for pasting into a ticket: the same facts as the table.

use super::{evidence_line, Report, HOST_HEADERS, INPUT_HEADERS};
use std::fmt::Write;

/// A table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

fn table_row(out: &mut String, cells: &[String]) {
    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

fn table_head(out: &mut String, headers: &[&str]) {
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
}

pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# evtdoctor analysis\n");
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
    table_head(&mut out, &HOST_HEADERS);
    for host in &report.hosts {
        table_row(&mut out, &report.host_cells(host));
    }
    let _ = writeln!(out, "\n## Timeline highlights\n");
    let header = report.time_header();
    table_head(&mut out, &[header.as_str(), "Computer", "What", "Evidence"]);
    for row in report.highlights() {
        table_row(&mut out, &report.highlight_cells(&row));
    }
    let _ = writeln!(
        out,
        "\nThe full timeline ({} entries) is in the JSON report.\n",
        report.timeline.len()
    );

    let _ = writeln!(out, "## Inputs\n");
    table_head(&mut out, &INPUT_HEADERS);
    for input in &report.inputs {
        let mut cells = input.cells(usize::MAX);
        cells[0] = format!("`{}`", cells[0]);
        table_row(&mut out, &cells);
    }
    if let Some(note) = report.assumed_utc_note() {
        let _ = writeln!(out, "\n{}", note.replacen('*', "\\*", 1));
    }
    out
}
