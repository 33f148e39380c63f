//! Walking an undamaged chunk's records without the `evtx` crate's per-record tree building.
//!
//! The crate builds an intermediate tree of every record before it hands it on, which costs
//! more than our whole template conversion. For a chunk whose records all read cleanly, this
//! walk finds the same records the crate's walk finds (same rules: from the chunk header to the
//! free space or the chunk's last record ID) and gives their BinXML windows. Anything the walk
//! would have to judge (a damaged record header, or, when carving, a record signature in the
//! unallocated space) gives `None`, and the caller lets the crate read the chunk.

use evtx::EvtxChunk;

/// Chunk header size: the first record follows it.
pub const CHUNK_HEADER_SIZE: usize = 512;
/// Record header: signature, size, record ID, FILETIME.
pub const RECORD_HEADER_SIZE: usize = 24;
/// Every record starts with this signature.
pub const RECORD_SIGNATURE: &[u8; 4] = b"\x2a\x2a\x00\x00";

/// One live record: its header fields and its BinXML, as chunk offsets.
pub struct RawRecord {
    pub record_id: u64,
    /// When the record was written, as the crate reads it.
    pub timestamp: evtx::Timestamp,
    pub binxml_start: usize,
    pub binxml_len: usize,
}

/// The live records of `chunk`, in order, when every one of them has a sound header and (with
/// `recover`) no stale record could be carved after them; `None` otherwise.
pub fn clean_records(chunk: &EvtxChunk<'_>, recover: bool) -> Option<Vec<RawRecord>> {
    let data = chunk.data;
    let live_end = (chunk.header.free_space_offset as usize).min(data.len());
    let mut records = Vec::new();
    let mut offset = CHUNK_HEADER_SIZE;
    // Where the live records end: stale records may follow.
    let live_records_end = loop {
        if offset >= live_end {
            break offset;
        }
        let (record, end) = record_at(data, offset)?;
        let last = record.record_id == chunk.header.last_event_record_id;
        records.push(record);
        if last {
            break end;
        }
        offset = end;
    };
    let slack = data.get(live_records_end..).unwrap_or_default();
    if recover && memchr::memmem::find(slack, RECORD_SIGNATURE).is_some() {
        return None;
    }
    Some(records)
}

/// The record at `offset` and the offset it ends at, if its header is sound: signature, a size
/// that covers the header and the size copy, a BinXML window inside the chunk and a time the
/// crate can represent.
fn record_at(data: &[u8], offset: usize) -> Option<(RawRecord, usize)> {
    let header = data.get(offset..offset.checked_add(RECORD_HEADER_SIZE)?)?;
    let (signature, rest) = header.split_first_chunk::<4>()?;
    if signature != RECORD_SIGNATURE {
        return None;
    }
    let (size, rest) = rest.split_first_chunk::<4>()?;
    let (record_id, rest) = rest.split_first_chunk::<8>()?;
    let (filetime, _) = rest.split_first_chunk::<8>()?;
    let size = u32::from_le_bytes(*size) as usize;
    let filetime = u64::from_le_bytes(*filetime);
    let binxml_len = size.checked_sub(RECORD_HEADER_SIZE + 4)?;
    let binxml_start = offset + RECORD_HEADER_SIZE;
    if binxml_start.checked_add(binxml_len)? > data.len() {
        return None;
    }
    let record = RawRecord {
        record_id: u64::from_le_bytes(*record_id),
        timestamp: timestamp(filetime)?,
        binxml_start,
        binxml_len,
    };
    Some((record, offset.checked_add(size)?))
}

/// The record time as the crate converts it; `None` outside the years it can represent
/// (-9999..=9999), which it reports as damage.
fn timestamp(filetime: u64) -> Option<evtx::Timestamp> {
    let (seconds, nanos) = crate::filetime::to_unix(filetime)?;
    evtx::Timestamp::new(seconds, i32::try_from(nanos).ok()?).ok()
}
