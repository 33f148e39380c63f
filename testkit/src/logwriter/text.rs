//! Renders events as the text engineers paste or export from Event Viewer: Event Properties
//! blocks with a Bytes or Words dump of the data, headerless tab and comma exports, and event
//! XML. The sample generator writes its text files with these; tests render records the binary
//! readers decoded and check that the text readers give them back.
//!
//! ```
//! use evtdoctor_testkit::logwriter::text::{bytes_view, comma_row};
//! use evtdoctor_parsers::{Event, Level};
//!
//! assert_eq!(bytes_view(b"6.0 PT\0", 8, true, false), "0000: 36 2e 30 20 50 54 00   6.0 PT.\r\n");
//! let event = Event::new("MSExchangeKMS", 5085, Level::Error);
//! assert_eq!(comma_row(&event), "Date,Time,MSExchangeKMS,Error,None,5085,N/A,,\r\n");
//! ```

use evtdoctor_parsers::{Event, Level};

/// Event Viewer's Bytes view: `0000: 36 2e 30 ...` with an optional ASCII column.
pub fn bytes_view(data: &[u8], per_line: usize, ascii: bool, upper: bool) -> String {
    let mut out = String::new();
    for (index, chunk) in data.chunks(per_line.max(1)).enumerate() {
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
        out.push_str(&format!("{:04x}: {}", index * per_line, hex.join(" ")));
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
            out.push_str(&format!("   {shown}"));
        }
        out.push_str("\r\n");
    }
    out
}

/// The dump Windows 2000 shows (and KB 818952 prints): eight lowercase bytes per line with the
/// ASCII column.
pub fn kb_bytes_view(data: &[u8]) -> String {
    bytes_view(data, 8, true, false)
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
        out.push_str(&format!("{:04x}: {}\n", index * 16, words.join(" ")));
    }
    out
}

/// `7/1/2003` and `10:00:05 AM`, as a US-English Event Viewer shows a time; the placeholders
/// `Date` and `Time` (as in KB articles) for an event without one.
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

/// The description a text export carries: the rendered message when the event has one, else
/// its insertion strings, one per line (what is left without the source's message file).
pub fn description(event: &Event) -> String {
    event
        .message
        .clone()
        .unwrap_or_else(|| event.strings.join("\r\n"))
}

/// An Event Properties block as Windows 2000/XP copies it, with `dump` rendering the data.
pub fn event_block(event: &Event, dump: &dyn Fn(&[u8]) -> String) -> String {
    let (date, time) = us_date_time(event);
    let mut out = format!(
        "Event Type:\t{}\r\nEvent Source:\t{}\r\nEvent Category:\t{}\r\nEvent ID:\t{}\r\n\
         Date:\t\t{date}\r\nTime:\t\t{time}\r\nUser:\t\t{}\r\nComputer:\t{}\r\nDescription:\r\n{}\r\n",
        event.level.name(),
        event.source,
        category_text(event),
        event.event_id,
        event.user.as_deref().unwrap_or("N/A"),
        event.computer.as_deref().unwrap_or(""),
        description(event),
    );
    if let Some(data) = event.data.as_deref().filter(|d| !d.is_empty()) {
        out.push_str("Data:\r\n");
        out.push_str(&dump(data));
    }
    out.push_str("\r\n");
    out
}

/// One row of a headerless NT-era export ("Text (Tab delimited)" or "Text (Comma
/// delimited)"): Date, Time, Source, Type, Category, Event, User, Computer, Description.
/// Fields holding the delimiter, a quote or a line break are quoted. These exports have no
/// column for the binary data.
fn classic_row(event: &Event, delimiter: char) -> String {
    let (date, time) = us_date_time(event);
    let fields = [
        date,
        time,
        event.source.clone(),
        event.level.name().to_owned(),
        category_text(event),
        event.event_id.to_string(),
        event.user.clone().unwrap_or_else(|| "N/A".into()),
        event.computer.clone().unwrap_or_default(),
        description(event),
    ];
    let quoted: Vec<String> = fields
        .into_iter()
        .map(|field| {
            if field.contains([delimiter, '"', '\r', '\n']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field
            }
        })
        .collect();
    let mut row = quoted.join(&delimiter.to_string());
    row.push_str("\r\n");
    row
}

/// A row of Event Viewer's "Text (Tab delimited)" export (NT/2000/XP/2003, no header).
pub fn classic_tab_row(event: &Event) -> String {
    classic_row(event, '\t')
}

/// A row of Event Viewer's "Text (Comma delimited)" export (NT/2000/XP/2003, no header).
pub fn comma_row(event: &Event) -> String {
    classic_row(event, ',')
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
    out.push_str(&format!("<Provider Name='{}'/>", xml_escape(&event.source)));
    out.push_str(&match event.qualifiers {
        Some(q) => format!("<EventID Qualifiers='{q}'>{}</EventID>", event.event_id),
        None => format!("<EventID>{}</EventID>", event.event_id),
    });
    out.push_str(&format!("<Level>{}</Level>", level_number(event.level)));
    if let Some(task) = event.category {
        out.push_str(&format!("<Task>{task}</Task>"));
    }
    if let Some(t) = event.time_generated {
        out.push_str(&format!(
            "<TimeCreated SystemTime='{}'/>",
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ));
    }
    if let Some(record) = event.record_number {
        out.push_str(&format!("<EventRecordID>{record}</EventRecordID>"));
    }
    if let Some(log) = &event.log {
        out.push_str(&format!("<Channel>{}</Channel>", xml_escape(log)));
    }
    if let Some(computer) = &event.computer {
        out.push_str(&format!("<Computer>{}</Computer>", xml_escape(computer)));
    }
    out.push_str(&match &event.user {
        Some(user) => format!("<Security UserID='{}'/>", xml_escape(user)),
        None => "<Security/>".into(),
    });
    out.push_str("</System><EventData>");
    for string in &event.strings {
        out.push_str(&format!("<Data>{}</Data>", xml_escape(string)));
    }
    if let Some(data) = event.data.as_deref().filter(|d| !d.is_empty()) {
        out.push_str(&format!("<Binary>{}</Binary>", hex::encode_upper(data)));
    }
    out.push_str("</EventData></Event>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_view_matches_the_articles_dump_layout() {
        let dump = kb_bytes_view(b"6.0.6249.0 PT\0km");
        assert_eq!(
            dump,
            "0000: 36 2e 30 2e 36 32 34 39   6.0.6249\r\n0008: 2e 30 20 50 54 00 6b 6d   .0 PT.km\r\n"
        );
    }

    #[test]
    fn comma_rows_quote_fields_that_need_it() {
        let mut event = Event::new("Userenv", 1000, Level::Error);
        event.strings = vec!["a, b".into(), "say \"hi\"".into()];
        event.computer = Some("EXCH01".into());
        assert_eq!(
            comma_row(&event),
            "Date,Time,Userenv,Error,None,1000,N/A,EXCH01,\"a, b\r\nsay \"\"hi\"\"\"\r\n"
        );
    }

    #[test]
    fn words_view_keeps_a_partial_last_word() {
        assert_eq!(words_view(b"6.0.6"), "0000: 2e302e36 36\n");
    }
}
