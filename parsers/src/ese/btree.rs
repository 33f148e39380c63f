//! B+-trees: every table, index, long-value store and space tree is one, rooted at its
//! "father data page" (FDP). Branch nodes hold a separator key and a 4-byte child page number;
//! leaf nodes hold the records.
//!
//! The walk goes down from the root through the branch pages (not along the leaf sibling
//! links), so a damaged leaf costs only its own records. Cycles and absurd depths stop it.

use super::database::Database;
use super::le_u32;
use super::page::{Node, Page, FLAG_LEAF, FLAG_NON_UNIQUE};
use super::seek_rules::{self, KeyRange};
use super::PageSource;
use crate::Problem;
use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::ControlFlow;

/// No real tree is deeper; a deeper walk means a cycle or damage.
pub(crate) const MAX_DEPTH: usize = 32;

/// What a walk reports, in key order.
pub enum TreeEvent<'a> {
    /// A page was entered (before its entries), with its depth (root = 0).
    Page { page: &'a Page, depth: usize },
    /// A leaf node (deleted nodes included: check `flags`).
    Entry {
        page: &'a Page,
        key: Cow<'a, [u8]>,
        data: &'a [u8],
        flags: u8,
    },
    /// Damage: a page that could not be used, a bad node or link.
    Problem(Problem),
}

/// Walks the tree rooted at `root`, calling `visit` for each page, entry and problem.
pub fn walk<S: PageSource>(
    db: &Database<S>,
    root: u32,
    visit: impl FnMut(TreeEvent<'_>) -> ControlFlow<()>,
) {
    walk_cursor(TreeCursor::new(db, root), visit);
}

/// [`walk`], also reporting each page that breaks a rule ESE's seek relies on
/// (`seek_rules.rs`): a problem there means entries ESE itself cannot find.
pub fn walk_checking_seeks<S: PageSource>(
    db: &Database<S>,
    root: u32,
    visit: impl FnMut(TreeEvent<'_>) -> ControlFlow<()>,
) {
    walk_cursor(TreeCursor::new(db, root).checking_seeks(), visit);
}

fn walk_cursor<S: PageSource>(
    mut cursor: TreeCursor<'_, S>,
    mut visit: impl FnMut(TreeEvent<'_>) -> ControlFlow<()>,
) {
    while let Some(event) = cursor.next_event() {
        if visit(event).is_break() {
            return;
        }
    }
}

/// The walk as a cursor the caller pulls events from, so two trees can be read in lockstep.
/// It holds one page per level of the tree (the path from the root to the current page).
pub struct TreeCursor<'db, S> {
    db: &'db Database<S>,
    seen: PageSet,
    path: Vec<Frame>,
    /// A child page to enter before going on with the page above it.
    pending: Option<(u32, usize, KeyRange)>,
    /// Whether pages are checked against ESE's seek rules; then whether the tree's keys may
    /// repeat, once its root is read.
    seek_rules: Option<bool>,
}

/// A leaf entry that is not deleted.
pub struct LiveEntry<'a> {
    pub key: Cow<'a, [u8]>,
    pub data: &'a [u8],
}

struct Frame {
    page: Page,
    depth: usize,
    /// Whether the `Page` event was given out yet.
    announced: bool,
    next_tag: usize,
    /// The keys a seek sends to this page (filled only when checking seeks).
    range: KeyRange,
}

/// Where the cursor moved, decided before any event borrows a page.
enum Step {
    Problem(Problem),
    Announce,
    Entry { index: usize, deleted: bool },
}

impl<'db, S: PageSource> TreeCursor<'db, S> {
    pub fn new(db: &'db Database<S>, root: u32) -> TreeCursor<'db, S> {
        TreeCursor {
            db,
            seen: PageSet::new(db.page_count()),
            path: Vec::new(),
            pending: Some((root, 0, KeyRange::default())),
            seek_rules: None,
        }
    }

    /// Also reports, as a problem, each page that breaks a rule ESE's seek relies on.
    pub fn checking_seeks(mut self) -> Self {
        self.seek_rules = Some(false);
        self
    }

    /// The next page, entry or problem in key order; `None` when the tree is done.
    pub fn next_event(&mut self) -> Option<TreeEvent<'_>> {
        match self.step()? {
            Step::Problem(problem) => Some(TreeEvent::Problem(problem)),
            Step::Announce => {
                let frame = self.path.last()?;
                Some(TreeEvent::Page {
                    page: &frame.page,
                    depth: frame.depth,
                })
            }
            Step::Entry { index, .. } => {
                let (page, key, node) = self.entry(index)?;
                Some(TreeEvent::Entry {
                    page,
                    key,
                    data: node.data,
                    flags: node.flags,
                })
            }
        }
    }

    /// The next live (not deleted) leaf entry, or the next problem.
    pub fn next_live_entry(&mut self) -> Option<Result<LiveEntry<'_>, Problem>> {
        self.next_live(None)
    }

    /// [`next_live_entry`](Self::next_live_entry), showing `watch` every event on the way
    /// there: pages, deleted entries, the live entry itself and any problem.
    pub fn next_live_entry_watched(
        &mut self,
        watch: &mut impl FnMut(&TreeEvent<'_>),
    ) -> Option<Result<LiveEntry<'_>, Problem>> {
        self.next_live(Some(watch))
    }

    /// Events are built only for a watch: an unwatched walk decodes each live entry once.
    fn next_live(
        &mut self,
        mut watch: Option<&mut dyn FnMut(&TreeEvent<'_>)>,
    ) -> Option<Result<LiveEntry<'_>, Problem>> {
        let index = loop {
            let step = self.step()?;
            if let Some(watch) = watch.as_mut() {
                match &step {
                    Step::Problem(problem) => watch(&TreeEvent::Problem(problem.clone())),
                    Step::Announce => {
                        let frame = self.path.last()?;
                        watch(&TreeEvent::Page {
                            page: &frame.page,
                            depth: frame.depth,
                        });
                    }
                    Step::Entry { index, .. } => {
                        let (page, key, node) = self.entry(*index)?;
                        watch(&TreeEvent::Entry {
                            page,
                            key,
                            data: node.data,
                            flags: node.flags,
                        });
                    }
                }
            }
            match step {
                Step::Problem(problem) => return Some(Err(problem)),
                Step::Entry {
                    index,
                    deleted: false,
                } => break index,
                Step::Announce | Step::Entry { .. } => {}
            }
        };
        let (_, key, node) = self.entry(index)?;
        Some(Ok(LiveEntry {
            key,
            data: node.data,
        }))
    }

    /// The current leaf page, and the key and node of its tag `index`.
    fn entry(&self, index: usize) -> Option<(&Page, Cow<'_, [u8]>, Node<'_>)> {
        let page = &self.path.last()?.page;
        let node = page.node(index).ok()?;
        Some((page, node.full_key(page.external_header()), node))
    }

    /// Moves on by one page, entry or problem (branch nodes are followed, not reported).
    fn step(&mut self) -> Option<Step> {
        loop {
            if let Some((number, depth, range)) = self.pending.take() {
                if let Some(problem) = self.enter(number, depth, range) {
                    return Some(Step::Problem(problem));
                }
                continue;
            }
            let frame = self.path.last_mut()?;
            if !frame.announced {
                frame.announced = true;
                return Some(Step::Announce);
            }
            let index = frame.next_tag;
            if index >= frame.page.tag_count() {
                self.path.pop();
                continue;
            }
            frame.next_tag += 1;
            let number = frame.page.number;
            let node = match frame.page.node(index) {
                Ok(node) => node,
                Err(error) => return Some(Step::Problem(self.problem(number, error.to_string()))),
            };
            if frame.page.header.is(FLAG_LEAF) {
                let deleted = node.is_deleted();
                return Some(Step::Entry { index, deleted });
            }
            match le_u32(node.data, 0) {
                Some(child) => {
                    let range = match self.seek_rules {
                        Some(_) => seek_rules::child_range(&frame.page, index, &frame.range),
                        None => KeyRange::default(),
                    };
                    self.pending = Some((child, frame.depth + 1, range));
                }
                None => {
                    let message = format!("branch node {index} has no child page number");
                    return Some(Step::Problem(self.problem(number, message)));
                }
            }
        }
    }

    /// Reads page `number` onto the path; the problem that stops it or comes with it.
    fn enter(&mut self, number: u32, depth: usize, range: KeyRange) -> Option<Problem> {
        let db = self.db;
        if depth > MAX_DEPTH {
            let message = format!("tree deeper than {MAX_DEPTH} levels (cycle?)");
            return Some(self.problem(number, message));
        }
        if number == 0 || number > db.page_count() {
            let message = format!("child link beyond the file (pages 1-{})", db.page_count());
            return Some(self.problem(number, message));
        }
        if !self.seen.insert(number) {
            return Some(self.problem(number, "reached twice in one tree (cyclic link)".into()));
        }
        let read = db.read_page(number);
        let mut broken_rule = None;
        if let Some(page) = read.page {
            if let Some(non_unique) = &mut self.seek_rules {
                if depth == 0 {
                    *non_unique = page.header.is(FLAG_NON_UNIQUE);
                }
                broken_rule = seek_rules::page_problem(&page, &range, *non_unique)
                    .map(|message| self.problem(number, message));
            }
            self.path.push(Frame {
                page,
                depth,
                announced: false,
                next_tag: 1,
                range,
            });
        }
        read.problem.or(broken_rule)
    }

    fn problem(&self, number: u32, message: String) -> Problem {
        Problem::at_offset(
            self.db.page_offset(number),
            format!("page {number}: {message}"),
        )
    }
}

/// Pages already visited: one bit per page of the file (a 100 GiB database of 4 KiB pages
/// needs 3 MiB), so cycles are caught without memory growing with the walk.
pub struct PageSet {
    bits: Vec<u64>,
}

impl PageSet {
    pub fn new(page_count: u32) -> PageSet {
        PageSet {
            bits: vec![0; page_count as usize / 64 + 1],
        }
    }

    pub fn contains(&self, page: u32) -> bool {
        let (word, bit) = (page as usize / 64, page % 64);
        self.bits.get(word).is_some_and(|w| w >> bit & 1 == 1)
    }

    /// Marks `page`; false when it was marked already (pages beyond the file count as seen).
    pub fn insert(&mut self, page: u32) -> bool {
        let (word, bit) = (page as usize / 64, page % 64);
        match self.bits.get_mut(word) {
            Some(w) if *w >> bit & 1 == 0 => {
                *w |= 1 << bit;
                true
            }
            _ => false,
        }
    }
}

/// Calls `visit` with the live leaf entries from the first one whose key is at least `key`
/// (or slightly before it), in key order, following sibling links, until `visit` breaks.
/// Used for point lookups (long values); separators are compared so that an equal key may
/// land one leaf early, which the forward scan makes harmless.
pub fn seek<S: PageSource>(
    db: &Database<S>,
    root: u32,
    key: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
) -> Result<(), Problem> {
    let mut number = root;
    let mut seen = HashSet::new();
    loop {
        let page = checked_page(db, number, &mut seen)?;
        if page.header.is(FLAG_LEAF) {
            return scan_leaves(db, page, key, &mut seen, &mut visit);
        }
        let prefix = page.external_header();
        let mut child = None;
        for index in 1..page.tag_count() {
            let Ok(node) = page.node(index) else { continue };
            let separator = node.key(prefix);
            child = le_u32(node.data, 0).or(child);
            if separator.is_empty() || key <= separator.as_slice() {
                break;
            }
        }
        number = child.ok_or_else(|| {
            Problem::at_offset(
                db.page_offset(number),
                format!("page {number}: branch page without children"),
            )
        })?;
    }
}

fn scan_leaves<S: PageSource>(
    db: &Database<S>,
    mut page: Page,
    key: &[u8],
    seen: &mut HashSet<u32>,
    visit: &mut impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
) -> Result<(), Problem> {
    loop {
        let prefix = page.external_header();
        for index in 1..page.tag_count() {
            let Ok(node) = page.node(index) else { continue };
            let node_key = node.key(prefix);
            if node.is_deleted() || node_key.as_slice() < key {
                continue;
            }
            if visit(&node_key, node.data).is_break() {
                return Ok(());
            }
        }
        let next = page.header.next;
        if next == 0 {
            return Ok(());
        }
        page = checked_page(db, next, seen)?;
    }
}

fn checked_page<S: PageSource>(
    db: &Database<S>,
    number: u32,
    seen: &mut HashSet<u32>,
) -> Result<Page, Problem> {
    let offset = db.page_offset(number);
    if !seen.insert(number) || seen.len() > 1 << 20 {
        return Err(Problem::at_offset(
            offset,
            format!("page {number}: reached twice (cyclic link)"),
        ));
    }
    if number == 0 || number > db.page_count() {
        return Err(Problem::at_offset(
            offset,
            format!("page {number}: link beyond the file"),
        ));
    }
    let read = db.read_page(number);
    read.page.ok_or_else(|| {
        read.problem
            .unwrap_or_else(|| Problem::at_offset(offset, format!("page {number}: unreadable")))
    })
}
