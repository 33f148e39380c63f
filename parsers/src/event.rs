//! The one event model every reader produces, whatever the input format.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event record, decoded from a binary log, an export or pasted text.
///
/// Fields a format does not carry are `None` (or empty), never invented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Log (channel) name: "System", "Application", ... when the input names it.
    pub log: Option<String>,
    /// Record number as stored (.evt), in the record header (.evtx) or in EventRecordID (XML).
    pub record_number: Option<u64>,
    /// An .evtx record's System/EventRecordID when it differs from the record header's number
    /// (filtered exports renumber the headers only); `None` when they agree.
    #[serde(default)]
    pub event_record_id: Option<u64>,
    /// When the event was generated (.evt TimeGenerated, .evtx TimeCreated).
    pub time_generated: Option<DateTime<Utc>>,
    /// When the event was written to the log (.evt TimeWritten, .evtx record header).
    pub time_written: Option<DateTime<Utc>>,
    /// The event code Event Viewer shows (low 16 bits of a legacy event identifier).
    pub event_id: u16,
    /// The high 16 bits of a legacy identifier (severity, customer and facility bits).
    pub qualifiers: Option<u16>,
    pub level: Level,
    /// Event source (.evt), or the legacy EventSourceName an .evtx provider logs under, else
    /// its provider name.
    pub source: String,
    /// The .evtx provider name when it differs from `source` (a provider with an
    /// EventSourceName); `None` when they agree. `--source` matches either.
    #[serde(default)]
    pub provider: Option<String>,
    pub category: Option<u16>,
    pub computer: Option<String>,
    /// The user SID in its string form (`S-1-5-18`), or the account name an export shows.
    pub user: Option<String>,
    /// Insertion strings (.evt) or EventData/UserData values in document order (.evtx).
    pub strings: Vec<String>,
    /// The binary "Data" payload. `None` when the input format cannot carry it
    /// (an export without data), `Some(empty)` when the record has none. Hex in JSON.
    #[serde(with = "hex_bytes")]
    pub data: Option<Vec<u8>>,
    /// Rendered description, when the input carries one (text and CSV exports).
    pub message: Option<String>,
    /// Where the record came from inside its input.
    pub origin: Origin,
}

/// Where a record sits in its input, and whether it was carved from free space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Byte offset of the record in its file, for binary inputs.
    pub offset: Option<u64>,
    /// First line of the record, for text inputs (1-based).
    pub line: Option<u64>,
    /// True when the record was recovered from slack or a damaged region.
    pub recovered: bool,
}

/// Event type (.evt) or level (.evtx), normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Critical,
    Error,
    Warning,
    Information,
    Verbose,
    AuditSuccess,
    AuditFailure,
    /// A value no known mapping covers (kept raw).
    Other(u16),
}

impl Level {
    /// Legacy EVENTLOGRECORD EventType (`EVENTLOG_ERROR_TYPE` = 1, ...). 0 is "success",
    /// which Event Viewer shows as information.
    pub fn from_evt_type(event_type: u16) -> Level {
        match event_type {
            0 | 4 => Level::Information,
            1 => Level::Error,
            2 => Level::Warning,
            8 => Level::AuditSuccess,
            16 => Level::AuditFailure,
            other => Level::Other(other),
        }
    }

    /// The inverse of [`Level::from_evt_type`], for writers and comparisons.
    pub fn evt_type(self) -> u16 {
        match self {
            Level::Critical | Level::Error => 1,
            Level::Warning => 2,
            Level::Information | Level::Verbose => 4,
            Level::AuditSuccess => 8,
            Level::AuditFailure => 16,
            Level::Other(v) => v,
        }
    }

    /// .evtx `<Level>`: 1 critical, 2 error, 3 warning, 4 information, 5 verbose.
    /// 0 (LogAlways) is what classic providers write for information and audits.
    pub fn from_evtx_level(level: u8) -> Level {
        match level {
            0 | 4 => Level::Information,
            1 => Level::Critical,
            2 => Level::Error,
            3 => Level::Warning,
            5 => Level::Verbose,
            other => Level::Other(u16::from(other)),
        }
    }

    /// Parses the names exports and users write ("Error", "Warning", "Information",
    /// "Success Audit", "Failure Audit", "Audit Success", ...), case-insensitively.
    pub fn from_name(name: &str) -> Option<Level> {
        let folded: String = name
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Some(match folded.as_str() {
            "critical" => Level::Critical,
            "error" => Level::Error,
            "warning" => Level::Warning,
            "information" | "info" | "success" => Level::Information,
            "verbose" => Level::Verbose,
            "successaudit" | "auditsuccess" => Level::AuditSuccess,
            "failureaudit" | "auditfailure" => Level::AuditFailure,
            _ => return None,
        })
    }

    /// The name Event Viewer shows.
    pub fn name(self) -> &'static str {
        match self {
            Level::Critical => "Critical",
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Information => "Information",
            Level::Verbose => "Verbose",
            Level::AuditSuccess => "Success Audit",
            Level::AuditFailure => "Failure Audit",
            Level::Other(_) => "Other",
        }
    }
}

impl Event {
    /// An event with only its identity set; readers fill in the rest.
    pub fn new(source: impl Into<String>, event_id: u16, level: Level) -> Event {
        Event {
            log: None,
            record_number: None,
            event_record_id: None,
            time_generated: None,
            time_written: None,
            event_id,
            qualifiers: None,
            level,
            source: source.into(),
            provider: None,
            category: None,
            computer: None,
            user: None,
            strings: Vec::new(),
            data: None,
            message: None,
            origin: Origin::default(),
        }
    }

    /// The full 32-bit legacy identifier (qualifiers in the high half), as `evtexport` prints it.
    pub fn full_event_id(&self) -> u32 {
        (u32::from(self.qualifiers.unwrap_or(0)) << 16) | u32::from(self.event_id)
    }

    /// The time to order and show the event by: generated, else written.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.time_generated.or(self.time_written)
    }
}

/// Binary data as a lowercase hex string in JSON (or `null`).
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match data {
            Some(bytes) => s.serialize_str(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| hex::decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_event_id_joins_qualifiers_and_code() {
        let mut e = Event::new("NtServicePack", 4371, Level::Information);
        e.qualifiers = Some(0x400e);
        assert_eq!(e.full_event_id(), 0x400e_1113);
    }

    #[test]
    fn level_names_round_trip() {
        for level in [
            Level::Error,
            Level::Warning,
            Level::Information,
            Level::AuditSuccess,
            Level::AuditFailure,
            Level::Critical,
        ] {
            assert_eq!(Level::from_name(level.name()), Some(level));
        }
        assert_eq!(
            Level::from_evt_type(Level::AuditFailure.evt_type()),
            Level::AuditFailure
        );
        assert_eq!(Level::from_evtx_level(2), Level::Error);
        assert_eq!(Level::from_name("nonsense"), None);
    }
}
