//! B+-trees: every table, index, long-value store and space tree is one, rooted at its
//! "father data page" (FDP). Branch nodes hold a separator key and a 4-byte child page number;
//! leaf nodes hold the records.
//!
//! The walk goes down from the root through the branch pages (not along the leaf sibling
//! links), so a damaged leaf costs only its own records. Cycles and absurd depths stop it.

use super::database::Database;
use super::le_u32;
use super::page::{Page, FLAG_LEAF};
use super::PageSource;
use crate::Problem;
use std::collections::HashSet;
use std::ops::ControlFlow;

/// No real tree is deeper; a deeper walk means a cycle or damage.
const MAX_DEPTH: usize = 32;

/// What a walk reports, in key order.
pub enum TreeEvent<'a> {
    /// A page was entered (before its entries), with its depth (root = 0).
    Page { page: &'a Page, depth: usize },
    /// A leaf node (deleted nodes included: check `flags`).
    Entry {
        page: &'a Page,
        key: Vec<u8>,
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
    mut visit: impl FnMut(TreeEvent<'_>) -> ControlFlow<()>,
) {
    let mut seen = PageSet::new(db.page_count());
    let _ = walk_page(db, root, 0, &mut seen, &mut visit);
}

fn walk_page<S: PageSource>(
    db: &Database<S>,
    number: u32,
    depth: usize,
    seen: &mut PageSet,
    visit: &mut impl FnMut(TreeEvent<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let offset = db.page_offset(number);
    if depth > MAX_DEPTH {
        return visit(TreeEvent::Problem(Problem::at_offset(
            offset,
            format!("page {number}: tree deeper than {MAX_DEPTH} levels (cycle?)"),
        )));
    }
    if number == 0 || number > db.page_count() {
        return visit(TreeEvent::Problem(Problem::at_offset(
            offset,
            format!(
                "page {number}: child link beyond the file (pages 1-{})",
                db.page_count()
            ),
        )));
    }
    if !seen.insert(number) {
        return visit(TreeEvent::Problem(Problem::at_offset(
            offset,
            format!("page {number}: reached twice in one tree (cyclic link)"),
        )));
    }
    let read = db.read_page(number);
    if let Some(problem) = read.problem {
        visit(TreeEvent::Problem(problem))?;
    }
    let Some(page) = read.page else {
        return ControlFlow::Continue(());
    };
    visit(TreeEvent::Page { page: &page, depth })?;
    let prefix = page.external_header();
    let is_leaf = page.header.is(FLAG_LEAF);
    for index in 1..page.tag_count() {
        let node = match page.node(index) {
            Ok(node) => node,
            Err(message) => {
                visit(TreeEvent::Problem(Problem::at_offset(
                    offset,
                    format!("page {number}: {message}"),
                )))?;
                continue;
            }
        };
        if is_leaf {
            visit(TreeEvent::Entry {
                page: &page,
                key: node.key(prefix),
                data: node.data,
                flags: node.flags,
            })?;
        } else if let Some(child) = le_u32(node.data, 0) {
            walk_page(db, child, depth + 1, seen, visit)?;
        } else {
            visit(TreeEvent::Problem(Problem::at_offset(
                offset,
                format!("page {number}: branch node {index} has no child page number"),
            )))?;
        }
    }
    ControlFlow::Continue(())
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
