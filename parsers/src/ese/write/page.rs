//! One page image: the fixed header, tag 0 (the external header), nodes packed from the start
//! of the data area and the tag array growing down from the end, then the checksum the
//! format requires. Keys are stored whole (no prefix sharing), exactly as given.

use super::error::WriteError;
use crate::ese::checksum::set_page_checksums;
use crate::ese::page::{PageHeader, FLAG_NEW_CHECKSUM};

const SMALL_HEADER: usize = 40;
const LARGE_HEADER: usize = 80;
/// Bytes of one tag (size word + offset word).
const TAG_SIZE: usize = 4;
/// Room kept on every page for a root's space header in tag 0, so a page can become a root
/// after it is filled.
pub const SPACE_HEADER_SIZE: usize = 16;

/// What every page of the new file shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFormat {
    pub page_size: usize,
    /// ECC block checksums (format revision 0x0b and up); XOR plus page number otherwise.
    pub ecc: bool,
    /// Flags every page carries besides its own role (e.g. the new record format, 0x800).
    pub common_flags: u32,
    pub db_time: u64,
}

impl PageFormat {
    fn large(&self) -> bool {
        self.page_size > 8192
    }

    fn header_size(&self) -> usize {
        if self.large() {
            LARGE_HEADER
        } else {
            SMALL_HEADER
        }
    }

    /// The largest node a page can hold besides a root's space header.
    pub fn max_node(&self) -> usize {
        self.page_size - self.header_size() - SPACE_HEADER_SIZE - 2 * TAG_SIZE
    }

    /// A node as stored: key size, key, data (no prefix, no node flags).
    pub fn encode_node(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, WriteError> {
        let key_len = u16::try_from(key.len())
            .ok()
            .filter(|&n| n < 0x2000)
            .ok_or_else(|| {
                WriteError::encode(format!(
                    "key of {} bytes is longer than a page key",
                    key.len()
                ))
            })?;
        let mut node = Vec::with_capacity(2 + key.len() + data.len());
        node.extend_from_slice(&key_len.to_le_bytes());
        node.extend_from_slice(key);
        node.extend_from_slice(data);
        if node.len() > self.max_node() {
            return Err(WriteError::encode(format!(
                "node of {} bytes does not fit a {}-byte page",
                node.len(),
                self.page_size
            )));
        }
        Ok(node)
    }
}

/// The links and role of a finished page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRole {
    pub number: u32,
    pub object_id: u32,
    /// Role flags (root, leaf, parent, index, ...); the format's common flags are added.
    pub flags: u32,
    pub previous: u32,
    pub next: u32,
}

/// Nodes collected for one page.
#[derive(Debug, Clone)]
pub struct PageBuilder {
    format: PageFormat,
    nodes: Vec<Vec<u8>>,
    data_used: usize,
    /// Room kept for tag 0 in case the page becomes a root.
    root_header: usize,
}

impl PageBuilder {
    pub fn new(format: PageFormat) -> PageBuilder {
        PageBuilder::with_root_header(format, SPACE_HEADER_SIZE)
    }

    /// A page keeping `root_header` bytes free for a root's external header (16, or 25 with
    /// the newer layout that adds a flag byte and the cached auto-increment maximum).
    pub fn with_root_header(format: PageFormat, root_header: usize) -> PageBuilder {
        PageBuilder {
            format,
            nodes: Vec::new(),
            data_used: 0,
            root_header: root_header.max(SPACE_HEADER_SIZE),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether one more node of `len` bytes fits, keeping room for a root's external header.
    pub fn fits(&self, len: usize) -> bool {
        let tags = (self.nodes.len() + 2) * TAG_SIZE;
        self.format.header_size() + self.root_header + self.data_used + len + tags
            <= self.format.page_size
    }

    pub fn push(&mut self, node: Vec<u8>) {
        self.data_used += node.len();
        self.nodes.push(node);
    }

    /// The page image, checksummed, with `tag0` as its external header.
    pub fn finish(&self, role: PageRole, tag0: &[u8]) -> Vec<u8> {
        let format = &self.format;
        let size = format.page_size;
        let header_size = format.header_size();
        // Written front to back, so only the header and the free gap are zeroed: the values
        // from the data area's start, then the tag array, which ends the page with tag 0.
        let mut page = Vec::with_capacity(size);
        page.resize(header_size, 0);
        let tag_count = self.nodes.len() + 1;
        let values = std::iter::once(tag0).chain(self.nodes.iter().map(Vec::as_slice));
        for value in values.clone() {
            page.extend_from_slice(value);
        }
        let offset = page.len() - header_size;
        page.resize(size - tag_count * TAG_SIZE, 0);
        let mut end = offset;
        for value in values.rev() {
            end -= value.len();
            page.extend_from_slice(&(value.len() as u16).to_le_bytes());
            page.extend_from_slice(&(end as u16).to_le_bytes());
        }
        let free = size - header_size - offset - tag_count * TAG_SIZE;
        let mut flags = role.flags | format.common_flags;
        if format.ecc {
            flags |= FLAG_NEW_CHECKSUM;
        } else {
            flags &= !FLAG_NEW_CHECKSUM;
        }
        let header = PageHeader {
            checksum: 0,
            db_time: format.db_time,
            previous: role.previous,
            next: role.next,
            object_id: role.object_id,
            free_bytes: free as u16,
            uncommitted_free_bytes: 0,
            first_free_offset: offset as u16,
            tag_count: tag_count as u16,
            flags,
            stored_page_number: format.large().then_some(role.number),
        };
        header.encode(&mut page);
        if !format.large() && !format.ecc {
            // The old format keeps the page number beside its 32-bit checksum.
            page[4..8].copy_from_slice(&role.number.to_le_bytes());
        }
        set_page_checksums(&mut page, role.number);
        page
    }
}

/// A 4 KiB page holding `entries`, owned by object 5: the pages the tests of the page rules
/// are made of.
#[cfg(test)]
pub(crate) fn test_page(
    number: u32,
    flags: u32,
    (previous, next): (u32, u32),
    entries: &[(&[u8], &[u8])],
) -> crate::ese::page::Page {
    let format = PageFormat {
        page_size: 4096,
        ecc: true,
        common_flags: 0,
        db_time: 1,
    };
    let mut builder = PageBuilder::new(format);
    for (key, data) in entries {
        builder.push(format.encode_node(key, data).unwrap());
    }
    let role = PageRole {
        number,
        object_id: 5,
        flags,
        previous,
        next,
    };
    crate::ese::page::Page::parse(number, builder.finish(role, &[])).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::checksum::{verify_page, ChecksumStatus};
    use crate::ese::page::{Page, FLAG_LEAF, FLAG_ROOT};

    fn format(page_size: usize, ecc: bool) -> PageFormat {
        PageFormat {
            page_size,
            ecc,
            common_flags: 0x800,
            db_time: 0x1234,
        }
    }

    #[test]
    fn pages_read_back_with_their_nodes_and_checksums() {
        for (size, ecc) in [
            (4096, false),
            (4096, true),
            (8192, true),
            (16384, true),
            (32768, true),
        ] {
            let format = format(size, ecc);
            let mut builder = PageBuilder::new(format);
            builder.push(format.encode_node(b"key1", b"data one").unwrap());
            builder.push(format.encode_node(b"key2", b"").unwrap());
            let role = PageRole {
                number: 9,
                object_id: 7,
                flags: FLAG_ROOT | FLAG_LEAF,
                previous: 0,
                next: 0,
            };
            let bytes = builder.finish(role, &[1; 16]);
            assert_eq!(verify_page(&bytes, 9), ChecksumStatus::Ok, "{size} {ecc}");
            let page = Page::parse(9, bytes).unwrap();
            assert_eq!(page.tag_count(), 3);
            assert_eq!(page.external_header(), &[1; 16]);
            let node = page.node(1).unwrap();
            assert_eq!((node.suffix, node.data), (&b"key1"[..], &b"data one"[..]));
            assert_eq!(page.node(2).unwrap().suffix, b"key2");
            assert_eq!(page.header.object_id, 7);
            assert_eq!(page.header.db_time, 0x1234);
            assert_eq!(page.header.flags & 0x800, 0x800);
            assert_eq!(
                page.header.flags & FLAG_NEW_CHECKSUM != 0,
                ecc || size > 8192
            );
            let used = 40 + 16 + 14 + 6 + 12;
            let header = if size > 8192 { 80 } else { 40 };
            assert_eq!(
                usize::from(page.header.free_bytes),
                size - used + 40 - header
            );
        }
    }

    #[test]
    fn a_page_fills_up_and_keeps_room_for_a_space_header() {
        let format = format(4096, false);
        let node = format.encode_node(&[7; 100], &[0; 100]).unwrap();
        let mut builder = PageBuilder::new(format);
        let mut count = 0;
        while builder.fits(node.len()) {
            builder.push(node.clone());
            count += 1;
        }
        // (4096 - 40 - 16 - 2 * 4) / (202 + 4) = 19 nodes.
        assert_eq!(count, 19);
        assert!(format.encode_node(&[0; 0x2000], b"").is_err());
        assert!(format.encode_node(b"k", &[0; 4096]).is_err());
    }
}
