//! The dissect.database oracle for ESE tests (tests/oracles/ese_dissect.py).

use super::oracle;
use serde_json::Value as Json;

/// What the oracle script prints for `args` (`dump FILE [TABLE]` or `header FILE`).
pub fn dissect(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracles/ese_dissect.py");
    let mut all = vec![script];
    all.extend_from_slice(args);
    let out = oracle("python3", &all);
    assert!(
        out.status.success(),
        "dissect oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json_lines(text: &str) -> Vec<Json> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
