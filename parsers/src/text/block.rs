//! Pasted "Event Properties" blocks: `Event Type:`, `Event Source:`, ... `Computer:`, the
//! description (its `Description:` label is optional), then the `Data:` dump. Several events may
//! follow each other, with prose between them. Vista-style copies (`Log Name:`, `Source:`,
//! `Level:`, `Task Category:`, then `Event Xml:`) use the same reader; their XML supplies the data
//! and the UTC time.
//!
//! A block without a dump has no data (`None`): Event Viewer leaves the section out for a record
//! without data, but a paste may also have been cut, and the two cannot be told apart.

use super::clock::Clock;
use super::fields;
use super::hexdump::{decode_dump, dump_line, DumpLine};
use crate::event::{Event, Level};
use crate::event_xml;
use crate::{Item, Problem};

/// The header labels a block may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Type,
    Source,
    Category,
    EventId,
    Date,
    Time,
    User,
    Computer,
    Log,
    Description,
    Data,
    /// Vista's `Event Xml:` section (the event as XML, up to the next event).
    EventXml,
    /// Known labels without a field in the model (`Keywords:`, `Opcode:`).
    Ignored,
}

impl Label {
    /// Labels that open a new event wherever they appear.
    fn opens_event(self) -> bool {
        matches!(self, Label::Type | Label::Log)
    }

    /// Labels whose value goes into a field (a second one means a new event).
    fn holds_a_field(self) -> bool {
        !matches!(
            self,
            Label::Description | Label::Data | Label::EventXml | Label::Ignored
        )
    }

    /// Labels that open a new event outside any event.
    fn starts_event(self) -> bool {
        matches!(
            self,
            Label::Type | Label::Log | Label::Source | Label::EventId
        )
    }
}

/// `Event Type: Error` to its label and value.
fn label(text: &str) -> Option<(Label, &str)> {
    let (name, value) = text.split_once(':')?;
    let name = name.trim().to_ascii_lowercase();
    let found = match name.as_str() {
        "event type" | "type" | "level" => Label::Type,
        "event source" | "source" => Label::Source,
        "event category" | "category" | "task category" => Label::Category,
        "event id" => Label::EventId,
        "date" => Label::Date,
        "time" => Label::Time,
        "user" => Label::User,
        "computer" => Label::Computer,
        "log name" => Label::Log,
        "description" => Label::Description,
        "data" | "binary data" => Label::Data,
        "event xml" => Label::EventXml,
        "keywords" | "opcode" => Label::Ignored,
        _ => return None,
    };
    Some((found, value.trim()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Description,
    Dump,
    /// After `Event Xml:` (Vista and later): the event's XML, which carries the binary data
    /// and the time in UTC.
    Xml,
}

/// One event while its lines are read.
struct Pending<'a> {
    first_line: u64,
    part: Part,
    fields: Vec<(Label, &'a str, u64)>,
    description: Vec<&'a str>,
    dump: Vec<DumpLine<'a>>,
    /// The first non-dump line after the dump began (text inside a dump is damage when more
    /// dump lines follow it).
    interruption: Option<(u64, &'a str)>,
    problem: Option<Problem>,
    /// The `Event Xml:` line and the lines after it.
    xml: Option<(u64, Vec<&'a str>)>,
}

impl<'a> Pending<'a> {
    fn new(first_line: u64, part: Part) -> Pending<'a> {
        Pending {
            first_line,
            part,
            fields: Vec::new(),
            description: Vec::new(),
            dump: Vec::new(),
            interruption: None,
            problem: None,
            xml: None,
        }
    }

    fn has(&self, wanted: Label) -> bool {
        self.fields.iter().any(|(l, _, _)| *l == wanted)
    }

    fn field(&self, wanted: Label) -> Option<(&'a str, u64)> {
        self.fields
            .iter()
            .find(|(l, _, _)| *l == wanted)
            .map(|(_, v, n)| (*v, *n))
    }
}

/// Reads every block in `lines` (the input split into lines; problems name them from 1).
pub fn read_blocks(lines: &[&str], clock: &mut Clock, sink: &mut dyn FnMut(Item)) {
    let mut pending: Option<Pending<'_>> = None;
    for (index, raw) in lines.iter().enumerate() {
        let number = index as u64 + 1;
        let text = raw.trim_end();
        let labelled = label(text);
        let dump = dump_line(number, text);
        let starts_new = match (&pending, labelled) {
            (None, Some((l, _))) => l.starts_event(),
            (None, None) => dump.is_some(),
            (Some(p), Some((l, _))) => {
                l.opens_event() && p.part != Part::Header
                    || p.part == Part::Header && l.holds_a_field() && p.has(l)
                    || p.part == Part::Xml && l.starts_event()
            }
            (Some(_), None) => false,
        };
        if starts_new {
            if let Some(done) = pending.take() {
                finish(done, clock, sink);
            }
            let part = if dump.is_some() {
                Part::Dump
            } else {
                Part::Header
            };
            pending = Some(Pending::new(number, part));
        }
        let Some(event) = pending.as_mut() else {
            continue;
        };
        take_line(event, number, text, labelled, dump);
    }
    if let Some(done) = pending {
        finish(done, clock, sink);
    }
}

fn take_line<'a>(
    event: &mut Pending<'a>,
    number: u64,
    text: &'a str,
    labelled: Option<(Label, &'a str)>,
    dump: Option<DumpLine<'a>>,
) {
    if event.part == Part::Xml {
        if let Some((_, xml)) = event.xml.as_mut() {
            xml.push(text);
        }
        return;
    }
    if let Some(line) = dump {
        if let Some((at, interrupting)) = event.interruption {
            event.problem.get_or_insert_with(|| {
                Problem::at_line(
                    at,
                    format!("text inside the data dump: {:?}", interrupting.trim()),
                )
            });
        }
        event.part = Part::Dump;
        event.dump.push(line);
        return;
    }
    match (event.part, labelled) {
        (Part::Xml, _) => {}
        (_, Some((Label::EventXml, _))) => {
            event.part = Part::Xml;
            event.xml = Some((number, Vec::new()));
        }
        (Part::Header | Part::Description, Some((Label::Data, rest))) if names_a_view(rest) => {
            event.part = Part::Dump
        }
        (Part::Header, Some((Label::Description, rest))) => {
            event.part = Part::Description;
            if !rest.is_empty() {
                event.description.push(rest);
            }
        }
        (Part::Header, Some((l, value))) => event.fields.push((l, value, number)),
        (Part::Header, None) if text.trim().is_empty() => {}
        (Part::Header | Part::Description, _) => {
            event.part = Part::Description;
            event.description.push(text);
        }
        (Part::Dump, _) if text.trim().is_empty() => {}
        // Vista's friendly view names the view on its own line before the dump.
        (Part::Dump, _)
            if event.dump.is_empty() && names_a_view(text.trim().trim_start_matches("In ")) => {}
        (Part::Dump, _) => {
            event.interruption.get_or_insert((number, text));
        }
    }
}

fn finish(event: Pending<'_>, clock: &mut Clock, sink: &mut dyn FnMut(Item)) {
    if let Some(problem) = event.problem {
        sink(Err(problem));
        return;
    }
    let data = if event.dump.is_empty() {
        None
    } else {
        match decode_dump(&event.dump) {
            Ok(bytes) => Some(bytes),
            Err(problem) => {
                sink(Err(problem));
                return;
            }
        }
    };
    let source = event.field(Label::Source).map(|(v, _)| v.to_owned());
    let id = match event.field(Label::EventId) {
        Some((text, line)) => match fields::event_id(text) {
            Some(id) => Some(id),
            None => {
                sink(Err(Problem::at_line(
                    line,
                    format!("unreadable event ID {text:?}"),
                )));
                return;
            }
        },
        None => None,
    };
    if source.is_none() && id.is_none() && data.is_none() {
        sink(Err(Problem::at_line(
            event.first_line,
            "event block without a source, an event ID or data",
        )));
        return;
    }
    let level = match event.field(Label::Type) {
        Some((text, _)) => fields::level(text),
        None => Level::Information,
    };
    let (event_id, qualifiers) = id.unwrap_or((0, None));
    let mut out = Event::new(source.unwrap_or_default(), event_id, level);
    out.qualifiers = qualifiers;
    out.category = event
        .field(Label::Category)
        .and_then(|(v, _)| fields::category(v));
    out.user = event
        .field(Label::User)
        .and_then(|(v, _)| fields::account(v));
    out.computer = event
        .field(Label::Computer)
        .and_then(|(v, _)| fields::account(v));
    out.log = event
        .field(Label::Log)
        .and_then(|(v, _)| fields::account(v));
    out.message = description(&event.description);
    out.data = data;
    out.origin.line = Some(event.first_line);
    if let Some((line, xml)) = &event.xml {
        match xml_details(xml) {
            Ok(details) => merge_xml(&mut out, details),
            Err(error) => sink(Err(Problem::at_line(*line, error.to_string()))),
        }
    }
    let date = event
        .field(Label::Date)
        .filter(|_| out.time_generated.is_none());
    if let Some((date, line)) = date {
        let time = event.field(Label::Time).map(|(v, _)| v);
        match clock.read(date, time) {
            Ok(time) => out.time_generated = time,
            Err(error) => sink(Err(Problem::at_line(line, error.to_string()))),
        }
    }
    sink(Ok(out));
}

/// Why an `Event Xml:` section gave no event.
#[derive(Debug, thiserror::Error)]
enum XmlSectionError {
    #[error("event XML unreadable: {0}")]
    Unreadable(String),
    #[error("event XML section without an <Event>")]
    NoEvent,
}

/// The event inside an `Event Xml:` section.
fn xml_details(lines: &[&str]) -> Result<Event, XmlSectionError> {
    let (events, problem) = event_xml::parse_events(lines.join("\n").as_bytes());
    match (events.into_iter().next(), problem) {
        (Some(event), None) => Ok(event),
        (_, Some(problem)) => Err(XmlSectionError::Unreadable(problem.message)),
        (None, None) => Err(XmlSectionError::NoEvent),
    }
}

/// What the XML knows better than the text: its data, its UTC time, its record number,
/// qualifiers and insertion strings. The text keeps its account and computer names.
fn merge_xml(out: &mut Event, xml: Event) {
    out.data = xml.data;
    out.time_generated = xml.time_generated;
    out.record_number = xml.record_number;
    out.qualifiers = xml.qualifiers.or(out.qualifiers);
    out.strings = xml.strings;
    out.log = out.log.take().or(xml.log);
    out.user = out.user.take().or(xml.user);
    out.computer = out.computer.take().or(xml.computer);
}

/// `Data:` alone, or naming the dump's view (`Data: Bytes`).
fn names_a_view(rest: &str) -> bool {
    let view = rest.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace());
    view.is_empty() || view.eq_ignore_ascii_case("bytes") || view.eq_ignore_ascii_case("words")
}

/// Description lines without the blank lines around them.
fn description(lines: &[&str]) -> Option<String> {
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    let last = lines.iter().rposition(|l| !l.trim().is_empty())?;
    Some(lines.get(first..=last)?.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Item> {
        let lines: Vec<&str> = text.lines().collect();
        let mut items = Vec::new();
        read_blocks(&lines, &mut Clock::new(None), &mut |i| items.push(i));
        items
    }

    #[test]
    fn reads_labelled_blocks_with_crlf_and_placeholders() {
        let text = "Intro prose.\r\n\r\nEvent Type:\tWarning \r\nEvent Source:\tDisk\r\nEvent Category:\tNone\r\n\
Event ID:\t11\r\nDate:\t\tDate\r\nTime:\t\tTime\r\nUser:\t\tN/A\r\nComputer:\tHOST\r\nDescription:\r\n\
The driver detected an error.\r\n\r\nData:\r\n0000: 03 00 68 00  ..h.\r\n\r\nClosing prose.\r\n";
        let items = read(text);
        assert_eq!(items.len(), 1, "{items:?}");
        let e = items[0].as_ref().unwrap();
        assert_eq!(
            (e.source.as_str(), e.event_id, e.level),
            ("Disk", 11, Level::Warning)
        );
        assert_eq!(e.category, Some(0));
        assert_eq!(e.user, None);
        assert_eq!(e.computer.as_deref(), Some("HOST"));
        assert_eq!(e.time_generated, None);
        assert_eq!(e.message.as_deref(), Some("The driver detected an error."));
        assert_eq!(e.data.as_deref(), Some(&[3u8, 0, 0x68, 0][..]));
        assert_eq!(e.origin.line, Some(3));
    }

    #[test]
    fn a_broken_event_is_reported_and_its_neighbours_still_read() {
        let text =
            "Event Type: Error\nEvent Source: A\nEvent ID: 1\nfirst\n0000: 41 42\n0003: 43\n\
Event Type: Error\nEvent Source: B\nEvent ID: 2\nsecond\n0000: 41 42\nstray words\n0002: 43\n\
Event Type: Information\nEvent Source: C\nEvent ID: 3\nthird";
        let items = read(text);
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap_err().line, Some(6));
        let stray = items[1].as_ref().unwrap_err();
        assert_eq!(stray.line, Some(12));
        assert!(stray.message.contains("stray words"));
        let third = items[2].as_ref().unwrap();
        assert_eq!((third.source.as_str(), third.data.clone()), ("C", None));
    }

    #[test]
    fn vista_friendly_view_binary_data_in_words() {
        let text = "Log Name: System\nSource: NETLOGON\nEvent ID: 5805\nDescription:\n\
The session setup failed.\n\nBinary data:\n\nIn Words\n\n0000: C0000022\n";
        let items = read(text);
        let e = items[0].as_ref().unwrap();
        assert_eq!(e.message.as_deref(), Some("The session setup failed."));
        assert_eq!(e.data.as_deref(), Some(&[0x22u8, 0, 0, 0xc0][..]));
    }

    #[test]
    fn missing_fields_and_vista_labels() {
        let text = "Log Name:      Application\nSource:        MSExchangeKMS\nDate:          7/1/2003 10:00:05 AM\n\
Event ID:      5085\nTask Category: (3)\nLevel:         Error\nKeywords:      Classic\nUser:          N/A\n\
Computer:      EXCH01\nDescription:\nKMS can not mount\nEvent Xml:\n<Event xmlns=\"x\">\n  <System><EventID Qualifiers=\"49152\">5085</EventID>\n\
<TimeCreated SystemTime=\"2003-07-01T08:00:05.5Z\"/><EventRecordID>9</EventRecordID></System>\n\
  <EventData><Data>a</Data><Binary>362E30</Binary></EventData>\n</Event>\n\
Log Name: System\nSource: Next\nEvent ID: 1\nEvent Xml:\n<Event><System></Wrong></Event>\n";
        let mut clock = Clock::new(None);
        let lines: Vec<&str> = text.lines().collect();
        let mut items = Vec::new();
        read_blocks(&lines, &mut clock, &mut |i| items.push(i));
        assert_eq!(items.len(), 3, "{items:?}");
        let e = items[0].as_ref().unwrap();
        assert_eq!(e.log.as_deref(), Some("Application"));
        assert_eq!(e.data.as_deref(), Some(&b"6.0"[..]));
        assert_eq!((e.record_number, e.qualifiers), (Some(9), Some(0xc000)));
        assert_eq!(e.strings, ["a"]);
        let broken = items[1].as_ref().unwrap_err();
        assert_eq!(broken.line, Some(21));
        assert!(
            broken.message.starts_with("event XML unreadable"),
            "{broken}"
        );
        assert_eq!(items[2].as_ref().unwrap().source, "Next");
        // The XML's UTC time wins over the zone-less Date line, so nothing was assumed.
        assert_eq!(clock.basis(), crate::text::TimeBasis::Utc);
        assert_eq!(
            (e.event_id, e.category, e.level),
            (5085, Some(3), Level::Error)
        );
        assert_eq!(e.message.as_deref(), Some("KMS can not mount"));
        assert_eq!(
            e.time_generated.unwrap().to_rfc3339(),
            "2003-07-01T08:00:05.500+00:00"
        );
    }
}
