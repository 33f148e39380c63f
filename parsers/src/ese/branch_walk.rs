//! A tree's walk by its branch pages alone, its leaves taken as read earlier: the defrag's
//! comparison reads each leaf of a new tree as soon as it is written (in the order the leaf
//! links chain them), long before the branch pages above exist, and keeps of each only what
//! the checks need ([`LeafChain`]). Once the tree is complete, the branch pages are read
//! from the root down, each child range worked out as [`TreeCursor::checking_seeks`] does,
//! and every leaf checked against its range by its ends. That is the same proof as a full
//! walk checking seeks (the entries of a leaf ascend, so when its ends lie in the range, all
//! of them do), with one read of each leaf instead of two.
//!
//! [`TreeCursor::checking_seeks`]: super::btree::TreeCursor::checking_seeks

use super::btree::{PageSet, TreeEvent, MAX_DEPTH};
use super::check::TreeWatch;
use super::database::Database;
use super::le_u32;
use super::leaf_chain::LeafChain;
use super::page::{FLAG_LEAF, FLAG_NON_UNIQUE};
use super::seek_rules::{self, KeyRange};
use super::PageSource;

/// The [`TreeWatch`] of the tree at `root` (named `name` in findings), its leaves `leaves`
/// as read along their links, when everything holds: ESE's seek rules, the leaves
/// reached from the root exactly those, in that order, and every check of the watch. `None`
/// as soon as something does not: the caller then walks the tree in full, which says what.
pub fn watch_from_leaves<S: PageSource>(
    db: &Database<S>,
    name: String,
    root: u32,
    leaves: &LeafChain,
) -> Option<TreeWatch> {
    if !leaves.usable() {
        return None;
    }
    let mut walk = BranchWalk {
        db,
        leaves,
        next_leaf: 0,
        seen: PageSet::new(db.page_count()),
        non_unique: false,
        watch: TreeWatch::new(db, name, root),
    };
    walk.enter(root, 0, KeyRange::default())?;
    let watch = walk.watch.finish();
    (walk.next_leaf == leaves.len() && watch.is_clean()).then_some(watch)
}

struct BranchWalk<'a, S> {
    db: &'a Database<S>,
    leaves: &'a LeafChain,
    /// The leaf the walk reaches next, if the tree is sound.
    next_leaf: usize,
    /// Branch pages entered (a cycle stops the walk).
    seen: PageSet,
    /// The root's flag: a seek then looks for key and data.
    non_unique: bool,
    watch: TreeWatch,
}

impl<S: PageSource> BranchWalk<'_, S> {
    /// Enters page `number` at `depth`, through the lines that give it `range`.
    fn enter(&mut self, number: u32, depth: usize, range: KeyRange) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        if let Some(leaf) = self
            .leaves
            .leaf(self.next_leaf)
            .filter(|l| l.number == number)
        {
            if depth == 0 {
                self.non_unique = leaf.header.is(FLAG_NON_UNIQUE);
            }
            if seek_rules::leaf_summary_problem(&leaf, &range, self.non_unique).is_some() {
                return None;
            }
            self.watch.see_leaf(&leaf, depth);
            self.next_leaf += 1;
            return Some(());
        }
        // Any other page must be a branch page: a leaf the chain did not list (or lists
        // elsewhere) is not where the leaves say.
        if !self.seen.insert(number) {
            return None;
        }
        let read = self.db.read_page(number);
        let page = read.page.filter(|_| read.problem.is_none())?;
        if page.header.is(FLAG_LEAF) {
            return None;
        }
        if depth == 0 {
            self.non_unique = page.header.is(FLAG_NON_UNIQUE);
        }
        if seek_rules::page_problem(&page, &range, self.non_unique).is_some() {
            return None;
        }
        self.watch.see(&TreeEvent::Page { page: &page, depth });
        for index in 1..page.tag_count() {
            let child = le_u32(page.node(index).ok()?.data, 0)?;
            let child_range = seek_rules::child_range(&page, index, &range);
            self.enter(child, depth + 1, child_range)?;
        }
        Some(())
    }
}
