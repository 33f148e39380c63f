//! `analyze --fix-db`: after the diagnosis, `fix` runs with the OS version the logs show
//! running, only when the KMS finding is active, and only after a confirmation.

use crate::common;
use common::Need;

use common::{corpus_files, evtdoctor};
use std::path::{Path, PathBuf};

fn sample(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    dir.to_str().unwrap().to_owned()
}

fn database_copy(dir: &Path) -> PathBuf {
    let source = corpus_files("ese", &[".edb"])
        .into_iter()
        .find(|f| f.file_name().unwrap() == "dissect_basic_4k.edb")
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("kmsmdb.edb");
    std::fs::write(&file, std::fs::read(source).unwrap()).unwrap();
    file
}

#[test]
fn fix_db_offers_the_fix_for_the_running_os_only_when_kms_fails() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = database_copy(dir.path());
    let before = std::fs::read(&file).unwrap();

    let out = evtdoctor(&[
        "analyze",
        &sample("kms-sp4"),
        "--fix-db",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "the finding stays active");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the logs show (5.0.2195 SP 4) running; fixing"),
        "{stderr}"
    );
    // No terminal to confirm on: refused, nothing changed.
    assert!(stderr.contains("refused: not confirmed"), "{stderr}");

    let out = evtdoctor(&[
        "analyze",
        &sample("healthy"),
        "--fix-db",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not fixing") && stderr.contains("no active KMS finding"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// With --yes the fix runs without a terminal, and its result is a member of the one JSON
/// document on stdout (nothing else is printed there).
#[test]
fn fix_db_result_is_part_of_the_json_report() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = database_copy(dir.path());
    let out = evtdoctor(&[
        "analyze",
        &sample("kms-sp4"),
        "--json",
        "--fix-db",
        file.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(1), "the finding stays active");
    let text = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    let fix = &report["fix"];
    assert_eq!(fix["status"], "fixed", "{fix}");
    assert_eq!(fix["target_os"], "(5.0.2195 SP 4)");
    let defrag = &fix["defrag"];
    assert_eq!(
        defrag["size_after"],
        std::fs::metadata(&file).unwrap().len()
    );
    assert!(defrag["backup"].is_string());
    let procedure = fix["procedure"].as_str().unwrap();
    assert!(procedure.contains("net stop MSExchangeKMS"), "{procedure}");
    assert!(procedure.contains(defrag["sha256_after"].as_str().unwrap()));
    common::assert_valid_report(&text);

    // The Markdown report carries it as a section.
    let copy = database_copy(&dir.path().join("again"));
    let out = evtdoctor(&[
        "analyze",
        &sample("kms-sp4"),
        "--format",
        "markdown",
        "--fix-db",
        copy.to_str().unwrap(),
        "--yes",
    ]);
    let markdown = String::from_utf8(out.stdout).unwrap();
    assert!(markdown.contains("## Database fix"), "{markdown}");
    assert!(markdown.contains("net start MSExchangeKMS"));
}
