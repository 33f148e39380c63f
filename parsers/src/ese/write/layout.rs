//! Laying out a new file, shared by the defrag (trees copied from a source) and the database
//! writer (trees built from rows): page numbers, one tree written from its entries in key
//! order, and the space trees that say who owns which pages.
//!
//! Pages 1-3 (the database's own tree) and the catalog's fixed roots keep the numbers ESE
//! expects; everything else is laid out from the first page after them, one table with its
//! long values and indexes after another, so each tree owns one or two runs of pages. The
//! catalog fills the holes between its fixed roots first.

use super::error::WriteError;
use crate::ese::catalog::{DATABASE_OBJECT_ID, DATABASE_ROOT};
use crate::ese::checksum::set_page_checksums;
use crate::ese::page::{PageHeader, FLAG_LEAF, NODE_DELETED};
use crate::ese::space::{Extent, RootHeader};
use crate::ese::write::space::{space_header, space_tree_page};
use crate::ese::write::tree::Sink;
use crate::ese::write::{PageFormat, TreeBuilder};
use std::collections::BTreeSet;

pub struct PageAllocator {
    /// Unused pages below the first free one, handed to the catalog first (ascending).
    holes: Vec<u32>,
    next: u32,
}

impl PageAllocator {
    /// `fixed`: pages reserved up front (they and every page below the highest one are taken
    /// or become holes).
    pub fn new(fixed: &[u32]) -> PageAllocator {
        let top = fixed.iter().copied().max().unwrap_or(0);
        let holes = (1..=top).filter(|p| !fixed.contains(p)).collect();
        PageAllocator {
            holes,
            next: top + 1,
        }
    }

    /// The next page at the end of the file.
    pub fn next_page(&mut self) -> Result<u32, WriteError> {
        let page = self.next;
        self.next = self
            .next
            .checked_add(1)
            .ok_or_else(|| WriteError::layout("the database needs more than 2^32 pages"))?;
        Ok(page)
    }

    /// Three consecutive pages at the end (a root and its two space trees); the first.
    pub fn next_three(&mut self) -> Result<u32, WriteError> {
        let first = self.next_page()?;
        self.next_page()?;
        self.next_page()?;
        Ok(first)
    }

    /// A hole if one is left, else the next page at the end.
    pub fn hole_or_next(&mut self) -> Result<u32, WriteError> {
        if self.holes.is_empty() {
            self.next_page()
        } else {
            Ok(self.holes.remove(0))
        }
    }

    /// The last page handed out (the new file's page count).
    pub fn last_page(&self) -> u32 {
        self.next - 1
    }

    /// Holes nobody took: free pages of the database.
    pub fn unused_holes(&self) -> Vec<Extent> {
        coalesce(self.holes.iter().map(|&p| Extent { first: p, last: p }))
    }
}

/// The pages one tree (or a table with its trees) got, as runs.
#[derive(Debug, Default, Clone)]
pub struct Runs(Vec<Extent>);

impl Runs {
    pub fn add(&mut self, page: u32) {
        match self.0.last_mut() {
            Some(run) if run.last.checked_add(1) == Some(page) => run.last = page,
            _ => self.0.push(Extent {
                first: page,
                last: page,
            }),
        }
    }

    pub fn add_three(&mut self, first: u32) {
        for page in first..first + 3 {
            self.add(page);
        }
    }

    pub fn extend(&mut self, other: &Runs) {
        self.0.extend_from_slice(&other.0);
    }

    /// Sorted, with touching runs merged.
    pub fn extents(&self) -> Vec<Extent> {
        coalesce(self.0.iter().copied())
    }
}

/// Where one tree goes.
#[derive(Debug, Clone, Copy)]
pub struct TreePlace {
    pub object_id: u32,
    /// Page flags of every page of the tree (index, long value, non-unique keys).
    pub tree_flags: u32,
    /// The root; its owned- and available-extent pages follow it.
    pub root: u32,
    /// The root of the tree that owns this one's pages (the table, or the database).
    pub parent_root: u32,
    /// Whether pages come from the holes among the catalog's fixed roots first.
    pub use_holes: bool,
}

/// One tree being written from entries in key order; pages stream out through the sink.
pub struct TreeWriter {
    place: TreePlace,
    builder: TreeBuilder,
    runs: Runs,
    /// Keys of entries to leave in place marked deleted, as ESE does until cleanup runs;
    /// those of leaves already written are dropped, so this holds about a page's worth.
    deleted: BTreeSet<Vec<u8>>,
    /// The source root's external header, whose layout and auto-increment maximum the new
    /// root keeps (empty: the plain space header).
    source_root_header: Vec<u8>,
}

impl TreeWriter {
    pub fn new(format: PageFormat, place: TreePlace) -> TreeWriter {
        let mut runs = Runs::default();
        runs.add_three(place.root);
        TreeWriter {
            place,
            builder: TreeBuilder::new(format, place.object_id, place.tree_flags, place.root),
            runs,
            deleted: BTreeSet::new(),
            source_root_header: Vec::new(),
        }
    }

    /// Keeps the layout of the source root's external header `tag0` and the fields besides
    /// the space header it holds (the table's cached auto-increment maximum).
    pub fn keeping_root_header(mut self, tag0: &[u8]) -> TreeWriter {
        let size = RootHeader::parse(tag0).with_space(&[0; 16]).len();
        self.builder = self.builder.with_root_header_size(size);
        self.source_root_header = tag0.to_vec();
        self
    }

    pub fn add(
        &mut self,
        key: &[u8],
        data: &[u8],
        pages: &mut PageAllocator,
        sink: &mut Sink<'_>,
    ) -> Result<(), WriteError> {
        let (runs, use_holes) = (&mut self.runs, self.place.use_holes);
        let mut allocate = || take_page(pages, runs, use_holes);
        if self.deleted.is_empty() {
            return self.builder.add(key, data, &mut allocate, sink);
        }
        let deleted = &mut self.deleted;
        let mut marking =
            |number: u32, page: Vec<u8>| sink(number, mark_deleted(number, page, deleted)?);
        self.builder.add(key, data, &mut allocate, &mut marking)
    }

    /// Adds an entry flagged deleted: readers skip it, defragmentation drops it.
    pub fn add_deleted(
        &mut self,
        key: &[u8],
        data: &[u8],
        pages: &mut PageAllocator,
        sink: &mut Sink<'_>,
    ) -> Result<(), WriteError> {
        self.deleted.insert(key.to_vec());
        self.add(key, data, pages, sink)
    }

    /// Writes the pages still open; returns every page the tree took (space pages included).
    pub fn finish(
        self,
        pages: &mut PageAllocator,
        sink: &mut Sink<'_>,
    ) -> Result<Runs, WriteError> {
        let TreeWriter {
            place,
            builder,
            mut runs,
            mut deleted,
            source_root_header,
        } = self;
        let space = space_header(1, place.parent_root, place.root + 1, place.tree_flags);
        let header = RootHeader::parse(&source_root_header).with_space(&space);
        let mut allocate = || take_page(pages, &mut runs, place.use_holes);
        let mut marking =
            |number: u32, page: Vec<u8>| sink(number, mark_deleted(number, page, &mut deleted)?);
        builder.finish(&header, &mut allocate, &mut marking)?;
        Ok(runs)
    }
}

fn take_page(
    pages: &mut PageAllocator,
    runs: &mut Runs,
    use_holes: bool,
) -> Result<u32, WriteError> {
    let page = if use_holes {
        pages.hole_or_next()
    } else {
        pages.next_page()
    }?;
    runs.add(page);
    Ok(page)
}

/// Sets the deleted flag on the leaf nodes of `page` whose key is in `deleted`, checksums the
/// page again, and forgets the keys up to the page's last one (leaves come in key order).
/// Keys are stored whole (the builder shares no prefix).
fn mark_deleted(
    number: u32,
    mut page: Vec<u8>,
    deleted: &mut BTreeSet<Vec<u8>>,
) -> Result<Vec<u8>, WriteError> {
    let header = PageHeader::parse(&page)
        .ok_or_else(|| WriteError::layout("page shorter than its header"))?;
    if deleted.is_empty() || header.flags & FLAG_LEAF == 0 {
        return Ok(page);
    }
    let large = page.len() > 8192;
    let (header_size, mask) = if large { (80, 0x7fff) } else { (40, 0x1fff) };
    let word = |p: &[u8], i: usize| p.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let mut changed = false;
    let mut last_key = Vec::new();
    for tag in 1..usize::from(header.tag_count) {
        let at = page.len().checked_sub((tag + 1) * 4).ok_or_else(|| {
            WriteError::layout(format!("page {number}: tag {tag} outside the page"))
        })?;
        let (Some(size), Some(offset)) = (word(&page, at), word(&page, at + 2)) else {
            return Err(WriteError::layout(format!(
                "page {number}: tag {tag} outside the page"
            )));
        };
        let start = header_size + usize::from(offset & mask);
        let node = page
            .get(start..start + usize::from(size & mask))
            .ok_or_else(|| {
                WriteError::layout(format!("page {number}: tag {tag} outside the page"))
            })?;
        let key_len = usize::from(word(node, 0).unwrap_or(0) & 0x1fff);
        let key = node.get(2..2 + key_len).unwrap_or(&[]);
        last_key = key.to_vec();
        if !deleted.contains(key) {
            continue;
        }
        // Small pages keep node flags in the tag's offset word, large ones in the key size.
        let flag_at = if large { start + 1 } else { at + 3 };
        page[flag_at] |= NODE_DELETED << 5;
        changed = true;
    }
    if changed {
        set_page_checksums(&mut page, number);
    }
    let mut later = deleted.split_off(&last_key);
    later.remove(&last_key);
    *deleted = later;
    Ok(page)
}

/// The owned-extent page of a tree lists `owned`; its available-extent page lists `free`.
pub fn write_space(
    format: PageFormat,
    place: &TreePlace,
    owned: &Runs,
    free: &[Extent],
    sink: &mut Sink<'_>,
) -> Result<(), WriteError> {
    let (object_id, flags, root) = (place.object_id, place.tree_flags, place.root);
    sink(
        root + 1,
        space_tree_page(format, object_id, flags, root + 1, &owned.extents())?,
    )?;
    sink(
        root + 2,
        space_tree_page(format, object_id, flags, root + 2, free)?,
    )
}

/// Page 1 owns every page of the file; `free` (plus the holes the catalog left) is available.
pub fn write_database_space(
    format: PageFormat,
    pages: &PageAllocator,
    free: &[Extent],
    sink: &mut Sink<'_>,
) -> Result<(), WriteError> {
    let last = pages.last_page();
    let header = space_header(last, 0, DATABASE_ROOT + 1, 0);
    let root = TreeBuilder::new(format, DATABASE_OBJECT_ID, 0, DATABASE_ROOT);
    root.finish(
        &header,
        &mut || Err(WriteError::layout("the database root needs no page")),
        sink,
    )?;
    let everything = [Extent {
        first: DATABASE_ROOT,
        last,
    }];
    sink(
        2,
        space_tree_page(format, DATABASE_OBJECT_ID, 0, 2, &everything)?,
    )?;
    let available = coalesce(pages.unused_holes().into_iter().chain(free.iter().copied()));
    sink(
        3,
        space_tree_page(format, DATABASE_OBJECT_ID, 0, 3, &available)?,
    )
}

fn coalesce(extents: impl Iterator<Item = Extent>) -> Vec<Extent> {
    let mut sorted: Vec<Extent> = extents.collect();
    sorted.sort_by_key(|e| e.first);
    let mut merged: Vec<Extent> = Vec::with_capacity(sorted.len());
    for extent in sorted {
        match merged.last_mut() {
            Some(last) if last.last.saturating_add(1) >= extent.first => {
                last.last = last.last.max(extent.last)
            }
            _ => merged.push(extent),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_go_first_and_runs_merge() {
        let mut pages = PageAllocator::new(&[1, 2, 3, 4, 5, 6, 9]);
        assert_eq!(pages.hole_or_next().unwrap(), 7);
        assert_eq!(pages.next_three().unwrap(), 10);
        assert_eq!(pages.unused_holes(), vec![Extent { first: 8, last: 8 }]);
        assert_eq!(pages.last_page(), 12);
        let mut runs = Runs::default();
        for page in [10, 11, 7, 12, 4] {
            runs.add(page);
        }
        let extent = |first, last| Extent { first, last };
        assert_eq!(
            runs.extents(),
            vec![extent(4, 4), extent(7, 7), extent(10, 12)]
        );
    }
}

#[cfg(test)]
mod deleted_tests {
    use super::*;
    use crate::ese::checksum::{verify_page, ChecksumStatus};
    use crate::ese::page::Page;
    use crate::ese::write::page::{PageBuilder, PageRole};

    #[test]
    fn deleted_keys_are_flagged_and_forgotten_once_written() {
        for page_size in [4096, 32768] {
            let format = PageFormat {
                page_size,
                ecc: page_size > 8192,
                common_flags: 0,
                db_time: 1,
            };
            let mut builder = PageBuilder::new(format);
            for key in [b"a", b"b", b"c"] {
                builder.push(format.encode_node(key, b"data").unwrap());
            }
            let role = PageRole {
                number: 9,
                object_id: 6,
                flags: FLAG_LEAF,
                previous: 0,
                next: 0,
            };
            let mut deleted: BTreeSet<Vec<u8>> =
                [b"b".to_vec(), b"d".to_vec()].into_iter().collect();
            let bytes = mark_deleted(9, builder.finish(role, &[]), &mut deleted).unwrap();
            assert_eq!(verify_page(&bytes, 9), ChecksumStatus::Ok);
            let page = Page::parse(9, bytes).unwrap();
            let flags: Vec<bool> = (1..=3)
                .map(|i| page.node(i).unwrap().is_deleted())
                .collect();
            assert_eq!(flags, [false, true, false]);
            assert_eq!(page.node(2).unwrap().data, b"data");
            assert_eq!(deleted.into_iter().collect::<Vec<_>>(), [b"d".to_vec()]);
        }
    }
}
