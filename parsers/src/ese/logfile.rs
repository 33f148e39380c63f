//! Headers of the files beside a database that recovery (`eseutil /r`) needs: transaction
//! logs (`E00.log`, `E0000000012.log`, `edb.log`) and the checkpoint (`E00.chk`).
//!
//! Field offsets follow Microsoft's LGFILEHDR_FIXED and CHECKPOINT_FIXED (published ESE
//! source): a log header holds its generation at 4 and the log stream's signature at 44; a
//! checkpoint holds the checkpoint position at 12 and the signature at 20. Both headers fill
//! the first 4 KiB and carry the same XOR checksum as a database header. Newer engines also
//! write the file type at 667 (3 for a log, 4 for a checkpoint); older ones leave it zero.

use super::checksum::xor_checksum;
use super::header::{LogPosition, LogTime, Signature, HEADER_CHECKSUM_SPAN};
use super::{le_u16, le_u32};
use crate::Problem;
use serde::Serialize;

const FILE_TYPE_AT: usize = 667;
const FILE_TYPE_LOG: u32 = 3;
const FILE_TYPE_CHECKPOINT: u32 = 4;

/// What a recovery file's header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecoveryFile {
    Log(LogHeader),
    Checkpoint(CheckpointHeader),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogHeader {
    pub generation: u32,
    pub created: LogTime,
    /// Log format version (major, minor, update).
    pub version: (u32, u32, u32),
    /// The log stream's signature: a database's header names the one it belongs to.
    pub signature: Signature,
    pub checksum_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointHeader {
    /// Where recovery starts replaying.
    pub checkpoint: LogPosition,
    pub signature: Signature,
    pub checksum_ok: bool,
}

/// Reads the header at the start of a log or checkpoint file. `is_checkpoint` comes from the
/// file's name (old engines do not store the file type); a stored type that contradicts it
/// is an error.
pub fn read_recovery_header(bytes: &[u8], is_checkpoint: bool) -> Result<RecoveryFile, Problem> {
    let header = bytes.get(..HEADER_CHECKSUM_SPAN).ok_or_else(|| {
        let kind = kind_name(is_checkpoint);
        Problem::at_offset(0, format!("shorter than a 4096-byte {kind} header"))
    })?;
    let checksum_ok = le_u32(header, 0) == Some(xor_checksum(header));
    let file_type = le_u32(header, FILE_TYPE_AT).unwrap_or(0);
    let expected = if is_checkpoint {
        FILE_TYPE_CHECKPOINT
    } else {
        FILE_TYPE_LOG
    };
    if file_type != 0 && file_type != expected {
        return Err(Problem::at_offset(
            FILE_TYPE_AT as u64,
            format!(
                "file type {file_type} is not a {}",
                kind_name(is_checkpoint)
            ),
        ));
    }
    let unreadable = |at: usize| {
        Problem::at_offset(
            at as u64,
            format!("unreadable {} header", kind_name(is_checkpoint)),
        )
    };
    if is_checkpoint {
        Ok(RecoveryFile::Checkpoint(CheckpointHeader {
            checkpoint: LogPosition::parse(&header[12..]).ok_or_else(|| unreadable(12))?,
            signature: Signature::parse(&header[20..]).ok_or_else(|| unreadable(20))?,
            checksum_ok,
        }))
    } else {
        let word = |at| le_u32(header, at).ok_or_else(|| unreadable(at));
        let sector_size = le_u16(header, 8).unwrap_or(0);
        let plausible_sectors = sector_size.is_power_of_two() && sector_size >= 512;
        if !checksum_ok && !plausible_sectors {
            return Err(Problem::at_offset(
                0,
                "no log header (checksum and sector size are both wrong)",
            ));
        }
        Ok(RecoveryFile::Log(LogHeader {
            generation: word(4)?,
            created: LogTime::parse(&header[16..]).ok_or_else(|| unreadable(16))?,
            version: (word(32)?, word(36)?, word(40)?),
            signature: Signature::parse(&header[44..]).ok_or_else(|| unreadable(44))?,
            checksum_ok,
        }))
    }
}

fn kind_name(is_checkpoint: bool) -> &'static str {
    if is_checkpoint {
        "checkpoint"
    } else {
        "transaction log"
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A log header as ESE lays it out (generation, 512-byte sectors, a signature), with
    /// its checksum.
    pub fn log_header(generation: u32, signature_random: u32) -> Vec<u8> {
        let mut page = vec![0u8; HEADER_CHECKSUM_SPAN];
        page[4..8].copy_from_slice(&generation.to_le_bytes());
        page[8..10].copy_from_slice(&512u16.to_le_bytes());
        page[16..24].copy_from_slice(&[5, 4, 3, 1, 7, 103, 0, 0]); // 2003-07-01 03:04:05
        page[32..44].copy_from_slice(&[7, 0, 0, 0, 0x0f, 0x0f, 0, 0, 0x14, 0, 0, 0]);
        page[44..48].copy_from_slice(&signature_random.to_le_bytes());
        page[56..62].copy_from_slice(b"EXCH01");
        let sum = xor_checksum(&page);
        page[..4].copy_from_slice(&sum.to_le_bytes());
        page
    }

    #[test]
    fn log_and_checkpoint_headers_decode() {
        let RecoveryFile::Log(log) = read_recovery_header(&log_header(0x1a, 77), false).unwrap()
        else {
            panic!("not a log")
        };
        assert_eq!(log.generation, 0x1a);
        assert_eq!(log.version, (7, 0xf0f, 0x14));
        assert_eq!(log.signature.random, 77);
        assert_eq!(log.signature.computer, "EXCH01");
        assert_eq!(log.created.eseutil(), "07/01/2003 03:04:05.000");
        assert!(log.checksum_ok);

        let mut chk = vec![0u8; HEADER_CHECKSUM_SPAN];
        chk[12..20].copy_from_slice(&[0x10, 0, 0x02, 0, 0x1b, 0, 0, 0]);
        chk[20..24].copy_from_slice(&77u32.to_le_bytes());
        chk[667..671].copy_from_slice(&4u32.to_le_bytes());
        let RecoveryFile::Checkpoint(checkpoint) = read_recovery_header(&chk, true).unwrap() else {
            panic!("not a checkpoint")
        };
        assert_eq!(checkpoint.checkpoint.generation, 0x1b);
        assert_eq!(checkpoint.checkpoint.eseutil(), "(0x1B,2,10)");
        assert!(!checkpoint.checksum_ok);
    }

    #[test]
    fn other_bytes_are_refused_with_the_offset() {
        assert_eq!(
            read_recovery_header(&[0; 100], false).unwrap_err().offset,
            Some(0)
        );
        let mut chk = vec![0u8; HEADER_CHECKSUM_SPAN];
        chk[667..671].copy_from_slice(&3u32.to_le_bytes());
        let problem = read_recovery_header(&chk, true).unwrap_err();
        assert_eq!(problem.offset, Some(667));
        assert!(problem.message.contains("not a checkpoint"));
        let noise = vec![0xa5u8; HEADER_CHECKSUM_SPAN];
        assert!(read_recovery_header(&noise, false).is_err());
    }
}
