//! The leaves of one tree as a walk along their links reads them, kept in little memory for
//! the walk of the branch pages once the tree is complete (`branch_walk.rs`): of each leaf its
//! number, how many entries it holds, whether its keys ascend, and its first and last entry
//! as a seek looks for them. The fields of the page header the checks use are the same on
//! every leaf of a sound tree but the links, which the chain knows: a leaf that differs (or a
//! link that does not name the leaf before) makes the chain unusable, as does one more byte
//! than the caller allows, and the caller then walks the tree in full.

use super::page::{Page, PageError, PageHeader, FLAG_NON_UNIQUE};
use super::seek_rules::{LeafEnd, LeafSummary};
use std::borrow::Cow;
use std::cmp::Ordering;

/// Leaves per block of the list, and bytes per block of ends: memory is taken a block at a
/// time and never moved, so a long chain holds what it keeps and no copies of it.
const LEAVES_PER_BLOCK: usize = 4096;
const END_BYTES_PER_BLOCK: usize = 256 << 10;

/// One leaf, its ends in the chain's byte store.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    number: u32,
    /// Where its ends are: block, offset, then the first entry's bytes and key length and
    /// the last entry's (the last is the first in a leaf of one entry).
    block: u32,
    start: u32,
    first_len: u16,
    first_key_len: u16,
    last_len: u16,
    last_key_len: u16,
    entries: u16,
    descends: bool,
    repeats: bool,
}

#[derive(Debug)]
pub struct LeafChain {
    leaves: Vec<Vec<Leaf>>,
    ends: Vec<Vec<u8>>,
    count: usize,
    /// The first leaf's header: the others must agree with it but for their links.
    first: Option<PageHeader>,
    usable: bool,
    max_bytes: usize,
}

impl LeafChain {
    /// A chain that takes at most `max_bytes` (beyond, it lets go of everything and becomes
    /// unusable).
    pub fn new(max_bytes: usize) -> LeafChain {
        LeafChain {
            leaves: Vec::new(),
            ends: Vec::new(),
            count: 0,
            first: None,
            usable: true,
            max_bytes,
        }
    }

    /// Whether the chain holds every leaf read, as the branch walk needs them.
    pub fn usable(&self) -> bool {
        self.usable
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Reads the next leaf along the links, entry by entry, handing each to `visit` (key,
    /// data, whether it is deleted) while it asks for more; `false` when it stopped.
    pub fn read_leaf(
        &mut self,
        page: &Page,
        mut visit: impl FnMut(&[u8], &[u8], bool) -> bool,
    ) -> Result<bool, PageError> {
        let prefix = page.external_header();
        let non_unique = page.header.is(FLAG_NON_UNIQUE);
        let lines = page.tag_count().saturating_sub(1);
        let mut previous: Option<Cow<'_, [u8]>> = None;
        let (mut descends, mut repeats) = (false, false);
        // The ends as a seek looks for them: key, then data in a non-unique tree.
        let mut ends: [(Vec<u8>, usize); 2] = Default::default();
        for index in 1..=lines {
            let node = page.node(index)?;
            let key = node.full_key(prefix);
            match previous.as_deref().map(|p| (*key).cmp(p)) {
                Some(Ordering::Less) => descends = true,
                Some(Ordering::Equal) => repeats = true,
                _ => {}
            }
            let data = if non_unique { node.data } else { &[] };
            if index == 1 {
                ends[0] = ([&key[..], data].concat(), key.len());
            } else if index == lines {
                ends[1] = ([&key[..], data].concat(), key.len());
            }
            if !visit(&key, node.data, node.is_deleted()) {
                return Ok(false);
            }
            previous = Some(key);
        }
        self.keep(page, lines, (descends, repeats), &ends);
        Ok(true)
    }

    fn keep(
        &mut self,
        page: &Page,
        lines: usize,
        (descends, repeats): (bool, bool),
        ends: &[(Vec<u8>, usize); 2],
    ) {
        let before = self.last().map_or(0, |l| l.number);
        let first = self.first.get_or_insert_with(|| page.header.clone());
        let header = &page.header;
        let agrees = header.flags == first.flags
            && header.object_id == first.object_id
            && header.previous == before;
        let length = |i: usize| u16::try_from(ends[i].0.len()).ok();
        let key_length = |i: usize| u16::try_from(ends[i].1).ok();
        let lengths = (length(0), key_length(0), length(1), key_length(1));
        let (Some(first_len), Some(first_key_len), Some(last_len), Some(last_key_len)) = lengths
        else {
            return self.drop_all();
        };
        if !(self.usable && agrees) {
            return self.drop_all();
        }
        let size = ends[0].0.len() + ends[1].0.len();
        if !matches!(self.ends.last(), Some(b) if b.capacity() - b.len() >= size) {
            self.ends
                .push(Vec::with_capacity(END_BYTES_PER_BLOCK.max(size)));
        }
        let Some(block) = self.ends.last_mut() else {
            return self.drop_all();
        };
        let start = block.len();
        block.extend_from_slice(&ends[0].0);
        block.extend_from_slice(&ends[1].0);
        let leaf = Leaf {
            number: page.number,
            block: u32::try_from(self.ends.len() - 1).unwrap_or(u32::MAX),
            start: u32::try_from(start).unwrap_or(u32::MAX),
            first_len,
            first_key_len,
            last_len,
            last_key_len,
            entries: u16::try_from(lines).unwrap_or(u16::MAX),
            descends,
            repeats,
        };
        match self.leaves.last_mut() {
            Some(list) if list.len() < LEAVES_PER_BLOCK => list.push(leaf),
            _ => {
                let mut list = Vec::with_capacity(LEAVES_PER_BLOCK);
                list.push(leaf);
                self.leaves.push(list);
            }
        }
        self.count += 1;
        let taken = self.ends.len() * END_BYTES_PER_BLOCK
            + self.leaves.len() * LEAVES_PER_BLOCK * std::mem::size_of::<Leaf>();
        if taken > self.max_bytes {
            self.drop_all();
        }
    }

    fn drop_all(&mut self) {
        self.usable = false;
        self.leaves = Vec::new();
        self.ends = Vec::new();
    }

    fn get(&self, index: usize) -> Option<&Leaf> {
        let list = self.leaves.get(index / LEAVES_PER_BLOCK)?;
        list.get(index % LEAVES_PER_BLOCK)
    }

    fn last(&self) -> Option<&Leaf> {
        self.leaves.last()?.last()
    }

    /// Leaf `index` along the links.
    pub fn leaf(&self, index: usize) -> Option<LeafSummary<'_>> {
        let leaf = self.get(index)?;
        let block = self.ends.get(leaf.block as usize)?;
        let start = leaf.start as usize;
        let first_end = start + usize::from(leaf.first_len);
        let first = block.get(start..first_end)?;
        let (last, last_key_len) = match leaf.entries {
            1 => (first, leaf.first_key_len),
            _ => {
                let last = block.get(first_end..first_end + usize::from(leaf.last_len))?;
                (last, leaf.last_key_len)
            }
        };
        let header = PageHeader {
            previous: index
                .checked_sub(1)
                .and_then(|i| self.get(i))
                .map_or(0, |l| l.number),
            next: self.get(index + 1).map_or(0, |l| l.number),
            ..self.first.clone()?
        };
        let end = |sought, key_len: u16| LeafEnd {
            sought,
            key_len: usize::from(key_len),
        };
        Some(LeafSummary {
            number: leaf.number,
            header,
            ends: (leaf.entries > 0)
                .then(|| (end(first, leaf.first_key_len), end(last, last_key_len))),
            entries: u64::from(leaf.entries),
            descends: leaf.descends,
            repeats: leaf.repeats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::page::{FLAG_INDEX, FLAG_LEAF};
    use crate::ese::write::page::test_page;

    type Entries<'a> = &'a [(&'a [u8], &'a [u8])];

    fn leaf(number: u32, links: (u32, u32), flags: u32, entries: Entries<'_>) -> Page {
        test_page(number, FLAG_LEAF | flags, links, entries)
    }

    fn chain_of(max_bytes: usize, pages: &[Page]) -> LeafChain {
        let mut chain = LeafChain::new(max_bytes);
        for page in pages {
            assert!(chain.read_leaf(page, |_, _, _| true).unwrap());
        }
        chain
    }

    #[test]
    fn each_leaf_keeps_its_ends_its_links_and_its_count() {
        let pages = [
            leaf(7, (0, 8), 0, &[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]),
            leaf(8, (7, 9), 0, &[(b"d", b"4")]),
            leaf(9, (8, 0), 0, &[]),
        ];
        let mut seen = Vec::new();
        let mut chain = LeafChain::new(usize::MAX);
        for page in &pages {
            let read = chain.read_leaf(page, |key, data, _| {
                seen.push([key, data].concat());
                true
            });
            assert!(read.unwrap());
        }
        assert_eq!(seen, [&b"a1"[..], b"b2", b"c3", b"d4"]);
        assert_eq!(chain.len(), 3);
        let first = chain.leaf(0).unwrap();
        let (start, end) = first.ends.unwrap();
        assert_eq!([start.sought, start.key(), end.sought], [b"a", b"a", b"c"]);
        assert_eq!((first.header.previous, first.header.next), (0, 8));
        assert_eq!(
            (first.entries, first.descends, first.repeats),
            (3, false, false)
        );
        // One entry is both ends.
        let one = chain.leaf(1).unwrap();
        let (start, end) = one.ends.unwrap();
        assert_eq!([start.sought, end.sought, end.key()], [b"d", b"d", b"d"]);
        assert_eq!((one.header.previous, one.header.next), (7, 9));
        let empty = chain.leaf(2).unwrap();
        assert!(empty.ends.is_none());
        assert_eq!((empty.header.previous, empty.header.next), (8, 0));
        assert!(chain.leaf(3).is_none());
    }

    #[test]
    fn a_non_unique_leaf_keeps_key_and_data_and_its_keys_order() {
        let page = leaf(
            7,
            (0, 0),
            FLAG_NON_UNIQUE,
            &[(b"k", b"1"), (b"k", b"2"), (b"j", b"3")],
        );
        let chain = chain_of(usize::MAX, &[page]);
        let summary = chain.leaf(0).unwrap();
        let (start, end) = summary.ends.unwrap();
        assert_eq!([start.sought, start.key()], [&b"k1"[..], b"k"]);
        assert_eq!([end.sought, end.key()], [&b"j3"[..], b"j"]);
        assert!(summary.repeats && summary.descends);
    }

    #[test]
    fn a_leaf_off_the_chain_or_past_the_bound_leaves_the_chain_unusable_and_empty() {
        let a: Entries<'_> = &[(b"a", b"")];
        let b: Entries<'_> = &[(b"b", b"")];
        let wrong_link = [leaf(7, (0, 8), 0, a), leaf(8, (6, 0), 0, b)];
        let other_kind = [leaf(7, (0, 8), 0, a), leaf(8, (7, 0), FLAG_INDEX, b)];
        for pages in [&wrong_link, &other_kind] {
            let chain = chain_of(usize::MAX, pages);
            assert!(!chain.usable());
            assert!(chain.leaf(0).is_none());
        }
        let sound = [leaf(7, (0, 8), 0, a), leaf(8, (7, 0), 0, b)];
        assert!(chain_of(usize::MAX, &sound).usable());
        assert!(!chain_of(1 << 10, &sound).usable());
    }

    #[test]
    fn a_leaf_whose_reader_stops_is_not_kept() {
        let page = leaf(7, (0, 0), 0, &[(b"a", b"1"), (b"b", b"2")]);
        let mut chain = LeafChain::new(usize::MAX);
        let mut calls = 0;
        let read = chain.read_leaf(&page, |_, _, _| {
            calls += 1;
            false
        });
        assert!(!read.unwrap());
        assert_eq!((calls, chain.len()), (1, 0));
    }
}
