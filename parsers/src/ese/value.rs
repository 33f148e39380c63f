//! Column types (JET_coltyp) and typed column values.

use crate::{filetime, guid};
use chrono::{Duration, NaiveDate};
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

/// A column type, as stored in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ColumnType(pub u32);

impl ColumnType {
    pub const BIT: ColumnType = ColumnType(1);
    pub const UNSIGNED_BYTE: ColumnType = ColumnType(2);
    pub const SHORT: ColumnType = ColumnType(3);
    pub const LONG: ColumnType = ColumnType(4);
    pub const CURRENCY: ColumnType = ColumnType(5);
    pub const IEEE_SINGLE: ColumnType = ColumnType(6);
    pub const IEEE_DOUBLE: ColumnType = ColumnType(7);
    pub const DATE_TIME: ColumnType = ColumnType(8);
    pub const BINARY: ColumnType = ColumnType(9);
    pub const TEXT: ColumnType = ColumnType(10);
    pub const LONG_BINARY: ColumnType = ColumnType(11);
    pub const LONG_TEXT: ColumnType = ColumnType(12);
    pub const UNSIGNED_LONG: ColumnType = ColumnType(14);
    pub const LONG_LONG: ColumnType = ColumnType(15);
    pub const GUID: ColumnType = ColumnType(16);
    pub const UNSIGNED_SHORT: ColumnType = ColumnType(17);
    pub const UNSIGNED_LONG_LONG: ColumnType = ColumnType(18);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "Nil",
            1 => "Bit",
            2 => "UnsignedByte",
            3 => "Short",
            4 => "Long",
            5 => "Currency",
            6 => "IEEESingle",
            7 => "IEEEDouble",
            8 => "DateTime",
            9 => "Binary",
            10 => "Text",
            11 => "LongBinary",
            12 => "LongText",
            13 => "SLV",
            14 => "UnsignedLong",
            15 => "LongLong",
            16 => "GUID",
            17 => "UnsignedShort",
            18 => "UnsignedLongLong",
            _ => "Unknown",
        }
    }

    /// Bytes a value of this type takes, for the fixed-size types.
    pub fn fixed_size(self) -> Option<usize> {
        Some(match self.0 {
            1 | 2 => 1,
            3 | 17 => 2,
            4 | 6 | 14 => 4,
            5 | 7 | 8 | 15 | 18 => 8,
            16 => 16,
            _ => return None,
        })
    }

    pub fn is_text(self) -> bool {
        matches!(self.0, 10 | 12)
    }
}

/// A decoded column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// An OLE automation date: days since 1899-12-30 (what JET_coltypDateTime means).
    DateTime(f64),
    /// A FILETIME (100 ns ticks since 1601) that an application stored in a DateTime column
    /// (User Access Logging does this); see [`date_time`].
    FileTime(i64),
    Guid([u8; 16]),
    Text(String),
    Binary(Vec<u8>),
    /// A multi-valued tagged column.
    Multi(Vec<Value>),
}

/// The first N bytes as an array (zero-filled when short: callers check sizes first).
fn le<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let n = bytes.len().min(N);
    a[..n].copy_from_slice(&bytes[..n]);
    a
}

/// Code page 1200 is UTF-16 little-endian; everything else is stored one byte per character.
pub const CODEPAGE_UNICODE: u32 = 1200;

impl Value {
    /// Decodes the stored bytes of a column of type `kind`. Wrong-sized fixed values come
    /// back as binary, so damage stays visible instead of being misread.
    pub fn decode(kind: ColumnType, codepage: u32, bytes: &[u8]) -> Value {
        if let Some(size) = kind.fixed_size() {
            if bytes.len() != size {
                return Value::Binary(bytes.to_vec());
            }
        }
        match kind.0 {
            1 => Value::Bool(u8::from_le_bytes(le(bytes)) != 0),
            2 => Value::UInt(u64::from(u8::from_le_bytes(le(bytes)))),
            3 => Value::Int(i64::from(i16::from_le_bytes(le(bytes)))),
            4 => Value::Int(i64::from(i32::from_le_bytes(le(bytes)))),
            5 | 15 => Value::Int(i64::from_le_bytes(le(bytes))),
            6 => Value::Float(f64::from(f32::from_le_bytes(le(bytes)))),
            7 => Value::Float(f64::from_le_bytes(le(bytes))),
            8 => date_time(i64::from_le_bytes(le(bytes))),
            14 => Value::UInt(u64::from(u32::from_le_bytes(le(bytes)))),
            16 => Value::Guid(le(bytes)),
            17 => Value::UInt(u64::from(u16::from_le_bytes(le(bytes)))),
            18 => Value::UInt(u64::from_le_bytes(le(bytes))),
            10 | 12 => Value::Text(decode_text(codepage, bytes)),
            _ => Value::Binary(bytes.to_vec()),
        }
    }

    /// The text form used in tables and CSV.
    pub fn display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(f) => f.to_string(),
            Value::DateTime(days) => ole_date_text(*days),
            Value::FileTime(ticks) => filetime_text(*ticks),
            Value::Guid(g) => guid::to_text(g),
            Value::Text(t) => t.clone(),
            Value::Binary(b) => hex::encode(b),
            Value::Multi(values) => values
                .iter()
                .map(Value::display)
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Multi(values) => {
                let mut seq = s.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
            other => s.serialize_str(&other.display()),
        }
    }
}

/// FILETIME ticks of 9999-12-31, the last time anyone means.
const FILETIME_MAX: i64 = 2_650_467_743_999_999_999;
/// Days of 9999-12-31 in OLE dates.
const OLE_DAYS_MAX: f64 = 2_958_465.0;

/// A DateTime column's 8 bytes: an OLE date when they read as one (a normal double within
/// years 100-9999, or zero), else a FILETIME when they read as one, else the raw number. The
/// two cannot be confused: a FILETIME's bits read as a double are below 1e-290.
pub fn date_time(bits: i64) -> Value {
    let days = f64::from_bits(bits as u64);
    let plausible_ole = days == 0.0 || (days.is_normal() && days.abs() >= 1e-9);
    if plausible_ole && days.abs() <= OLE_DAYS_MAX {
        Value::DateTime(days)
    } else if (1..=FILETIME_MAX).contains(&bits) {
        Value::FileTime(bits)
    } else {
        Value::Int(bits)
    }
}

/// A FILETIME as `YYYY-MM-DDTHH:MM:SS.fffffffZ` (all seven digits of its 100 ns ticks), or the
/// raw number when it is no time ([`date_time`] gives only ticks from 1 to 9999-12-31).
pub fn filetime_text(ticks: i64) -> String {
    let mut text = String::with_capacity(28);
    let time = u64::try_from(ticks).ok().and_then(filetime::to_utc);
    match time.and_then(|time| filetime::push_text(&mut text, time)) {
        Some(()) => text,
        None => ticks.to_string(),
    }
}

/// Text in the column's code page: UTF-16LE for 1200, else one byte per character
/// (Windows-1252 for the bytes 0x80-0x9f, Latin-1 above). Trailing NULs (C string
/// terminators many applications store) are dropped.
pub fn decode_text(codepage: u32, bytes: &[u8]) -> String {
    let mut text = decode_text_raw(codepage, bytes);
    text.truncate(text.trim_end_matches('\0').len());
    text
}

fn decode_text_raw(codepage: u32, bytes: &[u8]) -> String {
    if codepage == CODEPAGE_UNICODE {
        // A lone last byte (odd-sized fixed columns are padded bytewise) is its own unit.
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    bytes.iter().map(|&b| windows_1252(b)).collect()
}

fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9f => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// An OLE automation date as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (time zone as stored: ESE keeps
/// what the application wrote), or the raw number when out of range.
pub fn ole_date_text(days: f64) -> String {
    let micros = days * 86_400_000_000.0;
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|d| d.and_hms_opt(0, 0, 0));
    if !micros.is_finite() || micros.abs() > 3.0e17 {
        return days.to_string();
    }
    match epoch
        .and_then(|e| e.checked_add_signed(Duration::microseconds(micros.round_ties_even() as i64)))
    {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => days.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fixed_types() {
        assert_eq!(
            Value::decode(ColumnType::SHORT, 0, &(-1337i16).to_le_bytes()),
            Value::Int(-1337)
        );
        assert_eq!(
            Value::decode(ColumnType::CURRENCY, 0, &(-5i64).to_le_bytes()),
            Value::Int(-5)
        );
        assert_eq!(
            Value::decode(ColumnType::LONG, 0, &[1, 2]),
            Value::Binary(vec![1, 2]),
            "wrong size stays visible"
        );
        assert_eq!(
            Value::decode(ColumnType::TEXT, 1200, &[b'h', 0, b'i', 0]),
            Value::Text("hi".into())
        );
        assert_eq!(decode_text(1252, &[0x80, b'a']), "€a");
    }

    #[test]
    fn date_time_tells_ole_dates_from_filetimes() {
        assert_eq!(
            date_time(36526.5f64.to_bits() as i64),
            Value::DateTime(36526.5)
        );
        assert_eq!(date_time(0), Value::DateTime(0.0));
        let filetime = 132_767_929_493_700_000;
        assert_eq!(date_time(filetime), Value::FileTime(filetime));
        assert_eq!(filetime_text(filetime), "2021-09-22T14:02:29.3700000Z");
        assert_eq!(date_time(-1), Value::Int(-1));
    }

    #[test]
    fn text_drops_terminators() {
        assert_eq!(decode_text(1252, b"gc\0"), "gc");
        assert_eq!(decode_text(1200, &[b'g', 0, 0, 0]), "g");
    }

    #[test]
    fn formats_dates_and_guids() {
        assert_eq!(ole_date_text(36526.5), "2000-01-01T12:00:00.000000Z");
        let g = [
            0xf1, 0x0a, 0x36, 0x3f, 0x66, 0x67, 0xdc, 0x46, 0x9a, 0xf2, 0x0d, 0xac, 0xf2, 0x95,
            0xc2, 0xa1,
        ];
        assert_eq!(
            Value::Guid(g).display(),
            "3f360af1-6766-46dc-9af2-0dacf295c2a1"
        );
    }
}
