//! Where an input's bytes come from: a file, standard input, or a member of a .zip/.gz bundle,
//! told apart by the name discovery gave the input. Every input is read into memory through
//! `read` calls (never mapped: a file truncated by another process while it is read gives an
//! error, not a fault), up to a cap.

use super::bundle::{self, Bundle};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The most read from a file: the largest .evtx (65,535 chunks of 64 KiB after a 4 KiB header)
/// or .evt (32-bit offsets) there can be. Larger files are refused.
pub const MAX_FILE: u64 = 4 << 30;

/// The most read from an input whose size is not known before it ends: standard input, a FIFO
/// or a device.
pub const MAX_STREAM: u64 = 256 << 20;

/// The name of standard input among the inputs.
pub const STDIN: &str = "-";

/// An input, as discovery named it.
pub enum Source<'a> {
    Stdin,
    File(&'a Path),
    /// `BUNDLE!MEMBER`: a member of a .zip or .gz bundle.
    Member {
        bundle: Bundle<'a>,
        member: &'a str,
    },
}

impl<'a> Source<'a> {
    /// `-` is standard input; `B!M`, where `B` is a bundle and no file is named `B!M`, is the
    /// member `M` of `B`; anything else is a file.
    pub fn of(path: &'a Path) -> Source<'a> {
        if path == Path::new(STDIN) {
            return Source::Stdin;
        }
        let may_be_member = path.to_str().is_some_and(|name| name.contains('!'));
        if may_be_member && std::fs::symlink_metadata(path).is_err() {
            if let Some((bundle, member)) = bundle::split_member_name(path) {
                return Source::Member { bundle, member };
            }
        }
        Source::File(path)
    }

    /// Everything the input holds, or why it cannot be read.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        match self {
            Source::Stdin => read_stdin(),
            Source::File(path) => read_file(path),
            Source::Member { bundle, member } => bundle.read_member(member, MAX_FILE),
        }
    }

    /// How many bytes reading will give, as far as known beforehand (0 when not).
    pub fn size_hint(&self) -> u64 {
        match self {
            Source::Stdin => 0,
            Source::File(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            Source::Member { bundle, member } => bundle.member_size(member).unwrap_or(0),
        }
    }
}

/// The file an input's bytes come from: its bundle for a member, else the input itself (what
/// an output must never replace).
pub fn file_of(path: &Path) -> &Path {
    match Source::of(path) {
        Source::Member { bundle, .. } => bundle.path(),
        _ => path,
    }
}

/// Reads an input named by discovery (see [`Source::of`]).
pub fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    Source::of(path).read()
}

/// The size of an input named by discovery, as far as known before reading it (0 when not).
pub fn size_hint(path: &Path) -> u64 {
    Source::of(path).size_hint()
}

/// Standard input up to [`MAX_STREAM`]; gzip-compressed input is decompressed (a zip's
/// members cannot be listed before it is read, as discovery needs).
fn read_stdin() -> io::Result<Vec<u8>> {
    let bytes = read_capped(io::stdin().lock())?;
    if bundle::is_gzip(&bytes) {
        return bundle::gunzip(&bytes, MAX_STREAM);
    }
    if bundle::is_zip(&bytes) {
        return Err(io::Error::other(
            "a zip archive on standard input: save it to a file and name the file",
        ));
    }
    Ok(bytes)
}

/// A regular file whole (up to [`MAX_FILE`]); another kind of file (a FIFO, a device) until it
/// ends, up to [`MAX_STREAM`].
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return read_capped(file);
    }
    if meta.len() > MAX_FILE {
        return Err(io::Error::other(format!(
            "{} bytes, over the {} GiB evtdoctor reads from one file (no event log is larger)",
            meta.len(),
            MAX_FILE >> 30
        )));
    }
    read_sized(file, meta.len())
}

/// Exactly `len` bytes of `reader` (the size the file had when opened): one that ends sooner
/// was cut by another process while it was read. Bytes appended meanwhile are left out.
fn read_sized(reader: impl Read, len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(len as usize);
    reader.take(len).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the file shrank while it was read ({} of {len} bytes): is another process \
                 writing it? Read a copy",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Everything `reader` gives up to its end, or an error once it gives more than [`MAX_STREAM`].
pub fn read_capped(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_STREAM + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STREAM {
        return Err(io::Error::other(format!(
            "not a regular file and longer than the {} MiB read from such inputs: copy it to \
             a file to read it",
            MAX_STREAM >> 20
        )));
    }
    Ok(bytes)
}

/// The first `len` bytes of a file (fewer when it is shorter).
pub fn file_head(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(len);
    File::open(path)?.take(len as u64).read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_that_shrinks_after_its_size_was_taken_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.evtx");
        std::fs::write(&path, vec![7u8; 100_000]).unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        // Another process cuts the file between the size and the read.
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(40_000)
            .unwrap();
        let error = read_sized(file, len).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            error.to_string(),
            "the file shrank while it was read (40000 of 100000 bytes): is another process \
             writing it? Read a copy"
        );
    }

    #[test]
    fn bytes_appended_after_the_size_was_taken_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.evtx");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        assert_eq!(read_sized(file, len).unwrap(), b"0123456789");
    }

    #[test]
    fn names_tell_stdin_files_and_bundle_members_apart() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("logs.zip");
        std::fs::write(&zip, b"PK\x05\x06").unwrap();
        assert!(matches!(Source::of(Path::new("-")), Source::Stdin));
        assert!(matches!(Source::of(&zip), Source::File(_)));
        let member = dir.path().join("logs.zip!Logs/System.evtx");
        match Source::of(&member) {
            Source::Member { bundle, member } => {
                assert_eq!(member, "Logs/System.evtx");
                assert_eq!(
                    bundle.member_name(member),
                    dir.path().join("logs.zip!Logs/System.evtx")
                );
            }
            _ => panic!("not a member"),
        }
        // A file of that very name wins.
        let named_like_a_member = dir.path().join("logs.zip!System.evtx");
        std::fs::write(&named_like_a_member, b"x").unwrap();
        assert!(matches!(Source::of(&named_like_a_member), Source::File(_)));
        let absent = dir.path().join("none.zip!System.evtx");
        assert!(matches!(Source::of(&absent), Source::File(_)));
    }
}
