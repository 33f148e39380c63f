//! Inputs built to make a reader do too much work: each must read in time linear in its size
//! (before the fix these took minutes to hours), with every whole record still found.

use evtdoctor_parsers::evt::{read_evt_all, Cursor, FileHeader, HeaderFlags, CURSOR_SIZE};

const RING: usize = 16 << 20;

fn word(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// A clean 16 MiB log whose live range runs from `begin` to the cursor at `cursor`.
fn log(begin: usize, cursor: usize) -> Vec<u8> {
    let len = 0x30 + RING;
    let mut bytes = vec![0u8; len];
    let state = Cursor {
        begin_offset: begin as u32,
        end_offset: cursor as u32,
        next_record_number: 2,
        oldest_record_number: 1,
    };
    let header = FileHeader {
        major_version: 1,
        minor_version: 1,
        start_offset: begin as u32,
        end_offset: cursor as u32,
        next_record_number: 2,
        oldest_record_number: 1,
        max_size: len as u32,
        flags: HeaderFlags(0),
        retention: 0,
    };
    bytes[..0x30].copy_from_slice(&header.to_bytes());
    bytes[cursor..cursor + CURSOR_SIZE as usize].copy_from_slice(&state.to_bytes());
    bytes
}

/// Slack (everything after the cursor, round the wrap point) packed with record headers each
/// claiming to reach past the wrap point, none whole: carving used to copy each one.
#[test]
fn slack_full_of_straddling_record_candidates() {
    let middle = 0x30 + RING / 2;
    let mut bytes = log(middle, middle);
    let from = middle + CURSOR_SIZE as usize;
    let slack = RING - CURSOR_SIZE as usize;
    for at in (from..bytes.len() - 8).step_by(8) {
        let room = slack - (at - from);
        word(&mut bytes, at, ((room - 8) & !3) as u32);
        bytes[at + 4..at + 8].copy_from_slice(b"LfLe");
    }
    let (events, problems) = read_evt_all(&bytes, true).unwrap();
    assert_eq!((events.len(), problems.len()), (0, 0));
}

/// A live range that wraps, made of torn records (closing size wrong) each claiming the rest of
/// the log, each followed at once by a whole minimal record: the torn ones used to be copied
/// whole. Each torn record now ends where the next whole one starts.
#[test]
fn torn_records_claiming_the_rest_of_a_wrapped_log() {
    const WHOLE: usize = 0x40;
    let start = 0x30 + RING / 2;
    let cursor = 0x30 + RING / 2 - 0x1000;
    let mut bytes = log(start, cursor);
    let live = RING - 0x1000;
    let mut pairs = 0;
    let mut at = start;
    while at + 8 + WHOLE <= bytes.len() {
        let left = live - (at - start);
        word(&mut bytes, at, ((left - 8) & !3) as u32);
        bytes[at + 4..at + 8].copy_from_slice(b"LfLe");
        let whole = at + 8;
        word(&mut bytes, whole, WHOLE as u32);
        bytes[whole + 4..whole + 8].copy_from_slice(b"LfLe");
        word(&mut bytes, whole + 8, 1000 + pairs);
        word(&mut bytes, whole + WHOLE - 4, WHOLE as u32);
        pairs += 1;
        at += 8 + WHOLE;
    }
    let (events, problems) = read_evt_all(&bytes, false).unwrap();
    let whole: Vec<u64> = events
        .iter()
        .filter_map(|e| e.record_number)
        .filter(|&n| n >= 1000)
        .collect();
    assert_eq!(whole.len() as u32, pairs);
    assert!(whole.windows(2).all(|w| w[1] == w[0] + 1));
    let torn = problems
        .iter()
        .filter(|p| p.message.contains("torn?") && p.message.contains("next record 8 bytes on"))
        .count();
    assert_eq!(torn as u32, pairs);
}
