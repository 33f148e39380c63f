//! `evtdoctor db defrag`: rebuild into a temp file beside the database, verify it, back the
//! original up (never overwriting a file), then rename the new file over the original. Until
//! the rename, the original is untouched; the rename itself is atomic.

use crate::cli::{DbDefragArgs, Format};
use crate::defrag::rebuild::{RebuildOptions, RebuildSummary};
use crate::defrag::unicode_keys::{self, UnicodeIndex};
use crate::defrag::verify::{self, Verified};
use crate::defrag::{self};
use crate::output;
use crate::progress::Progress;
use crate::ExitCode;
use anyhow::{Context, Result};
use chrono::{Datelike, Timelike, Utc};
use evtdoctor_parsers::ese::header::{DbState, OsVersion};
use evtdoctor_parsers::ese::write::header::log_time;
use evtdoctor_parsers::ese::Catalog;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub fn run(args: &DbDefragArgs) -> Result<ExitCode> {
    let source = match defrag::open(&args.file) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("evtdoctor: {e:#}");
            return Ok(ExitCode::Usage);
        }
    };
    if source.header.state != DbState::CLEAN_SHUTDOWN {
        eprintln!(
            "evtdoctor: {}: refused: the database is in state {:?}, not clean shutdown; it needs \
             log recovery (eseutil /r with its transaction logs) before a defrag",
            args.file.display(),
            source.header.state.name()
        );
        return Ok(ExitCode::Found);
    }
    let temp = args
        .temp
        .clone()
        .unwrap_or_else(|| sibling(&args.file, "defrag-tmp"));
    let os_before = source.header.os_version;
    let options = RebuildOptions {
        os_version: args.target_os.unwrap_or(os_before),
        random: random_signature(),
        now: now_log_time(),
    };
    let progress = Progress::for_bytes(source.file_size(), false);
    let mut reported = 0u64;
    let page_size = source.page_size() as u64;
    let rebuilt = defrag::write_rebuilt(&source, &temp, &options, &mut |_| {
        let read = source.pages_read() * page_size;
        progress.advance(read.saturating_sub(reported));
        reported = read;
    });
    progress.finish();
    let summary = match rebuilt {
        Ok(summary) => summary,
        Err(e) => return refuse(&temp, args.preserve_temp, &format!("{e:#}")),
    };
    let verified = match defrag::open(&temp)
        .map_err(|e| format!("{e:#}"))
        .and_then(|new| verify::verify(&source, &new))
    {
        Ok(verified) => verified,
        Err(message) => {
            return refuse(
                &temp,
                args.preserve_temp,
                &format!("verification failed: {message}"),
            )
        }
    };
    let unicode = match unicode_keys::unicode_indexes(&source, &Catalog::read(&source).0) {
        Ok(unicode) => unicode,
        Err(message) => return refuse(&temp, args.preserve_temp, &message),
    };
    if options.os_version != os_before {
        warn_about_sort_order(&unicode, os_before, options.os_version);
    }
    let before = Facts::of(&args.file, os_before)?;
    let after = Facts::of(&temp, options.os_version)?;
    drop(source);
    let mut backup = None;
    if !args.preserve_temp {
        if !args.no_backup {
            let dir = match &args.backup_dir {
                Some(dir) => dir.clone(),
                None => args.file.parent().unwrap_or(Path::new(".")).to_path_buf(),
            };
            backup = Some(back_up(&args.file, &dir, &before.sha256)?);
        }
        replace(&temp, &args.file)?;
    }
    let report = Report {
        file: &args.file,
        new_file: if args.preserve_temp {
            &temp
        } else {
            &args.file
        },
        backup: backup.as_deref(),
        before,
        after,
        summary,
        verified,
        unicode,
    };
    report.print(args.output.resolved())?;
    Ok(ExitCode::Clean)
}

/// Keys are copied as the old OS sorted them; text other than plain ASCII may sort otherwise
/// under the new one, and ESE, trusting the header, would not rebuild those indexes.
fn warn_about_sort_order(unicode: &[UnicodeIndex], before: OsVersion, after: OsVersion) {
    for index in unicode.iter().filter(|i| i.non_ascii > 0) {
        eprintln!(
            "evtdoctor: warning: index {} of table {} sorts {} non-ASCII value(s) of {} by the \
             rules of {before}; the header now says {after}, so ESE will not rebuild it, and \
             if {after} sorts those values differently, lookups through it can miss rows",
            index.index,
            index.table,
            index.non_ascii,
            index.columns.join(", ")
        );
    }
}

/// Removes the temp file (unless asked to keep it) and explains the refusal.
fn refuse(temp: &Path, keep: bool, message: &str) -> Result<ExitCode> {
    if !keep {
        let _ = std::fs::remove_file(temp);
    }
    eprintln!("evtdoctor: refused: {message}; the original is untouched");
    Ok(ExitCode::Found)
}

/// `dir/name.suffix` for a file `dir/name`.
fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    file.with_file_name(name)
}

/// Copies `file` into `dir` under a name no file has yet (`NAME.bak`, `NAME.1.bak`, ...),
/// flushes it and checks its SHA-256 against the original's.
fn back_up(file: &Path, dir: &Path, sha256: &str) -> Result<PathBuf> {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    for n in 0..1000 {
        let candidate = match n {
            0 => dir.join(format!("{name}.bak")),
            n => dir.join(format!("{name}.{n}.bak")),
        };
        let mut target = match File::options()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("{}: cannot create", candidate.display()))
            }
        };
        let copied = File::open(file)
            .and_then(|mut source| io::copy(&mut source, &mut target))
            .and_then(|_| target.sync_all());
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&candidate);
            return Err(e).with_context(|| format!("{}: backup failed", candidate.display()));
        }
        let copy_sha = sha256_of(&candidate)?;
        anyhow::ensure!(
            copy_sha == sha256,
            "{}: the backup's SHA-256 differs from the original's",
            candidate.display()
        );
        return Ok(candidate);
    }
    anyhow::bail!("{}: no free backup name", dir.display())
}

/// Renames the verified file over the original and flushes the directory entry.
fn replace(new: &Path, original: &Path) -> Result<()> {
    std::fs::rename(new, original).with_context(|| {
        format!(
            "{}: cannot replace with {}",
            original.display(),
            new.display()
        )
    })?;
    #[cfg(unix)]
    if let Some(dir) = original.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("{}: flushing the directory", dir.display()))?;
    }
    Ok(())
}

pub fn sha256_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("{}: reading", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn random_signature() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (nanos as u32) ^ std::process::id().rotate_left(16)
}

fn now_log_time() -> [u8; 8] {
    let now = Utc::now();
    let field = |v: u32| u8::try_from(v).unwrap_or(0);
    log_time(
        u16::try_from(now.year()).unwrap_or(1900),
        field(now.month()),
        field(now.day()),
        field(now.hour()),
        field(now.minute()),
        field(now.second()),
    )
}

/// Size, hash and header OS version of one file.
struct Facts {
    size: u64,
    sha256: String,
    os_version: OsVersion,
}

impl Facts {
    fn of(path: &Path, os_version: OsVersion) -> Result<Facts> {
        Ok(Facts {
            size: std::fs::metadata(path)
                .with_context(|| format!("{}: cannot stat", path.display()))?
                .len(),
            sha256: sha256_of(path)?,
            os_version,
        })
    }
}

struct Report<'a> {
    file: &'a Path,
    new_file: &'a Path,
    backup: Option<&'a Path>,
    before: Facts,
    after: Facts,
    summary: RebuildSummary,
    verified: Verified,
    unicode: Vec<UnicodeIndex>,
}

impl Report<'_> {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.display().to_string();
        vec![
            ("database", path(self.file)),
            ("new file", path(self.new_file)),
            ("backup", self.backup.map_or("none".into(), path)),
            ("size before", self.before.size.to_string()),
            ("size after", self.after.size.to_string()),
            ("sha256 before", self.before.sha256.clone()),
            ("sha256 after", self.after.sha256.clone()),
            ("OS version before", self.before.os_version.to_string()),
            ("OS version after", self.after.os_version.to_string()),
            ("pages after", self.summary.pages.to_string()),
            ("trees rebuilt", self.summary.trees.to_string()),
            ("entries copied", self.summary.entries.to_string()),
            ("deleted entries dropped", self.summary.dropped.to_string()),
            ("tables verified", self.verified.tables.to_string()),
            ("records verified", self.verified.records.to_string()),
            (
                "index entries verified",
                self.verified.index_entries.to_string(),
            ),
            ("Unicode text indexes", self.unicode_summary()),
        ]
    }

    /// One clause per index with Unicode text in its key.
    fn unicode_summary(&self) -> String {
        if self.unicode.is_empty() {
            return "none".into();
        }
        let clauses: Vec<String> = self
            .unicode
            .iter()
            .map(|i| {
                let ascii = match i.non_ascii {
                    0 => "all plain ASCII".to_owned(),
                    n => format!("{n} not plain ASCII"),
                };
                format!(
                    "{}.{} ({}): {} values, {ascii}",
                    i.table,
                    i.index,
                    i.columns.join(", "),
                    i.values
                )
            })
            .collect();
        clauses.join("; ")
    }

    fn print(&self, format: Format) -> Result<()> {
        let fields = self.fields();
        let mut out = BufWriter::new(io::stdout().lock());
        match format {
            Format::Table | Format::Markdown => {
                let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
                for (name, value) in &fields {
                    writeln!(out, "{name:>width$}: {value}")?;
                }
                writeln!(
                    out,
                    "\nOlder backups and transaction logs no longer apply to the new file: \
                     take a fresh full backup once the service runs on it."
                )?;
            }
            Format::Csv => {
                output::write_csv_row(&mut out, &["field", "value"])?;
                for (name, value) in &fields {
                    output::write_csv_row(&mut out, &[*name, value.as_str()])?;
                }
            }
            Format::Json | Format::Jsonl => {
                let mut object: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|(k, v)| (k.replace(' ', "_"), serde_json::Value::String(v.clone())))
                    .collect();
                object.insert(
                    "unicode_indexes".into(),
                    serde_json::to_value(&self.unicode)?,
                );
                if format == Format::Json {
                    serde_json::to_writer_pretty(&mut out, &object)?;
                } else {
                    serde_json::to_writer(&mut out, &object)?;
                }
                writeln!(out)?;
            }
        }
        out.flush()?;
        Ok(())
    }
}
