//! `db defrag` and `fix` as one engine: rebuild into a temp file beside the database, prove
//! it holds what the source held, then hand it to the safe-replace protocol ([`replace`]).
//! Until the rename, the original is untouched; the rename itself is atomic.

use super::files::{self, RunLock};
use super::page_writer::WrittenPages;
use super::preflight;
use super::rebuild::{self, RebuildOptions, RebuildSummary};
use super::replace::{self, beside, Backup};
use super::source_feed::{self, SourceFeed};
use super::unicode_keys::{self, UnicodeIndex};
use super::verify::{self, Verified};
use super::NewFile;
use crate::progress::Progress;
use anyhow::{Context, Result};
use chrono::{Datelike, Timelike, Utc};
use evtdoctor_parsers::ese::header::{DbState, OsVersion};
use evtdoctor_parsers::ese::write::header::log_time;
use evtdoctor_parsers::ese::{Catalog, Database, FileHeader};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

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

/// Why a defrag or a fix changed nothing, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DefragError {
    /// Nothing was changed, for this reason.
    #[error("refused: {0}")]
    Refused(String),
    /// Not an ESE database one can read.
    #[error("{0}")]
    Unreadable(String),
    /// Reading, writing or asking failed along the way.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Before `fix`, `fix --rollback` or `db defrag` touches anything: the database a path
/// names (a symlink's target; one with other hard links only with `force`), locked for this
/// run, and the leftovers of a crashed run removed.
pub fn claim(
    path: &Path,
    force: bool,
    backup_dir: Option<&Path>,
) -> Result<(PathBuf, RunLock), DefragError> {
    let file =
        files::resolve_database(path, force).map_err(|e| DefragError::Refused(e.to_string()))?;
    let lock = RunLock::take(&file)
        .map_err(|e| DefragError::Refused(format!("{e}; the database is untouched")))?;
    let backup_dir = backup_dir.map_or_else(|| beside(&file), Path::to_path_buf);
    replace::remove_leftovers(&file, &backup_dir);
    Ok((file, lock))
}

/// Rebuild, verify, back up, replace: until the rename the database is untouched, and the
/// rename is atomic.
pub fn execute(plan: &Plan) -> Result<Report, DefragError> {
    let source = preflight::open_for_repair(&plan.file)?;
    if source.header.state != DbState::CLEAN_SHUTDOWN {
        return Err(DefragError::Refused(format!(
            "the database is in state {:?}, not clean shutdown; it needs log recovery \
             (eseutil /r with its transaction logs) before a defrag",
            source.header.state.name()
        )));
    }
    let temp = plan
        .temp
        .clone()
        .unwrap_or_else(|| replace::default_temp(&plan.file));
    let os_before = source.header.os_version;
    let options = RebuildOptions {
        os_version: plan.target_os.unwrap_or(os_before),
        random: random_signature(),
        now: now_log_time(),
    };
    let hashing = plan.backup_dir.is_some() && !plan.keep_temp;
    let untouched =
        |e: anyhow::Error| DefragError::Refused(format!("{e:#}; the database is untouched"));
    let original = std::fs::metadata(&plan.file)
        .with_context(|| format!("{}: cannot stat", plan.file.display()))
        .map_err(untouched)?;
    let file = super::create(&temp).map_err(untouched)?;
    if !plan.keep_temp {
        match files::keep_owner_and_mode(&file, &original) {
            Ok(Some(note)) => eprintln!("evtdoctor: note: {note}"),
            Ok(None) => {}
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(untouched(e));
            }
        }
    }
    let refuse = |unproven: Unproven| {
        // A new file is kept for a look only when it was built from a sound database.
        if !plan.keep_temp || matches!(unproven, Unproven::SourceDamaged(_)) {
            let _ = std::fs::remove_file(&temp);
        }
        Err(DefragError::Refused(format!(
            "{}; the database is untouched",
            unproven.reason()
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
        match back_up_and_replace(plan, &temp, &before, &after, files::mode_of(&original)) {
            Ok(backup) => backup,
            Err(e) => return refuse(Unproven::Failed(format!("{e:#}"))),
        }
    };
    Ok(Report {
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
    })
}

/// What the rebuild and its proof work on.
struct Work<'a> {
    source: &'a Database<File>,
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

/// Why a new file is not put in place: `db check` finds the source damaged (which comes
/// first, whatever else failed), or the rebuild or its proof failed.
enum Unproven {
    SourceDamaged(String),
    Failed(String),
}

impl Unproven {
    fn reason(&self) -> &str {
        match self {
            Unproven::SourceDamaged(reason) | Unproven::Failed(reason) => reason,
        }
    }
}

/// `db check`'s judgement of the source beside [`rebuild_and_prove_sound`], on a reader of
/// its own: the rebuild copies the trees its walk hands over (source_feed.rs), so the source
/// is read once for both, and its refusal wins over whatever the rebuild of a damaged
/// database ran into.
fn rebuild_and_prove(work: &Work<'_>) -> Result<Proven, Unproven> {
    let judge_reader =
        preflight::reader_beside(work.source_path, work.source).map_err(Unproven::SourceDamaged)?;
    let (catalog, _) = Catalog::read(work.source);
    let (mut tap, mut feed) = source_feed::feed(rebuild::copy_order(&catalog));
    std::thread::scope(|scope| {
        let judged = scope.spawn(|| preflight::judge(&judge_reader, &mut tap));
        let proven = rebuild_and_prove_sound(work, &judge_reader, &mut feed);
        drop(feed);
        helper(judged.join()).map_err(Unproven::SourceDamaged)?;
        proven.map_err(Unproven::Failed)
    })
}

/// Rebuilds the source into the new file and proves it, on two cores: while the rebuild
/// runs, each tree is compared as soon as it is written, and what needs only the source
/// (its catalog and Unicode indexes, its hash) is worked out beside it; then, while the file
/// is flushed (and hashed), the catalogs are compared and `db check` of the new file runs
/// on what the comparison did not walk. The error is the reason to refuse. `judged`: the
/// judgement's reader, whose walk `feed` hands over.
fn rebuild_and_prove_sound(
    work: &Work<'_>,
    judged: &Database<File>,
    feed: &mut SourceFeed,
) -> Result<Proven, String> {
    let source = work.source;
    let os_before = source.header.os_version;
    let growing =
        growing_new_file(source, work.temp, work.options).map_err(|e| format!("{e:#}"))?;
    // The judgement reads the source once, for itself, the rebuild and the comparison; the
    // comparison reads only the trees it was not handed again.
    let progress = Progress::for_bytes(source.file_size(), false);
    let mut reported = 0u64;
    let page_size = source.page_size() as u64;
    let mut report_progress = |_| {
        let read = (source.pages_read() + judged.pages_read()) * page_size;
        progress.advance(read.saturating_sub(reported));
        reported = read;
    };
    let (tell, news) = mpsc::channel();
    let written = WrittenPages::default();
    let proven = std::thread::scope(|scope| {
        let side = scope.spawn(|| {
            let db = super::open(work.source_path).map_err(|e| format!("{e:#}"))?;
            let catalog = verify::read_catalog(&db).map_err(|e| e.to_string())?;
            let unicode =
                unicode_keys::unicode_indexes(&db, &catalog).map_err(|e| e.to_string())?;
            let before = Facts::of(work.source_path, os_before, work.hashing)
                .map_err(|e| format!("{e:#}"))?;
            Ok::<_, String>((catalog, unicode, before))
        });
        let (growing, written) = (&growing, &written);
        let verifier =
            scope.spawn(move || verify::compare_finished(source, growing, written, news));
        let mut told = |news| {
            tell.send(news)
                .map_err(|_| rebuild::RebuildError::VerifierStopped)
        };
        let target = NewFile {
            file: work.file,
            path: work.temp,
            written,
        };
        let rebuilt = super::write_rebuilt(
            source,
            &target,
            work.options,
            &mut report_progress,
            &mut told,
            feed,
        );
        drop(tell);
        let summary = match rebuilt {
            Ok(summary) => summary,
            // A difference the verifier found stops the rebuild: it is the reason to give,
            // unless the verifier only found the rebuild stopped.
            Err(e) => {
                let verifier = verifier.join();
                let found_first = match &verifier {
                    Ok(Err(found)) => !found.is_rebuild_stopped(),
                    Ok(Ok(_)) => false,
                    Err(_) => true,
                };
                return Err(match helper(verifier) {
                    Err(message) if found_first => format!("verification failed: {message}"),
                    _ => format!("{e:#}"),
                });
            }
        };
        let flushed = scope.spawn(|| super::flush(work.file, work.temp));
        let new_facts = scope.spawn(|| Facts::of(work.temp, work.options.os_version, work.hashing));
        let new = super::open(work.temp).map_err(|e| format!("{e:#}"))?;
        let failed = |m: String| format!("verification failed: {m}");
        // The rest of the comparison (the catalog), then `db check` of the new file, which
        // does not walk again the trees the comparison walked.
        let mut compared = helper(verifier.join()).map_err(failed)?;
        // Pages the comparison has checksummed are not checksummed again.
        new.trust_checksums_of(growing);
        let (old_catalog, unicode, before) = helper(side.join())?;
        let verified = verify::compare(source, &old_catalog, &new, &mut compared)
            .map_err(|e| failed(e.to_string()))?;
        verify::check_clean(&new, &compared).map_err(|e| failed(e.to_string()))?;
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

/// A helper thread's outcome, its error as the reason to refuse; a panic there (a bug)
/// becomes an error, not a crash.
fn helper<T, E: std::fmt::Display>(joined: std::thread::Result<Result<T, E>>) -> Result<T, String> {
    match joined {
        Ok(outcome) => outcome.map_err(|e| e.to_string()),
        Err(_) => Err("a helper thread stopped unexpectedly".into()),
    }
}

/// The new file as the verifier reads it while it is written: with the header it will get,
/// and nothing readable until the rebuild says which trees are written.
fn growing_new_file(
    source: &Database<File>,
    temp: &Path,
    options: &RebuildOptions,
) -> Result<Database<File>> {
    let header = rebuild::new_header(source, options)?;
    let header = FileHeader::parse(&header).map_err(anyhow::Error::msg)?;
    let reader = File::open(temp).with_context(|| format!("{}: cannot open", temp.display()))?;
    Ok(Database::being_written(reader, header, source.file_size()))
}

/// The backup (with its record for rollback), when one is asked for, then the rename that
/// puts the new file in place.
fn back_up_and_replace(
    plan: &Plan,
    temp: &Path,
    before: &Facts,
    after: &Facts,
    mode: u32,
) -> Result<Option<PathBuf>> {
    let backup = match &plan.backup_dir {
        Some(dir) => Some(Backup {
            dir,
            database_sha256: before.hash()?,
            new_sha256: after.hash()?,
            mode,
        }),
        None => None,
    };
    replace::back_up_and_replace(&plan.file, temp, backup)
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
            sha256: hash.then(|| replace::sha256_of(path)).transpose()?,
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

/// What a defrag did and proved.
pub struct Report {
    pub file: PathBuf,
    pub new_file: PathBuf,
    pub backup: Option<PathBuf>,
    pub before: Facts,
    pub after: Facts,
    pub summary: RebuildSummary,
    pub verified: Verified,
    pub unicode: Vec<UnicodeIndex>,
}
