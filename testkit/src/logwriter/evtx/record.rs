//! One event record: its header and its BinXML, laid out the way Windows logs an event from a
//! classic event source: a template instance (definition inline on first use in the chunk),
//! then the substitution values.

use super::binxml::{BinXml, Piece};
use super::chunk::Chunk;
use super::values::{Value, ValueType};
use evtdoctor_parsers::evtx::binxml::token;
use evtdoctor_parsers::{filetime, sid, Event, Level};

/// Substitution slots of the template, in the order the values are stored.
const SLOT_PROVIDER: u16 = 0;
const SLOT_EVENT_ID: u16 = 1;
const SLOT_QUALIFIERS: u16 = 2;
const SLOT_LEVEL: u16 = 3;
const SLOT_TASK: u16 = 4;
const SLOT_KEYWORDS: u16 = 5;
const SLOT_TIME_CREATED: u16 = 6;
const SLOT_RECORD_ID: u16 = 7;
const SLOT_CHANNEL: u16 = 8;
const SLOT_COMPUTER: u16 = 9;
const SLOT_USER: u16 = 10;
const SLOT_BINARY: u16 = 11;
/// Insertion strings fill the slots from here on, one `<Data>` each.
const SLOT_FIRST_STRING: u16 = 12;

/// Keywords Windows puts on events from classic sources, and the audit outcome bits.
const KEYWORD_CLASSIC: u64 = 0x0080_0000_0000_0000;
const KEYWORD_AUDIT_SUCCESS: u64 = 0x0020_0000_0000_0000;
const KEYWORD_AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;

const EVENT_NAMESPACE: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
/// Marks the writer's templates: the template id is the first 4 GUID bytes, these the rest.
const TEMPLATE_GUID_TAIL: &[u8; 12] = b"evtdoctor-v1";
/// High half of a template id; the low half is the number of insertion strings.
const TEMPLATE_ID_BASE: u32 = 0xed0c_0000;
const RECORD_SIGNATURE: &[u8; 4] = b"**\0\0";
/// Windows pads records to 8 bytes.
const RECORD_ALIGNMENT: u32 = 8;

fn slot(index: u16, kind: ValueType, optional: bool) -> Piece {
    Piece::Slot {
        index,
        kind,
        optional,
    }
}

/// A record ready to be written: its id, written time and substitution values, all validated.
pub(super) struct RecordValues {
    record_id: u64,
    written: u64,
    slots: Vec<Value>,
}

impl RecordValues {
    /// Checks and encodes `event`; the error says which field cannot be written.
    pub fn from_event(event: &Event, record_id: u64) -> Result<RecordValues, String> {
        let time_created = event.time_generated.map(checked_filetime).transpose()?;
        let written = match event.time_written {
            Some(t) => checked_filetime(t)?,
            None => time_created.unwrap_or(0),
        };
        let (level, keywords) = level_and_keywords(event.level)?;
        let user = match event.user.as_deref() {
            Some(text) => Value::sid(
                sid::from_text(text).ok_or_else(|| format!("user {text:?} is not a SID string"))?,
            ),
            None => Value::null(),
        };
        let mut slots = vec![
            Value::string(&event.source),
            Value::uint16(event.event_id),
            event.qualifiers.map_or_else(Value::null, Value::uint16),
            Value::uint8(level),
            Value::uint16(event.category.unwrap_or(0)),
            Value::hex_int64(keywords),
            time_created.map_or_else(Value::null, Value::filetime),
            Value::uint64(record_id),
            Value::optional_string(event.log.as_deref()),
            Value::optional_string(event.computer.as_deref()),
            user,
            Value::binary(event.data.as_deref().unwrap_or_default()),
        ];
        debug_assert_eq!(slots.len(), usize::from(SLOT_FIRST_STRING));
        if event.strings.len() > usize::from(u16::MAX - SLOT_FIRST_STRING) {
            return Err(format!(
                "{} insertion strings is too many",
                event.strings.len()
            ));
        }
        slots.extend(event.strings.iter().map(|s| Value::string(s)));
        if let Some(big) = slots.iter().find(|v| v.bytes.len() > usize::from(u16::MAX)) {
            return Err(format!(
                "a value of {} bytes exceeds 65535",
                big.bytes.len()
            ));
        }
        Ok(RecordValues {
            record_id,
            written,
            slots,
        })
    }

    fn string_count(&self) -> u16 {
        // Bounded by from_event.
        (self.slots.len() - usize::from(SLOT_FIRST_STRING)) as u16
    }
}

fn checked_filetime(time: chrono::DateTime<chrono::Utc>) -> Result<u64, String> {
    filetime::from_utc(time).ok_or_else(|| format!("time {time} is outside the FILETIME range"))
}

/// The `<Level>` and `<Keywords>` Windows writes for an event of this type. Audits carry
/// level 0 ("log always") and say success or failure in the keywords.
fn level_and_keywords(level: Level) -> Result<(u8, u64), String> {
    Ok(match level {
        Level::Critical => (1, KEYWORD_CLASSIC),
        Level::Error => (2, KEYWORD_CLASSIC),
        Level::Warning => (3, KEYWORD_CLASSIC),
        Level::Information => (4, KEYWORD_CLASSIC),
        Level::Verbose => (5, KEYWORD_CLASSIC),
        Level::AuditSuccess => (0, KEYWORD_CLASSIC | KEYWORD_AUDIT_SUCCESS),
        Level::AuditFailure => (0, KEYWORD_CLASSIC | KEYWORD_AUDIT_FAILURE),
        Level::Other(raw) => (
            u8::try_from(raw).map_err(|_| format!("level {raw} does not fit .evtx's 0-255"))?,
            KEYWORD_CLASSIC,
        ),
    })
}

/// Appends the record to the chunk. The caller checks afterwards that the chunk still fits,
/// and then tells the chunk with [`Chunk::record_added`].
pub(super) fn write_record(chunk: &mut Chunk, record: &RecordValues) {
    let start_offset = chunk.position();
    chunk.push(RECORD_SIGNATURE);
    let mut xml = BinXml { chunk };
    let size_at = xml.placeholder();
    xml.chunk.push(&record.record_id.to_le_bytes());
    xml.chunk.push(&record.written.to_le_bytes());

    xml.fragment_header();
    template_instance(&mut xml, record.string_count());
    xml.chunk.push_u32(record.slots.len() as u32);
    for value in &record.slots {
        // Sizes were bounded to u16 by from_event.
        xml.chunk.push(&(value.bytes.len() as u16).to_le_bytes());
        xml.chunk.push(&[value.kind as u8, 0]);
    }
    for value in &record.slots {
        xml.chunk.push(&value.bytes);
    }
    xml.end_of_fragment();

    let trailing_size_length = 4;
    let unpadded = xml.chunk.position() - start_offset + trailing_size_length;
    let padding = (RECORD_ALIGNMENT - unpadded % RECORD_ALIGNMENT) % RECORD_ALIGNMENT;
    xml.chunk
        .push(&[0; RECORD_ALIGNMENT as usize][..padding as usize]);
    let size = unpadded + padding;
    xml.chunk.patch_u32(size_at, size);
    xml.chunk.push_u32(size);
}

/// The template instance token; the definition follows it the first time the chunk uses it.
fn template_instance(xml: &mut BinXml<'_>, string_count: u16) {
    let template_id = TEMPLATE_ID_BASE | u32::from(string_count);
    xml.chunk.push(&[token::TEMPLATE_INSTANCE, 1]);
    xml.chunk.push_u32(template_id);
    if let Some(offset) = xml.chunk.template_offset(template_id) {
        xml.chunk.push_u32(offset);
        return;
    }
    let definition = xml.chunk.position() + 4;
    xml.chunk.push_u32(definition);
    let link = xml.chunk.add_template(template_id, definition);
    xml.chunk.push_u32(link);
    xml.chunk.push(&template_id.to_le_bytes());
    xml.chunk.push(TEMPLATE_GUID_TAIL);
    let size_at = xml.placeholder();
    template_body(xml, string_count);
    xml.patch_size_since(size_at);
}

/// The event skeleton: `<Event><System>...</System><EventData>...</EventData></Event>`.
fn template_body(xml: &mut BinXml<'_>, string_count: u16) {
    use ValueType::*;
    xml.fragment_header();
    let event = xml.open("Event", Some(("xmlns", Piece::Text(EVENT_NAMESPACE))), None);
    xml.close_start(&event);

    let system = xml.open("System", None, None);
    xml.close_start(&system);
    let provider = xml.open(
        "Provider",
        Some(("Name", slot(SLOT_PROVIDER, String, false))),
        None,
    );
    xml.close_empty(provider);
    let event_id = xml.open(
        "EventID",
        Some(("Qualifiers", slot(SLOT_QUALIFIERS, UInt16, true))),
        None,
    );
    xml.close_start(&event_id);
    xml.piece(slot(SLOT_EVENT_ID, UInt16, false));
    xml.end(event_id);
    xml.leaf("Level", slot(SLOT_LEVEL, UInt8, false));
    xml.leaf("Task", slot(SLOT_TASK, UInt16, false));
    xml.leaf("Keywords", slot(SLOT_KEYWORDS, HexInt64, false));
    let time_created = xml.open(
        "TimeCreated",
        Some(("SystemTime", slot(SLOT_TIME_CREATED, FileTime, true))),
        None,
    );
    xml.close_empty(time_created);
    xml.leaf("EventRecordID", slot(SLOT_RECORD_ID, UInt64, false));
    xml.leaf("Channel", slot(SLOT_CHANNEL, String, true));
    xml.leaf("Computer", slot(SLOT_COMPUTER, String, true));
    let security = xml.open(
        "Security",
        Some(("UserID", slot(SLOT_USER, Sid, true))),
        None,
    );
    xml.close_empty(security);
    xml.end(system);

    let event_data = xml.open("EventData", None, None);
    xml.close_start(&event_data);
    for index in SLOT_FIRST_STRING..SLOT_FIRST_STRING + string_count {
        xml.leaf("Data", slot(index, String, false));
    }
    xml.leaf("Binary", slot(SLOT_BINARY, Binary, true));
    xml.end(event_data);

    xml.end(event);
    xml.end_of_fragment();
}
