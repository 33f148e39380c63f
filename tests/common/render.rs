//! Test-only renderers: turn decoded events back into the text shapes engineers paste (Event
//! Properties blocks with Bytes or Words dumps, headerless tab exports, event XML), so the text
//! readers can be checked against records whose bytes the binary readers proved.

use evtdoctor_parsers::{Event, Level};
use std::fmt::Write;

/// Event Viewer's Bytes view: `0000: 36 2e 30 ...` with an optional ASCII column.
pub fn bytes_view(data: &[u8], per_line: usize, ascii: bool, upper: bool) -> String {
    let mut out = String::new();
    for (index, chunk) in data.chunks(per_line).enumerate() {
        let hex: Vec<String> = chunk
            .iter()
            .map(|b| {
                if upper {
                    format!("{b:02X}")
                } else {
                    format!("{b:02x}")
                }
            })
            .collect();
        write!(out, "{:04x}: {}", index * per_line, hex.join(" ")).unwrap();
        if ascii {
            let shown: String = chunk
                .iter()
                .map(|&b| {
                    if (0x20..=0x7e).contains(&b) {
                        char::from(b)
                    } else {
                        '.'
                    }
                })
                .collect();
            write!(out, "   {shown}").unwrap();
        }
        out.push_str("\r\n");
    }
    out
}

/// Event Viewer's Words view: little-endian 32-bit words, four per line; a final partial word
/// is written with as many digit pairs as it has bytes.
pub fn words_view(data: &[u8]) -> String {
    let mut out = String::new();
    for (index, line) in data.chunks(16).enumerate() {
        let words: Vec<String> = line
            .chunks(4)
            .map(|word| word.iter().rev().map(|b| format!("{b:02x}")).collect())
            .collect();
        writeln!(out, "{:04x}: {}", index * 16, words.join(" ")).unwrap();
    }
    out
}

/// The level name a text export writes; `Other` has no name, so it comes back as `Other(0)`.
pub fn level_name(level: Level) -> &'static str {
    level.name()
}

/// `7/1/2003` and `10:00:05 AM`, as a US-English Event Viewer shows a time.
pub fn us_date_time(event: &Event) -> (String, String) {
    match event.time() {
        Some(t) => (
            t.format("%-m/%-d/%Y").to_string(),
            t.format("%-I:%M:%S %p").to_string(),
        ),
        None => ("Date".into(), "Time".into()),
    }
}

/// What Event Viewer shows as the category: `None` for 0, `(n)` otherwise.
pub fn category_text(event: &Event) -> String {
    match event.category.unwrap_or(0) {
        0 => "None".into(),
        n => format!("({n})"),
    }
}

/// The description a text export carries for a record without a rendered message: its
/// insertion strings, one per line.
pub fn description(event: &Event) -> String {
    event
        .message
        .clone()
        .unwrap_or_else(|| event.strings.join("\r\n"))
}

/// An Event Properties block as Windows 2000/XP copies it, with `dump` rendering the data.
pub fn event_block(event: &Event, dump: &dyn Fn(&[u8]) -> String) -> String {
    let (date, time) = us_date_time(event);
    let mut out = String::new();
    write!(
        out,
        "Event Type:\t{}\r\nEvent Source:\t{}\r\nEvent Category:\t{}\r\nEvent ID:\t{}\r\n\
         Date:\t\t{date}\r\nTime:\t\t{time}\r\nUser:\t\t{}\r\nComputer:\t{}\r\nDescription:\r\n{}\r\n",
        level_name(event.level),
        event.source,
        category_text(event),
        event.event_id,
        event.user.as_deref().unwrap_or("N/A"),
        event.computer.as_deref().unwrap_or(""),
        description(event),
    )
    .unwrap();
    if let Some(data) = event.data.as_deref().filter(|d| !d.is_empty()) {
        out.push_str("Data:\r\n");
        out.push_str(&dump(data));
    }
    out.push_str("\r\n");
    out
}

/// A headerless NT-era tab export row: Date, Time, Source, Type, Category, Event, User,
/// Computer, Description (quoted when it holds a tab, a quote or a line break).
pub fn classic_tab_row(event: &Event) -> String {
    let (date, time) = us_date_time(event);
    let text = description(event);
    let description = if text.contains(['\t', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    };
    format!(
        "{date}\t{time}\t{}\t{}\t{}\t{}\t{}\t{}\t{description}\r\n",
        event.source,
        level_name(event.level),
        category_text(event),
        event.event_id,
        event.user.as_deref().unwrap_or("N/A"),
        event.computer.as_deref().unwrap_or(""),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The .evtx `<Level>` number for a level.
fn level_number(level: Level) -> u16 {
    match level {
        Level::Critical => 1,
        Level::Error => 2,
        Level::Warning => 3,
        Level::Information | Level::AuditSuccess | Level::AuditFailure => 4,
        Level::Verbose => 5,
        Level::Other(n) => n,
    }
}

/// One `<Event>` as `wevtutil qe /f:xml` writes it (on one line, no declaration).
pub fn event_xml(event: &Event) -> String {
    let mut out = String::from(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>",
    );
    write!(out, "<Provider Name='{}'/>", xml_escape(&event.source)).unwrap();
    match event.qualifiers {
        Some(q) => write!(
            out,
            "<EventID Qualifiers='{q}'>{}</EventID>",
            event.event_id
        ),
        None => write!(out, "<EventID>{}</EventID>", event.event_id),
    }
    .unwrap();
    write!(out, "<Level>{}</Level>", level_number(event.level)).unwrap();
    if let Some(task) = event.category {
        write!(out, "<Task>{task}</Task>").unwrap();
    }
    if let Some(t) = event.time_generated {
        write!(
            out,
            "<TimeCreated SystemTime='{}'/>",
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )
        .unwrap();
    }
    if let Some(record) = event.record_number {
        write!(out, "<EventRecordID>{record}</EventRecordID>").unwrap();
    }
    if let Some(log) = &event.log {
        write!(out, "<Channel>{}</Channel>", xml_escape(log)).unwrap();
    }
    if let Some(computer) = &event.computer {
        write!(out, "<Computer>{}</Computer>", xml_escape(computer)).unwrap();
    }
    match &event.user {
        Some(user) => write!(out, "<Security UserID='{}'/>", xml_escape(user)).unwrap(),
        None => out.push_str("<Security/>"),
    }
    out.push_str("</System><EventData>");
    for string in &event.strings {
        write!(out, "<Data>{}</Data>", xml_escape(string)).unwrap();
    }
    if let Some(data) = event.data.as_deref().filter(|d| !d.is_empty()) {
        write!(out, "<Binary>{}</Binary>", hex::encode_upper(data)).unwrap();
    }
    out.push_str("</EventData></Event>");
    out
}
