//! Command-line interface: argument definitions only; each command lives in `commands/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done, nothing found
  1  something found or refused (findings, corruption, a refused fix)
  2  usage error, or no readable input";

#[derive(Debug, Parser)]
#[command(
    name = "evtdoctor",
    version,
    about = "Forensic analyzer for Windows event logs: decode every record, reconstruct what was \
             installed when, diagnose known failures with evidence, and run the fix.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the records of event logs (.evt, .evtx, exports), filtered.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor events System.evt Application.evtx\n",
        "  evtdoctor events logs/ --id 5085,6009 --source MSExchangeKMS --jsonl\n",
        "  evtdoctor events Application.evt --level error --since 2003-07-01 --format csv\n\n",
        "Exit codes:\n",
        "  0  done\n",
        "  2  usage error, or no readable input (unreadable files beside readable ones are listed on stderr)"
    ))]
    Events(EventsArgs),

    /// Read and verify ESE databases (kmsmdb.edb, SRUDB.dat, ntds.dit, ...).
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the database file header, with the field names `eseutil /mh` uses.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor db header kmsmdb.edb\n",
        "  evtdoctor db header kmsmdb.edb --json\n\n",
        "The OS Version line is the Windows version the indexes were built under; a newer\n",
        "service pack makes ESE rebuild them on the next attach.\n\n",
        "Exit codes:\n",
        "  0  header read (a damaged primary header falls back to the shadow copy)\n",
        "  2  usage error, or not a readable ESE database"
    ))]
    Header(DbHeaderArgs),

    /// Verify every page checksum and the structure of every tree (like eseutil /k and /g).
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor db check kmsmdb.edb\n",
        "  evtdoctor db check SRUDB.dat --jsonl\n\n",
        "Exit codes:\n",
        "  0  no problem found\n",
        "  1  problems found (each listed with page number and kind)\n",
        "  2  usage error, or not a readable ESE database"
    ))]
    Check(DbCheckArgs),

    /// Print the records of one table or of all tables, every column decoded.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor db dump kmsmdb.edb --table MSysObjects\n",
        "  evtdoctor db dump SRUDB.dat --jsonl > srum.jsonl\n",
        "  evtdoctor db dump SRUDB.dat --table SruDbIdMapTable --format csv\n\n",
        "Without --table, the table format lists the tables and their record counts.\n",
        "Values: NULL is null; binary is hex; GUIDs in registry form; DateTime columns as ISO\n",
        "8601 text (an OLE date, or a FILETIME when an application stored one there; ESE keeps\n",
        "no time zone, so the zone is the application's, usually UTC); multi-valued\n",
        "columns as arrays (joined with \"; \" in tables and CSV); a column a record does not\n",
        "store reads as its default value.\n\n",
        "Exit codes:\n",
        "  0  every record decoded\n",
        "  1  some records or pages could not be read (listed on stderr; the rest is printed)\n",
        "  2  usage error, unknown table, or not a readable ESE database"
    ))]
    Dump(DbDumpArgs),
}

#[derive(Debug, Args)]
pub struct DbHeaderArgs {
    /// The database file.
    pub file: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DbCheckArgs {
    /// The database file.
    pub file: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DbDumpArgs {
    /// The database file.
    pub file: PathBuf,

    /// Only this table (default: every table, catalog included).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Log files or directories (walked recursively); the format is detected by content.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub filter: FilterArgs,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Which records to keep.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only these event ids (comma-separated).
    #[arg(long = "id", value_delimiter = ',', value_name = "IDS")]
    pub ids: Vec<u16>,

    /// Only this source / provider (case-insensitive; repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub source: Vec<String>,

    /// Only records at or after this time (RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`, UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only records before this time (same forms as --since; a bare date means its start).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Only these levels (comma-separated): critical, error, warning, information, verbose,
    /// audit-success, audit-failure.
    #[arg(long, value_delimiter = ',', value_name = "LEVELS")]
    pub level: Vec<LevelArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    Critical,
    Error,
    Warning,
    #[value(alias = "info")]
    Information,
    Verbose,
    AuditSuccess,
    AuditFailure,
}

/// How inputs are read.
#[derive(Debug, Args, Default)]
pub struct ReadArgs {
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Do not carve deleted or damaged records from free space.
    #[arg(long)]
    pub no_recover: bool,
}

/// Output format selection, shared by every command that prints data.
#[derive(Debug, Args, Default)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Shorthand for --format json.
    #[arg(long, conflicts_with_all = ["format", "jsonl"])]
    pub json: bool,

    /// Shorthand for --format jsonl.
    #[arg(long, conflicts_with_all = ["format", "json"])]
    pub jsonl: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
    Markdown,
}

impl OutputArgs {
    pub fn resolved(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.jsonl {
            Format::Jsonl
        } else {
            self.format.unwrap_or(Format::Table)
        }
    }
}
