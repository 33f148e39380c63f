//! BinXML tokens written into a chunk: elements, attributes, literal text, substitutions and
//! names (through the chunk's common-string table).

use super::chunk::Chunk;
use super::values::{utf16le, ValueType};
use evtdoctor_parsers::evtx::binxml::token;

/// What goes in an attribute value or element content: literal text or a substitution slot.
#[derive(Debug, Clone, Copy)]
pub(super) enum Piece {
    Text(&'static str),
    /// Slot `index` of type `kind`; an optional slot may hold null, and readers then drop the
    /// attribute or element it fills.
    Slot {
        index: u16,
        kind: ValueType,
        optional: bool,
    },
}

/// An element whose start tag is open: where its size fields wait to be patched.
pub(super) struct OpenElement {
    size_at: u32,
}

/// Writes BinXML into a chunk.
pub(super) struct BinXml<'c> {
    pub chunk: &'c mut Chunk,
}

impl BinXml<'_> {
    /// Fragment header: BinXML version 1.1, no flags.
    pub fn fragment_header(&mut self) {
        self.chunk.push(&[token::FRAGMENT_HEADER, 1, 1, 0]);
    }

    pub fn end_of_fragment(&mut self) {
        self.chunk.push(&[token::END_OF_FRAGMENT]);
    }

    /// `<name` with an optional single attribute. `dependency` names the optional slot the
    /// element exists for, as Windows marks it.
    pub fn open(
        &mut self,
        name: &str,
        attribute: Option<(&str, Piece)>,
        dependency: Option<u16>,
    ) -> OpenElement {
        let token = if attribute.is_some() {
            token::OPEN_START_ELEMENT | token::HAS_MORE
        } else {
            token::OPEN_START_ELEMENT
        };
        self.chunk.push(&[token]);
        self.chunk
            .push(&dependency.unwrap_or(token::NO_DEPENDENCY).to_le_bytes());
        let size_at = self.placeholder();
        self.name(name);
        if let Some((attribute_name, value)) = attribute {
            let attributes_size_at = self.placeholder();
            self.chunk.push(&[token::ATTRIBUTE]);
            self.name(attribute_name);
            self.piece(value);
            self.patch_size_since(attributes_size_at);
        }
        OpenElement { size_at }
    }

    /// `/>`: an element with no content.
    pub fn close_empty(&mut self, element: OpenElement) {
        self.chunk.push(&[token::CLOSE_EMPTY_ELEMENT]);
        self.patch_size_since(element.size_at);
    }

    /// `>`: content follows, then [`BinXml::end`].
    pub fn close_start(&mut self, _element: &OpenElement) {
        self.chunk.push(&[token::CLOSE_START_ELEMENT]);
    }

    /// `</name>`.
    pub fn end(&mut self, element: OpenElement) {
        self.chunk.push(&[token::END_ELEMENT]);
        self.patch_size_since(element.size_at);
    }

    /// `<name>piece</name>`, the element depending on the slot when the slot is optional.
    pub fn leaf(&mut self, name: &str, content: Piece) {
        let dependency = match content {
            Piece::Slot {
                index,
                optional: true,
                ..
            } => Some(index),
            _ => None,
        };
        let element = self.open(name, None, dependency);
        self.close_start(&element);
        self.piece(content);
        self.end(element);
    }

    pub fn piece(&mut self, piece: Piece) {
        match piece {
            Piece::Text(text) => {
                let units = utf16le(text);
                // Template literals are short constants.
                let count = (units.len() / 2) as u16;
                self.chunk.push(&[token::VALUE, ValueType::String as u8]);
                self.chunk.push(&count.to_le_bytes());
                self.chunk.push(&units);
            }
            Piece::Slot {
                index,
                kind,
                optional,
            } => {
                let token = if optional {
                    token::OPTIONAL_SUBSTITUTION
                } else {
                    token::NORMAL_SUBSTITUTION
                };
                self.chunk.push(&[token]);
                self.chunk.push(&index.to_le_bytes());
                self.chunk.push(&[kind as u8]);
            }
        }
    }

    /// A name reference: the offset of the name node, which is written right here the first
    /// time the chunk uses the name.
    fn name(&mut self, name: &str) {
        if let Some(offset) = self.chunk.name_offset(name) {
            self.chunk.push_u32(offset);
            return;
        }
        let node = self.chunk.position() + 4;
        self.chunk.push_u32(node);
        let hash = name_hash(name);
        let link = self.chunk.add_name(name, hash, node);
        let units = utf16le(name);
        self.chunk.push_u32(link);
        self.chunk.push(&hash.to_le_bytes());
        // Element and attribute names are short constants.
        self.chunk.push(&((units.len() / 2) as u16).to_le_bytes());
        self.chunk.push(&units);
        self.chunk.push(&[0, 0]);
    }

    /// A u32 to be filled with the byte count written after it.
    pub fn placeholder(&mut self) -> u32 {
        let at = self.chunk.position();
        self.chunk.push_u32(0);
        at
    }

    pub fn patch_size_since(&mut self, at: u32) {
        let size = self.chunk.position() - at - 4;
        self.chunk.patch_u32(at, size);
    }
}

/// The common-string hash: h = h * 65599 + code unit over the UTF-16 name, low 16 bits kept.
fn name_hash(name: &str) -> u16 {
    let hash = name.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(65599).wrapping_add(u32::from(unit))
    });
    hash as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_hash_matches_the_tables_windows_writes() {
        // Hashes read from the string table of a Windows-written chunk in the corpus.
        assert_eq!(name_hash("Event"), 3258);
        assert_eq!(name_hash("System"), 21615);
        assert_eq!(name_hash("SystemTime"), 31548);
        assert_eq!(name_hash("EventRecordID"), 838);
    }
}
