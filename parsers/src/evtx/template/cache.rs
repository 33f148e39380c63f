//! Plans by definition: those of the chunk being read and those of earlier chunks.

use super::plan::TemplatePlan;
use super::Context;
use crate::le::{le_u16, le_u32};
use std::collections::HashMap;
use std::sync::Arc;

/// Template plans: those of the chunk being read, by definition offset and context (`None`:
/// not for the fast path), and those of the chunks read before it. A chunk holds a few dozen
/// templates at most, so a list beats hashing.
#[derive(Default)]
pub struct PlanCache {
    chunk: Vec<(u32, Context, Option<Arc<TemplatePlan>>)>,
    pub(super) earlier: EarlierPlans,
}

impl PlanCache {
    /// Forgets the plans' offsets: offsets are chunk-relative. Plans of earlier chunks stay
    /// for definitions that turn out the same.
    pub fn start_chunk(&mut self) {
        self.chunk.clear();
    }

    pub(super) fn plan(
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
pub(super) struct EarlierPlans {
    pub(super) by_offset: HashMap<(usize, Context), Vec<KnownPlan>>,
    /// Definition and name bytes kept, against [`MAX_EARLIER_BYTES`].
    held: usize,
}

/// Definition bytes kept at most: real logs hold a few KiB of templates; a crafted one cannot
/// make a worker hold (or compare against) more than this, and past it the cache starts again.
const MAX_EARLIER_BYTES: usize = 4 << 20;

/// A plan and everything its building read from the chunk.
pub(super) struct KnownPlan {
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
    let size = le_u32(chunk, offset.checked_add(20)?)? as usize;
    let start = offset.checked_add(DEFINITION_HEADER)?;
    let end = start.checked_add(size)?.min(chunk.len());
    chunk.get(start..end)
}

/// The stored bytes of the name at `offset`: its length and characters.
fn stored_name(chunk: &[u8], offset: usize) -> Option<&[u8]> {
    let chars = usize::from(le_u16(chunk, offset.checked_add(6)?)?);
    chunk.get(offset.checked_add(6)?..offset.checked_add(8 + chars * 2)?)
}
