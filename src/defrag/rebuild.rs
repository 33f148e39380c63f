//! The rebuild: every tree of the source copied, entry by entry in key order, into a fresh
//! file laid out by [`PageAllocator`]: user tables first (each followed by its long values and
//! secondary indexes), then the catalog and its shadow at the roots ESE fixes, with their
//! records pointing at the new roots. Deleted entries are dropped; keys and data are copied as
//! stored. Pages stream out through the sink, so memory holds one page per tree level.

use super::catalog_rows::{PatchError, RootMap};
use super::entry_stream::EntryStream;
use super::source_feed::SourceFeed;
use super::verify::{tree_label, FinishedTree, StreamedTree, TreeNews, TreeRole};
use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::catalog::IndexDef;
use evtdoctor_parsers::ese::catalog::{
    CATALOG_OBJECT_ID, CATALOG_ROOT, DATABASE_ROOT, SHADOW_OBJECT_ID,
};
use evtdoctor_parsers::ese::checksum::uses_ecc;
use evtdoctor_parsers::ese::cleanup;
use evtdoctor_parsers::ese::header::OsVersion;
use evtdoctor_parsers::ese::page::{
    FLAG_INDEX, FLAG_LEAF, FLAG_LONG_VALUE, FLAG_NON_UNIQUE, NODE_DELETED,
};
use evtdoctor_parsers::ese::space::SpaceHeader;
use evtdoctor_parsers::ese::write::header::{fresh_header, FreshHeader};
use evtdoctor_parsers::ese::write::layout::{
    write_database_space, write_space, PageAllocator, Runs, TreePlace, TreeWriter,
};
use evtdoctor_parsers::ese::write::tree::Sink;
use evtdoctor_parsers::ese::write::{PageFormat, WriteError};
use evtdoctor_parsers::ese::{Catalog, Database, PageSource, TableDef};
use std::cell::RefCell;
use std::ops::ControlFlow;

/// Source page flags a rebuilt tree keeps: what kind of tree it is and whether keys repeat.
const TREE_KIND_FLAGS: u32 = FLAG_INDEX | FLAG_LONG_VALUE | FLAG_NON_UNIQUE;
/// The page flag of the record format in use (kept from the source).
const NEW_RECORD_FORMAT: u32 = 0x0800;

/// What the new header says besides the source's settings.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    pub os_version: OsVersion,
    pub random: u32,
    /// LOGTIME bytes of now.
    pub now: [u8; 8],
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    /// Pages of the new file after the two header pages.
    pub pages: u32,
    pub trees: u32,
    /// Trees copied from the walk of `db check`'s judgement (source_feed.rs), not walked
    /// again by the rebuild.
    pub trees_from_check: u32,
    /// Leaf entries copied (records, index entries, long-value chunks).
    pub entries: u64,
    /// Deleted entries of the source left behind.
    pub dropped: u64,
    /// Tables deleted in the source's catalog and awaiting ESE's cleanup: their rows are
    /// among the dropped entries, so the new file has none of their pages.
    pub deleted_tables: Vec<String>,
}

/// Why the rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The source cannot be copied as it is: a damaged catalog, an unreadable page, a tree
    /// ESE itself could not search.
    #[error("{0}")]
    Source(String),
    /// The catalog and the trees disagree on a root page.
    #[error(transparent)]
    Catalog(#[from] PatchError),
    /// The writer, or the file it writes to, failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Copying the tree at `page` of the source failed.
    #[error("tree at page {page}: {cause}")]
    Tree { page: u32, cause: Box<RebuildError> },
    /// The verifier, told of each tree as it is written, stopped listening.
    #[error("the verifier stopped")]
    VerifierStopped,
}

impl RebuildError {
    /// The I/O error of the file being written, if that is what stopped the rebuild.
    pub fn into_io(self) -> Option<std::io::Error> {
        match self {
            RebuildError::Write(error) => error.into_io(),
            RebuildError::Tree { cause, .. } => cause.into_io(),
            _ => None,
        }
    }
}

/// Told how the copy of the trees goes (see [`TreeNews`]).
pub type Tell<'a> = dyn FnMut(TreeNews) -> Result<(), RebuildError> + 'a;

/// One tree to copy: where it is, where it goes.
struct TreePlan {
    /// What it is, for the verifier's messages.
    label: String,
    old_root: u32,
    new_root: u32,
    parent_root: u32,
    patch_records: bool,
}

/// A table and the trees it owns, with their new roots.
struct FamilyPlan {
    table: TreePlan,
    /// The long values (if any), then the secondary indexes.
    children: Vec<TreePlan>,
    /// How many children are copied before the records (the long values: see [`copy_order`]).
    children_first: usize,
    /// Catalog trees live at fixed pages and take the holes among them first.
    fixed: bool,
}

struct Rebuild<'a, S> {
    db: &'a Database<S>,
    format: PageFormat,
    pages: PageAllocator,
    roots: RootMap,
    summary: RebuildSummary,
    progress: &'a mut dyn FnMut(u64),
    feed: &'a mut SourceFeed,
}

/// The rebuilt file's two header pages (primary and shadow, for offset 0), returned rather
/// than sunk so the caller writes them last: a file cut short has no valid header.
pub struct Rebuilt {
    pub summary: RebuildSummary,
    pub headers: Vec<u8>,
}

/// The roots of the user tables' trees in the order the rebuild copies them: each table's
/// long values, records, then secondary indexes, which is the order `db check` walks them in
/// (records look their long values up there), so the rebuild can take them from its walk.
/// The catalog's trees are copied last, walked by the rebuild itself.
pub fn copy_order(catalog: &Catalog) -> Vec<u32> {
    let family = |table: &TableDef| {
        let long_values = table.long_values.map(|tree| tree.root_page);
        let indexes = secondary_indexes(table).map(|i| i.root_page);
        let records = std::iter::once(table.root_page);
        long_values
            .into_iter()
            .chain(records)
            .chain(indexes)
            .collect::<Vec<_>>()
    };
    let user_tables = catalog.tables.iter().filter(|t| !is_catalog(t));
    user_tables.flat_map(family).collect()
}

/// Writes every page of the rebuilt database (page `n` belongs at offset `(n + 1) * page size`)
/// to `sink`. After each tree of a user table (in [`copy_order`]; the catalog comes last),
/// `finished` is told it is written in full. Trees `feed` hands over are not read again.
pub fn rebuild<S: PageSource>(
    db: &Database<S>,
    options: &RebuildOptions,
    sink: &mut Sink<'_>,
    progress: &mut dyn FnMut(u64),
    tell: &mut Tell<'_>,
    feed: &mut SourceFeed,
) -> Result<Rebuilt, RebuildError> {
    let (catalog, problems) = Catalog::read(db);
    if let Some(problem) = problems.first() {
        return Err(RebuildError::Source(format!(
            "the catalog is damaged: {problem}"
        )));
    }
    let first_page = db
        .read_raw(DATABASE_ROOT)
        .map_err(|p| RebuildError::Source(p.to_string()))?;
    let format = PageFormat {
        page_size: db.page_size(),
        ecc: uses_ecc(&first_page),
        common_flags: page_flags(&first_page) & NEW_RECORD_FORMAT,
        db_time: db.header.db_time,
    };
    let fixed_tables: Vec<&TableDef> = catalog.tables.iter().filter(|t| is_catalog(t)).collect();
    if !fixed_tables
        .iter()
        .any(|t| t.object_id == CATALOG_OBJECT_ID && t.root_page == CATALOG_ROOT)
    {
        return Err(RebuildError::Source(format!(
            "the catalog does not describe itself at page {CATALOG_ROOT}"
        )));
    }
    let mut fixed_pages = vec![DATABASE_ROOT, 2, 3];
    for table in &fixed_tables {
        let index_roots = secondary_indexes(table).map(|i| i.root_page);
        for root in std::iter::once(table.root_page).chain(index_roots) {
            fixed_pages.extend([root, root + 1, root + 2]);
        }
    }
    let mut run = Rebuild {
        db,
        format,
        pages: PageAllocator::new(&fixed_pages),
        roots: RootMap::default(),
        summary: RebuildSummary {
            deleted_tables: cleanup::deleted_tables(db)
                .into_iter()
                .map(|t| t.name)
                .collect(),
            ..RebuildSummary::default()
        },
        progress,
        feed,
    };
    let fixed_plans = fixed_tables
        .iter()
        .map(|t| run.plan(t, true))
        .collect::<Result<Vec<_>, _>>()?;
    for table in catalog.tables.iter().filter(|t| !is_catalog(t)) {
        let plan = run.plan(table, false)?;
        run.copy_family(&plan, sink, tell)?;
    }
    for plan in &fixed_plans {
        run.copy_family(plan, sink, &mut |_| Ok(()))?;
    }
    write_database_space(run.format, &run.pages, &[], sink)?;
    run.summary.pages = run.pages.last_page();
    Ok(Rebuilt {
        summary: run.summary,
        headers: new_header(db, options)?,
    })
}

/// The rebuilt file's two header pages: the source's, made fresh (see [`fresh_header`]).
pub fn new_header<S: PageSource>(
    db: &Database<S>,
    options: &RebuildOptions,
) -> Result<Vec<u8>, RebuildError> {
    let header_page = db
        .read_raw(0)
        .map_err(|p| RebuildError::Source(p.to_string()))?;
    let fresh = FreshHeader {
        db_time: db.header.db_time,
        random: options.random,
        now: options.now,
        last_object_id: db.header.last_object_id,
        os_version: options.os_version,
    };
    Ok(fresh_header(&header_page, db.page_size(), &fresh)?)
}

fn is_catalog(table: &TableDef) -> bool {
    table.object_id == CATALOG_OBJECT_ID || table.object_id == SHADOW_OBJECT_ID
}

/// Secondary indexes (the primary index is the table's own tree).
fn secondary_indexes(table: &TableDef) -> impl Iterator<Item = &IndexDef> {
    table
        .indexes
        .iter()
        .filter(move |i| i.root_page != table.root_page)
}

fn page_flags(page: &[u8]) -> u32 {
    page.get(36..40)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

impl<S: PageSource> Rebuild<'_, S> {
    /// Chooses the new roots of a table's trees and records them for the catalog.
    fn plan(&mut self, table: &TableDef, fixed: bool) -> Result<FamilyPlan, RebuildError> {
        let table_root = if fixed {
            table.root_page
        } else {
            self.pages.next_three()?
        };
        let mut children = Vec::new();
        let long_values = table
            .long_values
            .map(|tree| (tree.root_page, TreeRole::LongValues));
        let indexes = secondary_indexes(table).map(|i| (i.root_page, TreeRole::Index(&i.name)));
        for (old_root, role) in long_values.into_iter().chain(indexes) {
            let new_root = if fixed && matches!(role, TreeRole::Index(_)) {
                old_root
            } else {
                self.pages.next_three()?
            };
            children.push(TreePlan {
                label: tree_label(&table.name, role),
                old_root,
                new_root,
                parent_root: table_root,
                patch_records: false,
            });
        }
        let table_plan = TreePlan {
            label: tree_label(&table.name, TreeRole::Records),
            old_root: table.root_page,
            new_root: table_root,
            parent_root: DATABASE_ROOT,
            patch_records: fixed,
        };
        for plan in std::iter::once(&table_plan).chain(&children) {
            let (object_id, _) = self.object_and_kind(plan.old_root)?;
            self.roots.insert(object_id, plan.old_root, plan.new_root);
        }
        Ok(FamilyPlan {
            table: table_plan,
            children_first: usize::from(table.long_values.is_some()),
            children,
            fixed,
        })
    }

    /// The object id and the kind flags (index, long value, non-unique) of the tree at `root`.
    fn object_and_kind(&self, root: u32) -> Result<(u32, u32), RebuildError> {
        let page = self.db.read_page(root);
        match (page.page, page.problem) {
            (Some(page), None) => Ok((page.header.object_id, page.header.flags & TREE_KIND_FLAGS)),
            (_, Some(problem)) => Err(RebuildError::Source(problem.to_string())),
            (None, None) => Err(RebuildError::Source(format!("page {root}: unreadable"))),
        }
    }

    /// Copies a table's trees, then writes their space trees: the table owns its own pages
    /// and all of its children's. `tell` hears of each tree as it is written.
    fn copy_family(
        &mut self,
        plan: &FamilyPlan,
        sink: &mut Sink<'_>,
        tell: &mut Tell<'_>,
    ) -> Result<(), RebuildError> {
        let mut family = Runs::default();
        let (before, after) = plan.children.split_at(plan.children_first);
        for child in before {
            self.copy_child(child, plan.fixed, &mut family, sink, tell)?;
        }
        let mut table_runs = self.copy_tree(&plan.table, plan.fixed, sink, tell)?;
        self.announce(&plan.table, tell)?;
        for child in after {
            self.copy_child(child, plan.fixed, &mut family, sink, tell)?;
        }
        table_runs.extend(&family);
        self.write_space(&plan.table, &table_runs, sink)
    }

    /// Copies a tree a table owns, and writes its space tree; `family` gathers its pages.
    fn copy_child(
        &mut self,
        child: &TreePlan,
        fixed: bool,
        family: &mut Runs,
        sink: &mut Sink<'_>,
        tell: &mut Tell<'_>,
    ) -> Result<(), RebuildError> {
        let runs = self.copy_tree(child, fixed, sink, tell)?;
        self.write_space(child, &runs, sink)?;
        family.extend(&runs);
        self.announce(child, tell)
    }

    fn announce(&self, plan: &TreePlan, tell: &mut Tell<'_>) -> Result<(), RebuildError> {
        tell(TreeNews::Written(FinishedTree {
            label: plan.label.clone(),
            old_root: plan.old_root,
            new_root: plan.new_root,
            written: (u64::from(self.pages.last_page()) + 2) * self.format.page_size as u64,
        }))
    }

    /// Copies one tree; returns the pages it took (root and space pages included). `fixed`:
    /// a catalog tree, whose pages take the holes among the fixed pages first. A tree copied
    /// from the hand-over is told (`tell`) once its first leaf goes to the writer, with the
    /// entries as the copy is done with them, so it can be compared while it is written.
    fn copy_tree(
        &mut self,
        plan: &TreePlan,
        fixed: bool,
        sink: &mut Sink<'_>,
        tell: &mut Tell<'_>,
    ) -> Result<Runs, RebuildError> {
        let source_root = self.db.read_page(plan.old_root);
        let root_page = source_root.page.ok_or_else(|| {
            RebuildError::Source(format!("page {}: unreadable tree root", plan.old_root))
        })?;
        let space = SpaceHeader::parse(root_page.external_header());
        if space.is_some_and(|s| s.non_unique() != root_page.header.is(FLAG_NON_UNIQUE)) {
            return Err(RebuildError::Source(format!(
                "page {}: the space header and the tree's pages disagree on the non-unique flag",
                plan.old_root
            )));
        }
        let mut tree = TreeWriter::new(
            self.format,
            TreePlace {
                object_id: root_page.header.object_id,
                tree_flags: root_page.header.flags & TREE_KIND_FLAGS,
                root: plan.new_root,
                parent_root: plan.parent_root,
                use_holes: fixed,
            },
        )
        .keeping_root_header(root_page.external_header());
        // The catalog's trees are not in the feed's order: the rebuild walks them itself.
        let mut fed = if fixed {
            None
        } else {
            self.feed.take(plan.old_root)
        };
        let tell = RefCell::new(tell);
        let mut streamed = fed
            .as_mut()
            .map(|entries| (plan.label.clone(), entries.tee()));
        // The first leaf page is the first page of the tree the writer gets with the leaf flag.
        let mut tree_sink = |number: u32, bytes: Vec<u8>| {
            if streamed.is_some() && page_flags(&bytes) & FLAG_LEAF != 0 {
                if let Some((label, entries)) = streamed.take() {
                    let leaves = StreamedTree {
                        label,
                        old_root: plan.old_root,
                        first_leaf: number,
                        entries,
                    };
                    // A verifier gone is heard of when the tree is announced written.
                    let _ = (tell.borrow_mut())(TreeNews::Leaves(leaves));
                }
            }
            sink(number, bytes)
        };
        let summary = &mut self.summary;
        let progress = &mut *self.progress;
        let roots = &self.roots;
        let pages = &mut self.pages;
        let mut add = |key: &[u8], data: &[u8]| -> Result<(), RebuildError> {
            let data = if plan.patch_records {
                std::borrow::Cow::Owned(roots.patch(data)?)
            } else {
                std::borrow::Cow::Borrowed(data)
            };
            summary.entries += 1;
            if summary.entries.is_multiple_of(4096) {
                progress(summary.entries);
            }
            Ok(tree.add(key, &data, pages, &mut tree_sink)?)
        };
        // Before the copy waits for the hand-over, the pages gathered go out: the comparison
        // may be waiting for them, holding the hand-over's buffers.
        let mut waiting = || {
            let _ = (tell.borrow_mut())(TreeNews::Waiting);
        };
        let copied = match fed {
            Some(entries) => copy_entries(entries, &mut add, &mut waiting),
            None => walk_entries(self.db, plan.old_root, &mut add),
        };
        let tree_error = |cause| RebuildError::Tree {
            page: plan.old_root,
            cause: Box::new(cause),
        };
        let (dropped, from_check) = copied.map_err(tree_error)?;
        self.summary.dropped += dropped;
        self.summary.trees_from_check += u32::from(from_check);
        self.summary.trees += 1;
        Ok(tree.finish(&mut self.pages, &mut tree_sink)?)
    }

    /// The owned-extent page lists `runs`; the available-extent page is empty (no free page).
    fn write_space(
        &self,
        plan: &TreePlan,
        runs: &Runs,
        sink: &mut Sink<'_>,
    ) -> Result<(), RebuildError> {
        let (object_id, tree_flags) = self.object_and_kind(plan.old_root)?;
        let place = TreePlace {
            object_id,
            tree_flags,
            root: plan.new_root,
            parent_root: plan.parent_root,
            use_holes: false,
        };
        Ok(write_space(self.format, &place, runs, &[], sink)?)
    }
}

/// Copies one live entry (key, data) into the new tree.
type AddEntry<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), RebuildError> + 'a;

/// Hands `add` the live entries of a tree as the judgement's walk sent them; returns the
/// deleted entries it passed over, and `true` (taken from the check).
fn copy_entries(
    mut entries: EntryStream,
    add: &mut AddEntry<'_>,
    waiting: &mut dyn FnMut(),
) -> Result<(u64, bool), RebuildError> {
    while let Some(entry) = entries.next_entry_or_idle(waiting) {
        let entry = entry.map_err(|problem| RebuildError::Source(problem.to_string()))?;
        add(entry.key, entry.data)?;
    }
    Ok((entries.deleted(), true))
}

/// Walks the tree at `root` and hands `add` its live entries; returns the deleted entries
/// passed over, and `false` (walked here). A source tree ESE itself could not search is
/// refused, not silently repaired: by `db check`'s judgement of the source, which runs
/// beside the rebuild (engine.rs).
fn walk_entries<S: PageSource>(
    db: &Database<S>,
    root: u32,
    add: &mut AddEntry<'_>,
) -> Result<(u64, bool), RebuildError> {
    let mut dropped = 0;
    let mut failure = None;
    btree::walk(db, root, |event| {
        let outcome = match event {
            TreeEvent::Entry { flags, .. } if flags & NODE_DELETED != 0 => {
                dropped += 1;
                Ok(())
            }
            TreeEvent::Entry { key, data, .. } => add(&key, data),
            TreeEvent::Page { .. } => Ok(()),
            TreeEvent::Problem(problem) => Err(RebuildError::Source(problem.to_string())),
        };
        match outcome {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                failure = Some(error);
                ControlFlow::Break(())
            }
        }
    });
    failure.map_or(Ok((dropped, false)), Err)
}
