//! Helpers shared by the ESE fuzz targets.
//!
//! Every ESE page and header carries a checksum, so almost any mutation the fuzzer makes is
//! refused at the checksum check and the decoders behind it would never see damaged
//! structure. [`sealed`] rewrites the checksums of a mutated file so that the page, tree,
//! catalog and record decoders get the mutations too.

use evtdoctor_parsers::ese::checksum::set_page_checksums;
use evtdoctor_parsers::ese::database::PAGE_SIZES;
use evtdoctor_parsers::ese::header::set_header_checksum;
use std::borrow::Cow;

/// Offset of the page size in the file header.
const PAGE_SIZE_AT: usize = 236;

/// The input with every header and page checksum recomputed, when its length is even; odd
/// lengths (a truncated last page) stay as they are, so checksum failures, ECC correction and
/// the shadow-header fallback are fuzzed as well.
pub fn sealed(data: &[u8]) -> Cow<'_, [u8]> {
    if data.len() % 2 == 1 {
        return Cow::Borrowed(data);
    }
    let stored = data
        .get(PAGE_SIZE_AT..PAGE_SIZE_AT + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let page_size = if stored == 0 { 4096 } else { stored };
    if !PAGE_SIZES.contains(&page_size) {
        return Cow::Borrowed(data);
    }
    let page_size = page_size as usize;
    let mut bytes = data.to_vec();
    for (index, page) in bytes.chunks_exact_mut(page_size).enumerate() {
        match index {
            // The primary and the shadow header.
            0 | 1 => set_header_checksum(page),
            // Pages never written are all zero and carry no checksum.
            _ if page.iter().all(|&b| b == 0) => {}
            _ => set_page_checksums(page, index as u32 - 1),
        }
    }
    Cow::Owned(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clean database's checksums are already right: sealing it changes nothing, whichever
    /// checksum format its pages use.
    #[test]
    fn sealing_a_clean_database_changes_nothing() {
        let corpus = std::env::var_os("EVTDOCTOR_CORPUS").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
            std::path::PathBuf::from,
        );
        for name in ["dissect_basic_4k.edb", "bits_qmgr_win11_dirty_16k.db"] {
            let bytes = std::fs::read(corpus.join("ese").join(name)).unwrap();
            let slice = &bytes[..bytes.len().min(1 << 20)];
            let out = sealed(slice);
            let first_difference = out.iter().zip(slice).position(|(a, b)| a != b);
            assert_eq!((out.len(), first_difference), (slice.len(), None), "{name}");
        }
    }
}
