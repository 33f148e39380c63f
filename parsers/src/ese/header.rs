//! The database file header (page "-1" at offset 0) and its shadow copy (the next page).
//!
//! Field offsets follow Microsoft's DBFILEHDR (published ESE source, daedef.hxx); the names
//! printed by [`FileHeader::eseutil_fields`] are the ones `eseutil /mh` uses.

use super::checksum;
use super::{le_u32, le_u64};
use serde::Serialize;

/// The header signature ("ulMagic").
pub const MAGIC: u32 = 0x89ab_cdef;
/// Bytes of a header page covered by its checksum (the header structure is smaller).
pub const HEADER_CHECKSUM_SPAN: usize = 4096;
/// The smallest header the fields below fit in.
pub const MIN_HEADER_SIZE: usize = 668;
/// The only format version ESE reads (ESE97 and every engine since; 0x620 = 1568).
pub const FORMAT_VERSION: u32 = 0x620;
/// The newest format revision accepted: far above any engine shipped (the published engine
/// knows up to 290, Windows 11 writes 300; revisions grow by about ten a year), so a value
/// above it is damage, not a newer database.
pub const MAX_FORMAT_REVISION: u32 = 1000;
/// From this revision, 16 and 32 KiB pages use the long-value chunk size ESE reads; a
/// large-page database of an older revision is one ESE refuses.
pub const LARGE_PAGE_REVISION: u32 = 0x11;
/// Page sizes ESE uses (a stored 0 means 4096).
pub const PAGE_SIZES: [u32; 5] = [2048, 4096, 8192, 16384, 32768];
/// Database states ESE defines (JET_dbstateJustCreated ..= JET_dbstateRevertInProgress).
pub const KNOWN_STATES: std::ops::RangeInclusive<u32> = 1..=8;
/// JET_filetype values a database header may hold: unknown (older engines), database,
/// temporary database.
pub const DATABASE_FILE_TYPES: [u32; 3] = [0, 1, 5];

/// Why header bytes are not an ESE database header at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("file header too short: {0} bytes, need {MIN_HEADER_SIZE}")]
    TooShort(usize),
    #[error("no ESE signature: 0x{0:08x} at offset 4, expected 0x{MAGIC:08x}")]
    NoSignature(u32),
}

/// A header value ESE refuses on attach: the header is an ESE header, but the database is
/// damaged (or not one ESE can use). [`HeaderFault::offset`] gives the field's offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderFault {
    #[error("format version 0x{0:x}: ESE reads only 0x{FORMAT_VERSION:x}")]
    FormatVersion(u32),
    #[error("format revision {0} (0x{0:x}): above {MAX_FORMAT_REVISION}, newer than any engine")]
    FormatRevision(u32),
    #[error("page size {0}: ESE uses 0 (4 KiB), 2048, 4096, 8192, 16384 or 32768")]
    PageSize(u32),
    #[error(
        "page size {page_size} needs format revision 0x{LARGE_PAGE_REVISION:x} or later (the long-value chunk size of large pages); revision 0x{revision:x}"
    )]
    LargePagesTooOld { page_size: u32, revision: u32 },
    #[error("database state {0}: none of ESE's states (1-8)")]
    State(u32),
    #[error("attribute {0}: a database has 0")]
    Attribute(u32),
    #[error("file type {0}: not a database (0, 1 or 5)")]
    FileType(u32),
}

impl HeaderFault {
    /// The fault as a problem at its field's offset.
    pub fn problem(&self) -> crate::Problem {
        crate::Problem::at_offset(self.offset(), self.to_string())
    }

    /// Offset of the field in the header page.
    pub fn offset(&self) -> u64 {
        match self {
            HeaderFault::FormatVersion(_) => 8,
            HeaderFault::FormatRevision(_) | HeaderFault::LargePagesTooOld { .. } => 232,
            HeaderFault::PageSize(_) => 236,
            HeaderFault::State(_) => 52,
            HeaderFault::Attribute(_) => 12,
            HeaderFault::FileType(_) => 667,
        }
    }
}

/// A LOGTIME: a calendar time stamp of 8 bytes (year since 1900, month 1-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millisecond: u16,
    pub utc: bool,
}

impl LogTime {
    pub fn parse(bytes: &[u8]) -> Option<LogTime> {
        let b = bytes.get(..8)?;
        Some(LogTime {
            second: b[0],
            minute: b[1],
            hour: b[2],
            day: b[3],
            month: b[4],
            year: 1900 + u16::from(b[5]),
            utc: b[6] & 1 != 0,
            millisecond: u16::from(b[6] >> 1) | (u16::from(b[7] & 0x07) << 7),
        })
    }

    /// All-zero stamps mean "never".
    pub fn is_set(&self) -> bool {
        self.month != 0 || self.day != 0 || self.year != 1900
    }

    /// The way eseutil prints it: `MM/DD/YYYY HH:MM:SS.mmm`.
    pub fn eseutil(&self) -> String {
        format!(
            "{:02}/{:02}/{:04} {:02}:{:02}:{:02}.{:03}",
            self.month, self.day, self.year, self.hour, self.minute, self.second, self.millisecond
        )
    }
}

/// A log position (LGPOS): generation, sector and byte in the sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogPosition {
    pub generation: u32,
    pub sector: u16,
    pub byte: u16,
}

impl LogPosition {
    pub fn parse(bytes: &[u8]) -> Option<LogPosition> {
        Some(LogPosition {
            byte: super::le_u16(bytes, 0)?,
            sector: super::le_u16(bytes, 2)?,
            generation: le_u32(bytes, 4)?,
        })
    }

    /// eseutil's `(0xGEN,SEC,IB)` form, all hexadecimal.
    pub fn eseutil(&self) -> String {
        format!(
            "(0x{:X},{:X},{:X})",
            self.generation, self.sector, self.byte
        )
    }
}

/// A database or log signature: random number, creation time, computer name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    pub random: u32,
    pub created: LogTime,
    pub computer: String,
}

impl Signature {
    pub fn parse(bytes: &[u8]) -> Option<Signature> {
        let name = bytes.get(12..28)?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(Signature {
            random: le_u32(bytes, 0)?,
            created: LogTime::parse(bytes.get(4..12)?)?,
            computer: name[..end].iter().map(|&b| char::from(b)).collect(),
        })
    }

    pub fn eseutil(&self) -> String {
        format!(
            "Create time:{} Rand:{} Computer:{}",
            self.created.eseutil(),
            self.random,
            self.computer
        )
    }
}

/// Backup bookkeeping (BKINFO): the log range a backup covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    pub mark: LogPosition,
    pub time: LogTime,
    pub generation_low: u32,
    pub generation_high: u32,
}

impl BackupInfo {
    pub fn parse(bytes: &[u8]) -> Option<BackupInfo> {
        Some(BackupInfo {
            mark: LogPosition::parse(bytes.get(0..8)?)?,
            time: LogTime::parse(bytes.get(8..16)?)?,
            generation_low: le_u32(bytes, 16)?,
            generation_high: le_u32(bytes, 20)?,
        })
    }

    fn eseutil(&self) -> String {
        format!(
            "Log Gen: {}-{} (0x{:x}-0x{:x}) Mark: {} {}",
            self.generation_low,
            self.generation_high,
            self.generation_low,
            self.generation_high,
            self.mark.eseutil(),
            self.time.eseutil()
        )
    }
}

/// The database state (JET_dbstate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DbState(pub u32);

impl DbState {
    pub const JUST_CREATED: DbState = DbState(1);
    pub const DIRTY_SHUTDOWN: DbState = DbState(2);
    pub const CLEAN_SHUTDOWN: DbState = DbState(3);

    /// The name eseutil prints.
    pub fn name(self) -> String {
        match self.0 {
            1 => "Just Created".into(),
            2 => "Dirty Shutdown".into(),
            3 => "Clean Shutdown".into(),
            4 => "Being Converted".into(),
            5 => "Force Detach Replay Error".into(),
            6 => "Incremental Reseed In Progress".into(),
            7 => "Dirty and Patched Shutdown".into(),
            8 => "Revert In Progress".into(),
            other => format!("Illegal ({other})"),
        }
    }
}

/// The Windows version the secondary indexes were last built under (their sort order depends
/// on it: a different version or service pack makes ESE rebuild them on attach).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OsVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub service_pack: u32,
}

impl std::fmt::Display for OsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({}.{}.{} SP {})",
            self.major, self.minor, self.build, self.service_pack
        )
    }
}

/// The decoded file header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHeader {
    pub checksum: u32,
    /// The checksum the header bytes actually have.
    pub computed_checksum: u32,
    pub magic: u32,
    pub format_version: u32,
    /// Format revision ("update"): 0x0b and up have ECC page checksums, 0x11 and up large pages.
    pub format_revision: u32,
    /// The attribute (le_attrib): 0 = database, 1 = streaming file (obsolete).
    pub file_type: u32,
    pub db_time: u64,
    pub db_signature: Signature,
    pub state: DbState,
    pub consistent_position: LogPosition,
    pub consistent_time: LogTime,
    pub attach_time: LogTime,
    pub attach_position: LogPosition,
    pub detach_time: LogTime,
    pub detach_position: LogPosition,
    pub dbid: u32,
    pub log_signature: Signature,
    pub previous_full_backup: BackupInfo,
    pub previous_incremental_backup: BackupInfo,
    pub current_full_backup: BackupInfo,
    pub shadowing_disabled: bool,
    pub last_object_id: u32,
    pub os_version: OsVersion,
    /// Bytes per page (the stored 0 of old databases means 4096).
    pub page_size: u32,
    pub repair_count: u32,
    pub repair_time: LogTime,
    pub scrub_db_time: u64,
    pub scrub_time: LogTime,
    pub log_required_min: u32,
    pub log_required_max: u32,
    pub created_format_version: u32,
    pub created_format_revision: u32,
    pub old_repair_count: u32,
    /// JET_filetype (offset 667; 0 in headers of older engines).
    pub jet_file_type: u32,
}

impl FileHeader {
    /// Decodes a header page. Fails only when the bytes are too short or lack the signature;
    /// a wrong checksum is reported by [`FileHeader::checksum_ok`], not here.
    pub fn parse(page: &[u8]) -> Result<FileHeader, HeaderError> {
        if page.len() < MIN_HEADER_SIZE {
            return Err(HeaderError::TooShort(page.len()));
        }
        let u32_at = |at| le_u32(page, at).unwrap_or(0);
        let magic = u32_at(4);
        if magic != MAGIC {
            return Err(HeaderError::NoSignature(magic));
        }
        let time_at = |at: usize| LogTime::parse(&page[at..]).unwrap_or(ZERO_TIME);
        let pos_at = |at: usize| LogPosition::parse(&page[at..]).unwrap_or(ZERO_POSITION);
        let sig_at = |at: usize| {
            Signature::parse(&page[at..]).unwrap_or(Signature {
                random: 0,
                created: ZERO_TIME,
                computer: String::new(),
            })
        };
        let backup_at = |at: usize| {
            BackupInfo::parse(&page[at..]).unwrap_or(BackupInfo {
                mark: ZERO_POSITION,
                time: ZERO_TIME,
                generation_low: 0,
                generation_high: 0,
            })
        };
        let stored_page_size = u32_at(236);
        let span = page.len().min(HEADER_CHECKSUM_SPAN);
        Ok(FileHeader {
            checksum: u32_at(0),
            computed_checksum: checksum::xor_checksum(&page[..span]),
            magic,
            format_version: u32_at(8),
            file_type: u32_at(12),
            db_time: le_u64(page, 16).unwrap_or(0),
            db_signature: sig_at(24),
            state: DbState(u32_at(52)),
            consistent_position: pos_at(56),
            consistent_time: time_at(64),
            attach_time: time_at(72),
            attach_position: pos_at(80),
            detach_time: time_at(88),
            detach_position: pos_at(96),
            dbid: u32_at(104),
            log_signature: sig_at(108),
            previous_full_backup: backup_at(136),
            previous_incremental_backup: backup_at(160),
            current_full_backup: backup_at(184),
            shadowing_disabled: u32_at(208) & 1 != 0,
            last_object_id: u32_at(212),
            os_version: OsVersion {
                major: u32_at(216),
                minor: u32_at(220),
                build: u32_at(224),
                service_pack: u32_at(228),
            },
            format_revision: u32_at(232),
            page_size: if stored_page_size == 0 {
                4096
            } else {
                stored_page_size
            },
            repair_count: u32_at(240),
            repair_time: time_at(244),
            scrub_db_time: le_u64(page, 280).unwrap_or(0),
            scrub_time: time_at(288),
            log_required_min: u32_at(296),
            log_required_max: u32_at(300),
            created_format_version: u32_at(340),
            created_format_revision: u32_at(344),
            old_repair_count: u32_at(364),
            jet_file_type: u32_at(667),
        })
    }

    /// The values ESE refuses on attach (db.cxx, ErrDBReadHeaderCheckConsistency), in field
    /// order; the magic and the checksum are checked on parsing and reading.
    pub fn faults(&self) -> Vec<HeaderFault> {
        let mut faults = Vec::new();
        if self.format_version != FORMAT_VERSION {
            faults.push(HeaderFault::FormatVersion(self.format_version));
        }
        if self.format_revision > MAX_FORMAT_REVISION {
            faults.push(HeaderFault::FormatRevision(self.format_revision));
        }
        if !PAGE_SIZES.contains(&self.page_size) {
            faults.push(HeaderFault::PageSize(self.page_size));
        } else if self.large_pages() && self.format_revision < LARGE_PAGE_REVISION {
            faults.push(HeaderFault::LargePagesTooOld {
                page_size: self.page_size,
                revision: self.format_revision,
            });
        }
        if !KNOWN_STATES.contains(&self.state.0) {
            faults.push(HeaderFault::State(self.state.0));
        }
        if self.file_type != 0 {
            faults.push(HeaderFault::Attribute(self.file_type));
        }
        if !DATABASE_FILE_TYPES.contains(&self.jet_file_type) {
            faults.push(HeaderFault::FileType(self.jet_file_type));
        }
        faults
    }

    pub fn checksum_ok(&self) -> bool {
        self.checksum == self.computed_checksum
    }

    /// Pages of 16 KiB and up (from format revision 0x11) carry the 80-byte extended page
    /// header, four checksums and 15-bit tag fields.
    pub fn large_pages(&self) -> bool {
        self.page_size > 8192
    }

    pub fn file_type_name(&self) -> &'static str {
        match self.file_type {
            0 => "Database",
            1 => "Streaming File",
            _ => "Unknown",
        }
    }

    /// The header as `eseutil /mh` lists it: (field name, value) in eseutil's order.
    pub fn eseutil_fields(&self) -> Vec<(&'static str, String)> {
        let version = |v: u32, r: u32| format!("0x{v:x},{r}");
        let time_or_never = |t: &LogTime| t.eseutil();
        vec![
            ("File Type", self.file_type_name().to_owned()),
            ("Checksum", format!("0x{:08x}", self.checksum)),
            ("Format ulMagic", format!("0x{:x}", self.magic)),
            ("Engine ulMagic", format!("0x{:x}", MAGIC)),
            (
                "Format ulVersion",
                version(self.format_version, self.format_revision),
            ),
            (
                "Created ulVersion",
                version(self.created_format_version, self.created_format_revision),
            ),
            ("DB Signature", self.db_signature.eseutil()),
            ("cbDbPage", self.page_size.to_string()),
            ("dbtime", format!("{} (0x{:x})", self.db_time, self.db_time)),
            ("State", self.state.name()),
            (
                "Log Required",
                format!(
                    "{}-{} (0x{:x}-0x{:x})",
                    self.log_required_min,
                    self.log_required_max,
                    self.log_required_min,
                    self.log_required_max
                ),
            ),
            (
                "Shadowed",
                if self.shadowing_disabled { "No" } else { "Yes" }.to_owned(),
            ),
            ("Last Objid", self.last_object_id.to_string()),
            (
                "Scrub Dbtime",
                format!("{} (0x{:x})", self.scrub_db_time, self.scrub_db_time),
            ),
            ("Scrub Date", time_or_never(&self.scrub_time)),
            ("Repair Count", self.repair_count.to_string()),
            ("Repair Date", time_or_never(&self.repair_time)),
            ("Old Repair Count", self.old_repair_count.to_string()),
            (
                "Last Consistent",
                format!(
                    "{}  {}",
                    self.consistent_position.eseutil(),
                    self.consistent_time.eseutil()
                ),
            ),
            (
                "Last Attach",
                format!(
                    "{}  {}",
                    self.attach_position.eseutil(),
                    self.attach_time.eseutil()
                ),
            ),
            (
                "Last Detach",
                format!(
                    "{}  {}",
                    self.detach_position.eseutil(),
                    self.detach_time.eseutil()
                ),
            ),
            ("Dbid", self.dbid.to_string()),
            ("Log Signature", self.log_signature.eseutil()),
            ("OS Version", self.os_version.to_string()),
            ("Previous Full Backup", self.previous_full_backup.eseutil()),
            (
                "Previous Incremental Backup",
                self.previous_incremental_backup.eseutil(),
            ),
            ("Current Full Backup", self.current_full_backup.eseutil()),
        ]
    }
}

/// Recomputes and stores the checksum of a header page (for the writer, and for tests that
/// build headers).
pub fn set_header_checksum(page: &mut [u8]) {
    let span = page.len().min(HEADER_CHECKSUM_SPAN);
    let sum = checksum::xor_checksum(&page[..span]);
    if let Some(slot) = page.get_mut(0..4) {
        slot.copy_from_slice(&sum.to_le_bytes());
    }
}

const ZERO_TIME: LogTime = LogTime {
    year: 1900,
    month: 0,
    day: 0,
    hour: 0,
    minute: 0,
    second: 0,
    millisecond: 0,
    utc: false,
};

const ZERO_POSITION: LogPosition = LogPosition {
    generation: 0,
    sector: 0,
    byte: 0,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn header_page() -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        page[4..8].copy_from_slice(&MAGIC.to_le_bytes());
        page[8..12].copy_from_slice(&0x620u32.to_le_bytes());
        page[52..56].copy_from_slice(&2u32.to_le_bytes());
        for (at, value) in [(216, 5u32), (220, 0), (224, 2195), (228, 3), (232, 9)] {
            page[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        set_header_checksum(&mut page);
        page
    }

    #[test]
    fn decodes_an_exchange_2000_style_header() {
        let header = FileHeader::parse(&header_page()).unwrap();
        assert!(header.checksum_ok());
        assert_eq!(header.page_size, 4096, "a stored 0 means 4 KiB");
        assert_eq!(header.state.name(), "Dirty Shutdown");
        assert_eq!(header.os_version.to_string(), "(5.0.2195 SP 3)");
        let fields = header.eseutil_fields();
        assert!(fields.contains(&("Format ulVersion", "0x620,9".to_owned())));
    }

    #[test]
    fn rejects_missing_signature_and_short_input() {
        let mut page = header_page();
        page[4] = 0;
        assert!(FileHeader::parse(&page)
            .unwrap_err()
            .to_string()
            .contains("offset 4"));
        assert!(FileHeader::parse(&page[..100]).is_err());
    }

    #[test]
    fn values_ese_refuses_are_faults_naming_their_offset() {
        assert_eq!(FileHeader::parse(&header_page()).unwrap().faults(), []);
        let mut page = header_page();
        for (at, value) in [(8, 0xffffu32), (52, 9), (236, 3000), (667, 3)] {
            page[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        let faults = FileHeader::parse(&page).unwrap().faults();
        let offsets: Vec<u64> = faults.iter().map(HeaderFault::offset).collect();
        assert_eq!(offsets, [8, 236, 52, 667]);
        assert_eq!(
            faults[0].to_string(),
            "format version 0xffff: ESE reads only 0x620"
        );
        let mut page = header_page();
        page[236..240].copy_from_slice(&16384u32.to_le_bytes());
        assert_eq!(
            FileHeader::parse(&page).unwrap().faults(),
            [HeaderFault::LargePagesTooOld {
                page_size: 16384,
                revision: 9
            }]
        );
    }

    #[test]
    fn log_time_carries_milliseconds() {
        let t = LogTime::parse(&[5, 4, 3, 2, 1, 103, 0x0b, 0x01]).unwrap();
        assert_eq!(t.eseutil(), "01/02/2003 03:04:05.133");
        assert!(t.utc);
    }
}
