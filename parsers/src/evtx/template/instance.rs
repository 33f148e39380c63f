//! A record's template instance: which definition, and its raw substitution values.

use super::cache::PlanCache;
use super::cursor::Cursor;
use super::{Collected, Context};
use crate::event::Event;
use crate::evtx::binxml::token;

/// One substitution value, still raw.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawValue<'c> {
    pub(super) kind: u8,
    pub(super) bytes: &'c [u8],
}

/// A template instance: which definition, and its values.
pub(super) struct Instance<'c> {
    definition: u32,
    pub(super) values: Vec<RawValue<'c>>,
}

impl<'c> Instance<'c> {
    /// Reads `[fragment header] TemplateInstance` at `pos`, into `values` (empty).
    pub(super) fn read(
        chunk: &'c [u8],
        pos: usize,
        end: usize,
        mut values: Vec<RawValue<'c>>,
    ) -> Option<Instance<'c>> {
        let mut cursor = Cursor {
            bytes: chunk.get(..end)?,
            pos,
        };
        if cursor.peek()? == token::FRAGMENT_HEADER {
            cursor.skip(4)?; // token, major and minor version, flags
        }
        if cursor.u8()? != token::TEMPLATE_INSTANCE {
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
    pub(super) fn apply(
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
