//! `evtdoctor analyze` run as a binary on scenario logs written as Event XML (the export
//! `wevtutil qe /f:xml` gives) and on real corpus files: golden files for the three
//! renderings, exit codes, unreadable inputs listed beside the findings.

use crate::common;
use common::Need;

use common::{assert_golden, assert_valid_report, corpus_dir, evtdoctor};
use evtdoctor_testkit::events::{self, write_xml};
use std::path::Path;
use std::process::{Command, Output};

fn analyze_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .arg("analyze")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("evtdoctor runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn json(output: &Output) -> serde_json::Value {
    let text = stdout(output);
    assert_valid_report(&text);
    serde_json::from_str(&text).expect("JSON report")
}

/// Writes the scenario in a fresh folder; returns the folder and the file names to pass.
fn scenario(events: &[evtdoctor_parsers::Event]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write_xml(dir.path(), events)
        .into_iter()
        .map(|p| p.display().to_string())
        .collect();
    (dir, files)
}

fn args<'a>(files: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    files
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect()
}

#[test]
fn positive_scenario_golden_in_all_three_formats() {
    let (dir, files) = scenario(&events::positive());
    for (format, golden) in [
        ("json", "analyze/kms_positive.json"),
        ("markdown", "analyze/kms_positive.md"),
        ("table", "analyze/kms_positive.txt"),
    ] {
        let out = analyze_in(dir.path(), &args(&files, &["--format", format]));
        assert_eq!(out.status.code(), Some(1), "{format}: findings exit 1");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if format == "json" {
            json(&out);
        }
        assert_golden(golden, &stdout(&out));
    }
}

#[test]
fn positive_scenario_json_names_the_evidence_records() {
    let (dir, files) = scenario(&events::positive());
    let report = json(&analyze_in(dir.path(), &args(&files, &["--json"])));
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f["id"], "kms-5085-after-windows-2000-sp4");
    assert_eq!(f["confidence"]["level"], "high");
    let evidence: Vec<(String, u64, u64)> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_owned(),
                e["event_id"].as_u64().unwrap(),
                e["record_number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        evidence,
        vec![
            ("System.xml".to_owned(), 6009, 100),
            ("System.xml".to_owned(), 6009, 103),
            ("Application.xml".to_owned(), 5085, 500)
        ]
    );
    assert_eq!(report["examined"]["events_read"], 5);
    assert_eq!(report["inputs"][0]["path"], "Application.xml");
    assert_eq!(report["inputs"][0]["format"], "xml");
    assert_eq!(report["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn negative_scenario_golden_says_why_the_rule_did_not_apply() {
    let mut logged = events::positive();
    logged[4] = events::kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6603.1");
    let (dir, files) = scenario(&logged);
    for (format, golden) in [
        ("json", "analyze/kms_rollup_build.json"),
        ("markdown", "analyze/kms_rollup_build.md"),
        ("table", "analyze/kms_rollup_build.txt"),
    ] {
        let out = analyze_in(dir.path(), &args(&files, &["--format", format]));
        assert_eq!(out.status.code(), Some(0), "{format}: no finding exits 0");
        if format == "json" {
            let report = json(&out);
            assert_eq!(report["findings"], serde_json::json!([]));
            assert_eq!(report["ruled_out"].as_array().unwrap().len(), 1);
        }
        assert_golden(golden, &stdout(&out));
    }
}

#[test]
fn resolved_finding_exits_0_and_says_resolved() {
    let (dir, files) = scenario(&events::resolved());
    let out = analyze_in(dir.path(), &args(&files, &["--json"]));
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["findings"][0]["status"], "resolved");
    assert_eq!(
        report["findings"][0]["resolution"]["evidence"][0]["record_number"],
        140
    );
}

#[test]
fn the_pasted_kb_alone_gives_the_finding_with_low_confidence() {
    let (dir, files) = scenario(&[events::kb_paste()]);
    let out = analyze_in(dir.path(), &args(&files, &["--json"]));
    assert_eq!(out.status.code(), Some(1));
    let f = &json(&out)["findings"][0];
    assert_eq!(f["confidence"]["level"], "low");
    assert_eq!(f["computer"], "ComputerName");
}

#[test]
fn a_folder_mixing_garbage_still_reports_the_finding_and_lists_the_bad_files() {
    common::needs!(Need::Corpus);
    let (dir, _) = scenario(&events::positive());
    let root = dir.path();
    std::fs::write(root.join("empty.evt"), b"").unwrap();
    std::fs::write(
        root.join("random.bin"),
        [0x13u8, 0x00, 0xff, 0x42, 0x00, 0x01, 0x99],
    )
    .unwrap();
    std::fs::write(root.join("truncated.evtx"), b"ElfFile\0\x01\x02").unwrap();
    std::fs::write(
        root.join("notes.txt"),
        "the server was rebooted on Monday\n",
    )
    .unwrap();
    for name in [
        "System_binarydata_plaso.evtx",
        "corrupt_bad_chunk_magic_omerevtx.evtx",
    ] {
        std::fs::copy(corpus_dir().join("evtx").join(name), root.join(name)).unwrap();
    }
    let out = analyze_in(root, &[".", "--json"]);
    assert_eq!(out.status.code(), Some(1), "findings despite garbage");
    let report = json(&out);
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert_eq!(report["findings"][0]["confidence"]["level"], "high");
    let unreadable: Vec<(String, String)> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["unreadable"].is_null())
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["unreadable"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = unreadable.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "./empty.evt",
            "./notes.txt",
            "./random.bin",
            "./truncated.evtx"
        ]
    );
    assert_eq!(unreadable[0].1, "offset 0 (0x0): empty file");
    assert_eq!(report["examined"]["unreadable_inputs"], 4);
    assert_eq!(report["examined"]["readable_inputs"], 4);
    // The damaged corpus file is readable, with its problems counted.
    let damaged = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "./corrupt_bad_chunk_magic_omerevtx.evtx")
        .unwrap();
    assert!(damaged["unreadable"].is_null());
    assert!(damaged["records"].as_u64().unwrap() > 0);
    // Each bad file is named on stderr too.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in names {
        assert!(stderr.contains(name), "{name} not on stderr: {stderr}");
    }
}

#[test]
fn real_logs_without_kms_events_give_no_finding_and_exit_0() {
    common::needs!(Need::Corpus);
    let system = corpus_dir().join("evtx/System_binarydata_plaso.evtx");
    let out = evtdoctor(&["analyze", system.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("No known failure found: examined"), "{text}");
    // The report lists the rules that found records to weigh; here none did.
    assert!(text.contains("none of the 5 rule(s) of the pack found records it weighs."));
    assert!(text.contains("## Findings\n\nNone. No rule of the pack found records it weighs."));
}

#[test]
fn no_readable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("random.bin"), [0u8, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let out = analyze_in(dir.path(), &["random.bin", "missing.evt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.evt"), "{stderr}");
    assert!(stderr.contains("no readable input"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(evtdoctor(&["analyze"]).status.code(), Some(2));
    let out = evtdoctor(&["analyze", ".", "--tz", "Mars/Olympus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("time zone"));
    assert_eq!(
        evtdoctor(&["analyze", ".", "--json", "--format", "table"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn output_file_and_time_zone() {
    let (dir, files) = scenario(&events::positive());
    let out = analyze_in(
        dir.path(),
        &args(
            &files,
            &[
                "--format",
                "markdown",
                "--tz",
                "+02:00",
                "--output",
                "ticket.md",
            ],
        ),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(dir.path().join("ticket.md")).unwrap();
    assert!(text.contains("times in +02:00"));
    // 08:11:00 UTC shown as local +02:00 time.
    assert!(
        text.contains("| 2003-07-05 10:11:00 | EXCH01 | KMS 5085:"),
        "{text}"
    );
}

#[test]
fn db_option_checks_the_file() {
    common::needs!(Need::Corpus);
    let (dir, files) = scenario(&events::positive());
    let out = analyze_in(dir.path(), &args(&files, &["--json", "--db", "kmsmdb.edb"]));
    let report = json(&out);
    assert_eq!(report["database"]["exists"], false);
    let missing = &report["findings"][0]["differentials"][0];
    assert_eq!(missing["verdict"], "supported");
    std::fs::copy(
        corpus_dir().join("ese/dissect_basic_4k.edb"),
        dir.path().join("kmsmdb.edb"),
    )
    .unwrap();
    let report = json(&analyze_in(
        dir.path(),
        &args(&files, &["--json", "--db", "kmsmdb.edb"]),
    ));
    assert_eq!(report["database"]["ese_signature"], true);
    assert_eq!(
        report["findings"][0]["differentials"][0]["verdict"],
        "rejected"
    );
    assert_eq!(report["findings"][0]["confidence"]["level"], "high");
}

#[test]
fn help_has_examples_and_exit_codes() {
    let out = evtdoctor(&["analyze", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("evtdoctor analyze logs/ --db kmsmdb.edb --json"));
    assert!(help.contains("1  at least one active finding"));
}

#[test]
fn the_kb_article_text_alone_gives_the_finding_with_low_confidence() {
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kb818952_event_5085.txt");
    let out = evtdoctor(&["analyze", fixture.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["inputs"][0]["format"], "text");
    let f = &report["findings"][0];
    assert_eq!(f["id"], "kms-5085-after-windows-2000-sp4");
    assert_eq!(f["computer"], "ComputerName");
    assert_eq!(f["confidence"]["level"], "low");
    let reasons: Vec<&str> = f["confidence"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| r.starts_with("lowered:")).count(),
        2
    );
    let evidence = &f["evidence"][0];
    assert_eq!(evidence["line"], 1);
    assert!(evidence["time"].is_null());
    assert_eq!(
        evidence["excerpt"],
        "data: 6.0.6249.0 PT | kmserver.cpp@1653DD1 | kmserver.cpp@1120DHa84 | kmserver.cpp@704DD2"
    );
}

/// The positive scenario's 5085 as an engineer pastes it from Event Viewer on a server at
/// UTC+2: local time, hex dump of the data.
const PASTED_FAILURE: &str = "Event Type:\tError\r\nEvent Source:\tMSExchangeKMS\r\n\
Event Category:\tNone\r\nEvent ID:\t5085\r\nDate:\t\t7/5/2003\r\nTime:\t\t10:11:00 AM\r\n\
User:\t\tN/A\r\nComputer:\tEXCH01\r\nDescription:\r\nKMS can not mount the key database.\r\n\
Data:\r\n\
0000: 36 2e 30 2e 36 32 34 39 6.0.6249\r\n0008: 2e 30 20 50 54 00 6b 6d .0 PT.km\r\n\
0010: 73 65 72 76 65 72 2e 63 server.c\r\n0018: 70 70 40 31 36 35 33 44 pp@1653D\r\n\
0020: 44 31 00 6b 6d 73 65 72 D1.kmser\r\n0028: 76 65 72 2e 63 70 70 40 ver.cpp@\r\n\
0030: 31 31 32 30 44 48 61 38 1120DHa8\r\n0038: 34 00 6b 6d 73 65 72 76 4.kmserv\r\n\
0040: 65 72 2e 63 70 70 40 37 er.cpp@7\r\n0048: 30 34 44 44 32 00 04DD2.\r\n";

#[test]
fn a_pasted_copy_of_a_logged_failure_counts_once_with_its_zone_given_or_inferred() {
    let (dir, files) = scenario(&events::positive());
    std::fs::write(dir.path().join("paste.txt"), PASTED_FAILURE).unwrap();
    let mut inputs = files.clone();
    inputs.push("paste.txt".to_owned());

    let report = json(&analyze_in(
        dir.path(),
        &args(&inputs, &["--json", "--tz", "+02:00"]),
    ));
    assert_eq!(report["examined"]["events_read"], 6);
    assert_eq!(report["examined"]["duplicates_merged"], 1);
    let f = &report["findings"][0];
    assert_eq!(f["confidence"]["level"], "high");
    assert_eq!(f["evidence"][2]["record_number"], 500);
    assert_eq!(report["time_zone"], "+02:00");

    assert_eq!(report["inputs"][2]["time_basis"], "+02:00");

    // Without --tz, the logged copy of the paste's one event gives its offset: the paste is
    // read at +02:00, the event counted once, and the report names the inferred offset.
    let inferred = analyze_in(dir.path(), &args(&inputs, &["--json"]));
    assert!(
        String::from_utf8_lossy(&inferred.stderr).contains(
            "paste.txt: times without a zone read at +02:00, the offset the 1 event(s) it \
             shares with binary logs give"
        ),
        "{}",
        String::from_utf8_lossy(&inferred.stderr)
    );
    let inferred = json(&inferred);
    assert_eq!(inferred["inputs"][2]["time_basis"], "inferred +02:00");
    assert_eq!(inferred["inputs"][0]["time_basis"], "utc");
    assert_eq!(inferred["examined"], report["examined"]);
    assert_eq!(inferred["findings"], report["findings"]);

    // A paste that shares no event with a log stays read as UTC, and says so.
    let markdown = stdout(&analyze_in(
        dir.path(),
        &["paste.txt", "--format", "markdown"],
    ));
    assert!(markdown.contains("| `paste.txt *` | text |"), "{markdown}");
    assert!(markdown.contains("\n\\* time from text without a zone, read as UTC"));
}

/// A wrong --tz is kept (it is what the user said), with a warning naming the offset the
/// shared events give: the paste read at +05:00 is three hours off its logged copy.
#[test]
fn a_zone_the_logged_copies_contradict_is_kept_with_a_warning() {
    let (dir, files) = scenario(&events::positive());
    std::fs::write(dir.path().join("paste.txt"), PASTED_FAILURE).unwrap();
    let mut inputs = files.clone();
    inputs.push("paste.txt".to_owned());
    let out = analyze_in(dir.path(), &args(&inputs, &["--json", "--tz", "+05:00"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "evtdoctor: warning: paste.txt: --tz +05:00 kept, but the 1 event(s) it shares \
             with binary logs put its times at +02:00"
        ),
        "{stderr}"
    );
    let report = json(&out);
    assert_eq!(report["inputs"][2]["time_basis"], "+05:00");
    assert_eq!(report["examined"]["duplicates_merged"], 0);
}

/// Runs `analyze --json` on the KB sample with a `--db` copy of a corpus database made to look
/// as Exchange 2000 left it (Windows 2000 SP3 in the header), in the given state.
fn analyze_with_database(state: u32) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(corpus_dir().join("ese/dissect_basic_4k.edb")).unwrap();
    let mut bytes = common::ese::as_exchange_2000(original);
    for header in [0, 4096] {
        let page = &mut bytes[header..header + 4096];
        common::ese::put_u32(page, 52, state);
        evtdoctor_parsers::ese::header::set_header_checksum(page);
    }
    let db = dir.path().join("kmsmdb.edb");
    std::fs::write(&db, &bytes).unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/kms-sp4");
    let out = evtdoctor(&["analyze", "--json", sample, "--db", db.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert_valid_report(&json);
    serde_json::from_str(&json).unwrap()
}

#[test]
fn database_header_given_with_db_is_evidence() {
    common::needs!(Need::Corpus);
    let report = analyze_with_database(3);
    assert_eq!(report["database"]["header"]["state"], "Clean Shutdown");
    assert_eq!(
        report["database"]["header"]["os_version"]["service_pack"],
        3
    );
    let finding = &report["findings"][0];
    assert_eq!(finding["confidence"]["level"], "high");
    let header = finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "database_header")
        .expect("header cited");
    assert_eq!(header["os_version"], "(5.0.2195 SP 3)");
    assert_eq!(header["format"], "0x620,9");
    let reasons = finding["confidence"]["reasons"].to_string();
    assert!(reasons.contains("strongest confirmation"), "{reasons}");

    let dirty = analyze_with_database(2);
    let finding = &dirty["findings"][0];
    assert_eq!(finding["confidence"]["level"], "medium");
    let differential = finding["differentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hypothesis"].as_str().unwrap().contains("dirty-shutdown"))
        .unwrap();
    assert_eq!(differential["verdict"], "supported");
}
