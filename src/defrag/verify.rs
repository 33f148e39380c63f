//! Proof that a rebuilt file holds what its source held: the project's own `db check` finds
//! nothing in the new file, the catalog describes the same objects (root pages aside), and
//! every tree (each table, its long values and secondary indexes, the catalog itself) holds the
//! same live entries in the same key order, key and data compared byte for byte.
//!
//! The rebuild copies entries as stored, so byte equality is the exact test: a decoded
//! comparison could only be weaker, and no hash is needed because both trees are read in
//! lockstep. Catalog records differ in one field, the root page of the object they describe;
//! that field is patched in the old record (from the two catalogs) before comparing.
//!
//! During a defrag, each user table's trees are compared while the rebuild writes them
//! ([`compare_finished`], on a second core): a tree copied from the hand-over of `db check`'s
//! walk leaf by leaf as each leaf is written, against that hand-over (`leaf_stream.rs`), then
//! by its branch pages once complete (`branch_walk.rs` in parsers); any other once it is
//! written, against a walk of the source. What is left (the catalog, the check) runs once the
//! file is complete, and every tree the new catalog names must be one that was compared, at
//! the same old and new root. The rebuild writes each page once, so what was compared is what
//! the file holds.

use super::catalog_rows::{PatchError, RootMap};
use super::entry_stream::{self, EntrySender, EntryStream};
use super::leaf_stream;
use super::page_writer::WrittenPages;
use evtdoctor_parsers::ese::branch_walk;
use evtdoctor_parsers::ese::btree::TreeCursor;
use evtdoctor_parsers::ese::catalog::{CATALOG_OBJECT_ID, SHADOW_OBJECT_ID};
use evtdoctor_parsers::ese::check::{self, TreeWatch};
use evtdoctor_parsers::ese::{Catalog, Database, PageSource, TableDef};
use evtdoctor_parsers::Problem;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::mpsc::Receiver;

/// Key bytes shown when entries differ.
const KEY_SHOWN: usize = 32;

/// Why the new file is not proven to hold what the source held.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the new file fails db check ({0})")]
    CheckFails(check::Damage),
    #[error("catalog: {0}")]
    Catalog(Problem),
    #[error("the new catalog describes other objects than the old one")]
    OtherObjects,
    /// The tree `label` names differs between the files.
    #[error("{label}: {difference}")]
    Tree {
        label: String,
        difference: TreeDifference,
    },
}

/// How one tree of the new file differs from the source's.
#[derive(Debug, thiserror::Error)]
pub enum TreeDifference {
    #[error("old file: {0}")]
    OldUnreadable(Problem),
    #[error("new file: {0}")]
    NewUnreadable(Problem),
    #[error("the new tree ends after {0} entries")]
    Shorter(u64),
    #[error("the new tree has more than the old {0} entries")]
    Longer(u64),
    /// The rebuild stopped before it wrote what the comparison waits for (its own error says
    /// why).
    #[error("the rebuild stopped before the tree was written")]
    RebuildStopped,
    /// Entry `number` (counted from 1), shown by the start of its key in hex.
    #[error("entry {number} (key {key}) differs")]
    Entry { number: u64, key: String },
    #[error(transparent)]
    Catalog(#[from] PatchError),
}

impl VerifyError {
    /// Whether the comparison stopped only because the rebuild did.
    pub fn is_rebuild_stopped(&self) -> bool {
        matches!(
            self,
            VerifyError::Tree {
                difference: TreeDifference::RebuildStopped,
                ..
            }
        )
    }
}

impl TreeDifference {
    /// Entry `number` (counted from 1) differs; `key`: the old entry's.
    pub fn entry(number: u64, key: &[u8]) -> TreeDifference {
        TreeDifference::Entry {
            number,
            key: hex::encode(&key[..key.len().min(KEY_SHOWN)]),
        }
    }

    fn of(self, label: String) -> VerifyError {
        VerifyError::Tree {
            label,
            difference: self,
        }
    }
}

/// What the rebuild tells as it goes (rebuild.rs).
pub enum TreeNews {
    /// A tree copied from the hand-over has its first leaf with the writer.
    Leaves(StreamedTree),
    /// A tree is written in full.
    Written(FinishedTree),
    /// The rebuild is about to wait for the hand-over (it sends the pages it gathered out).
    Waiting,
}

/// A tree the rebuild copies from the hand-over of `db check`'s walk, told once its first
/// leaf goes to the writer: each leaf is read as soon as it is written, and compared with
/// `entries`, the hand-over as the rebuild is done with it; the source is not read again.
pub struct StreamedTree {
    pub label: String,
    pub old_root: u32,
    pub first_leaf: u32,
    pub entries: EntryStream,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub tables: usize,
    /// Records of every table, the catalog's included.
    pub records: u64,
    pub long_value_chunks: u64,
    pub index_entries: u64,
}

/// A tree the rebuild has written in full; `written`: the new file's size so far (pages below
/// it that belong to trees still to come may not be written yet).
#[derive(Debug, Clone)]
pub struct FinishedTree {
    /// What it is ("table T: records"), for messages.
    pub label: String,
    pub old_root: u32,
    pub new_root: u32,
    pub written: u64,
}

/// Which tree of a table, for messages.
#[derive(Debug, Clone, Copy)]
pub enum TreeRole<'a> {
    Records,
    LongValues,
    Index(&'a str),
}

pub fn tree_label(table: &str, role: TreeRole<'_>) -> String {
    match role {
        TreeRole::Records => format!("table {table}: records"),
        TreeRole::LongValues => format!("table {table}: long values"),
        TreeRole::Index(index) => format!("table {table}, index {index}"),
    }
}

/// Trees compared: live entries, by old and new root; and the walk of each new tree, which
/// made `db check`'s checks of it on the way (so that check need not walk it again).
#[derive(Debug, Default)]
pub struct Compared {
    entries: HashMap<(u32, u32), u64>,
    walks: Vec<TreeWatch>,
    /// Trees proven leaf by leaf as they were written (the others were compared in full).
    leaf_by_leaf: usize,
}

impl Compared {
    /// How many trees were proven leaf by leaf as they were written.
    pub fn proven_leaf_by_leaf(&self) -> usize {
        self.leaf_by_leaf
    }

    /// Compares the trees at `roots` (and keeps the walk of the new one) unless compared
    /// already: their live entries.
    fn tree<A: PageSource, B: PageSource + Sync>(
        &mut self,
        trees: &Trees<'_, A, B>,
        label: &str,
        (old_root, new_root): (u32, u32),
        patch: Option<&RootMap>,
    ) -> Result<u64, VerifyError> {
        if let Some(&count) = self.entries.get(&(old_root, new_root)) {
            if patch.is_none() {
                return Ok(count);
            }
        }
        let mut walk = TreeWatch::new(trees.new, label.to_owned(), new_root);
        let count = trees
            .same_entries(old_root, new_root, patch, &mut walk)
            .map_err(|d| d.of(label.to_owned()))?;
        self.entries.insert((old_root, new_root), count);
        self.walks.push(walk.finish());
        Ok(count)
    }

    /// Takes a tree whose leaves were compared as they were written (`leaves`), once it is
    /// complete: its branch pages are walked down to those leaves, checking ESE's seek rules
    /// and what `db check`'s walk checks. When that cannot prove the tree (a rule broken,
    /// or too many leaves to keep), the tree is compared in full instead, which says what.
    fn streamed<A: PageSource, B: PageSource + Sync>(
        &mut self,
        trees: &Trees<'_, A, B>,
        label: &str,
        (old_root, new_root): (u32, u32),
        leaves: leaf_stream::ComparedLeaves,
    ) -> Result<(), VerifyError> {
        let watch =
            branch_walk::watch_from_leaves(trees.new, label.to_owned(), new_root, &leaves.chain);
        match watch {
            Some(watch) => {
                self.entries.insert((old_root, new_root), leaves.entries);
                self.walks.push(watch);
                self.leaf_by_leaf += 1;
            }
            None => {
                self.tree(trees, label, (old_root, new_root), None)?;
            }
        }
        Ok(())
    }
}

/// Compares each tree the rebuild writes with its source, on its own thread while the
/// rebuild goes on: a tree copied from the hand-over leaf by leaf as it is written (then its
/// branch pages once it is complete), any other once it is written; `new` is the file being
/// written, `written` which of its pages are on it. Stops at the first difference.
pub fn compare_finished<A: PageSource, B: PageSource + Sync>(
    old: &Database<A>,
    new: &Database<B>,
    written: &WrittenPages,
    news: Receiver<TreeNews>,
) -> Result<Compared, VerifyError> {
    let trees = Trees { old, new };
    let mut compared = Compared::default();
    let mut streamed = None;
    for told in news {
        match told {
            TreeNews::Leaves(tree) => {
                // Runs read ahead before may hold pages of this tree not written then.
                new.forget_read_ahead();
                let old_root = tree.old_root;
                let label = tree.label.clone();
                let leaves =
                    leaf_stream::compare_leaves(new, written, tree).map_err(|d| d.of(label))?;
                streamed = Some((old_root, leaves));
            }
            TreeNews::Written(tree) => {
                new.grow_to(tree.written);
                let roots = (tree.old_root, tree.new_root);
                match streamed.take().filter(|(root, _)| *root == tree.old_root) {
                    Some((_, leaves)) => compared.streamed(&trees, &tree.label, roots, leaves)?,
                    None => {
                        compared.tree(&trees, &tree.label, roots, None)?;
                    }
                }
            }
            TreeNews::Waiting => {}
        }
    }
    Ok(compared)
}

/// `old_catalog`: the old file's catalog as [`read_catalog`] gives it (read once by the
/// caller, who needs it too).
pub fn verify<A: PageSource, B: PageSource + Sync>(
    old: &Database<A>,
    old_catalog: &Catalog,
    new: &Database<B>,
) -> Result<Verified, VerifyError> {
    let mut compared = Compared::default();
    let verified = compare(old, old_catalog, new, &mut compared)?;
    check_clean(new, &compared)?;
    Ok(verified)
}

/// `db check` of the new file finds nothing in its structure (pages, space, trees, ESE's seek
/// rules); the trees the comparison walked (`compared`) it does not walk again. Its records
/// are not decoded again: `verify` compares every one of them, and every long-value chunk,
/// with the source's, which `db check` decoded.
pub fn check_clean<S: PageSource>(
    db: &Database<S>,
    compared: &Compared,
) -> Result<(), VerifyError> {
    check::structure_verdict(db, &compared.walks)
        .map(drop)
        .map_err(VerifyError::CheckFails)
}

/// The catalogs describe the same objects, and every tree the old one names holds the same
/// entries as the tree the new one names for it; `compared`: trees compared already, to
/// which those compared now are added.
pub fn compare<A: PageSource, B: PageSource + Sync>(
    old: &Database<A>,
    old_catalog: &Catalog,
    new: &Database<B>,
    compared: &mut Compared,
) -> Result<Verified, VerifyError> {
    let new_catalog = read_catalog(new)?;
    if without_roots(old_catalog) != without_roots(&new_catalog) {
        return Err(VerifyError::OtherObjects);
    }
    let roots = root_map(old_catalog, &new_catalog);
    let mut verified = Verified::default();
    let trees = Trees { old, new };
    for (old_table, new_table) in old_catalog.tables.iter().zip(&new_catalog.tables) {
        verified.tables += 1;
        let name = &old_table.name;
        let patch = is_catalog(old_table).then_some(&roots);
        let records = (old_table.root_page, new_table.root_page);
        let label = tree_label(name, TreeRole::Records);
        verified.records += compared.tree(&trees, &label, records, patch)?;
        if let (Some(old_lv), Some(new_lv)) = (old_table.long_values, new_table.long_values) {
            let label = tree_label(name, TreeRole::LongValues);
            let roots = (old_lv.root_page, new_lv.root_page);
            verified.long_value_chunks += compared.tree(&trees, &label, roots, None)?;
        }
        let index_pairs = old_table.indexes.iter().zip(&new_table.indexes);
        for (old_index, new_index) in
            index_pairs.filter(|(i, _)| i.root_page != old_table.root_page)
        {
            let label = tree_label(name, TreeRole::Index(&old_index.name));
            let roots = (old_index.root_page, new_index.root_page);
            verified.index_entries += compared.tree(&trees, &label, roots, None)?;
        }
    }
    Ok(verified)
}

/// The catalog tables' records hold root pages, which move.
fn is_catalog(table: &TableDef) -> bool {
    table.object_id == CATALOG_OBJECT_ID || table.object_id == SHADOW_OBJECT_ID
}

/// The catalog, or its first problem.
pub fn read_catalog<S: PageSource>(db: &Database<S>) -> Result<Catalog, VerifyError> {
    let (catalog, problems) = Catalog::read(db);
    match problems.first() {
        Some(problem) => Err(VerifyError::Catalog(problem.clone())),
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

impl<A: PageSource, B: PageSource + Sync> Trees<'_, A, B> {
    /// Reads both trees' live entries in key order and compares them byte for byte, the old
    /// record patched with `roots` first when given; returns how many there are. `walk` sees
    /// the walk of the new tree, which checks ESE's seek rules on the way. That walk, the
    /// dearer one (every page's checksum and the seek rules), has a thread of its own; this
    /// one walks the source and compares.
    fn same_entries(
        &self,
        old_root: u32,
        new_root: u32,
        roots: Option<&RootMap>,
        walk: &mut TreeWatch,
    ) -> Result<u64, TreeDifference> {
        std::thread::scope(|scope| {
            let (sender, mut new_tree) = entry_stream::channel(entry_stream::BATCHES);
            let new = self.new;
            scope.spawn(move || send_watched_entries(new, new_root, sender, walk));
            let mut old_tree = TreeCursor::new(self.old, old_root);
            let mut count = 0u64;
            loop {
                let old_entry = old_tree
                    .next_live_entry()
                    .transpose()
                    .map_err(TreeDifference::OldUnreadable)?;
                let new_entry = new_tree
                    .next_entry()
                    .transpose()
                    .map_err(TreeDifference::NewUnreadable)?;
                let (old_entry, new_entry) = match (old_entry, new_entry) {
                    (None, None) => return Ok(count),
                    (Some(old), Some(new)) => (old, new),
                    (Some(_), None) => return Err(TreeDifference::Shorter(count)),
                    (None, Some(_)) => return Err(TreeDifference::Longer(count)),
                };
                let expected = match roots {
                    Some(roots) => Cow::Owned(roots.patch(old_entry.data)?),
                    None => Cow::Borrowed(old_entry.data),
                };
                if *old_entry.key != *new_entry.key || *expected != *new_entry.data {
                    return Err(TreeDifference::entry(count + 1, &old_entry.key));
                }
                count += 1;
            }
        })
    }
}

/// Walks the new tree at `root` with ESE's seek rules, `walk` watching, and sends its live
/// entries; stops when the receiver is gone (the comparison found a difference).
fn send_watched_entries<S: PageSource>(
    db: &Database<S>,
    root: u32,
    mut sender: EntrySender,
    walk: &mut TreeWatch,
) {
    let mut cursor = TreeCursor::new(db, root).checking_seeks();
    loop {
        match cursor.next_live_entry_watched(&mut |event| walk.see(event)) {
            None => return sender.finish(),
            Some(Err(problem)) => return sender.fail(problem),
            Some(Ok(entry)) => {
                if !sender.push(&entry.key, entry.data) {
                    return;
                }
            }
        }
    }
}
