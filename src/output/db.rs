//! How the `db` commands show a database: header fields, check findings and records as table
//! rows, CSV rows or JSON, and the table overview.

use super::{write_aligned_fields, write_csv_row, write_fields_csv, write_json, JsonArrayWriter};
use crate::cli::Format;
use evtdoctor_parsers::ese::check::Finding;
use evtdoctor_parsers::ese::{FileHeader, TableDef, Value};
use evtdoctor_parsers::Problem;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// `db header`: eseutil's fields, in `format`.
pub fn print_header(
    file: &Path,
    header: &FileHeader,
    problems: &[Problem],
    format: Format,
) -> io::Result<()> {
    let fields = header.eseutil_fields();
    let mut out = BufWriter::new(io::stdout().lock());
    match format {
        Format::Table => {
            writeln!(out, "Database: {}\n", file.display())?;
            write_aligned_fields(&mut out, &fields)?;
        }
        Format::Markdown => {
            writeln!(out, "| Field | Value |\n|---|---|")?;
            for (name, value) in &fields {
                writeln!(out, "| {name} | {} |", value.replace('|', "\\|"))?;
            }
        }
        Format::Csv => {
            write_fields_csv(&mut out, &fields)?;
        }
        Format::Json | Format::Jsonl => {
            let eseutil: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                .collect();
            let value = serde_json::json!({
                "file": file.display().to_string(),
                "eseutil": eseutil,
                "header": header,
                "header_problems": problems,
            });
            write_json(&mut out, &value, format == Format::Json)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One `db check` finding as a row.
pub fn finding_row(f: &Finding) -> Vec<String> {
    vec![
        f.page.map(|p| p.to_string()).unwrap_or_default(),
        f.kind.to_owned(),
        f.problem.offset.map(|o| o.to_string()).unwrap_or_default(),
        f.problem.message.clone(),
    ]
}

/// The table overview `db dump` prints when no single table is asked for in a table format:
/// each table with its record count.
pub fn print_table_list(tables: &[(&TableDef, u64)], format: Format) {
    let mut rendered = super::table(&["Table", "Object id", "Root page", "Columns", "Records"]);
    if format == Format::Markdown {
        rendered.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    }
    for (table, records) in tables {
        rendered.add_row(vec![
            table.name.clone(),
            table.object_id.to_string(),
            table.root_page.to_string(),
            table.columns.len().to_string(),
            records.to_string(),
        ]);
    }
    println!("{rendered}");
}

/// One record as JSON: the table name and the columns in catalog order.
pub struct RowJson<'a> {
    pub table: &'a TableDef,
    pub values: &'a [Value],
}

impl serde::Serialize for RowJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Record<'a>(&'a TableDef, &'a [Value]);
        impl serde::Serialize for Record<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.1.len()))?;
                for (column, value) in self.0.columns.iter().zip(self.1) {
                    map.serialize_entry(&column.name, value)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("table", &self.table.name)?;
        map.serialize_entry("record", &Record(self.table, self.values))?;
        map.end()
    }
}

/// Where rows go: JSON and JSON lines and CSV stream; tables collect rows first.
pub enum Sink<W: Write> {
    Json(JsonArrayWriter<W>),
    Jsonl(W),
    Csv(W),
    Table(W, Vec<Vec<String>>, bool),
}

impl<W: Write> Sink<W> {
    pub fn new(format: Format, out: W) -> io::Result<Self> {
        Ok(match format {
            Format::Json => Sink::Json(JsonArrayWriter::new(out)?),
            Format::Jsonl => Sink::Jsonl(out),
            Format::Csv => Sink::Csv(out),
            Format::Table => Sink::Table(out, Vec::new(), false),
            Format::Markdown => Sink::Table(out, Vec::new(), true),
        })
    }

    pub fn header(&mut self, names: &[&str]) -> io::Result<()> {
        match self {
            Sink::Csv(out) => write_csv_row(out, names),
            _ => Ok(()),
        }
    }

    pub fn push<T: serde::Serialize>(&mut self, item: &T, text: Vec<String>) -> io::Result<()> {
        match self {
            Sink::Json(writer) => writer.push(item),
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, item)?;
                out.write_all(b"\n")
            }
            Sink::Csv(out) => write_csv_row(out, &text),
            Sink::Table(_, rows, _) => {
                rows.push(text.iter().map(|t| super::truncate(t, 60)).collect());
                Ok(())
            }
        }
    }

    pub fn finish(self, headers: &[&str], empty: &str) -> io::Result<()> {
        match self {
            Sink::Json(writer) => writer.finish()?.flush(),
            Sink::Jsonl(mut out) | Sink::Csv(mut out) => out.flush(),
            Sink::Table(mut out, rows, markdown) => {
                if rows.is_empty() {
                    writeln!(out, "{empty}")?;
                    return out.flush();
                }
                let mut table = super::table(headers);
                if markdown {
                    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
                }
                for row in rows {
                    table.add_row(row);
                }
                writeln!(out, "{table}")?;
                out.flush()
            }
        }
    }
}
