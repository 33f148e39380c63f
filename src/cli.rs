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

    /// Diagnose a server from its exported logs: timeline, findings with evidence, what to do.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor analyze exported-logs/\n",
        "  evtdoctor analyze System.evt Application.evt --format markdown --output ticket.md\n",
        "  evtdoctor analyze logs/ --db kmsmdb.edb --json\n",
        "  evtdoctor analyze logs/ --tz +02:00\n\n",
        "Exit codes:\n",
        "  0  no active finding (nothing found, or every finding shows as resolved)\n",
        "  1  at least one active finding (unreadable inputs beside readable ones are listed)\n",
        "  2  usage error, or no readable input"
    ))]
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log files or directories (walked recursively): every log of one server, any mix of
    /// formats; the same record in two inputs counts once.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// The KMS database (kmsmdb.edb) the logs are about, to check it exists.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Show times in this zone: UTC (default) or a fixed offset such as +02:00. JSON stays UTC.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: String,

    /// Report format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ReportFormat>,

    /// Shorthand for --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// The formats a report comes in (a report is one document, so no CSV or JSON lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Markdown,
}

impl AnalyzeArgs {
    pub fn resolved_format(&self) -> ReportFormat {
        if self.json {
            ReportFormat::Json
        } else {
            self.format.unwrap_or(ReportFormat::Table)
        }
    }
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
