//! Proof that a rebuilt file holds what its source held: the project's own `db check` finds
//! nothing in the new file, the catalog describes the same objects (root pages aside), and
//! every tree (each table, its long values and secondary indexes, the catalog itself) holds the
//! same live entries in the same key order, key and data compared byte for byte.
//!
//! The rebuild copies entries as stored, so byte equality is the exact test: a decoded
//! comparison could only be weaker, and no hash is needed because both trees are read in
//! lockstep. Catalog records differ in one field, the root page of the object they describe;
//! that field is patched in the old record (from the two catalogs) before comparing. The check
//! and the comparison run on two threads; each holds one page per tree level.

use super::catalog_rows::RootMap;
use evtdoctor_parsers::ese::btree::TreeCursor;
use evtdoctor_parsers::ese::catalog::{CATALOG_OBJECT_ID, SHADOW_OBJECT_ID};
use evtdoctor_parsers::ese::check;
use evtdoctor_parsers::ese::{Catalog, Database, PageSource, TableDef};
use evtdoctor_parsers::Problem;
use std::borrow::Cow;

/// Key bytes shown when entries differ.
const KEY_SHOWN: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub tables: usize,
    /// Records of every table, the catalog's included.
    pub records: u64,
    pub long_value_chunks: u64,
    pub index_entries: u64,
}

/// `old_catalog`: the old file's catalog as [`read_catalog`] gives it (read once by the
/// caller, who needs it too).
pub fn verify<A: PageSource + Sync, B: PageSource + Sync>(
    old: &Database<A>,
    old_catalog: &Catalog,
    new: &Database<B>,
) -> Result<Verified, String> {
    std::thread::scope(|scope| {
        let checked = scope.spawn(|| check_clean(new));
        let compared = compare(old, old_catalog, new);
        checked
            .join()
            .map_err(|_| "db check of the new file stopped unexpectedly".to_owned())??;
        compared
    })
}

fn check_clean<S: PageSource>(db: &Database<S>) -> Result<(), String> {
    let mut count = 0usize;
    let mut first: Option<Problem> = None;
    check::check(
        db,
        |finding| {
            count += 1;
            first.get_or_insert(finding.problem);
        },
        |_| {},
    );
    match first {
        Some(problem) => Err(format!(
            "the new file fails db check ({count} findings; first: {problem})"
        )),
        None => Ok(()),
    }
}

fn compare<A: PageSource, B: PageSource>(
    old: &Database<A>,
    old_catalog: &Catalog,
    new: &Database<B>,
) -> Result<Verified, String> {
    let new_catalog = read_catalog(new)?;
    if without_roots(old_catalog) != without_roots(&new_catalog) {
        return Err("the new catalog describes other objects than the old one".into());
    }
    let roots = root_map(old_catalog, &new_catalog);
    let mut verified = Verified::default();
    for (old_table, new_table) in old_catalog.tables.iter().zip(&new_catalog.tables) {
        verified.tables += 1;
        let trees = Trees { old, new };
        let patch = is_catalog(old_table).then_some(&roots);
        verified.records += trees
            .same_entries(old_table.root_page, new_table.root_page, patch)
            .map_err(|m| format!("table {}: records: {m}", old_table.name))?;
        if let (Some(old_lv), Some(new_lv)) = (old_table.long_values, new_table.long_values) {
            verified.long_value_chunks += trees
                .same_entries(old_lv.root_page, new_lv.root_page, None)
                .map_err(|m| format!("table {}: long values: {m}", old_table.name))?;
        }
        let index_pairs = old_table.indexes.iter().zip(&new_table.indexes);
        for (old_index, new_index) in
            index_pairs.filter(|(i, _)| i.root_page != old_table.root_page)
        {
            verified.index_entries += trees
                .same_entries(old_index.root_page, new_index.root_page, None)
                .map_err(|m| format!("table {}, index {}: {m}", old_table.name, old_index.name))?;
        }
    }
    Ok(verified)
}

/// The catalog tables' records hold root pages, which move.
fn is_catalog(table: &TableDef) -> bool {
    table.object_id == CATALOG_OBJECT_ID || table.object_id == SHADOW_OBJECT_ID
}

/// The catalog, or its first problem.
pub fn read_catalog<S: PageSource>(db: &Database<S>) -> Result<Catalog, String> {
    let (catalog, problems) = Catalog::read(db);
    match problems.first() {
        Some(problem) => Err(format!("catalog: {problem}")),
        None => Ok(catalog),
    }
}

fn without_roots(catalog: &Catalog) -> Vec<TableDef> {
    let mut tables = catalog.tables.clone();
    for table in &mut tables {
        table.root_page = 0;
        if let Some(tree) = &mut table.long_values {
            tree.root_page = 0;
        }
        for index in &mut table.indexes {
            index.root_page = 0;
        }
    }
    tables
}

/// Old and new root of every tree, by object id, from two catalogs that match but for roots.
fn root_map(old: &Catalog, new: &Catalog) -> RootMap {
    let mut roots = RootMap::default();
    for (old_table, new_table) in old.tables.iter().zip(&new.tables) {
        roots.insert(
            old_table.object_id,
            old_table.root_page,
            new_table.root_page,
        );
        if let (Some(old_lv), Some(new_lv)) = (old_table.long_values, new_table.long_values) {
            roots.insert(old_lv.object_id, old_lv.root_page, new_lv.root_page);
        }
        for (old_index, new_index) in old_table.indexes.iter().zip(&new_table.indexes) {
            roots.insert(
                old_index.object_id,
                old_index.root_page,
                new_index.root_page,
            );
        }
    }
    roots
}

/// The old and the new file.
struct Trees<'a, A, B> {
    old: &'a Database<A>,
    new: &'a Database<B>,
}

impl<A: PageSource, B: PageSource> Trees<'_, A, B> {
    /// Reads both trees' live entries in key order and compares them byte for byte, the old
    /// record patched with `roots` first when given; returns how many there are.
    fn same_entries(
        &self,
        old_root: u32,
        new_root: u32,
        roots: Option<&RootMap>,
    ) -> Result<u64, String> {
        let mut old_tree = TreeCursor::new(self.old, old_root);
        let mut new_tree = TreeCursor::new(self.new, new_root);
        let mut count = 0u64;
        loop {
            let old_entry = old_tree
                .next_live_entry()
                .transpose()
                .map_err(|p| format!("old file: {p}"))?;
            let new_entry = new_tree
                .next_live_entry()
                .transpose()
                .map_err(|p| format!("new file: {p}"))?;
            let (old_entry, new_entry) = match (old_entry, new_entry) {
                (None, None) => return Ok(count),
                (Some(old), Some(new)) => (old, new),
                (Some(_), None) => return Err(format!("the new tree ends after {count} entries")),
                (None, Some(_)) => {
                    return Err(format!(
                        "the new tree has more than the old {count} entries"
                    ))
                }
            };
            let expected = match roots {
                Some(roots) => Cow::Owned(roots.patch(old_entry.data)?),
                None => Cow::Borrowed(old_entry.data),
            };
            if old_entry.key != new_entry.key || *expected != *new_entry.data {
                let key = &old_entry.key;
                let shown = &key[..key.len().min(KEY_SHOWN)];
                return Err(format!(
                    "entry {} (key {}) differs",
                    count + 1,
                    hex::encode(shown)
                ));
            }
            count += 1;
        }
    }
}
