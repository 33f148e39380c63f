//! How `decode` shows events: a field/value table per event with hex and word dumps of its
//! data, CSV rows, or JSON.

use super::JsonArrayWriter;
use crate::cli::Format;
use evtdoctor_parsers::payload::{Layout, Payload};
use evtdoctor_parsers::text::TimeBasis;
use evtdoctor_parsers::Event;
use serde::Serialize;
use std::io::{self, Write};

/// Hex bytes a table shows before it points to the JSON for the rest.
const TABLE_HEX_BYTES: usize = 256;

/// One event and what its data decodes to.
#[derive(Serialize)]
pub struct Decoded {
    #[serde(flatten)]
    pub event: Event,
    pub time_basis: TimeBasis,
    /// `null` when the input carries no binary data for the event (exports without it).
    pub payload: Option<Payload>,
}

/// Writes the decoded events in `format`.
pub fn write<W: Write>(out: &mut W, format: Format, decoded: &[Decoded]) -> io::Result<()> {
    match format {
        Format::Json => {
            let mut writer = JsonArrayWriter::new(&mut *out)?;
            for item in decoded {
                writer.push(item)?;
            }
            writer.finish()?;
        }
        Format::Jsonl => {
            for item in decoded {
                serde_json::to_writer(&mut *out, item)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            super::write_csv_row(out, &CSV_HEADER)?;
            for item in decoded {
                super::write_csv_row(out, &csv_row(item))?;
            }
        }
        Format::Table | Format::Markdown => {
            let mut assumed = false;
            for (index, item) in decoded.iter().enumerate() {
                assumed |= item.time_basis == TimeBasis::AssumedUtc;
                let heading = match item.event.origin.line {
                    Some(line) => format!("Event {} (line {line})", index + 1),
                    None => format!("Event {}", index + 1),
                };
                let rows = rows(item);
                if format == Format::Markdown {
                    writeln!(out, "### {heading}\n")?;
                    writeln!(out, "{}", super::markdown_table(&["Field", "Value"], &rows))?;
                } else {
                    let mut table = super::table(&["Field", "Value"]);
                    for row in rows {
                        table.add_row(row);
                    }
                    writeln!(out, "{heading}\n{table}\n")?;
                }
            }
            match (assumed, format) {
                (true, Format::Markdown) => {
                    writeln!(out, "{}", super::assumed_utc_note_markdown())?
                }
                (true, _) => writeln!(out, "{}", super::ASSUMED_UTC_NOTE)?,
                (false, _) => {}
            }
        }
    }
    Ok(())
}

/// The field/value rows of one event, as a person reads them.
fn rows(item: &Decoded) -> Vec<[String; 2]> {
    let event = &item.event;
    let mut rows = Vec::new();
    let mut add = |field: &str, value: String| {
        if !value.is_empty() {
            rows.push([field.to_owned(), value]);
        }
    };
    add("Source", event.source.clone());
    let id = match event.qualifiers {
        Some(_) => format!("{} (0x{:08X})", event.event_id, event.full_event_id()),
        None => event.event_id.to_string(),
    };
    add("Event ID", id);
    add("Level", event.level.name().to_owned());
    add("Category", opt(event.category));
    let time = super::time_text(event.time(), item.time_basis);
    add(
        "Time (UTC)",
        match item.time_basis {
            TimeBasis::Offset(offset) if !time.is_empty() => format!("{time} (read at {offset})"),
            _ => time,
        },
    );
    add("Log", event.log.clone().unwrap_or_default());
    add("Record", opt(event.record_number));
    add("Computer", event.computer.clone().unwrap_or_default());
    add("User", event.user.clone().unwrap_or_default());
    for (index, string) in event.strings.iter().enumerate() {
        add(&format!("Insertion string {}", index + 1), string.clone());
    }
    add("Description", event.message.clone().unwrap_or_default());
    let Some(payload) = &item.payload else {
        add("Data", "not carried by this input".into());
        return rows;
    };
    add(
        "Data",
        format!("{} bytes, {}", payload.size, layout_name(payload.layout)),
    );
    for (index, string) in payload.strings.iter().enumerate() {
        add(
            &format!("String {}", index + 1),
            format!("@{:#06x} {}", string.offset, string.text),
        );
    }
    if let Some(build) = &payload.build {
        let flavour = build
            .flavour
            .as_deref()
            .map(|f| format!(", flavour {f}"))
            .unwrap_or_default();
        add(
            "Build",
            format!(
                "{}.{}.{}.{}{flavour} (major {}, minor {}, build {}, revision {})",
                build.major,
                build.minor,
                build.build,
                build.revision,
                build.major,
                build.minor,
                build.build,
                build.revision
            ),
        );
    }
    for (index, marker) in payload.markers.iter().enumerate() {
        let tag = if marker.tag.is_empty() {
            String::new()
        } else {
            format!(", tag {} (meaning unknown)", marker.tag)
        };
        add(
            &format!("Marker {}", index + 1),
            format!("{} line {}{tag}", marker.file, marker.line),
        );
    }
    let data = event.data.as_deref().unwrap_or_default();
    add("Hex", dump_lines(data, 1, |byte| hex::encode(byte)));
    if payload.layout == Layout::Binary {
        // Status codes and counters read best as Event Viewer's Words view shows them.
        add(
            "Words",
            dump_lines(data, 4, |word| {
                word.iter().rev().map(|b| format!("{b:02x}")).collect()
            }),
        );
    }
    rows
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Empty => "empty",
        Layout::AsciiStrings => "NUL-separated ASCII strings",
        Layout::Utf16Strings => "NUL-separated UTF-16LE strings",
        Layout::Binary => "binary (printable runs shown)",
    }
}

/// `0000: ...` lines of 16 bytes, each shown in `unit`-byte groups by `show`, cut after
/// [`TABLE_HEX_BYTES`].
fn dump_lines(data: &[u8], unit: usize, show: impl Fn(&[u8]) -> String) -> String {
    let mut lines: Vec<String> = data
        .chunks(16)
        .take(TABLE_HEX_BYTES / 16)
        .enumerate()
        .map(|(index, line)| {
            let groups: Vec<String> = line.chunks(unit).map(&show).collect();
            format!("{:04x}: {}", index * 16, groups.join(" "))
        })
        .collect();
    if data.len() > TABLE_HEX_BYTES {
        lines.push(format!(
            "… {} more bytes (--json shows all)",
            data.len() - TABLE_HEX_BYTES
        ));
    }
    lines.join("\n")
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

const CSV_HEADER: [&str; 13] = [
    "line",
    "time",
    "time_basis",
    "source",
    "event_id",
    "level",
    "computer",
    "data_size",
    "layout",
    "strings",
    "build",
    "markers",
    "hex",
];

fn csv_row(item: &Decoded) -> Vec<String> {
    let event = &item.event;
    let payload = item.payload.as_ref();
    let build = payload
        .and_then(|p| p.build.as_ref())
        .map(|b| {
            let version = format!("{}.{}.{}.{}", b.major, b.minor, b.build, b.revision);
            match &b.flavour {
                Some(f) => format!("{version} {f}"),
                None => version,
            }
        })
        .unwrap_or_default();
    let markers = payload
        .map(|p| {
            let markers: Vec<String> = p
                .markers
                .iter()
                .map(|m| format!("{}:{}:{}", m.file, m.line, m.tag))
                .collect();
            super::csv_list(&markers)
        })
        .unwrap_or_default();
    vec![
        opt(event.origin.line),
        event.time().map(|t| t.to_rfc3339()).unwrap_or_default(),
        item.time_basis.label(),
        event.source.clone(),
        event.event_id.to_string(),
        event.level.name().to_owned(),
        event.computer.clone().unwrap_or_default(),
        opt(payload.map(|p| p.size)),
        payload
            .map(|p| layout_name(p.layout).to_owned())
            .unwrap_or_default(),
        payload
            .map(|p| {
                let strings: Vec<&str> = p.strings.iter().map(|s| s.text.as_str()).collect();
                super::csv_list(&strings)
            })
            .unwrap_or_default(),
        build,
        markers,
        payload.map(|p| p.hex.clone()).unwrap_or_default(),
    ]
}
