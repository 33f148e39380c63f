//! Pure decoders for Windows event logs and ESE databases.
//!
//! Every event-log reader takes bytes (or text) and yields the common [`Event`] model; the ESE
//! database reader ([`ese`]) reads pages through a small source trait. None of them opens
//! files, prints or decides policy. Damage inside an input is reported as a [`Problem`] next to
//! the records that could still be read, never as a panic.

pub mod detect;
pub mod ese;
pub mod event;
pub mod event_xml;
pub mod evt;
pub mod evtx;
pub mod filetime;
pub mod guid;
pub mod le;
pub mod payload;
pub mod sid;
pub mod text;
mod utf16;

pub use detect::{detect_format, InputFormat};
pub use event::{Event, Level, Origin};

use serde::Serialize;

/// Something wrong at one place of an input. Readers report it and go on with the next record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Byte offset in the input, for binary formats.
    pub offset: Option<u64>,
    /// Line number (1-based), for text formats.
    pub line: Option<u64>,
    pub message: String,
}

impl Problem {
    pub fn at_offset(offset: u64, message: impl Into<String>) -> Problem {
        Problem {
            offset: Some(offset),
            line: None,
            message: message.into(),
        }
    }

    pub fn at_line(line: u64, message: impl Into<String>) -> Problem {
        Problem {
            offset: None,
            line: Some(line),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.offset, self.line) {
            (Some(offset), Some(line)) => write!(
                f,
                "line {line}, offset {offset} (0x{offset:x}): {}",
                self.message
            ),
            (Some(offset), None) => write!(f, "offset {offset} (0x{offset:x}): {}", self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// One item of a reader's output, in input order.
pub type Item = Result<Event, Problem>;
