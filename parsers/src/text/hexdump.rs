//! The `Data:` dump of Event Viewer's event properties, back to bytes.
//!
//! Bytes view: `0000: 36 2e 30 2e 36 32 34 39  6.0.6249` (any bytes per line, ASCII column
//! optional). Words view: `0000: 2e302e36 39343236` (the same bytes as little-endian 32-bit
//! words). Each line's offset must continue where the previous line stopped, so a lost or
//! repeated line is caught. Where the bytes end and the ASCII column starts is ambiguous when
//! the column itself looks like hex (`ab`): the next line's offset settles it, and on the last
//! line the candidate whose column matches the bytes wins.
//!
//! A final partial word (data length not a multiple of 4) is read as 2, 4 or 6 hex digits
//! holding the remaining bytes little-endian: the shape Event Viewer uses for it is not
//! documented, this is the one evtdoctor's own renderer writes.

use crate::Problem;

/// One line recognised as a dump line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpLine<'a> {
    /// 1-based line number in the input.
    pub line: u64,
    pub offset: u64,
    /// Whitespace-separated tokens after the colon.
    pub tokens: Vec<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Bytes,
    Words,
}

impl View {
    fn name(self) -> &'static str {
        match self {
            View::Bytes => "Bytes",
            View::Words => "Words",
        }
    }
}

/// Recognises `0000: ...` (4 to 8 hex digits, a colon, then whitespace or the end).
pub fn dump_line(line: u64, text: &str) -> Option<DumpLine<'_>> {
    let text = text.trim();
    let (offset, rest) = text.split_once(':')?;
    if !(4..=8).contains(&offset.len()) || !offset.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(DumpLine {
        line,
        offset: u64::from_str_radix(offset, 16).ok()?,
        tokens: rest.split_whitespace().collect(),
    })
}

/// Decodes consecutive dump lines into the bytes they show.
pub fn decode_dump(lines: &[DumpLine<'_>]) -> Result<Vec<u8>, Problem> {
    let Some(first) = lines.first() else {
        return Ok(Vec::new());
    };
    let view = match first.tokens.first().map(|t| t.len()) {
        Some(2) => View::Bytes,
        Some(8) => View::Words,
        _ => {
            return Err(Problem::at_line(
                first.line,
                format!(
                    "dump line {:?} starts with neither a byte (2 hex digits) nor a word (8)",
                    first.tokens.first().copied().unwrap_or("")
                ),
            ))
        }
    };
    let mut bytes = Vec::new();
    let mut width = None;
    let mut has_ascii = false;
    for (index, line) in lines.iter().enumerate() {
        let start = bytes.len() as u64;
        if line.offset != start {
            return Err(Problem::at_line(
                line.line,
                format!(
                    "dump offset {:04x} where {start:04x} was expected (a line is missing, \
                     repeated or out of order)",
                    line.offset
                ),
            ));
        }
        let (line_bytes, ascii) = match lines.get(index + 1) {
            Some(next) if next.offset <= start => {
                return Err(Problem::at_line(
                    next.line,
                    format!("dump offset {:04x} does not advance", next.offset),
                ))
            }
            Some(next) => full_line(view, line, next)?,
            None => last_line(view, line, width, has_ascii)?,
        };
        has_ascii |= ascii;
        width = Some(line_bytes.len());
        bytes.extend_from_slice(&line_bytes);
    }
    Ok(bytes)
}

/// A line whose byte count the next offset gives.
fn full_line(
    view: View,
    line: &DumpLine<'_>,
    next: &DumpLine<'_>,
) -> Result<(Vec<u8>, bool), Problem> {
    let count = next.offset - line.offset;
    let units = match view {
        View::Bytes => count,
        View::Words if count.is_multiple_of(4) => count / 4,
        View::Words => {
            return Err(Problem::at_line(
                line.line,
                format!("Words dump line holds {count} bytes, not a whole number of words"),
            ))
        }
    };
    let units = usize::try_from(units).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    for (index, token) in line.tokens.iter().take(units).enumerate() {
        if let Err(problem) = push_unit(view, line.line, token, false, &mut bytes) {
            // A hex-looking token of the wrong size is damage on this line; anything else
            // (the ASCII column) means the line is short of what the next offset needs.
            if token.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(problem);
            }
            return Err(gap(next, line.offset + (index as u64) * unit_size(view)));
        }
    }
    if bytes.len() < units.saturating_mul(unit_size(view) as usize) {
        return Err(gap(next, line.offset + bytes.len() as u64));
    }
    let column = line.tokens.get(units..).unwrap_or_default();
    if !column.is_empty() && !ascii_column_matches(&bytes, column) {
        return Err(Problem::at_line(
            line.line,
            format!(
                "text after the bytes is not their ASCII column: {:?}",
                column.join(" ")
            ),
        ));
    }
    Ok((bytes, !column.is_empty()))
}

fn unit_size(view: View) -> u64 {
    match view {
        View::Bytes => 1,
        View::Words => 4,
    }
}

/// The next line's offset does not continue where this line's bytes stop.
fn gap(next: &DumpLine<'_>, expected: u64) -> Problem {
    Problem::at_line(
        next.line,
        format!(
            "dump offset {:04x} where {expected:04x} was expected (a line is missing, \
             repeated or out of order)",
            next.offset
        ),
    )
}

/// The last line: how many tokens are bytes is chosen by the ASCII column when there is one.
fn last_line(
    view: View,
    line: &DumpLine<'_>,
    width: Option<usize>,
    has_ascii: bool,
) -> Result<(Vec<u8>, bool), Problem> {
    if line.tokens.is_empty() {
        return Ok((Vec::new(), false));
    }
    // The byte count after each leading token that reads as a unit, and why reading stopped.
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    let mut spoiler = None;
    for token in &line.tokens {
        if let Err(problem) = push_unit(view, line.line, token, true, &mut bytes) {
            spoiler = Some(problem);
            break;
        }
        ends.push(bytes.len());
        if token.len() < 8 && view == View::Words {
            break; // a partial word ends the data
        }
    }
    // Taking `k` tokens as bytes leaves this many bytes and this ASCII column.
    let split = |k: usize| -> Option<(usize, &[&str])> {
        Some((*ends.get(k.checked_sub(1)?)?, line.tokens.get(k..)?))
    };
    let fits = |n: usize| width.is_none_or(|w| n <= w);
    let with_column = (1..=ends.len()).rev().find(|&k| {
        split(k).is_some_and(|(end, column)| {
            fits(end)
                && !column.is_empty()
                && ascii_column_matches(bytes.get(..end).unwrap_or_default(), column)
        })
    });
    let without_column =
        (ends.len() == line.tokens.len() && fits(bytes.len())).then_some(ends.len());
    let chosen = if has_ascii {
        with_column.or(without_column)
    } else {
        without_column.or(with_column)
    };
    match chosen.and_then(split) {
        Some((end, column)) => {
            bytes.truncate(end);
            Ok((bytes, !column.is_empty()))
        }
        None => Err(match spoiler {
            // A token that is no unit at all is the clearest thing to name.
            Some(problem) if ends.is_empty() || !has_ascii => problem,
            _ => Problem::at_line(
                line.line,
                format!(
                    "last dump line: no split into bytes and a matching ASCII column: {:?}",
                    line.tokens.join(" ")
                ),
            ),
        }),
    }
}

/// Appends the bytes of one token (a byte, or a little-endian word; a partial word only when
/// `last` allows it).
fn push_unit(
    view: View,
    line: u64,
    token: &str,
    last: bool,
    bytes: &mut Vec<u8>,
) -> Result<(), Problem> {
    if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::at_line(
            line,
            format!("{token:?} is not hex in a {} dump", view.name()),
        ));
    }
    if !token.len().is_multiple_of(2) {
        return Err(Problem::at_line(
            line,
            format!("{token:?} has an odd number of hex digits"),
        ));
    }
    let decoded = hex::decode(token)
        .map_err(|e| Problem::at_line(line, format!("{token:?} is not hex: {e}")))?;
    match (view, decoded.len()) {
        (View::Bytes, 1) => bytes.extend_from_slice(&decoded),
        (View::Words, 4) => bytes.extend(decoded.iter().rev()),
        (View::Words, 1..=3) if last => bytes.extend(decoded.iter().rev()),
        (View::Bytes, 4) | (View::Words, 1) => {
            return Err(Problem::at_line(
                line,
                format!(
                    "{token:?} mixes views: a {} in a {} dump",
                    if view == View::Bytes { "word" } else { "byte" },
                    view.name()
                ),
            ))
        }
        _ => {
            return Err(Problem::at_line(
                line,
                format!("{token:?} is not a {} unit", view.name()),
            ))
        }
    }
    Ok(())
}

/// Event Viewer's ASCII column: printable bytes as themselves, anything else as one placeholder
/// character (usually `.`). Spaces are not compared: pasting often collapses them.
fn ascii_column_matches(bytes: &[u8], column: &[&str]) -> bool {
    let mut shown = column.iter().flat_map(|t| t.chars());
    for &b in bytes {
        if b == b' ' {
            continue;
        }
        match shown.next() {
            Some(c) if (0x21..=0x7e).contains(&b) && c != char::from(b) => return false,
            Some(_) => {}
            None => return false,
        }
    }
    shown.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<DumpLine<'_>> {
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| dump_line(i as u64 + 1, l))
            .collect()
    }

    const KB_DUMP: &str = "0000: 36 2e 30 2e 36 32 34 39 6.0.6249
0008: 2e 30 20 50 54 00 6b 6d .0 PT.km
0010: 73 65 72 76 65 72 2e 63 server.c
0018: 70 70 40 31 36 35 33 44 pp@1653D
0020: 44 31 00 6b 6d 73 65 72 D1.kmser
0028: 76 65 72 2e 63 70 70 40 ver.cpp@
0030: 31 31 32 30 44 48 61 38 1120DHa8
0038: 34 00 6b 6d 73 65 72 76 4.kmserv
0040: 65 72 2e 63 70 70 40 37 er.cpp@7
0048: 30 34 44 44 32 00 04DD2.";

    const KB_BYTES: &[u8] =
        b"6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0";

    #[test]
    fn reads_the_kb_bytes_view() {
        assert_eq!(decode_dump(&lines(KB_DUMP)).unwrap(), KB_BYTES);
    }

    #[test]
    fn reads_bytes_without_ascii_and_words_with_a_partial_tail() {
        let plain = "0000: 41 42 43 44 45\n0005: ab";
        assert_eq!(decode_dump(&lines(plain)).unwrap(), b"ABCDE\xab");
        let words = "0000: 44434241 48474645\n0008: 4a49";
        assert_eq!(decode_dump(&lines(words)).unwrap(), b"ABCDEFGHIJ");
    }

    #[test]
    fn an_ascii_column_that_looks_like_hex_is_told_apart() {
        // Last line bytes 41 42 ("AB") followed by their column "AB".
        let text = "0000: 30 31 32 33 0123\n0004: 41 42 AB";
        assert_eq!(decode_dump(&lines(text)).unwrap(), b"0123AB");
        let single = "0000: 61 62 ab";
        assert_eq!(decode_dump(&lines(single)).unwrap(), b"ab\xab");
    }

    #[test]
    fn malformed_dumps_name_their_line() {
        let cases = [
            ("0000: 41 42\n0004: 43 44", 2, "where 0002 was expected"),
            (
                "0000: 41 42 AB\n0004: 43 44",
                2,
                "was expected (a line is missing",
            ),
            ("0000: 41 42\n0003: 43", 2, "where 0002 was expected"),
            ("0000: 41 4\n0002: 43", 1, "odd number of hex digits"),
            ("0000: 41 42\n0002: 43444546", 2, "mixes views"),
            ("0000: 41 42 XY\n0002: 43", 1, "not their ASCII column"),
            ("0000: zz", 1, "is not hex"),
            ("0000: 4142434", 1, "neither a byte"),
            ("0000: 41424344 42\n0008: 43", 1, "mixes views: a byte"),
        ];
        for (text, line, words) in cases {
            let problem = decode_dump(&lines(text)).expect_err(text);
            assert_eq!(problem.line, Some(line), "{text}: {problem}");
            assert!(problem.message.contains(words), "{text}: {problem}");
        }
    }

    #[test]
    fn recognises_only_dump_lines() {
        assert!(dump_line(1, "0000: 36 2e").is_some());
        assert!(dump_line(1, "  0010:\t36").is_some());
        assert!(dump_line(1, "Date: Date").is_none());
        assert!(dump_line(1, "12:30:00 PM").is_none());
        assert!(dump_line(1, "0000:36").is_none());
    }
}
