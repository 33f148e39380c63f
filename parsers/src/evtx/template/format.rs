//! Substitution values as text, as Windows (and the `evtx` crate's XML) renders them.

use super::instance::RawValue;
use crate::utf16::{push_ascii, push_decimal, until_nul};
use std::fmt::Write;

pub(super) const NULL_TYPE: u8 = 0x00;
pub(super) const BINARY_TYPE: u8 = 0x0e;
pub(super) const FILETIME_TYPE: u8 = 0x11;
pub(super) const BINXML_TYPE: u8 = 0x21;
pub(super) const STRING_ARRAY_TYPE: u8 = 0x81;

/// Appends a value as Windows (and the `evtx` crate's XML) renders it. `None` for the kinds left
/// to the XML path: floats, SYSTEMTIME, nested BinXML in text, arrays.
pub(super) fn push_value_text(text: &mut String, value: RawValue<'_>) -> Option<()> {
    let b = value.bytes;
    match value.kind {
        NULL_TYPE => {}
        // Windows often stores the terminating NUL in the value; the text ends there.
        0x01 => push_utf16_until_nul(text, b)?,
        // ANSI strings: only plain ASCII is safe without a code page.
        0x02 => {
            let s = b.split(|c| *c == 0).next().unwrap_or(&[]);
            if !s.is_ascii() {
                return None;
            }
            text.push_str(std::str::from_utf8(s).ok()?);
        }
        0x03 => push_signed(text, i8::from_le_bytes(b.try_into().ok()?).into()),
        0x04 => push_decimal(text, u8::from_le_bytes(b.try_into().ok()?).into()),
        0x05 => push_signed(text, i16::from_le_bytes(b.try_into().ok()?).into()),
        0x06 => push_decimal(text, u16::from_le_bytes(b.try_into().ok()?).into()),
        0x07 => push_signed(text, i32::from_le_bytes(b.try_into().ok()?).into()),
        0x08 => push_decimal(text, u32::from_le_bytes(b.try_into().ok()?).into()),
        0x09 => push_signed(text, i64::from_le_bytes(b.try_into().ok()?)),
        0x0a => push_decimal(text, le_u64(b)?),
        0x0d => match i32::from_le_bytes(b.try_into().ok()?) {
            0 => text.push_str("false"),
            1 => text.push_str("true"),
            raw => push_signed(text, raw.into()),
        },
        BINARY_TYPE => {
            for byte in b {
                text.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
                text.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
            }
        }
        0x0f => push_guid(text, b.try_into().ok()?),
        // SizeT and the hex integer types render as lowercase 0x-prefixed hex.
        0x10 | 0x14 | 0x15 => {
            let n = match b.len() {
                4 => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
                8 => le_u64(b)?,
                _ => return None,
            };
            write!(text, "0x{n:x}").ok()?;
        }
        FILETIME_TYPE => {
            let time = crate::evtx::filetime_to_utc(le_u64(b)?)?;
            write!(text, "{}", time.format("%Y-%m-%dT%H:%M:%S"))
                .and_then(|_| write!(text, ".{:07}Z", time.timestamp_subsec_nanos() / 100))
                .ok()?;
        }
        0x13 => push_sid(text, b)?,
        _ => return None,
    }
    Some(())
}

/// `{d1-d2-d3-d4[0..2]-d4[2..8]}` with data1-3 little-endian, lowercase.
fn push_guid(text: &mut String, b: &[u8; 16]) {
    let _ = write!(
        text,
        "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}}}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        hex::encode(&b[10..16])
    );
}

/// `S-revision-authority-sub1-...` (authority 48-bit big-endian, sub-authorities little-endian).
fn push_sid(text: &mut String, b: &[u8]) -> Option<()> {
    let [revision, count, a0, a1, a2, a3, a4, a5, subs @ ..] = b else {
        return None;
    };
    let authority = u64::from_be_bytes([0, 0, *a0, *a1, *a2, *a3, *a4, *a5]);
    text.push_str("S-");
    push_decimal(text, u64::from(*revision));
    text.push('-');
    push_decimal(text, authority);
    for sub in subs.chunks_exact(4).take(usize::from(*count)) {
        text.push('-');
        push_decimal(text, u32::from_le_bytes(sub.try_into().ok()?).into());
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

pub(super) fn le_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}
