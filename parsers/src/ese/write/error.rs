//! Why the writer could not write: what it was given does not fit ESE's format, or the sink
//! (the caller's file) failed. A sink failure keeps its `io::Error`, so a full disk is still
//! recognisable by its kind wherever the error ends up.

/// An error of the ESE writer or of the sink and allocator it calls.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A value, key, node, record or header the format cannot hold.
    #[error("{0}")]
    Encode(String),
    /// Pages, extents or trees that do not fit together.
    #[error("{0}")]
    Layout(String),
    /// The sink could not take the pages: `what` it was doing, and why.
    #[error("{what}: {source}")]
    Sink {
        what: String,
        source: std::io::Error,
    },
}

impl WriteError {
    pub fn encode(message: impl Into<String>) -> WriteError {
        WriteError::Encode(message.into())
    }

    pub fn layout(message: impl Into<String>) -> WriteError {
        WriteError::Layout(message.into())
    }

    /// The sink failed while doing `what`.
    pub fn sink(what: impl Into<String>, source: std::io::Error) -> WriteError {
        WriteError::Sink {
            what: what.into(),
            source,
        }
    }

    /// The sink's I/O error, if that is what stopped the writer.
    pub fn into_io(self) -> Option<std::io::Error> {
        match self {
            WriteError::Sink { source, .. } => Some(source),
            WriteError::Encode(_) | WriteError::Layout(_) => None,
        }
    }
}

/// For callers that report every error as text (the test kit's database writer).
impl From<WriteError> for String {
    fn from(error: WriteError) -> String {
        error.to_string()
    }
}
