//! The fast path for classic-shaped records. A record's BinXML is a template instance: a
//! reference to a template definition plus typed substitution values. Each definition is read
//! once into a [`TemplatePlan`] that says which value feeds which [`Event`] field (later chunks
//! holding the same definition reuse it), and records are then built straight from their
//! values, with no XML rendered or parsed. (Format: MS-EVEN6 BinXML, read here from the chunk
//! bytes.)
//!
//! Anything a plan does not cover (UserData, arrays, floats, unusual tokens) gives `None`, and
//! the caller renders that record through XML instead; a test holds both paths equal.

use crate::event::{Event, Level};
use crate::utf16::{push_ascii, push_decimal, until_nul};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// Template plans: those of the chunk being read, by definition offset and context (`None`:
/// not for the fast path), and those of the chunks read before it. A chunk holds a few dozen
/// templates at most, so a list beats hashing.
#[derive(Default)]
pub struct PlanCache {
    chunk: Vec<(u32, Context, Option<Arc<TemplatePlan>>)>,
    earlier: EarlierPlans,
}

impl PlanCache {
    /// Forgets the plans' offsets: offsets are chunk-relative. Plans of earlier chunks stay
    /// for definitions that turn out the same.
    pub fn start_chunk(&mut self) {
        self.chunk.clear();
    }

    fn plan(
        &mut self,
        chunk: &[u8],
        definition: u32,
        context: Context,
    ) -> Option<Arc<TemplatePlan>> {
        let cached = self
            .chunk
            .iter()
            .find(|(offset, c, _)| (*offset, *c) == (definition, context));
        if let Some((_, _, plan)) = cached {
            return plan.clone();
        }
        let plan = self.earlier.plan(chunk, definition as usize, context);
        self.chunk.push((definition, context, plan.clone()));
        plan
    }
}

/// Plans built for earlier chunks, by where their definition sat. Most logs repeat a few
/// templates in every chunk, often at the same offset; building a plan costs far more than
/// checking that a definition's bytes and the names it refers to are those of a known one.
#[derive(Default)]
struct EarlierPlans {
    by_offset: HashMap<(usize, Context), Vec<KnownPlan>>,
    /// Definition and name bytes kept, against [`MAX_EARLIER_BYTES`].
    held: usize,
}

/// Definition bytes kept at most: real logs hold a few KiB of templates; a crafted one cannot
/// make a worker hold (or compare against) more than this, and past it the cache starts again.
const MAX_EARLIER_BYTES: usize = 4 << 20;

/// A plan and everything its building read from the chunk.
struct KnownPlan {
    /// The definition's BinXML (names stored inline included).
    tokens: Box<[u8]>,
    /// Names stored elsewhere in the chunk: offset and stored bytes (length, characters).
    names: Vec<(usize, Box<[u8]>)>,
    plan: Arc<TemplatePlan>,
}

impl EarlierPlans {
    fn plan(&mut self, chunk: &[u8], offset: usize, context: Context) -> Option<Arc<TemplatePlan>> {
        let tokens = definition_tokens(chunk, offset)?;
        let known = self.by_offset.get(&(offset, context));
        let same = known.into_iter().flatten().find(|k| {
            *k.tokens == *tokens
                && k.names
                    .iter()
                    .all(|(at, bytes)| stored_name(chunk, *at) == Some(&bytes[..]))
        });
        if let Some(same) = same {
            return Some(Arc::clone(&same.plan));
        }
        let start = offset + DEFINITION_HEADER;
        // A definition the fast path does not handle is not kept: the chunk's own list
        // remembers it for the chunk.
        let (plan, names) = TemplatePlan::walk(chunk, start, start + tokens.len(), context)?;
        let plan = Arc::new(plan);
        let Some(names) = names
            .into_iter()
            .map(|at| Some((at, Box::from(stored_name(chunk, at)?))))
            .collect::<Option<Vec<(usize, Box<[u8]>)>>>()
        else {
            return Some(plan);
        };
        let bytes = tokens.len() + names.iter().map(|(_, name)| name.len()).sum::<usize>();
        if self.held + bytes > MAX_EARLIER_BYTES {
            self.by_offset.clear();
            self.held = 0;
        }
        self.by_offset
            .entry((offset, context))
            .or_default()
            .push(KnownPlan {
                tokens: Box::from(tokens),
                names,
                plan: Arc::clone(&plan),
            });
        self.held += bytes;
        Some(plan)
    }
}

/// Definition header: next offset (4), GUID (16), data size (4); the BinXML tokens follow.
const DEFINITION_HEADER: usize = 24;

/// The BinXML tokens of the template definition at `offset` (cut at the chunk's end).
fn definition_tokens(chunk: &[u8], offset: usize) -> Option<&[u8]> {
    let size = read_u32(chunk, offset.checked_add(20)?)? as usize;
    let start = offset.checked_add(DEFINITION_HEADER)?;
    let end = start.checked_add(size)?.min(chunk.len());
    chunk.get(start..end)
}

/// The stored bytes of the name at `offset`: its length and characters.
fn stored_name(chunk: &[u8], offset: usize) -> Option<&[u8]> {
    let chars = usize::from(read_u16(chunk, offset.checked_add(6)?)?);
    chunk.get(offset.checked_add(6)?..offset.checked_add(8 + chars * 2)?)
}

/// Where a BinXML fragment sits in its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Context {
    /// A whole event, or its EventData or UserData element.
    Event,
    /// The content of the UserData element (its wrapper element and the values below it).
    UserData,
}

/// Builds the event of the record whose BinXML is `chunk[start..start + len]`, or `None` when
/// the record is not of a shape the fast path handles.
pub fn record_event<'c>(
    chunk: &'c [u8],
    start: usize,
    len: usize,
    plans: &mut PlanCache,
    lists: &mut ValueLists<'c>,
) -> Option<Event> {
    let end = start.checked_add(len)?.min(chunk.len());
    let mut state = Collected {
        lists: std::mem::take(lists),
        ..Collected::default()
    };
    let instance = Instance::read(chunk, start, end, state.lists.take())?;
    let mut event = Event::new(String::new(), 0, Level::Information);
    instance.apply(chunk, plans, &mut event, &mut state, Context::Event, 0)?;
    state.lists.keep(instance.values);
    *lists = std::mem::take(&mut state.lists);
    if event.source.is_empty() {
        // Every real event names its provider; without one the record is damaged, and the
        // XML path salvages more of it.
        event.source = state.provider.filter(|p| !p.is_empty())?;
    }
    event.level = crate::event_xml::audit_level(event.level, state.keywords);
    event.data = Some(state.binary);
    Some(event)
}

/// Field values gathered before they can be settled (source falls back to the provider name;
/// audit levels need the keywords).
#[derive(Default)]
struct Collected<'c> {
    provider: Option<String>,
    keywords: u64,
    binary: Vec<u8>,
    /// Fields applied and text bytes made so far, against [`MAX_WORK`].
    work: usize,
    lists: ValueLists<'c>,
}

/// Value lists of the instances already read, kept for the next ones (every record reads two
/// or three): at most one list per nesting level is in use at a time.
#[derive(Default)]
pub struct ValueLists<'c>(Vec<Vec<RawValue<'c>>>);

impl<'c> ValueLists<'c> {
    fn take(&mut self) -> Vec<RawValue<'c>> {
        self.0.pop().unwrap_or_default()
    }

    fn keep(&mut self, mut values: Vec<RawValue<'c>>) {
        values.clear();
        self.0.push(values);
    }
}

/// What one record may cost: real records apply a few dozen fields, but a template repeating
/// a nested substitution multiplies its fields at every nesting level (200 repeats, four
/// levels: 1.6 billion). Past this the record goes to the XML path, which has its own limits.
const MAX_WORK: usize = 1 << 20;

impl Collected<'_> {
    fn spend(&mut self, units: usize) -> Option<()> {
        self.work = self.work.saturating_add(units);
        (self.work <= MAX_WORK).then_some(())
    }
}

/// Nested BinXML (EventData as a substitution of the Event template) goes this deep at most.
const MAX_NESTING: usize = 4;

/// One substitution value, still raw.
#[derive(Debug, Clone, Copy)]
struct RawValue<'c> {
    kind: u8,
    bytes: &'c [u8],
}

/// A template instance: which definition, and its values.
struct Instance<'c> {
    definition: u32,
    values: Vec<RawValue<'c>>,
}

impl<'c> Instance<'c> {
    /// Reads `[fragment header] TemplateInstance` at `pos`, into `values` (empty).
    fn read(
        chunk: &'c [u8],
        pos: usize,
        end: usize,
        mut values: Vec<RawValue<'c>>,
    ) -> Option<Instance<'c>> {
        let mut cursor = Cursor {
            bytes: chunk.get(..end)?,
            pos,
        };
        if cursor.peek()? == 0x0f {
            cursor.skip(4)?; // token, major and minor version, flags
        }
        if cursor.u8()? != 0x0c {
            return None;
        }
        cursor.skip(1)?; // unknown byte
        let _template_id = cursor.u32()?;
        let definition = cursor.u32()?;
        if definition as usize == cursor.pos {
            // The definition is stored inline here (its first use in the chunk): skip it.
            cursor.skip(20)?; // next definition offset, GUID
            let size = cursor.u32()? as usize;
            cursor.skip(size)?;
        }
        let count = cursor.u32()? as usize;
        // Each descriptor takes 4 bytes: a count larger than what is left is damage.
        if count > cursor.remaining() / 4 {
            return None;
        }
        // The descriptors (size u16, type u8, padding) come first, then the values in order.
        let descriptors = cursor.take(count * 4)?;
        let mut rest = cursor.bytes.get(cursor.pos..)?;
        values.reserve(count);
        for descriptor in descriptors.as_chunks::<4>().0 {
            let size = usize::from(u16::from_le_bytes([descriptor[0], descriptor[1]]));
            let (bytes, after) = rest.split_at_checked(size)?;
            values.push(RawValue {
                kind: descriptor[2],
                bytes,
            });
            rest = after;
        }
        Some(Instance { definition, values })
    }

    /// Feeds this instance's fields into `event`.
    fn apply(
        &self,
        chunk: &'c [u8],
        plans: &mut PlanCache,
        event: &mut Event,
        state: &mut Collected<'c>,
        context: Context,
        depth: usize,
    ) -> Option<()> {
        let plan = plans.plan(chunk, self.definition, context)?;
        plan.apply(&self.values, chunk, plans, event, state, depth)
    }
}

/// The Event field a piece of template text or an attribute value feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ProviderName,
    EventSourceName,
    EventRecordId,
    EventId,
    Qualifiers,
    Level,
    Task,
    Keywords,
    TimeCreated,
    Channel,
    Computer,
    UserId,
    /// One `<Data>` of EventData.
    Data,
    Binary,
    /// A substitution holding nested BinXML (Windows stores EventData and the content of
    /// UserData this way).
    Nested(Context),
    /// Text the model does not keep (Version, Opcode, Execution, ...).
    Ignored,
}

/// One part of a field's text: fixed template text, or a substitution value.
#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Value(u16),
}

/// A field and where its text comes from.
#[derive(Debug, Clone)]
struct FieldPlan {
    field: Field,
    pieces: Vec<Piece>,
    /// Substitutions whose NULL value leaves this field's element out of the record.
    dependencies: Vec<u16>,
}

/// Which substitution feeds which field, for one template definition.
#[derive(Debug, Clone, Default)]
pub struct TemplatePlan {
    fields: Vec<FieldPlan>,
    /// One more than the highest substitution index the fields refer to.
    values_needed: usize,
}

impl TemplatePlan {
    /// The plan of the BinXML tokens in `chunk[start..end]`, and the offsets of the names it
    /// read from elsewhere in the chunk. `None` when the tokens hold anything the fast path
    /// does not handle.
    fn walk(
        chunk: &[u8],
        start: usize,
        end: usize,
        context: Context,
    ) -> Option<(TemplatePlan, Vec<usize>)> {
        let mut walker = PlanWalker {
            cursor: Cursor {
                bytes: chunk.get(..end)?,
                pos: start,
            },
            chunk,
            plan: TemplatePlan::default(),
            stack: Vec::new(),
            attribute_plan: None,
            root: None,
            context,
            names_elsewhere: Vec::new(),
        };
        walker.walk()?;
        let mut plan = walker.plan;
        plan.values_needed = plan
            .fields
            .iter()
            .flat_map(|f| {
                let values = f.pieces.iter().filter_map(|p| match p {
                    Piece::Value(i) => Some(*i),
                    Piece::Literal(_) => None,
                });
                f.dependencies.iter().copied().chain(values)
            })
            .map(|i| usize::from(i) + 1)
            .max()
            .unwrap_or(0);
        // Fields the model does not keep only count for `values_needed`.
        plan.fields.retain(|f| f.field != Field::Ignored);
        // A whole-event template must say at least who logged what; one that does not is
        // damaged or unusual, and the XML path reads it more carefully.
        let has = |field| plan.fields.iter().any(|f| f.field == field);
        let complete = context == Context::UserData
            || matches!(walker.root.as_deref(), Some("EventData" | "UserData"))
            || (has(Field::EventId) && has(Field::ProviderName));
        (walker.stack.is_empty() && complete).then_some((plan, walker.names_elsewhere))
    }

    fn apply<'c>(
        &self,
        values: &[RawValue<'c>],
        chunk: &'c [u8],
        plans: &mut PlanCache,
        event: &mut Event,
        state: &mut Collected<'c>,
        depth: usize,
    ) -> Option<()> {
        // An instance with fewer values than its template refers to is damaged.
        if self.values_needed > values.len() {
            return None;
        }
        // The provider name is the source only when no EventSourceName says otherwise: its
        // text is made last, and kept apart only when it differs.
        let mut provider = None;
        for plan in &self.fields {
            state.spend(1 + plan.pieces.len())?;
            let left_out = plan.dependencies.iter().any(|d| {
                values
                    .get(usize::from(*d))
                    .is_none_or(|v| v.kind == NULL_TYPE)
            });
            if left_out {
                continue;
            }
            match plan.field {
                Field::ProviderName => provider = Some(plan),
                Field::Nested(context) => {
                    let [Piece::Value(i)] = plan.pieces.as_slice() else {
                        return None;
                    };
                    let value = values.get(usize::from(*i))?;
                    match value.kind {
                        NULL_TYPE => {}
                        BINXML_TYPE if depth < MAX_NESTING => {
                            // The value's bytes sit inside the chunk; offsets in them are chunk offsets.
                            let start = (value.bytes.as_ptr() as usize)
                                .checked_sub(chunk.as_ptr() as usize)?;
                            let end = start.checked_add(value.bytes.len())?;
                            match Instance::read(chunk, start, end, state.lists.take()) {
                                Some(nested) => {
                                    nested.apply(chunk, plans, event, state, context, depth + 1)?;
                                    state.lists.keep(nested.values);
                                }
                                // Classic events logged through the legacy API store their
                                // EventData as plain elements, without a template.
                                None => TemplatePlan::walk(chunk, start, end, context)?.0.apply(
                                    &[],
                                    chunk,
                                    plans,
                                    event,
                                    state,
                                    depth + 1,
                                )?,
                            }
                        }
                        _ => return None,
                    }
                }
                Field::Binary => {
                    for piece in &plan.pieces {
                        match piece {
                            Piece::Value(i) => {
                                let value = values.get(usize::from(*i))?;
                                match value.kind {
                                    BINARY_TYPE => {
                                        state.spend(value.bytes.len())?;
                                        state.binary.extend_from_slice(value.bytes)
                                    }
                                    NULL_TYPE => {}
                                    _ => return None,
                                }
                            }
                            Piece::Literal(text) => {
                                state.binary.extend(hex::decode(text.trim()).ok()?)
                            }
                        }
                    }
                }
                Field::TimeCreated => {
                    let [Piece::Value(i)] = plan.pieces.as_slice() else {
                        return None;
                    };
                    let value = values.get(usize::from(*i))?;
                    event.time_generated = match value.kind {
                        FILETIME_TYPE => crate::evtx::filetime_to_utc(le_u64(value.bytes)?),
                        NULL_TYPE => None,
                        _ => return None,
                    };
                }
                field => {
                    // Numbers and string arrays are read as they are when they fill the field
                    // alone (the usual case), else through their text.
                    if let Some(n) = numeric_of(field, &plan.pieces, values) {
                        match field {
                            Field::EventId => event.event_id = u16::try_from(n).unwrap_or(0),
                            Field::Qualifiers => event.qualifiers = u16::try_from(n).ok(),
                            Field::Level => {
                                event.level = Level::from_evtx_level(u8::try_from(n).ok()?)
                            }
                            Field::Task => event.category = u16::try_from(n).ok(),
                            Field::EventRecordId => event.event_record_id = Some(n),
                            _ => state.keywords = n,
                        }
                        continue;
                    }
                    if let Some(array) = string_array(field, &plan.pieces, values) {
                        push_string_array(&mut event.strings, array)?;
                        continue;
                    }
                    let text = text_of(&plan.pieces, values)?;
                    state.spend(text.len())?;
                    match field {
                        Field::EventSourceName if !text.is_empty() => event.source = text,
                        Field::EventId => event.event_id = text.trim().parse().unwrap_or(0),
                        Field::EventRecordId => event.event_record_id = text.trim().parse().ok(),
                        Field::Qualifiers => event.qualifiers = text.trim().parse().ok(),
                        Field::Level => {
                            event.level = text.trim().parse().map(Level::from_evtx_level).ok()?
                        }
                        Field::Task => event.category = text.trim().parse().ok(),
                        Field::Keywords => {
                            state.keywords = text
                                .trim()
                                .strip_prefix("0x")
                                .and_then(|h| u64::from_str_radix(h, 16).ok())
                                .unwrap_or(0)
                        }
                        Field::Channel => event.log = non_empty(text),
                        Field::Computer => event.computer = non_empty(text),
                        Field::UserId => event.user = non_empty(text),
                        Field::Data => event.strings.push(text),
                        _ => {}
                    }
                }
            }
        }
        if let Some(plan) = provider {
            let name = text_of(&plan.pieces, values)?;
            if event.source.is_empty() {
                state.provider = Some(name);
            } else if name != event.source {
                event.provider = Some(name);
            }
        }
        Some(())
    }
}

/// The number a numeric field holds when it is exactly one unsigned integer value (the usual
/// case); `None` sends the field through its text.
fn numeric_of(field: Field, pieces: &[Piece], values: &[RawValue<'_>]) -> Option<u64> {
    let numeric = matches!(
        field,
        Field::EventId
            | Field::EventRecordId
            | Field::Qualifiers
            | Field::Level
            | Field::Task
            | Field::Keywords
    );
    let ([Piece::Value(i)], true) = (pieces, numeric) else {
        return None;
    };
    let value = values.get(usize::from(*i))?;
    let b = value.bytes;
    match value.kind {
        0x04 => Some(u64::from(*b.first()?)).filter(|_| b.len() == 1),
        0x06 => Some(u64::from(u16::from_le_bytes(b.try_into().ok()?))),
        0x08 => Some(u64::from(u32::from_le_bytes(b.try_into().ok()?))),
        0x0a | 0x15 => le_u64(b),
        _ => None,
    }
}

/// The bytes of the string array that alone fills a Data field (classic events store their
/// insertion strings as one), or `None`.
fn string_array<'c>(field: Field, pieces: &[Piece], values: &[RawValue<'c>]) -> Option<&'c [u8]> {
    let ([Piece::Value(i)], Field::Data) = (pieces, field) else {
        return None;
    };
    let value = values.get(usize::from(*i))?;
    (value.kind == STRING_ARRAY_TYPE).then_some(value.bytes)
}

/// One string per array item: the element holding an array is repeated once per item. Only
/// whole arrays (every item NUL-terminated) are read here.
fn push_string_array(strings: &mut Vec<String>, bytes: &[u8]) -> Option<()> {
    if !bytes.len().is_multiple_of(2) || !bytes.ends_with(&[0, 0]) {
        return None;
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let units = rest
            .chunks_exact(2)
            .position(|unit| unit == [0, 0])
            .unwrap_or(rest.len() / 2);
        let mut text = String::with_capacity(units);
        push_utf16_until_nul(&mut text, rest.get(..units * 2)?)?;
        strings.push(text);
        rest = rest.get(units * 2 + 2..)?;
    }
    Some(())
}

/// The text without surrounding white space, or `None` when nothing is left; reuses the
/// allocation when there is nothing to trim (the usual case).
fn non_empty(text: String) -> Option<String> {
    // Text that starts and ends with a visible ASCII character has nothing to trim.
    let visible = |byte: Option<&u8>| byte.is_some_and(|b| b.is_ascii_graphic());
    if visible(text.as_bytes().first()) && visible(text.as_bytes().last()) {
        return Some(text);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == text.len() {
        Some(text)
    } else {
        Some(trimmed.to_owned())
    }
}

/// The text of a field, as the XML rendering shows it.
fn text_of(pieces: &[Piece], values: &[RawValue<'_>]) -> Option<String> {
    if let [Piece::Value(i)] = pieces {
        // One value (the usual case): at most 64 KiB of it, within the work limit.
        let value = *values.get(usize::from(*i))?;
        let mut text = String::with_capacity(text_capacity(value));
        push_value_text(&mut text, value)?;
        return Some(text);
    }
    let capacity = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(literal) => literal.len(),
            Piece::Value(i) => values.get(usize::from(*i)).map_or(0, |v| text_capacity(*v)),
        })
        .sum();
    // A field repeating one big value thousands of times would be sized in gigabytes: past
    // the work limit the record goes to the XML path.
    if capacity > MAX_WORK {
        return None;
    }
    let mut text = String::with_capacity(capacity);
    for piece in pieces {
        match piece {
            Piece::Literal(literal) => text.push_str(literal),
            Piece::Value(i) => push_value_text(&mut text, *values.get(usize::from(*i))?)?,
        }
    }
    Some(text)
}

/// The room a value's text takes: a byte per UTF-16 unit of ASCII text, two per byte of
/// binary, a few dozen at most for numbers and the other kinds.
fn text_capacity(value: RawValue<'_>) -> usize {
    match value.kind {
        0x01 => value.bytes.len() / 2,
        BINARY_TYPE => value.bytes.len() * 2,
        _ => value.bytes.len().max(24),
    }
}

const NULL_TYPE: u8 = 0x00;
const BINARY_TYPE: u8 = 0x0e;
const FILETIME_TYPE: u8 = 0x11;
const BINXML_TYPE: u8 = 0x21;
const STRING_ARRAY_TYPE: u8 = 0x81;

/// Appends a value as Windows (and the `evtx` crate's XML) renders it. `None` for the kinds left
/// to the XML path: floats, SYSTEMTIME, nested BinXML in text, arrays.
fn push_value_text(text: &mut String, value: RawValue<'_>) -> Option<()> {
    let b = value.bytes;
    match value.kind {
        NULL_TYPE => {}
        // Windows often stores the terminating NUL in the value; the text ends there.
        0x01 => push_utf16_until_nul(text, b)?,
        // ANSI strings: only plain ASCII is safe without a code page.
        0x02 => {
            let s = b.split(|c| *c == 0).next().unwrap_or(&[]);
            if !s.is_ascii() {
                return None;
            }
            text.push_str(std::str::from_utf8(s).ok()?);
        }
        0x03 => push_signed(text, i8::from_le_bytes(b.try_into().ok()?).into()),
        0x04 => push_decimal(text, u8::from_le_bytes(b.try_into().ok()?).into()),
        0x05 => push_signed(text, i16::from_le_bytes(b.try_into().ok()?).into()),
        0x06 => push_decimal(text, u16::from_le_bytes(b.try_into().ok()?).into()),
        0x07 => push_signed(text, i32::from_le_bytes(b.try_into().ok()?).into()),
        0x08 => push_decimal(text, u32::from_le_bytes(b.try_into().ok()?).into()),
        0x09 => push_signed(text, i64::from_le_bytes(b.try_into().ok()?)),
        0x0a => push_decimal(text, le_u64(b)?),
        0x0d => match i32::from_le_bytes(b.try_into().ok()?) {
            0 => text.push_str("false"),
            1 => text.push_str("true"),
            raw => push_signed(text, raw.into()),
        },
        BINARY_TYPE => {
            for byte in b {
                text.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
                text.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
            }
        }
        0x0f => push_guid(text, b.try_into().ok()?),
        // SizeT and the hex integer types render as lowercase 0x-prefixed hex.
        0x10 | 0x14 | 0x15 => {
            let n = match b.len() {
                4 => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
                8 => le_u64(b)?,
                _ => return None,
            };
            write!(text, "0x{n:x}").ok()?;
        }
        FILETIME_TYPE => {
            let time = crate::evtx::filetime_to_utc(le_u64(b)?)?;
            write!(text, "{}", time.format("%Y-%m-%dT%H:%M:%S"))
                .and_then(|_| write!(text, ".{:07}Z", time.timestamp_subsec_nanos() / 100))
                .ok()?;
        }
        0x13 => push_sid(text, b)?,
        _ => return None,
    }
    Some(())
}

/// `{d1-d2-d3-d4[0..2]-d4[2..8]}` with data1-3 little-endian, lowercase.
fn push_guid(text: &mut String, b: &[u8; 16]) {
    let _ = write!(
        text,
        "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}}}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        hex::encode(&b[10..16])
    );
}

/// `S-revision-authority-sub1-...` (authority 48-bit big-endian, sub-authorities little-endian).
fn push_sid(text: &mut String, b: &[u8]) -> Option<()> {
    let [revision, count, a0, a1, a2, a3, a4, a5, subs @ ..] = b else {
        return None;
    };
    let authority = u64::from_be_bytes([0, 0, *a0, *a1, *a2, *a3, *a4, *a5]);
    text.push_str("S-");
    push_decimal(text, u64::from(*revision));
    text.push('-');
    push_decimal(text, authority);
    for sub in subs.chunks_exact(4).take(usize::from(*count)) {
        text.push('-');
        push_decimal(text, u32::from_le_bytes(sub.try_into().ok()?).into());
    }
    Some(())
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_signed(text: &mut String, n: i64) {
    if n < 0 {
        text.push('-');
    }
    push_decimal(text, n.unsigned_abs());
}

/// Appends UTF-16LE text up to its first NUL; `None` for a lone surrogate. Plain ASCII (most
/// event text) is narrowed instead of decoded.
fn push_utf16_until_nul(text: &mut String, bytes: &[u8]) -> Option<()> {
    let (units, ascii) = until_nul(bytes);
    if ascii {
        return push_ascii(text, units);
    }
    text.reserve(units.len() / 2);
    let units = units
        .chunks_exact(2)
        .map(|unit| u16::from_le_bytes([unit[0], unit[1]]));
    for c in char::decode_utf16(units) {
        text.push(c.ok()?);
    }
    Some(())
}

/// All of `bytes` as text (names and template text); `None` for a lone surrogate.
fn utf16(bytes: &[u8]) -> Option<String> {
    let mut text = String::new();
    if until_nul(bytes).0.len() == bytes.len() / 2 * 2 {
        // No NUL inside (the usual case): the ASCII shortcut applies.
        push_utf16_until_nul(&mut text, bytes)?;
        return Some(text);
    }
    let units = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

fn le_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// An open element while the template definition is walked.
struct Frame {
    name: String,
    dependency: Option<u16>,
    /// Index in `fields` of the plan this element's text feeds.
    text_plan: Option<usize>,
}

const NO_DEPENDENCY: u16 = 0xffff;

/// Walks a template definition's tokens into a plan.
struct PlanWalker<'c> {
    cursor: Cursor<'c>,
    chunk: &'c [u8],
    plan: TemplatePlan,
    stack: Vec<Frame>,
    /// The plan receiving an attribute's value pieces, while inside an attribute.
    attribute_plan: Option<usize>,
    /// The name of the definition's outermost element.
    root: Option<String>,
    context: Context,
    /// Offsets of the names read from outside the tokens.
    names_elsewhere: Vec<usize>,
}

impl PlanWalker<'_> {
    fn walk(&mut self) -> Option<()> {
        while self.cursor.remaining() > 0 {
            let token = self.cursor.u8()?;
            match token {
                0x00 => break,
                0x0f => self.cursor.skip(3)?, // fragment header: version and flags
                0x01 | 0x41 => self.open_element(token & 0x40 != 0)?,
                0x02 => self.attribute_plan = None,
                0x03 | 0x04 => {
                    self.attribute_plan = None;
                    self.stack.pop()?;
                }
                0x06 | 0x46 => self.attribute()?,
                0x05 | 0x45 => {
                    let literal = self.value_text()?;
                    self.piece(Piece::Literal(literal))?;
                }
                0x0d | 0x0e => {
                    let index = self.cursor.u16()?;
                    let _value_type = self.cursor.u8()?;
                    self.piece(Piece::Value(index))?;
                }
                // CDATA, character and entity references, processing instructions, template
                // instances inside a definition: left to the XML path.
                _ => return None,
            }
        }
        Some(())
    }

    fn open_element(&mut self, has_attributes: bool) -> Option<()> {
        let dependency = Some(self.cursor.u16()?).filter(|d| *d != NO_DEPENDENCY);
        let _data_size = self.cursor.u32()?;
        let name = self.name()?;
        if has_attributes {
            let _attribute_list_size = self.cursor.u32()?;
        }
        // Paths are matched below the Event element, so a nested EventData or UserData template
        // (whose root is that element) reads like the same part of a whole event.
        let base: &[&str] = match self.context {
            Context::Event => &[],
            Context::UserData => &["UserData"],
        };
        let below_event = self
            .stack
            .iter()
            .map(|f| f.name.as_str())
            .skip_while(|n| *n == "Event");
        // The path's first two elements, and whether it goes deeper, are all the rules need.
        let mut path = base.iter().copied().chain(below_event);
        let (first, second, deeper) = (path.next(), path.next(), path.next().is_some());
        let field = match (first, second, name.as_str()) {
            (None, _, "Event" | "System" | "EventData") => None,
            (Some("System"), None, element) => Some(match element {
                "EventID" => Field::EventId,
                "Level" => Field::Level,
                "Task" => Field::Task,
                "Keywords" => Field::Keywords,
                "Channel" => Field::Channel,
                "Computer" => Field::Computer,
                "EventRecordID" => Field::EventRecordId,
                _ => Field::Ignored,
            }),
            (Some("System"), Some(_), _) if !deeper => Some(Field::Ignored),
            // ComplexData holds a structure's bytes as one leaf value, like a Data element.
            (Some("EventData"), None, "Data" | "ComplexData") => Some(Field::Data),
            (Some("EventData"), None, "Binary") => Some(Field::Binary),
            // UserData holds one wrapper element; every leaf below it is one value, and an
            // element that turns out to have children is no leaf.
            (None, _, "UserData") | (Some("UserData"), None, _) => None,
            (Some("UserData"), Some(_), _) => {
                if deeper {
                    let parent = self.stack.last()?.text_plan?;
                    self.plan.fields.get_mut(parent)?.field = Field::Ignored;
                }
                Some(Field::Data)
            }
            // Elements below Data or ComplexData, and anything else: the XML path knows them.
            _ => return None,
        };
        let text_plan = field.map(|field| self.new_plan(field, dependency));
        if self.root.is_none() {
            self.root = Some(name.clone());
        }
        self.stack.push(Frame {
            name,
            dependency,
            text_plan,
        });
        Some(())
    }

    fn attribute(&mut self) -> Option<()> {
        let name = self.name()?;
        let frame = self.stack.last()?;
        let field = match (frame.name.as_str(), name.as_str()) {
            ("Provider", "Name") => Field::ProviderName,
            ("Provider", "EventSourceName") => Field::EventSourceName,
            ("EventID", "Qualifiers") => Field::Qualifiers,
            ("TimeCreated", "SystemTime") => Field::TimeCreated,
            ("Security", "UserID") => Field::UserId,
            _ => Field::Ignored,
        };
        let dependency = frame.dependency;
        self.attribute_plan = Some(self.new_plan(field, dependency));
        Some(())
    }

    /// A plan for a field, inheriting the dependencies of every open element.
    fn new_plan(&mut self, field: Field, own: Option<u16>) -> usize {
        let dependencies = self
            .stack
            .iter()
            .filter_map(|f| f.dependency)
            .chain(own)
            .collect();
        self.plan.fields.push(FieldPlan {
            field,
            pieces: Vec::new(),
            dependencies,
        });
        self.plan.fields.len() - 1
    }

    fn piece(&mut self, piece: Piece) -> Option<()> {
        let target = match self.attribute_plan {
            Some(plan) => plan,
            None => {
                let frame = self.stack.last()?;
                match (frame.text_plan, &piece) {
                    (Some(plan), _) => plan,
                    // A substitution directly inside Event holds the EventData (or UserData) as
                    // nested BinXML; one directly inside UserData holds its content.
                    (None, Piece::Value(_)) if frame.name == "Event" => {
                        self.new_plan(Field::Nested(Context::Event), None)
                    }
                    (None, Piece::Value(_)) if self.is_top_level_user_data() => {
                        self.new_plan(Field::Nested(Context::UserData), None)
                    }
                    _ => return None,
                }
            }
        };
        self.plan.fields.get_mut(target)?.pieces.push(piece);
        Some(())
    }

    /// True when the innermost open element is the event's UserData.
    fn is_top_level_user_data(&self) -> bool {
        let mut below_event = self.stack.iter().skip_while(|f| f.name == "Event");
        self.context == Context::Event
            && below_event.next().is_some_and(|f| f.name == "UserData")
            && below_event.next().is_none()
    }

    /// A literal value: type byte, then (for strings) a counted UTF-16 string.
    fn value_text(&mut self) -> Option<String> {
        if self.cursor.u8()? != 0x01 {
            return None;
        }
        let chars = usize::from(self.cursor.u16()?);
        utf16(self.cursor.take(chars.checked_mul(2)?)?)
    }

    /// A name reference: a chunk offset, with the name stored inline when it points here.
    fn name(&mut self) -> Option<String> {
        let offset = self.cursor.u32()? as usize;
        let chars = usize::from(read_u16(self.chunk, offset.checked_add(6)?)?);
        let start = offset.checked_add(8)?;
        let name = utf16(self.chunk.get(start..start.checked_add(chars * 2)?)?)?;
        if offset == self.cursor.pos {
            // next offset (4), hash (2), length (2), characters, NUL (2)
            self.cursor.skip(8 + chars * 2 + 2)?;
        } else {
            self.names_elsewhere.push(offset);
        }
        Some(name)
    }
}

/// Bounds-checked little-endian reads.
struct Cursor<'c> {
    bytes: &'c [u8],
    pos: usize,
}

impl<'c> Cursor<'c> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn take(&mut self, n: usize) -> Option<&'c [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names live at the start of the chunk: (offset, text).
    const NAMES: [(usize, &str); 8] = [
        (16, "Event"),
        (48, "System"),
        (80, "Provider"),
        (112, "Name"),
        (144, "EventID"),
        (176, "EventData"),
        (208, "Data"),
        (240, "ComplexData"),
    ];
    const DEFINITION: usize = 512;

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn open(bytes: &mut Vec<u8>, token: u8, name: usize) {
        bytes.push(token);
        bytes.extend_from_slice(&0xffffu16.to_le_bytes()); // no dependency
        bytes.extend_from_slice(&0u32.to_le_bytes()); // data size (unused)
        bytes.extend_from_slice(&(NAMES[name].0 as u32).to_le_bytes());
        if token == 0x41 {
            bytes.extend_from_slice(&0u32.to_le_bytes()); // attribute list size (unused)
        }
    }

    fn literal(bytes: &mut Vec<u8>, text: &str) {
        bytes.extend_from_slice(&[0x05, 0x01]);
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&utf16(text));
    }

    /// `<Event><System><Provider Name="P"/><EventID>7</EventID></System>` then `repeats`
    /// substitutions of value 0 (nested BinXML) directly in Event.
    fn definition(repeats: usize) -> Vec<u8> {
        let mut tokens = system();
        for _ in 0..repeats {
            tokens.extend_from_slice(&[0x0e, 0, 0, BINXML_TYPE]);
        }
        tokens.extend_from_slice(&[0x04, 0x00]);
        tokens
    }

    /// The same System part, then `<EventData><Data>` holding `repeats` substitutions of
    /// value 0 (a string).
    fn data_definition(repeats: usize) -> Vec<u8> {
        leaf_definition(6, repeats, 0x01)
    }

    /// The same System part, then `<EventData><NAMES[leaf]>` holding `repeats` substitutions of
    /// value 0 (of type `kind`).
    fn leaf_definition(leaf: usize, repeats: usize, kind: u8) -> Vec<u8> {
        let mut tokens = system();
        open(&mut tokens, 0x01, 5);
        tokens.push(0x02);
        open(&mut tokens, 0x01, leaf);
        tokens.push(0x02);
        for _ in 0..repeats {
            tokens.extend_from_slice(&[0x0e, 0, 0, kind]);
        }
        tokens.extend_from_slice(&[0x04, 0x04, 0x04, 0x00]);
        tokens
    }

    fn system() -> Vec<u8> {
        let mut tokens = Vec::new();
        open(&mut tokens, 0x01, 0);
        tokens.push(0x02);
        open(&mut tokens, 0x01, 1);
        tokens.push(0x02);
        open(&mut tokens, 0x41, 2);
        tokens.push(0x06);
        tokens.extend_from_slice(&(NAMES[3].0 as u32).to_le_bytes());
        literal(&mut tokens, "P");
        tokens.push(0x03);
        open(&mut tokens, 0x01, 4);
        tokens.push(0x02);
        literal(&mut tokens, "7");
        tokens.push(0x04);
        tokens.push(0x04);
        tokens
    }

    /// An instance of the definition with one value (`kind`, `value`); the definition is
    /// stored inline when the instance sits where it says the definition is.
    fn instance(at: usize, definition: &[u8], kind: u8, value: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x0c, 0x01, 0, 0, 0, 0];
        bytes.extend_from_slice(&(DEFINITION as u32).to_le_bytes());
        if at + bytes.len() == DEFINITION {
            bytes.extend_from_slice(&[0; 20]); // next definition offset, GUID
            bytes.extend_from_slice(&(definition.len() as u32).to_le_bytes());
            bytes.extend_from_slice(definition);
        }
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&(value.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&[kind, 0]);
        bytes.extend_from_slice(value);
        bytes
    }

    /// The chunk up to the record: the names.
    fn chunk_start() -> Vec<u8> {
        let mut chunk = vec![0u8; DEFINITION - 10];
        for (at, name) in NAMES {
            chunk[at + 6..at + 8].copy_from_slice(&(name.len() as u16).to_le_bytes());
            chunk[at + 8..at + 8 + name.len() * 2].copy_from_slice(&utf16(name));
        }
        chunk
    }

    /// A chunk whose record nests the same template `levels` deep, the innermost value NULL;
    /// returns the chunk and where the record's BinXML starts and ends.
    fn chunk(repeats: usize, levels: usize) -> (Vec<u8>, usize, usize) {
        let mut chunk = chunk_start();
        let definition = definition(repeats);
        // Nested instances never hold the definition, so their bytes do not depend on where
        // they end up: build them innermost first.
        let mut nested = instance(0, &definition, NULL_TYPE, &[]);
        for _ in 1..levels {
            nested = instance(0, &definition, BINXML_TYPE, &nested);
        }
        let start = chunk.len();
        chunk.extend(instance(start, &definition, BINXML_TYPE, &nested));
        let end = chunk.len();
        (chunk, start, end - start)
    }

    /// A record read with caches of its own, as the first record of a chunk is.
    fn fresh_record_event(bytes: &[u8], start: usize, len: usize) -> Option<Event> {
        record_event(
            bytes,
            start,
            len,
            &mut PlanCache::default(),
            &mut ValueLists::default(),
        )
    }

    #[test]
    fn nested_template_reads_on_the_fast_path() {
        let (bytes, start, len) = chunk(2, 4);
        let event = fresh_record_event(&bytes, start, len).unwrap();
        assert_eq!((event.source.as_str(), event.event_id), ("P", 7));
    }

    /// A later chunk reuses a plan only when its definition and the names the definition
    /// refers to are the same: here the same bytes name `EventIX` instead of `EventID`, so
    /// the record has no event ID and goes to the XML path.
    #[test]
    fn plans_carry_over_to_chunks_with_the_same_definition_and_names() {
        let (same, start, len) = chunk(2, 2);
        let mut renamed = same.clone();
        let last_char = NAMES[4].0 + 8 + 2 * 6;
        renamed[last_char] = b'X';
        let mut plans = PlanCache::default();
        for (bytes, read) in [(&same, true), (&renamed, false), (&same, true)] {
            plans.start_chunk();
            let event = record_event(bytes, start, len, &mut plans, &mut ValueLists::default());
            assert_eq!(event.map(|e| e.event_id), read.then_some(7));
        }
        // The original chunk's plan (its nested instances use the same definition) was kept
        // and found again; the renamed chunk's, which the fast path cannot use, was not kept.
        let kept: usize = plans.earlier.by_offset.values().map(Vec::len).sum();
        assert_eq!(kept, 1);
    }

    /// 200 nested substitutions at each of four levels used to mean 1.6 billion field
    /// applications for one record; the record now goes to the XML path at once.
    #[test]
    fn repeated_nested_substitutions_stop_at_the_work_limit() {
        let (bytes, start, len) = chunk(200, 4);
        assert!(fresh_record_event(&bytes, start, len).is_none());
        // 8 repeats (4,681 instances of 10 fields) stay well below the limit and are read.
        let (bytes, start, len) = chunk(8, 4);
        assert!(fresh_record_event(&bytes, start, len).is_some());
    }

    /// The ASCII shortcut and the general decoder give what `decode_utf16` gives, up to the
    /// first NUL, on ASCII, non-ASCII, surrogate pairs and text past the 64-unit buffer.
    #[test]
    fn utf16_text_decodes_like_the_standard_library() {
        let long = "a".repeat(64) + "bc" + &"d".repeat(130);
        for text in [
            "",
            "System",
            "Schlüssel ✓",
            "emoji 😀 pair",
            &long,
            &(long.clone() + "é"),
        ] {
            let mut bytes = utf16(text);
            let mut decoded = String::new();
            push_utf16_until_nul(&mut decoded, &bytes).unwrap();
            assert_eq!(decoded, text);
            // A NUL ends the text; an odd trailing byte is no unit.
            bytes.extend_from_slice(&[0, 0, b'x', 0, 7]);
            let mut decoded = String::from(">");
            push_utf16_until_nul(&mut decoded, &bytes).unwrap();
            assert_eq!(decoded, format!(">{text}"));
        }
        // A NUL at every place of the words and the tail.
        for at in 0..13 {
            let mut bytes = utf16("abcdéfghijkl");
            bytes.splice(at * 2..at * 2, [0, 0]);
            let mut decoded = String::new();
            push_utf16_until_nul(&mut decoded, &bytes).unwrap();
            assert_eq!(decoded, "abcdéfghijkl".chars().take(at).collect::<String>());
        }
        // A lone surrogate, high or low, sends the value to the XML path.
        for lone in [[0x3d, 0xd8], [0x00, 0xde]] {
            let mut bytes = utf16("ab");
            bytes.extend_from_slice(&lone);
            assert!(push_utf16_until_nul(&mut String::new(), &bytes).is_none());
        }
    }

    /// Numbers, SIDs and binary written without the formatter read as the formatter writes them.
    #[test]
    fn values_render_like_the_formatter() {
        let render = |kind, bytes: &[u8]| {
            let mut text = String::new();
            push_value_text(&mut text, RawValue { kind, bytes }).unwrap();
            text
        };
        assert_eq!(render(0x03, &[0x80]), "-128");
        assert_eq!(render(0x05, &(-2i16).to_le_bytes()), "-2");
        assert_eq!(render(0x07, &i32::MIN.to_le_bytes()), i32::MIN.to_string());
        assert_eq!(render(0x09, &i64::MIN.to_le_bytes()), i64::MIN.to_string());
        assert_eq!(render(0x04, &[0]), "0");
        assert_eq!(render(0x06, &u16::MAX.to_le_bytes()), "65535");
        assert_eq!(render(0x0a, &u64::MAX.to_le_bytes()), u64::MAX.to_string());
        assert_eq!(render(0x0d, &7i32.to_le_bytes()), "7");
        assert_eq!(render(BINARY_TYPE, &[0x00, 0x9f, 0xff]), "009FFF");
        let sid = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0];
        assert_eq!(render(0x13, &sid), "S-1-5-32-544");
    }

    /// Text is trimmed of any white space, ASCII or not; visible ASCII ends skip the trim.
    #[test]
    fn fields_are_trimmed_and_empty_ones_dropped() {
        for (text, want) in [
            ("System", Some("System")),
            (" System\r\n", Some("System")),
            ("\u{a0}WIN-7\u{3000}", Some("WIN-7")),
            ("Ärger", Some("Ärger")),
            (" \t", None),
            ("", None),
        ] {
            assert_eq!(non_empty(text.to_owned()).as_deref(), want, "{text:?}");
        }
    }

    /// ComplexData (a structure's bytes) is one leaf value, rendered like binary text.
    #[test]
    fn complex_data_is_one_string() {
        let mut chunk = chunk_start();
        let start = chunk.len();
        let definition = leaf_definition(7, 1, BINARY_TYPE);
        chunk.extend(instance(start, &definition, BINARY_TYPE, &[0x01, 0xab]));
        let len = chunk.len() - start;
        let event = fresh_record_event(&chunk, start, len).unwrap();
        assert_eq!(event.strings, ["01AB"]);
    }

    /// One Data element repeating a 15,000-character string 80 times: the text was sized at
    /// once from the repeats (a 64 KiB value repeated 16,000 times would ask for half a
    /// gigabyte).
    #[test]
    fn data_text_sized_past_the_work_limit_goes_to_the_xml_path() {
        let read = |repeats| {
            let mut chunk = chunk_start();
            let start = chunk.len();
            let value = utf16(&"x".repeat(15000));
            chunk.extend(instance(start, &data_definition(repeats), 0x01, &value));
            let len = chunk.len() - start;
            fresh_record_event(&chunk, start, len)
        };
        assert!(read(80).is_none());
        let event = read(2).unwrap();
        assert_eq!(event.strings, vec!["x".repeat(30000)]);
    }
}
