//! `evtdoctor db header|check|dump`: read, verify and dump ESE databases. Pages are read with
//! positioned reads (no mmap), so memory stays flat whatever the database size.

use crate::cli::{DbCheckArgs, DbCommand, DbDumpArgs, DbHeaderArgs, Format};
use crate::output::{self, JsonArrayWriter};
use crate::progress::Progress;
use crate::ExitCode;
use anyhow::{Context, Result};
use evtdoctor_parsers::ese::catalog::TableReader;
use evtdoctor_parsers::ese::check::{self, Finding};
use evtdoctor_parsers::ese::header::DbState;
use evtdoctor_parsers::ese::{Catalog, Database, TableDef, Value};
use evtdoctor_parsers::Problem;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::Path;

pub fn run(command: &DbCommand) -> Result<ExitCode> {
    let outcome = match command {
        DbCommand::Header(args) => header(args),
        DbCommand::Check(args) => check(args),
        DbCommand::Dump(args) => dump(args),
        DbCommand::Defrag(args) => super::db_defrag::run(args),
    };
    match outcome {
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::Clean),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Opens a database, or explains on stderr why it is not one (exit code 2).
fn open(path: &Path) -> Result<std::result::Result<Database<File>, ExitCode>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("evtdoctor: {}: {e}", path.display());
            return Ok(Err(ExitCode::Usage));
        }
    };
    match Database::open(file) {
        Ok(db) => Ok(Ok(db)),
        Err(problem) => {
            eprintln!("evtdoctor: {}: {problem}", path.display());
            Ok(Err(ExitCode::Usage))
        }
    }
}

fn header(args: &DbHeaderArgs) -> Result<ExitCode> {
    let db = match open(&args.file)? {
        Ok(db) => db,
        Err(code) => return Ok(code),
    };
    for problem in &db.header_problems {
        eprintln!("evtdoctor: {}: {problem}", args.file.display());
    }
    let fields = db.header.eseutil_fields();
    let mut out = BufWriter::new(io::stdout().lock());
    match args.output.resolved() {
        Format::Table => {
            writeln!(out, "Database: {}\n", args.file.display())?;
            let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            for (name, value) in &fields {
                writeln!(out, "{name:>width$}: {value}")?;
            }
        }
        Format::Markdown => {
            writeln!(out, "| Field | Value |\n|---|---|")?;
            for (name, value) in &fields {
                writeln!(out, "| {name} | {} |", value.replace('|', "\\|"))?;
            }
        }
        Format::Csv => {
            output::write_csv_row(&mut out, &["field", "value"])?;
            for (name, value) in &fields {
                output::write_csv_row(&mut out, &[*name, value.as_str()])?;
            }
        }
        Format::Json | Format::Jsonl => {
            let eseutil: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                .collect();
            let value = serde_json::json!({
                "file": args.file.display().to_string(),
                "eseutil": eseutil,
                "header": db.header,
                "header_problems": db.header_problems,
            });
            if args.output.resolved() == Format::Json {
                serde_json::to_writer_pretty(&mut out, &value)?;
            } else {
                serde_json::to_writer(&mut out, &value)?;
            }
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Clean)
}

fn check(args: &DbCheckArgs) -> Result<ExitCode> {
    let db = match open(&args.file)? {
        Ok(db) => db,
        Err(code) => return Ok(code),
    };
    let format = args.output.resolved();
    let mut sink = Sink::new(format, BufWriter::new(io::stdout().lock()))?;
    if format == Format::Csv {
        sink.header(&["page", "kind", "offset", "problem"])?;
    }
    let progress = Progress::for_bytes(db.file_size(), false);
    let page_size = db.page_size() as u64;
    let mut done = 0u32;
    let mut count = 0usize;
    let mut write_error = None;
    let summary = check::check(
        &db,
        |finding| {
            count += 1;
            if let Err(e) = sink.push(&finding, finding_row(&finding)) {
                write_error.get_or_insert(e);
            }
        },
        |pages| {
            progress.advance(u64::from(pages.saturating_sub(done)) * page_size);
            done = pages;
        },
    );
    progress.finish();
    if let Some(e) = write_error {
        return Err(e).context("writing output");
    }
    sink.finish(&["Page", "Kind", "Offset", "Problem"], "No problems found.")?;
    if db.header.state != DbState::CLEAN_SHUTDOWN {
        eprintln!(
            "evtdoctor: {}: state is {}: the database needs its log files (recovery) before \
             ESE will attach it; that is not page damage",
            args.file.display(),
            db.header.state.name()
        );
    }
    eprintln!(
        "evtdoctor: {}: {} pages ({} in use, {} past the database's space), {} trees, {} records checked; {count} problem(s)",
        args.file.display(),
        summary.pages,
        summary.pages_in_use,
        summary.pages_not_owned,
        summary.trees,
        summary.records
    );
    for table in &summary.awaiting_cleanup {
        eprintln!(
            "evtdoctor: {}: note: table {} (object {}, root page {}) is deleted in the catalog and its pages await ESE's cleanup; that is not damage, and db defrag leaves it out",
            args.file.display(),
            table.name,
            table.object_id,
            table.root_page
        );
    }
    Ok(if count == 0 {
        ExitCode::Clean
    } else {
        ExitCode::Found
    })
}

fn finding_row(f: &Finding) -> Vec<String> {
    vec![
        f.page.map(|p| p.to_string()).unwrap_or_default(),
        f.kind.to_owned(),
        f.problem.offset.map(|o| o.to_string()).unwrap_or_default(),
        f.problem.message.clone(),
    ]
}

fn dump(args: &DbDumpArgs) -> Result<ExitCode> {
    let db = match open(&args.file)? {
        Ok(db) => db,
        Err(code) => return Ok(code),
    };
    let path = args.file.display().to_string();
    let (catalog, catalog_problems) = Catalog::read(&db);
    let mut problems: Vec<Problem> = db.header_problems.clone();
    problems.extend(catalog_problems);
    let tables: Vec<&TableDef> = match &args.table {
        Some(name) => match catalog.table(name) {
            Some(table) => vec![table],
            None => {
                let names: Vec<&str> = catalog.tables.iter().map(|t| t.name.as_str()).collect();
                eprintln!(
                    "evtdoctor: {path}: no table {name:?}; tables: {}",
                    names.join(", ")
                );
                return Ok(ExitCode::Usage);
            }
        },
        None => catalog.tables.iter().collect(),
    };
    let format = args.output.resolved();
    if tables.len() > 1 {
        match format {
            Format::Csv => {
                eprintln!("evtdoctor: --format csv needs --table (tables differ in columns)");
                return Ok(ExitCode::Usage);
            }
            Format::Table | Format::Markdown => return list_tables(&db, &tables, format),
            Format::Json | Format::Jsonl => {}
        }
    }
    let mut sink = Sink::new(format, BufWriter::new(io::stdout().lock()))?;
    let mut records = 0u64;
    // Pages read, in bytes: roughly the file once (long values add a little).
    let progress = Progress::for_bytes(db.file_size(), false);
    let mut shown = 0u64;
    for table in &tables {
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        if format == Format::Csv {
            sink.header(&names)?;
        }
        let mut write_error = None;
        TableReader::new(&db, table).for_each(|row| {
            let values = match row {
                Ok(values) => values,
                Err(problem) => {
                    problems.push(problem);
                    return ControlFlow::Continue(());
                }
            };
            records += 1;
            let read = db.pages_read() * db.page_size() as u64;
            progress.advance(read.saturating_sub(shown));
            shown = shown.max(read);
            let text: Vec<String> = values.iter().map(Value::display).collect();
            match sink.push(
                &RowJson {
                    table,
                    values: &values,
                },
                text,
            ) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        if let Some(e) = write_error {
            return Err(e).context("writing output");
        }
    }
    let headers: Vec<&str> = tables
        .first()
        .map(|t| t.columns.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    progress.finish();
    sink.finish(&headers, "No records.")?;
    for problem in problems.iter().take(20) {
        eprintln!("evtdoctor: {path}: {problem}");
    }
    if problems.len() > 20 {
        eprintln!(
            "evtdoctor: {path}: … and {} more problems",
            problems.len() - 20
        );
    }
    eprintln!(
        "evtdoctor: {path}: {records} records from {} table(s); {} problem(s)",
        tables.len(),
        problems.len()
    );
    Ok(if problems.is_empty() {
        ExitCode::Clean
    } else {
        ExitCode::Found
    })
}

/// The table overview `db dump` prints when no single table is asked for in a table format.
fn list_tables(db: &Database<File>, tables: &[&TableDef], format: Format) -> Result<ExitCode> {
    let mut rendered = output::table(&["Table", "Object id", "Root page", "Columns", "Records"]);
    if format == Format::Markdown {
        rendered.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    }
    let mut problems = 0usize;
    for table in tables {
        let mut records = 0u64;
        TableReader::new(db, table).for_each(|row| {
            match row {
                Ok(_) => records += 1,
                Err(_) => problems += 1,
            }
            ControlFlow::Continue(())
        });
        rendered.add_row(vec![
            table.name.clone(),
            table.object_id.to_string(),
            table.root_page.to_string(),
            table.columns.len().to_string(),
            records.to_string(),
        ]);
    }
    println!("{rendered}");
    eprintln!("evtdoctor: pick a table with --table NAME; {problems} problem(s)");
    Ok(if problems == 0 {
        ExitCode::Clean
    } else {
        ExitCode::Found
    })
}

/// One record as JSON: the table name and the columns in catalog order.
struct RowJson<'a> {
    table: &'a TableDef,
    values: &'a [Value],
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
enum Sink<W: Write> {
    Json(JsonArrayWriter<W>),
    Jsonl(W),
    Csv(W),
    Table(W, Vec<Vec<String>>, bool),
}

impl<W: Write> Sink<W> {
    fn new(format: Format, out: W) -> io::Result<Self> {
        Ok(match format {
            Format::Json => Sink::Json(JsonArrayWriter::new(out)?),
            Format::Jsonl => Sink::Jsonl(out),
            Format::Csv => Sink::Csv(out),
            Format::Table => Sink::Table(out, Vec::new(), false),
            Format::Markdown => Sink::Table(out, Vec::new(), true),
        })
    }

    fn header(&mut self, names: &[&str]) -> io::Result<()> {
        match self {
            Sink::Csv(out) => output::write_csv_row(out, names),
            _ => Ok(()),
        }
    }

    fn push<T: serde::Serialize>(&mut self, item: &T, text: Vec<String>) -> io::Result<()> {
        match self {
            Sink::Json(writer) => writer.push(item),
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, item)?;
                out.write_all(b"\n")
            }
            Sink::Csv(out) => output::write_csv_row(out, &text),
            Sink::Table(_, rows, _) => {
                rows.push(text.iter().map(|t| output::truncate(t, 60)).collect());
                Ok(())
            }
        }
    }

    fn finish(self, headers: &[&str], empty: &str) -> io::Result<()> {
        match self {
            Sink::Json(writer) => writer.finish()?.flush(),
            Sink::Jsonl(mut out) | Sink::Csv(mut out) => out.flush(),
            Sink::Table(mut out, rows, markdown) => {
                if rows.is_empty() {
                    writeln!(out, "{empty}")?;
                    return out.flush();
                }
                let mut table = output::table(headers);
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
