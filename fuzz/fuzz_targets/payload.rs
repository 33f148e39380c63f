//! Event binary data (payload strings, builds, file@line markers) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = evtdoctor_parsers::payload::decode_payload(data);
});
