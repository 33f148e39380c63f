//! Security identifiers: the binary form (revision, sub-authority count, 48-bit big-endian
//! authority, little-endian 32-bit sub-authorities) and the `S-1-5-21-…` text Windows shows.

use crate::utf16::push_decimal;
use std::fmt::Write;

/// A SID holds at most 15 sub-authorities.
const MAX_SUB_AUTHORITIES: usize = 15;
/// The authority is 48 bits wide.
const MAX_AUTHORITY: u64 = 1 << 48;
/// Revision, sub-authority count and authority come before the sub-authorities.
const HEADER_SIZE: usize = 8;

/// Appends the text form of the binary SID `bytes`; `None` (and nothing appended) when the
/// bytes are not exactly one SID.
#[inline]
pub fn push_text(text: &mut String, bytes: &[u8]) -> Option<()> {
    let [revision, count, a0, a1, a2, a3, a4, a5, subs @ ..] = bytes else {
        return None;
    };
    if subs.len() != usize::from(*count) * 4 {
        return None;
    }
    let authority = u64::from_be_bytes([0, 0, *a0, *a1, *a2, *a3, *a4, *a5]);
    // Formatted by hand: `write!` costs more than the rest of a record's decoding.
    text.push_str("S-");
    push_decimal(text, u64::from(*revision));
    text.push('-');
    // Windows writes authorities of 2^32 and above in hex.
    if authority < 1 << 32 {
        push_decimal(text, authority);
    } else {
        let _ = write!(text, "0x{authority:012X}");
    }
    for sub in subs.as_chunks::<4>().0 {
        text.push('-');
        push_decimal(text, u64::from(u32::from_le_bytes(*sub)));
    }
    Some(())
}

/// The text form of the binary SID `bytes`; `None` when the bytes are not exactly one SID.
pub fn to_text(bytes: &[u8]) -> Option<String> {
    let mut text = String::with_capacity(HEADER_SIZE + bytes.len().saturating_sub(HEADER_SIZE) * 3);
    push_text(&mut text, bytes)?;
    Some(text)
}

/// The binary form of a SID text such as `S-1-5-21-7-1108` (an authority of 2^32 and above may
/// be written in hex, `S-1-0x010000000000`); `None` when `text` is not one.
pub fn from_text(text: &str) -> Option<Vec<u8>> {
    let mut parts = text.split('-');
    if !parts.next()?.eq_ignore_ascii_case("S") {
        return None;
    }
    let revision: u8 = parts.next()?.parse().ok()?;
    let authority = parts.next()?;
    let authority = match authority.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => authority.parse().ok()?,
    };
    if authority >= MAX_AUTHORITY {
        return None;
    }
    let subs = parts
        .map(|part| part.parse::<u32>().ok())
        .collect::<Option<Vec<u32>>>()?;
    if subs.len() > MAX_SUB_AUTHORITIES {
        return None;
    }
    let mut bytes = Vec::with_capacity(HEADER_SIZE + subs.len() * 4);
    bytes.extend_from_slice(&[revision, subs.len() as u8]);
    bytes.extend_from_slice(&authority.to_be_bytes()[2..]);
    subs.iter()
        .for_each(|sub| bytes.extend_from_slice(&sub.to_le_bytes()));
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sids_read_like_windows_writes_them() {
        let mut domain_user = vec![1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0];
        for sub in [1u32, 2, 3, 500] {
            domain_user.extend_from_slice(&sub.to_le_bytes());
        }
        assert_eq!(to_text(&domain_user).as_deref(), Some("S-1-5-21-1-2-3-500"));
        let max_sub = [1, 1, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(to_text(&max_sub).as_deref(), Some("S-1-5-4294967295"));
        let null = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(to_text(&null).as_deref(), Some("S-1-0-0"));
        assert_eq!(to_text(&[1, 0, 0, 0, 0, 0, 0, 5]).as_deref(), Some("S-1-5"));
        let hex = [1, 0, 1, 0, 0, 0, 0, 0];
        assert_eq!(to_text(&hex).as_deref(), Some("S-1-0x010000000000"));
    }

    /// Authorities below 2^32 are decimal, those from 2^32 up hex with all 12 digits.
    #[test]
    fn large_authorities_are_hex() {
        let below = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(to_text(&below).as_deref(), Some("S-1-4294967295"));
        let at = [1, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(to_text(&at).as_deref(), Some("S-1-0x000100000000"));
        let top = [1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(to_text(&top).as_deref(), Some("S-1-0xFFFFFFFFFFFF"));
    }

    /// A buffer shorter than the header, a count naming sub-authorities past the end, and
    /// bytes left over after them are all refused, with nothing appended.
    #[test]
    fn sizes_must_match_the_count() {
        for short in [&[][..], &[1], &[1, 0, 0, 0, 0, 0, 0]] {
            assert_eq!(to_text(short), None, "{short:?}");
        }
        let past_the_end = [1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        assert_eq!(to_text(&past_the_end), None);
        let count_255 = [1, 255, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        assert_eq!(to_text(&count_255), None);
        let left_over = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0, 7];
        assert_eq!(to_text(&left_over), None);
        let mut text = String::from("x");
        assert_eq!(push_text(&mut text, &past_the_end), None);
        assert_eq!(text, "x");
    }

    #[test]
    fn texts_round_trip() {
        for text in [
            "S-1-5-18",
            "S-1-5-21-1004336348-1177238915-682003330-512",
            "S-1-0x010000000000",
            "S-1-0xFFFFFFFFFFFF-1",
            "S-1-5",
            "S-255-4294967295-4294967295",
        ] {
            let bytes = from_text(text).unwrap();
            assert_eq!(to_text(&bytes).as_deref(), Some(text));
        }
        assert_eq!(
            from_text("S-1-5-18").unwrap(),
            [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]
        );
        assert_eq!(from_text("s-1-5-18"), from_text("S-1-5-18"));
        let fifteen = format!("S-1-5{}", "-1".repeat(15));
        assert_eq!(from_text(&fifteen).map(|b| b.len()), Some(8 + 15 * 4));
    }

    #[test]
    fn bad_texts_are_refused() {
        for bad in [
            "",
            "S",
            "S-1",
            "S-1-x",
            "S-1-5-x",
            "S-1-5-",
            "S-256-5",
            "S-1-5-4294967296",
            "S-1-281474976710656-1",
            "S-1-0x1000000000000",
            "SYSTEM",
            "NT AUTHORITY\\SYSTEM",
            &format!("S-1-5{}", "-1".repeat(16)),
        ] {
            assert_eq!(from_text(bad), None, "{bad}");
        }
    }
}
