use super::format::{push_utf16_until_nul, push_value_text};
use super::plan::non_empty;
use super::*;
use crate::evtx::binxml::value_type;

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
        tokens.extend_from_slice(&[0x0e, 0, 0, value_type::BINXML]);
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
    let mut nested = instance(0, &definition, value_type::NULL, &[]);
    for _ in 1..levels {
        nested = instance(0, &definition, value_type::BINXML, &nested);
    }
    let start = chunk.len();
    chunk.extend(instance(start, &definition, value_type::BINXML, &nested));
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
    assert_eq!(render(value_type::BINARY, &[0x00, 0x9f, 0xff]), "009FFF");
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
    let definition = leaf_definition(7, 1, value_type::BINARY);
    chunk.extend(instance(
        start,
        &definition,
        value_type::BINARY,
        &[0x01, 0xab],
    ));
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
