//! libesedb-python (`pyesedb`, PyPI `libesedb-python`) as a further oracle for `db defrag`:
//! every clean corpus database and its defragmented copy give the same rows, long values read
//! in full (tests/oracles/ese_pyesedb.py). Skipped, saying so, where pyesedb is not installed.

use crate::common;

use super::ese_seek::defragmented;
use common::{corpus_files, oracle_stdout, Need};
use std::path::Path;

/// Left out: pyesedb takes a minute on its 130,000 rows, and reads the original but not the
/// copy's table `large` (32 KiB pages; "invalid tagged data type offset"), which was so before
/// the branch-key work too: an open question (docs/defrag.md, "Limits").
const LEFT_OUT: &str = "dissect_large_32k.edb";

fn rows(file: &Path) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracles/ese_pyesedb.py");
    oracle_stdout("python3", &[script, file.to_str().unwrap()])
}

#[test]
fn pyesedb_reads_the_same_rows_and_long_values_before_and_after_defrag() {
    common::needs!(Need::Corpus, Need::Python("pyesedb"));
    let dir = tempfile::tempdir().unwrap();
    let mut files = corpus_files("ese", &[".edb", ".dat", ".mdb"]);
    files.extend(corpus_files("incoming", &[".dat"]));
    files.retain(|f| !f.ends_with(LEFT_OUT));
    let (mut total_rows, mut long_values) = (0, 0);
    for file in &files {
        let new = defragmented(dir.path(), file);
        let (before, after) = (rows(file), rows(&new));
        assert_eq!(before, after, "{}", file.display());
        total_rows += before.lines().count();
        long_values += before.matches("{\"long\": \"").count();
    }
    assert_eq!(files.len(), 11);
    // Rows of the 11 files, and the single-valued long values among them read in full.
    assert_eq!((total_rows, long_values), (15_806, 9));
}
