//! The dissect.database oracle for ESE tests (tests/oracles/ese_dissect.py).

use super::oracle_stdout;
use evtdoctor_parsers::ese::checksum::{set_page_checksums, uses_ecc};
use evtdoctor_parsers::ese::header::set_header_checksum;
use evtdoctor_parsers::le::{le_u32, set_le_u32};
use serde_json::Value as Json;

/// What the oracle script prints for `args` (`dump FILE [TABLE]` or `header FILE`).
pub fn dissect(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracles/ese_dissect.py");
    let mut all = vec![script];
    all.extend_from_slice(args);
    oracle_stdout("python3", &all)
}

pub fn json_lines(text: &str) -> Vec<Json> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Page size of the databases [`as_exchange_2000`] rewrites.
const PAGE: usize = 4096;

pub fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    set_le_u32(bytes, at, value).expect("a field inside the bytes");
}

/// The corpus file as ESE98 would have written it.
pub fn as_exchange_2000(mut bytes: Vec<u8>) -> Vec<u8> {
    for header in [0, PAGE] {
        let page = &mut bytes[header..header + PAGE];
        put_u32(page, 232, 9); // format revision 9: before ECC checksums
        for (at, value) in [(216, 5), (220, 0), (224, 2195), (228, 3)] {
            put_u32(page, at, value); // Windows 2000 SP3
        }
        set_header_checksum(page);
    }
    let pages = bytes.len() / PAGE - 2;
    for number in 1..=pages as u32 {
        let at = (number as usize + 1) * PAGE;
        let page = &mut bytes[at..at + PAGE];
        if page.iter().all(|&b| b == 0) {
            continue;
        }
        let flags = le_u32(page, 36).unwrap() & !0x2000;
        put_u32(page, 36, flags);
        put_u32(page, 4, number);
        set_page_checksums(page, number);
        assert!(!uses_ecc(page));
    }
    bytes
}

/// Where the key of line `line` of page `number` lies in a 4 KiB file `db defrag` wrote
/// (whole keys, no node flags in the tags): the place to plant a branch-key defect.
pub fn written_key(file: &[u8], number: u32, line: usize) -> std::ops::Range<usize> {
    let page = (number as usize + 1) * PAGE;
    let tag = page + PAGE - (line + 1) * 4;
    let offset = usize::from(u16::from_le_bytes([file[tag + 2], file[tag + 3]]) & 0x1fff);
    let node = page + 40 + offset;
    let key_len = usize::from(u16::from_le_bytes([file[node], file[node + 1]]) & 0x1fff);
    node + 2..node + 2 + key_len
}
