//! Event XML (wevtutil / evtx_dump output) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = evtdoctor_parsers::event_xml::parse_events(data);
});
