//! The Exchange 2000 (ESE98) page format, end to end. No such database is redistributable, so a
//! real corpus database is rewritten the way ESE98 would have stored it: format revision 9,
//! XOR page checksums with the page number beside them (no ECC), a Windows 2000 SP3 header.

use crate::common;
use common::Need;

use common::ese::{as_exchange_2000, put_u32};
use common::{corpus_dir, evtdoctor};
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use serde_json::Value as Json;
use std::path::Path;

const SOURCE: &str = "dissect_multivalue_4k.edb";
const PAGE: usize = 4096;

fn run_json_lines(args: &[&str]) -> (Option<i32>, Vec<Json>) {
    let out = evtdoctor(args);
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), lines)
}

fn write(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("kmsmdb.edb");
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn exchange_2000_format_reads_checks_and_dumps_the_same() {
    common::needs!(Need::Corpus);
    let source = corpus_dir().join("ese").join(SOURCE);
    let original = std::fs::read(&source).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &as_exchange_2000(original.clone()));

    let out = evtdoctor(&["db", "header", &file]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Format ulVersion: 0x620,9"), "{text}");
    assert!(text.contains("OS Version: (5.0.2195 SP 3)"), "{text}");

    let (code, findings) = run_json_lines(&["db", "check", &file, "--jsonl"]);
    assert_eq!((code, findings.len()), (Some(0), 0), "{findings:?}");

    let (_, expected) = run_json_lines(&["db", "dump", source.to_str().unwrap(), "--jsonl"]);
    let (code, records) = run_json_lines(&["db", "dump", &file, "--jsonl"]);
    assert_eq!(code, Some(0));
    assert_eq!(records.len(), 211);
    assert_eq!(records, expected);
}

#[test]
fn exchange_2000_format_damage_is_detected_but_not_correctable() {
    common::needs!(Need::Corpus);
    let original = std::fs::read(corpus_dir().join("ese").join(SOURCE)).unwrap();
    let mut bytes = as_exchange_2000(original);
    let page = 4u32; // the catalog root
    let at = (page as usize + 1) * PAGE;
    bytes[at + 2000] ^= 0x01;
    // And a page whose number word names another page (a misdirected write).
    let other = 5u32;
    let other_at = (other as usize + 1) * PAGE;
    put_u32(&mut bytes[other_at..other_at + PAGE], 4, 77);
    set_page_checksums(&mut bytes[other_at..other_at + PAGE], 77);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &bytes);

    let (code, findings) = run_json_lines(&["db", "check", &file, "--jsonl"]);
    assert_eq!(code, Some(1));
    let kind_of = |p: u32| {
        findings
            .iter()
            .filter(|f| f["page"] == p)
            .map(|f| f["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(kind_of(page), vec!["checksum"], "XOR checksums only detect");
    assert_eq!(kind_of(other), vec!["page-number"]);
    let message = findings.iter().find(|f| f["page"] == other).unwrap()["message"].clone();
    assert!(message.as_str().unwrap().contains("says it is page 77"));
}
