//! Legacy .evt reader (placeholder until the nom reader lands).

use crate::{Item, Problem};

/// Reads every record of a legacy .evt file, oldest first.
pub fn read_evt(_bytes: &[u8], _recover: bool, _sink: impl FnMut(Item)) -> Result<(), Problem> {
    Err(Problem::at_offset(
        0,
        "legacy .evt reading is not built yet",
    ))
}
