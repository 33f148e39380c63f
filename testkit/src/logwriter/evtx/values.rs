//! BinXML value types and their byte encodings (the substitution values of a record).

use evtdoctor_parsers::evtx::binxml::value_type;

/// The BinXML value types this writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum ValueType {
    Null = value_type::NULL,
    String = value_type::STRING,
    UInt8 = value_type::UINT8,
    UInt16 = value_type::UINT16,
    UInt64 = value_type::UINT64,
    Binary = value_type::BINARY,
    FileTime = value_type::FILETIME,
    Sid = value_type::SID,
    HexInt64 = value_type::HEX_INT64,
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
