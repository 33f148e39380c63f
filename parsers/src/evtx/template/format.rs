//! Substitution values as text, as Windows (and the `evtx` crate's XML) renders them.

use super::instance::RawValue;
use crate::evtx::binxml::value_type;
use crate::utf16::{push_ascii, push_decimal, until_nul};
use crate::{filetime, guid, sid};
use std::fmt::Write;

/// Appends a value as Windows (and the `evtx` crate's XML) renders it. `None` for the kinds left
/// to the XML path: floats, SYSTEMTIME, nested BinXML in text, arrays.
pub(super) fn push_value_text(text: &mut String, value: RawValue<'_>) -> Option<()> {
    let b = value.bytes;
    match value.kind {
        value_type::NULL => {}
        // Windows often stores the terminating NUL in the value; the text ends there.
        value_type::STRING => push_utf16_until_nul(text, b)?,
        // ANSI strings: only plain ASCII is safe without a code page.
        value_type::ANSI_STRING => {
            let s = b.split(|c| *c == 0).next().unwrap_or(&[]);
            if !s.is_ascii() {
                return None;
            }
            text.push_str(std::str::from_utf8(s).ok()?);
        }
        value_type::INT8 => push_signed(text, i8::from_le_bytes(b.try_into().ok()?).into()),
        value_type::UINT8 => push_decimal(text, u8::from_le_bytes(b.try_into().ok()?).into()),
        value_type::INT16 => push_signed(text, i16::from_le_bytes(b.try_into().ok()?).into()),
        value_type::UINT16 => push_decimal(text, u16::from_le_bytes(b.try_into().ok()?).into()),
        value_type::INT32 => push_signed(text, i32::from_le_bytes(b.try_into().ok()?).into()),
        value_type::UINT32 => push_decimal(text, u32::from_le_bytes(b.try_into().ok()?).into()),
        value_type::INT64 => push_signed(text, i64::from_le_bytes(b.try_into().ok()?)),
        value_type::UINT64 => push_decimal(text, u64::from_le_bytes(b.try_into().ok()?)),
        value_type::BOOL => match i32::from_le_bytes(b.try_into().ok()?) {
            0 => text.push_str("false"),
            1 => text.push_str("true"),
            raw => push_signed(text, raw.into()),
        },
        value_type::BINARY => {
            for byte in b {
                text.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
                text.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
            }
        }
        value_type::GUID => {
            let bytes = b.try_into().ok()?;
            text.push('{');
            guid::push_text(text, bytes);
            text.push('}');
        }
        // SizeT and the hex integer types render as lowercase 0x-prefixed hex.
        value_type::SIZE_T | value_type::HEX_INT32 | value_type::HEX_INT64 => {
            let n = match b.len() {
                4 => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
                8 => u64::from_le_bytes(b.try_into().ok()?),
                _ => return None,
            };
            write!(text, "0x{n:x}").ok()?;
        }
        value_type::FILETIME => {
            let time = filetime::to_utc(u64::from_le_bytes(b.try_into().ok()?))?;
            filetime::push_text(text, time)?;
        }
        value_type::SID => sid::push_text(text, b)?,
        _ => return None,
    }
    Some(())
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_signed(text: &mut String, n: i64) {
    if n < 0 {
        text.push('-');
    }
    push_decimal(text, n.unsigned_abs());
}

/// Appends UTF-16LE text up to its first NUL; `None` for a lone surrogate. Plain ASCII (most
/// event text) is narrowed instead of decoded.
pub(super) fn push_utf16_until_nul(text: &mut String, bytes: &[u8]) -> Option<()> {
    let (units, ascii) = until_nul(bytes);
    if ascii {
        return push_ascii(text, units);
    }
    text.reserve(units.len() / 2);
    let units = units
        .chunks_exact(2)
        .map(|unit| u16::from_le_bytes([unit[0], unit[1]]));
    for c in char::decode_utf16(units) {
        text.push(c.ok()?);
    }
    Some(())
}

/// All of `bytes` as text (names and template text); `None` for a lone surrogate.
pub(super) fn utf16(bytes: &[u8]) -> Option<String> {
    let mut text = String::new();
    if until_nul(bytes).0.len() == bytes.len() / 2 * 2 {
        // No NUL inside (the usual case): the ASCII shortcut applies.
        push_utf16_until_nul(&mut text, bytes)?;
        return Some(text);
    }
    let units = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}
