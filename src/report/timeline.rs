//! The timeline alone, for spreadsheets and scripts (`analyze --format csv|jsonl`): one row or
//! line per entry, every computer's entries merged in time order (undated entries last).

use super::{evidence_labels, Report, TimelineItem};
use crate::output::{csv_list, write_csv_row};

/// Every entry, oldest first; entries of the same time keep their computer's order.
fn in_time_order(report: &Report) -> Vec<&TimelineItem> {
    let mut items: Vec<&TimelineItem> = report.timeline.iter().collect();
    items.sort_by_key(|item| (item.entry.time.is_none(), item.entry.time));
    items
}

/// One JSON object per line: the report's timeline items (docs/schemas/timeline.schema.json).
pub fn render_timeline_jsonl(report: &Report) -> String {
    let mut out = String::new();
    for item in in_time_order(report) {
        out.push_str(&serde_json::to_string(item).unwrap_or_default());
        out.push('\n');
    }
    out
}

const CSV_HEADER: [&str; 5] = ["time", "computer", "kind", "summary", "evidence"];

/// One CSV row per entry: UTC time (RFC 3339), computer, the fact's kind, the summary, and
/// the records cited as a JSON array of labels.
pub fn render_timeline_csv(report: &Report) -> String {
    let mut out = Vec::new();
    let rows = std::iter::once(CSV_HEADER.map(str::to_owned)).chain(
        in_time_order(report).into_iter().map(|item| {
            let entry = &item.entry;
            let kind = serde_json::to_value(&entry.fact)
                .ok()
                .and_then(|fact| fact["kind"].as_str().map(str::to_owned))
                .unwrap_or_default();
            [
                entry.time.map(|t| t.to_rfc3339()).unwrap_or_default(),
                item.computer.clone(),
                kind,
                entry.summary.clone(),
                csv_list(&evidence_labels(&entry.evidence)),
            ]
        }),
    );
    for row in rows {
        // Writing into memory cannot fail.
        let _ = write_csv_row(&mut out, &row);
    }
    String::from_utf8(out).unwrap_or_default()
}
