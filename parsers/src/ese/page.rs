//! Database pages: the header (40 bytes, or 80 on pages over 8 KiB), and the tag array at the
//! end of the page that locates each node (key + data) in the page.

use super::page_buffer;
use super::{le_u16, le_u32, le_u64};
use serde::Serialize;
use std::borrow::Cow;

pub const FLAG_ROOT: u32 = 0x0001;
pub const FLAG_LEAF: u32 = 0x0002;
pub const FLAG_PARENT: u32 = 0x0004;
pub const FLAG_EMPTY: u32 = 0x0008;
pub const FLAG_SPACE_TREE: u32 = 0x0020;
pub const FLAG_INDEX: u32 = 0x0040;
pub const FLAG_LONG_VALUE: u32 = 0x0080;
/// Every page of a tree whose keys may repeat (a non-unique index): entries are ordered, and
/// sought, by key then data.
pub const FLAG_NON_UNIQUE: u32 = 0x0400;
pub const FLAG_NEW_CHECKSUM: u32 = 0x2000;

/// Node flags (from the tag on small pages, from the node's first word on large pages).
pub const NODE_VERSION: u8 = 0x1;
pub const NODE_DELETED: u8 = 0x2;
pub const NODE_PREFIX: u8 = 0x4;

const SMALL_HEADER: usize = 40;
const LARGE_HEADER: usize = 80;

/// The fixed page header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageHeader {
    pub checksum: u64,
    pub db_time: u64,
    pub previous: u32,
    pub next: u32,
    /// Object id of the tree (FDP) the page belongs to.
    pub object_id: u32,
    pub free_bytes: u16,
    pub uncommitted_free_bytes: u16,
    pub first_free_offset: u16,
    /// Tags in use (the low 12 bits of ESE's `itagState`; the rest counts reserved tags).
    pub tag_count: u16,
    pub flags: u32,
    /// Large pages store their own number (a check against misdirected writes).
    pub stored_page_number: Option<u32>,
}

impl PageHeader {
    pub fn parse(page: &[u8]) -> Option<PageHeader> {
        Some(PageHeader {
            checksum: le_u64(page, 0)?,
            db_time: le_u64(page, 8)?,
            previous: le_u32(page, 16)?,
            next: le_u32(page, 20)?,
            object_id: le_u32(page, 24)?,
            free_bytes: le_u16(page, 28)?,
            uncommitted_free_bytes: le_u16(page, 30)?,
            first_free_offset: le_u16(page, 32)?,
            tag_count: le_u16(page, 34)? & 0x0fff,
            flags: le_u32(page, 36)?,
            stored_page_number: if page.len() > 8192 {
                le_u32(page, 64)
            } else {
                None
            },
        })
    }

    /// Writes the header fields into the first bytes of `page` (for the writer). The
    /// checksums are left alone: [`super::checksum::set_page_checksums`] sets them last.
    pub fn encode(&self, page: &mut [u8]) {
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(slot) = page.get_mut(at..at + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        };
        put(8, &self.db_time.to_le_bytes());
        put(16, &self.previous.to_le_bytes());
        put(20, &self.next.to_le_bytes());
        put(24, &self.object_id.to_le_bytes());
        put(28, &self.free_bytes.to_le_bytes());
        put(30, &self.uncommitted_free_bytes.to_le_bytes());
        put(32, &self.first_free_offset.to_le_bytes());
        put(34, &self.tag_count.to_le_bytes());
        put(36, &self.flags.to_le_bytes());
        if let Some(number) = self.stored_page_number {
            put(64, &number.to_le_bytes());
        }
    }

    pub fn is(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Names of the set flags, for reports.
    pub fn flag_names(&self) -> Vec<&'static str> {
        [
            (FLAG_ROOT, "root"),
            (FLAG_LEAF, "leaf"),
            (FLAG_PARENT, "parent"),
            (FLAG_EMPTY, "empty"),
            (FLAG_SPACE_TREE, "space-tree"),
            (FLAG_INDEX, "index"),
            (FLAG_LONG_VALUE, "long-value"),
            (FLAG_NEW_CHECKSUM, "new-checksum"),
        ]
        .iter()
        .filter(|(flag, _)| self.is(*flag))
        .map(|(_, name)| *name)
        .collect()
    }
}

/// One page read from the file.
#[derive(Debug, Clone)]
pub struct Page {
    pub number: u32,
    pub header: PageHeader,
    bytes: Vec<u8>,
}

/// One entry of a page: a key (prefix shared with the page's tag 0, plus a suffix) and data.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub flags: u8,
    pub prefix_len: usize,
    pub suffix: &'a [u8],
    pub data: &'a [u8],
}

impl<'a> Node<'a> {
    pub fn is_deleted(&self) -> bool {
        self.flags & NODE_DELETED != 0
    }

    /// The full key, given the page's shared prefix: borrowed from the page when the node
    /// shares none of it (every key of a file without prefix compression), else joined.
    pub fn full_key(&self, page_prefix: &'a [u8]) -> Cow<'a, [u8]> {
        match self.prefix_len {
            0 => Cow::Borrowed(self.suffix),
            _ => Cow::Owned(self.key(page_prefix)),
        }
    }

    /// The full key, given the page's shared prefix.
    pub fn key(&self, page_prefix: &[u8]) -> Vec<u8> {
        let prefix = page_prefix.get(..self.prefix_len).unwrap_or(page_prefix);
        let mut key = Vec::with_capacity(prefix.len() + self.suffix.len());
        key.extend_from_slice(prefix);
        key.extend_from_slice(self.suffix);
        key
    }
}

/// Why a page or one of its nodes cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("page shorter than its header")]
    ShorterThanHeader,
    #[error("tag count {0} does not fit in the page")]
    TagCount(u16),
    #[error("tag {index} beyond the tag count {count}")]
    TagBeyondCount { index: usize, count: usize },
    #[error("tag {index} (offset {offset}, size {size}) runs past the data area")]
    TagRunsPast {
        index: usize,
        offset: u16,
        size: u16,
    },
    #[error("tag {0} too short")]
    TagTooShort(usize),
    #[error("tag {0}: no key size")]
    NoKeySize(usize),
    #[error("tag {index}: key size {key_len} exceeds the node")]
    KeyExceedsNode { index: usize, key_len: u16 },
}

/// The buffer goes back to be read into again (a walk frees a page per page it reads).
impl Drop for Page {
    fn drop(&mut self) {
        page_buffer::give(std::mem::take(&mut self.bytes));
    }
}

impl Page {
    /// Wraps a page's bytes; fails when the header or tag array does not fit in the page.
    pub fn parse(number: u32, bytes: Vec<u8>) -> Result<Page, PageError> {
        let header = PageHeader::parse(&bytes).ok_or(PageError::ShorterThanHeader)?;
        let page = Page {
            number,
            header,
            bytes,
        };
        let fits = page
            .bytes
            .len()
            .checked_sub(page.tag_count() * 4)
            .is_some_and(|tags_start| tags_start >= page.header_size());
        if !fits {
            return Err(PageError::TagCount(page.header.tag_count));
        }
        Ok(page)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn large(&self) -> bool {
        self.bytes.len() > 8192
    }

    pub fn header_size(&self) -> usize {
        if self.large() {
            LARGE_HEADER
        } else {
            SMALL_HEADER
        }
    }

    pub fn tag_count(&self) -> usize {
        usize::from(self.header.tag_count)
    }

    /// The raw value of tag `index` and its tag flags (small pages only; large pages keep
    /// them in the value, see [`Page::node`]).
    pub fn tag(&self, index: usize) -> Result<(&[u8], u8), PageError> {
        if index >= self.tag_count() {
            return Err(PageError::TagBeyondCount {
                index,
                count: self.tag_count(),
            });
        }
        let at = self.bytes.len() - (index + 1) * 4;
        let size_word = le_u16(&self.bytes, at).unwrap_or(0);
        let offset_word = le_u16(&self.bytes, at + 2).unwrap_or(0);
        let (size, offset, flags) = if self.large() {
            (size_word & 0x7fff, offset_word & 0x7fff, 0)
        } else {
            (
                size_word & 0x1fff,
                offset_word & 0x1fff,
                (offset_word >> 13) as u8,
            )
        };
        let start = self.header_size() + usize::from(offset);
        let end = start + usize::from(size);
        let limit = self.bytes.len() - self.tag_count() * 4;
        if end > limit {
            return Err(PageError::TagRunsPast {
                index,
                offset,
                size,
            });
        }
        Ok((&self.bytes[start..end], flags))
    }

    /// Tag 0: the page's external header (the space header on root pages; the shared key
    /// prefix elsewhere).
    pub fn external_header(&self) -> &[u8] {
        self.tag(0).map(|(value, _)| value).unwrap_or(&[])
    }

    /// The node of tag `index` (1-based: tag 0 is the external header).
    pub fn node(&self, index: usize) -> Result<Node<'_>, PageError> {
        let (value, tag_flags) = self.tag(index)?;
        let first_word = le_u16(value, 0).ok_or(PageError::TagTooShort(index))?;
        let (flags, first_word) = if self.large() {
            ((first_word >> 13) as u8, first_word & 0x1fff)
        } else {
            (tag_flags, first_word)
        };
        let (prefix_len, rest) = if flags & NODE_PREFIX != 0 {
            (usize::from(first_word), value.get(2..).unwrap_or(&[]))
        } else {
            (0, value)
        };
        let key_len = if flags & NODE_PREFIX != 0 {
            le_u16(rest, 0)
        } else {
            Some(first_word)
        }
        .ok_or(PageError::NoKeySize(index))?;
        let key_end = 2 + usize::from(key_len);
        let suffix = rest
            .get(2..key_end)
            .ok_or(PageError::KeyExceedsNode { index, key_len })?;
        Ok(Node {
            flags,
            prefix_len,
            suffix,
            data: &rest[key_end..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 KiB leaf page with tag 0 = "ab" (prefix) and one node with a 1-byte prefix.
    fn page_with_one_node() -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        page[34..36].copy_from_slice(&2u16.to_le_bytes());
        page[36..40].copy_from_slice(&FLAG_LEAF.to_le_bytes());
        let values: [&[u8]; 2] = [b"ab", &[1, 0, 2, 0, b'x', b'y', 9, 9]];
        let mut offset = 0usize;
        for (i, value) in values.iter().enumerate() {
            page[40 + offset..40 + offset + value.len()].copy_from_slice(value);
            let at = 4096 - (i + 1) * 4;
            let flags = if i == 1 {
                u16::from(NODE_PREFIX) << 13
            } else {
                0
            };
            page[at..at + 2].copy_from_slice(&(value.len() as u16).to_le_bytes());
            page[at + 2..at + 4].copy_from_slice(&(offset as u16 | flags).to_le_bytes());
            offset += value.len();
        }
        page
    }

    #[test]
    fn decodes_node_key_with_shared_prefix() {
        let page = Page::parse(5, page_with_one_node()).unwrap();
        let node = page.node(1).unwrap();
        assert_eq!(node.key(page.external_header()), b"axy");
        assert_eq!(node.data, &[9, 9]);
        assert_eq!(page.header.flag_names(), vec!["leaf"]);
    }

    #[test]
    fn header_encodes_what_it_decodes() {
        for size in [4096usize, 16384] {
            let mut page: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            page[34..36].copy_from_slice(&3u16.to_le_bytes());
            let header = PageHeader::parse(&page).unwrap();
            let mut copy = vec![0u8; size];
            copy[..8].copy_from_slice(&page[..8]);
            header.encode(&mut copy);
            assert_eq!(PageHeader::parse(&copy).unwrap(), header);
            assert_eq!(copy[..40], page[..40]);
        }
    }

    #[test]
    fn bad_tags_are_errors_not_panics() {
        let mut bytes = page_with_one_node();
        bytes[4096 - 8..4096 - 6].copy_from_slice(&0x1fffu16.to_le_bytes());
        let page = Page::parse(5, bytes).unwrap();
        assert!(matches!(
            page.node(1).unwrap_err(),
            PageError::TagRunsPast { index: 1, .. }
        ));
        assert!(page.node(7).is_err());
        let mut bytes = page_with_one_node();
        bytes[34..36].copy_from_slice(&2000u16.to_le_bytes());
        assert!(Page::parse(5, bytes).is_err());
    }
}
