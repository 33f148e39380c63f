//! Little-endian integers at byte offsets of untrusted input: a read or write out of range gives
//! `None`, never a panic.

#[inline]
pub fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*field(bytes, at)?))
}

#[inline]
pub fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*field(bytes, at)?))
}

#[inline]
pub fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*field(bytes, at)?))
}

/// Overwrites the four bytes at `at` with `value`.
#[inline]
pub fn set_le_u32(bytes: &mut [u8], at: usize, value: u32) -> Option<()> {
    let slot = bytes.get_mut(at..at.checked_add(4)?)?;
    slot.copy_from_slice(&value.to_le_bytes());
    Some(())
}

#[inline]
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<&[u8; N]> {
    bytes.get(at..)?.first_chunk::<N>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_bounded() {
        let bytes = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(le_u16(&bytes, 0), Some(0x0201));
        assert_eq!(le_u32(&bytes, 1), Some(0x0504_0302));
        assert_eq!(le_u64(&bytes, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(le_u16(&bytes, 7), Some(0x0908));
        assert_eq!(le_u16(&bytes, 8), None);
        assert_eq!(le_u32(&bytes, 6), None);
        assert_eq!(le_u64(&bytes, 2), None);
        assert_eq!(le_u32(&bytes, usize::MAX), None);
        assert_eq!(le_u16(&[], 0), None);
    }

    #[test]
    fn writes_round_trip_and_stay_in_bounds() {
        let mut bytes = [0u8; 6];
        assert_eq!(set_le_u32(&mut bytes, 2, 0xdead_beef), Some(()));
        assert_eq!(bytes, [0, 0, 0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(le_u32(&bytes, 2), Some(0xdead_beef));
        assert_eq!(set_le_u32(&mut bytes, 3, 1), None);
        assert_eq!(set_le_u32(&mut bytes, usize::MAX, 1), None);
        assert_eq!(bytes, [0, 0, 0xef, 0xbe, 0xad, 0xde]);
    }
}
