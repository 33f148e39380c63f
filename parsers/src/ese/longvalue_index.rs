//! The long values of one tree, each assembled and checked once as a walk of the tree passes
//! its entries in key order, remembered by key with their size (or why they are unreadable).
//! A check of the table's records then looks each reference up here instead of seeking it in
//! the tree: one sequential read of the tree instead of one descent per value.

use super::longvalue::{Assembly, Keep, LongValueError};
use std::collections::BTreeMap;

/// At most this many values are remembered (about 32 MiB of 4-byte ids); references to the
/// others are sought in the tree as before.
const MAX_VALUES: usize = 1 << 22;

/// The values of one long-value tree, by root key (the id, big-endian: 4 or 8 bytes).
#[derive(Debug, Default)]
pub struct LongValueIndex {
    /// Sizes of the values with 4-byte and 8-byte keys, in ascending key order.
    narrow: Vec<(u32, u32)>,
    wide: Vec<(u64, u32)>,
    /// Values that cannot be read, and why.
    unreadable: BTreeMap<Vec<u8>, LongValueError>,
    /// The value being assembled: its root key, and its assembly or what stopped it.
    current: Option<(Vec<u8>, Result<Assembly, LongValueError>)>,
    /// Set when values stopped being remembered (too many, or keys out of order).
    partial: bool,
}

impl LongValueIndex {
    /// Takes the tree's next live leaf entry in key order. An entry whose key extends the
    /// current value's key is one of its segments, as a seek for that value would see it;
    /// any other key of 4 or 8 bytes starts a value.
    pub fn entry(&mut self, key: &[u8], data: &[u8]) {
        if let Some((root, assembly)) = &mut self.current {
            if key.starts_with(root) {
                if let Ok(value) = assembly {
                    if let Err(error) = value.segment(key, data) {
                        *assembly = Err(error);
                    }
                }
                return;
            }
        }
        self.close_current();
        if matches!(key.len(), 4 | 8) {
            let assembly = Assembly::start(key, data, Keep::Size);
            self.current = Some((key.to_vec(), assembly));
        }
    }

    /// Ends the walk: the last value is finished.
    pub fn finish(mut self) -> LongValueIndex {
        self.close_current();
        self
    }

    /// The size of the value with root key `key`, or why it cannot be read; `None` when the
    /// walk did not see it as a value (missing, or not remembered): then seek it.
    pub fn size(&self, key: &[u8]) -> Option<Result<usize, LongValueError>> {
        if let Some(error) = self.unreadable.get(key) {
            return Some(Err(error.clone()));
        }
        let size = match key.len() {
            4 => {
                let id = u32::from_be_bytes(key.try_into().ok()?);
                let at = self.narrow.binary_search_by_key(&id, |&(k, _)| k).ok()?;
                self.narrow[at].1
            }
            8 => {
                let id = u64::from_be_bytes(key.try_into().ok()?);
                let at = self.wide.binary_search_by_key(&id, |&(k, _)| k).ok()?;
                self.wide[at].1
            }
            _ => return None,
        };
        Some(Ok(size as usize))
    }

    fn close_current(&mut self) {
        let Some((key, assembly)) = self.current.take() else {
            return;
        };
        let remembered = self.narrow.len() + self.wide.len() + self.unreadable.len();
        if self.partial || remembered >= MAX_VALUES {
            self.partial = true;
            return;
        }
        let size = match assembly.and_then(Assembly::finish) {
            Ok(value) => value.size as u32,
            Err(error) => {
                self.unreadable.insert(key, error);
                return;
            }
        };
        // Keys come in order from a sound tree; out of order, binary search would miss.
        let in_order = match key.len() {
            4 => push_ascending(&mut self.narrow, u32::from_be_bytes(key_bytes(&key)), size),
            _ => push_ascending(&mut self.wide, u64::from_be_bytes(key_bytes(&key)), size),
        };
        self.partial = !in_order;
    }
}

fn key_bytes<const N: usize>(key: &[u8]) -> [u8; N] {
    key.try_into().unwrap_or([0; N])
}

/// Appends `(id, size)` when `id` is above the last id; false (nothing added) otherwise.
fn push_ascending<K: Ord + Copy>(values: &mut Vec<(K, u32)>, id: K, size: u32) -> bool {
    if values.last().is_some_and(|&(last, _)| last >= id) {
        return false;
    }
    values.push((id, size));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(total: u32) -> Vec<u8> {
        [1u32.to_le_bytes(), total.to_le_bytes()].concat()
    }

    fn indexed(entries: &[(Vec<u8>, Vec<u8>)]) -> LongValueIndex {
        let mut index = LongValueIndex::default();
        for (key, data) in entries {
            index.entry(key, data);
        }
        index.finish()
    }

    #[test]
    fn values_are_remembered_with_their_size_or_their_fault() {
        let id = |n: u32| n.to_be_bytes().to_vec();
        let segment = |n: u32, offset: u32| [id(n), offset.to_be_bytes().to_vec()].concat();
        let wide = [0, 0, 0, 5, 0, 0, 0, 1];
        let index = indexed(&[
            (id(1), root(5)),
            (segment(1, 0), b"abc".to_vec()),
            (segment(1, 3), b"de".to_vec()),
            (id(2), root(9)),
            (segment(2, 0), b"abc".to_vec()),
            // A segment with no root: never a value of its own.
            (segment(3, 0), b"x".to_vec()),
            (id(4), root(0)),
            (wide.to_vec(), root(1)),
            ([&wide[..], &[0; 4]].concat(), b"q".to_vec()),
        ]);
        assert_eq!(index.size(&id(1)), Some(Ok(5)));
        assert!(matches!(
            index.size(&id(2)),
            Some(Err(LongValueError::Compression(_)))
        ));
        assert_eq!(index.size(&id(3)), None);
        assert_eq!(index.size(&id(4)), Some(Ok(0)));
        assert_eq!(index.size(&wide), Some(Ok(1)));
        assert_eq!(index.size(&id(5)), None);
    }

    #[test]
    fn keys_out_of_order_stop_the_index_rather_than_mislead_it() {
        let index = indexed(&[
            (2u32.to_be_bytes().to_vec(), root(0)),
            (1u32.to_be_bytes().to_vec(), root(0)),
            (3u32.to_be_bytes().to_vec(), root(0)),
        ]);
        assert_eq!(index.size(&2u32.to_be_bytes()), Some(Ok(0)));
        assert_eq!(index.size(&1u32.to_be_bytes()), None);
        assert_eq!(index.size(&3u32.to_be_bytes()), None);
    }
}
