//! A fresh file header for the rebuilt database: the source header's format, page size and
//! settings, marked cleanly shut down with no log attached, a new signature and times, and
//! the OS version the new indexes are stamped with. A file written from nothing starts from
//! [`header_pages`]: signature, format 0x620 and the chosen revision, file type, page size,
//! database id and creating version, completed by the same fresh-header encoder.

use super::error::WriteError;
use crate::ese::header::{
    set_header_checksum, OsVersion, HEADER_CHECKSUM_SPAN, MAGIC, MIN_HEADER_SIZE,
};

/// What changes from the source header.
#[derive(Debug, Clone)]
pub struct FreshHeader {
    pub db_time: u64,
    /// The new database signature's random number.
    pub random: u32,
    /// LOGTIME bytes of the rebuild (creation of the new signature, consistent and detach time).
    pub now: [u8; 8],
    pub last_object_id: u32,
    pub os_version: OsVersion,
}

const STATE_CLEAN_SHUTDOWN: u32 = 3;

/// Offsets in DBFILEHDR (see the reader's `header.rs`).
const DB_TIME: usize = 16;
const SIGNATURE: usize = 24;
const STATE: usize = 52;
/// From the consistent position through the three backup records: log positions and times of
/// the old file's life, none of which apply to the new file.
const LOG_STATE: std::ops::Range<usize> = 56..104;
const LOG_SIGNATURE: std::ops::Range<usize> = 108..136;
const BACKUPS: std::ops::Range<usize> = 136..208;
const LAST_OBJECT_ID: usize = 212;
const OS_VERSION: usize = 216;
const CONSISTENT_TIME: usize = 64;
const DETACH_TIME: usize = 88;
const LOG_REQUIRED: std::ops::Range<usize> = 296..304;
/// Fields of newer headers that ESE resets when a database starts a new life without its old
/// logs and backups (docs/defrag.md, "The header"): the current snapshot, the backup types,
/// the copy and differential backups and their types, the signatures of the last header and
/// flush-map flushes, and the log position of the last resize.
const SNAPSHOT: std::ops::Range<usize> = 316..340;
const BACKUP_TYPES: std::ops::Range<usize> = 356..364;
const MORE_BACKUPS: std::ops::Range<usize> = 420..476;
const FLUSH_SIGNATURES: std::ops::Range<usize> = 584..640;
const LAST_RESIZE: std::ops::Range<usize> = 656..664;

/// Both header pages (primary and shadow, identical), each `page_size` bytes.
pub fn fresh_header(
    source: &[u8],
    page_size: usize,
    fresh: &FreshHeader,
) -> Result<Vec<u8>, WriteError> {
    let span = HEADER_CHECKSUM_SPAN.min(page_size);
    let mut page = source
        .get(..span)
        .filter(|s| s.len() >= MIN_HEADER_SIZE)
        .ok_or_else(|| WriteError::encode("source header is too short"))?
        .to_vec();
    page.resize(page_size, 0);
    for range in [
        LOG_STATE,
        LOG_SIGNATURE,
        BACKUPS,
        LOG_REQUIRED,
        SNAPSHOT,
        BACKUP_TYPES,
        MORE_BACKUPS,
        FLUSH_SIGNATURES,
        LAST_RESIZE,
    ] {
        if let Some(field) = page.get_mut(range) {
            field.fill(0);
        }
    }
    put(&mut page, DB_TIME, &fresh.db_time.to_le_bytes());
    put(&mut page, SIGNATURE, &fresh.random.to_le_bytes());
    put(&mut page, SIGNATURE + 4, &fresh.now);
    put(&mut page, STATE, &STATE_CLEAN_SHUTDOWN.to_le_bytes());
    put(&mut page, CONSISTENT_TIME, &fresh.now);
    put(&mut page, DETACH_TIME, &fresh.now);
    put(
        &mut page,
        LAST_OBJECT_ID,
        &fresh.last_object_id.to_le_bytes(),
    );
    let os = fresh.os_version;
    for (i, value) in [os.major, os.minor, os.build, os.service_pack]
        .iter()
        .enumerate()
    {
        put(&mut page, OS_VERSION + 4 * i, &value.to_le_bytes());
    }
    set_header_checksum(&mut page);
    let mut both = page.clone();
    both.extend_from_slice(&page);
    Ok(both)
}

fn put(page: &mut [u8], at: usize, bytes: &[u8]) {
    page[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A LOGTIME from calendar fields (year as in 2026), stamped as UTC.
pub fn log_time(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> [u8; 8] {
    let year = u8::try_from(year.saturating_sub(1900)).unwrap_or(u8::MAX);
    [second, minute, hour, day, month, year, 1, 0]
}

/// The format version of every file written from nothing (ESE98 and later).
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
pub fn header_pages(spec: &HeaderSpec, last_object_id: u32) -> Result<Vec<u8>, WriteError> {
    let mut base = vec![0u8; MIN_HEADER_SIZE.max(4096)];
    let page_size =
        u32::try_from(spec.page_size).map_err(|_| WriteError::encode("page size too large"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::header::{DbState, FileHeader, MAGIC};

    #[test]
    fn fresh_header_is_clean_with_the_new_os_version() {
        let mut source = vec![0u8; 4096];
        source[4..8].copy_from_slice(&MAGIC.to_le_bytes());
        source[8..12].copy_from_slice(&0x620u32.to_le_bytes());
        source[52..56].copy_from_slice(&2u32.to_le_bytes());
        source[232..236].copy_from_slice(&9u32.to_le_bytes());
        source[296..304].fill(7);
        // Snapshot, backup types, copy and differential backups, flush signatures, last resize.
        for range in [316..340, 356..364, 420..476, 584..640, 656..664] {
            source[range].fill(0x5a);
        }
        // Kept: the dbscan times (516..536) and the minor format update (644..648).
        source[516..536].fill(0x11);
        source[644..648].copy_from_slice(&0x14u32.to_le_bytes());
        let fresh = FreshHeader {
            db_time: 0x55,
            random: 0xdead,
            now: log_time(2026, 11, 26, 5, 30, 0),
            last_object_id: 40,
            os_version: OsVersion {
                major: 5,
                minor: 0,
                build: 2195,
                service_pack: 4,
            },
        };
        let both = fresh_header(&source, 4096, &fresh).unwrap();
        assert_eq!(both.len(), 8192);
        assert_eq!(both[..4096], both[4096..]);
        let header = FileHeader::parse(&both[..4096]).unwrap();
        assert!(header.checksum_ok());
        assert_eq!(header.state, DbState::CLEAN_SHUTDOWN);
        assert_eq!((header.format_version, header.format_revision), (0x620, 9));
        assert_eq!(header.os_version.to_string(), "(5.0.2195 SP 4)");
        assert_eq!((header.log_required_min, header.log_required_max), (0, 0));
        assert_eq!(header.db_signature.random, 0xdead);
        assert_eq!(
            header.db_signature.created.eseutil(),
            "11/26/2026 05:30:00.000"
        );
        assert_eq!((header.db_time, header.last_object_id), (0x55, 40));
        assert!(!both[300..700].contains(&0x5a));
        assert!(both[516..536].iter().all(|&b| b == 0x11));
        assert_eq!(both[644..648], 0x14u32.to_le_bytes());
        assert!(fresh_header(&source[..100], 4096, &fresh).is_err());
    }
}
