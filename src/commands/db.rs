//! `evtdoctor db header|check|dump`: read, verify and dump ESE databases. Pages are read with
//! positioned reads (no mmap), so memory stays flat whatever the database size.

use crate::cli::{DbCheckArgs, DbCommand, DbDefragArgs, DbDumpArgs, DbHeaderArgs, Format};
use crate::defrag::engine::{self, Plan};
use crate::defrag::replace::beside;
use crate::output::db::{finding_row, print_header, print_table_list, RowJson, Sink};
use crate::output::defrag::{print_refusal, print_report};
use crate::output::print_problem_list;
use crate::progress::Progress;
use crate::ExitCode;
use anyhow::{Context, Result};
use evtdoctor_parsers::ese::catalog::TableReader;
use evtdoctor_parsers::ese::check;
use evtdoctor_parsers::ese::header::DbState;
use evtdoctor_parsers::ese::{Catalog, Database, TableDef, Value};
use evtdoctor_parsers::Problem;
use std::fs::File;
use std::io::{self, BufWriter};
use std::ops::ControlFlow;
use std::path::Path;

pub fn run(command: &DbCommand) -> Result<ExitCode> {
    let outcome = match command {
        DbCommand::Header(args) => header(args),
        DbCommand::Check(args) => check(args),
        DbCommand::Dump(args) => dump(args),
        DbCommand::Defrag(args) => defrag(args),
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
    print_header(
        &args.file,
        &db.header,
        &db.header_problems,
        args.output.resolved(),
    )?;
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
    crate::note!(
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
    print_problem_list(&path, &problems, 20);
    crate::note!(
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

/// `db defrag`: rebuild, verify, back the original up (never overwriting a file), then rename
/// the new file over it.
fn defrag(args: &DbDefragArgs) -> Result<ExitCode> {
    let (file, _lock) = match engine::claim(&args.file, args.force, args.backup_dir.as_deref()) {
        Ok(claimed) => claimed,
        Err(error) => return print_refusal(&args.file, error),
    };
    let plan = Plan {
        file: file.clone(),
        temp: args.temp.clone(),
        keep_temp: args.preserve_temp,
        backup_dir: match (&args.backup_dir, args.no_backup) {
            (_, true) => None,
            (Some(dir), false) => Some(dir.clone()),
            (None, false) => Some(beside(&file)),
        },
        target_os: args.target_os,
    };
    match engine::execute(&plan) {
        Ok(report) => {
            print_report(&report, args.output.resolved())?;
            Ok(ExitCode::Clean)
        }
        Err(error) => print_refusal(&args.file, error),
    }
}

/// `db dump` of several tables in a table format: each table with its record count.
fn list_tables(db: &Database<File>, tables: &[&TableDef], format: Format) -> Result<ExitCode> {
    let mut problems = 0usize;
    let counted: Vec<(&TableDef, u64)> = tables
        .iter()
        .map(|table| {
            let mut records = 0u64;
            TableReader::new(db, table).for_each(|row| {
                match row {
                    Ok(_) => records += 1,
                    Err(_) => problems += 1,
                }
                ControlFlow::Continue(())
            });
            (*table, records)
        })
        .collect();
    print_table_list(&counted, format);
    eprintln!("evtdoctor: pick a table with --table NAME; {problems} problem(s)");
    Ok(if problems == 0 {
        ExitCode::Clean
    } else {
        ExitCode::Found
    })
}
