//! The fast template path of the .evtx reader gives exactly the events of the XML reference path,
//! on every record of every corpus file (carved ones included).

use crate::common;
use common::Need;

use common::evtx_corpus_files;
use evtdoctor_parsers::evtx::{read_evtx_all, EvtxOptions};
use evtdoctor_parsers::Event;

/// The XML path writes control characters XML cannot hold as `_`; the fast path keeps them.
fn xml_safe(mut event: Event) -> Event {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c < ' ' && !"\t\n\r".contains(c) {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    };
    event.strings = event.strings.iter().map(|s| clean(s)).collect();
    event
}

#[test]
fn fast_path_equals_xml_path_on_every_corpus_record() {
    common::needs!(Need::Corpus);
    let mut compared = 0;
    for path in evtx_corpus_files() {
        let bytes = std::fs::read(&path).unwrap();
        let read = |via_templates| {
            let options = EvtxOptions {
                threads: 1,
                recover: true,
                via_templates,
            };
            read_evtx_all(&bytes, options).unwrap()
        };
        let (fast, fast_problems) = read(true);
        let (reference, reference_problems) = read(false);
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(fast.len(), reference.len(), "{name}: record count");
        assert_eq!(
            fast_problems.len(),
            reference_problems.len(),
            "{name}: problems"
        );
        for (f, r) in fast.into_iter().zip(reference) {
            assert_eq!(xml_safe(f), r, "{name}");
            compared += 1;
        }
    }
    assert!(compared > 7600, "{compared}");
}
