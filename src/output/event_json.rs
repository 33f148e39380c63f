//! One event as a JSON object, written straight into a byte buffer.
//!
//! `events --json/--jsonl` spend most of their time here on large logs, so the object is
//! written by hand rather than through serde's generic map path. The bytes are exactly what
//! serde_json gives for the record (`file`, the flattened [`Event`], then `time_basis` when it
//! is not plain UTC); `tests/event_json.rs` holds the two equal on every corpus record.

use chrono::{DateTime, SecondsFormat, Utc};
use evtdoctor_parsers::event::Origin;
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::{Event, Level};

/// Appends the JSON object of `event`, read from the input named `file`.
pub fn write_event(out: &mut Vec<u8>, file: &str, event: &Event, time_basis: TimeBasis) {
    out.reserve(json_size_estimate(file, event));
    out.extend_from_slice(b"{\"file\":");
    write_str(out, file);
    out.extend_from_slice(b",\"log\":");
    write_opt_str(out, event.log.as_deref());
    out.extend_from_slice(b",\"record_number\":");
    write_opt_uint(out, event.record_number);
    out.extend_from_slice(b",\"event_record_id\":");
    write_opt_uint(out, event.event_record_id);
    out.extend_from_slice(b",\"time_generated\":");
    let generated = out.len();
    write_opt_time(out, event.time_generated);
    out.extend_from_slice(b",\"time_written\":");
    if event.time_written == event.time_generated {
        // .evtx records mostly carry one time twice: its text is copied, not formatted again.
        out.extend_from_within(generated..out.len() - b",\"time_written\":".len());
    } else {
        write_opt_time(out, event.time_written);
    }
    out.extend_from_slice(b",\"event_id\":");
    write_uint(out, u64::from(event.event_id));
    out.extend_from_slice(b",\"qualifiers\":");
    write_opt_uint(out, event.qualifiers.map(u64::from));
    out.extend_from_slice(b",\"level\":");
    write_level(out, event.level);
    out.extend_from_slice(b",\"source\":");
    write_str(out, &event.source);
    out.extend_from_slice(b",\"provider\":");
    write_opt_str(out, event.provider.as_deref());
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

/// Room for the whole object, so it is written without growing the buffer on the way: the
/// fixed part (keys, numbers, times) stays below 400 bytes, text may need escapes.
fn json_size_estimate(file: &str, event: &Event) -> usize {
    let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
    400 + file.len()
        + event.source.len()
        + text(&event.provider)
        + text(&event.log)
        + text(&event.computer)
        + text(&event.user)
        + text(&event.message)
        + event.strings.iter().map(|s| s.len() + 3).sum::<usize>()
        + event.data.as_ref().map_or(0, |d| d.len() * 2)
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

/// Decimal, two digits at a time.
fn write_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while n >= 10 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if at == digits.len() || n > 0 {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

/// "00", "01", ... "99".
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut n = 0;
    while n < 100 {
        pairs[2 * n] = b'0' + (n / 10) as u8;
        pairs[2 * n + 1] = b'0' + (n % 10) as u8;
        n += 1;
    }
    pairs
};

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
    let mut rest = text.as_bytes();
    if has_escape(rest) {
        while let Some(at) = rest.iter().position(|&byte| needs_escape(byte)) {
            let (plain, tail) = rest.split_at_checked(at).unwrap_or_default();
            let Some((&byte, after)) = tail.split_first() else {
                break;
            };
            out.extend_from_slice(plain);
            write_escape(out, byte);
            rest = after;
        }
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// True when some byte needs an escape. Most text needs none: it is looked at eight bytes at a
/// time, without a branch per byte.
fn has_escape(bytes: &[u8]) -> bool {
    let (words, tail) = bytes.as_chunks::<8>();
    let mut flags = words.iter().fold(0, |flags, word| {
        flags | escape_lanes(u64::from_le_bytes(*word))
    });
    if !tail.is_empty() {
        // The last eight bytes (overlapping the words), or the short text padded with spaces.
        let last = bytes.last_chunk::<8>().copied().unwrap_or_else(|| {
            let mut padded = [b' '; 8];
            padded[..tail.len()].copy_from_slice(tail);
            padded
        });
        flags |= escape_lanes(u64::from_le_bytes(last));
    }
    flags != 0
}

/// Non-zero when one of the eight bytes of `word` is a control character, `"` or `\` (the
/// usual bit trick: a lane below `n` borrows into its high bit).
fn escape_lanes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    below(word, 0x20)
        | below(word ^ (ONES * u64::from(b'"')), 1)
        | below(word ^ (ONES * u64::from(b'\\')), 1)
}

/// Control characters, `"` and `\`.
fn needs_escape(byte: u8) -> bool {
    (byte < 0x20) | (byte == b'"') | (byte == b'\\')
}

fn write_escape(out: &mut Vec<u8>, byte: u8) {
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        b'\t' => b't',
        b'\n' => b'n',
        0x0c => b'f',
        b'\r' => b'r',
        _ => b'u',
    };
    out.extend_from_slice(&[b'\\', short]);
    if short == b'u' {
        out.extend_from_slice(&[
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0x0f)],
        ]);
    }
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
    let nano = time.timestamp_subsec_nanos();
    let seconds = time.timestamp();
    let (year, month, day) = civil_date(seconds.div_euclid(SECONDS_A_DAY));
    // Years outside four digits and leap seconds are rare: chrono writes those itself.
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        let text = time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        write_str(out, &text);
        return;
    }
    let second_of_day = seconds.rem_euclid(SECONDS_A_DAY) as u32;
    let mut text = *b"\"0000-00-00T00:00:00.000000000Z\"";
    put_digits(&mut text[1..5], year as u32);
    put_digits(&mut text[6..8], month);
    put_digits(&mut text[9..11], day);
    put_digits(&mut text[12..14], second_of_day / 3600);
    put_digits(&mut text[15..17], second_of_day / 60 % 60);
    put_digits(&mut text[18..20], second_of_day % 60);
    let fraction = match nano {
        0 => 0,
        _ if nano.is_multiple_of(1_000_000) => 4,
        _ if nano.is_multiple_of(1_000) => 7,
        _ => 10,
    };
    put_digits(&mut text[21..30], nano);
    out.extend_from_slice(&text[..20]);
    if fraction > 0 {
        out.extend_from_slice(&text[20..20 + fraction]);
    }
    out.extend_from_slice(b"Z\"");
}

const SECONDS_A_DAY: i64 = 86_400;

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (the usual
/// era arithmetic: 400-year eras of 146,097 days, years starting in March).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u32;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n` in the decimal digits of `slot`, zero-padded (`n` has no more digits than that), two
/// at a time.
fn put_digits(slot: &mut [u8], mut n: u32) {
    let mut end = slot.len();
    while end >= 2 {
        let pair = (n % 100) as usize * 2;
        slot[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        n /= 100;
        end -= 2;
    }
    if end == 1 {
        slot[0] = b'0' + (n % 10) as u8;
    }
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
        // Each ASCII character at each place of a word and of the tail, beside non-ASCII.
        for c in (0u8..0x80).map(char::from) {
            for at in 0..19 {
                let mut text: Vec<char> = "aé✓bcdefghijklmnop".chars().collect();
                text.insert(at, c);
                let text: String = text.into_iter().collect();
                assert_eq!(
                    json(&text),
                    serde_json::to_string(&text).unwrap(),
                    "{text:?}"
                );
            }
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
        // Years 0 to 9999 in steps of 9 days and 3,607 s (every month, leap days included),
        // with each fraction length, against serde's form.
        let first = DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z").unwrap();
        let last = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").unwrap();
        let fractions = [0, 120_000_000, 500_000, 626_427_100];
        let mut leap_days = 0;
        for (n, seconds) in (first.timestamp()..=last.timestamp())
            .step_by(9 * 86_400 + 3_607)
            .enumerate()
        {
            let time = DateTime::from_timestamp(seconds, fractions[n % 4]).unwrap();
            let mut out = Vec::new();
            write_time(&mut out, time);
            assert_eq!(out, serde_json::to_vec(&time).unwrap(), "{time:?}");
            leap_days += usize::from(out[6..12] == *b"02-29T");
        }
        assert!(leap_days > 200, "{leap_days}");
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
        // Every digit count, odd and even, with zeros in each place.
        let mut n = 1u64;
        while let Some(next) = n.checked_mul(10) {
            for value in [n - 1, n, n + 1, n * 9, next - 1] {
                let mut out = Vec::new();
                write_uint(&mut out, value);
                assert_eq!(out, value.to_string().as_bytes());
            }
            n = next;
        }
    }
}
