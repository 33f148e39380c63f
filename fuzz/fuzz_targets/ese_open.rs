//! ESE database open on arbitrary bytes: header decode (primary, shadow fallback) and the
//! header fields as `db header` prints them.
#![no_main]

use evtdoctor_parsers::ese::{Database, FileHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = FileHeader::parse(data) {
        let _ = header.eseutil_fields();
    }
    let data = evtdoctor_fuzz::sealed(data);
    if let Ok(db) = Database::open(data.into_owned()) {
        let _ = db.header.eseutil_fields();
        let _ = db.page_count();
    }
});
