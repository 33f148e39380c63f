//! The numbers of BinXML (MS-EVEN6), shared by the reader and the project's writer: token bytes
//! and substitution value types.

/// Token bytes.
pub mod token {
    pub const END_OF_FRAGMENT: u8 = 0x00;
    pub const OPEN_START_ELEMENT: u8 = 0x01;
    pub const CLOSE_START_ELEMENT: u8 = 0x02;
    pub const CLOSE_EMPTY_ELEMENT: u8 = 0x03;
    pub const END_ELEMENT: u8 = 0x04;
    pub const VALUE: u8 = 0x05;
    pub const ATTRIBUTE: u8 = 0x06;
    pub const TEMPLATE_INSTANCE: u8 = 0x0c;
    pub const NORMAL_SUBSTITUTION: u8 = 0x0d;
    pub const OPTIONAL_SUBSTITUTION: u8 = 0x0e;
    pub const FRAGMENT_HEADER: u8 = 0x0f;
    /// Set on an open-start-element token whose element has attributes, on an attribute token
    /// that another follows, and on a value token followed by more content.
    pub const HAS_MORE: u8 = 0x40;
    /// The dependency of an element that does not depend on one substitution.
    pub const NO_DEPENDENCY: u16 = 0xffff;
}

/// Substitution and literal value types.
pub mod value_type {
    pub const NULL: u8 = 0x00;
    pub const STRING: u8 = 0x01;
    pub const ANSI_STRING: u8 = 0x02;
    pub const INT8: u8 = 0x03;
    pub const UINT8: u8 = 0x04;
    pub const INT16: u8 = 0x05;
    pub const UINT16: u8 = 0x06;
    pub const INT32: u8 = 0x07;
    pub const UINT32: u8 = 0x08;
    pub const INT64: u8 = 0x09;
    pub const UINT64: u8 = 0x0a;
    pub const BOOL: u8 = 0x0d;
    pub const BINARY: u8 = 0x0e;
    pub const GUID: u8 = 0x0f;
    pub const SIZE_T: u8 = 0x10;
    pub const FILETIME: u8 = 0x11;
    pub const SID: u8 = 0x13;
    pub const HEX_INT32: u8 = 0x14;
    pub const HEX_INT64: u8 = 0x15;
    pub const BINXML: u8 = 0x21;
    pub const STRING_ARRAY: u8 = 0x81;
}
