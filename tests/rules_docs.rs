//! The rule written in docs/rules.md's walk-through, taken from the document itself, does what
//! the document says: it checks clean, `analyze --rules` finds it on logs of the KB's case,
//! and a mistake is reported at the line and column the document shows.

use crate::common;

use common::evtdoctor;
use evtdoctor_parsers::Event;
use evtdoctor_testkit::events::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const DOC: &str = include_str!("../docs/rules.md");

/// The TOML between the example markers.
fn example_rule() -> &'static str {
    let start = DOC.find("<!-- rule-example:start -->").unwrap();
    let end = DOC.find("<!-- rule-example:end -->").unwrap();
    let block = &DOC[start..end];
    let open = block.find("```toml\n").unwrap() + "```toml\n".len();
    let close = block.rfind("```").unwrap();
    &block[open..close]
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("evtdoctor runs")
}

/// NT 4.0 SP3, then SP4; the corrupt index; the DXA failing with -1201.
fn dxa_case(with_index_event: bool, with_damage: bool) -> Vec<Event> {
    let mut events = vec![
        os_boot(1, "1999-05-01T08:00:00Z", "4.0", "1381", "Service Pack 3"),
        os_boot(2, "1999-05-02T08:00:00Z", "4.0", "1381", "Service Pack 4"),
    ];
    if with_index_event {
        let mut index = app_event(
            10,
            "1999-05-02T08:01:00Z",
            "ESE97",
            177,
            &[
                "MSExchangeDX ((276))",
                "d:\\exchsrvr\\DXADATA\\XDIR.EDB",
                "DisplayName_index",
            ],
        );
        index.level = evtdoctor_parsers::Level::Error;
        events.push(index);
    }
    if with_damage {
        events.push(app_event(
            11,
            "1999-05-02T08:01:30Z",
            "ESE97",
            474,
            &["-1018"],
        ));
    }
    events.push(app_event(
        12,
        "1999-05-02T08:02:00Z",
        "MSExchangeDX",
        249,
        &["-1201"],
    ));
    events
}

fn analyze_case(events: &[Event]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("my-rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("q224991.toml"), example_rule()).unwrap();
    let mut args = vec![
        "analyze".to_owned(),
        "--json".into(),
        "--rules".into(),
        "my-rules".into(),
    ];
    args.extend(
        write_xml(dir.path(), events)
            .iter()
            .map(|p| p.display().to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(dir.path(), &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_example_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("my-rules")).unwrap();
    std::fs::write(dir.path().join("my-rules/q224991.toml"), example_rule()).unwrap();
    let out = run_in(dir.path(), &["rules", "check", "my-rules/q224991.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(DOC.contains(stdout.trim_end()), "{stdout}");
    assert_eq!(
        stdout,
        "my-rules/q224991.toml: ok (rule dxa-index-after-nt-sp4)\n"
    );
}

#[test]
fn the_example_finds_the_kb_case_as_documented() {
    let report = analyze_case(&dxa_case(true, false));
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f["id"], "dxa-index-after-nt-sp4");
    assert_eq!(f["kb"], "Q224991");
    assert_eq!(f["confidence"]["level"], "high");
    let cited: Vec<(String, u64)> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["event_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cited,
        [("MSExchangeDX".to_owned(), 249), ("ESE97".to_owned(), 177)]
    );
    assert_eq!(f["differentials"][0]["verdict"], "rejected");
    assert_eq!(f["remediation"].as_array().unwrap().len(), 2);
    assert!(f["remediation"][1]
        .as_str()
        .unwrap()
        .starts_with("Defragment it offline"));
}

#[test]
fn without_the_index_event_or_with_damage_the_example_is_medium() {
    let report = analyze_case(&dxa_case(false, false));
    let f = &report["findings"][0];
    assert_eq!(f["confidence"]["level"], "medium");
    let lowered = "lowered: no ESE97 177 (corrupt index) precedes the failure";
    assert!(DOC.contains(lowered));
    assert!(f["confidence"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == lowered));

    let report = analyze_case(&dxa_case(true, true));
    let f = &report["findings"][0];
    assert_eq!(f["confidence"]["level"], "medium");
    assert_eq!(f["differentials"][0]["verdict"], "not_excluded");
    assert!(f["remediation"][1]
        .as_str()
        .unwrap()
        .starts_with("Restore XDIR.EDB from backup"));
}

#[test]
fn a_mistake_is_reported_where_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("my-rules")).unwrap();
    let broken = example_rule().replace("event_id = [249]", "event_id = [\"249\"]");
    std::fs::write(dir.path().join("my-rules/q224991.toml"), broken).unwrap();
    let out = run_in(dir.path(), &["rules", "check", "my-rules/q224991.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("my-rules/q224991.toml:12:13: "),
        "{stdout}"
    );
    assert!(
        DOC.contains(stdout.trim_end()),
        "docs/rules.md shows another error: {stdout}"
    );

    // analyze refuses the pack with the same message.
    let out = run_in(dir.path(), &["analyze", ".", "--rules", "my-rules"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("my-rules/q224991.toml:12:13: "));
}

#[test]
fn mistakes_in_a_rule_over_facts_are_reported_where_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = include_str!("../rules/kms-5085-after-windows-2000-sp4.toml");
    // The first one is in the weigh of the failure's placement.
    let misspelt = "is {failure.first_after}\"";
    let broken = shipped.replacen(misspelt, "is {failure.frist}\"", 1)
        + "\n[[fact]]\nname = \"boots\"\ntype = \"boot_records\"\n";
    std::fs::write(dir.path().join("kms.toml"), broken).unwrap();
    let out = run_in(dir.path(), &["rules", "check", "kms.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("kms.toml:385:8: unknown fact type \"boot_records\""));
    assert!(lines[1].starts_with("kms.toml:158:52: placeholder {failure.frist}: "));
    for line in lines {
        assert!(
            DOC.contains(line),
            "docs/rules.md shows another error: {line}"
        );
    }
}

#[test]
fn rules_list_and_show_include_a_directory_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q224991.toml"), example_rule()).unwrap();
    let rules = dir.path().to_str().unwrap();
    let list = evtdoctor(&["rules", "list", "--rules", rules]);
    let text = String::from_utf8(list.stdout).unwrap();
    for id in [
        "kms-5085-after-windows-2000",
        "ese-page-checksum-damage",
        "dxa-index-after-nt-sp4",
    ] {
        assert!(text.contains(id), "{id} not listed: {text}");
    }
    let show = evtdoctor(&["rules", "show", "dxa-index-after-nt-sp4", "--rules", rules]);
    assert_eq!(show.status.code(), Some(0));
    assert!(String::from_utf8(show.stdout)
        .unwrap()
        .ends_with(example_rule()));
    let missing = evtdoctor(&["rules", "show", "no-such-rule"]);
    assert_eq!(missing.status.code(), Some(2));
}
