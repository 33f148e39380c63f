//! Text helpers the binary log readers share: UTF-16LE strings up to their NUL (most of them
//! plain ASCII) and numbers in decimal, both on the per-record hot path.

/// The whole UTF-16LE units of `bytes` before the first NUL unit (all of them if none), and
/// whether every one is ASCII. Four units are looked at a time until a word holds a NUL.
#[inline]
pub(crate) fn until_nul(bytes: &[u8]) -> (&[u8], bool) {
    const LOW_UNITS: u64 = 0x0001_0001_0001_0001;
    const HIGH_BITS: u64 = 0x8000_8000_8000_8000;
    let mut end = 0;
    let mut seen = 0u64;
    for word in bytes.as_chunks::<8>().0 {
        let word = u64::from_le_bytes(*word);
        // A word holds a zero unit exactly when this borrow trick flags one of its lanes.
        if word.wrapping_sub(LOW_UNITS) & !word & HIGH_BITS != 0 {
            break;
        }
        seen |= word;
        end += 8;
    }
    let mut ascii = seen & 0xff80_ff80_ff80_ff80 == 0;
    for unit in bytes.get(end..).unwrap_or_default().chunks_exact(2) {
        let unit = u16::from_le_bytes([unit[0], unit[1]]);
        if unit == 0 {
            break;
        }
        ascii &= unit < 0x80;
        end += 2;
    }
    (bytes.get(..end).unwrap_or_default(), ascii)
}

/// Appends UTF-16LE units that [`until_nul`] found all ASCII, narrowed to their low bytes;
/// `None` if they are not ASCII after all.
#[inline]
pub(crate) fn push_ascii(text: &mut String, units: &[u8]) -> Option<()> {
    let mut narrow = [0u8; 64];
    text.reserve(units.len() / 2);
    for wide in units.chunks(2 * narrow.len()) {
        let part = narrow.get_mut(..wide.len() / 2)?;
        narrow_into(part, wide);
        text.push_str(std::str::from_utf8(part).ok()?);
    }
    Some(())
}

/// [`push_ascii`] into a string of its own, sized at once.
#[inline]
pub(crate) fn ascii_string(units: &[u8]) -> Option<String> {
    let mut narrow = vec![0u8; units.len() / 2];
    narrow_into(&mut narrow, units);
    String::from_utf8(narrow).ok()
}

/// The low byte of each unit (the loop compilers turn into vector shuffles).
#[inline]
fn narrow_into(narrow: &mut [u8], wide: &[u8]) {
    for (byte, unit) in narrow.iter_mut().zip(wide.chunks_exact(2)) {
        *byte = unit[0];
    }
}

/// Appends `n` in decimal, without the formatting machinery (numbers fill many values).
#[inline]
pub(crate) fn push_decimal(text: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    // u64::MAX has 20 digits: the slots never run out.
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        at -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    text.push_str(std::str::from_utf8(digits.get(at..).unwrap_or_default()).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn units_stop_at_the_first_nul_at_any_position() {
        for length in 0..20 {
            for nul in 0..=length {
                let mut bytes = wide(&"a".repeat(length));
                bytes.splice(nul * 2..nul * 2, [0, 0]);
                let (units, ascii) = until_nul(&bytes);
                assert_eq!(units.len(), nul * 2);
                assert!(ascii);
            }
        }
        let accented = wide("abcdefé");
        let (units, ascii) = until_nul(&accented);
        assert_eq!((units.len(), ascii), (14, false));
        // An odd trailing byte is not a unit.
        assert_eq!(until_nul(b"a\0b"), (&b"a\0"[..], true));
    }

    #[test]
    fn ascii_is_narrowed_and_other_text_refused() {
        for length in [0, 1, 3, 4, 5, 63, 64, 65, 200] {
            let text: String = (0..length)
                .map(|i| char::from(b'!' + (i % 90) as u8))
                .collect();
            let mut out = String::from(">");
            assert_eq!(push_ascii(&mut out, &wide(&text)), Some(()));
            assert_eq!(out, format!(">{text}"));
        }
        assert_eq!(push_ascii(&mut String::new(), &wide("abcdé")), None);
        assert_eq!(ascii_string(&wide("a!~")).as_deref(), Some("a!~"));
        assert_eq!(ascii_string(&wide("abcdé")), None);
    }

    #[test]
    fn decimals_match_the_formatter() {
        for n in [0, 1, 9, 10, 99, 100, 4_294_967_295, u64::MAX] {
            let mut text = String::new();
            push_decimal(&mut text, n);
            assert_eq!(text, n.to_string());
        }
    }
}
