//! Event text (pasted properties with data dumps, tab/CSV exports, XML) on arbitrary bytes.
#![no_main]

use evtdoctor_parsers::text::{read_text, TextOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_text(data, TextOptions::default());
});
