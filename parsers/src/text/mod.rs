//! Event text as support engineers have it: pasted Event Properties blocks, Event Viewer
//! text/CSV exports, PowerShell `Export-Csv` output, event XML (`wevtutil qe /f:xml`,
//! evtx_dump) and the package installer's setup logs (`svcpack.log`). The shape is detected from the content, never from a file name.

mod block;
pub mod clock;
mod delimited;
mod fields;
pub mod hexdump;
pub mod setup_log;

pub use clock::{parse_offset, ClockError, OffsetError, TimeBasis};

use crate::{event_xml, Item, Problem};
use chrono::FixedOffset;
use clock::Clock;
use serde::Serialize;

/// How to read event text.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// The offset zone-less times were written in; `None` reads them as UTC (and says so).
    pub offset: Option<FixedOffset>,
}

/// Which kind of event text an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextKind {
    /// Pasted Event Properties blocks (with their `Data:` dumps).
    Blocks,
    /// Tab- or comma-delimited export (Event Viewer, PowerShell, evtdoctor CSV).
    Delimited,
    /// Event XML.
    Xml,
    /// A package installer (update.exe) setup log: `svcpack.log`, `KBnnnnnn.log`.
    SetupLog,
}

/// Everything read from one text input.
#[derive(Debug, Clone)]
pub struct TextRead {
    pub kind: TextKind,
    /// How the times were turned into UTC: commands print it wherever times are shown.
    pub time_basis: TimeBasis,
    /// Events and problems in input order.
    pub items: Vec<Item>,
}

/// Reads event text of any supported kind. Fails only when the text is none of them.
pub fn read_text(bytes: &[u8], options: TextOptions) -> Result<TextRead, Problem> {
    let mut text = decode_text(bytes);
    let damage = mark_nul_runs(&mut text, bytes);
    let lines: Vec<&str> = text.lines().collect();
    let mut clock = Clock::new(options.offset);
    let mut items = Vec::new();
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .ok_or_else(|| Problem::at_line(1, "no text"))?;
    let kind = if looks_like_xml(&lines) {
        let (events, problem) = event_xml::parse_events(text.as_bytes());
        items.extend(events.into_iter().map(Ok));
        items.extend(problem.map(|p| Err(offset_to_line(&text, p))));
        TextKind::Xml
    } else if setup_log::looks_like_setup_log(&lines) {
        setup_log::read_setup_log(&lines, &mut clock, &mut |item| items.push(item));
        TextKind::SetupLog
    } else if let Some(kind) = read_delimited(&lines, first, &mut clock, &mut items) {
        kind
    } else {
        block::read_blocks(&lines, &mut clock, &mut |item| items.push(item));
        if items.is_empty() {
            return Err(Problem::at_line(
                first as u64 + 1,
                "not a recognised event text: expected pasted event properties, an Event \
                 Viewer text/CSV export, PowerShell Export-Csv output or event XML",
            ));
        }
        TextKind::Blocks
    };
    Ok(TextRead {
        kind,
        time_basis: clock.basis(),
        items: merge_by_line(items, damage),
    })
}

/// Replaces each run of NUL characters (a zeroed or damaged range: after decoding, so UTF-16's
/// NUL bytes are not) by one U+FFFD, so the damage stays on the line it is on and every other
/// line keeps its number; returns one problem per run, at its line and input offset.
fn mark_nul_runs(text: &mut String, bytes: &[u8]) -> Vec<Problem> {
    if !text.contains('\0') {
        return Vec::new();
    }
    let offsets = InputOffsets::of(bytes);
    let mut problems = Vec::new();
    let mut marked = String::with_capacity(text.len());
    let mut line = 1u64;
    // Where the current run started: input offset and line.
    let mut run: Option<(u64, u64)> = None;
    let mut close_run = |run: &mut Option<(u64, u64)>, end: u64| {
        if let Some((start, line)) = run.take() {
            problems.push(Problem {
                offset: Some(start),
                line: Some(line),
                message: format!(
                    "{} NUL byte(s) (a zeroed or damaged range) up to offset {end}: this line is \
                     read as far as it goes, the others are not affected",
                    end - start
                ),
            });
        }
    };
    let mut offset = offsets.start();
    for c in text.chars() {
        if c == '\0' {
            if run.is_none() {
                marked.push(char::REPLACEMENT_CHARACTER);
                run = Some((offset, line));
            }
        } else {
            close_run(&mut run, offset);
            marked.push(c);
            if c == '\n' {
                line += 1;
            }
        }
        offset += offsets.width(c);
    }
    close_run(&mut run, offset);
    *text = marked;
    problems
}

/// How positions in the decoded text map back to input offsets.
enum InputOffsets {
    /// UTF-8: the byte position after a byte-order mark of `bom` bytes.
    Utf8 { bom: u64 },
    /// UTF-16 after its 2-byte mark: two bytes per code unit.
    Utf16,
    /// Single bytes read as Latin-1: one byte per character.
    Latin1 { bom: u64 },
}

impl InputOffsets {
    /// How [`decode_text`] read `bytes`.
    fn of(bytes: &[u8]) -> InputOffsets {
        if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
            return InputOffsets::Utf16;
        }
        let body = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]);
        let bom = if body.is_some() { 3 } else { 0 };
        match std::str::from_utf8(body.unwrap_or(bytes)) {
            Ok(_) => InputOffsets::Utf8 { bom },
            Err(_) => InputOffsets::Latin1 { bom },
        }
    }

    /// The input offset of the first character.
    fn start(&self) -> u64 {
        match self {
            InputOffsets::Utf8 { bom } | InputOffsets::Latin1 { bom } => *bom,
            InputOffsets::Utf16 => 2,
        }
    }

    /// How many input bytes the character `c` was read from.
    fn width(&self, c: char) -> u64 {
        match self {
            InputOffsets::Utf8 { .. } => c.len_utf8() as u64,
            InputOffsets::Utf16 => 2 * c.len_utf16() as u64,
            InputOffsets::Latin1 { .. } => 1,
        }
    }
}

/// The readers' items with each damage problem placed before the first item of its line or a
/// later one.
fn merge_by_line(items: Vec<Item>, damage: Vec<Problem>) -> Vec<Item> {
    if damage.is_empty() {
        return items;
    }
    let line_of = |item: &Item| match item {
        Ok(event) => event.origin.line,
        Err(problem) => problem.line,
    };
    let mut damage = damage.into_iter().peekable();
    let mut merged = Vec::with_capacity(items.len() + damage.len());
    for item in items {
        let line = line_of(&item);
        while let Some(problem) = damage.next_if(|p| line.is_some_and(|l| p.line <= Some(l))) {
            merged.push(Err(problem));
        }
        merged.push(item);
    }
    merged.extend(damage.map(Err));
    merged
}

/// Event XML, possibly after a tool's banner (evtx_dump's `Record 1`, evtxexport's version
/// line): one of the first few non-blank lines opens it.
fn looks_like_xml(lines: &[&str]) -> bool {
    const BANNER_LINES: usize = 3;
    lines
        .iter()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty())
        .take(BANNER_LINES)
        .any(|l| l.starts_with("<?xml") || l.starts_with("<Event"))
}

/// A problem at a byte offset of the decoded text, restated at its line (the offset would
/// not match the file when it was UTF-16 or ANSI).
fn offset_to_line(text: &str, problem: Problem) -> Problem {
    match problem.offset.and_then(|o| usize::try_from(o).ok()) {
        Some(offset) => {
            let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
            let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            Problem::at_line(line, problem.message)
        }
        None => problem,
    }
}

/// Reads the input as a delimited export when its first record (after a PowerShell `#TYPE`
/// line) has that shape; `None` leaves it to the block reader.
fn read_delimited(
    lines: &[&str],
    first: usize,
    clock: &mut Clock,
    items: &mut Vec<Item>,
) -> Option<TextKind> {
    let start = if lines[first].trim_start().starts_with("#TYPE") {
        first + 1
    } else {
        first
    };
    let body = lines.get(start..)?;
    let head = body.first()?;
    let delimiter = if head.contains('\t') { b'\t' } else { b',' };
    let records = delimited::records(body, delimiter);
    let first_layout = match records.first()? {
        Ok(first) => delimited::layout(&first.fields),
        Err(_) => None,
    };
    let (columns, has_header) = first_layout.or_else(|| headerless_layout(&records))?;
    let line_base = start as u64;
    delimited::read_delimited(
        records,
        &columns,
        has_header,
        delimiter,
        clock,
        &mut |item| items.push(shift_line(item, line_base)),
    );
    Some(TextKind::Delimited)
}

/// Rows read to find a headerless export's shape when its first row is damaged.
const LAYOUT_ROWS: usize = 64;

/// The shape of a headerless export whose first row is damaged (NUL bytes, now U+FFFD): the
/// next whole rows show it. A header cannot be looked for past the first row.
fn headerless_layout(
    records: &[Result<delimited::Record, Problem>],
) -> Option<(Vec<delimited::Column>, bool)> {
    let first_damaged = match records.first()? {
        Ok(first) => first
            .fields
            .iter()
            .any(|f| f.contains(char::REPLACEMENT_CHARACTER)),
        Err(_) => true,
    };
    if !first_damaged {
        return None;
    }
    records
        .iter()
        .take(LAYOUT_ROWS)
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|r| delimited::layout(&r.fields))
        .find(|(_, has_header)| !has_header)
}

/// Records were numbered from the start of their slice; make the numbers the file's.
fn shift_line(item: Item, by: u64) -> Item {
    match item {
        Ok(mut event) => {
            event.origin.line = event.origin.line.map(|l| l + by);
            Ok(event)
        }
        Err(mut problem) => {
            problem.line = problem.line.map(|l| l + by);
            Err(problem)
        }
    }
}

/// Text from UTF-8 (with or without BOM), UTF-16 with a BOM (Event Viewer's Unicode exports),
/// or, failing those, Windows-1252-like single bytes (NT-era ANSI exports; bytes map to the
/// Latin-1 code points).
pub fn decode_text(bytes: &[u8]) -> String {
    let utf16 = |body: &[u8], little: bool| {
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|p| {
                let pair = [p[0], p[1]];
                if little {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(body) = bytes.strip_prefix(&[0xff, 0xfe]) {
        return utf16(body, true);
    }
    if let Some(body) = bytes.strip_prefix(&[0xfe, 0xff]) {
        return utf16(body, false);
    }
    let body = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => body.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_by_content() {
        let block = read_text(
            b"Event Type: Error\nEvent Source: X\nEvent ID: 1\n",
            TextOptions::default(),
        )
        .unwrap();
        assert_eq!(block.kind, TextKind::Blocks);
        let csv = read_text(b"#TYPE System.Diagnostics.EventLogEntry\n\"EventID\",\"Source\",\"EntryType\"\n\"1\",\"X\",\"Error\"\n", TextOptions::default()).unwrap();
        assert_eq!(csv.kind, TextKind::Delimited);
        assert_eq!(csv.items[0].as_ref().unwrap().origin.line, Some(3));
        let xml = read_text(b"Record 1\n<?xml version=\"1.0\"?>\n<Event><System><EventID>7</EventID></System></Event>\n", TextOptions::default()).unwrap();
        assert_eq!((xml.kind, xml.time_basis), (TextKind::Xml, TimeBasis::Utc));
        assert_eq!(xml.items[0].as_ref().unwrap().event_id, 7);
        let broken = read_text(
            b"<Events>\n<Event><System><EventID>7</EventID></System></Event>\n<Event></Wrong>\n",
            TextOptions::default(),
        )
        .unwrap();
        assert_eq!(broken.items.len(), 2);
        assert_eq!(broken.items[1].as_ref().unwrap_err().line, Some(3));
        let banner = read_text(
            b"evtxexport 20181227\n\n<Event><System><EventID>8</EventID></System></Event>\n",
            TextOptions::default(),
        )
        .unwrap();
        assert_eq!(banner.items[0].as_ref().unwrap().event_id, 8);
        assert!(read_text(b"just some prose\n", TextOptions::default()).is_err());
        assert!(read_text(b"  \n", TextOptions::default()).is_err());
    }

    /// A small deterministic generator (xorshift64*), so the no-panic property is checked on
    /// the same thousands of inputs every run without a property-testing dependency.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Pieces of every supported shape, damaged ones included.
    const FRAGMENTS: &[&str] = &[
        "Event Type:\tError",
        "Event Source:\tMSExchangeKMS",
        "Event ID:\t5085",
        "Event ID: 99999999999",
        "Event Category: (70000)",
        "Date: 13/45/2003",
        "Date:\t7/1/2003",
        "Time: 25:61 PM",
        "Time:\t10:00:05 AM",
        "User: N/A",
        "Computer: X",
        "Description:",
        "Data:",
        "Data: Words",
        "Log Name: A",
        "Source: B",
        "Level: 9",
        "Event Xml:",
        "0000: 36 2e 30 2e",
        "0004: 36 32 34 39 6249",
        "0008:",
        "ffffffff: 41",
        "0000: 2e302e36 3",
        "0010: 4",
        "0000: 41 42 AB",
        "#TYPE x",
        "\"EventID\",\"Source\",\"Data\",\"EntryType\"",
        "\"1\",\"S\",\"4142\",\"Error\"",
        "\"unterminated",
        "a,b,c,d,e,f,g,h,i",
        "7/1/2003\t1:00 AM\tS\tError\tNone\t1\tN/A\tC\tD",
        "Level,Date and Time,Source,Event ID,Task Category",
        "<Event>",
        "</Event>",
        "<System><EventID>x</EventID>",
        "<Binary>ABC</Binary>",
        "Record 1",
        "<?xml ?>",
        "",
        "   ",
        "\t\t",
        "\u{feff}",
        "é€😀",
        "\r",
        ":",
        "0000:",
        "\"\"\"",
        ",,,,\"\n\"",
    ];

    #[test]
    fn arbitrary_text_never_panics() {
        let mut random = Random(0x005e_ed0f_e7d0_c702);
        let kb = include_str!("../../../tests/fixtures/kb818952_event_5085.txt");
        for case in 0..6000 {
            let mut bytes: Vec<u8> = match case % 3 {
                // Lines of known shapes in random order.
                0 => (0..random.below(40))
                    .map(|_| random.pick(FRAGMENTS))
                    .collect::<Vec<_>>()
                    .join(if random.below(2) == 0 { "\n" } else { "\r\n" })
                    .into_bytes(),
                // The KB event with random bytes changed, dropped or added.
                1 => {
                    let mut text = kb.as_bytes().to_vec();
                    for _ in 0..1 + random.below(8) {
                        let at = random.below(text.len() + 1);
                        const POOL: &[u8] = b" 0123456789abcdefABCDEF:.\n\t\"<x";
                        let byte = POOL[random.below(POOL.len())];
                        match random.below(3) {
                            0 if at < text.len() => text[at] = byte,
                            1 if at < text.len() => {
                                text.remove(at);
                            }
                            _ => text.insert(at, byte),
                        }
                    }
                    text
                }
                // Raw bytes, sometimes behind a UTF-16 byte-order mark.
                _ => {
                    let mut raw: Vec<u8> = (0..random.below(300))
                        .map(|_| random.next() as u8)
                        .collect();
                    if random.below(4) == 0 {
                        raw.splice(0..0, [0xff, 0xfe]);
                    }
                    raw
                }
            };
            bytes.truncate(20_000);
            let offset = FixedOffset::east_opt(3600 * (random.below(27) as i32 - 13));
            if let Ok(read) = read_text(&bytes, TextOptions { offset }) {
                for event in read.items.into_iter().flatten() {
                    if let Some(data) = &event.data {
                        crate::payload::decode_payload(data);
                    }
                }
            }
            crate::payload::decode_payload(&bytes);
        }
    }

    #[test]
    fn decodes_utf16_and_ansi_exports() {
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("Event ID: 1\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_text(&utf16), "Event ID: 1\n");
        assert_eq!(decode_text(b"Caf\xe9"), "Caf\u{e9}");
    }

    #[test]
    fn the_time_basis_names_an_assumption() {
        let text =
            b"Event Type: Error\nEvent Source: X\nEvent ID: 1\nDate: 7/1/2003\nTime: 10:00:00 AM\n";
        let read = read_text(text, TextOptions::default()).unwrap();
        assert_eq!(read.time_basis, TimeBasis::AssumedUtc);
        let offset = parse_offset("+02:00").unwrap();
        let read = read_text(
            text,
            TextOptions {
                offset: Some(offset),
            },
        )
        .unwrap();
        assert_eq!(read.time_basis, TimeBasis::Offset(offset));
        let e = read.items[0].as_ref().unwrap();
        assert_eq!(
            e.time_generated.unwrap().to_rfc3339(),
            "2003-07-01T08:00:00+00:00"
        );
    }
}
