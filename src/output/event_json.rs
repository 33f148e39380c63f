//! One event as a JSON object, written straight into a byte buffer.
//!
//! `events --json/--jsonl` spend most of their time here on large logs, so the object is
//! written by hand rather than through serde's generic map path. The bytes are exactly what
//! serde_json gives for the record (`file`, the flattened [`Event`], then `time_basis` when it
//! is not plain UTC); `tests/event_json.rs` holds the two equal on every corpus record.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use evtdoctor_parsers::event::Origin;
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::{Event, Level};

/// Appends the JSON object of `event`, read from the input named `file`.
pub fn write_event(out: &mut Vec<u8>, file: &str, event: &Event, time_basis: TimeBasis) {
    out.extend_from_slice(b"{\"file\":");
    write_str(out, file);
    out.extend_from_slice(b",\"log\":");
    write_opt_str(out, event.log.as_deref());
    out.extend_from_slice(b",\"record_number\":");
    write_opt_uint(out, event.record_number);
    out.extend_from_slice(b",\"time_generated\":");
    write_opt_time(out, event.time_generated);
    out.extend_from_slice(b",\"time_written\":");
    write_opt_time(out, event.time_written);
    out.extend_from_slice(b",\"event_id\":");
    write_uint(out, u64::from(event.event_id));
    out.extend_from_slice(b",\"qualifiers\":");
    write_opt_uint(out, event.qualifiers.map(u64::from));
    out.extend_from_slice(b",\"level\":");
    write_level(out, event.level);
    out.extend_from_slice(b",\"source\":");
    write_str(out, &event.source);
    out.extend_from_slice(b",\"category\":");
    write_opt_uint(out, event.category.map(u64::from));
    out.extend_from_slice(b",\"computer\":");
    write_opt_str(out, event.computer.as_deref());
    out.extend_from_slice(b",\"user\":");
    write_opt_str(out, event.user.as_deref());
    out.extend_from_slice(b",\"strings\":[");
    for (n, text) in event.strings.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, text);
    }
    out.extend_from_slice(b"],\"data\":");
    match &event.data {
        Some(bytes) => write_hex(out, bytes),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"message\":");
    write_opt_str(out, event.message.as_deref());
    out.extend_from_slice(b",\"origin\":");
    write_origin(out, &event.origin);
    if time_basis != TimeBasis::Utc {
        out.extend_from_slice(b",\"time_basis\":");
        write_str(out, &time_basis.label());
    }
    out.push(b'}');
}

fn write_origin(out: &mut Vec<u8>, origin: &Origin) {
    out.extend_from_slice(b"{\"offset\":");
    write_opt_uint(out, origin.offset);
    out.extend_from_slice(b",\"line\":");
    write_opt_uint(out, origin.line);
    out.extend_from_slice(if origin.recovered {
        b",\"recovered\":true}"
    } else {
        b",\"recovered\":false}"
    });
}

/// Unit variants are their snake_case names; `Other(n)` is `{"other":n}`.
fn write_level(out: &mut Vec<u8>, level: Level) {
    let name: &[u8] = match level {
        Level::Critical => b"\"critical\"",
        Level::Error => b"\"error\"",
        Level::Warning => b"\"warning\"",
        Level::Information => b"\"information\"",
        Level::Verbose => b"\"verbose\"",
        Level::AuditSuccess => b"\"audit_success\"",
        Level::AuditFailure => b"\"audit_failure\"",
        Level::Other(raw) => {
            out.extend_from_slice(b"{\"other\":");
            write_uint(out, u64::from(raw));
            out.push(b'}');
            return;
        }
    };
    out.extend_from_slice(name);
}

fn write_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_uint(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => write_uint(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Binary data as one lowercase hex string.
fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, byte) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    out.push(b'"');
}

/// A JSON string: `"` and `\` escaped, control characters as serde_json writes them (the
/// short forms where JSON has one, else `\u00xx`); everything else, non-ASCII included, as is.
fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        // Most text needs no escaping: skip it a word at a time.
        if let Some(word) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
            if !may_need_escape(u64::from_le_bytes(*word)) {
                at += 8;
                continue;
            }
        }
        at += 1;
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[copied..at - 1]);
        copied = at;
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(&[
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]);
        }
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// False when none of the eight bytes of `word` is a control character, `"` or `\` (true may
/// be a false alarm: the bytes are then looked at one by one).
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Flags a lane below `n` (n <= 0x80), the usual bit trick.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH != 0;
    below(word, 0x20)
        || below(word ^ (ONES * u64::from(b'"')), 1)
        || below(word ^ (ONES * u64::from(b'\\')), 1)
}

fn write_opt_time(out: &mut Vec<u8>, time: Option<DateTime<Utc>>) {
    match time {
        Some(time) => write_time(out, time),
        None => out.extend_from_slice(b"null"),
    }
}

/// RFC 3339 in UTC with `Z`, and as many fraction digits as the time needs (none, 3, 6 or 9):
/// chrono's serde form.
fn write_time(out: &mut Vec<u8>, time: DateTime<Utc>) {
    let time = time.naive_utc();
    let year = time.year();
    let nano = time.nanosecond();
    // Years outside four digits and leap seconds are rare: chrono writes those itself.
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        let text = time.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true);
        write_str(out, &text);
        return;
    }
    let year = year as u32;
    out.push(b'"');
    push_digits(out, year / 100, 2);
    push_digits(out, year % 100, 2);
    out.push(b'-');
    push_digits(out, time.month(), 2);
    out.push(b'-');
    push_digits(out, time.day(), 2);
    out.push(b'T');
    push_digits(out, time.hour(), 2);
    out.push(b':');
    push_digits(out, time.minute(), 2);
    out.push(b':');
    push_digits(out, time.second(), 2);
    if nano != 0 {
        out.push(b'.');
        if nano.is_multiple_of(1_000_000) {
            push_digits(out, nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            push_digits(out, nano / 1_000, 6);
        } else {
            push_digits(out, nano, 9);
        }
    }
    out.extend_from_slice(b"Z\"");
}

/// `n` in exactly `width` decimal digits, zero-padded (`n` has no more digits than that).
fn push_digits(out: &mut Vec<u8>, mut n: u32, width: usize) {
    let mut digits = [b'0'; 9];
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_like_serde_json() {
        for text in [
            "plain",
            "a\"b\\c",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}",
            "Schlüssel ✓",
            "a longer text, \"quoted\" in the middle\\end of 8-byte words\u{1f}, then ✓ ünï\n",
            "12345678\"2345678\\23456\u{7}",
            "",
        ] {
            assert_eq!(json(text), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn times_take_the_digits_they_need() {
        for text in [
            "2003-07-01T08:00:00Z",
            "2003-07-01T08:00:00.120Z",
            "2003-07-01T08:00:00.000500Z",
            "2010-11-21T03:55:59.626427100Z",
            "0001-01-01T00:00:00.000000001Z",
        ] {
            let time = DateTime::parse_from_rfc3339(text).unwrap().to_utc();
            let mut out = Vec::new();
            write_time(&mut out, time);
            assert_eq!(String::from_utf8(out).unwrap(), format!("\"{text}\""));
            assert_eq!(format!("\"{text}\""), serde_json::to_string(&time).unwrap());
        }
        // Five-digit years go through chrono.
        let far = DateTime::from_timestamp(400_000_000_000, 7).unwrap();
        let mut out = Vec::new();
        write_time(&mut out, far);
        assert_eq!(out, serde_json::to_vec(&far).unwrap());
    }

    #[test]
    fn numbers_and_levels() {
        let mut out = Vec::new();
        write_uint(&mut out, 0);
        out.push(b' ');
        write_uint(&mut out, u64::MAX);
        out.push(b' ');
        write_level(&mut out, Level::Other(99));
        out.push(b' ');
        write_level(&mut out, Level::AuditFailure);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "0 {} {} {}",
                u64::MAX,
                serde_json::to_string(&Level::Other(99)).unwrap(),
                serde_json::to_string(&Level::AuditFailure).unwrap()
            )
        );
    }
}
