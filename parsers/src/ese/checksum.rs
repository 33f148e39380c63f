//! Page checksums, as pure functions (the defrag writer computes them too).
//!
//! Two formats exist (ESE source, checksum.cxx):
//! - old (ESE98 / Exchange 2000, and the file header): a 32-bit XOR of every little-endian
//!   word after the first, seeded with 0x89abcdef; on data pages the next word holds the page
//!   number;
//! - new (page flag 0x2000): per block, a 32-bit XOR of the words after the first eight bytes
//!   mixed with the page number, plus a 32-bit ECC (a Hsiao code) that locates a single flipped
//!   bit. Pages over 8 KiB are cut into blocks (4 KiB blocks for 16 KiB pages, 8 KiB for
//!   32 KiB); the first block's checksum is at offset 0, the others at offsets 40, 48 and 56.

use super::{le_u32, le_u64};

const SEED: u32 = 0x89ab_cdef;
/// Where the checksums of blocks 1-3 of a large page are stored.
const EXTRA_CHECKSUM_OFFSETS: [usize; 3] = [40, 48, 56];

/// The old-format checksum: XOR of the 32-bit words from offset 4 on, seeded with 0x89abcdef.
pub fn xor_checksum(bytes: &[u8]) -> u32 {
    // XOR taken 64 bits at a time, in four lanes (a third fewer instructions than one),
    // folds to the same 32-bit XOR; the first word is then taken out again, as XOR undoes
    // itself.
    let mut lanes = [0u64; 4];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane ^= u64::from_le_bytes(word.try_into().unwrap_or_default());
        }
    }
    let wide = lanes.iter().fold(0, |acc, lane| acc ^ lane);
    let tail = words(blocks.remainder()).fold(0, |acc, w| acc ^ w);
    let first = words(bytes).next().unwrap_or(0);
    SEED ^ wide as u32 ^ (wide >> 32) as u32 ^ tail ^ first
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// The new-format checksum of one block: ECC in the high 32 bits, XOR (mixed with the page
/// number) in the low 32. In the header block the first 8 bytes (the checksum) count as zero.
pub fn ecc_block_checksum(block: &[u8], page_number: u32, header_block: bool) -> u64 {
    // Each row is 128 bits (16 bytes); bit i of the block has row i/128 and column i%128. A
    // row is read as two 64-bit halves: words 0-1 and words 2-3 of the row.
    let mut row_ecc: u32 = 0;
    let mut halves = [0u64; 2];
    for (row, chunk) in block.chunks_exact(16).enumerate() {
        let (low, high) = chunk.split_at(8);
        let low = match (row, header_block) {
            (0, true) => 0,
            _ => u64::from_le_bytes(low.try_into().unwrap_or_default()),
        };
        let high = u64::from_le_bytes(high.try_into().unwrap_or_default());
        halves[0] ^= low;
        halves[1] ^= high;
        // The row's 32-bit XOR has the parity of all its bits.
        let odd = (low ^ high).count_ones() & 1;
        let index = (row as u32) << 7;
        row_ecc ^= (((!index & 0xff80) << 16) | (index & 0xff80)) & odd.wrapping_neg();
    }
    let column_parity = [
        halves[0] as u32,
        (halves[0] >> 32) as u32,
        halves[1] as u32,
        (halves[1] >> 32) as u32,
    ];
    let xor = column_parity.iter().fold(0, |acc, w| acc ^ w);
    let mut column_ecc: u32 = 0;
    for (word_index, parity) in column_parity.iter().enumerate() {
        for bit in 0..32u32 {
            if parity >> bit & 1 == 1 {
                let index = (word_index as u32) << 5 | bit;
                column_ecc ^= ((!index & 0x7f) << 16) | index;
            }
        }
    }
    let size_mask = ((block.len() as u32) << 19).wrapping_sub(1);
    let ecc = row_ecc ^ column_ecc;
    (u64::from(ecc & size_mask) << 32) | u64::from(xor ^ page_number)
}

/// How a page's stored checksum compares with its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumStatus {
    Ok,
    /// An ECC page with one flipped bit at this bit offset in the page: ESE can repair it.
    CorrectableBit {
        bit: u32,
    },
    /// The checksum in `block` (0 for small pages) does not match.
    Mismatch {
        block: usize,
        stored: u64,
        computed: u64,
    },
    /// The page-number word of an old-format page names another page.
    WrongPageNumber {
        stored: u32,
    },
}

/// The block size ESE checksums a page in.
pub fn block_size(page_size: usize) -> usize {
    match page_size {
        0..=8192 => page_size,
        8193..=16384 => 4096,
        _ => 8192,
    }
}

/// Whether a page uses the ECC format: every large page does; small pages set flag 0x2000.
pub fn uses_ecc(page: &[u8]) -> bool {
    page.len() > 8192 || le_u32(page, 36).is_some_and(|flags| flags & 0x2000 != 0)
}

/// Every checksum a page should carry: one per block (one for old-format pages).
pub fn compute_page_checksums(page: &[u8], page_number: u32) -> Vec<u64> {
    if !uses_ecc(page) {
        return vec![u64::from(page_number) << 32 | u64::from(xor_checksum(page))];
    }
    let size = block_size(page.len());
    page.chunks(size)
        .enumerate()
        .map(|(i, block)| ecc_block_checksum(block, page_number, i == 0))
        .collect()
}

/// The checksums stored on a page, in the same order as [`compute_page_checksums`].
pub fn stored_page_checksums(page: &[u8]) -> Vec<u64> {
    let mut stored = vec![le_u64(page, 0).unwrap_or(0)];
    if page.len() > 8192 {
        let blocks = page.len().div_ceil(block_size(page.len()));
        stored.extend(
            EXTRA_CHECKSUM_OFFSETS
                .iter()
                .take(blocks.saturating_sub(1))
                .map(|&at| le_u64(page, at).unwrap_or(0)),
        );
    }
    stored
}

/// Writes the checksums a page should carry (for the writer): blocks 1-3 first, because the
/// header block's checksum covers where they are stored.
pub fn set_page_checksums(page: &mut [u8], page_number: u32) {
    if page.len() > 8192 {
        let size = block_size(page.len());
        let extra: Vec<u64> = page
            .chunks(size)
            .enumerate()
            .skip(1)
            .map(|(_, block)| ecc_block_checksum(block, page_number, false))
            .collect();
        for (at, sum) in EXTRA_CHECKSUM_OFFSETS.iter().zip(extra) {
            page[*at..*at + 8].copy_from_slice(&sum.to_le_bytes());
        }
    }
    if let Some(first) = compute_page_checksums(page, page_number).first() {
        if let Some(slot) = page.get_mut(0..8) {
            slot.copy_from_slice(&first.to_le_bytes());
        }
    }
}

/// Verifies a page read as page `page_number`.
pub fn verify_page(page: &[u8], page_number: u32) -> ChecksumStatus {
    let computed = compute_page_checksums(page, page_number);
    let stored = stored_page_checksums(page);
    if !uses_ecc(page) {
        let (stored, computed) = (stored[0], computed[0]);
        if stored as u32 != computed as u32 {
            return ChecksumStatus::Mismatch {
                block: 0,
                stored,
                computed,
            };
        }
        if (stored >> 32) as u32 != page_number {
            return ChecksumStatus::WrongPageNumber {
                stored: (stored >> 32) as u32,
            };
        }
        return ChecksumStatus::Ok;
    }
    let size = block_size(page.len());
    for (block, (&s, &c)) in stored.iter().zip(&computed).enumerate() {
        if s == c {
            continue;
        }
        let block_len = page.len().saturating_sub(block * size).min(size);
        return match correctable_bit(block_len, s, c) {
            Some(bit) => ChecksumStatus::CorrectableBit {
                bit: bit + (block * size * 8) as u32,
            },
            None => ChecksumStatus::Mismatch {
                block,
                stored: s,
                computed: c,
            },
        };
    }
    ChecksumStatus::Ok
}

/// When the difference between two ECC checksums is the signature of one flipped bit, the
/// bit's offset in the block. The XOR halves must then differ in exactly one bit too.
pub fn correctable_bit(block_len: usize, stored: u64, computed: u64) -> Option<u32> {
    let ecc_diff = ((stored ^ computed) >> 32) as u32;
    let xor_diff = (stored ^ computed) as u32;
    let bits = u32::try_from(block_len).ok()?.checked_mul(8)?;
    let mask = bits.wrapping_sub(1);
    let syndrome_ok = ((ecc_diff >> 16) ^ ecc_diff) & mask == mask;
    let bit = ecc_diff & 0xffff;
    (syndrome_ok && xor_diff.count_ones() == 1 && bit < bits).then_some(bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xor_checksum_is_the_word_by_word_xor_after_the_first_word() {
        let bytes: Vec<u8> = (0..4100u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [0, 4, 8, 12, 28, 36, 4092, 4096, 4100] {
            let slow = words(&bytes[..len]).skip(1).fold(SEED, |acc, w| acc ^ w);
            assert_eq!(xor_checksum(&bytes[..len]), slow, "{len} bytes");
        }
    }

    /// A hand-built page with some content, as an ESE98 (Exchange 2000) page: old format.
    fn old_format_page(page_number: u32) -> Vec<u8> {
        let mut page: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        page[36..40].copy_from_slice(&0x0003u32.to_le_bytes()); // root + leaf, no 0x2000
        page[4..8].copy_from_slice(&page_number.to_le_bytes());
        set_page_checksums(&mut page, page_number);
        page
    }

    #[test]
    fn old_format_page_verifies_and_names_its_page_number() {
        let page = old_format_page(17);
        assert!(!uses_ecc(&page));
        // The stored XOR is the seeded XOR of every word after the first.
        let xor = page[4..].chunks(4).fold(0x89ab_cdef, |a, w| {
            a ^ u32::from_le_bytes(w.try_into().unwrap())
        });
        assert_eq!(le_u32(&page, 0), Some(xor));
        assert_eq!(verify_page(&page, 17), ChecksumStatus::Ok);
        assert_eq!(
            verify_page(&page, 18),
            ChecksumStatus::WrongPageNumber { stored: 17 }
        );
        let mut flipped = page.clone();
        flipped[1000] ^= 0x10;
        assert!(matches!(
            verify_page(&flipped, 17),
            ChecksumStatus::Mismatch { block: 0, .. }
        ));
    }

    #[test]
    fn ecc_locates_every_single_bit_flip() {
        for size in [4096usize, 8192, 16384, 32768] {
            let mut page: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            page[36..40].copy_from_slice(&0x2003u32.to_le_bytes());
            set_page_checksums(&mut page, 42);
            assert_eq!(verify_page(&page, 42), ChecksumStatus::Ok, "{size}");
            for bit in [64u32, 100, 8 * 1234 + 5, (size as u32) * 8 - 1] {
                let mut damaged = page.clone();
                damaged[(bit / 8) as usize] ^= 1 << (bit % 8);
                assert_eq!(
                    verify_page(&damaged, 42),
                    ChecksumStatus::CorrectableBit { bit },
                    "page {size}, bit {bit}"
                );
            }
            let mut two = page.clone();
            two[200] ^= 0x03;
            assert!(matches!(
                verify_page(&two, 42),
                ChecksumStatus::Mismatch { .. }
            ));
        }
    }
}
