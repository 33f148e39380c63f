//! One 64 KiB chunk being filled: its bytes, its common-string and template tables, and the
//! header written when it is sealed.

use evtdoctor_parsers::evtx::CHUNK_SIZE;
use evtdoctor_parsers::le::{le_u32, set_le_u32};
use std::collections::HashMap;

/// Records start after the 512-byte chunk header (128 bytes of fields, then the two tables).
pub(super) const CHUNK_HEADER_SIZE: usize = 512;
const STRING_BUCKETS: usize = 64;
const TEMPLATE_BUCKETS: usize = 32;
const STRING_TABLE_OFFSET: usize = 128;
const TEMPLATE_TABLE_OFFSET: usize = STRING_TABLE_OFFSET + STRING_BUCKETS * 4;
/// The header checksum skips the 8 bytes holding the flags and the checksum itself.
const HEADER_FIELDS_END: usize = 120;

/// A chunk under construction. Offsets are relative to the chunk start, as BinXML wants them.
pub(super) struct Chunk {
    bytes: Vec<u8>,
    /// Offset of each name node already in the chunk.
    names: HashMap<String, u32>,
    /// Offset of each template definition already in the chunk, by template id.
    templates: HashMap<u32, u32>,
    /// Heads of the hash chains; every node's first field links to the previous head.
    string_heads: [u32; STRING_BUCKETS],
    template_heads: [u32; TEMPLATE_BUCKETS],
    /// First and last record ids, and where the last record starts.
    first_record: Option<u64>,
    last_record: u64,
    last_record_offset: u32,
}

/// Where a chunk stood before a record was added, to take the record back out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark(usize);

impl Chunk {
    pub fn new() -> Chunk {
        let mut bytes = Vec::with_capacity(CHUNK_SIZE);
        bytes.resize(CHUNK_HEADER_SIZE, 0);
        Chunk {
            bytes,
            names: HashMap::new(),
            templates: HashMap::new(),
            string_heads: [0; STRING_BUCKETS],
            template_heads: [0; TEMPLATE_BUCKETS],
            first_record: None,
            last_record: 0,
            last_record_offset: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first_record.is_none()
    }

    /// The chunk-relative offset the next byte goes to.
    pub fn position(&self) -> u32 {
        // Never above CHUNK_SIZE plus one record, which a caller limits to well under 4 GiB.
        self.bytes.len() as u32
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    pub fn push_u32(&mut self, value: u32) {
        self.push(&value.to_le_bytes());
    }

    /// Overwrites a little-endian u32 written earlier as a placeholder.
    pub fn patch_u32(&mut self, at: u32, value: u32) {
        let _ = set_le_u32(&mut self.bytes, at as usize, value);
    }

    pub fn name_offset(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }

    /// Registers a name node written at `offset`; returns the chain link the node must store.
    pub fn add_name(&mut self, name: &str, hash: u16, offset: u32) -> u32 {
        let bucket = usize::from(hash) % STRING_BUCKETS;
        self.names.insert(name.to_owned(), offset);
        std::mem::replace(&mut self.string_heads[bucket], offset)
    }

    pub fn template_offset(&self, template_id: u32) -> Option<u32> {
        self.templates.get(&template_id).copied()
    }

    /// Registers a template definition written at `offset`; returns the chain link it must
    /// store. Windows' bucket function is undocumented and readers walk every bucket, so the
    /// id picks the bucket.
    pub fn add_template(&mut self, template_id: u32, offset: u32) -> u32 {
        let bucket = template_id as usize % TEMPLATE_BUCKETS;
        self.templates.insert(template_id, offset);
        std::mem::replace(&mut self.template_heads[bucket], offset)
    }

    pub fn mark(&self) -> Mark {
        Mark(self.bytes.len())
    }

    /// Whether everything written so far fits in the chunk. A record may not end exactly at
    /// the chunk end: libevtx then drops it (Windows never fills a chunk to the last byte).
    pub fn fits(&self) -> bool {
        self.bytes.len() < CHUNK_SIZE
    }

    /// Notes a complete record that starts at `start`.
    pub fn record_added(&mut self, record_id: u64, start: Mark) {
        self.first_record.get_or_insert(record_id);
        self.last_record = record_id;
        self.last_record_offset = start.0 as u32;
    }

    /// Takes back everything written after `mark`: bytes, names and templates.
    pub fn rollback(&mut self, mark: Mark) {
        let cut = mark.0 as u32;
        for head in self
            .string_heads
            .iter_mut()
            .chain(self.template_heads.iter_mut())
        {
            // Nodes are pushed on the chain front, so later ones come first.
            while *head >= cut {
                *head = le_u32(&self.bytes, *head as usize).unwrap_or(0);
            }
        }
        self.names.retain(|_, offset| *offset < cut);
        self.templates.retain(|_, offset| *offset < cut);
        self.bytes.truncate(mark.0);
    }

    /// The finished 64 KiB chunk: header fields, tables and both checksums filled in, the
    /// free space zeroed.
    pub fn seal(mut self) -> Vec<u8> {
        let free_space_offset = self.bytes.len();
        let records_crc = crc32fast::hash(&self.bytes[CHUNK_HEADER_SIZE..]);
        let first = self.first_record.unwrap_or(0);
        let mut header = Vec::with_capacity(CHUNK_HEADER_SIZE);
        header.extend_from_slice(b"ElfChnk\0");
        // Record numbers and record ids are the same sequence in this writer.
        for value in [first, self.last_record, first, self.last_record] {
            header.extend_from_slice(&value.to_le_bytes());
        }
        // The header size field: 128, where the tables start.
        header.extend_from_slice(&(STRING_TABLE_OFFSET as u32).to_le_bytes());
        header.extend_from_slice(&self.last_record_offset.to_le_bytes());
        header.extend_from_slice(&(free_space_offset as u32).to_le_bytes());
        header.extend_from_slice(&records_crc.to_le_bytes());
        header.resize(STRING_TABLE_OFFSET, 0);
        for offset in self.string_heads {
            header.extend_from_slice(&offset.to_le_bytes());
        }
        debug_assert_eq!(header.len(), TEMPLATE_TABLE_OFFSET);
        for offset in self.template_heads {
            header.extend_from_slice(&offset.to_le_bytes());
        }
        debug_assert_eq!(header.len(), CHUNK_HEADER_SIZE);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header[..HEADER_FIELDS_END]);
        hasher.update(&header[STRING_TABLE_OFFSET..]);
        header[HEADER_FIELDS_END + 4..STRING_TABLE_OFFSET]
            .copy_from_slice(&hasher.finalize().to_le_bytes());
        self.bytes[..CHUNK_HEADER_SIZE].copy_from_slice(&header);
        self.bytes.resize(CHUNK_SIZE, 0);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_unlinks_names_and_templates_added_after_the_mark() {
        let mut chunk = Chunk::new();
        let kept = chunk.position();
        let link = chunk.add_name("Event", 3258, kept);
        chunk.push_u32(link);
        let mark = chunk.mark();
        let dropped = chunk.position();
        // Same bucket (3258 % 64 == 3322 % 64) to exercise chain unlinking.
        let link = chunk.add_name("Other", 3322, dropped);
        assert_eq!(link, kept);
        chunk.push_u32(link);
        let link = chunk.add_template(7, chunk.position());
        chunk.push_u32(link);
        chunk.rollback(mark);
        assert_eq!(chunk.name_offset("Event"), Some(kept));
        assert_eq!(chunk.name_offset("Other"), None);
        assert_eq!(chunk.template_offset(7), None);
        assert_eq!(chunk.position(), dropped);
        let sealed = chunk.seal();
        assert_eq!(sealed.len(), CHUNK_SIZE);
        assert_eq!(le_u32(&sealed, STRING_TABLE_OFFSET + 4 * 58), Some(kept));
        assert_eq!(le_u32(&sealed, TEMPLATE_TABLE_OFFSET + 7 * 4), Some(0));
    }
}
