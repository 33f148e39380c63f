//! Legacy .evt reader: live walk, wrap-around and slack carving on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = evtdoctor_parsers::evt::read_evt(data, true, |_| {});
});
