//! The defrag's own verification (src/defrag/verify.rs) on a real database and the copy `db
//! defrag` rebuilt from it: it counts every record dissect.database reads, and one changed
//! byte in a record, an index entry or a long-value chunk of the new file (checksums kept
//! valid, so `db check` passes) makes it fail, naming the tree and the entry.

use crate::common;
use common::Need;

use common::ese::{dissect, json_lines, written_key};
use common::{corpus_dir, evtdoctor};
use evtdoctor::defrag::entry_stream;
use evtdoctor::defrag::page_writer::WrittenPages;
use evtdoctor::defrag::verify::{
    check_clean, compare, compare_finished, read_catalog, verify, Compared, FinishedTree,
    StreamedTree, TreeNews, Verified,
};
use evtdoctor_parsers::ese::btree::{self, TreeCursor, TreeEvent};
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::{check, Catalog, Database, FileHeader};
use std::ops::ControlFlow;
use std::path::Path;

const SRUM: &str = "srum_win10_2004_goese_4k.dat";
const BIG_TABLE: &str = "{5C8CF1C7-7257-4F13-B223-970EF5939312}";
/// Long values in many chunks.
const MULTIVALUE: &str = "dissect_multivalue_4k.edb";

/// The corpus file and the file `db defrag` rebuilt from it, as bytes.
fn old_and_new(name: &str, dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let old = std::fs::read(corpus_dir().join("ese").join(name)).unwrap();
    let source = dir.join(name);
    std::fs::write(&source, &old).unwrap();
    let target = dir.join(format!("{name}.rebuilt"));
    let out = evtdoctor(&[
        "db",
        "defrag",
        source.to_str().unwrap(),
        "--temp",
        target.to_str().unwrap(),
        "--preserve-temp",
        "--no-backup",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (old, std::fs::read(&target).unwrap())
}

/// The verification of `new` against `old` both ways a defrag runs it, which must agree:
/// [`verify_written`] and [`verify_leaf_by_leaf`].
fn verify_bytes(old: &[u8], new: &[u8]) -> Result<Verified, String> {
    let written = verify_written(old, new);
    assert_eq!(verify_leaf_by_leaf(old, new), written);
    written
}

/// The verification of a file written in full: every tree compared, then `db check`.
fn verify_written(old: &[u8], new: &[u8]) -> Result<Verified, String> {
    let old = Database::open(old.to_vec()).unwrap();
    let new = Database::open(new.to_vec()).unwrap();
    verify(&old, &read_catalog(&old).unwrap(), &new).map_err(|e| e.to_string())
}

/// The verification as a defrag runs it on the trees it copies from the hand-over of `db
/// check`'s walk: each user tree's leaves read along their links as they are written (here
/// all are) and compared with the source's live entries as that walk hands them over, then
/// its branch pages walked once it is complete; then the rest of the comparison (the
/// catalog) and `db check` of the file.
fn verify_leaf_by_leaf(old: &[u8], new: &[u8]) -> Result<Verified, String> {
    let mut compared = compared_leaf_by_leaf(old, new)?;
    let old = Database::open(old.to_vec()).unwrap();
    let new = Database::open(new.to_vec()).unwrap();
    let old_catalog = read_catalog(&old).unwrap();
    let verified = compare(&old, &old_catalog, &new, &mut compared).map_err(|e| e.to_string())?;
    check_clean(&new, &compared).map_err(|e| e.to_string())?;
    Ok(verified)
}

/// The user trees compared leaf by leaf, as they are written.
fn compared_leaf_by_leaf(old: &[u8], new: &[u8]) -> Result<Compared, String> {
    let old_db = Database::open(old.to_vec()).unwrap();
    let header = FileHeader::parse(new).unwrap();
    let growing = Database::being_written(new.to_vec(), header, new.len() as u64);
    let written = WrittenPages::complete();
    let compared = std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::channel();
        for tree in user_trees(old, new, new.len() as u64) {
            let (mut handing_over, entries) = entry_stream::channel(entry_stream::FOLLOWED_BATCHES);
            let (old_db, root) = (&old_db, tree.old_root);
            scope.spawn(move || {
                let mut cursor = TreeCursor::new(old_db, root);
                while let Some(Ok(entry)) = cursor.next_live_entry() {
                    if !handing_over.push(&entry.key, entry.data) {
                        return;
                    }
                }
                handing_over.finish();
            });
            let leaves = StreamedTree {
                label: tree.label.clone(),
                old_root: tree.old_root,
                first_leaf: first_leaf(new, tree.new_root),
                entries,
            };
            sender.send(TreeNews::Leaves(leaves)).unwrap();
            sender.send(TreeNews::Written(tree)).unwrap();
        }
        drop(sender);
        compare_finished(&old_db, &growing, &written, receiver)
    });
    compared.map_err(|e| e.to_string())
}

/// The first leaf of the tree at `root`: down its first lines.
fn first_leaf(file: &[u8], root: u32) -> u32 {
    let db = Database::open(file.to_vec()).unwrap();
    let mut number = root;
    loop {
        let page = db.read_page(number).page.unwrap();
        if page.header.is(evtdoctor_parsers::ese::page::FLAG_LEAF) {
            return number;
        }
        number = u32::from_le_bytes(page.node(1).unwrap().data[..4].try_into().unwrap());
    }
}

/// Flips the last data byte of the `nth` entry (1-based) of the tree at `root` and puts the
/// page's checksum right again.
fn flip_entry_byte(bytes: &mut [u8], root: u32, nth: usize) {
    let db = Database::open(bytes.to_vec()).unwrap();
    let page_size = db.page_size();
    let mut seen = 0;
    let mut target = None;
    btree::walk(&db, root, |event| {
        if let TreeEvent::Entry { page, data, .. } = event {
            seen += 1;
            if seen == nth {
                let at = data.as_ptr() as usize - page.bytes().as_ptr() as usize;
                target = Some((page.number, at + data.len() - 1));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    let (number, at) = target.expect("the tree has that many entries");
    let start = (number as usize + 1) * page_size;
    let page = &mut bytes[start..start + page_size];
    page[at] ^= 0x01;
    set_page_checksums(page, number);
}

fn catalog(bytes: &[u8]) -> Catalog {
    Catalog::read(&Database::open(bytes.to_vec()).unwrap()).0
}

fn check_findings(bytes: &[u8]) -> usize {
    let mut findings = 0;
    check::check(
        &Database::open(bytes.to_vec()).unwrap(),
        |_| findings += 1,
        |_| {},
    );
    findings
}

#[test]
fn every_record_index_entry_and_long_value_chunk_is_compared() {
    common::needs!(Need::Corpus, Need::Python("dissect.database"));
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(SRUM, dir.path());
    let oracle_rows = json_lines(&dissect(&[
        "dump",
        corpus_dir().join("ese").join(SRUM).to_str().unwrap(),
    ]))
    .len();
    let verified = verify_bytes(&old, &new).unwrap();
    // Every table's records, the catalog and its shadow (241 each) included.
    assert_eq!(oracle_rows, 7807);
    assert_eq!(
        verified,
        Verified {
            tables: 14,
            records: 7807,
            long_value_chunks: 0,
            index_entries: 13682,
        }
    );
    let (old, new) = old_and_new(MULTIVALUE, dir.path());
    let verified = verify_bytes(&old, &new).unwrap();
    assert_eq!((verified.records, verified.long_value_chunks), (211, 36));
}

#[test]
fn one_changed_byte_in_a_record_fails_and_names_the_entry() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(SRUM, dir.path());
    let root = catalog(&new).table(BIG_TABLE).unwrap().root_page;
    flip_entry_byte(&mut new, root, 1000);
    assert_eq!(
        check_findings(&new),
        0,
        "db check cannot see a changed value"
    );
    let error = verify_bytes(&old, &new).unwrap_err();
    assert!(
        error.starts_with(&format!("table {BIG_TABLE}: records: entry 1000 (key ")),
        "{error}"
    );
}

#[test]
fn one_changed_byte_in_an_index_entry_fails_and_names_the_index() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(SRUM, dir.path());
    let table = catalog(&new).table(BIG_TABLE).unwrap().clone();
    let index = table
        .indexes
        .iter()
        .find(|i| i.root_page != table.root_page)
        .unwrap();
    flip_entry_byte(&mut new, index.root_page, 7);
    assert_eq!(check_findings(&new), 0);
    let error = verify_bytes(&old, &new).unwrap_err();
    let expected = format!("table {BIG_TABLE}, index {}: entry 7 (key ", index.name);
    assert!(error.starts_with(&expected), "{error}");
}

#[test]
fn one_changed_byte_in_a_long_value_fails() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(MULTIVALUE, dir.path());
    let (name, tree) = catalog(&new)
        .tables
        .iter()
        .find_map(|t| Some((t.name.clone(), t.long_values?)))
        .unwrap();
    flip_entry_byte(&mut new, tree.root_page, 20);
    assert_eq!(check_findings(&new), 0);
    let error = verify_bytes(&old, &new).unwrap_err();
    let expected = format!("table {name}: long values: entry 20 (key ");
    assert!(error.starts_with(&expected), "{error}");
}

/// The comparison that runs while the rebuild writes: `new` read as a file being written,
/// each tree announced with how much of the file is written.
fn compared_while_written(
    old: &[u8],
    new: &[u8],
    trees: Vec<FinishedTree>,
) -> Result<Compared, String> {
    let old = Database::open(old.to_vec()).unwrap();
    let header = FileHeader::parse(new).unwrap();
    let growing = Database::being_written(new.to_vec(), header, new.len() as u64);
    let (sender, receiver) = std::sync::mpsc::channel();
    for tree in trees {
        sender.send(TreeNews::Written(tree)).unwrap();
    }
    drop(sender);
    let written = WrittenPages::complete();
    compare_finished(&old, &growing, &written, receiver).map_err(|e| e.to_string())
}

/// The rest of the comparison once the file is complete, taking `compared` as done.
fn compare_rest(old: &[u8], new: &[u8], compared: &mut Compared) -> Result<Verified, String> {
    let old = Database::open(old.to_vec()).unwrap();
    let new = Database::open(new.to_vec()).unwrap();
    compare(&old, &read_catalog(&old).unwrap(), &new, compared).map_err(|e| e.to_string())
}

/// Every user tree of a file, as the rebuild announces them (long values, records, indexes).
fn user_trees(old: &[u8], new: &[u8], written: u64) -> Vec<FinishedTree> {
    let (old, new) = (catalog(old), catalog(new));
    let mut trees = Vec::new();
    for (old_table, new_table) in old.tables.iter().zip(&new.tables).skip(2) {
        let mut add = |label: String, old_root, new_root| {
            trees.push(FinishedTree {
                label,
                old_root,
                new_root,
                written,
            })
        };
        let name = &old_table.name;
        if let (Some(old_lv), Some(new_lv)) = (old_table.long_values, new_table.long_values) {
            let label = format!("table {name}: long values");
            add(label, old_lv.root_page, new_lv.root_page);
        }
        add(
            format!("table {name}: records"),
            old_table.root_page,
            new_table.root_page,
        );
        for (old_index, new_index) in old_table.indexes.iter().zip(&new_table.indexes) {
            if old_index.root_page != old_table.root_page {
                let label = format!("table {name}, index {}", old_index.name);
                add(label, old_index.root_page, new_index.root_page);
            }
        }
    }
    trees
}

#[test]
fn trees_compared_while_written_count_the_same_and_catch_a_changed_byte() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(SRUM, dir.path());
    let trees = user_trees(&old, &new, new.len() as u64);
    assert_eq!(
        catalog(&old).tables[..2]
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["MSysObjects", "MSysObjectsShadow"]
    );
    // 12 user tables and their 18 secondary indexes.
    assert_eq!(trees.len(), 12 + 18);
    let mut compared = compared_while_written(&old, &new, trees.clone()).unwrap();
    let verified = compare_rest(&old, &new, &mut compared).unwrap();
    assert_eq!(verified, verify_bytes(&old, &new).unwrap());
    assert_eq!((verified.records, verified.index_entries), (7807, 13682));
    // Leaf by leaf, every tree is proven so (none is compared again in full).
    let leaf_by_leaf = compared_leaf_by_leaf(&old, &new).unwrap();
    assert_eq!(leaf_by_leaf.proven_leaf_by_leaf(), 30);

    let root = catalog(&new).table(BIG_TABLE).unwrap().root_page;
    flip_entry_byte(&mut new, root, 1000);
    let error = compared_while_written(&old, &new, trees).unwrap_err();
    assert!(
        error.starts_with(&format!("table {BIG_TABLE}: records: entry 1000 (key ")),
        "{error}"
    );
    // A tree compared before the change is not compared again: the rest of the comparison
    // trusts it (which is why the rebuild never writes a page twice).
    assert_eq!(compare_rest(&old, &new, &mut compared).unwrap(), verified);
}

/// A tree announced before its pages are written (here: the file said to be written up to
/// the tree's root only) fails, rather than being read from stale or missing pages.
#[test]
fn a_tree_read_before_it_is_written_fails() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(SRUM, dir.path());
    let root = catalog(&new).table(BIG_TABLE).unwrap().root_page;
    let page_size = Database::open(new.clone()).unwrap().page_size() as u64;
    let trees: Vec<FinishedTree> = user_trees(&old, &new, (u64::from(root) + 2) * page_size)
        .into_iter()
        .filter(|t| t.new_root == root)
        .collect();
    assert_eq!(trees.len(), 1);
    let error = compared_while_written(&old, &new, trees).unwrap_err();
    assert!(
        error.starts_with(&format!("table {BIG_TABLE}: records: new file: offset ")),
        "{error}"
    );
    assert!(error.contains("beyond the file"), "{error}");
}

/// A branch key that hides entries from ESE's seek (the compared entries all still match, and
/// every page's checksum is right): the verification fails on `db check`'s seek rules, which
/// the comparison's walk of the new tree applies.
#[test]
fn a_branch_key_that_hides_entries_from_seeks_fails() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, mut new) = old_and_new(SRUM, dir.path());
    let root = catalog(&new).table(BIG_TABLE).unwrap().root_page;
    let db = Database::open(new.clone()).unwrap();
    let mut parent_of_leaves = None;
    btree::walk(&db, root, |event| {
        if let TreeEvent::Page { page, depth } = event {
            if depth > 0 && page.header.is(evtdoctor_parsers::ese::page::FLAG_PARENT) {
                parent_of_leaves = Some(page.number);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    let number = parent_of_leaves.expect("a three-level table");
    let last = written_key(&new, number, 1).end - 1;
    new[last] += 1;
    let start = (number as usize + 1) * 4096;
    set_page_checksums(&mut new[start..start + 4096], number);
    // Leaf by leaf, the walk of the branch pages cannot prove that tree: it is compared in
    // full, which fails as the comparison of the written file does.
    let error = compared_leaf_by_leaf(&old, &new).unwrap_err();
    assert!(
        error.contains("unreachable by a seek from the root"),
        "{error}"
    );
    let error = verify_bytes(&old, &new).unwrap_err();
    let table = format!("table {BIG_TABLE}: records: new file: offset ");
    assert!(error.starts_with(&table), "{error}");
    assert!(
        error.contains("unreachable by a seek from the root"),
        "{error}"
    );
}

/// The comparison walks each new tree once for itself and for `db check` (which then does not
/// walk it again): faults only the check sees, planted in a leaf of the new file with its
/// checksum put right, still fail the verification, named as `db check` names them.
#[test]
fn faults_only_db_check_sees_fail_the_verification_through_the_comparisons_walk() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(SRUM, dir.path());
    assert_eq!(verify_bytes(&old, &new).map(|_| ()), Ok(()));
    let root = catalog(&new).table(BIG_TABLE).unwrap().root_page;
    let db = Database::open(new.clone()).unwrap();
    let mut leaves = Vec::new();
    btree::walk(&db, root, |event| {
        if let TreeEvent::Page { page, .. } = event {
            if page.header.is(evtdoctor_parsers::ese::page::FLAG_LEAF) {
                leaves.push(page.number);
            }
        }
        ControlFlow::Continue(())
    });
    let leaf = leaves[1];
    let planted = |at: usize, value: u32| {
        let mut bytes = new.clone();
        let start = (leaf as usize + 1) * 4096;
        bytes[start + at..start + at + 4].copy_from_slice(&value.to_le_bytes());
        set_page_checksums(&mut bytes[start..start + 4096], leaf);
        verify_bytes(&old, &bytes).unwrap_err()
    };
    // The previous-page link (offset 16) names another page.
    let error = planted(16, leaves[0] + 100_000);
    assert!(
        error.starts_with("the new file fails db check (1 problem(s); first: offset "),
        "{error}"
    );
    assert!(
        error.ends_with(&format!(
            "page {leaf} (table {BIG_TABLE}: records): leaf links broken: page {} says next is \
             {leaf}, this page says previous is {})",
            leaves[0],
            leaves[0] + 100_000
        )),
        "{error}"
    );
    // The owner (offset 24) is another object.
    let error = planted(24, 7777);
    assert!(
        error.contains(&format!(
            "page {leaf} ({BIG_TABLE}): belongs to object 7777, expected "
        )),
        "{error}"
    );
}

/// Leaf by leaf, the new tree must hold exactly what the check's walk handed over: one entry
/// fewer or more in the hand-over, or one that differs, fails naming where.
#[test]
fn leaf_by_leaf_the_new_tree_must_hold_exactly_the_hand_over() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(SRUM, dir.path());
    let label = format!("table {BIG_TABLE}: records");
    let tree = user_trees(&old, &new, new.len() as u64)
        .into_iter()
        .find(|t| t.label == label)
        .unwrap();
    let old_db = Database::open(old.clone()).unwrap();
    let mut cursor = TreeCursor::new(&old_db, tree.old_root);
    let mut entries = Vec::new();
    while let Some(entry) = cursor.next_live_entry() {
        let entry = entry.unwrap();
        entries.push((entry.key.to_vec(), entry.data.to_vec()));
    }
    let header = FileHeader::parse(&new).unwrap();
    let written = WrittenPages::complete();
    let compare_with = |handed: Vec<(Vec<u8>, Vec<u8>)>| {
        let growing = Database::being_written(new.clone(), header.clone(), new.len() as u64);
        let (mut handing_over, stream) = entry_stream::channel(entry_stream::FOLLOWED_BATCHES);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for (key, data) in &handed {
                    if !handing_over.push(key, data) {
                        return;
                    }
                }
                handing_over.finish();
            });
            let (sender, receiver) = std::sync::mpsc::channel();
            let leaves = StreamedTree {
                label: label.clone(),
                old_root: tree.old_root,
                first_leaf: first_leaf(&new, tree.new_root),
                entries: stream,
            };
            sender.send(TreeNews::Leaves(leaves)).unwrap();
            sender.send(TreeNews::Written(tree.clone())).unwrap();
            drop(sender);
            compare_finished(&old_db, &growing, &written, receiver)
                .map(|compared| compared.proven_leaf_by_leaf())
                .map_err(|e| e.to_string())
        })
    };
    let count = entries.len();
    assert_eq!(count, 4038);
    assert_eq!(compare_with(entries.clone()), Ok(1));
    let fewer = entries[..count - 1].to_vec();
    let more_than = format!(
        "{label}: the new tree has more than the old {} entries",
        count - 1
    );
    assert_eq!(compare_with(fewer), Err(more_than));
    let mut more = entries.clone();
    more.push((vec![0xff; 8], Vec::new()));
    let ends_after = format!("{label}: the new tree ends after {count} entries");
    assert_eq!(compare_with(more), Err(ends_after));
    let mut changed = entries;
    changed[99].1.push(0);
    let error = compare_with(changed).unwrap_err();
    assert!(
        error.starts_with(&format!("{label}: entry 100 (key ")),
        "{error}"
    );
}
