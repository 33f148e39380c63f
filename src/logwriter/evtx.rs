//! The project's own .evtx writer: turns [`Event`]s into a valid Windows XML Event Log file,
//! laid out the way Windows logs events from classic sources (see `record`).
//!
//! ```
//! use evtdoctor::logwriter::evtx::write_evtx;
//! use evtdoctor_parsers::{Event, Level};
//!
//! let mut event = Event::new("MSExchangeKMS", 5085, Level::Error);
//! event.log = Some("Application".into());
//! let bytes = write_evtx([&event]).unwrap();
//! assert_eq!(&bytes[..8], b"ElfFile\0");
//! ```

mod binxml;
mod chunk;
mod record;
mod values;

use chunk::Chunk;
use evtdoctor_parsers::Event;
use record::{write_record, RecordValues};

const FILE_HEADER_BLOCK_SIZE: usize = 4096;
/// Size of the file header's fields; the rest of its 4 KiB block is zero.
const FILE_HEADER_SIZE: u32 = 128;
const FORMAT_MINOR_VERSION: u16 = 1;
const FORMAT_MAJOR_VERSION: u16 = 3;
/// The file header checksum covers the fields before the flags.
const FILE_HEADER_CHECKSUMMED: usize = 120;

/// Why an event could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvtxWriteError {
    /// Position of the event in the sequence given to the writer (0-based).
    pub index: usize,
    pub message: String,
}

impl std::fmt::Display for EvtxWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event #{}: {}", self.index, self.message)
    }
}

impl std::error::Error for EvtxWriteError {}

/// Builds an .evtx file in memory, one event at a time.
///
/// Record ids are the events' `record_number`s; an event without one gets the previous id
/// plus one (the first gets 1). `time_written` goes to the record header (falling back to
/// `time_generated`); `data: None` is written like empty data. The output depends only on
/// the events: the same events give the same bytes.
pub struct EvtxWriter {
    chunks: Vec<Vec<u8>>,
    current: Chunk,
    next_record_id: u64,
    pushed: usize,
}

impl Default for EvtxWriter {
    fn default() -> Self {
        EvtxWriter::new()
    }
}

impl EvtxWriter {
    pub fn new() -> EvtxWriter {
        EvtxWriter {
            chunks: Vec::new(),
            current: Chunk::new(),
            next_record_id: 1,
            pushed: 0,
        }
    }

    /// Appends one event, starting a new chunk when the current one is full. Returns the
    /// record id written. On error nothing is written and the writer stays usable.
    pub fn push(&mut self, event: &Event) -> Result<u64, EvtxWriteError> {
        let index = self.pushed;
        self.pushed += 1;
        let fail = |message: String| EvtxWriteError { index, message };
        let record_id = event.record_number.unwrap_or(self.next_record_id);
        let record = RecordValues::from_event(event, record_id).map_err(fail)?;
        let mut start = self.current.mark();
        write_record(&mut self.current, &record);
        if !self.current.fits() {
            self.current.rollback(start);
            let mut fresh = Chunk::new();
            start = fresh.mark();
            write_record(&mut fresh, &record);
            if !fresh.fits() {
                return Err(fail("the record is larger than a 64 KiB chunk".into()));
            }
            if self.chunks.len() + 1 >= usize::from(u16::MAX) {
                return Err(fail(
                    "the file already holds the most chunks .evtx allows".into(),
                ));
            }
            let full = std::mem::replace(&mut self.current, fresh);
            self.chunks.push(full.seal());
        }
        self.current.record_added(record_id, start);
        self.next_record_id = record_id.saturating_add(1);
        Ok(record_id)
    }

    /// The complete file: header block, then every chunk.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.current.is_empty() {
            self.chunks.push(self.current.seal());
        }
        // push() keeps the count within u16.
        let chunk_count = self.chunks.len() as u16;
        let mut file =
            Vec::with_capacity(FILE_HEADER_BLOCK_SIZE + self.chunks.len() * chunk::CHUNK_SIZE);
        file.extend_from_slice(b"ElfFile\0");
        file.extend_from_slice(&0u64.to_le_bytes()); // first chunk number
        file.extend_from_slice(&u64::from(chunk_count.saturating_sub(1)).to_le_bytes());
        file.extend_from_slice(&self.next_record_id.to_le_bytes());
        file.extend_from_slice(&FILE_HEADER_SIZE.to_le_bytes());
        file.extend_from_slice(&FORMAT_MINOR_VERSION.to_le_bytes());
        file.extend_from_slice(&FORMAT_MAJOR_VERSION.to_le_bytes());
        file.extend_from_slice(&(FILE_HEADER_BLOCK_SIZE as u16).to_le_bytes());
        file.extend_from_slice(&chunk_count.to_le_bytes());
        file.resize(FILE_HEADER_CHECKSUMMED, 0);
        file.extend_from_slice(&0u32.to_le_bytes()); // flags: clean, not full
        let checksum = crc32fast::hash(&file[..FILE_HEADER_CHECKSUMMED]);
        file.extend_from_slice(&checksum.to_le_bytes());
        file.resize(FILE_HEADER_BLOCK_SIZE, 0);
        for chunk in &self.chunks {
            file.extend_from_slice(chunk);
        }
        file
    }
}

/// Writes `events`, in order, as a complete .evtx file.
pub fn write_evtx<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Vec<u8>, EvtxWriteError> {
    let mut writer = EvtxWriter::new();
    for event in events {
        writer.push(event)?;
    }
    Ok(writer.finish())
}
