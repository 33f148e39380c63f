//! Turns an event's binary data into what a person can read: its strings, and for the
//! Exchange/ESE shape (`6.0.6249.0 PT` \0 `kmserver.cpp@1653DD1` \0 ...) the product build and
//! the source-file markers. Payloads of unknown shape give their printable runs; the hex is
//! always kept.
//!
//! What is known about the Exchange shape comes from one public example (Microsoft KB 818952,
//! MSExchangeKMS event 5085): a build `major.minor.build.revision`, a space and a flavour
//! (`PT`, meaning not documented), then `file@line` markers whose line number is followed by a
//! tag (`DD1`, `DHa84`, `DD2`). The tag's meaning is not documented anywhere we could find: it is
//! kept verbatim and never interpreted.

use serde::Serialize;

/// How the payload is laid out, as far as its bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// No bytes at all.
    Empty,
    /// Printable ASCII strings separated (or terminated) by NUL bytes.
    AsciiStrings,
    /// Printable UTF-16LE strings separated (or terminated) by NUL code units.
    Utf16Strings,
    /// Anything else: only the printable runs inside it are shown.
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Ascii,
    Utf16le,
}

/// One string found in the payload, with the byte offset it starts at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadString {
    pub offset: usize,
    pub encoding: Encoding,
    pub text: String,
}

/// A product build such as `6.0.6249.0 PT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductBuild {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub revision: u32,
    /// The word after the version (`PT`), verbatim; its meaning is not documented.
    pub flavour: Option<String>,
}

/// A `file@line` marker such as `kmserver.cpp@1653DD1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceMarker {
    pub file: String,
    pub line: u32,
    /// What follows the line number (`DD1`), verbatim; its meaning is not documented.
    pub tag: String,
}

/// Everything decoded from one payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payload {
    pub size: usize,
    pub layout: Layout,
    pub strings: Vec<PayloadString>,
    /// The first string that reads as a product build.
    pub build: Option<ProductBuild>,
    /// Every string that reads as a `file@line` marker, in payload order.
    pub markers: Vec<SourceMarker>,
    /// The whole payload as lowercase hex.
    pub hex: String,
}

/// Shortest printable run reported inside a payload of unknown shape; also the length the
/// longest string must reach before a payload counts as strings (a DWORD such as `51 27 00 00`
/// is not the string "Q'").
const MIN_RUN: usize = 4;

/// Decodes a payload. Never fails: unknown shapes give their printable runs and hex.
pub fn decode_payload(data: &[u8]) -> Payload {
    let substantial =
        |strings: &Vec<PayloadString>| strings.iter().any(|s| s.text.chars().count() >= MIN_RUN);
    let (layout, strings) = if data.is_empty() {
        (Layout::Empty, Vec::new())
    } else if let Some(strings) = utf16_strings(data).filter(substantial) {
        (Layout::Utf16Strings, strings)
    } else if let Some(strings) = ascii_strings(data).filter(substantial) {
        (Layout::AsciiStrings, strings)
    } else {
        (Layout::Binary, printable_runs(data))
    };
    Payload {
        size: data.len(),
        layout,
        build: strings.iter().find_map(|s| parse_build(&s.text)),
        markers: strings
            .iter()
            .filter_map(|s| parse_marker(&s.text))
            .collect(),
        strings,
        hex: hex::encode(data),
    }
}

fn is_text_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x7e | b'\t' | b'\r' | b'\n')
}

/// A code unit that reads as text in UTF-16LE: ASCII and Latin ranges only, so that pairs of
/// ASCII bytes (which form CJK code points) are not taken for UTF-16.
fn is_text_unit(u: u16) -> bool {
    matches!(u, 0x20..=0x7e | 0xa0..=0x24f | 0x09 | 0x0a | 0x0d)
}

/// The payload split at NULs when every other byte is printable ASCII.
fn ascii_strings(data: &[u8]) -> Option<Vec<PayloadString>> {
    if !data.iter().all(|&b| b == 0 || is_text_byte(b)) || data.iter().all(|&b| b == 0) {
        return None;
    }
    let mut strings = Vec::new();
    let mut offset = 0;
    for piece in data.split(|&b| b == 0) {
        if !piece.is_empty() {
            strings.push(PayloadString {
                offset,
                encoding: Encoding::Ascii,
                text: piece.iter().map(|&b| char::from(b)).collect(),
            });
        }
        offset += piece.len() + 1;
    }
    Some(strings)
}

/// The payload split at NUL code units when it is whole UTF-16LE text.
fn utf16_strings(data: &[u8]) -> Option<Vec<PayloadString>> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    if !units.iter().all(|&u| u == 0 || is_text_unit(u)) || units.iter().all(|&u| u == 0) {
        return None;
    }
    let mut strings = Vec::new();
    let mut offset = 0;
    for piece in units.split(|&u| u == 0) {
        if !piece.is_empty() {
            strings.push(PayloadString {
                offset,
                encoding: Encoding::Utf16le,
                text: String::from_utf16_lossy(piece),
            });
        }
        offset += 2 * (piece.len() + 1);
    }
    Some(strings)
}

/// Printable ASCII runs and UTF-16LE runs (either alignment) of at least [`MIN_RUN`]
/// characters, ordered by offset.
fn printable_runs(data: &[u8]) -> Vec<PayloadString> {
    let mut runs = Vec::new();
    let mut start = 0;
    for chunk in data.split(|&b| !(0x20..=0x7e).contains(&b)) {
        if chunk.len() >= MIN_RUN {
            runs.push(PayloadString {
                offset: start,
                encoding: Encoding::Ascii,
                text: chunk.iter().map(|&b| char::from(b)).collect(),
            });
        }
        start += chunk.len() + 1;
    }
    for alignment in 0..2 {
        let body = data.get(alignment..).unwrap_or_default();
        let mut run_start = None;
        let mut text = String::new();
        for (index, pair) in body.chunks_exact(2).enumerate() {
            let offset = alignment + 2 * index;
            if (0x20..=0x7e).contains(&pair[0]) && pair[1] == 0 {
                run_start.get_or_insert(offset);
                text.push(char::from(pair[0]));
                continue;
            }
            flush_utf16_run(&mut runs, &mut run_start, &mut text);
        }
        flush_utf16_run(&mut runs, &mut run_start, &mut text);
    }
    runs.sort_by_key(|r| r.offset);
    runs
}

fn flush_utf16_run(runs: &mut Vec<PayloadString>, start: &mut Option<usize>, text: &mut String) {
    if let Some(offset) = start.take() {
        let text = std::mem::take(text);
        if text.chars().count() >= MIN_RUN {
            runs.push(PayloadString {
                offset,
                encoding: Encoding::Utf16le,
                text,
            });
        }
    }
}

/// `6.0.6249.0` or `6.0.6249.0 PT`: exactly four dotted decimal numbers, then an optional word.
pub fn parse_build(text: &str) -> Option<ProductBuild> {
    let mut words = text.split_whitespace();
    let version = words.next()?;
    let flavour = words.next().map(str::to_owned);
    if words.next().is_some() {
        return None;
    }
    let mut numbers = version.split('.').map(|part| {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse::<u32>().ok()
    });
    let mut next = || numbers.next().flatten();
    let build = ProductBuild {
        major: next()?,
        minor: next()?,
        build: next()?,
        revision: next()?,
        flavour,
    };
    numbers.next().is_none().then_some(build)
}

/// `kmserver.cpp@1653DD1`: a file name with an extension, `@`, decimal digits, then the tag.
pub fn parse_marker(text: &str) -> Option<SourceMarker> {
    let (file, rest) = text.split_once('@')?;
    let named = !file.is_empty()
        && file.contains('.')
        && !file.starts_with('.')
        && !file.ends_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '\\' | '/'));
    if !named {
        return None;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let line = rest.get(..digits)?.parse().ok()?;
    let tag = rest.get(digits..)?;
    if tag.chars().any(char::is_whitespace) {
        return None;
    }
    Some(SourceMarker {
        file: file.to_owned(),
        line,
        tag: tag.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 78 bytes of MSExchangeKMS event 5085 in KB 818952.
    const KMS_5085: &[u8] =
        b"6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0";

    #[test]
    fn decodes_the_kms_5085_payload() {
        let payload = decode_payload(KMS_5085);
        assert_eq!(payload.size, 78);
        assert_eq!(payload.layout, Layout::AsciiStrings);
        let texts: Vec<(usize, &str)> = payload
            .strings
            .iter()
            .map(|s| (s.offset, s.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (0, "6.0.6249.0 PT"),
                (14, "kmserver.cpp@1653DD1"),
                (35, "kmserver.cpp@1120DHa84"),
                (58, "kmserver.cpp@704DD2"),
            ]
        );
        assert_eq!(
            payload.build,
            Some(ProductBuild {
                major: 6,
                minor: 0,
                build: 6249,
                revision: 0,
                flavour: Some("PT".into()),
            })
        );
        let markers: Vec<(&str, u32, &str)> = payload
            .markers
            .iter()
            .map(|m| (m.file.as_str(), m.line, m.tag.as_str()))
            .collect();
        assert_eq!(
            markers,
            [
                ("kmserver.cpp", 1653, "DD1"),
                ("kmserver.cpp", 1120, "DHa84"),
                ("kmserver.cpp", 704, "DD2"),
            ]
        );
        assert!(payload.hex.starts_with("362e302e36323439"));
    }

    #[test]
    fn utf16_payloads_split_at_nul_units() {
        let data: Vec<u8> = "abcd\0\u{e9}t\u{e9}\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let payload = decode_payload(&data);
        assert_eq!(payload.layout, Layout::Utf16Strings);
        assert_eq!(payload.strings.len(), 2);
        assert_eq!(payload.strings[1].offset, 10);
        assert_eq!(payload.strings[1].text, "\u{e9}t\u{e9}");
    }

    #[test]
    fn binary_payloads_give_printable_runs() {
        let mut data = vec![0x05, 0x00, 0x00, 0xc0];
        data.extend_from_slice(b"HELLO\x01");
        data.extend("Wide".encode_utf16().flat_map(u16::to_le_bytes));
        let payload = decode_payload(&data);
        assert_eq!(payload.layout, Layout::Binary);
        let runs: Vec<(usize, Encoding, &str)> = payload
            .strings
            .iter()
            .map(|s| (s.offset, s.encoding, s.text.as_str()))
            .collect();
        assert_eq!(
            runs,
            [
                (4, Encoding::Ascii, "HELLO"),
                (10, Encoding::Utf16le, "Wide")
            ]
        );
        assert_eq!(payload.build, None);
        assert_eq!(decode_payload(&[]).layout, Layout::Empty);
        assert_eq!(decode_payload(&[0, 0]).layout, Layout::Binary);
        // Status codes and counters seen in the corpus are numbers, not strings.
        for dword in [[0xff, 0, 0, 0], [0x51, 0x27, 0, 0], [0x0a, 0, 0, 0]] {
            let payload = decode_payload(&dword);
            assert_eq!(payload.layout, Layout::Binary, "{dword:?}");
            assert!(payload.strings.is_empty());
        }
    }

    #[test]
    fn builds_and_markers_reject_near_misses() {
        assert_eq!(parse_build("6.0.6249").map(|b| b.build), None);
        assert_eq!(parse_build("6.0.6249.0.1"), None);
        assert_eq!(parse_build("6.0.x.0"), None);
        assert_eq!(parse_build("6.0.6249.0 PT extra"), None);
        assert_eq!(parse_build("99999999999.0.0.0"), None);
        assert_eq!(parse_build("5.2.3790.0").unwrap().flavour, None);
        assert_eq!(parse_marker("user@example"), None);
        assert_eq!(parse_marker("kmserver.cpp@DD1"), None);
        assert_eq!(parse_marker("a.cpp@12 and more"), None);
        let bare = parse_marker("jet.c@7").unwrap();
        assert_eq!((bare.line, bare.tag.as_str()), (7, ""));
    }
}
