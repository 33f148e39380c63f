//! Walking a template definition's tokens into a [`TemplatePlan`].

use super::cursor::Cursor;
use super::format::utf16;
use super::plan::{Field, FieldPlan, Piece, TemplatePlan};
use super::Context;
use crate::evtx::binxml::{token, value_type};
use crate::le::le_u16;

impl TemplatePlan {
    /// The plan of the BinXML tokens in `chunk[start..end]`, and the offsets of the names it
    /// read from elsewhere in the chunk. `None` when the tokens hold anything the fast path
    /// does not handle.
    pub(super) fn walk(
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
}

/// An open element while the template definition is walked.
struct Frame {
    name: String,
    dependency: Option<u16>,
    /// Index in `fields` of the plan this element's text feeds.
    text_plan: Option<usize>,
}

/// Tokens with the "more" flag set: an element that has attributes, an attribute another one
/// follows, a value more content follows.
const OPEN_START_ELEMENT_WITH_ATTRIBUTES: u8 = token::OPEN_START_ELEMENT | token::HAS_MORE;
const MORE_ATTRIBUTES: u8 = token::ATTRIBUTE | token::HAS_MORE;
const VALUE_WITH_MORE: u8 = token::VALUE | token::HAS_MORE;

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
            match self.cursor.u8()? {
                token::END_OF_FRAGMENT => break,
                token::FRAGMENT_HEADER => self.cursor.skip(3)?, // version and flags
                token::OPEN_START_ELEMENT => self.open_element(false)?,
                OPEN_START_ELEMENT_WITH_ATTRIBUTES => self.open_element(true)?,
                token::CLOSE_START_ELEMENT => self.attribute_plan = None,
                token::CLOSE_EMPTY_ELEMENT | token::END_ELEMENT => {
                    self.attribute_plan = None;
                    self.stack.pop()?;
                }
                token::ATTRIBUTE | MORE_ATTRIBUTES => self.attribute()?,
                token::VALUE | VALUE_WITH_MORE => {
                    let literal = self.value_text()?;
                    self.piece(Piece::Literal(literal))?;
                }
                token::NORMAL_SUBSTITUTION | token::OPTIONAL_SUBSTITUTION => {
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
        let dependency = Some(self.cursor.u16()?).filter(|d| *d != token::NO_DEPENDENCY);
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
        if self.cursor.u8()? != value_type::STRING {
            return None;
        }
        let chars = usize::from(self.cursor.u16()?);
        utf16(self.cursor.take(chars.checked_mul(2)?)?)
    }

    /// A name reference: a chunk offset, with the name stored inline when it points here.
    fn name(&mut self) -> Option<String> {
        let offset = self.cursor.u32()? as usize;
        let chars = usize::from(le_u16(self.chunk, offset.checked_add(6)?)?);
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
