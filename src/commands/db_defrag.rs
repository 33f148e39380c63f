//! `evtdoctor db defrag`: rebuild into a temp file beside the database, verify it, back the
//! original up (never overwriting a file), then rename the new file over the original. Until
//! the rename, the original is untouched; the rename itself is atomic.

use crate::cli::{DbDefragArgs, Format};
use crate::defrag::rebuild::{self, RebuildOptions, RebuildSummary};
use crate::defrag::unicode_keys::{self, UnicodeIndex};
use crate::defrag::verify::{self, Verified};
use crate::defrag::{self, crash, MappedFile};
use crate::output;
use crate::progress::Progress;
use crate::ExitCode;
use anyhow::{Context, Result};
use chrono::{Datelike, Timelike, Utc};
use evtdoctor_parsers::ese::header::{DbState, OsVersion};
use evtdoctor_parsers::ese::write::header::log_time;
use evtdoctor_parsers::ese::{Database, FileHeader};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

pub fn run(args: &DbDefragArgs) -> Result<ExitCode> {
    let plan = Plan {
        file: args.file.clone(),
        temp: args.temp.clone(),
        keep_temp: args.preserve_temp,
        backup_dir: match (&args.backup_dir, args.no_backup) {
            (_, true) => None,
            (Some(dir), false) => Some(dir.clone()),
            (None, false) => Some(beside(&args.file)),
        },
        target_os: args.target_os,
    };
    match execute(&plan)? {
        Outcome::Done(report) => {
            report.print(args.output.resolved())?;
            Ok(ExitCode::Clean)
        }
        Outcome::Refused(message) => {
            eprintln!("evtdoctor: {}: refused: {message}", args.file.display());
            Ok(ExitCode::Found)
        }
        Outcome::Unreadable(message) => {
            eprintln!("evtdoctor: {message}");
            Ok(ExitCode::Usage)
        }
    }
}

/// What to do: shared by `db defrag` and `fix`.
pub struct Plan {
    pub file: PathBuf,
    /// Where to build the new file (default: beside the database).
    pub temp: Option<PathBuf>,
    /// Leave the new file at the temp path and the database as it is.
    pub keep_temp: bool,
    /// Where the backup goes; `None`: no backup.
    pub backup_dir: Option<PathBuf>,
    /// The OS version to stamp (default: the source's).
    pub target_os: Option<OsVersion>,
}

pub enum Outcome {
    Done(Box<Report>),
    /// Nothing was changed, for this reason.
    Refused(String),
    /// Not an ESE database one can read.
    Unreadable(String),
}

/// The folder a file is in.
pub fn beside(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The default temp path of a database.
pub fn default_temp(file: &Path) -> PathBuf {
    sibling(file, "defrag-tmp")
}

/// Rebuild, verify, back up, replace: until the rename the database is untouched, and the
/// rename is atomic.
pub fn execute(plan: &Plan) -> Result<Outcome> {
    let source = match defrag::open(&plan.file) {
        Ok(db) => db,
        Err(e) => return Ok(Outcome::Unreadable(format!("{e:#}"))),
    };
    if source.header.state != DbState::CLEAN_SHUTDOWN {
        return Ok(Outcome::Refused(format!(
            "the database is in state {:?}, not clean shutdown; it needs log recovery \
             (eseutil /r with its transaction logs) before a defrag",
            source.header.state.name()
        )));
    }
    let temp = plan
        .temp
        .clone()
        .unwrap_or_else(|| default_temp(&plan.file));
    let os_before = source.header.os_version;
    let options = RebuildOptions {
        os_version: plan.target_os.unwrap_or(os_before),
        random: random_signature(),
        now: now_log_time(),
    };
    let hashing = plan.backup_dir.is_some() && !plan.keep_temp;
    let file = match defrag::create(&temp) {
        Ok(file) => file,
        Err(e) => {
            return Ok(Outcome::Refused(format!(
                "{e:#}; the database is untouched"
            )))
        }
    };
    let refuse = |message: String| {
        if !plan.keep_temp {
            let _ = std::fs::remove_file(&temp);
        }
        Ok(Outcome::Refused(format!(
            "{message}; the database is untouched"
        )))
    };
    let work = Work {
        source: &source,
        file: &file,
        temp: &temp,
        source_path: &plan.file,
        options: &options,
        hashing,
    };
    let proven = rebuild_and_prove(&work);
    drop(file);
    let Proven {
        summary,
        verified,
        unicode,
        before,
        after,
    } = match proven {
        Ok(proven) => proven,
        Err(message) => return refuse(message),
    };
    if options.os_version != os_before {
        warn_about_sort_order(&unicode, os_before, options.os_version);
    }
    drop(source);
    let backup = if plan.keep_temp {
        None
    } else {
        match back_up_and_replace(plan, &temp, &before, &after) {
            Ok(backup) => backup,
            Err(e) => return refuse(format!("{e:#}")),
        }
    };
    Ok(Outcome::Done(Box::new(Report {
        file: plan.file.clone(),
        new_file: if plan.keep_temp {
            temp
        } else {
            plan.file.clone()
        },
        backup,
        before,
        after,
        summary,
        verified,
        unicode,
    })))
}

/// What the rebuild and its proof work on.
struct Work<'a> {
    source: &'a Database<MappedFile>,
    /// The new file, created empty, and its path.
    file: &'a File,
    temp: &'a Path,
    source_path: &'a Path,
    options: &'a RebuildOptions,
    /// Whether both files' SHA-256 is needed (for a backup).
    hashing: bool,
}

/// A rebuilt file, flushed to disk and proven to hold what the source held.
struct Proven {
    summary: RebuildSummary,
    verified: Verified,
    unicode: Vec<UnicodeIndex>,
    before: Facts,
    after: Facts,
}

/// Rebuilds the source into the new file and proves it, on two cores: while the rebuild
/// runs, each tree is compared as soon as it is written, and what needs only the source
/// (its catalog and Unicode indexes, its hash) is worked out beside it; then `db check` of
/// the complete file runs while the last trees are compared and the file is flushed (and
/// hashed). The error is the reason to refuse.
fn rebuild_and_prove(work: &Work<'_>) -> Result<Proven, String> {
    let source = work.source;
    let os_before = source.header.os_version;
    let growing =
        growing_new_file(source, work.temp, work.options).map_err(|e| format!("{e:#}"))?;
    // The rebuild and the verifier each read the source once.
    let progress = Progress::for_bytes(source.file_size().saturating_mul(2), false);
    let mut reported = 0u64;
    let page_size = source.page_size() as u64;
    let mut report_progress = |_| {
        let read = source.pages_read() * page_size;
        progress.advance(read.saturating_sub(reported));
        reported = read;
    };
    let (finished, trees_written) = mpsc::channel();
    let proven = std::thread::scope(|scope| {
        let side = scope.spawn(|| {
            let db = defrag::open(work.source_path).map_err(|e| format!("{e:#}"))?;
            let catalog = verify::read_catalog(&db)?;
            let unicode = unicode_keys::unicode_indexes(&db, &catalog)?;
            let before = Facts::of(work.source_path, os_before, work.hashing)
                .map_err(|e| format!("{e:#}"))?;
            Ok((catalog, unicode, before))
        });
        let growing = &growing;
        let verifier =
            scope.spawn(move || verify::compare_finished(source, growing, trees_written));
        let mut tree_done = |tree| {
            finished
                .send(tree)
                .map_err(|_| "the verifier stopped".to_owned())
        };
        let rebuilt = defrag::write_rebuilt(
            source,
            work.file,
            work.temp,
            work.options,
            &mut report_progress,
            &mut tree_done,
        );
        drop(finished);
        let summary = match rebuilt {
            Ok(summary) => summary,
            // A difference the verifier found stops the rebuild: it is the reason to give.
            Err(e) => {
                return Err(match helper(verifier.join()) {
                    Err(message) => format!("verification failed: {message}"),
                    Ok(_) => format!("{e:#}"),
                })
            }
        };
        let flushed = scope.spawn(|| defrag::flush(work.file, work.temp));
        let new_facts = scope.spawn(|| Facts::of(work.temp, work.options.os_version, work.hashing));
        let new = defrag::open(work.temp).map_err(|e| format!("{e:#}"))?;
        // Pages the comparison has checksummed already are not checksummed again.
        new.trust_checksums_of(growing);
        let failed = |m: String| format!("verification failed: {m}");
        // `db check` beside the last comparisons, then the rest of the comparison.
        let (checked, compared) = std::thread::scope(|inner| {
            let checked = inner.spawn(|| verify::check_clean(&new));
            let compared = helper(verifier.join())
                .map_err(failed)
                .and_then(|compared| {
                    let (old_catalog, unicode, before) = helper(side.join())?;
                    let verified = verify::compare(source, &old_catalog, &new, &compared);
                    Ok((verified.map_err(failed), unicode, before))
                });
            (helper(checked.join()), compared)
        });
        let (verified, unicode, before) = compared?;
        let verified = verified?;
        checked.map_err(failed)?;
        helper(flushed.join().map(|f| f.map_err(|e| format!("{e:#}"))))?;
        let after = helper(new_facts.join().map(|f| f.map_err(|e| format!("{e:#}"))))?;
        Ok(Proven {
            summary,
            verified,
            unicode,
            before,
            after,
        })
    });
    progress.finish();
    proven
}

/// A helper thread's outcome; a panic there (a bug) becomes an error, not a crash.
fn helper<T>(joined: std::thread::Result<Result<T, String>>) -> Result<T, String> {
    joined.unwrap_or_else(|_| Err("a helper thread stopped unexpectedly".into()))
}

/// The new file as the verifier reads it while it is written: with the header it will get,
/// and nothing readable until the rebuild says which trees are written.
fn growing_new_file(
    source: &Database<MappedFile>,
    temp: &Path,
    options: &RebuildOptions,
) -> Result<Database<File>> {
    let header = rebuild::new_header(source, options).map_err(anyhow::Error::msg)?;
    let header = FileHeader::parse(&header).map_err(anyhow::Error::msg)?;
    let reader = File::open(temp).with_context(|| format!("{}: cannot open", temp.display()))?;
    Ok(Database::being_written(reader, header, source.file_size()))
}

/// The backup (with its record for rollback), then the rename that puts the new file in place.
fn back_up_and_replace(
    plan: &Plan,
    temp: &Path,
    before: &Facts,
    after: &Facts,
) -> Result<Option<PathBuf>> {
    let mut backup = None;
    if let Some(dir) = &plan.backup_dir {
        let copy = back_up(&plan.file, dir, before.hash()?)?;
        let manifest = Manifest {
            database: plan.file.clone(),
            backup: copy.clone(),
            backup_sha256: before.hash()?.to_owned(),
            new_sha256: after.hash()?.to_owned(),
        };
        manifest.write(dir)?;
        backup = Some(copy);
    }
    replace(temp, &plan.file)?;
    Ok(backup)
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

/// What `fix --rollback` needs: which backup belongs to which database, and its hash.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub database: PathBuf,
    pub backup: PathBuf,
    pub backup_sha256: String,
    pub new_sha256: String,
}

impl Manifest {
    pub fn path(dir: &Path, database: &Path) -> PathBuf {
        let name = database.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!("{name}.evtdoctor-fix.json"))
    }

    /// Written to a temp name and renamed, so a crash leaves the old manifest or the new one.
    fn write(&self, dir: &Path) -> Result<()> {
        let path = Manifest::path(dir, &self.database);
        let temp = sibling(&path, "tmp");
        let text = serde_json::to_vec_pretty(self)?;
        crash::point();
        File::create(&temp)
            .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&temp, &path))
            .with_context(|| format!("{}: cannot write", path.display()))
    }

    pub fn read(dir: &Path, database: &Path) -> Result<Manifest> {
        let path = Manifest::path(dir, database);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "{}: no backup record (was the database fixed?)",
                path.display()
            )
        })?;
        serde_json::from_slice(&text).with_context(|| format!("{}: unreadable", path.display()))
    }
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
            .and_then(|mut source| copy_with_crash_points(&mut source, &mut target))
            .and_then(|()| target.sync_all());
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

/// Copies in 1 MiB pieces, each a crash point for the crash-safety tests.
pub fn copy_with_crash_points(source: &mut File, target: &mut File) -> io::Result<()> {
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        crash::point();
        let n = source.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        target.write_all(&buffer[..n])?;
    }
}

/// Renames the verified file over the original and flushes the directory entry.
pub fn replace(new: &Path, original: &Path) -> Result<()> {
    crash::point();
    std::fs::rename(new, original).with_context(|| {
        format!(
            "{}: cannot replace with {}",
            original.display(),
            new.display()
        )
    })?;
    crash::point();
    // The rename is done: a failed flush of the folder cannot undo it, only delay it.
    #[cfg(unix)]
    if let Some(dir) = original.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            eprintln!(
                "evtdoctor: warning: {}: flushing the folder: {e}",
                dir.display()
            );
        }
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
pub struct Facts {
    pub size: u64,
    /// Taken only when a backup is made: it proves the backup and goes into the rollback
    /// record; without a backup nothing uses it, and it would be most of the run's CPU time.
    pub sha256: Option<String>,
    pub os_version: OsVersion,
}

impl Facts {
    fn of(path: &Path, os_version: OsVersion, hash: bool) -> Result<Facts> {
        Ok(Facts {
            size: std::fs::metadata(path)
                .with_context(|| format!("{}: cannot stat", path.display()))?
                .len(),
            sha256: hash.then(|| sha256_of(path)).transpose()?,
            os_version,
        })
    }

    /// The hash, which a backup needs.
    pub fn hash(&self) -> Result<&str> {
        self.sha256
            .as_deref()
            .context("no SHA-256 was taken (no backup was asked for)")
    }
}

pub struct Report {
    pub file: PathBuf,
    pub new_file: PathBuf,
    pub backup: Option<PathBuf>,
    pub before: Facts,
    pub after: Facts,
    summary: RebuildSummary,
    verified: Verified,
    unicode: Vec<UnicodeIndex>,
}

fn shown_hash(facts: &Facts) -> String {
    facts
        .sha256
        .clone()
        .unwrap_or_else(|| "not computed (no backup)".into())
}

impl Report {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.display().to_string();
        vec![
            ("database", path(&self.file)),
            ("new file", path(&self.new_file)),
            ("backup", self.backup.as_deref().map_or("none".into(), path)),
            ("size before", self.before.size.to_string()),
            ("size after", self.after.size.to_string()),
            ("sha256 before", shown_hash(&self.before)),
            ("sha256 after", shown_hash(&self.after)),
            ("OS version before", self.before.os_version.to_string()),
            ("OS version after", self.after.os_version.to_string()),
            ("pages after", self.summary.pages.to_string()),
            ("trees rebuilt", self.summary.trees.to_string()),
            ("entries copied", self.summary.entries.to_string()),
            ("deleted entries dropped", self.summary.dropped.to_string()),
            (
                "deleted tables left out (awaiting ESE's cleanup)",
                match self.summary.deleted_tables.as_slice() {
                    [] => "none".into(),
                    names => names.join(", "),
                },
            ),
            ("tables verified", self.verified.tables.to_string()),
            ("records verified", self.verified.records.to_string()),
            (
                "long-value chunks verified",
                self.verified.long_value_chunks.to_string(),
            ),
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

    pub fn print(&self, format: Format) -> Result<()> {
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
