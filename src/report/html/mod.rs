//! The HTML rendering: one self-contained page (no network, no external files) a support
//! engineer attaches to a ticket: the verdicts and what to do first, each computer's story as
//! an SVG timeline, then the evidence, the alternatives, the inputs and the whole timeline as
//! a table. Every text from a log is escaped; a content-security policy allows only the page's
//! own style and script, by hash.

mod escape;
mod scale;
mod timeline_svg;

use super::{AppliedFix, Report, HOST_HEADERS, INPUT_HEADERS};
use crate::correlate::{Evidence, RecordRef, TimelineEntry};
use crate::diagnose::{Finding, Verdict};
use chrono::{DateTime, Utc};
use escape::{csp_hash, escape};
use scale::Scale;
use std::collections::HashMap;
use std::fmt::Write;
use timeline_svg::{draw_shape, plot_scale, Drawing, Shape, LEGEND};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Share of the drawn span left empty at each end, so marks at the edges stay whole.
const EDGE_PAD: f64 = 0.02;
/// A finding gets a close-up drawing when its evidence falls in less than this share of the
/// computer's whole span.
const ZOOM_SHARE: i64 = 10;
/// Evidence records further apart than this share of the span are not drawn in one close-up.
const ZOOM_GAP_SHARE: i64 = 20;

/// Renders the report as one HTML page, with the fix recorded for the `--db` database.
pub fn render_html(report: &Report) -> String {
    let mut out = String::new();
    let headline = match report.findings.first() {
        Some(f) => format!("{} on {}", f.title, f.computer),
        None => "no known failure found".to_owned(),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src {}; script-src {}; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>evtdoctor report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        csp_hash(STYLE),
        csp_hash(SCRIPT),
        escape(&headline)
    );
    let page = Page::new(report, report.applied_fix.as_ref());
    page.header(&mut out);
    page.findings(&mut out);
    page.timelines(&mut out);
    page.evidence(&mut out);
    page.computers(&mut out);
    page.inputs(&mut out);
    page.timeline_table(&mut out);
    let _ = write!(
        out,
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

/// The report and what the page's parts share: which timeline row shows each cited record.
struct Page<'a> {
    report: &'a Report,
    fix: Option<&'a AppliedFix>,
    rows: HashMap<RecordKey<'a>, usize>,
}

/// What identifies a record across the report.
type RecordKey<'a> = (&'a str, Option<u64>, Option<u64>, Option<u64>, u16);

fn record_key(r: &RecordRef) -> RecordKey<'_> {
    (&r.file, r.record_number, r.line, r.offset, r.event_id)
}

impl<'a> Page<'a> {
    fn new(report: &'a Report, fix: Option<&'a AppliedFix>) -> Page<'a> {
        let mut rows = HashMap::new();
        for (index, item) in report.timeline.iter().enumerate() {
            for record in item.entry.evidence.iter().filter_map(Evidence::record) {
                rows.entry(record_key(record)).or_insert(index);
            }
        }
        Page { report, fix, rows }
    }

    fn header(&self, out: &mut String) {
        let r = self.report;
        let _ = write!(
            out,
            "<header>\n<h1>evtdoctor analysis</h1>\n<p class=\"conclusion\" id=\"conclusion\">{}</p>\n\
             <p class=\"meta\">{} {} · report schema {} · times in {}</p>\n\
             <nav aria-label=\"Sections\"><ul><li><a href=\"#findings\">Findings</a></li>\
             <li><a href=\"#timeline\">Timeline</a></li>{}<li><a href=\"#computers\">Computers</a></li>\
             <li><a href=\"#inputs\">Inputs</a></li><li><a href=\"#events\">All timeline entries</a></li>\
             </ul></nav>\n</header>\n",
            escape(&r.conclusion),
            r.tool.name,
            r.tool.version,
            r.schema_version,
            escape(&r.time_zone),
            if r.findings.is_empty() {
                ""
            } else {
                "<li><a href=\"#evidence\">Evidence</a></li>"
            },
        );
    }

    fn findings(&self, out: &mut String) {
        let r = self.report;
        out.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
        if r.findings.is_empty() {
            let rules: Vec<String> = r
                .examined
                .rules
                .iter()
                .map(|rule| format!("{} ({}, {})", rule.title, rule.kb, rule.id))
                .collect();
            let _ = writeln!(
                out,
                "<p>None: no known failure found. Rules examined: {}.</p>",
                escape(&rules.join("; "))
            );
        }
        for (i, f) in r.findings.iter().enumerate() {
            self.finding(out, i, f);
        }
        if !r.ruled_out.is_empty() {
            out.push_str(
                "<h3>Rules that did not apply</h3>\n<table>\n<thead><tr><th>Rule</th>\
                 <th>Computer</th><th>Why</th><th>Records</th></tr></thead>\n<tbody>\n",
            );
            for ruled in &r.ruled_out {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&ruled.rule),
                    escape(&ruled.computer),
                    escape(&ruled.reason),
                    self.evidence_links(&ruled.evidence)
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("</section>\n");
    }

    fn evidence(&self, out: &mut String) {
        if self.report.findings.is_empty() {
            return;
        }
        out.push_str("<section id=\"evidence\">\n<h2>Evidence and alternatives</h2>\n");
        for (i, f) in self.report.findings.iter().enumerate() {
            self.finding_details(out, i, f);
        }
        out.push_str("</section>\n");
    }

    fn finding(&self, out: &mut String, index: usize, f: &Finding) {
        let status = f.status.name();
        let _ = write!(
            out,
            "<article class=\"finding\" id=\"finding-{index}\" data-status=\"{status}\">\n\
             <h3>{}</h3>\n<p class=\"verdict\"><span class=\"badge status-{status}\">{status}</span>\
             <span class=\"badge confidence\">{} confidence</span> {} · on {} · <code>{}</code></p>\n\
             <p>{}</p>\n",
            escape(&f.title),
            f.confidence.level.name(),
            escape(&f.kb),
            escape(&f.computer),
            escape(&f.id),
            escape(&f.summary)
        );
        if let Some(resolution) = &f.resolution {
            let _ = writeln!(
                out,
                "<p><strong>Resolved:</strong> {} {}</p>",
                escape(&resolution.summary),
                self.evidence_links(&resolution.evidence)
            );
        }
        out.push_str("<h4>What to do</h4>\n<ol>\n");
        for step in &f.remediation {
            let _ = writeln!(out, "<li>{}</li>", inline_code(step));
        }
        out.push_str("</ol>\n");
        if let Some(command) = fix_command(f) {
            let _ = writeln!(
                out,
                "<div class=\"fix-command\"><h4>The command for the fix</h4><pre><code>{}</code></pre></div>",
                escape(command)
            );
        }
        out.push_str("<p><a href=\"#evidence-");
        let _ = write!(
            out,
            "{index}\">Evidence and alternatives considered</a></p>\n</article>\n"
        );
    }

    /// A finding's case: the reasons for its confidence, the evidence, the alternatives.
    fn finding_details(&self, out: &mut String, index: usize, f: &Finding) {
        let _ = write!(
            out,
            "<article id=\"evidence-{index}\">\n<h3>{} on {}</h3>\n",
            escape(&f.title),
            escape(&f.computer)
        );
        out.push_str("<h4>Why this confidence</h4>\n<ul>\n");
        for reason in &f.confidence.reasons {
            let _ = writeln!(out, "<li>{}</li>", escape(reason));
        }
        out.push_str("</ul>\n<h4>Evidence</h4>\n");
        self.evidence_table(out, &f.evidence);
        out.push_str(
            "<h4>Alternatives considered</h4>\n<table>\n<thead><tr><th>Hypothesis</th>\
             <th>Verdict</th><th>Why</th><th>Records</th></tr></thead>\n<tbody>\n",
        );
        for d in &f.differentials {
            let class = match d.verdict {
                Verdict::Rejected => "verdict-rejected",
                Verdict::NotExcluded => "verdict-open",
                Verdict::Supported => "verdict-supported",
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.hypothesis),
                d.verdict.name(),
                escape(&d.reason),
                self.evidence_links(&d.evidence)
            );
        }
        out.push_str("</tbody>\n</table>\n</article>\n");
    }

    /// The cited records: what, where, when and the decoded data, each linked to its row.
    fn evidence_table(&self, out: &mut String, evidence: &[Evidence]) {
        out.push_str(
            "<table>\n<thead><tr><th>Record</th><th>File</th><th>Time</th><th>Decoded data</th>\
             </tr></thead>\n<tbody>\n",
        );
        for e in evidence {
            match e {
                Evidence::Record(r) => {
                    let _ = writeln!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td class=\"time\">{}</td><td>{}</td></tr>",
                        self.evidence_link(e),
                        escape(&r.file),
                        escape(&self.report.show_time(r.time)),
                        decoded(r)
                    );
                }
                Evidence::DatabaseHeader(h) => {
                    let _ = writeln!(
                        out,
                        "<tr><td>database header</td><td>{}</td><td class=\"time\"></td>\
                         <td>State: {}, OS Version: {}, Format: {}</td></tr>",
                        escape(&h.file),
                        escape(&h.state),
                        escape(&h.os_version),
                        escape(&h.format)
                    );
                }
            }
        }
        out.push_str("</tbody>\n</table>\n");
    }

    /// A cited record's label, linked to its timeline row when it has one.
    fn evidence_link(&self, evidence: &Evidence) -> String {
        let label = escape(&evidence.label());
        match evidence
            .record()
            .and_then(|r| self.rows.get(&record_key(r)))
        {
            Some(row) => format!("<a href=\"#t{row}\">{label}</a>"),
            None => label,
        }
    }

    fn evidence_links(&self, evidence: &[Evidence]) -> String {
        let links: Vec<String> = evidence.iter().map(|e| self.evidence_link(e)).collect();
        links.join("<br>")
    }

    fn timelines(&self, out: &mut String) {
        out.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
        let _ = writeln!(
            out,
            "<p class=\"note\">Each computer's facts by kind, times in {}. Marks of one kind \
             that would overlap are merged and show how many records they stand for (×N); each \
             mark links to its first record in the table below.</p>",
            escape(&self.report.time_zone)
        );
        for (h, host) in self.report.hosts.iter().enumerate() {
            let _ = writeln!(out, "<h3>{}</h3>", escape(&host.computer));
            let entries: Vec<(usize, &TimelineEntry)> = self
                .report
                .timeline
                .iter()
                .enumerate()
                .filter(|(_, item)| item.computer == host.computer)
                .map(|(i, item)| (i, &item.entry))
                .collect();
            let times = || entries.iter().filter_map(|(_, e)| e.time);
            let start = host.first_event.into_iter().chain(times()).min();
            let end = host.last_event.into_iter().chain(times()).max();
            let (Some(start), Some(end)) = (start, end) else {
                out.push_str("<p>No dated facts to draw (the table lists them).</p>\n");
                continue;
            };
            let drawing = |id: String, scale: Scale, view| Drawing {
                id,
                report: self.report,
                host,
                entries: entries.clone(),
                scale,
                fix: self.fix.filter(|_| self.fix_belongs_to(&host.computer)),
                view,
            };
            let overview = plot_scale(start, end, EDGE_PAD);
            self.figure(
                out,
                &drawing(format!("tl{h}"), overview, "overview"),
                &format!(
                    "{}: {} to {}",
                    host.computer,
                    self.report.show_time(Some(start)),
                    self.report.show_time(Some(end))
                ),
            );
            for (i, f) in self.report.findings.iter().enumerate() {
                if f.computer != host.computer {
                    continue;
                }
                let Some((from, to)) = zoom_window(f, &overview) else {
                    continue;
                };
                let scale = plot_scale(from, to, EDGE_PAD * 4.0);
                self.figure(
                    out,
                    &drawing(format!("tl{h}-f{i}"), scale, "zoom"),
                    &format!(
                        "Close-up of the finding \u{201c}{}\u{201d}: {} to {}",
                        f.title,
                        self.report.show_time(Some(scale.start)),
                        self.report.show_time(Some(scale.end))
                    ),
                );
            }
        }
        if let Some(fix) = self.fix {
            self.fix_details(out, fix);
        }
        out.push_str("</section>\n");
    }

    /// The fix is drawn on the computer the KMS finding is about (the database's server), or
    /// on the only computer.
    fn fix_belongs_to(&self, computer: &str) -> bool {
        let with_findings: Vec<&str> = self
            .report
            .findings
            .iter()
            .map(|f| f.computer.as_str())
            .collect();
        match with_findings.first() {
            Some(_) => with_findings.contains(&computer),
            None => self.report.hosts.len() == 1,
        }
    }

    fn figure(&self, out: &mut String, drawing: &Drawing<'_>, caption: &str) {
        out.push_str("<figure>\n");
        drawing.render(out);
        let _ = write!(
            out,
            "<figcaption>{}<ul class=\"legend\" aria-label=\"Legend\">",
            escape(caption)
        );
        for (shape, meaning) in LEGEND {
            let class = match shape {
                Shape::Bar => "mark mark-os",
                Shape::Diamond => "mark mark-installs",
                Shape::Circle => "mark mark-kms",
                Shape::Square => "mark mark-ese",
                Shape::Star => "mark mark-fix",
                _ => "mark mark-services",
            };
            let _ = write!(
                out,
                "<li><svg viewBox=\"-9 -12 18 24\" aria-hidden=\"true\"><g class=\"{class}\">"
            );
            draw_shape(out, shape, 0.0, 0.0);
            let _ = write!(out, "</g></svg>{meaning}</li>");
        }
        out.push_str("</ul></figcaption>\n</figure>\n");
    }

    fn fix_details(&self, out: &mut String, fix: &AppliedFix) {
        let state = match fix.still_in_place {
            Some(true) => "The database still has the fixed file's SHA-256.",
            Some(false) => "The database no longer has the fixed file's SHA-256 (rolled back or replaced since).",
            None => "The database could not be read to compare its SHA-256.",
        };
        let _ = writeln!(
            out,
            "<p id=\"applied-fix\"><strong>Fix applied:</strong> {} was defragmented by \
             <code>evtdoctor fix</code> at {} (time of its record {}). Backup: {} \
             (SHA-256 <span class=\"hash\">{}</span>); new file SHA-256 \
             <span class=\"hash\">{}</span>. {state}</p>",
            escape(&fix.database),
            escape(&self.report.show_time(fix.time)),
            escape(&format!(
                "{}.evtdoctor-fix.json",
                std::path::Path::new(&fix.database)
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            )),
            escape(&fix.backup),
            escape(&fix.backup_sha256),
            escape(&fix.new_sha256)
        );
    }

    fn computers(&self, out: &mut String) {
        out.push_str("<section id=\"computers\">\n<h2>Computers</h2>\n");
        table_head(out, &HOST_HEADERS);
        for host in &self.report.hosts {
            table_row(out, &self.report.host_cells(host));
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }

    fn inputs(&self, out: &mut String) {
        let r = self.report;
        let _ = writeln!(
            out,
            "<section id=\"inputs\">\n<h2>Inputs</h2>\n<p class=\"note\">{} event(s) read, {} \
             duplicate(s) merged; {} readable and {} unreadable input(s).</p>",
            r.examined.events_read,
            r.examined.duplicates_merged,
            r.examined.readable_inputs,
            r.examined.unreadable_inputs
        );
        table_head(out, &INPUT_HEADERS);
        for input in &r.inputs {
            let cells = input.cells(usize::MAX);
            let _ = write!(out, "<tr><td><code>{}</code>", escape(&cells[0]));
            if !input.errors.is_empty() {
                out.push_str("<ul>");
                for error in &input.errors {
                    let _ = write!(out, "<li>{}</li>", escape(error));
                }
                if input.errors_total > input.errors.len() {
                    let _ = write!(
                        out,
                        "<li>… {} more</li>",
                        input.errors_total - input.errors.len()
                    );
                }
                out.push_str("</ul>");
            }
            let _ = writeln!(
                out,
                "</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
                 <td class=\"hash\">{}</td></tr>",
                escape(&cells[1]),
                escape(&cells[2]),
                escape(&cells[3]),
                escape(&cells[4]),
                escape(&cells[5])
            );
        }
        out.push_str("</tbody>\n</table>\n");
        if let Some(note) = r.assumed_utc_note() {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
        }
        out.push_str("</section>\n");
    }

    /// Every timeline entry, each row the target of its marks and evidence links.
    fn timeline_table(&self, out: &mut String) {
        let r = self.report;
        let _ = writeln!(
            out,
            "<section id=\"events\">\n<h2>All timeline entries ({})</h2>\n\
             <p class=\"controls\" id=\"timeline-controls\" hidden><label>Filter \
             <input type=\"search\" id=\"timeline-filter\" placeholder=\"words that must all \
             appear, e.g. 5085\"></label> <output id=\"timeline-shown\"></output></p>",
            r.timeline.len()
        );
        let header = r.time_header();
        out.push_str("<table id=\"timeline-table\">\n<thead><tr>");
        for h in [
            "#",
            header.as_str(),
            "Computer",
            "What",
            "Record",
            "File",
            "Decoded data",
        ] {
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for (i, item) in r.timeline.iter().enumerate() {
            let entry = &item.entry;
            let record = entry.record();
            let kind = serde_json::to_value(&entry.fact)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let sort_time = entry.time.map(sortable_time).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr id=\"t{i}\" data-kind=\"{}\"><td class=\"num\" data-sort=\"{i:08}\">{}</td>\
                 <td class=\"time\" data-sort=\"{sort_time}\">{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&kind),
                i + 1,
                escape(&r.show_time(entry.time)),
                escape(&item.computer),
                escape(&entry.summary),
                escape(&record.map(RecordRef::label).unwrap_or_default()),
                escape(record.map(|r| r.file.as_str()).unwrap_or_default()),
                record.map(decoded).unwrap_or_default()
            );
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }
}

fn sortable_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A record's decoded data: the part that decides, and its message.
fn decoded(r: &RecordRef) -> String {
    let mut text = escape(&r.excerpt);
    if let Some(description) = &r.description {
        if !text.is_empty() {
            text.push_str("<br>");
        }
        let _ = write!(
            text,
            "<span class=\"decoded\">{}</span>",
            escape(description)
        );
    }
    text
}

/// Where a finding's evidence gathers: from the last record back while the records stay
/// close together; `None` when that is most of the overview anyway.
fn zoom_window(f: &Finding, overview: &Scale) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let resolution = f.resolution.iter().flat_map(|r| &r.evidence);
    let mut times: Vec<DateTime<Utc>> = f
        .evidence
        .iter()
        .chain(resolution)
        .filter_map(|e| e.record()?.time)
        .collect();
    times.sort();
    let last = *times.last()?;
    let gap = overview.seconds() / ZOOM_GAP_SHARE;
    let first = times
        .windows(2)
        .rev()
        .take_while(|pair| (pair[1] - pair[0]).num_seconds() <= gap)
        .last()
        .map_or(last, |pair| pair[0]);
    ((last - first).num_seconds() * ZOOM_SHARE < overview.seconds()).then_some((first, last))
}

/// The first `evtdoctor fix` command the steps give, to show on its own.
fn fix_command(f: &Finding) -> Option<&str> {
    f.remediation
        .iter()
        .flat_map(|step| step.split('`').skip(1).step_by(2))
        .find(|code| code.starts_with("evtdoctor fix"))
}

/// A step with its `code` spans as code.
fn inline_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let closed = parts.len() % 2 == 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 && (closed || i + 1 < parts.len()) {
                format!("<code>{}</code>", escape(part))
            } else if i % 2 == 1 {
                format!("`{}", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

fn table_head(out: &mut String, headers: &[&str]) {
    out.push_str("<table>\n<thead><tr>");
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

fn table_row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for cell in cells {
        let _ = write!(out, "<td>{}</td>", escape(cell));
    }
    out.push_str("</tr>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_become_code_and_an_unclosed_one_stays_text() {
        assert_eq!(
            inline_code("run `evtdoctor fix --db \"a<b\"` now"),
            "run <code>evtdoctor fix --db &quot;a&lt;b&quot;</code> now"
        );
        assert_eq!(inline_code("a `b"), "a `b");
    }
}
