//! Helpers shared by the integration tests: where the corpus is, and running the real binary.
#![allow(dead_code)] // each test crate uses its own subset

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

pub mod scenarios;

/// Validates a JSON report against `docs/report.schema.json` with the PyPI `jsonschema`
/// package (Draft 2020-12); panics with every violation.
pub fn assert_valid_report(json: &str) {
    const CHECK: &str = "\
import json, sys
from jsonschema import Draft202012Validator as V
schema = json.load(open(sys.argv[1]))
V.check_schema(schema)
errors = list(V(schema, format_checker=V.FORMAT_CHECKER).iter_errors(json.load(sys.stdin)))
for e in errors:
    print(list(e.absolute_path), e.message)
sys.exit(1 if errors else 0)
";
    use std::io::Write;
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let mut child = Command::new("python3")
        .args(["-c", CHECK])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (pip install jsonschema)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("report written to the validator");
    let output = child.wait_with_output().expect("validator finishes");
    assert!(
        output.status.success(),
        "report violates docs/report.schema.json:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Compares `actual` with the golden file `tests/golden/<name>`; with `EVTDOCTOR_BLESS=1`
/// the golden file is (re)written instead. The tool's version reads `<version>` in golden
/// files, so a release does not rewrite them.
pub fn assert_golden(name: &str, actual: &str) {
    let version = env!("CARGO_PKG_VERSION");
    let actual = actual
        .replace(
            &format!("\"version\": \"{version}\""),
            "\"version\": \"<version>\"",
        )
        .replace(&format!("evtdoctor {version} "), "evtdoctor <version> ");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("EVTDOCTOR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden folder")).expect("golden folder");
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with EVTDOCTOR_BLESS=1)", path.display()));
    assert!(
        expected == actual,
        "{} differs from the output (EVTDOCTOR_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
