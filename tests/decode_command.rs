//! `evtdoctor decode`: the KB 818952 event decodes exactly; damaged dumps are named by line
//! while the events around them still come through.

use crate::common;
use common::Need;

use common::evtdoctor;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The event block of KB 818952, copied verbatim from `Event Type:` to the last dump line.
fn kb_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kb818952_event_5085.txt")
}

const KB_HEX: &str = "362e302e363234392e30205054006b6d7365727665722e6370704031363533444431006b6d7365727665722e63707040313132304448613834006b6d7365727665722e6370704037303444443200";

fn decode_json(args: &[&str]) -> (Vec<Value>, String, Option<i32>) {
    let output = evtdoctor(&[&["decode", "--json"], args].concat());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let values = serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap_or_default();
    (values, stderr, output.status.code())
}

fn decode_stdin(text: &str, args: &[&str]) -> (Vec<Value>, String, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args([&["decode", "--json", "-"], args].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let values = serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap_or_default();
    (
        values,
        String::from_utf8(output.stderr).unwrap(),
        output.status.code(),
    )
}

fn assert_kb_payload(event: &Value) {
    assert_eq!(event["source"], "MSExchangeKMS");
    assert_eq!(event["event_id"], 5085);
    assert_eq!(event["level"], "error");
    assert_eq!(event["data"], KB_HEX);
    let payload = &event["payload"];
    assert_eq!(payload["size"], 78);
    assert_eq!(payload["layout"], "ascii_strings");
    let strings: Vec<&str> = payload["strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        strings,
        [
            "6.0.6249.0 PT",
            "kmserver.cpp@1653DD1",
            "kmserver.cpp@1120DHa84",
            "kmserver.cpp@704DD2"
        ]
    );
    assert_eq!(
        payload["build"],
        json!({"major": 6, "minor": 0, "build": 6249, "revision": 0, "flavour": "PT"})
    );
    assert_eq!(
        payload["markers"],
        json!([
            {"file": "kmserver.cpp", "line": 1653, "tag": "DD1"},
            {"file": "kmserver.cpp", "line": 1120, "tag": "DHa84"},
            {"file": "kmserver.cpp", "line": 704, "tag": "DD2"}
        ])
    );
}

#[test]
fn decodes_the_kb_event_exactly() {
    let (events, stderr, code) = decode_json(&[kb_fixture().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_kb_payload(event);
    assert_eq!(event["category"], 0);
    assert_eq!(event["computer"], "ComputerName");
    assert_eq!(event["user"], Value::Null);
    // `Date: Date` is a placeholder: no time, and nothing was assumed.
    assert_eq!(event["time_generated"], Value::Null);
    assert_eq!(event["time_basis"], "utc");
    assert!(event["message"]
        .as_str()
        .unwrap()
        .starts_with("KMS can not mount the key database."));
}

#[test]
fn the_table_shows_strings_build_and_markers() {
    let output = evtdoctor(&["decode", kb_fixture().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let table = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "78 bytes, NUL-separated ASCII strings",
        "@0x0000 6.0.6249.0 PT",
        "@0x003a kmserver.cpp@704DD2",
        "6.0.6249.0, flavour PT (major 6, minor 0, build 6249, revision 0)",
        "kmserver.cpp line 1120, tag DHa84 (meaning unknown)",
        "0040: 65 72 2e 63 70 70 40 37 30 34 44 44 32 00",
    ] {
        assert!(table.contains(expected), "{expected:?} missing:\n{table}");
    }
}

#[test]
fn the_same_event_in_the_words_view_with_crlf_and_trailing_spaces() {
    let kb = std::fs::read_to_string(kb_fixture()).unwrap();
    let header: String = kb
        .lines()
        .take_while(|l| !l.starts_with("0000:"))
        .map(|l| format!("{l}  \r\n"))
        .collect();
    let words = "Data:\r\n\
0000: 2e302e36 39343236 5020302e 6d6b0054 \r\n\
0010: 76726573 632e7265 31407070 44333536 \r\n\
0020: 6b003144 7265736d 2e726576 40707063 \r\n\
0030: 30323131 38614844 6d6b0034 76726573 \r\n\
0040: 632e7265 37407070 44443430 0032\r\n";
    let (events, stderr, code) = decode_stdin(&format!("{header}{words}"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(events.len(), 1);
    assert_kb_payload(&events[0]);
}

#[test]
fn damaged_dumps_are_named_by_line_and_the_other_events_come_through() {
    let block = |source: &str, dump: &[&str]| {
        let mut lines = vec![
            "Event Type:\tError".to_owned(),
            format!("Event Source:\t{source}"),
            "Event ID:\t1".to_owned(),
            "Description:".to_owned(),
            format!("{source} failed."),
            "Data:".to_owned(),
        ];
        lines.extend(dump.iter().map(|l| l.to_string()));
        lines
    };
    let mut lines = Vec::new();
    lines.extend(block("Good1", &["0000: 41 42 43 44  ABCD"]));
    lines.extend(block("OddDigit", &["0000: 41 42 4 44", "0004: 45"])); // first dump line 14
    lines.extend(block("Gap", &["0000: 41 42", "0004: 43 44"])); // second dump line 23
    lines.extend(block("Mixed", &["0000: 41 42", "0002: 43444546"])); // second dump line 31
    lines.extend(block(
        "Garbage",
        &["0000: 41 42", "~~ pasted junk ~~", "0002: 43"],
    )); // junk at line 39
    lines.extend(block("Good2", &["0000: 2e302e36"]));
    let text = lines.join("\n");
    let (events, stderr, code) = decode_stdin(&text, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let sources: Vec<&str> = events
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["Good1", "Good2"]);
    assert_eq!(events[0]["data"], "41424344");
    assert_eq!(events[1]["data"], "362e302e");
    let problems: Vec<&str> = stderr.lines().filter(|l| l.contains(": line ")).collect();
    assert_eq!(problems.len(), 4, "{stderr}");
    for (problem, (line, words)) in problems.iter().zip([
        (14, "\"4\" has an odd number of hex digits"),
        (23, "dump offset 0004 where 0002 was expected"),
        (31, "\"43444546\" mixes views: a word in a Bytes dump"),
        (39, "text inside the data dump: \"~~ pasted junk ~~\""),
    ]) {
        assert!(
            problem.contains(&format!("<stdin>: line {line}: {words}")),
            "{problem}"
        );
    }
}

#[test]
fn nothing_readable_exits_2_and_exports_without_data_say_so() {
    let (_, stderr, code) = decode_stdin("0000: 41 4\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("line 1: \"4\" has an odd number of hex digits"),
        "{stderr}"
    );
    let (_, _, code) = decode_stdin("nothing to see here\n", &[]);
    assert_eq!(code, Some(2));

    let csv = "#TYPE System.Diagnostics.EventLogEntry#Application/MSExchangeKMS/3221230557\n\
\"EventID\",\"MachineName\",\"Data\",\"Index\",\"EntryType\",\"Message\",\"Source\",\"InstanceId\",\"TimeGenerated\"\n\
\"5085\",\"EXCH01\",\"System.Byte[]\",\"7\",\"Error\",\"KMS can not mount\",\"MSExchangeKMS\",\"3221230557\",\"7/1/2003 10:00:05 AM\"\n";
    let (events, stderr, code) = decode_stdin(csv, &["--tz", "+02:00"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(events[0]["payload"], Value::Null);
    assert_eq!(events[0]["data"], Value::Null);
    assert_eq!(events[0]["qualifiers"], 0xc000);
    assert_eq!(events[0]["time_generated"], "2003-07-01T08:00:05Z");
    assert_eq!(events[0]["time_basis"], "+02:00");
    let table = String::from_utf8(
        evtdoctor(&[
            "decode",
            kb_fixture().to_str().unwrap(),
            "--format",
            "markdown",
        ])
        .stdout,
    )
    .unwrap();
    assert!(table.contains("| Marker 1 | kmserver.cpp line 1653, tag DD1 (meaning unknown) |"));
}

#[test]
fn decodes_the_data_of_a_binary_log_like_the_oracle() {
    common::needs!(Need::Corpus, Need::Program("evtxexport"));
    let log = common::corpus_dir().join("evtx/attack_netlogon5805_zerologon_binary.evtx");
    let log = log.to_str().unwrap();
    let (events, stderr, code) = decode_json(&[log]);
    assert_eq!(code, Some(0), "{stderr}");
    let xml = common::oracle("evtxexport", &["-f", "xml", log]);
    let xml = String::from_utf8_lossy(&xml.stdout);
    let oracle_hex: Vec<String> = xml
        .split("<Binary>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Binary>"))
        .map(|(hex, _)| hex.to_lowercase())
        .collect();
    assert_eq!(oracle_hex, ["220000c0"]);
    let decoded: Vec<&Value> = events
        .iter()
        .filter(|e| e["payload"]["size"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0]["payload"]["hex"], oracle_hex[0].as_str());
    assert_eq!(decoded[0]["payload"]["layout"], "binary");
    assert_eq!(decoded[0]["event_id"], 5805);
    assert_eq!(decoded[0]["time_basis"], "utc");
    // The table adds the Words view, where the NTSTATUS reads as Event Viewer shows it.
    let table = String::from_utf8(evtdoctor(&["decode", log]).stdout).unwrap();
    assert!(table.contains("0000: 22 00 00 c0"), "{table}");
    assert!(table.contains("0000: c0000022"), "{table}");
}

#[test]
fn help_has_examples_and_exit_codes_and_bad_tz_is_a_usage_error() {
    let help = String::from_utf8(evtdoctor(&["decode", "--help"]).stdout).unwrap();
    for expected in [
        "Examples:",
        "evtdoctor decode pasted-event.txt",
        "Exit codes:",
        "--tz",
    ] {
        assert!(help.contains(expected), "{expected:?} missing:\n{help}");
    }
    let bad = evtdoctor(&[
        "decode",
        "--tz",
        "Europe/Berlin",
        kb_fixture().to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("give a fixed offset such as +02:00"));
}
