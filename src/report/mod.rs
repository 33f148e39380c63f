//! The analysis report: one structure (serialized as JSON, see `docs/report.schema.json`),
//! rendered for people as a terminal table, as Markdown for a ticket or as a self-contained
//! HTML page with the timeline drawn.

mod applied_fix;
mod html;
mod markdown;
mod table;
mod timeline;

pub use applied_fix::AppliedFix;
pub use html::render_html;
pub use markdown::render_markdown;
pub use table::render_table;
pub use timeline::{render_timeline_csv, render_timeline_jsonl};

use crate::correlate::{Correlation, Evidence, Fact, HostTimeline, TimelineEntry};
use crate::diagnose::{DatabaseFile, Diagnosis, Finding, Note, RuleInfo, RuledOut};
use crate::input::InputReport;
use crate::knowledge::exchange::ExchangeBuild;
use crate::knowledge::windows::OsVersion;
use crate::output::defrag::FixResult;
use chrono::{DateTime, FixedOffset, Offset, Utc};
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::InputFormat;
use serde::Serialize;
use std::collections::HashMap;

/// Bumped when a field changes meaning or disappears (additions keep the version).
pub const SCHEMA_VERSION: u32 = 1;

/// At most this many problems per input are listed (the total is always given).
const LISTED_ERRORS: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// The zone people-facing renderings show times in; JSON times are always UTC.
    pub time_zone: String,
    /// One plain sentence: what was found, or that nothing was.
    pub conclusion: String,
    pub inputs: Vec<InputSummary>,
    pub database: Option<DatabaseFile>,
    pub examined: Examined,
    pub hosts: Vec<HostFacts>,
    pub timeline: Vec<TimelineItem>,
    pub findings: Vec<Finding>,
    pub ruled_out: Vec<RuledOut>,
    /// What rules saw that is worth knowing but no failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// What `--fix-db` did to the database, when it was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixResult>,
    /// The fix `evtdoctor fix` recorded for the `--db` database, for the HTML page (looked
    /// up only for it).
    #[serde(skip)]
    pub applied_fix: Option<AppliedFix>,
    #[serde(skip)]
    offset: FixedOffset,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

/// One input as read: identity (SHA-256) and what could and could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    pub path: String,
    pub format: Option<InputFormat>,
    pub sha256: Option<String>,
    pub size: u64,
    pub records: u64,
    pub recovered: u64,
    /// How the input's times became UTC: `utc`, `assumed_utc` (text without a zone and no
    /// `--tz`) or the offset given.
    pub time_basis: TimeBasis,
    /// Why nothing could be read, for an unreadable input.
    pub unreadable: Option<String>,
    pub errors_total: usize,
    /// The first problems met (offset or line, message).
    pub errors: Vec<String>,
}

impl InputSummary {
    /// A named path that could not be opened or listed at all.
    pub fn missing(path: &std::path::Path, message: &str) -> InputSummary {
        InputSummary {
            path: path.display().to_string(),
            format: None,
            sha256: None,
            size: 0,
            records: 0,
            recovered: 0,
            time_basis: TimeBasis::Utc,
            unreadable: Some(message.to_owned()),
            errors_total: 0,
            errors: Vec::new(),
        }
    }

    pub fn from_report(report: &InputReport) -> InputSummary {
        InputSummary {
            path: report.path.display().to_string(),
            format: report.format,
            sha256: report.sha256.clone(),
            size: report.size,
            records: report.records,
            recovered: report.recovered,
            time_basis: report.time_basis,
            unreadable: report.fatal.clone(),
            errors_total: report.problems.len(),
            errors: report
                .problems
                .iter()
                .take(LISTED_ERRORS)
                .map(|p| p.to_string())
                .collect(),
        }
    }
}

/// What the analysis looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Examined {
    pub readable_inputs: usize,
    pub unreadable_inputs: usize,
    pub events_read: usize,
    pub duplicates_merged: usize,
    pub computers: usize,
    pub rules: Vec<RuleInfo>,
}

/// The facts about one computer a reader wants first.
#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    pub computer: String,
    pub events: usize,
    pub first_event: Option<DateTime<Utc>>,
    pub last_event: Option<DateTime<Utc>>,
    pub files: Vec<String>,
    pub boots: usize,
    pub unexpected_shutdowns: usize,
    /// OS levels in the order they ran, one entry per run of boots at the same level.
    pub os_history: Vec<OsPeriod>,
    pub exchange_builds: Vec<BuildSeen>,
    pub service_packs_installed: usize,
    pub hotfixes_installed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct OsPeriod {
    pub os: OsVersion,
    pub label: String,
    pub boots: usize,
    pub first_boot: Option<DateTime<Utc>>,
    pub last_boot: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildSeen {
    pub build: ExchangeBuild,
    pub description: String,
    pub records: usize,
}

/// A timeline entry with its computer (the JSON timeline is flat).
#[derive(Debug, Clone, Serialize)]
pub struct TimelineItem {
    pub computer: String,
    #[serde(flatten)]
    pub entry: TimelineEntry,
}

/// What `analyze` was given besides the logs.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub time_zone: TimeZone,
    pub database: Option<DatabaseFile>,
}

impl Report {
    pub fn new(
        inputs: Vec<InputSummary>,
        correlation: Correlation,
        diagnosis: Diagnosis,
        options: ReportOptions,
    ) -> Report {
        let readable_inputs = inputs.iter().filter(|i| i.unreadable.is_none()).count();
        let examined = Examined {
            readable_inputs,
            unreadable_inputs: inputs.len() - readable_inputs,
            events_read: correlation.events_read,
            duplicates_merged: correlation.duplicates_merged,
            computers: correlation.hosts.len(),
            rules: diagnosis.rules.clone(),
        };
        let damaged_inputs = inputs
            .iter()
            .filter(|i| i.unreadable.is_none() && i.errors_total > 0)
            .count();
        let conclusion = conclusion(&examined, &diagnosis, damaged_inputs);
        let hosts = correlation.hosts.iter().map(host_facts).collect();
        let timeline = correlation
            .hosts
            .into_iter()
            .flat_map(|host| {
                let computer = host.computer;
                host.entries.into_iter().map(move |entry| TimelineItem {
                    computer: computer.clone(),
                    entry,
                })
            })
            .collect();
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            time_zone: options.time_zone.name,
            conclusion,
            inputs,
            database: options.database,
            examined,
            hosts,
            timeline,
            findings: diagnosis.findings,
            ruled_out: diagnosis.ruled_out,
            notes: diagnosis.notes,
            fix: None,
            applied_fix: None,
            offset: options.time_zone.offset,
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// A time as people read it, in the report's zone.
    fn show_time(&self, time: Option<DateTime<Utc>>) -> String {
        match time {
            Some(t) => t
                .with_timezone(&self.offset)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            None => "(no time)".to_owned(),
        }
    }

    /// A day as people read it, in the report's zone.
    fn show_date(&self, time: DateTime<Utc>) -> String {
        time.with_timezone(&self.offset)
            .format("%Y-%m-%d")
            .to_string()
    }

    /// The timeline entries worth showing in a summary, repeats of the same fact on the same
    /// computer folded into their first occurrence (a service failing at every boot is one row).
    fn highlights(&self) -> Vec<Highlight<'_>> {
        let mut rows: Vec<Highlight<'_>> = Vec::new();
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for item in self.timeline.iter().filter(|i| i.entry.fact.is_highlight()) {
            let key = (item.computer.as_str(), item.entry.summary.as_str());
            match seen.get(&key).and_then(|&i| rows.get_mut(i)) {
                Some(row) => {
                    row.repeats += 1;
                    row.last = item.entry.time.or(row.last);
                }
                None => {
                    seen.insert(key, rows.len());
                    rows.push(Highlight {
                        item,
                        repeats: 1,
                        last: item.entry.time,
                    });
                }
            }
        }
        // Across computers in time order; undated rows last.
        rows.sort_by_key(|row| (row.item.entry.time.is_none(), row.item.entry.time));
        rows
    }

    /// A highlight as table cells: time, computer, what, evidence.
    fn highlight_cells(&self, row: &Highlight<'_>) -> [String; 4] {
        let entry = &row.item.entry;
        let mut what = entry.summary.clone();
        let mut evidence = evidence_labels(&entry.evidence).join("; ");
        if row.repeats > 1 {
            what.push_str(&format!(
                " (×{}, last {})",
                row.repeats,
                self.show_time(row.last)
            ));
            evidence.push_str(&format!(" (+{} more)", row.repeats - 1));
        }
        [
            self.show_time(entry.time),
            row.item.computer.clone(),
            what,
            evidence,
        ]
    }
}

/// Column headers of the computers table.
const HOST_HEADERS: [&str; 6] = [
    "Computer",
    "Events",
    "From",
    "To",
    "OS levels (boots)",
    "Exchange",
];

/// Column headers of the inputs table.
const INPUT_HEADERS: [&str; 6] = [
    "Input",
    "Format",
    "Records",
    "Recovered",
    "Problems",
    "SHA-256",
];

impl Report {
    /// The note under the inputs when some text times were read as UTC by assumption.
    fn assumed_utc_note(&self) -> Option<&'static str> {
        self.inputs
            .iter()
            .any(|i| i.time_basis == TimeBasis::AssumedUtc)
            .then_some(crate::output::ASSUMED_UTC_NOTE)
    }

    /// Header of the highlights' time column, naming the zone.
    fn time_header(&self) -> String {
        format!("Time ({})", self.time_zone)
    }

    fn host_cells(&self, host: &HostFacts) -> [String; 6] {
        let os: Vec<String> = host
            .os_history
            .iter()
            .map(|p| format!("{} ({})", p.label, p.boots))
            .collect();
        let builds: Vec<String> = host
            .exchange_builds
            .iter()
            .map(|b| format!("{} ({})", b.build, b.description))
            .collect();
        [
            host.computer.clone(),
            host.events.to_string(),
            self.show_time(host.first_event),
            self.show_time(host.last_event),
            os.join(" → "),
            builds.join(", "),
        ]
    }
}

impl InputSummary {
    /// The input as table cells; `hash_chars` shortens the SHA-256 for narrow tables.
    fn cells(&self, hash_chars: usize) -> [String; 6] {
        let format = match self.format {
            Some(format) => format!("{format:?}").to_lowercase(),
            None => "unknown".to_owned(),
        };
        let problems = match &self.unreadable {
            Some(why) => format!("unreadable: {why}"),
            None => self.errors_total.to_string(),
        };
        let hash = self.sha256.as_deref().unwrap_or("");
        let assumed = if self.time_basis == TimeBasis::AssumedUtc {
            " *"
        } else {
            ""
        };
        [
            format!("{}{assumed}", self.path),
            format,
            self.records.to_string(),
            self.recovered.to_string(),
            problems,
            hash.get(..hash_chars).unwrap_or(hash).to_owned(),
        ]
    }
}

/// One summary row: the first occurrence of a fact and how often it recurred.
struct Highlight<'a> {
    item: &'a TimelineItem,
    repeats: usize,
    last: Option<DateTime<Utc>>,
}

/// The zone people-facing times are shown in: the server's offset (`--tz`), else UTC.
#[derive(Debug, Clone)]
pub struct TimeZone {
    pub name: String,
    pub offset: FixedOffset,
}

impl TimeZone {
    pub fn utc() -> TimeZone {
        TimeZone {
            name: "UTC".to_owned(),
            offset: Utc.fix(),
        }
    }

    pub fn from_offset(offset: Option<FixedOffset>) -> TimeZone {
        match offset {
            Some(offset) => TimeZone {
                name: offset.to_string(),
                offset,
            },
            None => TimeZone::utc(),
        }
    }
}

/// The one-sentence summary; `damaged_inputs` counts the readable inputs with damaged or
/// missing parts, on which the verdict rests as incomplete logs.
fn conclusion(examined: &Examined, diagnosis: &Diagnosis, damaged_inputs: usize) -> String {
    let scope = format!(
        "{} event(s) from {} computer(s) in {} readable input(s){}{}",
        examined.events_read,
        examined.computers,
        examined.readable_inputs,
        if examined.unreadable_inputs > 0 {
            format!(
                " ({} unreadable input(s) listed)",
                examined.unreadable_inputs
            )
        } else {
            String::new()
        },
        if damaged_inputs > 0 {
            format!(
                "; {damaged_inputs} of them are damaged or cut short (their problems are \
                 listed), so the verdict rests on incomplete logs"
            )
        } else {
            String::new()
        }
    );
    if diagnosis.findings.is_empty() {
        if examined.rules.is_empty() {
            return format!(
                "No known failure found: examined {scope}; none of the {} rule(s) of the pack \
                 found records it weighs.",
                diagnosis.rules_in_pack
            );
        }
        let rules: Vec<&str> = examined.rules.iter().map(|r| &*r.kb).collect();
        let not_applied = match diagnosis.ruled_out.len() {
            0 => String::new(),
            n => format!(" {n} rule check(s) did not apply; the reasons are listed."),
        };
        return format!(
            "No known failure found: examined {scope} against {} rule(s) ({}).{not_applied}",
            examined.rules.len(),
            rules.join(", ")
        );
    }
    let items: Vec<String> = diagnosis
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} on {} ({}, {} confidence)",
                f.title,
                f.computer,
                f.status.name(),
                f.confidence.level.name()
            )
        })
        .collect();
    format!(
        "{} finding(s): {}. Examined {scope}.",
        diagnosis.findings.len(),
        items.join("; ")
    )
}

fn host_facts(host: &HostTimeline) -> HostFacts {
    let count = |pred: fn(&Fact) -> bool| host.entries.iter().filter(|e| pred(&e.fact)).count();
    let mut os_history: Vec<OsPeriod> = Vec::new();
    let mut builds: Vec<BuildSeen> = Vec::new();
    for entry in &host.entries {
        match &entry.fact {
            Fact::Boot { os: Some(os) } => match os_history.last_mut() {
                Some(period) if &period.os == os => {
                    period.boots += 1;
                    period.last_boot = entry.time.or(period.last_boot);
                }
                _ => os_history.push(OsPeriod {
                    label: os.to_string(),
                    os: os.clone(),
                    boots: 1,
                    first_boot: entry.time,
                    last_boot: entry.time,
                }),
            },
            Fact::KmsEvent { build: Some(b), .. }
            | Fact::DatabaseEvent { build: Some(b), .. }
            | Fact::ExchangeBuildSeen { build: b } => {
                match builds.iter_mut().find(|s| s.build == *b) {
                    Some(seen) => seen.records += 1,
                    None => builds.push(BuildSeen {
                        build: *b,
                        description: b.describe(),
                        records: 1,
                    }),
                }
            }
            _ => {}
        }
    }
    HostFacts {
        computer: host.computer.clone(),
        events: host.events,
        first_event: host.first_event,
        last_event: host.last_event,
        files: host.files.clone(),
        boots: count(|f| matches!(f, Fact::Boot { .. })),
        unexpected_shutdowns: count(|f| matches!(f, Fact::UnexpectedShutdown)),
        os_history,
        exchange_builds: builds,
        service_packs_installed: count(|f| matches!(f, Fact::ServicePackInstalled { .. })),
        hotfixes_installed: count(|f| matches!(f, Fact::HotfixInstalled { .. })),
    }
}

/// `System record 3221 (EventLog 6009, ...)` for each record cited.
fn evidence_labels(evidence: &[Evidence]) -> Vec<String> {
    evidence.iter().map(Evidence::label).collect()
}

/// An evidence line with file and excerpt, for the finding sections.
fn evidence_line(evidence: &Evidence) -> String {
    let Evidence::Record(r) = evidence else {
        return evidence.label();
    };
    let excerpt = crate::output::truncate(&r.excerpt, 100);
    if excerpt.is_empty() {
        format!("{} in {}", r.label(), r.file)
    } else {
        format!("{} in {}: {excerpt}", r.label(), r.file)
    }
}
