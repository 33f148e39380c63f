//! Plans (which substitution feeds which [`Event`] field) and their application to a record's
//! values.

use super::cache::PlanCache;
use super::format::{push_utf16_until_nul, push_value_text};
use super::instance::{Instance, RawValue};
use super::{Collected, Context, MAX_NESTING, MAX_WORK};
use crate::event::{Event, Level};
use crate::evtx::binxml::value_type;
use crate::filetime;

/// The Event field a piece of template text or an attribute value feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
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
pub(super) enum Piece {
    Literal(String),
    Value(u16),
}

/// A field and where its text comes from.
#[derive(Debug, Clone)]
pub(super) struct FieldPlan {
    pub(super) field: Field,
    pub(super) pieces: Vec<Piece>,
    /// Substitutions whose NULL value leaves this field's element out of the record.
    pub(super) dependencies: Vec<u16>,
}

/// Which substitution feeds which field, for one template definition.
#[derive(Debug, Clone, Default)]
pub struct TemplatePlan {
    pub(super) fields: Vec<FieldPlan>,
    /// One more than the highest substitution index the fields refer to.
    pub(super) values_needed: usize,
}

impl TemplatePlan {
    pub(super) fn apply<'c>(
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
                    .is_none_or(|v| v.kind == value_type::NULL)
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
                        value_type::NULL => {}
                        value_type::BINXML if depth < MAX_NESTING => {
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
                                    value_type::BINARY => {
                                        state.spend(value.bytes.len())?;
                                        state.binary.extend_from_slice(value.bytes)
                                    }
                                    value_type::NULL => {}
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
                        value_type::FILETIME => {
                            filetime::to_utc(u64::from_le_bytes(value.bytes.try_into().ok()?))
                        }
                        value_type::NULL => None,
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
        value_type::UINT8 => Some(u64::from(*b.first()?)).filter(|_| b.len() == 1),
        value_type::UINT16 => Some(u64::from(u16::from_le_bytes(b.try_into().ok()?))),
        value_type::UINT32 => Some(u64::from(u32::from_le_bytes(b.try_into().ok()?))),
        value_type::UINT64 | value_type::HEX_INT64 => b.try_into().ok().map(u64::from_le_bytes),
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
    (value.kind == value_type::STRING_ARRAY).then_some(value.bytes)
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
pub(super) fn non_empty(text: String) -> Option<String> {
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
        value_type::STRING => value.bytes.len() / 2,
        value_type::BINARY => value.bytes.len() * 2,
        _ => value.bytes.len().max(24),
    }
}
