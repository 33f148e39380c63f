//! .evtx reader with via_templates = false: chunks, BinXML and the conversion to events.
#![no_main]

use evtdoctor_parsers::evtx::{read_evtx, EvtxOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = EvtxOptions {
        threads: 1,
        recover: true,
        via_templates: false,
    };
    let _ = read_evtx(data, options, |_| {});
});
