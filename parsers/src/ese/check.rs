//! Verification, like `eseutil /k` (every page checksum) and part of `eseutil /g` (every tree
//! of the catalog reachable, owned by its object, in key order, leaves linked and level), plus
//! the header values ESE refuses and every record of every table decoded as `db dump` does.

use super::btree::{self, PageSet, TreeEvent};
use super::catalog::{Catalog, TableReader, CATALOG_OBJECT_ID, CATALOG_ROOT, DATABASE_ROOT};
use super::checksum::ChecksumStatus;
use super::cleanup::{self, DeletedTable};
use super::database::{describe_checksum, Database};
use super::longvalue_index::LongValueIndex;
use super::page::{PageHeader, FLAG_LEAF, FLAG_NON_UNIQUE, FLAG_ROOT, NODE_DELETED};
use super::schema::TableDef;
use super::seek_rules::LeafSummary;
use super::space::{self, SpaceHeader};
use super::PageSource;
use crate::Problem;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

/// One problem found, with the page it is on (when it is on one) and its kind.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub page: Option<u32>,
    pub kind: &'static str,
    #[serde(flatten)]
    pub problem: Problem,
}

/// Tree findings held back until the page pass is done (about 2 MiB); past it, the trees are
/// walked again instead.
const MAX_HELD_FINDINGS: usize = 10_000;

/// What a full check covered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckSummary {
    pub pages: u32,
    pub pages_in_use: u32,
    /// Pages in the file past the space the database owns (not part of it; not checked).
    pub pages_not_owned: u32,
    pub ecc_correctable: u32,
    pub trees: u32,
    /// Leaf entries of every tree walked (records, index entries, long-value chunks).
    pub records: u64,
    /// Tables whose records were decoded (the catalog's own are decoded reading it).
    pub tables: u32,
    /// Live records of those tables, each decoded.
    pub table_records: u64,
    /// Tables deleted in the catalog whose pages await ESE's cleanup: a note, not damage.
    pub awaiting_cleanup: Vec<DeletedTable>,
}

/// What makes a database damaged in `db check`'s judgement: how many findings, the first.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{count} problem(s); first: {}", .first.problem)]
pub struct Damage {
    pub count: usize,
    pub first: Finding,
}

/// How deep a check goes: every record decoded (what `db check` does), or only the file's
/// structure (pages, space, trees, seek rules), for a file whose every record was compared
/// with those of a database already checked to the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Records,
    Structure,
}

/// `db check`'s judgement in one call: what it covered, or the damage it found (the
/// judgement `db defrag` and `fix` refuse by, and prove their new file by, at `depth`).
pub fn verdict<S: PageSource>(db: &Database<S>, depth: Depth) -> Result<CheckSummary, Damage> {
    judged(db, depth, &HashMap::new(), None)
}

/// Hears the entries of the trees a check walks, as it walks them: `db defrag` builds its
/// copy of the source from the walk of its judgement instead of reading the source again.
pub trait TreeTap {
    /// The walk of the tree at `root` begins; `true` to hear its entries.
    fn open(&mut self, root: u32) -> bool;
    /// The next entry of the tree opened, in key order (deleted ones too: see `flags`).
    fn entry(&mut self, key: &[u8], data: &[u8], flags: u8);
    /// The walk of the tree opened ran into damage (it may go on past it).
    fn problem(&mut self, problem: &Problem);
    /// The walk of the tree opened is over.
    fn close(&mut self);
    /// No more trees will be walked.
    fn done(&mut self);
}

/// A tap lent for one call (a reborrow that shortens the trait object's lifetime too).
fn reborrow<'a>(tap: &'a mut Option<&mut dyn TreeTap>) -> Option<&'a mut dyn TreeTap> {
    match tap {
        Some(tap) => Some(&mut **tap),
        None => None,
    }
}

/// [`verdict`] at [`Depth::Records`], with the entries of every tree as walked going to `tap`.
pub fn verdict_tapped<S: PageSource>(
    db: &Database<S>,
    tap: &mut dyn TreeTap,
) -> Result<CheckSummary, Damage> {
    judged(db, Depth::Records, &HashMap::new(), Some(tap))
}

/// [`verdict`] at [`Depth::Structure`] of a file some of whose trees were walked already, each
/// with a [`TreeWatch`]: those are not walked again.
pub fn structure_verdict<S: PageSource>(
    db: &Database<S>,
    walked: &[TreeWatch],
) -> Result<CheckSummary, Damage> {
    let walked: HashMap<u32, &TreeWatch> = walked.iter().map(|w| (w.root, w)).collect();
    judged(db, Depth::Structure, &walked, None)
}

fn judged<S: PageSource>(
    db: &Database<S>,
    depth: Depth,
    walked: &HashMap<u32, &TreeWatch>,
    tap: Option<&mut dyn TreeTap>,
) -> Result<CheckSummary, Damage> {
    let mut count = 0usize;
    let mut first = None;
    let summary = check_to(
        db,
        depth,
        walked,
        tap,
        |finding| {
            count += 1;
            first.get_or_insert(finding);
        },
        |_| {},
    );
    match first {
        Some(first) => Err(Damage { count, first }),
        None => Ok(summary),
    }
}

/// Runs every check, calling `report` for each finding; `progress` gets pages done.
pub fn check<S: PageSource>(
    db: &Database<S>,
    report: impl FnMut(Finding),
    progress: impl FnMut(u32),
) -> CheckSummary {
    check_to(db, Depth::Records, &HashMap::new(), None, report, progress)
}

/// `walked`: trees walked already (at [`Depth::Structure`] only), by root; `tap` hears the
/// first walk of the trees.
fn check_to<S: PageSource>(
    db: &Database<S>,
    depth: Depth,
    walked: &HashMap<u32, &TreeWatch>,
    tap: Option<&mut dyn TreeTap>,
    mut report: impl FnMut(Finding),
    mut progress: impl FnMut(u32),
) -> CheckSummary {
    // Pages done only ever grows: the tree pass counts pages read, the page pass numbers.
    let mut shown = 0;
    let mut progress = |pages: u32| {
        if pages > shown {
            shown = pages;
            progress(pages);
        }
    };
    let mut summary = CheckSummary {
        pages: db.page_count(),
        ..CheckSummary::default()
    };
    for problem in &db.header_problems {
        report(Finding {
            page: None,
            kind: "header",
            problem: problem.clone(),
        });
    }
    let tail = db.file_size() % db.page_size() as u64;
    if tail != 0 {
        report(Finding {
            page: Some(db.page_count() + 1),
            kind: "truncated",
            problem: Problem::at_offset(
                db.file_size() - tail,
                format!(
                    "file ends {tail} bytes into page {} (truncated)",
                    db.page_count() + 1
                ),
            ),
        });
    }
    // A page the page pass found damaged is reported once, not again by every tree walk.
    let mut damaged = HashSet::new();
    let findings = std::cell::Cell::new(0usize);
    let mut report = |finding: Finding| {
        findings.set(findings.get() + 1);
        let page_level = matches!(
            finding.kind,
            "checksum" | "checksum-correctable" | "page-number" | "read"
        );
        if let (true, Some(page)) = (page_level, finding.page) {
            damaged.insert(page);
        } else if finding.kind == "tree" && finding.page.is_some_and(|p| damaged.contains(&p)) {
            return;
        }
        report(finding);
    };
    let db_space = database_space(db, &mut report);
    // Trees first: their walk checksums every page it reads, so the page pass after it reads
    // only the pages no tree holds (one read of the file, not two). Findings still come in
    // the order page pass, then trees: the trees' are held and given after the page pass's,
    // as if found then (a tree finding on a page the page pass found damaged is dropped).
    let mut accounted = PageSet::new(db.page_count());
    let mut trees = CheckSummary::default();
    let (mut held, mut overflow) = (Vec::new(), false);
    let mut hold = |finding| match held.len() < MAX_HELD_FINDINGS {
        true => held.push(finding),
        false => overflow = true,
    };
    let mut trees_of = TreesOf { depth, walked, tap };
    check_trees(
        db,
        &mut trees_of,
        &db_space,
        &mut hold,
        &mut trees,
        &mut accounted,
        &mut progress,
    );
    if let Some(tap) = trees_of.tap.take() {
        tap.done();
    }
    check_pages(db, &db_space, &mut report, &mut progress, &mut summary);
    if overflow {
        // Too many to hold: the trees are walked again, after the page pass.
        drop(held);
        (trees, accounted) = (CheckSummary::default(), PageSet::new(db.page_count()));
        let mut quiet = |_| {};
        check_trees(
            db,
            &mut trees_of,
            &db_space,
            &mut report,
            &mut trees,
            &mut accounted,
            &mut quiet,
        );
    } else {
        held.into_iter().for_each(&mut report);
    }
    summary.trees = trees.trees;
    summary.records = trees.records;
    summary.tables = trees.tables;
    summary.table_records = trees.table_records;
    summary.awaiting_cleanup = cleanup::deleted_tables(db);
    for table in &summary.awaiting_cleanup {
        account_deleted(db, table, &mut accounted);
    }
    // Leaks only mean something when every tree could be walked: after damage, the pages
    // of the trees that could not be read would all look leaked.
    if let Some(db_space) = db_space.as_ref().filter(|_| findings.get() == 0) {
        account_space(&mut accounted, db.page_count(), DATABASE_ROOT, db_space);
        report_leaks(db, db_space, &accounted, &mut report);
    }
    summary
}

/// Marks a tree's root, its space-tree pages and its free pages as accounted for; a tree
/// with a single extent keeps its free pages in a bitmap, so its whole extent counts. Pages
/// past `page_count` are not in the file: a damaged extent may claim billions of them.
fn account_space(
    accounted: &mut PageSet,
    page_count: u32,
    root: u32,
    tree_space: &space::TreeSpace,
) {
    accounted.insert(root);
    for &page in &tree_space.space_tree_pages {
        accounted.insert(page);
    }
    let single_extent = tree_space.space_tree_pages.is_empty();
    let extents = if single_extent {
        &tree_space.owned
    } else {
        &tree_space.available
    };
    for run in extents.distinct_runs(page_count) {
        for page in run.first..=run.last {
            accounted.insert(page);
        }
    }
}

/// Marks every page a deleted table still owns (its root, space-tree pages and extents), when
/// its root is still its own: ESE frees them at cleanup.
fn account_deleted<S: PageSource>(db: &Database<S>, table: &DeletedTable, accounted: &mut PageSet) {
    let Some(root) = db.read_page(table.root_page).page else {
        return;
    };
    let header = SpaceHeader::parse(root.external_header());
    let Some(header) = header.filter(|_| root.header.object_id == table.object_id) else {
        return;
    };
    let (tree_space, _) = space::tree_space(db, table.root_page, &header);
    accounted.insert(table.root_page);
    for &page in &tree_space.space_tree_pages {
        accounted.insert(page);
    }
    for run in tree_space.owned.distinct_runs(db.page_count()) {
        for page in run.first..=run.last {
            accounted.insert(page);
        }
    }
}

/// Owned pages no tree uses and no space tree lists as free: one finding per run of pages.
fn report_leaks<S: PageSource>(
    db: &Database<S>,
    db_space: &space::TreeSpace,
    accounted: &PageSet,
    report: &mut impl FnMut(Finding),
) {
    for extent in db_space.owned.distinct_runs(db.page_count()) {
        let mut run: Option<(u32, u32)> = None;
        for page in extent.first..=extent.last {
            if accounted.contains(page) {
                if let Some((first, last)) = run.take() {
                    report(leak(db, first, last));
                }
            } else {
                run = Some((run.map_or(page, |(first, _)| first), page));
            }
        }
        if let Some((first, last)) = run {
            report(leak(db, first, last));
        }
    }
}

fn leak<S: PageSource>(db: &Database<S>, first: u32, last: u32) -> Finding {
    finding(
        first,
        "space-leak",
        Problem::at_offset(
            db.page_offset(first),
            format!("pages {first}-{last}: owned by the database, but neither used by a tree nor listed as free"),
        ),
    )
}

/// The database's own space (the tree of page 1): what it owns and what is free. `None` when
/// it cannot be read; then every page of the file is checked.
fn database_space<S: PageSource>(
    db: &Database<S>,
    report: &mut impl FnMut(Finding),
) -> Option<space::TreeSpace> {
    let read = db.read_page(DATABASE_ROOT);
    let header = read
        .page
        .as_ref()
        .and_then(|p| SpaceHeader::parse(p.external_header()));
    let Some(header) = header else {
        let problem = read.problem.unwrap_or_else(|| {
            Problem::at_offset(
                db.page_offset(DATABASE_ROOT),
                "page 1: database space header missing",
            )
        });
        report(finding(DATABASE_ROOT, "space", problem));
        return None;
    };
    let (db_space, problems) = space::tree_space(db, DATABASE_ROOT, &header);
    for problem in problems {
        report(Finding {
            page: page_of(db, &problem),
            kind: "space",
            problem,
        });
    }
    if let Some(last) = db_space.owned.last_page().filter(|&l| l > db.page_count()) {
        report(finding(
            db.page_count() + 1,
            "truncated",
            Problem::at_offset(
                db.file_size(),
                format!(
                    "the database owns pages up to {last}, the file ends after page {}",
                    db.page_count()
                ),
            ),
        ));
    }
    Some(db_space)
}

fn page_of<S: PageSource>(db: &Database<S>, problem: &Problem) -> Option<u32> {
    page_at(db.page_size() as u64, problem)
}

/// The page a problem's offset lies in (pages count from 1, after the header page).
fn page_at(page_size: u64, problem: &Problem) -> Option<u32> {
    problem
        .offset
        .map(|o| (o / page_size).saturating_sub(1) as u32)
}

fn check_pages<S: PageSource>(
    db: &Database<S>,
    db_space: &Option<space::TreeSpace>,
    report: &mut impl FnMut(Finding),
    progress: &mut impl FnMut(u32),
    summary: &mut CheckSummary,
) {
    for number in 1..=db.page_count() {
        if number % 256 == 0 {
            progress(number);
        }
        if db_space.as_ref().is_some_and(|s| !s.owned.contains(number)) {
            summary.pages_not_owned += 1;
            continue;
        }
        // A page whose checksum a tree walk found right (the defrag's comparison) is not read
        // again; pages over 8 KiB also hold their number apart from the checksum.
        if db.page_size() <= 8192 && db.checksum_known_right(number) {
            summary.pages_in_use += 1;
            continue;
        }
        match db.with_raw(number, |bytes| page_finding(db, number, bytes)) {
            Err(problem) => report(finding(number, "read", problem)),
            Ok(PageState::Blank) => {}
            Ok(PageState::InUse { correctable, found }) => {
                summary.pages_in_use += 1;
                summary.ecc_correctable += u32::from(correctable);
                if let Some(found) = found {
                    report(found);
                }
            }
        }
    }
    progress(db.page_count());
}

/// What the page pass finds on one page.
enum PageState {
    /// Never written: all zero, no checksum.
    Blank,
    InUse {
        /// A single flipped bit the ECC locates.
        correctable: bool,
        found: Option<Finding>,
    },
}

fn page_finding<S: PageSource>(db: &Database<S>, number: u32, bytes: &[u8]) -> PageState {
    if bytes.iter().all(|&b| b == 0) {
        return PageState::Blank;
    }
    let offset = db.page_offset(number);
    let status = db.checksum_status(number, bytes);
    let correctable = matches!(status, ChecksumStatus::CorrectableBit { .. });
    if status != ChecksumStatus::Ok {
        let kind = match status {
            ChecksumStatus::CorrectableBit { .. } => "checksum-correctable",
            ChecksumStatus::WrongPageNumber { .. } => "page-number",
            _ => "checksum",
        };
        let at = match status {
            // Point at the very byte holding the flipped bit.
            ChecksumStatus::CorrectableBit { bit } => offset + u64::from(bit / 8),
            _ => offset,
        };
        let problem =
            Problem::at_offset(at, format!("page {number}: {}", describe_checksum(&status)));
        return PageState::InUse {
            correctable,
            found: Some(finding(number, kind, problem)),
        };
    }
    let stored = PageHeader::parse(bytes).and_then(|h| h.stored_page_number);
    let found = stored.filter(|&s| s != number).map(|stored| {
        let message = format!("page {number}: header says page {stored}");
        finding(number, "page-number", Problem::at_offset(offset, message))
    });
    PageState::InUse { correctable, found }
}

fn finding(page: u32, kind: &'static str, problem: Problem) -> Finding {
    Finding {
        page: Some(page),
        kind,
        problem,
    }
}

/// Every tree the catalog names: tables, their indexes and long-value trees. Each root is
/// walked once: a damaged catalog naming one root thousands of times would otherwise cost
/// thousands of walks of the same tree.
fn check_trees<S: PageSource>(
    db: &Database<S>,
    trees_of: &mut TreesOf<'_, '_>,
    db_space: &Option<space::TreeSpace>,
    report: &mut impl FnMut(Finding),
    summary: &mut CheckSummary,
    accounted: &mut PageSet,
    progress: &mut impl FnMut(u32),
) {
    TreeCheck::new(db, db_space, "MSysObjects", CATALOG_OBJECT_ID, CATALOG_ROOT)
        .run(report, summary, accounted, progress, None, None);
    let (catalog, problems) = Catalog::read(db);
    for problem in problems {
        report(Finding {
            page: None,
            kind: "catalog",
            problem,
        });
    }
    let mut walked = HashSet::from([CATALOG_ROOT]);
    let mut check_tree = |name: &str, object_id: u32, root: u32, kind: TreeKind<'_>| {
        if !walked.insert(root) {
            let message = format!("page {root} ({name}): root of another tree too");
            let problem = Problem::at_offset(db.page_offset(root), message);
            report(finding(root, "tree", problem));
            return None;
        }
        let mut tree = TreeCheck::new(db, db_space, name, object_id, root);
        let depth = trees_of.depth;
        if let Some(watch) = trees_of
            .walked
            .get(&root)
            .filter(|_| depth == Depth::Structure)
        {
            tree.replay(watch, report, summary, accounted);
            return None;
        }
        let mut long_values = None;
        match kind {
            TreeKind::Table(table, checked) if depth == Depth::Records => {
                tree.records = Some(TableReader::new(db, table).checking(checked));
            }
            TreeKind::LongValues if depth == Depth::Records => {
                long_values = Some(LongValueIndex::default());
            }
            _ => {}
        }
        let mut clean = true;
        let mut report_tree = |found: Finding| {
            clean = false;
            report(found);
        };
        let index = long_values.as_mut();
        tree.run(
            &mut report_tree,
            summary,
            accounted,
            progress,
            index,
            reborrow(&mut trees_of.tap),
        );
        // Values of a tree with any fault are sought as before: the index holds what a
        // seek finds only where the tree is sound.
        long_values.filter(|_| clean).map(LongValueIndex::finish)
    };
    for table in &catalog.tables {
        // Long values first: the one walk of their tree checks each value, and the records
        // that name them look them up instead of seeking each in the tree.
        let long_values = table.long_values.and_then(|tree| {
            let name = format!("{} long values", table.name);
            check_tree(&name, tree.object_id, tree.root_page, TreeKind::LongValues)
        });
        // The catalog's own tree was walked above; its indexes and long values still are.
        if table.object_id != CATALOG_OBJECT_ID {
            let kind = TreeKind::Table(table, long_values.as_ref());
            check_tree(&table.name, table.object_id, table.root_page, kind);
        }
        for index in &table.indexes {
            if index.root_page != table.root_page {
                let name = format!("{} index {}", table.name, index.name);
                check_tree(&name, index.object_id, index.root_page, TreeKind::Index);
            }
        }
    }
}

/// How deep the trees are checked, which were walked already, and who hears the walks.
struct TreesOf<'w, 't> {
    depth: Depth,
    walked: &'w HashMap<u32, &'w TreeWatch>,
    tap: Option<&'t mut dyn TreeTap>,
}

/// What a tree holds, for what its walk checks beyond the structure.
enum TreeKind<'a> {
    /// A table's records, and its long values as their walk checked them.
    Table(&'a TableDef, Option<&'a LongValueIndex>),
    Index,
    LongValues,
}

/// The structural checks of one tree.
struct TreeCheck<'a, S> {
    db: &'a Database<S>,
    db_space: &'a Option<space::TreeSpace>,
    namer: Namer,
    object_id: u32,
    root: u32,
    /// For a table's own tree: its records, each decoded.
    records: Option<TableReader<'a, S>>,
}

/// What the walk of one tree remembers between pages: constant size, whatever the tree.
#[derive(Debug, Default)]
struct WalkState {
    previous_key: Option<Vec<u8>>,
    /// The previous leaf and the page its `next` link names.
    previous_leaf: Option<(u32, u32)>,
    leaf_depth: Option<usize>,
    /// The root's flag: equal keys are allowed (sorted by data) only in a non-unique tree.
    non_unique: bool,
}

impl<'a, S: PageSource> TreeCheck<'a, S> {
    fn new(
        db: &'a Database<S>,
        db_space: &'a Option<space::TreeSpace>,
        name: &'a str,
        object_id: u32,
        root: u32,
    ) -> Self {
        TreeCheck {
            db,
            db_space,
            namer: Namer::new(db, name.to_owned()),
            object_id,
            root,
            records: None,
        }
    }

    fn problem(&self, number: u32, message: &str) -> Problem {
        self.namer.problem(number, message)
    }

    /// Walks the tree, reporting what breaks a rule; a long-value tree's live entries also go
    /// to `long_values`, and every entry to `tap` if it opens the tree.
    fn run(
        &self,
        report: &mut impl FnMut(Finding),
        summary: &mut CheckSummary,
        accounted: &mut PageSet,
        progress: &mut impl FnMut(u32),
        mut long_values: Option<&mut LongValueIndex>,
        tap: Option<&mut dyn TreeTap>,
    ) {
        let mut tap = tap.and_then(|tap| tap.open(self.root).then_some(tap));
        summary.trees += 1;
        let tree_space = self.tree_space(report);
        if let Some(tree_space) = &tree_space {
            account_space(accounted, self.db.page_count(), self.root, tree_space);
        }
        let mut state = WalkState::default();
        summary.tables += u32::from(self.records.is_some());
        let mut live = 0u64;
        btree::walk_checking_seeks(self.db, self.root, |event| {
            match event {
                TreeEvent::Page { page, depth } => {
                    accounted.insert(page.number);
                    if page.number % 256 == 0 {
                        let read = u32::try_from(self.db.pages_read()).unwrap_or(u32::MAX);
                        progress(read.min(self.db.page_count()));
                    }
                    self.check_owner(page.number, page.header.object_id, report);
                    let problem = |n: u32, m: &str| self.problem(n, m);
                    check_shape(
                        page.number,
                        &page.header,
                        depth,
                        &mut state,
                        &problem,
                        report,
                    );
                    if let Some(tree_space) = &tree_space {
                        self.check_page_space(page.number, tree_space, report);
                    }
                }
                TreeEvent::Entry {
                    page,
                    key,
                    data,
                    flags,
                } => {
                    summary.records += 1;
                    let is_live = flags & NODE_DELETED == 0;
                    if let Some(reader) = self.records.as_ref().filter(|_| is_live) {
                        live += 1;
                        summary.table_records += 1;
                        if let Err(problem) = reader.check_row(page.number, live, data) {
                            report(finding(page.number, "record", problem));
                        }
                    }
                    if let Some(index) = long_values.as_mut().filter(|_| is_live) {
                        index.entry(&key, data);
                    }
                    if let Some(tap) = tap.as_mut() {
                        tap.entry(&key, data, flags);
                    }
                    let problem = |n: u32, m: &str| self.problem(n, m);
                    check_key_order(page.number, &key, &mut state, &problem, report);
                }
                TreeEvent::Problem(problem) => {
                    if let Some(tap) = tap.as_mut() {
                        tap.problem(&problem);
                    }
                    report(self.namer.walk_finding(problem));
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(tap) = tap {
            tap.close();
        }
        check_last_leaf(&state, &|n: u32, m: &str| self.problem(n, m), report);
    }

    /// What the walk of the tree by someone else found (see [`TreeWatch`]), and the checks
    /// that need the catalog and the space: each page's owner and place.
    fn replay(
        &self,
        watch: &TreeWatch,
        report: &mut impl FnMut(Finding),
        summary: &mut CheckSummary,
        accounted: &mut PageSet,
    ) {
        summary.trees += 1;
        summary.records += watch.entries;
        let tree_space = self.tree_space(report);
        if let Some(tree_space) = &tree_space {
            account_space(accounted, self.db.page_count(), self.root, tree_space);
        }
        for number in watch.pages.iter().flat_map(|&(first, last)| first..=last) {
            accounted.insert(number);
            self.check_owner(number, watch.owner_of(number), report);
            if let Some(tree_space) = &tree_space {
                self.check_page_space(number, tree_space, report);
            }
        }
        watch.findings.iter().cloned().for_each(report);
    }

    fn check_owner(&self, number: u32, owner: u32, report: &mut impl FnMut(Finding)) {
        if owner != self.object_id {
            let message = format!("belongs to object {owner}, expected {}", self.object_id);
            report(finding(number, "owner", self.problem(number, &message)));
        }
    }

    /// The tree's owned and free extents, read before the walk (its space trees are walked,
    /// and their damage reported, on the way); `None` when the root has no space header.
    fn tree_space(&self, report: &mut impl FnMut(Finding)) -> Option<space::TreeSpace> {
        let root_page = self.db.read_page(self.root).page?;
        let header = SpaceHeader::parse(root_page.external_header())?;
        if header.non_unique() != root_page.header.is(FLAG_NON_UNIQUE) {
            let message = format!(
                "space header {} the non-unique flag the tree's pages {}",
                if header.non_unique() { "has" } else { "lacks" },
                if header.non_unique() { "lack" } else { "carry" },
            );
            report(finding(
                self.root,
                "space",
                self.problem(self.root, &message),
            ));
        }
        let (tree_space, problems) = space::tree_space(self.db, self.root, &header);
        for problem in problems {
            report(Finding {
                page: page_of(self.db, &problem),
                kind: "space",
                problem,
            });
        }
        if let Some(db_owned) = self.db_space.as_ref().map(|s| &s.owned) {
            for extent in tree_space.owned.0.iter().filter(|e| !db_owned.covers(e)) {
                let message = format!(
                    "owned extent {}-{} lies outside the database's space",
                    extent.first, extent.last
                );
                report(finding(
                    extent.first,
                    "space",
                    self.problem(extent.first, &message),
                ));
            }
        }
        Some(tree_space)
    }

    /// A page in use lies in the tree's owned extents and in nobody's free ones.
    fn check_page_space(
        &self,
        number: u32,
        tree_space: &space::TreeSpace,
        report: &mut impl FnMut(Finding),
    ) {
        let mut complain = |message: &str| {
            report(finding(number, "space", self.problem(number, message)));
        };
        if !tree_space.owned.contains(number) {
            complain("in use but outside the tree's owned extents");
        }
        if tree_space.available.contains(number) {
            complain("in use but listed as free in the tree's space");
        }
        if self
            .db_space
            .as_ref()
            .is_some_and(|s| s.available.contains(number))
        {
            complain("in use but listed as free in the database's space");
        }
    }
}

/// Root flag, leaf level and the leaf chain of a page entered at `depth`.
fn check_shape(
    number: u32,
    header: &PageHeader,
    depth: usize,
    state: &mut WalkState,
    problem: &impl Fn(u32, &str) -> Problem,
    report: &mut impl FnMut(Finding),
) {
    if depth == 0 {
        state.non_unique = header.is(FLAG_NON_UNIQUE);
        if !header.is(FLAG_ROOT) {
            let message = "tree root without the root flag";
            report(finding(number, "root", problem(number, message)));
        }
    }
    if !header.is(FLAG_LEAF) {
        return;
    }
    if let Some(expected) = state.leaf_depth.filter(|&d| d != depth) {
        let message = format!("leaf at depth {depth}, others at {expected}");
        report(finding(number, "depth", problem(number, &message)));
    }
    state.leaf_depth.get_or_insert(depth);
    let broken_link = match state.previous_leaf {
        Some((previous, next)) if next != number || header.previous != previous => Some(format!(
            "leaf links broken: page {previous} says next is {next}, this page says previous is {}",
            header.previous
        )),
        None if header.previous != 0 => Some(format!(
            "first leaf has a previous link to {}",
            header.previous
        )),
        _ => None,
    };
    if let Some(message) = broken_link {
        report(finding(number, "sibling-link", problem(number, &message)));
    }
    state.previous_leaf = Some((number, header.next));
}

const KEY_DESCENDS: &str = "key smaller than the key before it";
const KEY_REPEATS: &str = "key equal to the key before it, in a tree without the non-unique flag";

/// Keys ascend (repeat only in a non-unique tree).
fn check_key_order(
    page: u32,
    key: &[u8],
    state: &mut WalkState,
    problem: &impl Fn(u32, &str) -> Problem,
    report: &mut impl FnMut(Finding),
) {
    let out_of_order = match &state.previous_key {
        Some(p) if key < p.as_slice() => Some(KEY_DESCENDS),
        Some(p) if key == p.as_slice() && !state.non_unique => Some(KEY_REPEATS),
        _ => None,
    };
    if let Some(message) = out_of_order {
        report(finding(page, "key-order", problem(page, message)));
    }
    // The buffer is reused: most keys are borrowed from their page.
    let previous = state.previous_key.get_or_insert_with(Vec::new);
    previous.clear();
    previous.extend_from_slice(key);
}

/// The last leaf links on to nothing.
fn check_last_leaf(
    state: &WalkState,
    problem: &impl Fn(u32, &str) -> Problem,
    report: &mut impl FnMut(Finding),
) {
    if let Some((last, next)) = state.previous_leaf.filter(|&(_, next)| next != 0) {
        let message = format!("last leaf links on to page {next}");
        report(finding(last, "sibling-link", problem(last, &message)));
    }
}

/// Findings a [`TreeWatch`] keeps (a new file with more fails all the same).
const MAX_WATCH_FINDINGS: usize = 1000;

/// One tree walked by a caller that reads it anyway (the defrag's comparison reads each tree
/// of its new file), making on the way the checks of `db check`'s walk that need nothing
/// but the tree: root flag, leaf level and links, key order, and, when the walk checks
/// seeks (`TreeCursor::checking_seeks`), ESE's seek rules. Given to [`structure_verdict`],
/// it spares `db check` a second walk of the tree: the owner and the place of each page it
/// lists are checked there, against the catalog and the space.
#[derive(Debug)]
pub struct TreeWatch {
    root: u32,
    namer: Namer,
    state: WalkState,
    findings: Vec<Finding>,
    /// The pages walked, as runs of consecutive numbers (a tree the defrag writes lies in a
    /// few runs: memory does not grow with the file).
    pages: Vec<(u32, u32)>,
    /// The object the root says it belongs to, and the pages that say otherwise (a few: past
    /// as many as findings are kept, the file fails anyway).
    owner: u32,
    other_owners: HashMap<u32, u32>,
    entries: u64,
}

impl TreeWatch {
    /// Watches the walk of the tree at `root`; `name` goes into findings.
    pub fn new<S: PageSource>(db: &Database<S>, name: String, root: u32) -> TreeWatch {
        TreeWatch {
            root,
            namer: Namer::new(db, name),
            state: WalkState::default(),
            findings: Vec::new(),
            pages: Vec::new(),
            owner: 0,
            other_owners: HashMap::new(),
            entries: 0,
        }
    }

    /// Takes the walk's next event.
    pub fn see(&mut self, event: &TreeEvent<'_>) {
        match event {
            TreeEvent::Page { page, depth } => {
                self.walked(page.number, page.header.object_id, *depth);
            }
            TreeEvent::Entry { .. } => self.entries += 1,
            TreeEvent::Problem(_) => {}
        }
        self.checking(|namer, state, mut report| {
            let problem = |number: u32, message: &str| namer.problem(number, message);
            match event {
                TreeEvent::Page { page, depth } => {
                    check_shape(
                        page.number,
                        &page.header,
                        *depth,
                        state,
                        &problem,
                        &mut report,
                    );
                }
                TreeEvent::Entry { page, key, .. } => {
                    check_key_order(page.number, key, state, &problem, &mut report);
                }
                TreeEvent::Problem(found) => report(namer.walk_finding(found.clone())),
            }
        });
    }

    /// Takes a leaf read earlier (its page, then its entries), reached at `depth`: see
    /// [`super::branch_walk`].
    pub(crate) fn see_leaf(&mut self, leaf: &LeafSummary<'_>, depth: usize) {
        self.walked(leaf.number, leaf.header.object_id, depth);
        self.entries += leaf.entries;
        self.checking(|namer, state, mut report| {
            let problem = |number: u32, message: &str| namer.problem(number, message);
            check_shape(
                leaf.number,
                &leaf.header,
                depth,
                state,
                &problem,
                &mut report,
            );
            let Some((first, last)) = &leaf.ends else {
                return;
            };
            check_key_order(leaf.number, first.key(), state, &problem, &mut report);
            let inside = [
                (leaf.descends, KEY_DESCENDS),
                (leaf.repeats && !state.non_unique, KEY_REPEATS),
            ];
            for (_, message) in inside.iter().filter(|(broken, _)| *broken) {
                let found = problem(leaf.number, message);
                report(finding(leaf.number, "key-order", found));
            }
            let previous = state.previous_key.get_or_insert_with(Vec::new);
            previous.clear();
            previous.extend_from_slice(last.key());
        });
    }

    /// Runs `check` on the walk's state, with a report that keeps the first findings.
    fn checking(&mut self, check: impl FnOnce(&Namer, &mut WalkState, &mut dyn FnMut(Finding))) {
        let findings = &mut self.findings;
        let mut report = |found: Finding| {
            if findings.len() < MAX_WATCH_FINDINGS {
                findings.push(found);
            }
        };
        check(&self.namer, &mut self.state, &mut report);
    }

    /// Whether the walk so far broke no rule.
    pub(crate) fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn walked(&mut self, number: u32, owner: u32, depth: usize) {
        match self.pages.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(number) => *last = number,
            _ => self.pages.push((number, number)),
        }
        if depth == 0 {
            self.owner = owner;
        } else if owner != self.owner && self.other_owners.len() < MAX_WATCH_FINDINGS {
            self.other_owners.insert(number, owner);
        }
    }

    fn owner_of(&self, number: u32) -> u32 {
        self.other_owners
            .get(&number)
            .copied()
            .unwrap_or(self.owner)
    }

    /// Ends the walk (the last leaf's link is checked).
    pub fn finish(mut self) -> TreeWatch {
        let namer = &self.namer;
        let problem = |number: u32, message: &str| namer.problem(number, message);
        let findings = &mut self.findings;
        check_last_leaf(&self.state, &problem, &mut |found| findings.push(found));
        self
    }
}

/// How a tree's findings name it and their pages.
#[derive(Debug)]
struct Namer {
    name: String,
    page_size: u64,
}

impl Namer {
    fn new<S: PageSource>(db: &Database<S>, name: String) -> Namer {
        Namer {
            name,
            page_size: db.page_size() as u64,
        }
    }

    fn problem(&self, number: u32, message: &str) -> Problem {
        Problem::at_offset(
            (u64::from(number) + 1) * self.page_size,
            format!("page {number} ({}): {message}", self.name),
        )
    }

    /// A problem the walk of the tree met, as a finding on its page.
    fn walk_finding(&self, problem: Problem) -> Finding {
        Finding {
            page: page_at(self.page_size, &problem),
            kind: "tree",
            problem,
        }
    }
}
