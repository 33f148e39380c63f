//! The project's own .evtx writer: turns [`Event`]s into a valid Windows XML Event Log file,
//! laid out the way Windows logs events from classic sources (see `record`).
//!
//! ```
//! use evtdoctor_testkit::logwriter::evtx::write_evtx;
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
use evtdoctor_parsers::detect::EVTX_SIGNATURE;
use evtdoctor_parsers::evtx::{CHUNK_SIZE, FILE_HEADER_BLOCK};
use evtdoctor_parsers::Event;
use record::{write_record, RecordValues};

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
/// How [`Event`] fields land in the record:
/// - `record_number` is the record id; without one, the previous id plus one (first: 1).
/// - `time_generated` is `<TimeCreated>`; `time_written` the record header time (falling back
///   to `time_generated`).
/// - `source` is `<Provider Name>`, `event_id` and `qualifiers` `<EventID Qualifiers>`,
///   `category` `<Task>` (none: 0), `log` `<Channel>`, `computer` `<Computer>`, `user` (a SID
///   string, else the event is refused) `<Security UserID>`.
/// - `level` becomes `<Level>` and `<Keywords>` as Windows writes classic events; audits get
///   level 0 with the audit-outcome keyword.
/// - `strings` become one `<Data>` each, `data` the `<Binary>` (none is written like empty).
/// - `message` and `origin` are not stored: .evtx has no place for them.
///
/// The output depends only on the events: the same events give the same bytes.
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

    /// The complete file: header block, then every chunk. A log without events still gets
    /// one empty chunk, as libevtx reports a chunkless file corrupted.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.current.is_empty() || self.chunks.is_empty() {
            self.chunks.push(self.current.seal());
        }
        // push() keeps the count within u16.
        let chunk_count = self.chunks.len() as u16;
        let mut file = Vec::with_capacity(FILE_HEADER_BLOCK + self.chunks.len() * CHUNK_SIZE);
        file.extend_from_slice(EVTX_SIGNATURE);
        file.extend_from_slice(&0u64.to_le_bytes()); // first chunk number
        file.extend_from_slice(&u64::from(chunk_count.saturating_sub(1)).to_le_bytes());
        file.extend_from_slice(&self.next_record_id.to_le_bytes());
        file.extend_from_slice(&FILE_HEADER_SIZE.to_le_bytes());
        file.extend_from_slice(&FORMAT_MINOR_VERSION.to_le_bytes());
        file.extend_from_slice(&FORMAT_MAJOR_VERSION.to_le_bytes());
        file.extend_from_slice(&(FILE_HEADER_BLOCK as u16).to_le_bytes());
        file.extend_from_slice(&chunk_count.to_le_bytes());
        file.resize(FILE_HEADER_CHECKSUMMED, 0);
        file.extend_from_slice(&0u32.to_le_bytes()); // flags: clean, not full
        let checksum = crc32fast::hash(&file[..FILE_HEADER_CHECKSUMMED]);
        file.extend_from_slice(&checksum.to_le_bytes());
        file.resize(FILE_HEADER_BLOCK, 0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use evtdoctor_parsers::evtx::{read_evtx_all, EvtxOptions};
    use evtdoctor_parsers::le::{le_u16, le_u64};
    use evtdoctor_parsers::Level;

    fn read_back(bytes: &[u8]) -> Vec<Event> {
        let (events, problems) = read_evtx_all(bytes, EvtxOptions::default()).unwrap();
        assert_eq!(problems, []);
        events
    }

    #[test]
    fn unwritable_events_are_refused_and_the_rest_still_written() {
        let mut writer = EvtxWriter::new();
        let good = Event::new("EventLog", 6005, Level::Information);
        let mut account_name = good.clone();
        account_name.user = Some("NT AUTHORITY\\SYSTEM".into());
        let mut long_string = good.clone();
        long_string.strings = vec!["x".repeat(40_000)];
        let mut huge_data = good.clone();
        huge_data.data = Some(vec![7; 65_000]);
        let mut fits = good.clone();
        fits.data = Some(vec![7; 64_000]);

        assert_eq!(writer.push(&good), Ok(1));
        let refused = writer.push(&account_name).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "event #1: user \"NT AUTHORITY\\\\SYSTEM\" is not a SID string"
        );
        let refused = writer.push(&long_string).unwrap_err();
        assert_eq!(refused.index, 2);
        assert_eq!(refused.message, "a value of 80000 bytes exceeds 65535");
        let refused = writer.push(&huge_data).unwrap_err();
        assert_eq!(refused.message, "the record is larger than a 64 KiB chunk");
        assert_eq!(writer.push(&fits), Ok(2));
        assert_eq!(writer.push(&good), Ok(3));

        let bytes = writer.finish();
        // The 64,000-byte record needed a chunk of its own, and left no room after it.
        assert_eq!(bytes.len(), FILE_HEADER_BLOCK + 3 * CHUNK_SIZE);
        let events = read_back(&bytes);
        let ids: Vec<_> = events.iter().map(|e| e.record_number).collect();
        assert_eq!(ids, [Some(1), Some(2), Some(3)]);
        assert_eq!(events[1].data.as_ref().map(Vec::len), Some(64_000));
    }

    #[test]
    fn no_events_give_one_empty_chunk() {
        let bytes = write_evtx([]).unwrap();
        assert_eq!(bytes.len(), FILE_HEADER_BLOCK + CHUNK_SIZE);
        assert_eq!(&bytes[..8], b"ElfFile\0");
        assert_eq!(read_back(&bytes), []);
    }

    #[test]
    fn file_header_fields_and_checksum() {
        let events: Vec<Event> = (0..3)
            .map(|_| Event::new("EventLog", 6005, Level::Information))
            .collect();
        let bytes = write_evtx(&events).unwrap();
        let u16_at = |at| le_u16(&bytes, at).unwrap();
        let u64_at = |at| le_u64(&bytes, at).unwrap();
        assert_eq!(u64_at(16), 0, "last chunk number");
        assert_eq!(u64_at(24), 4, "next record id");
        assert_eq!((u16_at(36), u16_at(38)), (1, 3), "version 3.1");
        assert_eq!(
            (u16_at(40), u16_at(42)),
            (4096, 1),
            "block size, chunk count"
        );
        assert_eq!(
            bytes[124..128],
            crc32fast::hash(&bytes[..120]).to_le_bytes()
        );
    }
}
