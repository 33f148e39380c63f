//! libesedb-python (`pyesedb`, PyPI `libesedb-python`) as a further oracle for `db defrag`:
//! every clean corpus database and its defragmented copy give the same rows, long values read
//! in full (tests/oracles/ese_pyesedb.py). Skipped, saying so, where pyesedb is not installed.

use crate::common;

use super::ese_seek::defragmented;
use common::{corpus_files, oracle_stdout, Need};
use std::path::Path;

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
    let (mut total_rows, mut long_values, mut unreadable) = (0, 0, Vec::new());
    for file in &files {
        let new = defragmented(dir.path(), file);
        let (before, after) = (rows(file), rows(&new));
        assert_eq!(before, after, "{}", file.display());
        total_rows += before.lines().count();
        long_values += before.matches("{\"long\": \"").count();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        unreadable.extend(
            before
                .lines()
                .filter(|line| line.contains("\"unreadable\": "))
                .map(|line| (name.clone(), line.to_owned())),
        );
    }
    assert_eq!(files.len(), 12);
    // Rows of the 12 files (unreadable records included), and the single-valued long values
    // among them read in full.
    assert_eq!((total_rows, long_values), (145_972, 9));
    // pyesedb reads 1 of the 16 records of dissect_large_32k.edb's table `large`, in the
    // original as in the copy (the records are byte for byte the same): the other 15 hold 4,096
    // tagged columns each, so their first tagged-column offset is 0x4000, and libesedb masks
    // that first offset with 0x3fff where ESE's 32 KiB pages use 0x7fff (docs/defrag.md).
    assert_eq!(unreadable.len(), 15, "{unreadable:?}");
    for (name, line) in &unreadable {
        assert_eq!(name, "dissect_large_32k.edb");
        assert!(line.starts_with("{\"table\": \"large\""), "{line}");
        assert!(
            line.contains("invalid tagged data type offset value exceeds next"),
            "{line}"
        );
    }
}
