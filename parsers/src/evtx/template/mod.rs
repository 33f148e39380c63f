//! The fast path for classic-shaped records. A record's BinXML is a template instance: a
//! reference to a template definition plus typed substitution values. Each definition is read
//! once into a [`plan::TemplatePlan`] that says which value feeds which [`Event`] field (later chunks
//! holding the same definition reuse it), and records are then built straight from their
//! values, with no XML rendered or parsed. (Format: MS-EVEN6 BinXML, read here from the chunk
//! bytes.)
//!
//! Anything a plan does not cover (UserData, arrays, floats, unusual tokens) gives `None`, and
//! the caller renders that record through XML instead; a test holds both paths equal.
//!
//! Layers, each in its own module: [`cache`] keeps the plans, [`instance`] reads a record's
//! template instance, [`walker`] turns a definition into a plan, [`plan`] applies a plan to the
//! values, [`format`] writes values as text, [`cursor`] reads the bytes.

mod cache;
mod cursor;
mod format;
mod instance;
mod plan;
mod walker;

use crate::event::{Event, Level};
use instance::{Instance, RawValue};

pub use cache::PlanCache;

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

#[cfg(test)]
mod tests;
