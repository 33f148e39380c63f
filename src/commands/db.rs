//! `evtdoctor db header|check|dump|defrag`: read, verify, dump and defragment ESE databases.
//! Pages are read with positioned reads (no mmap), so memory stays flat whatever the database
//! size. Each writes one document, to stdout or to the file of `-o` (never the database).

use crate::cli::{
    DbCheckArgs, DbCommand, DbDefragArgs, DbDumpArgs, DbHeaderArgs, Format, OutputArgs,
};
use crate::defrag::engine::{self, Plan};
use crate::defrag::replace::beside;
use crate::output::db::{
    finding_row, write_header, write_table_list, CheckTotals, DumpTotals, ProblemJson, RowJson,
    Sink, TableCount,
};
use crate::output::defrag::{print_refusal, write_report};
use crate::output::destination::{resolve_format, Destination};
use crate::output::print_problem_list;
use crate::progress::Progress;
use crate::ExitCode;
use anyhow::{Context, Result};
use evtdoctor_parsers::ese::catalog::TableReader;
use evtdoctor_parsers::ese::check::{self, CheckSummary, Finding};
use evtdoctor_parsers::ese::database::OpenError;
use evtdoctor_parsers::ese::{Catalog, Database, FileHeader, TableDef, Value};
use evtdoctor_parsers::Problem;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

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

/// Where a command's document goes, in which format: `-o`'s file (never the database) or
/// stdout.
fn destination(
    output: &OutputArgs,
    file: Option<&PathBuf>,
    database: &Path,
) -> Result<(Format, Destination)> {
    let format = resolve_format(output.given(), file.map(PathBuf::as_path))?;
    let destination = Destination::open(file.map(PathBuf::as_path), &[database.to_path_buf()])?;
    Ok((format, destination))
}

/// A database that could not be opened.
enum Unopened {
    /// Not an ESE database (or not readable): said on stderr; exit 2.
    Unreadable,
    /// An ESE header whose page size ESE refuses: damage, no page readable.
    Damaged {
        header: Box<FileHeader>,
        problem: Problem,
    },
}

/// Opens a database, or explains on stderr why it is not one.
fn open(path: &Path) -> std::result::Result<Database<File>, Unopened> {
    let file = File::open(path).map_err(|e| {
        crate::error!("{}: {e}", path.display());
        Unopened::Unreadable
    })?;
    Database::open(file).map_err(|error| {
        crate::error!("{}: {error}", path.display());
        match error {
            OpenError::NotEse(_) => Unopened::Unreadable,
            OpenError::Damaged { ref header, .. } => Unopened::Damaged {
                header: header.clone(),
                problem: error.problem(),
            },
        }
    })
}

fn header(args: &DbHeaderArgs) -> Result<ExitCode> {
    let (format, mut destination) =
        destination(&args.output, args.output_file.as_ref(), &args.file)?;
    let (header, problems, code) = match open(&args.file) {
        Ok(db) => {
            for problem in &db.header_problems {
                crate::error!("{}: {problem}", args.file.display());
            }
            (Box::new(db.header), db.header_problems, ExitCode::Clean)
        }
        Err(Unopened::Unreadable) => return Ok(ExitCode::Usage),
        Err(Unopened::Damaged { header, problem }) => (header, vec![problem], ExitCode::Found),
    };
    write_header(
        &mut BufWriter::new(destination.writer()),
        &args.file,
        &header,
        &problems,
        format,
    )?;
    destination.finish()?;
    Ok(code)
}

fn check(args: &DbCheckArgs) -> Result<ExitCode> {
    let (format, mut destination) =
        destination(&args.output, args.output_file.as_ref(), &args.file)?;
    let opened = match open(&args.file) {
        Ok(db) => Ok(db),
        Err(Unopened::Unreadable) => return Ok(ExitCode::Usage),
        Err(Unopened::Damaged { header, problem }) => Err((header, problem)),
    };
    let mut sink = Sink::new(
        format,
        BufWriter::new(destination.writer()),
        &args.file,
        "problems",
    )?;
    if format == Format::Csv {
        sink.header(&["page", "kind", "offset", "problem"])?;
    }
    let mut count = 0usize;
    let mut write_error = None;
    let mut push = |finding: Finding| {
        count += 1;
        if let Err(e) = sink.push(&ProblemJson::of(&finding), finding_row(&finding)) {
            write_error.get_or_insert(e);
        }
    };
    let (header, page_size, summary) = match &opened {
        Ok(db) => (&db.header, db.page_size(), run_check(db, &mut push)),
        Err((header, problem)) => {
            push(Finding {
                page: None,
                kind: "header",
                problem: problem.clone(),
            });
            (&**header, 0, CheckSummary::default())
        }
    };
    if let Some(e) = write_error {
        return Err(e).context("writing output");
    }
    let totals = CheckTotals::of(header, page_size, &summary, count);
    sink.finish(
        &["Page", "Kind", "Offset", "Problem"],
        "No problems found.",
        &totals,
    )?;
    destination.finish()?;
    report_check(&args.file, header_state(&totals), &summary, count);
    Ok(if count == 0 {
        ExitCode::Clean
    } else {
        ExitCode::Found
    })
}

fn header_state(totals: &CheckTotals<'_>) -> Option<String> {
    totals.needs_recovery.then(|| totals.state_name.clone())
}

/// `db check` of an opened database, with progress on stderr.
fn run_check(db: &Database<File>, report: &mut impl FnMut(Finding)) -> CheckSummary {
    let progress = Progress::for_bytes(db.file_size(), false);
    let page_size = db.page_size() as u64;
    let mut done = 0u32;
    let summary = check::check(db, report, |pages| {
        progress.advance(u64::from(pages.saturating_sub(done)) * page_size);
        done = pages;
    });
    progress.finish();
    summary
}

/// The notes after a check: a state that needs recovery, the counts, tables awaiting cleanup.
fn report_check(file: &Path, needs_recovery: Option<String>, summary: &CheckSummary, count: usize) {
    if let Some(state) = needs_recovery {
        eprintln!(
            "evtdoctor: {}: state is {state}: the database needs its log files (recovery) before \
             ESE will attach it; that is not page damage",
            file.display(),
        );
    }
    crate::note!(
        "evtdoctor: {}: {} pages ({} in use, {} past the database's space), {} trees, {} records checked; {count} problem(s)",
        file.display(),
        summary.pages,
        summary.pages_in_use,
        summary.pages_not_owned,
        summary.trees,
        summary.records
    );
    for table in &summary.awaiting_cleanup {
        eprintln!(
            "evtdoctor: {}: note: table {} (object {}, root page {}) is deleted in the catalog and its pages await ESE's cleanup; that is not damage, and db defrag leaves it out",
            file.display(),
            table.name,
            table.object_id,
            table.root_page
        );
    }
}

fn dump(args: &DbDumpArgs) -> Result<ExitCode> {
    let (format, mut destination) =
        destination(&args.output, args.output_file.as_ref(), &args.file)?;
    let db = match open(&args.file) {
        Ok(db) => db,
        Err(Unopened::Unreadable) => return Ok(ExitCode::Usage),
        Err(Unopened::Damaged { .. }) => return Ok(ExitCode::Found),
    };
    let path = args.file.display().to_string();
    let (catalog, catalog_problems) = Catalog::read(&db);
    let mut problems: Vec<(&str, Problem)> = db
        .header_problems
        .iter()
        .map(|p| ("header", p.clone()))
        .collect();
    problems.extend(catalog_problems.into_iter().map(|p| ("catalog", p)));
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
    if tables.len() > 1 {
        match format {
            Format::Csv => {
                crate::error!("--format csv needs --table (tables differ in columns)");
                return Ok(ExitCode::Usage);
            }
            Format::Table | Format::Markdown => {
                let code = list_tables(&mut destination.writer(), &db, &tables, format)?;
                destination.finish()?;
                return Ok(code);
            }
            Format::Json | Format::Jsonl => {}
        }
    }
    let mut sink = Sink::new(
        format,
        BufWriter::new(destination.writer()),
        &args.file,
        "records",
    )?;
    let mut counts = Vec::with_capacity(tables.len());
    // Pages read, in bytes: roughly the file once (long values add a little).
    let progress = Progress::for_bytes(db.file_size(), false);
    let mut shown = 0u64;
    for table in &tables {
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        if format == Format::Csv {
            sink.header(&names)?;
        }
        let mut records = 0u64;
        let mut write_error = None;
        TableReader::new(&db, table).for_each(|row| {
            let values = match row {
                Ok(values) => values,
                Err(problem) => {
                    problems.push(("record", problem));
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
        counts.push(TableCount {
            name: &table.name,
            records,
        });
    }
    let headers: Vec<&str> = tables
        .first()
        .map(|t| t.columns.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    progress.finish();
    let records: u64 = counts.iter().map(|c| c.records).sum();
    let totals = DumpTotals {
        tables: counts,
        problems: problems
            .iter()
            .map(|(kind, problem)| ProblemJson::kind(kind, problem))
            .collect(),
    };
    sink.finish(&headers, "No records.", &totals)?;
    destination.finish()?;
    let problems: Vec<Problem> = problems.into_iter().map(|(_, p)| p).collect();
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
    let (format, mut destination) =
        destination(&args.output, args.output_file.as_ref(), &args.file)?;
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
            write_report(&mut destination.writer(), &report, format)?;
            destination.finish()?;
            Ok(ExitCode::Clean)
        }
        Err(error) => print_refusal(&args.file, error),
    }
}

/// `db dump` of several tables in a table format: each table with its record count.
fn list_tables(
    out: &mut dyn Write,
    db: &Database<File>,
    tables: &[&TableDef],
    format: Format,
) -> Result<ExitCode> {
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
    write_table_list(out, &counted, format)?;
    crate::error!("pick a table with --table NAME; {problems} problem(s)");
    Ok(if problems == 0 {
        ExitCode::Clean
    } else {
        ExitCode::Found
    })
}
