//! How `events` shows records: table rows, CSV rows, JSON (lines), rendered on the reading
//! threads and written out in input order.

use super::{event_json, JsonArrayWriter};
use crate::cli::Format;
use crate::knowledge::catalog;
use chrono::{DateTime, Utc};
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::Event;
use std::io::{self, IsTerminal, Write};

/// Records rendered in the output format, ready for the [`Sink`]; only the part the format
/// uses is filled.
#[derive(Default)]
pub struct Rendered {
    /// JSON lines or CSV rows.
    lines: Vec<u8>,
    /// JSON array elements, each serialized.
    elements: Vec<Vec<u8>>,
    /// Table rows (a table is laid out once every row is known).
    rows: Vec<Vec<String>>,
}

impl Rendered {
    pub fn push(
        &mut self,
        format: Format,
        file: &str,
        event: &Event,
        time_basis: TimeBasis,
    ) -> io::Result<()> {
        match format {
            Format::Table | Format::Markdown => self.rows.push(table_row(event, time_basis)),
            Format::Json => {
                let mut element = Vec::new();
                event_json::write_event(&mut element, file, event, time_basis);
                self.elements.push(element);
            }
            Format::Jsonl => {
                event_json::write_event(&mut self.lines, file, event, time_basis);
                self.lines.push(b'\n');
            }
            Format::Csv => {
                super::write_csv_row(&mut self.lines, &csv_row(file, event, time_basis))?
            }
        }
        Ok(())
    }

    /// Room for `count` records (a JSON line takes about 500 bytes, and the JSON writer
    /// reserves room for a whole line before it writes one), so the buffer seldom grows.
    pub fn for_events(format: Format, count: usize) -> Rendered {
        let line_bytes = match format {
            Format::Jsonl | Format::Csv => 768,
            Format::Json | Format::Table | Format::Markdown => 0,
        };
        Rendered {
            lines: Vec::with_capacity(count.saturating_mul(line_bytes)),
            ..Rendered::default()
        }
    }

    /// Adds a later batch's records.
    pub fn append(&mut self, mut later: Rendered) {
        if self.lines.is_empty() {
            std::mem::swap(&mut self.lines, &mut later.lines);
        }
        self.lines.append(&mut later.lines);
        self.elements.append(&mut later.elements);
        self.rows.append(&mut later.rows);
    }
}

/// Where records go, in the chosen format. Tables (terminal or Markdown) need every row
/// first; the rest stream.
pub enum Sink<W: Write> {
    Table(W, Vec<Vec<String>>, TableStyle),
    Json(JsonArrayWriter<W>),
    Lines(W),
}

/// The JSON record's fields, in its order; lists (strings) as a JSON array in the cell.
const CSV_HEADER: [&str; 20] = [
    "file",
    "log",
    "record_number",
    "event_record_id",
    "time_generated",
    "time_written",
    "event_id",
    "qualifiers",
    "level",
    "source",
    "provider",
    "category",
    "computer",
    "user",
    "strings",
    "data",
    "message",
    "offset",
    "recovered",
    "time_basis",
];

impl<W: Write> Sink<W> {
    pub fn new(format: Format, mut out: W) -> io::Result<Self> {
        Ok(match format {
            Format::Table => Sink::Table(out, Vec::new(), TableStyle::Terminal),
            Format::Markdown => Sink::Table(out, Vec::new(), TableStyle::Markdown),
            Format::Json => Sink::Json(JsonArrayWriter::new(out)?),
            Format::Jsonl => Sink::Lines(out),
            Format::Csv => {
                super::write_csv_row(&mut out, &CSV_HEADER)?;
                Sink::Lines(out)
            }
        })
    }

    pub fn write(&mut self, rendered: Rendered) -> io::Result<()> {
        match self {
            Sink::Table(_, rows, _) => rows.extend(rendered.rows),
            Sink::Json(w) => {
                for element in &rendered.elements {
                    w.push_serialized(element)?;
                }
            }
            Sink::Lines(out) => out.write_all(&rendered.lines)?,
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        match self {
            Sink::Table(mut out, rows, style) => {
                if rows.is_empty() {
                    return writeln!(out, "No matching records.");
                }
                let assumed = rows.iter().any(|row| row[0].ends_with('*'));
                if style == TableStyle::Markdown {
                    writeln!(out, "{}", super::markdown_table(&TABLE_HEADERS, &rows))?;
                    if assumed {
                        writeln!(out, "\n{}", super::assumed_utc_note_markdown())?;
                    }
                    return out.flush();
                }
                let mut table = super::table(&TABLE_HEADERS);
                // Cells are already cut to fixed widths: a pipe or file gets whole rows, a
                // terminal gets them wrapped to its width.
                if !io::stdout().is_terminal() {
                    table.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
                }
                for row in rows {
                    table.add_row(row);
                }
                writeln!(out, "{table}")?;
                if assumed {
                    writeln!(out, "{}", super::ASSUMED_UTC_NOTE)?;
                }
                out.flush()
            }
            Sink::Json(w) => w.finish()?.flush(),
            Sink::Lines(mut out) => out.flush(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStyle {
    Terminal,
    Markdown,
}

const TABLE_HEADERS: [&str; 8] = [
    "Time (UTC)",
    "Log",
    "Record",
    "Level",
    "Source",
    "ID",
    "Computer",
    "Description",
];

fn opt_text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn table_row(event: &Event, basis: TimeBasis) -> Vec<String> {
    // The log's own message, else the built-in catalog's, else the raw insertion strings.
    let description = event
        .message
        .clone()
        .or_else(|| catalog::describe(&event.source, event.event_id, &event.strings))
        .unwrap_or_else(|| event.strings.join(" | "));
    let mut record = opt_text(event.record_number);
    if event.origin.recovered {
        record.push_str(" (recovered)");
    }
    vec![
        super::time_text(event.time(), basis),
        super::truncate(event.log.as_deref().unwrap_or(""), 12),
        record,
        event.level.name().to_owned(),
        super::truncate(&event.source, 28),
        event.event_id.to_string(),
        super::truncate(event.computer.as_deref().unwrap_or(""), 16),
        super::truncate(&description, 60),
    ]
}

fn csv_row(file: &str, event: &Event, basis: TimeBasis) -> Vec<String> {
    let rfc3339 = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    vec![
        file.to_owned(),
        event.log.clone().unwrap_or_default(),
        opt_text(event.record_number),
        opt_text(event.event_record_id),
        rfc3339(event.time_generated),
        rfc3339(event.time_written),
        event.event_id.to_string(),
        opt_text(event.qualifiers),
        event.level.name().to_owned(),
        event.source.clone(),
        event.provider.clone().unwrap_or_default(),
        opt_text(event.category),
        event.computer.clone().unwrap_or_default(),
        event.user.clone().unwrap_or_default(),
        super::csv_list(&event.strings),
        event.data.as_ref().map(hex::encode).unwrap_or_default(),
        event.message.clone().unwrap_or_default(),
        opt_text(event.origin.offset),
        event.origin.recovered.to_string(),
        basis.label(),
    ]
}
