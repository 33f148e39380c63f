//! Decompression of compressed column data. The first byte names the scheme in its top five
//! bits (ESE compression.cxx): 1 = 7-bit ASCII, 2 = 7-bit Unicode, 3 = Xpress (plain LZ77, as
//! in MS-XCA). Newer schemes (Xpress9/10, LZ4) are reported as unsupported.

/// Uncompressed sizes above this are treated as damage (ESE values are far smaller).
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// Why compressed bytes cannot be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    #[error("empty compressed value")]
    Empty,
    #[error("xpress header too short")]
    XpressHeader,
    #[error("compression scheme {0} not supported")]
    Unsupported(u8),
    #[error("xpress data ends inside a match")]
    EndsInMatch,
    #[error("xpress data ends inside a flag word")]
    EndsInFlagWord,
    #[error("xpress length cut")]
    LengthCut,
    #[error("xpress length too small")]
    LengthTooSmall,
    #[error("xpress match reaches before the start")]
    MatchBeforeStart,
}

pub fn decompress(data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let header = *data.first().ok_or(CompressionError::Empty)?;
    match header >> 3 {
        1 => Ok(seven_bit(data, false)),
        2 => Ok(seven_bit(data, true)),
        3 => {
            let size = super::le_u16(data, 1).ok_or(CompressionError::XpressHeader)?;
            lz77_plain(&data[3..], usize::from(size))
        }
        scheme => Err(CompressionError::Unsupported(scheme)),
    }
}

/// 7-bit packing: each character keeps its low 7 bits; the header's low 3 bits give the bits
/// used in the last byte. Unicode text gets a zero high byte back.
fn seven_bit(data: &[u8], unicode: bool) -> Vec<u8> {
    let final_bits = usize::from(data[0] & 7) + 1;
    let packed = &data[1..];
    let total_bits = packed.len().saturating_sub(1) * 8 + final_bits;
    let count = if packed.is_empty() { 0 } else { total_bits / 7 };
    let mut out = Vec::with_capacity(count * if unicode { 2 } else { 1 });
    for i in 0..count {
        let bit = i * 7;
        let low = u16::from(packed.get(bit / 8).copied().unwrap_or(0));
        let high = u16::from(packed.get(bit / 8 + 1).copied().unwrap_or(0));
        let c = (((high << 8 | low) >> (bit % 8)) & 0x7f) as u8;
        out.push(c);
        if unicode {
            out.push(0);
        }
    }
    out
}

/// MS-XCA "plain LZ77": 32-bit flag words; a clear bit is a literal, a set bit a 16-bit match
/// (offset in the top 13 bits, length in the low 3, longer lengths in shared nibbles and
/// extra bytes).
fn lz77_plain(input: &[u8], expected: usize) -> Result<Vec<u8>, CompressionError> {
    let expected = expected.min(MAX_OUTPUT);
    let mut out: Vec<u8> = Vec::with_capacity(expected);
    let mut at = 0usize;
    let mut flags = 0u32;
    let mut flag_bits = 0u32;
    let mut nibble_at: Option<usize> = None;
    let byte = |i: usize| input.get(i).copied().ok_or(CompressionError::EndsInMatch);
    while out.len() < expected {
        if flag_bits == 0 {
            flags = super::le_u32(input, at).ok_or(CompressionError::EndsInFlagWord)?;
            at += 4;
            flag_bits = 32;
        }
        flag_bits -= 1;
        if flags >> flag_bits & 1 == 0 {
            out.push(byte(at)?);
            at += 1;
            continue;
        }
        let token = super::le_u16(input, at).ok_or(CompressionError::EndsInMatch)?;
        at += 2;
        let offset = usize::from(token >> 3) + 1;
        let mut length = usize::from(token & 7);
        if length == 7 {
            length = match nibble_at.take() {
                Some(i) => usize::from(byte(i)? >> 4),
                None => {
                    nibble_at = Some(at);
                    at += 1;
                    usize::from(byte(at - 1)? & 0x0f)
                }
            };
            if length == 15 {
                length = usize::from(byte(at)?);
                at += 1;
                if length == 255 {
                    length =
                        usize::from(super::le_u16(input, at).ok_or(CompressionError::LengthCut)?);
                    at += 2;
                    if length == 0 {
                        length =
                            super::le_u32(input, at).ok_or(CompressionError::LengthCut)? as usize;
                        at += 4;
                    }
                    length = length
                        .checked_sub(15 + 7)
                        .ok_or(CompressionError::LengthTooSmall)?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        let start = out
            .len()
            .checked_sub(offset)
            .ok_or(CompressionError::MatchBeforeStart)?;
        for i in 0..length.min(expected - out.len()) {
            let b = out[start + i];
            out.push(b);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_bit_ascii_and_unicode() {
        // "abc" packed: 7 bits each, 21 bits = 3 bytes, 5 bits used in the last.
        let (a, b, c) = (0x61u32, 0x62u32, 0x63u32);
        let bits = a | b << 7 | c << 14;
        let packed = [
            (1 << 3) | 4,
            bits as u8,
            (bits >> 8) as u8,
            (bits >> 16) as u8,
        ];
        assert_eq!(decompress(&packed).unwrap(), b"abc");
        let mut unicode = packed;
        unicode[0] = (2 << 3) | 4;
        assert_eq!(decompress(&unicode).unwrap(), b"a\0b\0c\0");
    }

    #[test]
    fn xpress_literals_and_overlapping_match() {
        // "abababab": 2 literals, then a match (offset 2, length 6 = 3 + 3).
        let token: u16 = ((2 - 1) << 3) | 3;
        let flags: u32 = 0b001 << 29;
        let mut data = vec![3 << 3, 8, 0];
        data.extend_from_slice(&flags.to_le_bytes());
        data.extend_from_slice(b"ab");
        data.extend_from_slice(&token.to_le_bytes());
        assert_eq!(decompress(&data).unwrap(), b"abababab");
        assert!(decompress(&data[..5]).is_err());
        assert_eq!(
            decompress(&[7 << 3]).unwrap_err(),
            CompressionError::Unsupported(7)
        );
    }
}
