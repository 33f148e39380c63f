//! One ESE page on arbitrary bytes: header, tags, nodes and keys, the space header, and the
//! checksum verification (with ECC bit location).
#![no_main]

use evtdoctor_parsers::ese::checksum::verify_page;
use evtdoctor_parsers::ese::page::Page;
use evtdoctor_parsers::ese::space::SpaceHeader;
use libfuzzer_sys::fuzz_target;

/// The page number the page is read as (it is part of its checksum).
const PAGE_NUMBER: u32 = 5;

fuzz_target!(|data: &[u8]| {
    let _ = verify_page(data, PAGE_NUMBER);
    let Ok(page) = Page::parse(PAGE_NUMBER, data.to_vec()) else {
        return;
    };
    let _ = page.header.flag_names();
    let prefix = page.external_header();
    let _ = SpaceHeader::parse(prefix);
    for index in 0..page.tag_count() + 1 {
        if let Ok(node) = page.node(index) {
            let _ = (node.key(prefix), node.is_deleted());
        }
    }
});
