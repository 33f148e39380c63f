//! Space management: the root page of every tree starts with a space header (tag 0) that says
//! which pages the tree owns. A tree with one extent owns `primary_pages` pages from its root;
//! otherwise two space trees list its owned extents (OE, at `space_tree`) and its available,
//! i.e. free, extents (AE, the page after). Their leaf keys end with the extent's last page
//! number (big-endian); the data is the extent's page count.

use super::btree::{self, TreeEvent};
use super::database::Database;
use super::le_u32;
use super::PageSource;
use crate::Problem;
use std::ops::ControlFlow;

const MULTIPLE_EXTENTS: u32 = 0x01;
/// Space header flag: the tree's keys may repeat (a non-unique index).
pub const SPACE_NON_UNIQUE: u32 = 0x02;
/// Bytes of the space header.
pub const SPACE_HEADER_BYTES: usize = 16;
/// In the newer root external header, the leading byte's flags for the fields that follow.
const ROOT_FIELD_SPACE_HEADER: u8 = 0x01;
const ROOT_FIELD_AUTO_INCREMENT: u8 = 0x02;

/// The fields of a root's external header (tag 0). Older roots hold just the 16-byte space
/// header; newer ones (today's Windows) start with a byte of flags saying which fields follow,
/// in order: the space header, then the table's cached auto-increment maximum (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootHeader<'a> {
    /// The leading flag byte, `None` in the older layout.
    pub field_flags: Option<u8>,
    pub space: Option<&'a [u8]>,
    pub auto_increment: Option<u64>,
}

impl RootHeader<'_> {
    pub fn parse(tag0: &[u8]) -> RootHeader<'_> {
        if tag0.len() <= SPACE_HEADER_BYTES {
            return RootHeader {
                field_flags: None,
                space: Some(tag0),
                auto_increment: None,
            };
        }
        let flags = tag0[0];
        let mut rest = &tag0[1..];
        let mut take = |wanted: bool, size: usize| {
            let field = rest.get(..size).filter(|_| wanted)?;
            rest = &rest[size..];
            Some(field)
        };
        let space = take(flags & ROOT_FIELD_SPACE_HEADER != 0, SPACE_HEADER_BYTES);
        let auto_increment = take(flags & ROOT_FIELD_AUTO_INCREMENT != 0, 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
        RootHeader {
            field_flags: Some(flags),
            space,
            auto_increment,
        }
    }

    /// The same fields with `space` as the space header, laid out as this header was.
    pub fn with_space(&self, space: &[u8; SPACE_HEADER_BYTES]) -> Vec<u8> {
        if self.field_flags.is_none() {
            return space.to_vec();
        }
        // Only the fields this reader knows are kept, so the flags say exactly what follows.
        let flags = match self.auto_increment {
            Some(_) => ROOT_FIELD_SPACE_HEADER | ROOT_FIELD_AUTO_INCREMENT,
            None => ROOT_FIELD_SPACE_HEADER,
        };
        let mut bytes = vec![flags];
        bytes.extend_from_slice(space);
        if let Some(value) = self.auto_increment {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceHeader {
    pub primary_pages: u32,
    pub parent_root: u32,
    pub flags: u32,
    /// Root of the owned-extent tree (the available-extent tree is the next page).
    pub space_tree: u32,
}

impl SpaceHeader {
    /// The space header of a root's external header (either layout, see [`RootHeader`]).
    pub fn parse(tag0: &[u8]) -> Option<SpaceHeader> {
        let tag0 = RootHeader::parse(tag0).space?;
        Some(SpaceHeader {
            primary_pages: le_u32(tag0, 0)?,
            parent_root: le_u32(tag0, 4)?,
            flags: le_u32(tag0, 8)?,
            space_tree: le_u32(tag0, 12)?,
        })
    }

    pub fn multiple_extents(&self) -> bool {
        self.flags & MULTIPLE_EXTENTS != 0
    }

    pub fn non_unique(&self) -> bool {
        self.flags & SPACE_NON_UNIQUE != 0
    }
}

/// A run of pages, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub first: u32,
    pub last: u32,
}

/// A set of page runs, sorted by first page. The second field holds, for each run, the
/// furthest last page of the runs up to it: with overlapping runs (damage) a lookup stays a
/// binary search instead of a scan of every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extents(pub Vec<Extent>, Vec<u32>);

impl Extents {
    pub fn new(mut extents: Vec<Extent>) -> Extents {
        extents.sort_by_key(|e| e.first);
        let reach = extents
            .iter()
            .scan(0, |furthest, e| {
                *furthest = e.last.max(*furthest);
                Some(*furthest)
            })
            .collect();
        Extents(extents, reach)
    }

    /// The furthest page reached by the runs starting at or before `page`.
    fn reach(&self, page: u32) -> Option<u32> {
        let i = self.0.partition_point(|e| e.first <= page);
        self.1.get(i.checked_sub(1)?).copied()
    }

    pub fn contains(&self, page: u32) -> bool {
        self.reach(page).is_some_and(|last| last >= page)
    }

    /// Whether every page of `extent` lies in these extents. Steps from run to run, not page
    /// by page: a damaged extent may claim billions of pages.
    pub fn covers(&self, extent: &Extent) -> bool {
        let mut page = extent.first;
        loop {
            match self.reach(page) {
                Some(last) if last >= extent.last => return true,
                // Each step takes in at least one more run, so this ends.
                Some(last) if last >= page => page = last + 1,
                _ => return false,
            }
        }
    }

    /// The extents cut to pages up to `limit`, in order, each page once: overlapping extents
    /// (only damage makes them) would otherwise have their pages walked again and again.
    pub fn distinct_runs(&self, limit: u32) -> Vec<Extent> {
        let mut runs = Vec::new();
        let mut next = 0u32;
        for extent in &self.0 {
            let (first, last) = (extent.first.max(next), extent.last.min(limit));
            if first <= last {
                runs.push(Extent { first, last });
                next = last.saturating_add(1);
            }
        }
        runs
    }

    pub fn last_page(&self) -> Option<u32> {
        self.0.iter().map(|e| e.last).max()
    }
}

/// The extents listed by the space tree rooted at `root`, and the tree's own pages; damaged
/// entries become problems.
pub fn read_extents<S: PageSource>(
    db: &Database<S>,
    root: u32,
) -> (Extents, Vec<u32>, Vec<Problem>) {
    let mut extents = Vec::new();
    let mut pages = Vec::new();
    let mut problems = Vec::new();
    btree::walk(db, root, |event| {
        match event {
            TreeEvent::Entry {
                page,
                key,
                data,
                flags,
            } => {
                if flags & super::page::NODE_DELETED != 0 {
                    return ControlFlow::Continue(());
                }
                let last = key
                    .len()
                    .checked_sub(4)
                    .and_then(|at| key.get(at..))
                    .and_then(|k| <[u8; 4]>::try_from(k).ok())
                    .map(u32::from_be_bytes);
                match (last, le_u32(data, 0)) {
                    (Some(_), Some(0)) => {}
                    // `count - 1` first: `last + 1` overflows for the last page number.
                    (Some(last), Some(count)) if count <= last => extents.push(Extent {
                        first: last - (count - 1),
                        last,
                    }),
                    _ => problems.push(Problem::at_offset(
                        db.page_offset(page.number),
                        format!("page {}: space tree entry is not an extent", page.number),
                    )),
                }
            }
            TreeEvent::Problem(problem) => problems.push(problem),
            TreeEvent::Page { page, .. } => pages.push(page.number),
        }
        ControlFlow::Continue(())
    });
    (Extents::new(extents), pages, problems)
}

/// What the tree rooted at `root` owns and has free: from its space trees, or its single
/// primary extent.
pub struct TreeSpace {
    pub owned: Extents,
    pub available: Extents,
    /// The pages of the two space trees, when the tree has them.
    pub space_tree_pages: Vec<u32>,
}

pub fn tree_space<S: PageSource>(
    db: &Database<S>,
    root: u32,
    header: &SpaceHeader,
) -> (TreeSpace, Vec<Problem>) {
    if !header.multiple_extents() {
        let last = root.saturating_add(header.primary_pages.max(1) - 1);
        let space = TreeSpace {
            owned: Extents::new(vec![Extent { first: root, last }]),
            available: Extents::default(),
            space_tree_pages: Vec::new(),
        };
        return (space, Vec::new());
    }
    let owned_root = header.space_tree;
    let available_root = owned_root.saturating_add(1);
    let (owned, mut space_tree_pages, mut problems) = read_extents(db, owned_root);
    let (available, more_pages, more) = read_extents(db, available_root);
    space_tree_pages.extend(more_pages);
    problems.extend(more);
    let space = TreeSpace {
        owned,
        available,
        space_tree_pages,
    };
    (space, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extents(runs: &[(u32, u32)]) -> Extents {
        Extents::new(
            runs.iter()
                .map(|&(first, last)| Extent { first, last })
                .collect(),
        )
    }

    #[test]
    fn covers_steps_over_overlapping_and_adjacent_extents() {
        let owned = extents(&[(10, 20), (15, 30), (31, 40), (50, u32::MAX)]);
        let covers = |first, last| owned.covers(&Extent { first, last });
        assert!(covers(10, 40));
        assert!(covers(12, 33));
        assert!(!covers(10, 41));
        assert!(!covers(9, 12));
        // Billions of pages, answered in a few steps.
        assert!(covers(50, u32::MAX));
        assert!(!covers(40, u32::MAX));
        // The run starting last before a page may end before it while an earlier one covers it.
        let nested = extents(&[(1, 100), (5, 10)]);
        assert!(nested.contains(50) && nested.contains(100) && !nested.contains(101));
        assert!(!nested.contains(0));
    }

    #[test]
    fn distinct_runs_walk_each_page_once() {
        let owned = extents(&[(10, 20), (15, 30), (12, 14), (31, 40), (50, u32::MAX)]);
        let runs: Vec<(u32, u32)> = owned
            .distinct_runs(60)
            .iter()
            .map(|e| (e.first, e.last))
            .collect();
        assert_eq!(runs, vec![(10, 20), (21, 30), (31, 40), (50, 60)]);
        // A thousand copies of one extent: one run.
        let copies = extents(&vec![(1, 1000); 1000]);
        assert_eq!(
            copies.distinct_runs(u32::MAX),
            vec![Extent {
                first: 1,
                last: 1000
            }]
        );
    }

    #[test]
    fn the_newer_root_header_has_a_flag_byte_then_the_space_header_then_auto_increment() {
        let mut space = [0u8; 16];
        space[0..4].copy_from_slice(&1u32.to_le_bytes());
        space[4..8].copy_from_slice(&1u32.to_le_bytes());
        space[8..12].copy_from_slice(&3u32.to_le_bytes());
        space[12..16].copy_from_slice(&37u32.to_le_bytes());
        let mut tag0 = vec![0x03];
        tag0.extend_from_slice(&space);
        tag0.extend_from_slice(&1722u64.to_le_bytes());
        let root = RootHeader::parse(&tag0);
        assert_eq!(root.auto_increment, Some(1722));
        let header = SpaceHeader::parse(&tag0).unwrap();
        assert_eq!((header.space_tree, header.parent_root), (37, 1));
        assert!(header.multiple_extents() && header.non_unique());
        // Rewritten with another space header, the layout and the maximum stay.
        let mut moved = space;
        moved[12..16].copy_from_slice(&120u32.to_le_bytes());
        let rewritten = root.with_space(&moved);
        assert_eq!(rewritten.len(), 25);
        assert_eq!(RootHeader::parse(&rewritten).auto_increment, Some(1722));
        assert_eq!(SpaceHeader::parse(&rewritten).unwrap().space_tree, 120);
        // The older layout: the space header alone.
        assert_eq!(RootHeader::parse(&space).with_space(&moved), moved.to_vec());
        // A flag byte without the space header's flag: no space header.
        let mut no_space = vec![0x02];
        no_space.extend_from_slice(&5u64.to_le_bytes());
        no_space.extend_from_slice(&[0; 9]);
        assert_eq!(SpaceHeader::parse(&no_space), None);
    }
}
