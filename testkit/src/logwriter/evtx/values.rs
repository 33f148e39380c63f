//! BinXML value types and their byte encodings (the substitution values of a record).

use chrono::{DateTime, Utc};

/// Seconds between 1601-01-01 (the FILETIME epoch) and 1970-01-01.
const FILETIME_EPOCH_OFFSET_SECONDS: i64 = 11_644_473_600;
/// FILETIME ticks (100 ns) per second.
const TICKS_PER_SECOND: u64 = 10_000_000;
/// A SID holds at most 15 sub-authorities, and its authority is 48 bits wide.
const MAX_SUB_AUTHORITIES: usize = 15;
const MAX_SID_AUTHORITY: u64 = 1 << 48;

/// The BinXML value type codes this writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum ValueType {
    Null = 0x00,
    String = 0x01,
    UInt8 = 0x04,
    UInt16 = 0x06,
    UInt64 = 0x0a,
    Binary = 0x0e,
    FileTime = 0x11,
    Sid = 0x13,
    HexInt64 = 0x15,
}

/// One substitution value, already validated and encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Value {
    pub kind: ValueType,
    pub bytes: Vec<u8>,
}

impl Value {
    pub fn null() -> Value {
        Value {
            kind: ValueType::Null,
            bytes: Vec::new(),
        }
    }

    pub fn string(text: &str) -> Value {
        Value {
            kind: ValueType::String,
            bytes: utf16le(text),
        }
    }

    /// An absent or empty string becomes null, so readers leave the element out.
    pub fn optional_string(text: Option<&str>) -> Value {
        match text {
            Some(t) if !t.is_empty() => Value::string(t),
            _ => Value::null(),
        }
    }

    pub fn uint8(v: u8) -> Value {
        Value {
            kind: ValueType::UInt8,
            bytes: vec![v],
        }
    }

    pub fn uint16(v: u16) -> Value {
        Value {
            kind: ValueType::UInt16,
            bytes: v.to_le_bytes().to_vec(),
        }
    }

    pub fn uint64(v: u64) -> Value {
        Value {
            kind: ValueType::UInt64,
            bytes: v.to_le_bytes().to_vec(),
        }
    }

    pub fn hex_int64(v: u64) -> Value {
        Value {
            kind: ValueType::HexInt64,
            bytes: v.to_le_bytes().to_vec(),
        }
    }

    pub fn filetime(ticks: u64) -> Value {
        Value {
            kind: ValueType::FileTime,
            bytes: ticks.to_le_bytes().to_vec(),
        }
    }

    pub fn sid(bytes: Vec<u8>) -> Value {
        Value {
            kind: ValueType::Sid,
            bytes,
        }
    }

    /// Empty data becomes null, so readers leave `<Binary>` out as Windows does.
    pub fn binary(data: &[u8]) -> Value {
        if data.is_empty() {
            return Value::null();
        }
        Value {
            kind: ValueType::Binary,
            bytes: data.to_vec(),
        }
    }
}

/// UTF-16LE code units of `text`, without a terminator.
pub(super) fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A time as FILETIME ticks; `None` before 1601 or past the year 60056.
pub(super) fn filetime_ticks(time: DateTime<Utc>) -> Option<u64> {
    let seconds = time
        .timestamp()
        .checked_add(FILETIME_EPOCH_OFFSET_SECONDS)?;
    // Leap-second instants carry nanoseconds past 999,999,999.
    let sub_ticks = u64::from(time.timestamp_subsec_nanos().min(999_999_999) / 100);
    u64::try_from(seconds)
        .ok()?
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(sub_ticks)
}

/// The binary form of a SID string such as `S-1-5-21-7-1108`; `None` when `text` is not one.
pub(super) fn sid_bytes(text: &str) -> Option<Vec<u8>> {
    let mut parts = text
        .strip_prefix("S-")
        .or_else(|| text.strip_prefix("s-"))?
        .split('-');
    let revision: u8 = parts.next()?.parse().ok()?;
    let authority: u64 = parts.next()?.parse().ok()?;
    if authority >= MAX_SID_AUTHORITY {
        return None;
    }
    let sub_authorities = parts
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<Vec<u32>>>()?;
    if sub_authorities.len() > MAX_SUB_AUTHORITIES {
        return None;
    }
    let mut bytes = vec![revision, sub_authorities.len() as u8];
    bytes.extend_from_slice(&authority.to_be_bytes()[2..]);
    for sub in sub_authorities {
        bytes.extend_from_slice(&sub.to_le_bytes());
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_strings_encode_like_windows() {
        assert_eq!(
            sid_bytes("S-1-5-18").unwrap(),
            [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]
        );
        let domain_user = sid_bytes("S-1-5-21-1587066498-1489273250-1035260531-1108").unwrap();
        assert_eq!(domain_user.len(), 8 + 5 * 4);
        assert_eq!(&domain_user[24..], &1108u32.to_le_bytes());
        for bad in [
            "",
            "S-1",
            "S-1-x",
            "NT AUTHORITY\\SYSTEM",
            "S-1-281474976710656-1",
        ] {
            assert_eq!(sid_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn filetime_counts_100ns_ticks_from_1601() {
        let unix_epoch = DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(filetime_ticks(unix_epoch), Some(116_444_736_000_000_000));
        let with_fraction = DateTime::from_timestamp(1, 123_456_789).unwrap();
        assert_eq!(
            filetime_ticks(with_fraction),
            Some(116_444_736_000_000_000 + 11_234_567)
        );
        let before_1601 = DateTime::from_timestamp(-FILETIME_EPOCH_OFFSET_SECONDS - 1, 0).unwrap();
        assert_eq!(filetime_ticks(before_1601), None);
    }
}
