//! Helpers shared by the integration tests: where the corpus is, and running the real binary.
#![allow(dead_code)] // each test crate uses its own subset

pub mod render;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The third-party corpus: `$EVTDOCTOR_CORPUS`, else `shared/corpus` beside the repository.
/// Tests fail (they do not skip) when it is missing: CI always has it.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("EVTDOCTOR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.is_dir(),
        "test corpus not found at {} (set EVTDOCTOR_CORPUS)",
        dir.display()
    );
    dir
}

/// Corpus files in `sub` (e.g. "evt") whose names end in one of `extensions`, sorted.
pub fn corpus_files(sub: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join(sub))
        .expect("corpus folder readable")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let name = p.to_string_lossy().to_lowercase();
            extensions.iter().any(|ext| name.ends_with(ext))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {extensions:?} files in corpus/{sub}");
    files
}

/// Runs the built `evtdoctor` binary.
pub fn evtdoctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(args)
        .output()
        .expect("evtdoctor runs")
}

/// Runs an independent tool (an oracle); panics with a hint when it is not installed.
pub fn oracle(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable ({e}); .ci/run installs it"))
}
