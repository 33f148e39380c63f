//! `evtdoctor db defrag` on the real ESE corpus: every clean database is rebuilt, and the new
//! file is read back by the project's own checker and by two independent readers
//! (dissect.database for every row, esedbexport for every table it can export); and the
//! rebuild fed by the walk of `db check`'s judgement writes what one walking the source
//! itself writes.

use crate::common;
use common::Need;

use common::ese::{as_exchange_2000, dissect, json_lines};
use common::{corpus_files, evtdoctor, oracle};
use evtdoctor::defrag::rebuild::{self, RebuildOptions, RebuildSummary};
use evtdoctor::defrag::source_feed::{self, SourceFeed};
use evtdoctor_parsers::ese::{check, Catalog, Database};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DIRTY: &str = "bits_qmgr_win11_dirty_16k.db";
/// The corpus file the 2018 libesedb cannot read (dissect.database still checks it).
const ESEDB_UNREADABLE: &str = "dissect_large_32k.edb";

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The clean corpus, and the SRUM databases of today's Windows in `incoming/`.
fn clean_files() -> Vec<PathBuf> {
    corpus_files("ese", &[".edb", ".dat", ".mdb", ".db"])
        .into_iter()
        .chain(corpus_files("incoming", &[".dat"]))
        .filter(|f| name(f) != DIRTY)
        .collect()
}

/// A writable copy of a corpus file in `dir`.
fn copy_into(dir: &Path, file: &Path) -> PathBuf {
    let copy = dir.join(name(file));
    std::fs::write(&copy, std::fs::read(file).unwrap()).unwrap();
    copy
}

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn run_json(args: &[&str]) -> (Option<i32>, Json, String) {
    let out = evtdoctor(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
    (out.status.code(), json, stderr)
}

/// Records as dissect.database reads them; catalog records lose their root page, which the
/// rebuild moves on purpose (tables, indexes and long-value trees: types 1, 3, 4).
fn rows_without_roots(file: &Path) -> Vec<Json> {
    let mut rows = json_lines(&dissect(&["dump-live", file.to_str().unwrap()]));
    for row in &mut rows {
        let catalog = row["table"] == "MSysObjects" || row["table"] == "MSysObjectsShadow";
        let kind = row["record"]["Type"].as_i64().unwrap_or(0);
        if catalog && [1, 3, 4].contains(&kind) {
            row["record"]["ColtypOrPgnoFDP"] = Json::Null;
        }
    }
    rows
}

/// esedbexport's user tables (name -> exported text) and whether it logged long values it
/// could not retrieve (a known gap of that build: it depends on where a value sits in its
/// tree, so those tables are compared by row count and left to dissect.database).
fn esedbexport(file: &Path, dir: &Path) -> (BTreeMap<String, String>, bool) {
    std::fs::create_dir_all(dir).unwrap();
    let target = dir.join(format!("{}.export", name(file)));
    let out = oracle(
        "esedbexport",
        &["-v", "-t", target.to_str().unwrap(), file.to_str().unwrap()],
    );
    assert!(out.status.success(), "esedbexport {}", file.display());
    let gaps = String::from_utf8_lossy(&out.stderr).contains("unable to retrieve long value");
    let export = dir.join(format!("{}.export.export", name(file)));
    let tables = std::fs::read_dir(&export)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !name(p).starts_with("MSys"))
        .map(|p| (name(&p), std::fs::read_to_string(&p).unwrap()))
        .collect();
    (tables, gaps)
}

#[test]
fn defrag_keeps_every_row_and_shrinks_every_clean_corpus_database() {
    common::needs!(
        Need::Corpus,
        Need::Program("esedbexport"),
        Need::Python("dissect.database")
    );
    let mut rows_compared = 0;
    for original in clean_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = copy_into(dir.path(), &original);
        let path = file.to_str().unwrap();
        let (code, report, stderr) = run_json(&["db", "defrag", path, "--json"]);
        assert_eq!(code, Some(0), "{}: {stderr}", name(&original));

        let backup = PathBuf::from(report["backup"].as_str().unwrap());
        assert_eq!(backup, dir.path().join(format!("{}.bak", name(&original))));
        assert_eq!(sha256(&backup), sha256(&original));
        assert_eq!(report["sha256_before"], sha256(&original));
        assert_eq!(report["sha256_after"], sha256(&file));
        let (before, after) = (
            original.metadata().unwrap().len(),
            file.metadata().unwrap().len(),
        );
        assert_eq!(report["size_after"], after);
        assert_eq!(report["size_before"], before);
        assert!(after < before, "{}: {after} !< {before}", name(&original));
        assert!(!dir
            .path()
            .join(format!("{}.defrag-tmp", name(&original)))
            .exists());

        let (_, old_header, _) = run_json(&["db", "header", original.to_str().unwrap(), "--json"]);
        let (_, new_header, _) = run_json(&["db", "header", path, "--json"]);
        let (old_header, new_header) = (&old_header["header"], &new_header["header"]);
        assert_eq!(new_header["state"], 3, "clean shutdown");
        for field in [
            "format_version",
            "format_revision",
            "page_size",
            "os_version",
        ] {
            assert_eq!(new_header[field], old_header[field], "{field}");
        }
        assert_ne!(new_header["db_signature"], old_header["db_signature"]);

        let check = evtdoctor(&["db", "check", path, "--jsonl"]);
        assert_eq!(check.status.code(), Some(0), "{}", name(&original));
        assert!(check.stdout.is_empty());

        let old_rows = rows_without_roots(&original);
        assert_eq!(rows_without_roots(&file), old_rows, "{}", name(&original));
        rows_compared += old_rows.len();

        if name(&original) != ESEDB_UNREADABLE {
            let (old_tables, old_gaps) = esedbexport(&original, &dir.path().join("old"));
            let (new_tables, _) = esedbexport(&file, &dir.path().join("new"));
            assert_eq!(
                old_tables.keys().collect::<Vec<_>>(),
                new_tables.keys().collect::<Vec<_>>()
            );
            for (table, old_text) in &old_tables {
                let new_text = &new_tables[table];
                if old_gaps {
                    assert_eq!(
                        old_text.lines().count(),
                        new_text.lines().count(),
                        "{table}"
                    );
                } else {
                    assert_eq!(old_text, new_text, "{}: {table}", name(&original));
                }
            }
        }
    }
    // Every record of the ten clean files of ese/ (140,919) and the two SRUM files of incoming/
    // (1,019 + 4,034), catalogs included, read by dissect.database.
    assert_eq!(rows_compared, 145_972);
}

#[test]
fn a_dirty_database_is_refused_and_left_alone() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let original = corpus_files("ese", &[".db"])
        .into_iter()
        .find(|f| name(f) == DIRTY)
        .unwrap();
    let file = copy_into(dir.path(), &original);
    let out = evtdoctor(&["db", "defrag", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Dirty Shutdown"), "{stderr}");
    assert!(stderr.contains("eseutil /r"), "{stderr}");
    assert_eq!(sha256(&file), sha256(&original));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp, no backup"
    );
}

#[test]
fn preserve_temp_keeps_the_original_and_stamps_the_target_os() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let original = &clean_files()[0];
    let file = copy_into(dir.path(), original);
    let temp = dir.path().join("new.edb");
    let out = evtdoctor(&[
        "db",
        "defrag",
        file.to_str().unwrap(),
        "--temp",
        temp.to_str().unwrap(),
        "--preserve-temp",
        "--target-os",
        "5.0.2195 SP 4",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256(&file), sha256(original));
    let header =
        String::from_utf8(evtdoctor(&["db", "header", temp.to_str().unwrap()]).stdout).unwrap();
    assert!(header.contains("OS Version: (5.0.2195 SP 4)"), "{header}");
    assert!(header.contains("State: Clean Shutdown"), "{header}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no backup"
    );
}

/// A temp path that exists already (another file, or the database itself) is refused, and
/// the file there is left as it was.
#[test]
fn an_existing_temp_path_is_refused_and_kept() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let original = &clean_files()[0];
    let file = copy_into(dir.path(), original);
    let other = dir.path().join("taken.edb");
    std::fs::write(&other, b"somebody's file").unwrap();
    for temp in [&other, &file] {
        let out = evtdoctor(&[
            "db",
            "defrag",
            file.to_str().unwrap(),
            "--temp",
            temp.to_str().unwrap(),
            "--no-backup",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot create: File exists"), "{stderr}");
    }
    assert_eq!(std::fs::read(&other).unwrap(), b"somebody's file");
    assert_eq!(sha256(&file), sha256(original));
}

/// Without a backup nothing needs the hashes; the report says they were not computed.
#[test]
fn no_backup_no_hashes() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let file = copy_into(dir.path(), &clean_files()[0]);
    let args = [
        "db",
        "defrag",
        file.to_str().unwrap(),
        "--no-backup",
        "--json",
    ];
    let (code, report, stderr) = run_json(&args);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["sha256_before"], Json::Null);
    assert_eq!(report["sha256_after"], Json::Null);
    assert_eq!(report["backup"], Json::Null);
    common::assert_valid_json("schemas/defrag.schema.json", &report.to_string());
}

#[test]
fn the_backup_never_overwrites_a_file() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let original = &clean_files()[0];
    let file = copy_into(dir.path(), original);
    let taken = dir.path().join(format!("{}.bak", name(original)));
    std::fs::write(&taken, b"an older backup").unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let (code, report, _) = run_json(&["db", "defrag", file.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(std::fs::read(&taken).unwrap(), b"an older backup");
    let second = dir.path().join(format!("{}.1.bak", name(original)));
    assert_eq!(report["backup"], second.to_str().unwrap());
    assert_eq!(sha256(&second), sha256(original));

    let args = ["db", "defrag", file.to_str().unwrap(), "--backup-dir"];
    let (code, report, _) = run_json(&[&args[..], &[backups.to_str().unwrap(), "--json"]].concat());
    assert_eq!(code, Some(0));
    let third = backups.join(format!("{}.bak", name(original)));
    assert_eq!(report["backup"], third.to_str().unwrap());
    assert_eq!(report["sha256_before"], sha256(&third));
}

#[test]
fn bad_target_os_is_a_usage_error() {
    let out = evtdoctor(&["db", "defrag", "x.edb", "--target-os", "Windows 2000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5.0.2195 SP 4"));
}

/// The Exchange 2000 format (revision 9, XOR checksums, Windows 2000 SP3 in the header), as the
/// KMS database has it: the rebuilt file keeps the format, takes the new OS version, and reads
/// the same in every reader.
#[test]
fn exchange_2000_format_is_rebuilt_with_xor_checksums_and_the_target_os() {
    common::needs!(
        Need::Corpus,
        Need::Program("esedbexport"),
        Need::Python("dissect.database")
    );
    let dir = tempfile::tempdir().unwrap();
    let source = corpus_files("ese", &[".edb"])
        .into_iter()
        .find(|f| name(f) == "dissect_text_longvalues_4k.edb")
        .unwrap();
    let original = dir.path().join("kmsmdb-original.edb");
    std::fs::write(&original, as_exchange_2000(std::fs::read(&source).unwrap())).unwrap();
    let file = copy_into(dir.path(), &original);
    let args = [
        "db",
        "defrag",
        file.to_str().unwrap(),
        "--no-backup",
        "--json",
    ];
    let (code, report, stderr) = run_json(&[&args[..], &["--target-os", "5.0.2195 SP 4"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["os_version_before"], "(5.0.2195 SP 3)");
    assert_eq!(report["os_version_after"], "(5.0.2195 SP 4)");
    assert_eq!(report["backup"], Json::Null);

    let header =
        String::from_utf8(evtdoctor(&["db", "header", file.to_str().unwrap()]).stdout).unwrap();
    assert!(header.contains("Format ulVersion: 0x620,9"), "{header}");
    assert!(header.contains("OS Version: (5.0.2195 SP 4)"), "{header}");
    let bytes = std::fs::read(&file).unwrap();
    for number in 1..(bytes.len() / 4096 - 1) as u32 {
        let at = (number as usize + 1) * 4096;
        let page = &bytes[at..at + 4096];
        if page.iter().any(|&b| b != 0) {
            assert_eq!(
                &page[4..8],
                &number.to_le_bytes(),
                "page {number}: XOR format"
            );
            assert_eq!(page[37] & 0x20, 0, "page {number}: no ECC flag");
        }
    }
    let check = evtdoctor(&["db", "check", file.to_str().unwrap(), "--jsonl"]);
    assert_eq!(check.status.code(), Some(0));
    assert_eq!(rows_without_roots(&file), rows_without_roots(&original));
    let (old_tables, _) = esedbexport(&original, &dir.path().join("old"));
    let (new_tables, _) = esedbexport(&file, &dir.path().join("new"));
    assert_eq!(old_tables.len(), new_tables.len());
}

/// Indexes over Unicode text are reported with their values' ASCII-ness (counted here again
/// from dissect.database's reading of the rows), and non-ASCII keys draw a warning when the
/// OS version changes.
#[test]
fn indexes_over_unicode_text_are_reported() {
    common::needs!(Need::Corpus, Need::Python("dissect.database"));
    let dir = tempfile::tempdir().unwrap();
    let find = |wanted: &str| {
        corpus_files("ese", &[".edb", ".mdb"])
            .into_iter()
            .find(|f| name(f) == wanted)
            .unwrap()
    };
    let ual = copy_into(dir.path(), &find("ual_current_dissect_4k.mdb"));
    let (code, report, stderr) = run_json(&["db", "defrag", ual.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0));
    assert!(!stderr.contains("warning"), "{stderr}");
    let indexes = report["unicode_indexes"].as_array().unwrap();
    let names: Vec<&str> = indexes
        .iter()
        .map(|i| i["index"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Username_RoleGuid_TenantId_index",
            "Address_Username_RoleGuid_TenantId_index",
            "Address_index"
        ]
    );
    let texts = |table: &str, column: &str| -> Vec<String> {
        let rows = json_lines(&dissect(&["dump-live", ual.to_str().unwrap(), table]));
        rows.iter()
            .filter_map(|r| r["record"][column].as_str().map(str::to_owned))
            .collect()
    };
    let users = texts("CLIENTS", "AuthenticatedUserName");
    assert_eq!(indexes[0]["values"], users.len());
    assert_eq!(
        indexes[0]["columns"],
        serde_json::json!(["AuthenticatedUserName"])
    );
    assert!(users.iter().all(|u| u.is_ascii()) && indexes[0]["non_ascii"] == 0);
    assert_eq!(indexes[2]["values"], texts("DNS", "Address").len());

    let index_db = copy_into(dir.path(), &find("dissect_index_4k.edb"));
    let args = [
        "db",
        "defrag",
        index_db.to_str().unwrap(),
        "--no-backup",
        "--json",
    ];
    let (code, report, stderr) = run_json(&[&args[..], &["--target-os", "5.0.2195 SP 4"]].concat());
    assert_eq!(code, Some(0));
    let unicode = &report["unicode_indexes"][0];
    assert_eq!(
        (unicode["index"].as_str(), unicode["non_ascii"].as_u64()),
        (Some("IxUnicode"), Some(1))
    );
    assert!(
        stderr.contains("warning: index IxUnicode of table index sorts 1 non-ASCII"),
        "{stderr}"
    );
}

/// Rebuilds `db` into pages (by number), taking trees from `feed`.
fn rebuilt_pages(db: &Database<Vec<u8>>, feed: &mut SourceFeed) -> (Pages, RebuildSummary) {
    let options = RebuildOptions {
        os_version: db.header.os_version,
        random: 7,
        now: [0; 8],
    };
    let mut pages = Pages::new();
    let mut sink = |number: u32, bytes: Vec<u8>| {
        assert!(pages.insert(number, bytes).is_none(), "page {number} twice");
        Ok(())
    };
    let rebuilt = rebuild::rebuild(db, &options, &mut sink, &mut |_| {}, &mut |_| Ok(()), feed);
    (pages, rebuilt.unwrap().summary)
}

type Pages = BTreeMap<u32, Vec<u8>>;

/// `db defrag` copies the source's trees from the walk of `db check`'s judgement
/// (src/defrag/source_feed.rs) instead of reading them again: the pages are byte for byte
/// those of a rebuild that walks every tree itself, every user tree comes from the judgement,
/// and the deleted entries left behind are counted the same.
fn fed_rebuild_matches_walked_rebuild(file: &Path) -> usize {
    let bytes = std::fs::read(file).unwrap();
    let db = Database::open(bytes.clone()).unwrap();
    let judged = Database::open(bytes).unwrap();
    let (walked_pages, walked) = rebuilt_pages(&db, &mut SourceFeed::none());
    let order = rebuild::copy_order(&Catalog::read(&db).0);
    let (mut tap, mut feed) = source_feed::feed(order.clone());
    let (fed_pages, fed) = std::thread::scope(|scope| {
        let judgement = scope.spawn(|| check::verdict_tapped(&judged, &mut tap).map(drop));
        let rebuilt = rebuilt_pages(&db, &mut feed);
        drop(feed);
        judgement.join().unwrap().unwrap();
        rebuilt
    });
    assert_eq!(walked.trees_from_check, 0);
    assert_eq!(fed.trees_from_check as usize, order.len(), "{}", name(file));
    assert_eq!(
        RebuildSummary {
            trees_from_check: 0,
            ..fed
        },
        walked,
        "{}",
        name(file)
    );
    assert!(fed_pages == walked_pages, "{}: pages differ", name(file));
    order.len()
}

#[test]
fn the_sample_rebuilt_from_the_judgements_walk_is_the_same_file() {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/kmsmdb.edb");
    // The trees of the sample's user tables (records, long values, indexes).
    assert_eq!(fed_rebuild_matches_walked_rebuild(&sample), 13);
}

#[test]
fn every_clean_corpus_database_rebuilt_from_the_judgements_walk_is_the_same_file() {
    common::needs!(Need::Corpus);
    let trees: usize = clean_files()
        .iter()
        .map(|file| fed_rebuild_matches_walked_rebuild(file))
        .sum();
    assert!(trees > 100, "{trees} user trees");
}
