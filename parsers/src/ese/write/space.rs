//! Space bookkeeping for the new file: the 16-byte space header a tree's root keeps in tag 0,
//! and the owned-extent (OE) and available-extent (AE) trees of a tree with several extents.
//! The new file has no free pages, so every AE tree is empty.

use super::error::WriteError;
use super::page::{PageBuilder, PageFormat, PageRole, SPACE_HEADER_SIZE};
use crate::ese::page::{FLAG_LEAF, FLAG_NON_UNIQUE, FLAG_ROOT, FLAG_SPACE_TREE};
use crate::ese::space::{Extent, SPACE_NON_UNIQUE};

const MULTIPLE_EXTENTS: u32 = 0x01;

/// A root's space header: it owns pages through its OE tree at `space_tree` (AE next to it).
/// A non-unique tree (`tree_flags`) says so in its space header too, as ESE does.
pub fn space_header(
    primary_pages: u32,
    parent_root: u32,
    space_tree: u32,
    tree_flags: u32,
) -> [u8; SPACE_HEADER_SIZE] {
    let mut header = [0u8; SPACE_HEADER_SIZE];
    let mut flags = MULTIPLE_EXTENTS;
    if tree_flags & FLAG_NON_UNIQUE != 0 {
        flags |= SPACE_NON_UNIQUE;
    }
    header[0..4].copy_from_slice(&primary_pages.to_le_bytes());
    header[4..8].copy_from_slice(&parent_root.to_le_bytes());
    header[8..12].copy_from_slice(&flags.to_le_bytes());
    header[12..16].copy_from_slice(&space_tree.to_le_bytes());
    header
}

/// The page of an OE or AE tree: one leaf root listing `extents` (key: last page big-endian,
/// data: page count), carrying its tree's own flags (index, long value, non-unique) as ESE's
/// space-tree pages do. Fails when the list does not fit one page.
pub fn space_tree_page(
    format: PageFormat,
    object_id: u32,
    tree_flags: u32,
    number: u32,
    extents: &[Extent],
) -> Result<Vec<u8>, WriteError> {
    let mut builder = PageBuilder::new(format);
    for extent in extents {
        let count = extent
            .last
            .checked_sub(extent.first)
            .map(|n| n + 1)
            .ok_or_else(|| {
                WriteError::layout(format!(
                    "extent {}-{} is reversed",
                    extent.first, extent.last
                ))
            })?;
        let node = format.encode_node(&extent.last.to_be_bytes(), &count.to_le_bytes())?;
        if !builder.fits(node.len()) {
            return Err(WriteError::layout(format!(
                "page {number}: {} extents do not fit one space tree page",
                extents.len()
            )));
        }
        builder.push(node);
    }
    let role = PageRole {
        number,
        object_id,
        flags: tree_flags | FLAG_ROOT | FLAG_LEAF | FLAG_SPACE_TREE,
        previous: 0,
        next: 0,
    };
    Ok(builder.finish(role, &[0; SPACE_HEADER_SIZE]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::page::Page;
    use crate::ese::space::SpaceHeader;

    #[test]
    fn space_header_and_tree_read_back() {
        let header = SpaceHeader::parse(&space_header(20, 1, 5, 0)).unwrap();
        assert_eq!((header.primary_pages, header.parent_root), (20, 1));
        assert!(header.multiple_extents() && !header.non_unique());
        let index = SpaceHeader::parse(&space_header(20, 1, 5, FLAG_NON_UNIQUE)).unwrap();
        assert!(index.non_unique());
        assert_eq!(header.space_tree, 5);

        let format = PageFormat {
            page_size: 4096,
            ecc: false,
            common_flags: 0,
            db_time: 1,
        };
        let extents = [
            Extent { first: 4, last: 23 },
            Extent {
                first: 30,
                last: 31,
            },
        ];
        let page = Page::parse(5, space_tree_page(format, 2, 0x440, 5, &extents).unwrap()).unwrap();
        assert_eq!(page.header.flags & 0x4ff, 0x463);
        let node = page.node(2).unwrap();
        assert_eq!(
            (node.suffix, node.data),
            (&[0, 0, 0, 31][..], &[2, 0, 0, 0][..])
        );
        let reversed = [Extent { first: 9, last: 3 }];
        assert!(space_tree_page(format, 2, 0, 5, &reversed).is_err());
    }
}
