//! How the `db` commands show a database: header fields, check findings and records as table
//! rows, CSV rows or JSON, and the table overview.

use super::{write_aligned_fields, write_csv_row, write_fields_csv, write_json, JsonArrayWriter};
use crate::cli::Format;
use evtdoctor_parsers::ese::check::{CheckSummary, Finding};
use evtdoctor_parsers::ese::cleanup::DeletedTable;
use evtdoctor_parsers::ese::header::DbState;
use evtdoctor_parsers::ese::{FileHeader, TableDef, Value};
use evtdoctor_parsers::Problem;
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// `db header`: eseutil's fields, in `format`; in JSON the typed header, eseutil's fields
/// and the problems.
pub fn write_header<W: Write>(
    out: &mut W,
    file: &Path,
    header: &FileHeader,
    problems: &[Problem],
    format: Format,
) -> io::Result<()> {
    let fields = header.eseutil_fields();
    match format {
        Format::Table => {
            writeln!(out, "Database: {}\n", file.display())?;
            write_aligned_fields(out, &fields)?;
        }
        Format::Markdown => {
            writeln!(out, "| Field | Value |\n|---|---|")?;
            for (name, value) in &fields {
                writeln!(out, "| {name} | {} |", value.replace('|', "\\|"))?;
            }
        }
        Format::Csv => {
            write_fields_csv(out, &fields)?;
        }
        Format::Json | Format::Jsonl => {
            let document = HeaderJson {
                file: file.display().to_string(),
                state_name: header.state.name(),
                header,
                eseutil: fields
                    .iter()
                    .map(|(field, value)| EseutilField { field, value })
                    .collect(),
                problems: problems.iter().map(ProblemJson::header).collect(),
            };
            write_json(out, &document, format == Format::Json)?;
        }
    }
    out.flush()
}

/// `db header --json` (docs/schemas/db-header.schema.json).
#[derive(Serialize)]
struct HeaderJson<'a> {
    file: String,
    state_name: String,
    header: &'a FileHeader,
    /// eseutil /mh's fields as it prints them, in its order.
    eseutil: Vec<EseutilField<'a>>,
    problems: Vec<ProblemJson<'a>>,
}

#[derive(Serialize)]
struct EseutilField<'a> {
    field: &'a str,
    value: &'a String,
}

/// A problem in the `db` commands' JSON: the page it is on, its kind, the byte offset.
#[derive(Serialize)]
pub struct ProblemJson<'a> {
    pub page: Option<u32>,
    pub kind: &'a str,
    pub offset: Option<u64>,
    pub message: &'a str,
}

impl<'a> ProblemJson<'a> {
    pub fn of(finding: &'a Finding) -> Self {
        ProblemJson {
            page: finding.page,
            kind: finding.kind,
            offset: finding.problem.offset,
            message: &finding.problem.message,
        }
    }

    /// A problem of the file header (no page).
    pub fn header(problem: &'a Problem) -> Self {
        Self::kind("header", problem)
    }

    /// A problem `db dump` met reading records.
    pub fn kind(kind: &'a str, problem: &'a Problem) -> Self {
        ProblemJson {
            page: None,
            kind,
            offset: problem.offset,
            message: &problem.message,
        }
    }
}

/// What `db check --json` says after the problems (docs/schemas/db-check.schema.json).
#[derive(Serialize)]
pub struct CheckTotals<'a> {
    pub damaged: bool,
    pub state: u32,
    pub state_name: String,
    /// Whether ESE needs the transaction logs (recovery) before it attaches the database:
    /// a state, not damage.
    pub needs_recovery: bool,
    pub page_size: usize,
    pub pages: u32,
    pub pages_in_use: u32,
    pub pages_not_owned: u32,
    pub ecc_correctable: u32,
    pub trees: u32,
    pub entries: u64,
    pub tables: u32,
    pub records: u64,
    pub awaiting_cleanup: &'a [DeletedTable],
}

impl<'a> CheckTotals<'a> {
    pub fn of(
        header: &FileHeader,
        page_size: usize,
        summary: &'a CheckSummary,
        problems: usize,
    ) -> Self {
        CheckTotals {
            damaged: problems > 0,
            state: header.state.0,
            state_name: header.state.name(),
            needs_recovery: header.state != DbState::CLEAN_SHUTDOWN,
            page_size,
            pages: summary.pages,
            pages_in_use: summary.pages_in_use,
            pages_not_owned: summary.pages_not_owned,
            ecc_correctable: summary.ecc_correctable,
            trees: summary.trees,
            entries: summary.records,
            tables: summary.tables,
            records: summary.table_records,
            awaiting_cleanup: &summary.awaiting_cleanup,
        }
    }
}

/// What `db dump --json` says after the records (docs/schemas/db-dump.schema.json).
#[derive(Serialize)]
pub struct DumpTotals<'a> {
    pub tables: Vec<TableCount<'a>>,
    pub problems: Vec<ProblemJson<'a>>,
}

#[derive(Serialize)]
pub struct TableCount<'a> {
    pub name: &'a str,
    pub records: u64,
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
pub fn write_table_list(
    out: &mut dyn Write,
    tables: &[(&TableDef, u64)],
    format: Format,
) -> io::Result<()> {
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
    writeln!(out, "{rendered}")
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

/// Where rows go: JSON and JSON lines and CSV stream; tables collect rows first. In JSON the
/// rows are one array member of a single object, the other members written at the end.
pub enum Sink<W: Write> {
    Json(JsonArrayWriter<W>),
    Jsonl(W),
    Csv(W),
    Table(W, Vec<Vec<String>>, bool),
}

impl<W: Write> Sink<W> {
    /// `file` and `member` (the rows' array) open the JSON object.
    pub fn new(format: Format, mut out: W, file: &Path, member: &str) -> io::Result<Self> {
        Ok(match format {
            Format::Json => {
                let file = serde_json::to_string(&file.display().to_string())?;
                write!(out, "{{\n\"file\": {file},\n\"{member}\": ")?;
                Sink::Json(JsonArrayWriter::new(out)?)
            }
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

    /// Ends the document; `totals` (an object) gives JSON's remaining members.
    pub fn finish<T: Serialize>(self, headers: &[&str], empty: &str, totals: &T) -> io::Result<()> {
        match self {
            Sink::Json(writer) => {
                let mut out = writer.finish()?;
                let serde_json::Value::Object(members) = serde_json::to_value(totals)? else {
                    return Err(io::Error::other("JSON totals are not an object"));
                };
                for (key, value) in &members {
                    write!(out, ",\n{}: {}", serde_json::to_string(key)?, value)?;
                }
                writeln!(out, "\n}}")?;
                out.flush()
            }
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
