//! Can ESE itself find every entry? Every clean corpus database (the ESE-written originals, as
//! a control, and their defragmented copies) is searched the way ESE descends through branch
//! pages (node.cxx's internal-page seek, see docs/defrag.md): for each live entry of each tree
//! the catalog names, a descent from the root by its key (followed by its data in a
//! non-unique tree) must land on the leaf that holds it. This seek is written here on its own,
//! apart from the checker's range rules (seek_rules.rs), so the two prove each other. The
//! space flags and the root's external header of each tree must also survive the rebuild.

use crate::common;
use common::Need;

use common::ese::written_key;
use common::{corpus_files, evtdoctor};
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::page::{Page, FLAG_INDEX, FLAG_LEAF, FLAG_LONG_VALUE, FLAG_NON_UNIQUE};
use evtdoctor_parsers::ese::space::{RootHeader, SpaceHeader};
use evtdoctor_parsers::ese::{Catalog, Database};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

const KIND: u32 = FLAG_INDEX | FLAG_LONG_VALUE | FLAG_NON_UNIQUE;

fn clean_files() -> Vec<PathBuf> {
    let mut files = corpus_files("ese", &[".edb", ".dat", ".mdb"]);
    files.extend(corpus_files("incoming", &[".dat"]));
    files
}

/// Every tree the catalog names, by a name stable across the rebuild, with its root.
fn trees(db: &Database<Vec<u8>>) -> BTreeMap<String, u32> {
    let (catalog, problems) = Catalog::read(db);
    assert!(problems.is_empty(), "{problems:?}");
    let mut trees = BTreeMap::new();
    for table in &catalog.tables {
        trees.insert(table.name.clone(), table.root_page);
        for index in table
            .indexes
            .iter()
            .filter(|i| i.root_page != table.root_page)
        {
            trees.insert(
                format!("{} index {}", table.name, index.name),
                index.root_page,
            );
        }
        if let Some(tree) = table.long_values {
            trees.insert(format!("{} long values", table.name), tree.root_page);
        }
    }
    trees
}

/// A page as the seek needs it: a leaf, or a branch page's lines (key, child).
enum Seen {
    Leaf,
    Branch(Vec<(Vec<u8>, u32)>),
}

/// The leaf a seek for `sought` reaches: in each branch page, the first line whose key sorts
/// after `sought` (a line whose key equals it sends the seek to the next line), else the
/// last line. Pages are decoded once per file.
fn seek(db: &Database<Vec<u8>>, pages: &mut HashMap<u32, Seen>, root: u32, sought: &[u8]) -> u32 {
    let mut number = root;
    loop {
        let seen = pages.entry(number).or_insert_with(|| {
            let page = db.read_page(number).page.expect("readable page");
            if page.header.is(FLAG_LEAF) {
                return Seen::Leaf;
            }
            let prefix = page.external_header();
            let lines = (1..page.tag_count())
                .map(|i| {
                    let node = page.node(i).unwrap();
                    let child = u32::from_le_bytes(node.data[..4].try_into().unwrap());
                    (node.key(prefix), child)
                })
                .collect();
            Seen::Branch(lines)
        });
        let Seen::Branch(lines) = seen else {
            return number;
        };
        // Keys before the last line sort ascending; the last line takes the rest.
        let at = lines[..lines.len() - 1].partition_point(|(key, _)| key.as_slice() <= sought);
        number = lines[at].1;
    }
}

/// Live entries of every tree, and how many a seek does not reach.
fn unreachable(file: &Path) -> (u64, u64) {
    let db = Database::open(std::fs::read(file).unwrap()).unwrap();
    let mut pages = HashMap::new();
    let (mut entries, mut lost) = (0, 0);
    for (name, root) in trees(&db) {
        let root_page = db.read_page(root).page.unwrap();
        let non_unique = root_page.header.is(FLAG_NON_UNIQUE);
        btree::walk(&db, root, |event| {
            if let TreeEvent::Entry {
                page,
                key,
                data,
                flags,
            } = event
            {
                if flags & evtdoctor_parsers::ese::page::NODE_DELETED == 0 {
                    let mut sought = key.into_owned();
                    if non_unique {
                        sought.extend_from_slice(data);
                    }
                    entries += 1;
                    if seek(&db, &mut pages, root, &sought) != page.number {
                        lost += 1;
                        eprintln!(
                            "{}: {name}: entry on page {} not found",
                            file.display(),
                            page.number
                        );
                    }
                }
            }
            ControlFlow::Continue(())
        });
    }
    (entries, lost)
}

/// Per tree: the kind flags of the root and of its space-tree pages, the space header's
/// non-unique flag, and the root's cached auto-increment maximum.
fn space_facts(file: &Path) -> BTreeMap<String, (u32, Vec<u32>, bool, Option<u64>)> {
    let db = Database::open(std::fs::read(file).unwrap()).unwrap();
    trees(&db)
        .into_iter()
        .map(|(name, root)| {
            let page = db.read_page(root).page.unwrap();
            let header = SpaceHeader::parse(page.external_header()).unwrap();
            let space_pages = if header.multiple_extents() {
                [header.space_tree, header.space_tree + 1]
                    .iter()
                    .map(|&n| db.read_page(n).page.unwrap().header.flags & KIND)
                    .collect()
            } else {
                Vec::new()
            };
            let auto_increment = RootHeader::parse(page.external_header()).auto_increment;
            let facts = (
                page.header.flags & KIND,
                space_pages,
                header.non_unique(),
                auto_increment,
            );
            (name, facts)
        })
        .collect()
}

/// `file` defragmented into `dir` (the original left as it is).
pub(crate) fn defragmented(dir: &Path, file: &Path) -> PathBuf {
    let copy = dir.join(file.file_name().unwrap());
    std::fs::copy(file, &copy).unwrap();
    let new = dir.join("new.db");
    let _ = std::fs::remove_file(&new);
    let out = evtdoctor(&[
        "db",
        "defrag",
        copy.to_str().unwrap(),
        "--temp",
        new.to_str().unwrap(),
        "--preserve-temp",
    ]);
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    new
}

#[test]
fn ese_finds_every_entry_before_and_after_defrag() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let (mut checked, mut auto_increments) = (0, Vec::new());
    for file in clean_files() {
        let (entries, lost) = unreachable(&file);
        assert_eq!(lost, 0, "{}: the ESE-written original", file.display());
        let new = defragmented(dir.path(), &file);
        let (new_entries, new_lost) = unreachable(&new);
        assert_eq!(new_lost, 0, "{}: the defragmented copy", file.display());
        // Deleted-flagged rows (the deleted tables' catalog rows) are left out of the copy.
        assert!(new_entries <= entries && new_entries > 0);
        let (old_facts, new_facts) = (space_facts(&file), space_facts(&new));
        assert_eq!(old_facts.len(), new_facts.len(), "{}", file.display());
        for ((name, old), (new_name, new)) in old_facts.iter().zip(&new_facts) {
            assert_eq!(name, new_name);
            if let Some(maximum) = old.3 {
                auto_increments.push(maximum);
            }
            assert_eq!(
                (old.0, old.2, old.3),
                (new.0, new.2, new.3),
                "{}: {name}",
                file.display()
            );
            // The copy's space-tree pages carry the tree's kind, as the original's do.
            assert!(
                new.1.iter().all(|&flags| flags == new.0),
                "{}: {name}",
                file.display()
            );
            if !old.1.is_empty() {
                assert_eq!(old.1, new.1, "{}: {name}", file.display());
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
    // Today's Windows SRUM keeps its tables' auto-increment maxima in the root (1722 for the
    // table at root 36 of the Windows 11 file): the copy must hand out no id twice.
    assert!(auto_increments.contains(&1722), "{auto_increments:?}");
}

const PAGE: usize = 4096;

/// The child page of branch line `line` of `page`.
fn child(page: &Page, line: usize) -> u32 {
    u32::from_le_bytes(page.node(line).unwrap().data[..4].try_into().unwrap())
}

/// Writes `file` with page `number` changed by `plant` (checksums made right again), then
/// expects `db check` to fail naming `named` with `message`, and `db defrag` to refuse it.
fn planted(
    dir: &Path,
    file: &[u8],
    number: u32,
    plant: impl FnOnce(&mut [u8]),
    named: u32,
    message: &str,
) {
    let mut bytes = file.to_vec();
    plant(&mut bytes);
    let page = (number as usize + 1) * PAGE;
    set_page_checksums(&mut bytes[page..page + PAGE], number);
    let path = dir.join(format!("planted-{number}.db"));
    std::fs::write(&path, &bytes).unwrap();
    let out = evtdoctor(&["db", "check", path.to_str().unwrap(), "--jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{message}");
    let findings = String::from_utf8_lossy(&out.stdout);
    let found = findings.lines().any(|line| {
        let finding: serde_json::Value = serde_json::from_str(line).unwrap();
        finding["page"] == named && finding["message"].as_str().unwrap().contains(message)
    });
    assert!(found, "page {named}: {message} not in\n{findings}");
    let out = evtdoctor(&["db", "defrag", path.to_str().unwrap(), "--no-backup"]);
    assert_eq!(out.status.code(), Some(1), "{message}: defrag must refuse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the database is untouched"
    );
}

/// Each rule ESE's seek needs, broken on purpose in a defragmented SRUM database (a table of
/// three levels and non-unique indexes): `db check` names the page, `db defrag` refuses.
#[test]
fn planted_seek_defects_are_found_and_refused() {
    common::needs!(Need::Corpus);
    let dir = tempfile::tempdir().unwrap();
    let source = clean_files()
        .into_iter()
        .find(|f| f.ends_with("srum_win10_2004_goese_4k.dat"))
        .unwrap();
    let new = defragmented(dir.path(), &source);
    let file = std::fs::read(&new).unwrap();
    let db = Database::open(file.clone()).unwrap();
    let read = |n: u32| db.read_page(n).page.unwrap();
    let mut deep_root = None;
    let mut non_unique_root = None;
    for root in trees(&db).into_values() {
        let page = read(root);
        if !page.header.is(FLAG_LEAF) && !read(child(&page, 1)).header.is(FLAG_LEAF) {
            deep_root = Some(root);
        }
        if page.header.is(FLAG_NON_UNIQUE) {
            non_unique_root = Some(root);
        }
    }
    let root = deep_root.expect("a tree of three levels");
    let branch = child(&read(root), 1);

    // The root's key for a branch page that is not that page's last key.
    let key = written_key(&file, root, 1);
    let last = key.end - 1;
    planted(
        dir.path(),
        &file,
        root,
        |f| f[last] = f[last].wrapping_add(1),
        branch,
        "is not the parent's key",
    );

    // A leaf separator that sorts after the right page's first key: its entries before it are
    // lost to seeks.
    let right_leaf = child(&read(branch), 2);
    let key = written_key(&file, branch, 1);
    let last = key.end - 1;
    planted(
        dir.path(),
        &file,
        branch,
        |f| f[last] = 0xff,
        right_leaf,
        "unreachable by a seek",
    );

    // A non-unique index whose pages lost the flag: its space header still has it.
    let root = non_unique_root.expect("a non-unique index");
    let flags = (root as usize + 1) * PAGE + 36;
    planted(
        dir.path(),
        &file,
        root,
        |f| f[flags + 1] &= !0x04,
        root,
        "space header has the non-unique flag",
    );
}
