//! What a test needs beyond the repository (the third-party corpus, an independent reader) and
//! how it says it was skipped when that is missing.
//!
//! A newcomer's `cargo test` passes without them: such a test prints one `skipped:` line naming
//! itself and what is missing, and returns. CI sets `EVTDOCTOR_REQUIRE_CORPUS=1`, where a missing
//! need fails the test instead.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// One thing a test needs.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// The third-party corpus (`$EVTDOCTOR_CORPUS`, else `../shared/corpus`).
    Corpus,
    /// A program on PATH (Debian's `evtexport`, `evtxexport`, `esedbexport`, …).
    Program(&'static str),
    /// A Python module importable by `python3` (`dissect.eventlog`, `Evtx`, `jsonschema`, …).
    Python(&'static str),
    /// The Rust `evtx_dump` (crates.io `evtx`), told apart from python-evtx's script.
    RustEvtxDump,
}

/// Whether this run must have every need (CI): `EVTDOCTOR_REQUIRE_CORPUS=1`.
pub fn required() -> bool {
    std::env::var_os("EVTDOCTOR_REQUIRE_CORPUS").is_some_and(|v| v == "1")
}

/// Where the corpus is expected.
pub fn corpus_path() -> PathBuf {
    std::env::var_os("EVTDOCTOR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// The Rust `evtx_dump`: `$EVTDOCTOR_EVTX_DUMP` alone when set, else cargo's bin folder, then
/// PATH, each checked by what `--version` prints.
pub fn rust_evtx_dump_path() -> Option<String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let candidates: Vec<String> = match std::env::var("EVTDOCTOR_EVTX_DUMP") {
                Ok(given) => vec![given],
                Err(_) => std::env::var_os("CARGO_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
                    .map(|home| home.join("bin/evtx_dump").to_string_lossy().into_owned())
                    .into_iter()
                    .chain(Some("evtx_dump".to_string()))
                    .collect(),
            };
            candidates.into_iter().find(|candidate| {
                Command::new(candidate)
                    .arg("--version")
                    .output()
                    .is_ok_and(|v| String::from_utf8_lossy(&v.stdout).starts_with("EVTX Parser"))
            })
        })
        .clone()
}

/// Whether `need` is there (probed once per run).
fn available(need: Need) -> bool {
    static PROBED: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let key = format!("{need:?}");
    let probed = PROBED.get_or_init(Default::default);
    if let Some(&known) = probed.lock().unwrap().get(&key) {
        return known;
    }
    let found = match need {
        Need::Corpus => corpus_path().is_dir(),
        Need::Program(name) => on_path(name).is_some(),
        Need::Python(module) => Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|out| out.status.success()),
        Need::RustEvtxDump => rust_evtx_dump_path().is_some(),
    };
    probed.lock().unwrap().insert(key, found);
    found
}

/// The executable `name` as PATH finds it.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| is_executable(file))
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The needs of `needs` that are missing; with none missing, `false`. Otherwise the calling
/// test must stop: outside CI this prints `skipped: TEST: needs …` straight to stderr (past
/// the test harness's capture, so it shows in every run) and returns `true`; when the run
/// requires everything it fails the test.
pub fn missing(needs: &[Need]) -> bool {
    let absent: Vec<String> = needs
        .iter()
        .filter(|&&need| !available(need))
        .map(|&need| describe(need))
        .collect();
    if absent.is_empty() {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let what = absent.join(", ");
    assert!(
        !required(),
        "{test} needs {what} (EVTDOCTOR_REQUIRE_CORPUS=1 makes that a failure; .ci/run installs them)"
    );
    let _ = writeln!(std::io::stderr(), "skipped: {test}: needs {what}");
    true
}

fn describe(need: Need) -> String {
    match need {
        Need::Corpus => format!(
            "the third-party corpus (not at {}; set EVTDOCTOR_CORPUS)",
            corpus_path().display()
        ),
        Need::Program(name) => format!("`{name}` on PATH"),
        Need::Python(module) => format!("the Python module `{module}`"),
        Need::RustEvtxDump => "the Rust `evtx_dump` (cargo install evtx)".to_string(),
    }
}

/// Returns from the calling test, saying it was skipped, unless every need is there.
macro_rules! needs {
    ($($need:expr),+ $(,)?) => {
        if $crate::common::needs::missing(&[$($need),+]) {
            return;
        }
    };
}
pub(crate) use needs;
