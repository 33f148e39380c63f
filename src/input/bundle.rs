//! .zip and .gz bundles of logs, as customers send them, read in place: each log member is an
//! input of its own, named `BUNDLE!MEMBER` (`logs.zip!Logs/System.evtx`; a .gz holds one
//! member, named after the bundle without `.gz`: `System.evtx.gz!System.evtx`).

use super::DETECT_HEAD;
use crate::verbosity::{self, Verbosity};
use evtdoctor_parsers::{detect_format, InputFormat};
use flate2::read::MultiGzDecoder;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const EMPTY_ZIP_MAGIC: &[u8] = b"PK\x05\x06";
const GZIP_MAGIC: &[u8] = b"\x1f\x8b";

/// Between a bundle's name and its member's in an input's name.
const SEPARATOR: &str = "!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zip,
    Gzip,
}

/// A .zip or .gz file holding logs.
pub struct Bundle<'a> {
    path: &'a Path,
    kind: Kind,
}

/// `BUNDLE!MEMBER` split at the first `!` that ends the name of a bundle.
pub fn split_member_name(path: &Path) -> Option<(Bundle<'_>, &str)> {
    let name = path.to_str()?;
    name.match_indices(SEPARATOR).find_map(|(at, _)| {
        let bundle = Bundle::of(Path::new(&name[..at]))?;
        Some((bundle, &name[at + SEPARATOR.len()..]))
    })
}

/// What to do with an input that is a bundle under another name.
pub fn misnamed(bytes: &[u8]) -> Option<&'static str> {
    if is_zip(bytes) {
        Some("a zip archive: name it .zip to read the logs in it")
    } else if is_gzip(bytes) {
        Some("gzip-compressed: name it .gz to read the log in it")
    } else {
        None
    }
}

/// True for the start of a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(EMPTY_ZIP_MAGIC)
}

/// True for the start of gzip-compressed bytes.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(GZIP_MAGIC)
}

/// Decompresses gzip bytes, refusing more than `cap` bytes of output.
pub fn gunzip(compressed: &[u8], cap: u64) -> io::Result<Vec<u8>> {
    let declared = compressed.len().checked_sub(4).map_or(0, |at| {
        gzip_declared_size(compressed[at..].try_into().unwrap_or_default())
    });
    read_declared(MultiGzDecoder::new(compressed), declared, cap)
}

impl<'a> Bundle<'a> {
    /// The bundle at `path`, when it is a regular file named `.zip` or `.gz` (by name: telling
    /// by content would open every file a directory walk meets; [`misnamed`] gives the hint).
    pub fn of(path: &'a Path) -> Option<Bundle<'a>> {
        let extension = path.extension()?.to_ascii_lowercase();
        let kind = match extension.to_str()? {
            "zip" => Kind::Zip,
            "gz" => Kind::Gzip,
            _ => return None,
        };
        std::fs::metadata(path)
            .ok()?
            .is_file()
            .then_some(Bundle { path, kind })
    }

    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// The input name of one of its members.
    pub fn member_name(&self, member: &str) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(SEPARATOR);
        name.push(member);
        PathBuf::from(name)
    }

    /// The members holding logs, in name order; or why the bundle cannot be read.
    pub fn members(&self) -> Result<Vec<String>, BundleError> {
        let members = match self.kind {
            Kind::Gzip => vec![self.gzip_member()],
            Kind::Zip => self.zip_members()?,
        };
        if members.is_empty() {
            return Err(BundleError::NoLogs);
        }
        Ok(members)
    }

    /// Everything `member` holds, refused when it expands beyond `cap` or beyond the size the
    /// bundle declares for it (a damaged bundle, or a decompression bomb).
    pub fn read_member(&self, member: &str, cap: u64) -> io::Result<Vec<u8>> {
        match self.kind {
            Kind::Gzip => {
                self.check_gzip_member(member)?;
                let mut file = File::open(self.path)?;
                let declared = gzip_trailer_size(&mut file)?;
                read_declared(MultiGzDecoder::new(BufReader::new(file)), declared, cap)
            }
            Kind::Zip => {
                let mut archive = open_zip(self.path)?;
                let entry = archive.by_name(member).map_err(zip_error)?;
                let declared = entry.size();
                read_declared(entry, declared, cap)
            }
        }
    }

    /// The size the bundle declares for `member`.
    pub fn member_size(&self, member: &str) -> io::Result<u64> {
        match self.kind {
            Kind::Gzip => {
                self.check_gzip_member(member)?;
                gzip_trailer_size(&mut File::open(self.path)?)
            }
            Kind::Zip => {
                let mut archive = open_zip(self.path)?;
                let index = archive
                    .index_for_name(member)
                    .ok_or_else(|| zip_error(zip::result::ZipError::FileNotFound))?;
                let size = archive.by_index_raw(index).map_err(zip_error)?.size();
                Ok(size)
            }
        }
    }

    /// A .gz's one member: its name without `.gz`.
    fn gzip_member(&self) -> String {
        let stem = self.path.file_stem().unwrap_or_default();
        stem.to_string_lossy().into_owned()
    }

    fn check_gzip_member(&self, member: &str) -> io::Result<()> {
        if member == self.gzip_member() {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("a .gz holds one member, {}", self.gzip_member()),
        ))
    }

    /// The members whose first bytes are those of a log; directories walk like directories
    /// (hidden entries skipped), other members are skipped with a note.
    fn zip_members(&self) -> Result<Vec<String>, BundleError> {
        let mut archive = open_zip(self.path)?;
        let mut members = Vec::new();
        for index in 0..archive.len() {
            let Some(Ok(name)) = archive
                .name_for_index(index)
                .map(|n| n.map(|n| n.into_owned()))
            else {
                continue;
            };
            let mut entry = match archive.by_index(index) {
                Ok(entry) => entry,
                Err(e) => {
                    self.note_skipped(&name, &format!("cannot be read: {e}"), Verbosity::Normal);
                    continue;
                }
            };
            if entry.is_dir() || name.split(['/', '\\']).any(|part| part.starts_with('.')) {
                continue;
            }
            let mut head = Vec::with_capacity(DETECT_HEAD);
            if let Err(e) = (&mut entry).take(DETECT_HEAD as u64).read_to_end(&mut head) {
                self.note_skipped(&name, &format!("cannot be read: {e}"), Verbosity::Normal);
                continue;
            }
            if misnamed(&head).is_some() {
                let why = "a bundle inside a bundle: unpack the outer one to read it";
                self.note_skipped(&name, why, Verbosity::Normal);
                continue;
            }
            match detect_format(&head) {
                Some(
                    InputFormat::Evtx | InputFormat::Evt | InputFormat::Text | InputFormat::Xml,
                ) => members.push(name),
                _ => self.note_skipped(&name, "not an event log", Verbosity::Verbose),
            }
        }
        members.sort();
        Ok(members)
    }

    fn note_skipped(&self, member: &str, why: &str, from: Verbosity) {
        if verbosity::get() >= from {
            eprintln!(
                "evtdoctor: {}: skipped: {why}",
                self.member_name(member).display()
            );
        }
    }
}

/// Why a bundle gives no inputs.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Unreadable(#[from] io::Error),
    #[error("the archive holds no logs")]
    NoLogs,
}

fn open_zip(path: &Path) -> io::Result<ZipArchive<BufReader<File>>> {
    ZipArchive::new(BufReader::new(File::open(path)?)).map_err(zip_error)
}

fn zip_error(error: zip::result::ZipError) -> io::Error {
    match error {
        zip::result::ZipError::Io(e) => e,
        zip::result::ZipError::FileNotFound => {
            io::Error::new(io::ErrorKind::NotFound, "no such member in the archive")
        }
        other => io::Error::other(format!("not a readable zip archive: {other}")),
    }
}

/// The uncompressed size in a gzip trailer (modulo 4 GiB, like the format).
fn gzip_trailer_size(file: &mut File) -> io::Result<u64> {
    let mut trailer = [0u8; 4];
    file.seek(SeekFrom::End(-4))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(|_| io::Error::other("not a readable gzip file: too short"))?;
    file.seek(SeekFrom::Start(0))?;
    Ok(gzip_declared_size(trailer))
}

fn gzip_declared_size(trailer: [u8; 4]) -> u64 {
    u64::from(u32::from_le_bytes(trailer))
}

/// What `reader` decompresses to, which must be the `declared` size, at most `cap`: memory
/// stays bounded by the declared size whatever the compressed data expands to.
fn read_declared(reader: impl Read, declared: u64, cap: u64) -> io::Result<Vec<u8>> {
    if declared > cap {
        return Err(io::Error::other(format!(
            "expands to {declared} bytes, over the {cap} bytes read from one member: refused"
        )));
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    reader.take(declared + 1).read_to_end(&mut bytes)?;
    let read = bytes.len() as u64;
    if read > declared {
        return Err(io::Error::other(format!(
            "expands beyond the {declared} bytes the archive declares for it: a damaged archive \
             or a decompression bomb; refused"
        )));
    }
    if read < declared {
        return Err(io::Error::other(format!(
            "ends after {read} of the {declared} bytes the archive declares for it: a damaged \
             archive"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EVTX_HEAD: &[u8] = b"ElfFile\0";

    fn zip_of(path: &Path, members: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, bytes) in members {
            if let Some(folder) = name.strip_suffix('/') {
                zip.add_directory(folder, zip::write::SimpleFileOptions::default())
                    .unwrap();
                continue;
            }
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn zip_members_are_the_logs_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.zip");
        zip_of(
            &path,
            &[
                ("Logs/", b""),
                ("Logs/System.evtx", EVTX_HEAD),
                ("Application.evtx", EVTX_HEAD),
                ("Logs/.hidden.evtx", EVTX_HEAD),
                (".git/x.evtx", EVTX_HEAD),
                ("Logs/export.txt", b"Event Type: Error\r\n"),
                ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
                ("empty.evtx", b""),
            ],
        );
        let bundle = Bundle::of(&path).unwrap();
        assert_eq!(
            bundle.members().unwrap(),
            ["Application.evtx", "Logs/System.evtx", "Logs/export.txt"]
        );
        assert_eq!(
            bundle.read_member("Logs/System.evtx", 100).unwrap(),
            EVTX_HEAD
        );
        assert_eq!(bundle.member_size("Logs/export.txt").unwrap(), 19);
        let missing = bundle.read_member("None.evtx", 100).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);

        zip_of(&path, &[("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF")]);
        let bundle = Bundle::of(&path).unwrap();
        assert_eq!(
            bundle.members().unwrap_err().to_string(),
            "the archive holds no logs"
        );
    }

    #[test]
    fn members_over_the_cap_are_refused_before_they_are_decompressed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.zip");
        zip_of(&path, &[("System.evtx", &[0u8; 5000])]);
        let bundle = Bundle::of(&path).unwrap();
        assert_eq!(bundle.read_member("System.evtx", 5000).unwrap().len(), 5000);
        assert_eq!(
            bundle
                .read_member("System.evtx", 4999)
                .unwrap_err()
                .to_string(),
            "expands to 5000 bytes, over the 4999 bytes read from one member: refused"
        );
    }

    #[test]
    fn a_gz_is_one_member_named_without_gz_held_to_its_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'x'; 3000]).unwrap();
        let compressed = gz.finish().unwrap();
        for (name, member) in [("System.evtx.gz", "System.evtx"), ("LOGS.GZ", "LOGS")] {
            let path = dir.path().join(name);
            std::fs::write(&path, &compressed).unwrap();
            let bundle = Bundle::of(&path).unwrap();
            assert_eq!(bundle.members().unwrap(), [member]);
            assert_eq!(bundle.member_size(member).unwrap(), 3000);
            assert_eq!(bundle.read_member(member, 3000).unwrap(), [b'x'; 3000]);
            assert!(bundle.read_member(member, 2999).is_err());
            assert_eq!(
                bundle.read_member("other", 3000).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
        }
        assert_eq!(gunzip(&compressed, 3000).unwrap(), [b'x'; 3000]);

        // A trailer declaring less than the data expands to.
        let mut short = compressed.clone();
        let at = short.len() - 4;
        short[at..].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            gunzip(&short, 3000).unwrap_err().to_string(),
            "expands beyond the 1000 bytes the archive declares for it: a damaged archive or a \
             decompression bomb; refused"
        );
        // One declaring more fails gzip's own check of the size.
        short[at..].copy_from_slice(&4000u32.to_le_bytes());
        assert_eq!(
            gunzip(&short, 5000).unwrap_err().to_string(),
            "corrupt gzip stream does not have a matching checksum"
        );
        assert_eq!(
            read_declared(&b"abc"[..], 4, 10).unwrap_err().to_string(),
            "ends after 3 of the 4 bytes the archive declares for it: a damaged archive"
        );
    }

    #[test]
    fn only_regular_files_named_zip_or_gz_are_bundles() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("System.evtx");
        std::fs::write(&log, EVTX_HEAD).unwrap();
        assert!(Bundle::of(&log).is_none());
        let folder = dir.path().join("logs.zip");
        std::fs::create_dir(&folder).unwrap();
        assert!(Bundle::of(&folder).is_none());
        let named = dir.path().join("broken.ZIP");
        std::fs::write(&named, b"junk").unwrap();
        assert_eq!(Bundle::of(&named).unwrap().kind, Kind::Zip);
        let unnamed = dir.path().join("attachment");
        std::fs::write(&unnamed, b"PK\x03\x04").unwrap();
        assert!(Bundle::of(&unnamed).is_none());
        assert_eq!(
            misnamed(b"PK\x03\x04"),
            Some("a zip archive: name it .zip to read the logs in it")
        );
        assert_eq!(
            misnamed(b"\x1f\x8b\x08"),
            Some("gzip-compressed: name it .gz to read the log in it")
        );
        assert_eq!(misnamed(EVTX_HEAD), None);
    }
}
