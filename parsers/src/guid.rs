//! GUIDs: 16 bytes whose first three fields are little-endian, shown in registry form
//! (`3f360af1-6766-46dc-9af2-0dacf295c2a1`, lowercase; BinXML wraps it in braces).

/// Bytes of each dash-separated group of the text form, in order.
const GROUPS: [usize; 5] = [4, 2, 2, 2, 6];
/// The first three groups are stored little-endian.
const SWAPPED_GROUPS: usize = 3;

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Appends the registry form of `guid`.
pub fn push_text(text: &mut String, guid: &[u8; 16]) {
    let mut rest = &guid[..];
    for (index, size) in GROUPS.into_iter().enumerate() {
        if index > 0 {
            text.push('-');
        }
        let (group, after) = rest.split_at(size);
        let mut push = |byte: &u8| {
            text.push(char::from(HEX_LOWER[usize::from(byte >> 4)]));
            text.push(char::from(HEX_LOWER[usize::from(byte & 0x0f)]));
        };
        if index < SWAPPED_GROUPS {
            group.iter().rev().for_each(&mut push);
        } else {
            group.iter().for_each(&mut push);
        }
        rest = after;
    }
}

/// The registry form of `guid`.
pub fn to_text(guid: &[u8; 16]) -> String {
    let mut text = String::with_capacity(36);
    push_text(&mut text, guid);
    text
}

/// The bytes of a GUID in registry form, with or without braces; `None` when `text` is not one.
pub fn from_text(text: &str) -> Option<[u8; 16]> {
    let bare = match text.strip_prefix('{') {
        Some(inner) => inner.strip_suffix('}')?,
        None => text,
    };
    let mut guid = [0u8; 16];
    let mut filled = 0;
    let mut groups = bare.split('-');
    for (index, size) in GROUPS.into_iter().enumerate() {
        let group = groups.next()?;
        if group.len() != size * 2 {
            return None;
        }
        let slot = guid.get_mut(filled..filled + size)?;
        hex::decode_to_slice(group, slot).ok()?;
        if index < SWAPPED_GROUPS {
            slot.reverse();
        }
        filled += size;
    }
    groups.next().is_none().then_some(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: [u8; 16] = [
        0xf1, 0x0a, 0x36, 0x3f, 0x66, 0x67, 0xdc, 0x46, 0x9a, 0xf2, 0x0d, 0xac, 0xf2, 0x95, 0xc2,
        0xa1,
    ];

    #[test]
    fn text_swaps_the_first_three_fields() {
        assert_eq!(to_text(&GUID), "3f360af1-6766-46dc-9af2-0dacf295c2a1");
        assert_eq!(to_text(&[0; 16]), "00000000-0000-0000-0000-000000000000");
        let mut text = String::from("{");
        push_text(&mut text, &[0xff; 16]);
        assert_eq!(text, "{ffffffff-ffff-ffff-ffff-ffffffffffff");
    }

    #[test]
    fn texts_round_trip_with_or_without_braces() {
        let text = "3f360af1-6766-46dc-9af2-0dacf295c2a1";
        assert_eq!(from_text(text), Some(GUID));
        assert_eq!(from_text(&format!("{{{text}}}")), Some(GUID));
        assert_eq!(from_text(&text.to_uppercase()), Some(GUID));
        for guid in [[0u8; 16], [0xff; 16], GUID] {
            assert_eq!(from_text(&to_text(&guid)), Some(guid));
        }
    }

    #[test]
    fn bad_texts_are_refused() {
        for bad in [
            "",
            "3f360af1-6766-46dc-9af2",
            "3f360af1-6766-46dc-9af2-0dacf295c2a1-00",
            "3f360af16766-46dc-9af2-0dacf295c2a1",
            "3f360af1-6766-46dc-9af2-0dacf295c2ag",
            "{3f360af1-6766-46dc-9af2-0dacf295c2a1",
            "3f360af1-6766-46dc-9af2-0dacf295c2a1}",
        ] {
            assert_eq!(from_text(bad), None, "{bad}");
        }
    }
}
