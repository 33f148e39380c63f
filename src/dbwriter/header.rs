//! A file header from nothing: signature, format version 0x620 and the chosen revision, file
//! type, page size, database id and the creating version, completed by the parser crate's
//! fresh-header encoder (state clean shutdown, times, signature, OS version, checksum, shadow).

use evtdoctor_parsers::ese::header::{OsVersion, MAGIC, MIN_HEADER_SIZE};
use evtdoctor_parsers::ese::write::header::{fresh_header, FreshHeader};

const FORMAT_VERSION: u32 = 0x620;

/// The settings of a new file.
#[derive(Debug, Clone)]
pub struct HeaderSpec {
    /// Format revision (below 0x0b: XOR page checksums; 0x0b and up: ECC).
    pub revision: u32,
    pub page_size: usize,
    pub db_time: u64,
    pub random: u32,
    /// LOGTIME bytes of the creation.
    pub created: [u8; 8],
    pub os_version: OsVersion,
}

/// Both header pages (primary and shadow).
pub fn header_pages(spec: &HeaderSpec, last_object_id: u32) -> Result<Vec<u8>, String> {
    let mut base = vec![0u8; MIN_HEADER_SIZE.max(4096)];
    let page_size = u32::try_from(spec.page_size).map_err(|_| "page size too large")?;
    for (at, value) in [
        (4, MAGIC),
        (8, FORMAT_VERSION),
        (12, 0),  // a database, not a streaming file
        (104, 1), // database id
        (232, spec.revision),
        (236, page_size),
        (340, FORMAT_VERSION),
        (344, spec.revision),
    ] {
        base[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    let fresh = FreshHeader {
        db_time: spec.db_time,
        random: spec.random,
        now: spec.created,
        last_object_id,
        os_version: spec.os_version,
    };
    fresh_header(&base, spec.page_size, &fresh)
}
