//! Helpers shared by the integration tests: where the corpus is, and running the real binary.
#![allow(dead_code)] // each test crate uses its own subset

pub mod ese;
pub mod evtx_oracles;
pub mod needs;

pub(crate) use needs::{needs, Need};

use evtdoctor::correlate::SourcedEvent;
use evtdoctor_parsers::Event;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The third-party corpus: `$EVTDOCTOR_CORPUS`, else `shared/corpus` beside the repository.
/// A test calls `needs!(Need::Corpus)` first, so this only fails on a folder that vanished.
pub fn corpus_dir() -> PathBuf {
    let dir = needs::corpus_path();
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

/// Every corpus .evtx: `evtx/` and the logs in `incoming/`.
pub fn evtx_corpus_files() -> Vec<PathBuf> {
    let mut files = corpus_files("evtx", &[".evtx"]);
    files.extend(corpus_files("incoming", &[".evtx"]));
    files
}

/// Runs the built `evtdoctor` binary (without a CLICOLOR_FORCE of the caller's, so that
/// outputs stay free of colour).
pub fn evtdoctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("evtdoctor runs")
}

/// The stdout of a successful command.
pub fn success_stdout(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The Rust `evtx_dump` (crates.io `evtx`); a test calls `needs!(Need::RustEvtxDump)` first.
pub fn rust_evtx_dump() -> String {
    needs::rust_evtx_dump_path()
        .expect("the Rust evtx_dump is not installed (cargo install evtx); .ci/run installs it")
}

/// Runs an independent tool (an oracle); panics with a hint when it is not installed.
pub fn oracle(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable ({e}); .ci/run installs it"))
}

/// Runs an oracle that must succeed and returns what it printed.
pub fn oracle_stdout(program: &str, args: &[&str]) -> String {
    success_stdout(oracle(program, args))
}

/// One record as `evtexport` (libevt) prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportedRecord {
    pub number: u64,
    pub created: String,
    pub written: String,
    /// The numeric event type in the "(4)" of "Information event (4)".
    pub event_type: u16,
    pub computer: String,
    pub source: String,
    pub category: u16,
    /// The full 32-bit identifier.
    pub identifier: u32,
    pub sid: Option<String>,
    pub strings: Vec<String>,
}

/// Runs `evtexport -m <mode>` on `path` and parses its records. Values may span lines (strings
/// with CR LF): a line that starts no field continues the previous value.
pub fn evtexport(path: &std::path::Path, mode: &str) -> Vec<ExportedRecord> {
    let out = oracle("evtexport", &["-m", mode, &path.to_string_lossy()]);
    assert!(
        out.status.success(),
        "evtexport failed on {}",
        path.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut records: Vec<ExportedRecord> = Vec::new();
    let mut last_string = false;
    for (i, line) in lines.iter().enumerate() {
        let field = line.split_once('\t').map(|(key, rest)| {
            let value = rest
                .trim_start_matches('\t')
                .strip_prefix(": ")
                .unwrap_or("");
            (key, value)
        });
        let record_ends = line.is_empty()
            && lines
                .get(i + 1)
                .is_none_or(|next| next.is_empty() || next.starts_with("Event number"));
        let Some(record) = records.last_mut() else {
            if let Some(("Event number", n)) = field {
                records.push(ExportedRecord {
                    number: n.parse().expect("event number"),
                    ..Default::default()
                });
            }
            continue;
        };
        let number = |v: &str| -> u64 {
            let inner = v
                .rsplit_once('(')
                .map_or(v, |(_, n)| n.trim_end_matches(')'));
            inner.parse().unwrap_or_else(|_| panic!("number in {v:?}"))
        };
        match field {
            Some(("Event number", n)) => {
                records.push(ExportedRecord {
                    number: n.parse().expect("event number"),
                    ..Default::default()
                });
                last_string = false;
            }
            Some(("Creation time", v)) => record.created = v.to_owned(),
            Some(("Written time", v)) => record.written = v.to_owned(),
            Some(("Event type", v)) => record.event_type = number(v) as u16,
            Some(("Computer name", v)) => record.computer = v.to_owned(),
            Some(("Source name", v)) => record.source = v.to_owned(),
            Some(("Event category", v)) => record.category = number(v) as u16,
            Some(("Event identifier", v)) => record.identifier = number(v) as u32,
            Some(("User security identifier", v)) => record.sid = Some(v.to_owned()),
            Some(("Number of strings", _)) => {}
            Some((key, v)) if key.starts_with("String: ") => {
                record.strings.push(v.to_owned());
                last_string = true;
            }
            _ if record_ends => last_string = false,
            _ if last_string => {
                let s = record.strings.last_mut().expect("a string");
                s.push('\n');
                s.push_str(line);
            }
            _ => panic!("unexpected evtexport line {line:?}"),
        }
    }
    records
}

/// libevt's time format: "Jul 21, 2021 02:40:16 UTC".
pub fn libevt_time(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.map_or_else(
        || "Not set (0)".into(),
        |t| t.format("%b %d, %Y %H:%M:%S UTC").to_string(),
    )
}

/// Every field evtexport prints, compared.
pub fn assert_same(mine: &evtdoctor_parsers::Event, theirs: &ExportedRecord, context: &str) {
    let context = format!("{context}, record {}", theirs.number);
    assert_eq!(mine.record_number, Some(theirs.number), "{context}");
    assert_eq!(mine.full_event_id(), theirs.identifier, "{context}");
    assert_eq!(
        mine.level,
        evtdoctor_parsers::Level::from_evt_type(theirs.event_type),
        "{context}"
    );
    assert_eq!(mine.source, theirs.source, "{context}");
    assert_eq!(
        mine.computer.as_deref(),
        Some(&*theirs.computer),
        "{context}"
    );
    assert_eq!(mine.category, Some(theirs.category), "{context}");
    assert_eq!(
        libevt_time(mine.time_generated),
        theirs.created,
        "{context}"
    );
    assert_eq!(libevt_time(mine.time_written), theirs.written, "{context}");
    assert_eq!(mine.user, theirs.sid, "{context}");
    assert_eq!(mine.strings, theirs.strings, "{context}");
}

/// Runs `evtdoctor events FILE --jsonl` and parses every record.
pub fn evtdoctor_events(path: &std::path::Path) -> (Vec<evtdoctor_parsers::Event>, String) {
    let out = evtdoctor(&["events", &path.to_string_lossy(), "--jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}: {stderr}", path.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    let events = String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|line| serde_json::from_str(line).expect("an Event per line"))
        .collect();
    (events, stderr)
}

/// Validates a JSON report against `docs/report.schema.json` with the PyPI `jsonschema`
/// package (Draft 2020-12); panics with every violation.
pub fn assert_valid_report(json: &str) {
    assert_valid_json("report.schema.json", json);
}

/// Validates one JSON document against `docs/<schema>`.
pub fn assert_valid_json(schema: &str, json: &str) {
    validate(schema, json, "document");
}

/// Validates every line of JSON lines against `docs/<schema>` (the schema of one line).
pub fn assert_valid_json_lines(schema: &str, jsonl: &str) {
    validate(schema, jsonl, "lines");
}

/// Runs python's jsonschema on `text`; the other published schemas resolve by their `$id`.
fn validate(schema: &str, json: &str, mode: &str) {
    const CHECK: &str = "\
import glob, json, os, sys
from jsonschema import Draft202012Validator as V
from referencing import Registry, Resource
docs, name, lines = sys.argv[1], sys.argv[2], sys.argv[3] == 'lines'
files = glob.glob(os.path.join(docs, 'schemas', '*.json')) + [os.path.join(docs, 'report.schema.json')]
registry = Registry().with_resources(
    (r.id(), r) for r in (Resource.from_contents(json.load(open(f))) for f in files))
schema = json.load(open(os.path.join(docs, name)))
V.check_schema(schema)
validator = V(schema, registry=registry, format_checker=V.FORMAT_CHECKER)
text = sys.stdin.read()
documents = [json.loads(l) for l in text.splitlines() if l.strip()] if lines else [json.loads(text)]
errors = [e for d in documents for e in validator.iter_errors(d)]
for e in errors:
    print(list(e.absolute_path), e.message)
sys.exit(1 if errors or not documents else 0)
";
    use std::io::Write;
    if needs::missing(&[Need::Python("jsonschema")]) {
        return; // the output's other assertions still run
    }
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut child = Command::new("python3")
        .args(["-c", CHECK])
        .arg(&docs)
        .args([schema, mode])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (pip install jsonschema)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("output written to the validator");
    let output = child.wait_with_output().expect("validator finishes");
    assert!(
        output.status.success(),
        "output violates docs/{schema}:\n{}",
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

/// Events as read from per-log files (`System.xml`, `Application.xml`).
pub fn sourced(events: Vec<Event>) -> Vec<SourcedEvent> {
    events
        .into_iter()
        .map(|event| SourcedEvent {
            file: evtdoctor_testkit::events::file_name(&event),
            event,
        })
        .collect()
}

/// Correlates `events`, keeping those the shipped rules read.
pub fn correlate_shipped(
    events: Vec<evtdoctor::correlate::SourcedEvent>,
) -> evtdoctor::correlate::Correlation {
    let watched = evtdoctor::diagnose::rules::Pack::builtin().watched();
    evtdoctor::correlate::correlate_watching(events, watched)
}
