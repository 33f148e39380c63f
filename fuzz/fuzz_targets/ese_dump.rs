//! `db dump` on arbitrary bytes: the catalog, then every table's rows with long values,
//! compressed values and defaults, as text.
#![no_main]

use evtdoctor_parsers::ese::catalog::TableReader;
use evtdoctor_parsers::ese::{Catalog, Database};
use libfuzzer_sys::fuzz_target;
use std::ops::ControlFlow;

fuzz_target!(|data: &[u8]| {
    let data = evtdoctor_fuzz::sealed(data);
    let Ok(db) = Database::open(data.into_owned()) else {
        return;
    };
    let (catalog, _problems) = Catalog::read(&db);
    for table in &catalog.tables {
        TableReader::new(&db, table).for_each(|row| {
            if let Ok(values) = row {
                let _: Vec<String> = values.iter().map(|v| v.display()).collect();
            }
            ControlFlow::Continue(())
        });
    }
});
