//! Output conventions shared by the commands: `--color`, CSV through the csv crate (lists as
//! JSON arrays, read back exactly), the analyze timeline as CSV and JSON lines, `-o` for decode
//! and fix with the format taken from the extension.

use crate::common::{self, assert_valid_json_lines, evtdoctor};
use crate::text_roundtrip::events_jsonl;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sample(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    path.to_str().unwrap().to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs evtdoctor with an environment variable set (or `--color` variations without one).
fn evtdoctor_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied())
        .output()
        .expect("evtdoctor runs")
}

const ESC: char = '\u{1b}';

#[test]
fn color_always_marks_errors_and_active_findings() {
    let folder = sample("kms-sp4");
    let out = evtdoctor_with(&[], &["--color", "always", "analyze", &folder]);
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    // The active finding's status in bold red, its high confidence in red.
    assert!(
        table.contains(
            "┆\u{1b}[38;5;9m\u{1b}[1m active \u{1b}[0m┆\u{1b}[38;5;9m high       \u{1b}[39m┆"
        ),
        "{table}"
    );
    let out = evtdoctor_with(
        &[],
        &["--color", "always", "decode", &folder, "-o", "x.txt"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "\u{1b}[1m\u{1b}[31mevtdoctor:\u{1b}[0m error: x.txt: cannot tell the format from the \
         extension (use .json, .jsonl, .ndjson, .csv, .md, .markdown, or give --format)\n"
    );
    // CLICOLOR_FORCE forces colour in a pipe too.
    let forced = evtdoctor_with(&[("CLICOLOR_FORCE", "1")], &["analyze", &folder]);
    assert_eq!(forced.stdout, table.as_bytes());
}

#[test]
fn no_color_pipes_and_never_give_no_escape_codes() {
    let folder = sample("kms-sp4");
    let plain = evtdoctor_with(&[], &["analyze", &folder, "/nonexistent.evt"]);
    for (env, args) in [
        (&[][..], &["analyze", &folder, "/nonexistent.evt"][..]),
        (
            &[("NO_COLOR", "1")][..],
            &["analyze", &folder, "/nonexistent.evt"][..],
        ),
        (
            &[("CLICOLOR_FORCE", "1")][..],
            &["--color", "never", "analyze", &folder, "/nonexistent.evt"][..],
        ),
    ] {
        let out = evtdoctor_with(env, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(!stdout.contains(ESC), "{env:?} {args:?}: {stdout}");
        assert!(!stderr.contains(ESC), "{env:?} {args:?}: {stderr}");
        assert!(stdout.contains("┆ active ┆ high "), "{stdout}");
        assert_eq!(out.stdout, plain.stdout);
    }
    // A file gets colour only when asked for.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let report = report.to_str().unwrap();
    let out = evtdoctor_with(
        &[],
        &["analyze", &folder, "--format", "table", "-o", report],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!std::fs::read_to_string(report).unwrap().contains(ESC));
}

#[test]
fn events_csv_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let logs: Vec<String> = [
        "System.evtx",
        "Application.evtx",
        "System.evt",
        "Application.evt",
    ]
    .iter()
    .map(|name| sample(&format!("kms-sp4/{name}")))
    .collect();
    let logs: Vec<&str> = logs.iter().map(String::as_str).collect();
    let original = events_jsonl(&logs);
    assert_eq!(original.len(), 82);
    let csv = dir.path().join("events.csv");
    let mut args = vec!["events", "-o", csv.to_str().unwrap()];
    args.extend_from_slice(&logs);
    let out = evtdoctor(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("wrote {}", csv.display())));

    let written = std::fs::read_to_string(&csv).unwrap();
    let header = written.lines().next().unwrap();
    assert_eq!(
        header,
        "file,log,record_number,event_record_id,time_generated,time_written,event_id,\
         qualifiers,level,source,provider,category,computer,user,strings,data,message,offset,\
         recovered,time_basis"
    );
    // Insertion strings as a JSON array in the cell. The records come back with every field
    // but where they were read from (file, origin).
    let boot = original.iter().find(|e| e["event_id"] == 6009).unwrap();
    let cell = serde_json::to_string(&boot["strings"]).unwrap();
    assert_eq!(boot["strings"].as_array().unwrap().len(), 4, "{cell}");
    assert!(cell.starts_with("[\""), "{cell}");
    assert!(
        written.contains(&format!(",\"{}\",", cell.replace('"', "\"\""))),
        "{cell}"
    );

    let read_back = events_jsonl(&[csv.to_str().unwrap()]);
    assert_eq!(read_back.len(), original.len());
    assert_eq!(read_back, original);
}

#[test]
fn csv_lists_with_separators_quotes_and_line_breaks_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("own.csv");
    let strings = ["a,b", "say \"hi\"", "two\r\nlines", "", "\u{1f}"];
    let cell = serde_json::to_string(&strings).unwrap();
    std::fs::write(
        &csv,
        format!(
            "file,log,record_number,event_record_id,time_generated,event_id,level,source,\
             provider,strings\nx,Application,7,9,2003-07-01T10:00:00+00:00,5085,Error,KMS,\
             MSExchangeKMS-Provider,\"{}\"\n",
            cell.replace('"', "\"\"")
        ),
    )
    .unwrap();
    let events = events_jsonl(&[csv.to_str().unwrap()]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["strings"], serde_json::json!(strings));
    assert_eq!(events[0]["provider"], "MSExchangeKMS-Provider");
    assert_eq!(
        (&events[0]["record_number"], &events[0]["event_record_id"]),
        (&Value::from(7), &Value::from(9))
    );
}

/// The analyze report's timeline, as JSON.
fn report_timeline(folder: &str) -> Vec<Value> {
    let out = evtdoctor(&["analyze", folder, "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["timeline"].as_array().unwrap().clone()
}

#[test]
fn analyze_timeline_as_json_lines_and_csv() {
    let folder = sample("kms-sp4");
    let timeline = report_timeline(&folder);
    assert_eq!(timeline.len(), 26);

    let out = evtdoctor(&["analyze", &folder, "--format", "jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the exit code stays the diagnosis's"
    );
    let jsonl = text(&out.stdout);
    assert_valid_json_lines("schemas/timeline.schema.json", &jsonl);
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), timeline.len());
    let times: Vec<&str> = lines.iter().map(|l| l["time"].as_str().unwrap()).collect();
    assert!(times.is_sorted(), "{times:?}");
    for item in &timeline {
        assert!(lines.contains(item), "{item}");
    }

    let out = evtdoctor(&["analyze", &folder, "--format", "csv"]);
    let csv = text(&out.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "time,computer,kind,summary,evidence");
    assert_eq!(rows.len(), timeline.len() + 1);
    assert_eq!(
        rows[1],
        "2003-06-02T07:58:12+00:00,EXCH01,boot,Boot: Windows 2000 5.0.2195 SP3,\
         \"[\"\"System record 1 (EventLog 6009, 2003-06-02 07:58:12 UTC)\"\"]\""
    );

    // The extension names the format.
    let dir = tempfile::tempdir().unwrap();
    for (name, expected) in [("t.csv", &csv), ("t.jsonl", &jsonl), ("t.ndjson", &jsonl)] {
        let path = dir.path().join(name);
        let out = evtdoctor(&["analyze", &folder, "-o", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        assert_eq!(&std::fs::read_to_string(&path).unwrap(), expected, "{name}");
    }
    let out = evtdoctor(&["analyze", &folder, "-o", "report.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("report.txt: cannot tell the format from the extension"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn decode_writes_to_the_file_of_o() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("kms-event.txt");
    std::fs::copy(sample("kms-sp4/kms-event.txt"), &input).unwrap();
    let input = input.to_str().unwrap();
    let to_stdout = evtdoctor(&["decode", input, "--json"]);
    let file = dir.path().join("decoded.json");
    let out = evtdoctor(&["decode", input, "-o", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!(
            "evtdoctor: wrote {}\nevtdoctor: decoded 1 event(s)\n",
            file.display()
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), to_stdout.stdout);

    // Never the input; never a name that says no format.
    let before = std::fs::read(input).unwrap();
    let out = evtdoctor(&["decode", input, "--format", "csv", "-o", input]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("refusing to overwrite it"));
    assert_eq!(std::fs::read(input).unwrap(), before);
    let out = evtdoctor(&["decode", input, "-o", "decoded.out"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn fix_writes_its_result_to_the_file_of_o() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kmsmdb.edb");
    std::fs::copy(sample("kmsmdb.edb"), &db).unwrap();
    let db = db.to_str().unwrap();
    let result = dir.path().join("fix.json");
    let fix = |extra: &[&str]| {
        let mut args = vec![
            "fix",
            "--db",
            db,
            "--target-os",
            "5.0.2195 SP 4",
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        evtdoctor(&args)
    };
    let out = fix(&["-o", result.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains(&format!("evtdoctor: wrote {}", result.display())));
    let json = std::fs::read_to_string(&result).unwrap();
    common::assert_valid_json("schemas/fix.schema.json", &json);
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["status"], "dry_run_passed");

    let before = std::fs::read(db).unwrap();
    let out = fix(&["--format", "json", "-o", db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("refusing to overwrite it"));
    assert_eq!(std::fs::read(db).unwrap(), before);
    assert!(!Path::new(&dir.path().join("fix.txt")).exists());
    let out = fix(&["-o", dir.path().join("fix.txt").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn events_json_and_json_lines_follow_the_published_schema() {
    common::needs!(common::Need::Python("jsonschema"));
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut checked = 0;
    for folder in std::fs::read_dir(&samples).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let folder = folder.to_str().unwrap();
        // Text inputs without a zone carry time_basis: read as assumed UTC, and in an offset.
        for tz in [None, Some("+02:00")] {
            let mut args = vec!["events", folder, "--jsonl"];
            args.extend(tz.iter().flat_map(|tz| ["--tz", *tz]));
            let jsonl = common::success_stdout(evtdoctor(&args));
            checked += jsonl.lines().count();
            common::assert_valid_json_lines("schemas/event.schema.json", &jsonl);
        }
        let json = common::success_stdout(evtdoctor(&["events", folder, "--json"]));
        let records: Vec<Value> = serde_json::from_str(&json).unwrap();
        let lines: Vec<String> = records.iter().map(Value::to_string).collect();
        common::assert_valid_json_lines("schemas/event.schema.json", &lines.join("\n"));
    }
    assert!(checked > 400, "{checked} records checked");
}

#[test]
fn markdown_names_computers_and_days_and_events_share_its_tables() {
    let folder = sample("kms-sp4");
    let report = text(&evtdoctor(&["analyze", &folder, "--format", "markdown"]).stdout);
    assert_eq!(
        report.lines().next(),
        Some("# evtdoctor analysis: EXCH01, 2003-06-02 to 2003-07-01")
    );
    // The days are the server's: the last event, 21:52 UTC, is the next day at +14:00.
    let out = evtdoctor(&["analyze", &folder, "--format", "markdown", "--tz", "+14:00"]);
    assert_eq!(
        text(&out.stdout).lines().next(),
        Some("# evtdoctor analysis: EXCH01, 2003-06-02 to 2003-07-02")
    );

    // events --format markdown: the same table renderer (not the terminal's box table).
    let export = sample("kms-sp4/kms-event.txt");
    let out = evtdoctor(&["events", &export, "--format", "markdown"]);
    assert_eq!(
        text(&out.stdout),
        "| Time (UTC) | Log | Record | Level | Source | ID | Computer | Description |\n\
         |---|---|---|---|---|---|---|---|\n\
         | 2003-07-01 21:52:10 * |  |  | Error | MSExchangeKMS | 5085 | EXCH01 | KMS can not \
         mount the key database. Either the database is … |\n\
         \n\
         \\* time from text without a zone, read as UTC (give --tz to set the offset)\n"
    );
}
