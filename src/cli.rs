//! Command-line interface: argument definitions only; each command lives in `commands/`.

use crate::input::ReadOptions;
use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand, ValueEnum};
use evtdoctor_parsers::ese::header::OsVersion;
use evtdoctor_parsers::text::parse_offset;
use std::path::PathBuf;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done, nothing found
  1  something found or refused (findings, corruption, a refused fix)
  2  usage error, or no readable input";

const TOP_LEVEL_HELP: &str = concat!(
    "Examples:\n",
    "  evtdoctor analyze exported-logs/ --db kmsmdb.edb\n",
    "  evtdoctor events System.evt --id 5085 --jsonl\n",
    "  evtdoctor decode pasted-event.txt\n",
    "  evtdoctor db check kmsmdb.edb\n",
    "  evtdoctor fix --db kmsmdb.edb --target-os \"5.0.2195 SP 4\" --dry-run\n",
    "  evtdoctor completions bash > /etc/bash_completion.d/evtdoctor\n",
    "  evtdoctor man | man -l -\n\n",
    "Exit codes:\n",
    "  0  done, nothing found\n",
    "  1  something found or refused (findings, corruption, a refused fix)\n",
    "  2  usage error, or no readable input"
);

#[derive(Debug, Parser)]
#[command(
    name = "evtdoctor",
    version,
    about = "Forensic analyzer for Windows event logs: decode every record, reconstruct what was \
             installed when, diagnose known failures with evidence, and run the fix.",
    after_help = TOP_LEVEL_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// No summaries, progress or notes on stderr (errors and damage are still reported).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also say what was read from each input (format, size, records, problems).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    /// Colour errors and the analysis table's active findings: `auto` when writing to a
    /// terminal and NO_COLOR is unset (CLICOLOR_FORCE forces it), `always`, or `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl Cli {
    pub fn verbosity(&self) -> crate::verbosity::Verbosity {
        use crate::verbosity::Verbosity;
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the records of event logs (.evt, .evtx, exports), filtered.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor events System.evt Application.evtx\n",
        "  evtdoctor events logs/ --id 5085,6009 --source MSExchangeKMS --jsonl\n",
        "  evtdoctor events Application.evt --level error --since 2003-07-01 --format csv\n",
        "  evtdoctor events pasted-events.txt exported.csv --tz +02:00\n",
        "  evtdoctor events svcpack.log KB823182.log --tz +02:00\n\n",
        "Setup logs of the package installer (svcpack.log, KB*.log) give one event per run: log \
         \"Setup log\", source Update.exe, level by its exit code.\n\n",
        "Text exports (pasted event properties, Event Viewer tab/CSV, PowerShell Export-Csv) and \
         setup logs carry local times without a zone: --tz gives their offset; without it they are read as UTC \
         and marked as assumed.\n\n",
        "Exit codes:\n",
        "  0  done\n",
        "  2  usage error, or no readable input (unreadable files beside readable ones are listed on stderr)"
    ))]
    Events(EventsArgs),

    /// Decode pasted event text, exports or logs, with each event's binary data made readable.
    #[command(after_help = concat!(
        "Reads what engineers paste: Event Properties text (with its Bytes or Words data dump), ",
        "Event Viewer tab/CSV exports, PowerShell Export-Csv output and event XML. The binary ",
        "data is split into its strings; Exchange/ESE payloads also give the product build and ",
        "their file@line markers.\n\n",
        "Examples:\n",
        "  evtdoctor decode pasted-event.txt\n",
        "  cat pasted.txt | evtdoctor decode - --json\n",
        "  evtdoctor decode export.csv --tz -05:00\n\n",
        "Exit codes:\n",
        "  0  decoded at least one event (damaged parts are listed on stderr by line)\n",
        "  2  usage error, or nothing readable"
    ))]
    Decode(DecodeArgs),

    /// Diagnose a server from its exported logs: timeline, findings with evidence, what to do.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor analyze exported-logs/\n",
        "  evtdoctor analyze System.evt Application.evt --format markdown --output ticket.md\n",
        "  evtdoctor analyze samples/kms-sp4 -o report.html\n",
        "  evtdoctor analyze logs/ --db kmsmdb.edb --json\n",
        "  evtdoctor analyze logs/ pasted-event.txt --tz +02:00\n",
        "  evtdoctor analyze System.evt Application.evt svcpack.log\n\n",
        "--tz is the server's UTC offset: text exports are read in it, and the table, Markdown and\n",
        "HTML show times in it (JSON times stay UTC).\n\n",
        "Exit codes:\n",
        "  0  no active finding (nothing found, or every finding shows as resolved)\n",
        "  1  at least one active finding (unreadable inputs beside readable ones are listed)\n",
        "  2  usage error, or no readable input"
    ))]
    Analyze(AnalyzeArgs),

    /// Read and verify ESE databases (kmsmdb.edb, SRUDB.dat, ntds.dit, ...).
    #[command(subcommand, after_help = concat!(
        "Examples:\n",
        "  evtdoctor db header kmsmdb.edb\n",
        "  evtdoctor db check kmsmdb.edb\n",
        "  evtdoctor db dump SRUDB.dat --table SruDbIdMapTable --format csv\n",
        "  evtdoctor db defrag kmsmdb.edb --target-os \"5.0.2195 SP 4\""
    ))]
    Db(DbCommand),

    /// Repair a KMS database the safe way: back up, defragment, verify, replace (or roll back).
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor fix --db kmsmdb.edb --target-os \"5.0.2195 SP 4\" --dry-run\n",
        "  evtdoctor fix --db kmsmdb.edb --target-os \"5.0.2195 SP 4\" --backup-dir /backups --yes\n",
        "  evtdoctor fix --rollback --db kmsmdb.edb --backup-dir /backups\n\n",
        "Runs on a copy taken off the server (a Windows 2000 server cannot run it). Refuses a\n",
        "database that was not shut down cleanly (it lists the transaction logs beside it:\n",
        "recover with eseutil /r first), one another process has open, and one whose folder\n",
        "has less free space than 110% of its size. --target-os is the version of the server\n",
        "that will mount the file (`analyze` shows it): the indexes are stamped as built\n",
        "under it, so ESE does not start the index cleanup that fails in the KMS case.\n",
        "The backup and its SHA-256 are recorded in NAME.evtdoctor-fix.json beside it, for\n",
        "--rollback.\n\n",
        "Exit codes:\n",
        "  0  fixed (or the dry run passed, or rolled back)\n",
        "  1  refused; nothing was changed\n",
        "  2  usage error, or not a readable ESE database"
    ))]
    Fix(FixArgs),

    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor completions bash > /etc/bash_completion.d/evtdoctor\n",
        "  evtdoctor completions zsh > \"${fpath[1]}/_evtdoctor\"\n",
        "  evtdoctor completions fish > ~/.config/fish/completions/evtdoctor.fish\n",
        "  evtdoctor completions powershell >> $PROFILE\n\n",
        "The script is generated from the same definitions as --help, so it never drifts."
    ))]
    Completions(CompletionsArgs),

    /// Print the manual page (roff), generated from the same definitions as --help.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor man | man -l -\n",
        "  evtdoctor man > /usr/local/share/man/man1/evtdoctor.1"
    ))]
    Man,

    /// List, show and check diagnosis rules (the shipped pack and rule files; docs/rules.md).
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules analyze runs: id, KB, title, where each comes from.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor rules list\n",
        "  evtdoctor rules list --rules team-rules/\n\n",
        "Exit codes:\n",
        "  0  listed\n",
        "  2  a rule file of --rules has errors (listed on stderr)"
    ))]
    List(RulesPackArgs),

    /// Print one rule's file (a shipped rule's text, or the file it was read from).
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor rules show ese-page-checksum-damage\n\n",
        "Exit codes:\n",
        "  0  shown\n",
        "  2  no such rule, or a rule file of --rules has errors"
    ))]
    Show(RulesShowArgs),

    /// Check rule files: every error with its line and column.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor rules check team-rules/kb123456.toml\n\n",
        "Exit codes:\n",
        "  0  every file is a valid rule\n",
        "  1  errors found (one line each: FILE:LINE:COLUMN: message)\n",
        "  2  usage error"
    ))]
    Check(RulesCheckArgs),
}

#[derive(Debug, Args)]
pub struct RulesPackArgs {
    /// A directory of extra rule files, as analyze takes it; may be repeated.
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RulesShowArgs {
    /// The rule's id (`evtdoctor rules list`).
    pub id: String,

    #[command(flatten)]
    pub pack: RulesPackArgs,
}

#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Rule files (TOML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
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

    /// Rebuild a database compactly (like eseutil /d), verify it, back up and replace the original.
    #[command(after_help = concat!(
        "Examples:\n",
        "  evtdoctor db defrag kmsmdb.edb\n",
        "  evtdoctor db defrag kmsmdb.edb --backup-dir /backups --target-os \"5.0.2195 SP 4\"\n",
        "  evtdoctor db defrag kmsmdb.edb --temp /tmp/new.edb --preserve-temp\n\n",
        "Every table, index and long value is copied in key order into full pages of a new\n",
        "file with the same format and page size (keys and records exactly as stored); the\n",
        "new file gets a fresh clean-shutdown header and must pass db check and a\n",
        "record-by-record comparison before it replaces the original. The backup (default:\n",
        "beside the database, never overwriting a file) is the only way back: after a defrag\n",
        "older backups and transaction logs no longer apply to the database.\n\n",
        "Exit codes:\n",
        "  0  rebuilt, verified and in place (or kept at --temp with --preserve-temp)\n",
        "  1  refused (dirty shutdown, damage, verification failed); the original is untouched\n",
        "  2  usage error, or not a readable ESE database"
    ))]
    Defrag(DbDefragArgs),
}

#[derive(Debug, Args)]
pub struct DbHeaderArgs {
    /// The database file.
    pub file: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Write to this file instead of standard output (the format from its extension: .json,
    /// .jsonl/.ndjson, .csv, .md; any other needs --format). Never the database.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DbCheckArgs {
    /// The database file.
    pub file: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Write to this file instead of standard output (the format from its extension: .json,
    /// .jsonl/.ndjson, .csv, .md; any other needs --format). Never the database.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output_file: Option<PathBuf>,
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

    /// Write to this file instead of standard output (the format from its extension: .json,
    /// .jsonl/.ndjson, .csv, .md; any other needs --format). Never the database.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log files or directories (walked recursively): every log of one server, any mix of
    /// formats; the same record in two inputs counts once.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// The KMS database (kmsmdb.edb) the logs are about: its existence, state and the OS
    /// version in its header become evidence.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// A directory of extra rule files (`*.toml`, see docs/rules.md); may be repeated. A rule
    /// with a shipped rule's id replaces it.
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,

    /// After the diagnosis, fix this copy of the KMS database (`evtdoctor fix`, with the OS
    /// version the logs show running, after a confirmation) when the KMS finding is active.
    #[arg(long, value_name = "PATH")]
    pub fix_db: Option<PathBuf>,

    /// With --fix-db: do not ask for confirmation.
    #[arg(long, requires = "fix_db")]
    pub yes: bool,

    /// Report format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ReportFormat>,

    /// Shorthand for --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Write the report to this file instead of standard output, the format from its
    /// extension unless given (.json, .jsonl/.ndjson, .csv, .md, .html; any other needs
    /// --format). An existing file is replaced, but never an input or a symbolic link.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// The formats a report comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    /// The timeline: one JSON object per entry, in time order (docs/schemas/timeline.schema.json).
    Jsonl,
    /// The timeline: one row per entry, in time order.
    Csv,
    Markdown,
    /// One self-contained page with the timeline drawn (for a browser, an e-mail, a printer).
    Html,
}

impl AnalyzeArgs {
    /// The format asked for, if any (`--json` or `--format`).
    pub fn format_given(&self) -> Option<ReportFormat> {
        if self.json {
            Some(ReportFormat::Json)
        } else {
            self.format
        }
    }
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The text to decode (a file, or `-` / nothing for standard input).
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub file: OutputFileArg,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The database to fix (a copy taken off the server).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,

    /// OS version of the server that will mount the file, e.g. "5.0.2195 SP 4".
    #[arg(long, value_name = "VERSION", value_parser = parse_os_version)]
    pub target_os: Option<OsVersion>,

    /// Where the backup goes (default: beside the database).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Check, rebuild and verify into a temp file, then delete it: nothing is changed.
    #[arg(long, conflicts_with = "rollback")]
    pub dry_run: bool,

    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,

    /// Put the backup recorded by the last fix back in place.
    #[arg(long, conflicts_with = "target_os")]
    pub rollback: bool,

    /// Replace a database with other hard links; roll back over a file the fix did not
    /// write (it is kept as NAME.replaced-TIMESTAMP).
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub file: OutputFileArg,
}

#[derive(Debug, Args)]
pub struct DbDefragArgs {
    /// The database file to defragment.
    pub file: PathBuf,

    /// Where to build the new file (default: FILE.defrag-tmp beside it; must not exist).
    #[arg(long, value_name = "PATH")]
    pub temp: Option<PathBuf>,

    /// Keep the new file at the temp path and leave the original as it is.
    #[arg(long)]
    pub preserve_temp: bool,

    /// Where the backup of the original goes (default: beside it).
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup")]
    pub backup_dir: Option<PathBuf>,

    /// Replace the original without keeping a backup (no SHA-256 of the files either: the
    /// hashes prove a backup).
    #[arg(long)]
    pub no_backup: bool,

    /// Replace a database with other hard links (they keep the old file).
    #[arg(long)]
    pub force: bool,

    /// OS version to stamp in the header, e.g. "5.0.2195 SP 4" (default: the source's).
    #[arg(long, value_name = "VERSION", value_parser = parse_os_version)]
    pub target_os: Option<OsVersion>,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Write to this file instead of standard output (the format from its extension: .json,
    /// .jsonl/.ndjson, .csv, .md; any other needs --format). Never the database.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// A `--target-os` value in no known form.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}: expected a version like \"5.0.2195 SP 4\"")]
pub struct OsVersionError(String);

/// "5.0.2195 SP 4" (or "5.0.2195"): major.minor.build and service pack.
pub fn parse_os_version(text: &str) -> Result<OsVersion, OsVersionError> {
    let usage = || OsVersionError(text.to_owned());
    let (version, service_pack) = match text.trim().split_once("SP") {
        Some((version, sp)) => (version.trim(), sp.trim().parse().map_err(|_| usage())?),
        None => (text.trim(), 0),
    };
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| p.parse().map_err(|_| usage()))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [major, minor, build] => Ok(OsVersion {
            major,
            minor,
            build,
            service_pack,
        }),
        _ => Err(usage()),
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

    #[command(flatten)]
    pub file: OutputFileArg,
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
    /// Worker threads, for reading many inputs at once and the chunks of large .evtx files
    /// (0 = one per core). The output is the same whatever the count.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Do not carve deleted or damaged records from free space.
    #[arg(long)]
    pub no_recover: bool,

    /// The UTC offset text exports were written in (`+02:00`, `-0500`, `UTC`); their times carry
    /// no zone. Without it they are read as UTC and marked as assumed. Zone names (IANA) are not
    /// accepted: give the offset in force when the events were logged.
    #[arg(long, value_name = "OFFSET", value_parser = parse_offset, allow_hyphen_values = true)]
    pub tz: Option<FixedOffset>,
}

impl ReadArgs {
    /// The read options these arguments ask for (inputs not hashed).
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            threads: self.threads,
            no_recover: self.no_recover,
            tz: self.tz,
            hash: false,
        }
    }
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

/// `-o FILE`, for the commands that write one document.
#[derive(Debug, Args, Default)]
pub struct OutputFileArg {
    /// Write to this file instead of standard output (the format from its extension: .json,
    /// .jsonl/.ndjson, .csv, .md; any other needs --format). Never an input.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub path: Option<PathBuf>,
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
        self.given().unwrap_or(Format::Table)
    }

    /// The format asked for, if any.
    pub fn given(&self) -> Option<Format> {
        if self.json {
            Some(Format::Json)
        } else if self.jsonl {
            Some(Format::Jsonl)
        } else {
            self.format
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_versions_read_with_and_without_a_service_pack() {
        let sp4 = parse_os_version("5.0.2195 SP 4").unwrap();
        assert_eq!(
            (sp4.major, sp4.minor, sp4.build, sp4.service_pack),
            (5, 0, 2195, 4)
        );
        assert_eq!(parse_os_version(" 5.2.3790 ").unwrap().service_pack, 0);
        for bad in ["Windows 2000", "5.0", "5.0.2195 SP x"] {
            assert_eq!(
                parse_os_version(bad).unwrap_err().to_string(),
                format!("{bad:?}: expected a version like \"5.0.2195 SP 4\"")
            );
        }
    }
}
