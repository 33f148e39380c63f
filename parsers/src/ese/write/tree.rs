//! Bulk-loading one B-tree from entries given in key order: leaves are packed full, each level
//! above holds a separator and a child page number per page below, and the page left alone at
//! the top becomes the root at the number chosen for it. Pages go to the sink as soon as they
//! are full, so memory holds one page per level whatever the tree's size.
//!
//! The keys above the leaves follow ESE's split (docs/defrag.md, "Branch keys"): between two
//! leaves the shortest key above the left page's last entry and not above the right page's
//! first; above a branch page that page's own last key, unchanged; the last page of each level
//! is reached through an empty key, which only ever ends a page.

use super::error::WriteError;
use super::page::{PageBuilder, PageFormat, PageRole, SPACE_HEADER_SIZE};
use crate::ese::page::{FLAG_LEAF, FLAG_NON_UNIQUE, FLAG_PARENT, FLAG_ROOT};

/// Where finished pages go: `(page number, page bytes)`.
pub type Sink<'a> = dyn FnMut(u32, Vec<u8>) -> Result<(), WriteError> + 'a;
/// Hands out the page numbers for pages that are not the root.
pub type Allocator<'a> = dyn FnMut() -> Result<u32, WriteError> + 'a;

/// One level of the tree under construction (0 = leaves).
struct Level {
    page: PageBuilder,
    /// The open page's number; `None` while it is the level's first page (it may be the root).
    number: Option<u32>,
    previous: u32,
    last_key: Vec<u8>,
    /// The last entry's data, kept on the leaf level of a non-unique tree only: equal keys
    /// are told apart by their data there.
    last_data: Vec<u8>,
    pages_done: u32,
}

/// What a finished tree occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltTree {
    pub root: u32,
    /// Pages written, root included.
    pub pages: u32,
    /// Leaf entries written.
    pub entries: u64,
}

pub struct TreeBuilder {
    format: PageFormat,
    object_id: u32,
    /// Flags of every page of this tree (index, long-value, space-tree, non-unique keys).
    tree_flags: u32,
    root: u32,
    /// Bytes of the root's external header, kept free on every page until the root is known.
    root_header: usize,
    levels: Vec<Level>,
    pages: u32,
    entries: u64,
}

impl TreeBuilder {
    /// A tree whose root will be page `root`.
    pub fn new(format: PageFormat, object_id: u32, tree_flags: u32, root: u32) -> TreeBuilder {
        TreeBuilder {
            format,
            object_id,
            tree_flags,
            root,
            root_header: SPACE_HEADER_SIZE,
            levels: Vec::new(),
            pages: 0,
            entries: 0,
        }
    }

    /// Keeps room for a root external header of `size` bytes instead of the plain space header.
    pub fn with_root_header_size(mut self, size: usize) -> TreeBuilder {
        self.root_header = size.max(SPACE_HEADER_SIZE);
        self
    }

    fn non_unique(&self) -> bool {
        self.tree_flags & FLAG_NON_UNIQUE != 0
    }

    /// Adds a leaf entry; entries must come in the tree's order (key, then data in a
    /// non-unique tree), as the caller's reader gives them.
    pub fn add(
        &mut self,
        key: &[u8],
        data: &[u8],
        allocate: &mut Allocator<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<(), WriteError> {
        let node = self.format.encode_node(key, data)?;
        self.entries += 1;
        self.add_node(0, key, data, node, allocate, sink)
    }

    fn add_node(
        &mut self,
        depth: usize,
        key: &[u8],
        data: &[u8],
        node: Vec<u8>,
        allocate: &mut Allocator<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<(), WriteError> {
        if self.levels.len() == depth {
            self.levels.push(Level {
                page: PageBuilder::with_root_header(self.format, self.root_header),
                number: None,
                previous: 0,
                last_key: Vec::new(),
                last_data: Vec::new(),
                pages_done: 0,
            });
        }
        let keep_data = depth == 0 && self.non_unique();
        let level = &mut self.levels[depth];
        if !level.page.fits(node.len()) {
            if level.page.is_empty() {
                return Err(WriteError::layout(format!(
                    "node of {} bytes does not fit a page beside a {}-byte root header",
                    node.len(),
                    self.root_header
                )));
            }
            let left = level.number.map_or_else(&mut *allocate, Ok)?;
            let right = allocate()?;
            let parent_key = if depth == 0 {
                leaf_separator(&level.last_key, &level.last_data, key, data)
            } else {
                std::mem::take(&mut level.last_key)
            };
            self.close_page(depth, left, right, sink)?;
            let level = &mut self.levels[depth];
            level.page = PageBuilder::with_root_header(self.format, self.root_header);
            level.number = Some(right);
            level.previous = left;
            level.pages_done += 1;
            let child = left.to_le_bytes();
            let parent_node = self.format.encode_node(&parent_key, &child)?;
            self.add_node(depth + 1, &parent_key, &child, parent_node, allocate, sink)?;
        }
        let level = &mut self.levels[depth];
        level.page.push(node);
        level.last_key.clear();
        level.last_key.extend_from_slice(key);
        if keep_data {
            level.last_data.clear();
            level.last_data.extend_from_slice(data);
        }
        Ok(())
    }

    fn close_page(
        &mut self,
        depth: usize,
        number: u32,
        next: u32,
        sink: &mut Sink<'_>,
    ) -> Result<(), WriteError> {
        let level = &self.levels[depth];
        let is_leaf = depth == 0;
        let links = if is_leaf {
            (level.previous, next)
        } else {
            (0, 0)
        };
        let role = PageRole {
            number,
            object_id: self.object_id,
            flags: self.tree_flags | level_flags(depth),
            previous: links.0,
            next: links.1,
        };
        self.pages += 1;
        sink(number, level.page.finish(role, &[]))
    }

    /// Writes the pages still open, the root last, with `root_header` (the space header, or
    /// the newer external header holding it) in the root's tag 0.
    pub fn finish(
        mut self,
        root_header: &[u8],
        allocate: &mut Allocator<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<BuiltTree, WriteError> {
        if root_header.len() > self.root_header {
            return Err(WriteError::layout(format!(
                "root header of {} bytes, {} kept free",
                root_header.len(),
                self.root_header
            )));
        }
        let mut depth = 0;
        loop {
            let Some(level) = self.levels.get(depth) else {
                // No entry at all: the root is an empty leaf.
                let role = self.root_role(FLAG_LEAF);
                self.pages += 1;
                sink(
                    self.root,
                    PageBuilder::new(self.format).finish(role, root_header),
                )?;
                break;
            };
            if level.pages_done == 0 {
                let role = self.root_role(level_flags(depth));
                self.pages += 1;
                sink(self.root, level.page.finish(role, root_header))?;
                break;
            }
            let number = level.number.map_or_else(&mut *allocate, Ok)?;
            // The last page of a level is reached through an empty key (above any key), the
            // last line of its parent.
            self.close_page(depth, number, 0, sink)?;
            let child = number.to_le_bytes();
            let parent_node = self.format.encode_node(&[], &child)?;
            self.add_node(depth + 1, &[], &child, parent_node, allocate, sink)?;
            depth += 1;
        }
        Ok(BuiltTree {
            root: self.root,
            pages: self.pages,
            entries: self.entries,
        })
    }

    fn root_role(&self, flags: u32) -> PageRole {
        PageRole {
            number: self.root,
            object_id: self.object_id,
            flags: self.tree_flags | flags | FLAG_ROOT,
            previous: 0,
            next: 0,
        }
    }
}

/// Leaves are leaves; the level above them is "parent of leaf"; higher levels carry neither.
fn level_flags(depth: usize) -> u32 {
    match depth {
        0 => FLAG_LEAF,
        1 => FLAG_PARENT,
        _ => 0,
    }
}

/// The key above two leaves, as ESE computes it at a leaf split: the right entry's key up to
/// and including the first byte that differs from the left entry's key. When the keys are
/// equal (only in a non-unique tree), the key, then the right entry's data up to and including
/// its first byte that differs from the left entry's data: seeks compare a branch key with an
/// entry's key followed by its data.
fn leaf_separator(
    left_key: &[u8],
    left_data: &[u8],
    right_key: &[u8],
    right_data: &[u8],
) -> Vec<u8> {
    if left_key == right_key {
        let mut key = right_key.to_vec();
        key.extend_from_slice(
            &right_data[..(common_prefix(left_data, right_data) + 1).min(right_data.len())],
        );
        return key;
    }
    right_key[..(common_prefix(left_key, right_key) + 1).min(right_key.len())].to_vec()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::branch_walk::watch_from_leaves;
    use crate::ese::btree::{self, TreeEvent};
    use crate::ese::check::TreeWatch;
    use crate::ese::leaf_chain::LeafChain;
    use crate::ese::Database;
    use std::collections::BTreeMap;
    use std::ops::ControlFlow;

    fn format() -> PageFormat {
        PageFormat {
            page_size: 4096,
            ecc: true,
            common_flags: 0,
            db_time: 1,
        }
    }

    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    /// Builds a tree of `entries` (in order) into an in-memory file behind a fresh header,
    /// and reads them back with the walk that checks every page against ESE's seek rules
    /// (any broken rule fails the test); returns the entries read and the leaves' depth.
    fn build_and_walk(entries: &Entries, tree_flags: u32) -> (BuiltTree, Entries, u32) {
        let (built, file) = build(entries, tree_flags);
        let db = Database::open(file).unwrap();
        let mut read = Vec::new();
        let mut depth = 0;
        let mut watch = TreeWatch::new(&db, "t".into(), built.root);
        btree::walk_checking_seeks(&db, built.root, |event| {
            watch.see(&event);
            match event {
                TreeEvent::Entry { key, data, .. } => read.push((key.into_owned(), data.to_vec())),
                TreeEvent::Page { depth: d, .. } => depth = depth.max(d as u32),
                TreeEvent::Problem(p) => panic!("{} entries: {p:?}", entries.len()),
            }
            ControlFlow::Continue(())
        });
        // The walk by the branch pages over the leaves read along their links (the defrag's
        // comparison) proves the same, and sees the same.
        let chain = leaf_chain(&db, built.root);
        let by_branches = watch_from_leaves(&db, "t".into(), built.root, &chain);
        let by_branches = by_branches.unwrap_or_else(|| panic!("{} entries", entries.len()));
        assert_eq!(format!("{by_branches:?}"), format!("{:?}", watch.finish()));
        (built, read, depth)
    }

    /// Builds a tree of `entries` (in order) into an in-memory file behind a fresh header.
    fn build(entries: &Entries, tree_flags: u32) -> (BuiltTree, Vec<u8>) {
        let mut pages: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        let mut next_free = 11u32;
        let mut allocate = || {
            next_free += 1;
            Ok(next_free - 1)
        };
        let mut sink = |number: u32, bytes: Vec<u8>| {
            assert!(pages.insert(number, bytes).is_none(), "page {number} twice");
            Ok(())
        };
        let mut builder = TreeBuilder::new(format(), 9, tree_flags, 10);
        for (key, data) in entries {
            builder.add(key, data, &mut allocate, &mut sink).unwrap();
        }
        let built = builder.finish(&[0; 16], &mut allocate, &mut sink).unwrap();
        let last_page = *pages.keys().last().unwrap();
        let mut file = header_page();
        file.resize((last_page as usize + 2) * 4096, 0);
        for (number, bytes) in &pages {
            let at = (*number as usize + 1) * 4096;
            file[at..at + 4096].copy_from_slice(bytes);
        }
        (built, file)
    }

    /// The leaves of the tree at `root` read along their links, from the first one.
    fn leaf_chain(db: &Database<Vec<u8>>, root: u32) -> LeafChain {
        let mut number = root;
        let mut page = db.read_page(number).page.unwrap();
        while !page.header.is(FLAG_LEAF) {
            number = crate::ese::le_u32(page.node(1).unwrap().data, 0).unwrap();
            page = db.read_page(number).page.unwrap();
        }
        let mut chain = LeafChain::new(usize::MAX);
        loop {
            assert!(chain.read_leaf(&page, |_, _, _| true).unwrap());
            if page.header.next == 0 {
                return chain;
            }
            page = db.read_page(page.header.next).page.unwrap();
        }
    }

    fn numbered(count: u32, data_len: usize) -> Entries {
        (0..count)
            .map(|i| (format!("key{i:06}").into_bytes(), vec![i as u8; data_len]))
            .collect()
    }

    fn header_page() -> Vec<u8> {
        let mut source = vec![0u8; 4096];
        source[4..8].copy_from_slice(&crate::ese::header::MAGIC.to_le_bytes());
        source[236..240].copy_from_slice(&4096u32.to_le_bytes());
        let fresh = super::super::header::FreshHeader {
            db_time: 1,
            random: 1,
            now: [0; 8],
            last_object_id: 9,
            os_version: crate::ese::header::OsVersion {
                major: 5,
                minor: 0,
                build: 2195,
                service_pack: 4,
            },
        };
        super::super::header::fresh_header(&source, 4096, &fresh).unwrap()
    }

    #[test]
    fn entries_come_back_in_order_at_every_tree_size() {
        for (count, data_len, depth) in [(0, 0, 0), (1, 10, 0), (300, 100, 1), (20_000, 60, 2)] {
            let entries = numbered(count, data_len);
            let (built, read, walked_depth) = build_and_walk(&entries, 0);
            assert_eq!(built.entries, u64::from(count));
            assert_eq!(walked_depth, depth, "{count} entries");
            assert_eq!(read, entries);
        }
    }

    /// Sizes at and around the points where a level fills and a new one starts: the builder
    /// once put an empty key in the middle of a branch page there (33,589 keys of 40-byte data
    /// left 33,522 unreachable).
    #[test]
    fn every_entry_is_reachable_across_page_and_level_boundaries() {
        let entries: Entries = (0..33_700u32)
            .map(|i| (format!("k{i:07}").into_bytes(), vec![i as u8; 40]))
            .collect();
        let mut sizes: Vec<usize> = (1..=400).step_by(7).collect();
        sizes.extend([33_589, 33_700]);
        // Around each multiple of the leaf and branch fan-out (4 KiB pages).
        let (leaf_fanout, branch_fanout): (usize, usize) = (70, 290);
        for boundary in [leaf_fanout, leaf_fanout * branch_fanout] {
            for multiple in 1..=3 {
                let at = boundary * multiple;
                sizes.extend((at.saturating_sub(3)..=at + 3).filter(|&n| n <= entries.len()));
            }
        }
        for size in sizes {
            let (_, read, _) = build_and_walk(&entries[..size].to_vec(), 0);
            assert_eq!(read.len(), size);
        }
        let (_, _, depth) = build_and_walk(&entries[..33_589].to_vec(), 0);
        assert_eq!(depth, 2);
    }

    /// A non-unique index where one key holds 2,000 entries (told apart by their data, the
    /// primary key): the branch keys must carry data bytes, or seeks stop at the first page.
    #[test]
    fn equal_keys_across_pages_are_told_apart_by_their_data() {
        let mut entries: Entries = (0..2_000u32)
            .map(|i| (b"same key".to_vec(), format!("primary{i:08}").into_bytes()))
            .collect();
        entries.insert(0, (b"before".to_vec(), b"p".to_vec()));
        entries.push((b"zafter".to_vec(), b"p".to_vec()));
        let (_, read, depth) = build_and_walk(&entries, FLAG_NON_UNIQUE | 0x40);
        assert_eq!(read, entries);
        assert_eq!(depth, 1);
    }

    /// A branch key past the first key of the page on its right hides that key from a seek:
    /// the full walk finds the broken rule, and the walk by the branch pages declines the
    /// tree (the defrag then compares it in full, which says what).
    #[test]
    fn the_walk_by_branch_pages_declines_a_tree_a_seek_cannot_search() {
        let entries = numbered(300, 100);
        let (built, mut file) = build(&entries, 0);
        let db = Database::open(file.clone()).unwrap();
        let root = db.read_page(built.root).page.unwrap();
        assert!(!root.header.is(FLAG_LEAF));
        // The root's first line, the separator of the first two leaves ("key000035"), made
        // to sort after the second leaf's first key.
        let separator = root.node(1).unwrap().suffix;
        let at = separator.as_ptr() as usize - root.bytes().as_ptr() as usize;
        let page_start = (built.root as usize + 1) * 4096;
        file[page_start + at + separator.len() - 1] = 0xff;
        crate::ese::checksum::set_page_checksums(
            &mut file[page_start..page_start + 4096],
            built.root,
        );
        let db = Database::open(file).unwrap();
        let mut problems = Vec::new();
        btree::walk_checking_seeks(&db, built.root, |event| {
            if let TreeEvent::Problem(problem) = event {
                problems.push(problem.message);
            }
            ControlFlow::Continue(())
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("unreachable by a seek"),
            "{problems:?}"
        );
        let chain = leaf_chain(&db, built.root);
        assert!(chain.usable());
        assert!(watch_from_leaves(&db, "t".into(), built.root, &chain).is_none());
    }

    #[test]
    fn separators_are_the_shortest_distinguishing_prefix() {
        assert_eq!(leaf_separator(b"abc", b"", b"abd", b""), b"abd");
        assert_eq!(leaf_separator(b"ab", b"", b"abc", b""), b"abc");
        assert_eq!(leaf_separator(b"a", b"zz", b"bcd", b"aa"), b"b");
        // Equal keys: the key, then the data up to its first differing byte.
        assert_eq!(
            leaf_separator(b"k", b"\x01\x02\x03", b"k", b"\x01\x05\x00"),
            b"k\x01\x05"
        );
    }
}
