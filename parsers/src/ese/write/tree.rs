//! Bulk-loading one B-tree from entries given in key order: leaves are packed full, each level
//! above holds a separator and a child page number per page below, and the page left alone at
//! the top becomes the root at the number chosen for it. Pages go to the sink as soon as they
//! are full, so memory holds one page per level whatever the tree's size.

use super::page::{PageBuilder, PageFormat, PageRole, SPACE_HEADER_SIZE};
use crate::ese::page::{FLAG_LEAF, FLAG_PARENT, FLAG_ROOT};

/// Where finished pages go: `(page number, page bytes)`.
pub type Sink<'a> = dyn FnMut(u32, Vec<u8>) -> Result<(), String> + 'a;
/// Hands out the page numbers for pages that are not the root.
pub type Allocator<'a> = dyn FnMut() -> Result<u32, String> + 'a;

/// One level of the tree under construction (0 = leaves).
struct Level {
    page: PageBuilder,
    /// The open page's number; `None` while it is the level's first page (it may be the root).
    number: Option<u32>,
    previous: u32,
    first_key: Vec<u8>,
    last_key: Vec<u8>,
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
            levels: Vec::new(),
            pages: 0,
            entries: 0,
        }
    }

    /// Adds a leaf entry; keys must come in ascending order (the caller's reader gives them so).
    pub fn add(
        &mut self,
        key: &[u8],
        data: &[u8],
        allocate: &mut Allocator<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<(), String> {
        let node = self.format.encode_node(key, data)?;
        self.entries += 1;
        self.add_node(0, key, node, allocate, sink)
    }

    fn add_node(
        &mut self,
        depth: usize,
        key: &[u8],
        node: Vec<u8>,
        allocate: &mut Allocator<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<(), String> {
        if self.levels.len() == depth {
            self.levels.push(Level {
                page: PageBuilder::new(self.format),
                number: None,
                previous: 0,
                first_key: key.to_vec(),
                last_key: Vec::new(),
                pages_done: 0,
            });
        }
        let level = &mut self.levels[depth];
        if !level.page.is_empty() && !level.page.fits(node.len()) {
            let left = level.number.map_or_else(&mut *allocate, Ok)?;
            let right = allocate()?;
            let separator = separator(&level.last_key, key);
            self.close_page(depth, left, right, sink)?;
            let level = &mut self.levels[depth];
            level.page = PageBuilder::new(self.format);
            level.number = Some(right);
            level.previous = left;
            level.first_key = key.to_vec();
            level.pages_done += 1;
            let parent_node = self.format.encode_node(&separator, &left.to_le_bytes())?;
            self.add_node(depth + 1, &separator, parent_node, allocate, sink)?;
        }
        let level = &mut self.levels[depth];
        level.page.push(node);
        level.last_key = key.to_vec();
        Ok(())
    }

    fn close_page(
        &mut self,
        depth: usize,
        number: u32,
        next: u32,
        sink: &mut Sink<'_>,
    ) -> Result<(), String> {
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

    /// Writes the pages still open, the root last, with `space_header` in the root's tag 0.
    pub fn finish(
        mut self,
        space_header: &[u8; SPACE_HEADER_SIZE],
        allocate: &mut Allocator<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<BuiltTree, String> {
        let mut depth = 0;
        loop {
            let Some(level) = self.levels.get(depth) else {
                // No entry at all: the root is an empty leaf.
                let role = self.root_role(FLAG_LEAF);
                self.pages += 1;
                sink(
                    self.root,
                    PageBuilder::new(self.format).finish(role, space_header),
                )?;
                break;
            };
            if level.pages_done == 0 {
                let role = self.root_role(level_flags(depth));
                self.pages += 1;
                sink(self.root, level.page.finish(role, space_header))?;
                break;
            }
            let number = level.number.map_or_else(&mut *allocate, Ok)?;
            // The last page of a level: its separator is empty (greater than any key).
            self.close_page(depth, number, 0, sink)?;
            let parent_node = self.format.encode_node(&[], &number.to_le_bytes())?;
            self.add_node(depth + 1, &[], parent_node, allocate, sink)?;
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

/// The shortest prefix of `right` that sorts after `left` (`left < right`), as ESE chooses
/// separators: every key of the left page is below it, the right page's first key is not.
fn separator(left: &[u8], right: &[u8]) -> Vec<u8> {
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    right[..(common + 1).min(right.len())].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::btree::{self, TreeEvent};
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

    /// Builds a tree into an in-memory file behind a header copied from a corpus-like header
    /// page, and reads its entries back with the reader's tree walk.
    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    fn build_and_walk(count: u32, data_len: usize) -> (BuiltTree, Entries, u32) {
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
        let mut builder = TreeBuilder::new(format(), 9, 0, 10);
        for i in 0..count {
            let key = format!("key{i:06}");
            builder
                .add(
                    key.as_bytes(),
                    &vec![i as u8; data_len],
                    &mut allocate,
                    &mut sink,
                )
                .unwrap();
        }
        let built = builder.finish(&[0; 16], &mut allocate, &mut sink).unwrap();
        let last_page = *pages.keys().last().unwrap();
        let mut file = header_page();
        file.resize((last_page as usize + 2) * 4096, 0);
        for (number, bytes) in &pages {
            let at = (*number as usize + 1) * 4096;
            file[at..at + 4096].copy_from_slice(bytes);
        }
        let db = Database::open(file).unwrap();
        let mut entries = Vec::new();
        let mut depth = 0;
        btree::walk(&db, built.root, |event| {
            match event {
                TreeEvent::Entry { key, data, .. } => entries.push((key, data.to_vec())),
                TreeEvent::Page { depth: d, .. } => depth = depth.max(d as u32),
                TreeEvent::Problem(p) => panic!("{p:?}"),
            }
            ControlFlow::Continue(())
        });
        (built, entries, depth)
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
            let (built, entries, walked_depth) = build_and_walk(count, data_len);
            assert_eq!(built.entries, u64::from(count));
            assert_eq!(entries.len(), count as usize);
            assert_eq!(walked_depth, depth, "{count} entries");
            for (i, (key, data)) in entries.iter().enumerate() {
                assert_eq!(key, format!("key{i:06}").as_bytes());
                assert_eq!(data, &vec![i as u8; data_len]);
            }
        }
    }

    #[test]
    fn separators_are_the_shortest_distinguishing_prefix() {
        assert_eq!(separator(b"abc", b"abd"), b"abd");
        assert_eq!(separator(b"ab", b"abc"), b"abc");
        assert_eq!(separator(b"a", b"bcd"), b"b");
    }
}
