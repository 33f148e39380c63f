//! What the analysis says of the UTC offsets it inferred for text exports.

use crate::correlate::ExportOffset;
use crate::report::InputSummary;
use chrono::FixedOffset;
use evtdoctor_parsers::text::TimeBasis;

/// Says on stderr what the shared events told of each export's offset, and marks the
/// inputs whose times were read at the inferred one; a `--tz` (`given`) they contradict
/// gets a warning.
pub(super) fn report_export_offsets(
    found: &[ExportOffset],
    given: Option<FixedOffset>,
    inputs: &mut [InputSummary],
) {
    for export in found {
        let Some(offset) = export.offset(given.filter(|_| !export.applied)) else {
            continue;
        };
        let (file, matches) = (&export.file, export.matches);
        if !export.applied {
            let given = given.map(|g| g.to_string()).unwrap_or_default();
            eprintln!(
                "evtdoctor: warning: {file}: --tz {given} kept, but the {matches} event(s) it \
                 shares with binary logs put its times at {offset}"
            );
            continue;
        }
        crate::note!(
            "evtdoctor: {file}: times without a zone read at {offset}, the offset the \
             {matches} event(s) it shares with binary logs give"
        );
        if let Some(input) = inputs.iter_mut().find(|i| i.path == *file) {
            input.time_basis = TimeBasis::Inferred(offset);
        }
    }
}
