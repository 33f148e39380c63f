//! Key normalisation as ESE does it, so index keys sort as byte strings: a header byte (0x7f
//! for a value), then the value big-endian with the sign bit flipped (signed integers), the
//! IEEE bit trick (dates), 8-byte chunks each followed by a length byte (variable binary), or
//! upper-cased text ended by a zero (code-page text, C locale). Only these are supported: the
//! tests prove each against keys real ESE stored in corpus databases.

/// Header byte of a non-NULL key segment.
const PREFIX_DATA: u8 = 0x7f;
/// Keys of the format's era are at most 255 bytes (JET_cbKeyMost_OLD).
pub const KEY_MOST: usize = 255;
const BINARY_CHUNK: usize = 8;

pub fn long(value: i32) -> Vec<u8> {
    segment(&(value as u32 ^ 0x8000_0000).to_be_bytes())
}

pub fn short(value: i16) -> Vec<u8> {
    segment(&(value as u16 ^ 0x8000).to_be_bytes())
}

/// Currency and LongLong.
pub fn long_long(value: i64) -> Vec<u8> {
    segment(&(value as u64 ^ 0x8000_0000_0000_0000).to_be_bytes())
}

pub fn bit(value: bool) -> Vec<u8> {
    segment(&[if value { 0xff } else { 0 }])
}

/// DateTime (an OLE date, a double): positive values get the sign bit set, negative ones are
/// inverted, so larger dates give larger keys.
pub fn date_time(value: f64) -> Vec<u8> {
    let bits = value.to_bits();
    let flipped = if bits >> 63 == 0 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    segment(&flipped.to_be_bytes())
}

/// A variable binary column: each 8 bytes followed by 9 when more follow, the last chunk
/// zero-padded and followed by its length.
pub fn binary(value: &[u8]) -> Vec<u8> {
    let mut key = vec![PREFIX_DATA];
    let chunks = value.chunks(BINARY_CHUNK);
    let count = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        key.extend_from_slice(chunk);
        key.resize(key.len() + BINARY_CHUNK - chunk.len(), 0);
        let last = i + 1 == count;
        key.push(if last { chunk.len() as u8 } else { 9 });
    }
    key
}

/// Code-page text: up to the first zero byte, a-z upper-cased, then a zero.
pub fn text(value: &[u8]) -> Vec<u8> {
    let mut key = vec![PREFIX_DATA];
    key.extend(
        value
            .iter()
            .take_while(|&&b| b != 0)
            .map(u8::to_ascii_uppercase),
    );
    key.push(0);
    key
}

fn segment(bytes: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + bytes.len());
    key.push(PREFIX_DATA);
    key.extend_from_slice(bytes);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_their_values() {
        assert_eq!(long(2), [0x7f, 0x80, 0, 0, 2]);
        assert_eq!(short(1), [0x7f, 0x80, 1]);
        assert!(long(-1) < long(0) && long(0) < long(i32::MAX));
        assert!(long_long(-5) < long_long(3));
        assert!(date_time(-1.5) < date_time(-1.0) && date_time(-1.0) < date_time(2.0));
        assert_eq!(binary(b"abc"), b"\x7fabc\0\0\0\0\0\x03");
        assert_eq!(binary(b"12345678").last(), Some(&8));
        assert_eq!(text(b"MSysObjects\0x"), b"\x7fMSYSOBJECTS\0");
        assert_eq!(bit(true), [0x7f, 0xff]);
    }
}
