//! Input detection by content (magic bytes and text shape), never by file name.

use serde::Serialize;

/// What an input holds, as far as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Legacy EventLog file (Windows NT 3.1 to Server 2003).
    Evt,
    /// Windows XML event log (Vista and later).
    Evtx,
    /// ESE (JET Blue) database or streaming file.
    Ese,
    /// Event XML (`wevtutil qe /f:xml`, evtx_dump -o xml).
    Xml,
    /// Event text (pasted Event Properties blocks, Event Viewer text exports, CSV/TSV exports).
    Text,
}

/// The size and signature every .evt header and record starts with.
pub const EVT_HEADER_SIZE: u32 = 0x30;
pub const EVT_SIGNATURE: &[u8; 4] = b"LfLe";
pub const EVTX_SIGNATURE: &[u8; 8] = b"ElfFile\0";
pub const ESE_SIGNATURE: [u8; 4] = [0xef, 0xcd, 0xab, 0x89];

/// Classifies an input from its first bytes (a few KiB are plenty).
/// Returns `None` for binary content that is none of the known formats.
pub fn detect_format(head: &[u8]) -> Option<InputFormat> {
    if head.starts_with(EVTX_SIGNATURE) {
        return Some(InputFormat::Evtx);
    }
    if head.len() >= 8 && &head[4..8] == EVT_SIGNATURE {
        return Some(InputFormat::Evt);
    }
    if head.len() >= 8 && head[4..8] == ESE_SIGNATURE {
        return Some(InputFormat::Ese);
    }
    let text = text_prefix(head)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        return Some(InputFormat::Xml);
    }
    Some(InputFormat::Text)
}

/// The head decoded as text when it looks like text (UTF-8, or UTF-16 with a byte-order mark).
fn text_prefix(head: &[u8]) -> Option<String> {
    // Control bytes mean binary (except U+001F, which evtdoctor's CSV puts between insertion
    // strings, and NUL, which a zeroed range of a damaged text file is made of); UTF-16 is
    // recognised by its byte-order mark alone.
    let utf16 = head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]);
    if !utf16
        && head
            .iter()
            .any(|&b| b < 0x20 && !matches!(b, 0 | b'\t' | b'\n' | b'\r' | 0x0c | 0x1f))
    {
        return None;
    }
    // A multi-byte character cut at the end of the head may make it read as Latin-1: only its
    // first characters matter here.
    let text = crate::text::decode_text(head);
    (!text
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .is_empty())
    .then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_binary_formats_by_magic() {
        let mut evt = vec![0x30, 0, 0, 0];
        evt.extend_from_slice(b"LfLe");
        assert_eq!(detect_format(&evt), Some(InputFormat::Evt));
        assert_eq!(detect_format(b"ElfFile\0rest"), Some(InputFormat::Evtx));
        assert_eq!(
            detect_format(&[1, 2, 3, 4, 0xef, 0xcd, 0xab, 0x89]),
            Some(InputFormat::Ese)
        );
        assert_eq!(detect_format(&[0, 1, 2, 3, 4, 5, 6, 7, 8]), None);
    }

    #[test]
    fn detects_text_and_xml() {
        assert_eq!(
            detect_format(b"Event Type:\tError\r\n"),
            Some(InputFormat::Text)
        );
        assert_eq!(
            detect_format(b"\xef\xbb\xbf  <Events><Event xmlns=''>"),
            Some(InputFormat::Xml)
        );
        assert_eq!(detect_format(b"   \n"), None);
        assert_eq!(
            detect_format(b"Computer:\tCAF\xc9\r\n"),
            Some(InputFormat::Text)
        );
        // A zeroed range leaves text text; zeroes alone are not text.
        assert_eq!(
            detect_format(b"\0\0\0\0Event Type:\tError\r\n"),
            Some(InputFormat::Text)
        );
        assert_eq!(detect_format(&[0; 64]), None);
    }
}
