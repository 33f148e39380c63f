//! Event XML (the schema `wevtutil qe /f:xml`, evtx_dump and the `evtx` crate render) to [`Event`].

use crate::event::{Event, Level};
use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::Reader;

/// Which part of an `<Event>` the reader is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Outside,
    System,
    EventData,
    UserData,
    RenderingInfo,
}

/// Collects the fields of one `<Event>` element while the reader walks it.
#[derive(Default)]
struct Builder {
    source: Option<String>,
    provider: Option<String>,
    event_id: Option<u16>,
    qualifiers: Option<u16>,
    level: Option<Level>,
    keywords: u64,
    category: Option<u16>,
    time_created: Option<DateTime<Utc>>,
    record_id: Option<u64>,
    channel: Option<String>,
    computer: Option<String>,
    user: Option<String>,
    strings: Vec<String>,
    binary: Vec<u8>,
    message: Option<String>,
}

/// Parses every `<Event>` in `xml` (a single event, or any wrapper such as `<Events>`).
/// Returns the events in document order; a malformed document yields the events before the
/// damage and an error naming the byte offset.
pub fn parse_events(xml: &[u8]) -> (Vec<Event>, Option<crate::Problem>) {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut events = Vec::new();
    let mut state = Walker::default();
    loop {
        let position = reader.buffer_position();
        // Reading from a slice borrows names and text from it: no copying per token.
        match reader.read_event() {
            Ok(XmlEvent::Eof) => break,
            Ok(event) => {
                if let Some(done) = state.feed(&event) {
                    events.push(done);
                }
            }
            Err(e) => {
                let problem = crate::Problem::at_offset(position, format!("malformed XML: {e}"));
                return (events, Some(problem));
            }
        }
    }
    (events, None)
}

/// The element path inside one event, flattened to what the fields need.
#[derive(Default)]
struct Walker {
    current: Option<Builder>,
    section: Option<Section>,
    /// Name of the element whose text is being collected, and the text so far.
    element: Vec<u8>,
    text: String,
    /// Element depth inside the current event (1 = direct child of `<Event>`).
    depth: usize,
    /// Depth of a `<Data>`/UserData leaf whose text is being collected.
    leaf_depth: Option<usize>,
}

impl Walker {
    fn feed(&mut self, event: &XmlEvent<'_>) -> Option<Event> {
        match event {
            XmlEvent::Start(start) => self.start(start, false),
            XmlEvent::Empty(start) => {
                self.start(start, true);
                return self.end(start.local_name().as_ref());
            }
            XmlEvent::Text(text) if self.current.is_some() => match text.unescape() {
                Ok(t) => self.text.push_str(&t),
                Err(_) => self.text.push_str(&String::from_utf8_lossy(text)),
            },
            XmlEvent::CData(data) if self.current.is_some() => {
                self.text.push_str(&String::from_utf8_lossy(data));
            }
            XmlEvent::End(end) => return self.end(end.local_name().as_ref()),
            _ => {}
        }
        None
    }

    fn start(&mut self, start: &BytesStart<'_>, _empty: bool) {
        let name = start.local_name();
        let name = name.as_ref();
        if self.current.is_none() {
            if name == b"Event" {
                self.current = Some(Builder::default());
                self.section = Some(Section::Outside);
                self.depth = 0;
            }
            return;
        }
        self.depth += 1;
        self.text.clear();
        self.element.clear();
        self.element.extend_from_slice(name);
        if self.depth == 1 {
            self.section = Some(match name {
                b"System" => Section::System,
                b"EventData" => Section::EventData,
                b"UserData" => Section::UserData,
                b"RenderingInfo" => Section::RenderingInfo,
                _ => Section::Outside,
            });
            return;
        }
        let builder = self.current.as_mut().expect("inside an event");
        match self.section {
            Some(Section::System) => {
                for attr in start.attributes().flatten() {
                    let value = attr
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
                    match (name, attr.key.local_name().as_ref()) {
                        (b"Provider", b"Name") => builder.provider = Some(value),
                        (b"Provider", b"EventSourceName") => builder.source = Some(value),
                        (b"EventID", b"Qualifiers") => builder.qualifiers = value.parse().ok(),
                        (b"TimeCreated", b"SystemTime") => {
                            builder.time_created = parse_system_time(&value)
                        }
                        (b"Security", b"UserID") => builder.user = Some(value),
                        _ => {}
                    }
                }
            }
            // Every leaf element below EventData (or below UserData's one wrapper element) is
            // one value; a parent element restarts the collection at its first child.
            Some(Section::EventData) => self.leaf_depth = Some(self.depth),
            Some(Section::UserData) if self.depth >= 3 => self.leaf_depth = Some(self.depth),
            _ => {}
        }
    }

    fn end(&mut self, name: &[u8]) -> Option<Event> {
        self.current.as_ref()?;
        if self.depth == 0 {
            // The closing </Event>.
            let builder = self.current.take().expect("inside an event");
            self.section = None;
            return Some(builder.finish());
        }
        let text = std::mem::take(&mut self.text);
        let builder = self.current.as_mut().expect("inside an event");
        match self.section {
            Some(Section::System) if self.depth == 2 => match name {
                b"EventID" => builder.event_id = text.trim().parse().ok(),
                b"Level" => builder.level = text.trim().parse().ok().map(Level::from_evtx_level),
                b"Keywords" => builder.keywords = parse_hex_u64(&text).unwrap_or(0),
                b"Task" => builder.category = text.trim().parse().ok(),
                b"EventRecordID" => builder.record_id = text.trim().parse().ok(),
                b"Channel" => builder.channel = non_empty(text),
                b"Computer" => builder.computer = non_empty(text),
                _ => {}
            },
            Some(Section::EventData) | Some(Section::UserData)
                if self.leaf_depth == Some(self.depth) =>
            {
                if self.section == Some(Section::EventData) && name == b"Binary" {
                    builder.binary = decode_hex_lenient(text.trim());
                } else {
                    builder.strings.push(text);
                }
                self.leaf_depth = None;
            }
            Some(Section::RenderingInfo) if self.depth == 2 && name == b"Message" => {
                builder.message = non_empty(text);
            }
            _ => {}
        }
        if self.depth == 1 {
            self.section = Some(Section::Outside);
        }
        self.depth -= 1;
        None
    }
}

impl Builder {
    fn finish(self) -> Event {
        // The provider name is kept apart when a legacy EventSourceName is the source.
        let (source, provider) = match (self.source, self.provider) {
            (Some(source), Some(provider)) if source != provider => (source, Some(provider)),
            (Some(source), _) => (source, None),
            (None, provider) => (provider.unwrap_or_default(), None),
        };
        let mut event = Event::new(
            source,
            self.event_id.unwrap_or(0),
            audit_level(self.level.unwrap_or(Level::Information), self.keywords),
        );
        event.provider = provider;
        event.qualifiers = self.qualifiers;
        event.category = self.category;
        event.time_generated = self.time_created;
        event.record_number = self.record_id;
        event.log = self.channel;
        event.computer = self.computer;
        event.user = self.user;
        event.strings = self.strings;
        event.data = Some(self.binary);
        event.message = self.message;
        event
    }
}

/// Keyword bits Windows sets on Security audit events (WINEVENT_KEYWORD_AUDIT_*); those events
/// carry level 0, so the keywords are what say success or failure.
const KEYWORD_AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;
const KEYWORD_AUDIT_SUCCESS: u64 = 0x0020_0000_0000_0000;

pub(crate) fn audit_level(level: Level, keywords: u64) -> Level {
    if level != Level::Information {
        level
    } else if keywords & KEYWORD_AUDIT_FAILURE != 0 {
        Level::AuditFailure
    } else if keywords & KEYWORD_AUDIT_SUCCESS != 0 {
        Level::AuditSuccess
    } else {
        level
    }
}

fn parse_hex_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u64::from_str_radix(digits, 16).ok()
}

fn non_empty(text: String) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// `2021-07-22T15:44:21.4167183Z` (up to 9 fraction digits) to UTC.
pub fn parse_system_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Hex text to bytes; whitespace is ignored, and an odd trailing digit is dropped.
fn decode_hex_lenient(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let even = digits.len() & !1;
    hex::decode(&digits[..even]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
  <System>
    <Provider Name="MSExchangeKMS" />
    <EventID Qualifiers="49152">5085</EventID>
    <Level>2</Level>
    <Task>0</Task>
    <TimeCreated SystemTime="2003-07-01T10:00:05.1234567Z" />
    <EventRecordID>42</EventRecordID>
    <Channel>Application</Channel>
    <Computer>EXCH01</Computer>
    <Security />
  </System>
  <EventData>
    <Data>first &amp; only</Data>
    <Data></Data>
    <Binary>362E30</Binary>
  </EventData>
  <RenderingInfo Culture="en-US"><Message>KMS can not mount</Message></RenderingInfo>
</Event>"#;

    #[test]
    fn reads_every_field_of_a_classic_event() {
        let (events, problem) = parse_events(SAMPLE.as_bytes());
        assert!(problem.is_none());
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.source, "MSExchangeKMS");
        assert_eq!(e.event_id, 5085);
        assert_eq!(e.qualifiers, Some(49152));
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.category, Some(0));
        assert_eq!(e.record_number, Some(42));
        assert_eq!(e.log.as_deref(), Some("Application"));
        assert_eq!(e.computer.as_deref(), Some("EXCH01"));
        assert_eq!(e.user, None);
        assert_eq!(e.strings, vec!["first & only".to_owned(), String::new()]);
        assert_eq!(e.data.as_deref(), Some(&b"6.0"[..]));
        assert_eq!(e.message.as_deref(), Some("KMS can not mount"));
        assert_eq!(
            e.time_generated.unwrap().to_rfc3339(),
            "2003-07-01T10:00:05.123456700+00:00"
        );
    }

    #[test]
    fn user_data_leaves_become_strings_and_wrappers_hold_many_events() {
        let xml = r#"<Events><Event><System><Provider Name="Microsoft-Windows-Eventlog"/><EventID>1102</EventID></System>
<UserData><LogFileCleared xmlns="x"><SubjectUserSid>S-1-5-21</SubjectUserSid><SubjectUserName>bob</SubjectUserName></LogFileCleared></UserData></Event>
<Event><System><Provider Name="A" EventSourceName="B"/><EventID>7</EventID><Level>0</Level>
<Keywords>0x8010000000000000</Keywords></System>
<UserData><ServiceShutdown xmlns="x"/></UserData></Event></Events>"#;
        let (events, problem) = parse_events(xml.as_bytes());
        assert!(problem.is_none());
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].strings, vec!["S-1-5-21", "bob"]);
        assert_eq!(events[1].source, "B");
        assert_eq!(events[1].level, Level::AuditFailure);
        assert_eq!(events[0].level, Level::Information);
        assert!(
            events[1].strings.is_empty(),
            "an empty wrapper holds no value"
        );
        assert_eq!(events[1].event_id, 7);
    }

    #[test]
    fn malformed_xml_keeps_the_events_before_the_damage() {
        let xml = format!("<Events>{SAMPLE}<Event><System></Wrong></Events>");
        let (events, problem) = parse_events(xml.as_bytes());
        assert_eq!(events.len(), 1);
        let problem = problem.expect("damage reported");
        assert!(problem.offset.unwrap() > SAMPLE.len() as u64);
    }
}
