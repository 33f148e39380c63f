//! Chunks the crate cannot read as they are: the cut last chunk of a truncated file, and chunks
//! whose header is destroyed.
//!
//! A record needs only the chunk's bytes before its end (a template or name is defined inline at
//! its first use and referenced by offset later), so both kinds are handed to the crate as whole
//! chunks: a cut one padded with zeroes from its first incomplete record on, a headerless one
//! behind a header that asks the crate to walk every record from the chunk start.

use super::walk::{CHUNK_HEADER_SIZE, RECORD_HEADER_SIZE, RECORD_SIGNATURE};
use super::{CHUNK_SIZE, FILE_HEADER_BLOCK};
use crate::Problem;
use evtx::{EvtxChunkData, EvtxChunkHeader};

const CHUNK_SIGNATURE: &[u8; 8] = b"ElfChnk\0";

/// A chunk rebuilt for the crate, and the problem that says what was missing.
pub struct Salvaged {
    pub data: EvtxChunkData,
    /// Reported after the chunk's records.
    pub loss: Option<Problem>,
}

/// File offset of chunk `number`.
pub fn chunk_offset(number: u64) -> u64 {
    FILE_HEADER_BLOCK as u64 + number * CHUNK_SIZE as u64
}

/// The end of the file `bytes`, from chunk `number` (the first one it does not hold whole) on:
/// the records that chunk holds whole, and one problem naming the bytes and records lost, up
/// to `counted_end` (where the chunks the file header counts end). `Err` when no record can be
/// read from it (the problem, or `None` when nothing was lost).
pub fn cut_chunk(bytes: &[u8], number: u64, counted_end: u64) -> Result<Salvaged, Option<Problem>> {
    let start = chunk_offset(number);
    let tail = usize::try_from(start)
        .ok()
        .and_then(|start| bytes.get(start..))
        .unwrap_or_default();
    let cut = start + tail.len() as u64;
    if tail.iter().all(|&b| b == 0) {
        return Err((counted_end > cut).then(|| {
            Problem::at_offset(
                cut,
                format!(
                    "the file ends after {number} chunk(s) where its header counts more: file \
                     bytes {cut}..{counted_end} are missing; they may have held an unknown \
                     number of records"
                ),
            )
        }));
    }
    let header = tail
        .get(..CHUNK_HEADER_SIZE)
        .filter(|h| h.starts_with(CHUNK_SIGNATURE))
        .and_then(|h| EvtxChunkHeader::from_bytes(h).ok());
    let Some(header) = header else {
        return Err(Some(Problem::at_offset(
            cut,
            format!(
                "chunk {number} is cut short: file bytes {cut}..{} are missing with its header; \
                 they may have held an unknown number of records",
                counted_end.max(start + CHUNK_SIZE as u64)
            ),
        )));
    };
    let whole = whole_records(tail);
    // Everything before the record the cut falls in is kept (past a damaged record the crate
    // resyncs on the next one); that record and the rest become zeroes, which end the walk.
    let keep = whole
        .crossing_cut
        .or_else(|| last_record_crossing(tail, whole.end))
        .unwrap_or(tail.len());
    let mut padded = vec![0; CHUNK_SIZE];
    padded[..keep].copy_from_slice(&tail[..keep]);
    let loss = cut_loss(&header, &whole, number, cut, counted_end);
    let mut data = EvtxChunkData::new(padded, false).map_err(|_| loss.clone())?;
    data.number = Some(number);
    Ok(Salvaged { data, loss })
}

/// The problem for a cut after `whole`; `None` when the cut fell in the chunk's free space.
fn cut_loss(
    header: &EvtxChunkHeader,
    whole: &WholeRecords,
    number: u64,
    cut: u64,
    counted_end: u64,
) -> Option<Problem> {
    let start = chunk_offset(number);
    let live_end = (header.free_space_offset as usize).clamp(CHUNK_HEADER_SIZE, CHUNK_SIZE);
    let reached_last = whole.last_id == Some(header.last_event_record_id);
    let chunk_end = start + CHUNK_SIZE as u64;
    let later_chunks = counted_end > chunk_end;
    if cut >= start + live_end as u64
        && (reached_last || whole.crossing_cut.is_none())
        && !later_chunks
    {
        return None;
    }
    let missing_end = start + live_end.max(cut.saturating_sub(start) as usize) as u64;
    let first_missing = whole
        .last_id
        .map_or(header.first_event_record_id, |id| id.saturating_add(1));
    let held = if header.first_event_record_id <= header.last_event_record_id
        && first_missing <= header.last_event_record_id
    {
        let count = header.last_event_record_id - first_missing + 1;
        format!(
            "{count} record(s) (IDs {first_missing}..={})",
            header.last_event_record_id
        )
    } else {
        "an unknown number of records".to_owned()
    };
    let (end, and_later) = match (later_chunks, missing_end > cut) {
        (true, _) => (counted_end, " and the later chunks' records"),
        (false, true) => (missing_end, ""),
        (false, false) => (chunk_end, ""),
    };
    Some(Problem::at_offset(
        cut,
        format!(
            "chunk {number} is cut short: file bytes {cut}..{end} are missing; they may have \
             held {held}{and_later}"
        ),
    ))
}

/// Where the last record signature after `from` starts, if the record it begins would end
/// past the end of `tail` (the chain broke on damage before it).
fn last_record_crossing(tail: &[u8], from: usize) -> Option<usize> {
    let at = from + memchr::memmem::rfind(tail.get(from..)?, RECORD_SIGNATURE)?;
    let size = tail.get(at + 4..at + 8).map_or(usize::MAX, |b| {
        u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize
    });
    (at.saturating_add(size) > tail.len()).then_some(at)
}

/// The chain of whole records from the chunk start.
struct WholeRecords {
    /// Where the last whole record of the chain starts and ends.
    last_start: usize,
    end: usize,
    last_id: Option<u64>,
    /// Where the record the cut falls in starts, if the chain reaches it.
    crossing_cut: Option<usize>,
}

/// Follows record sizes from the first record while each record ends before the end of `tail`.
fn whole_records(tail: &[u8]) -> WholeRecords {
    let mut chain = WholeRecords {
        last_start: CHUNK_HEADER_SIZE,
        end: CHUNK_HEADER_SIZE,
        last_id: None,
        crossing_cut: None,
    };
    let mut offset = CHUNK_HEADER_SIZE;
    while offset < tail.len() {
        let header = &tail[offset..tail.len().min(offset + RECORD_HEADER_SIZE)];
        // A record whose header itself is cut: its signature, where the cut leaves it, decides.
        let signature_len = header.len().min(RECORD_SIGNATURE.len());
        if header[..signature_len] != RECORD_SIGNATURE[..signature_len] {
            break;
        }
        let size = header
            .get(4..8)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize);
        let end = size.map(|size| offset.saturating_add(size));
        match (size, end) {
            (Some(size), Some(end)) if size >= RECORD_HEADER_SIZE + 4 && end <= tail.len() => {
                chain.last_id = tail
                    .get(offset + 8..offset + 16)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes);
                chain.last_start = offset;
                chain.end = end;
                offset = end;
            }
            (Some(size), Some(end)) if size >= RECORD_HEADER_SIZE + 4 && end <= CHUNK_SIZE => {
                chain.crossing_cut = Some(offset);
                break;
            }
            (None, _) => {
                chain.crossing_cut = Some(offset);
                break;
            }
            _ => break,
        }
    }
    chain
}

/// Chunk `number` of `bytes` behind a header rebuilt from its chain of records, when its own
/// header cannot be read (`None` when no record starts where the first one should).
pub fn rebuilt_chunk(bytes: &[u8], number: u64) -> Option<EvtxChunkData> {
    let start = usize::try_from(chunk_offset(number)).ok()?;
    let chunk = bytes.get(start..start.checked_add(CHUNK_SIZE)?)?;
    let chain = whole_records(chunk);
    let last_id = chain.last_id?;
    let mut data = chunk.to_vec();
    // The header: signature, IDs up to the chain's last, the live records ending where the
    // chain does (what follows is slack, carved as such); no string or template table (names
    // and templates are read inline where first used).
    data[..CHUNK_HEADER_SIZE].fill(0);
    data[..8].copy_from_slice(CHUNK_SIGNATURE);
    data[32..40].copy_from_slice(&last_id.to_le_bytes());
    data[40..44].copy_from_slice(&128u32.to_le_bytes());
    data[44..48].copy_from_slice(&(chain.last_start as u32).to_le_bytes());
    data[48..52].copy_from_slice(&(chain.end as u32).to_le_bytes());
    let mut data = EvtxChunkData::new(data, false).ok()?;
    data.number = Some(number);
    Some(data)
}
