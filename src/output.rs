//! Shared rendering helpers: tables for people, CSV and JSON lines for machines.

pub mod color;
pub mod db;
pub mod decode;
pub mod defrag;
pub mod destination;
pub mod event_json;
pub mod events;

use crate::input::{InputReport, PathError};
use chrono::{DateTime, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::Problem;
use std::io::{self, IsTerminal, Write};

/// Width of tables not printed to a terminal (files, pipes, golden tests).
pub const FIXED_WIDTH: u16 = 120;

/// A table with the project's look for stdout: wrapped to the terminal's width when stdout is
/// one, else to [`FIXED_WIDTH`].
pub fn table(headers: &[&str]) -> Table {
    table_fitting(headers, io::stdout().is_terminal())
}

/// A table wrapped to the terminal (`fit_terminal`) or to [`FIXED_WIDTH`], so the same data
/// always renders the same in a file.
pub fn table_fitting(headers: &[&str], fit_terminal: bool) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().copied());
    if !fit_terminal {
        table.force_no_tty().set_width(FIXED_WIDTH);
    }
    table
}

/// The note a table carries when some of its times were read as UTC by assumption.
pub const ASSUMED_UTC_NOTE: &str =
    "* time from text without a zone, read as UTC (give --tz to set the offset)";

/// [`ASSUMED_UTC_NOTE`] in Markdown (its mark escaped, not a list item).
pub fn assumed_utc_note_markdown() -> String {
    ASSUMED_UTC_NOTE.replacen('*', "\\*", 1)
}

/// The time as tables show it; a time read as UTC by assumption is marked with `*`.
pub fn time_text(time: Option<DateTime<Utc>>, basis: TimeBasis) -> String {
    let Some(time) = time else {
        return String::new();
    };
    let mark = if basis == TimeBasis::AssumedUtc {
        " *"
    } else {
        ""
    };
    format!("{}{mark}", time.format("%Y-%m-%d %H:%M:%S"))
}

/// The paths named that cannot be read, one error line each.
pub fn print_path_errors(errors: &[PathError]) {
    for error in errors {
        crate::error!("{}: {}", error.path.display(), error.message);
    }
}

/// An input's problems on stderr, one line each, naming file and offset; a flood is capped.
pub fn print_problems(report: &InputReport) {
    let path = report.path.display();
    if let Some(fatal) = &report.fatal {
        crate::error!("{path}: {fatal}");
    }
    print_problem_list(&path, &report.problems, 10);
}

/// Problems on stderr, one line each after the file's name; past `shown`, only how many more.
pub fn print_problem_list(path: &dyn std::fmt::Display, problems: &[Problem], shown: usize) {
    for problem in problems.iter().take(shown) {
        crate::error!("{path}: {problem}");
    }
    if problems.len() > shown {
        crate::error!("{path}: … and {} more problems", problems.len() - shown);
    }
}

/// Shortens `text` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    let one_line = text.replace(['\r', '\n', '\t'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A Markdown table; pipes are escaped and line breaks become `<br>` so each row stays one line.
pub fn markdown_table<R: AsRef<[String]>>(headers: &[&str], rows: &[R]) -> String {
    let cell = |text: &str| {
        text.replace('|', "\\|")
            .replace("\r\n", "<br>")
            .replace('\n', "<br>")
    };
    let mut lines = vec![
        format!("| {} |", headers.join(" | ")),
        format!("|{}", "---|".repeat(headers.len())),
    ];
    for row in rows {
        let cells: Vec<String> = row.as_ref().iter().map(|c| cell(c)).collect();
        lines.push(format!("| {} |", cells.join(" | ")));
    }
    lines.join("\n")
}

/// Writes one CSV row, fields quoted where RFC 4180 needs it (the csv crate's writer).
pub fn write_csv_row<W: Write, S: AsRef<str>>(out: &mut W, fields: &[S]) -> io::Result<()> {
    // A row at a time into the caller's buffer: a small writer buffer, flushed at once.
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(512)
        .from_writer(out);
    writer.write_record(fields.iter().map(|f| f.as_ref()))?;
    writer.flush()
}

/// A list as one CSV cell: a JSON array of strings, which a spreadsheet shows as text and
/// evtdoctor reads back exactly (`["a","b"]`; `[]` for none).
pub fn csv_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&items).unwrap_or_default()
}

/// Fields as `name: value` lines, the names right-aligned.
pub fn write_aligned_fields<W: Write>(out: &mut W, fields: &[(&str, String)]) -> io::Result<()> {
    let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in fields {
        writeln!(out, "{name:>width$}: {value}")?;
    }
    Ok(())
}

/// Fields as a `field,value` CSV.
pub fn write_fields_csv<W: Write>(out: &mut W, fields: &[(&str, String)]) -> io::Result<()> {
    write_csv_row(out, &["field", "value"])?;
    for (name, value) in fields {
        write_csv_row(out, &[*name, value.as_str()])?;
    }
    Ok(())
}

/// One JSON value, indented (`--json`) or on one line (`--jsonl`), and a newline.
pub fn write_json<W: Write, T: serde::Serialize>(
    out: &mut W,
    value: &T,
    indented: bool,
) -> io::Result<()> {
    if indented {
        serde_json::to_writer_pretty(&mut *out, value)?;
    } else {
        serde_json::to_writer(&mut *out, value)?;
    }
    writeln!(out)
}

/// Streams a JSON array one element at a time, so large outputs need no buffering.
pub struct JsonArrayWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonArrayWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"[")?;
        Ok(JsonArrayWriter { out, first: true })
    }

    pub fn push<T: serde::Serialize>(&mut self, value: &T) -> io::Result<()> {
        self.separate()?;
        serde_json::to_writer(&mut self.out, value)?;
        Ok(())
    }

    /// Adds an element already serialized (by another thread, say).
    pub fn push_serialized(&mut self, json: &[u8]) -> io::Result<()> {
        self.separate()?;
        self.out.write_all(json)
    }

    fn separate(&mut self) -> io::Result<()> {
        self.out
            .write_all(if self.first { b"\n  " } else { b",\n  " })?;
        self.first = false;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out
            .write_all(if self.first { b"]\n" } else { b"\n]\n" })?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut out = Vec::new();
        write_csv_row(&mut out, &["plain", "a,b", "say \"hi\"", "two\nlines", ""]).unwrap();
        write_csv_row(
            &mut out,
            &[csv_list(&["x", "y,\"z\""]), csv_list::<&str>(&[])],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\n",
                r#""[""x"",""y,\""z\""""]",[]"#,
                "\n"
            )
        );
    }

    #[test]
    fn markdown_tables_escape_cells() {
        let rows = [vec!["a|b".to_owned(), "one\ntwo".to_owned()]];
        assert_eq!(
            markdown_table(&["K", "V"], &rows),
            "| K | V |\n|---|---|\n| a\\|b | one<br>two |"
        );
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("ab\ncd", 10), "ab cd");
    }

    #[test]
    fn json_array_writer_writes_valid_json() {
        let mut w = JsonArrayWriter::new(Vec::new()).unwrap();
        w.push(&1).unwrap();
        w.push_serialized(br#""two""#).unwrap();
        let bytes = w.finish().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value, serde_json::json!([1, "two"]));
        let empty = JsonArrayWriter::new(Vec::new()).unwrap().finish().unwrap();
        assert_eq!(empty, b"[]\n");
    }
}
