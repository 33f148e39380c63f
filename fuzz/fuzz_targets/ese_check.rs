//! `db check` on arbitrary bytes: every page checksum, every catalog tree, space and leaks.
#![no_main]

use evtdoctor_parsers::ese::{check, Database};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = evtdoctor_fuzz::sealed(data);
    if let Ok(db) = Database::open(data.into_owned()) {
        check::check(&db, |finding| drop(finding.problem.to_string()), |_| {});
    }
});
