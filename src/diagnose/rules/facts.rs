//! The fact types a rule file can name in `[[fact]]` (`docs/rules.md` lists them with their
//! parameters and fields): each is extracted in Rust from the computer's timeline or the `--db`
//! file, and read by conditions and templates through its fields.

use super::eval::{file_name, named_file, record_matches};
use super::expr::{Scope, Value};
use super::format::EventMatch;
use crate::correlate::derived::{
    exchange_build_for, last_shutdown_before, service_pack_change, Release, ServicePackChange,
};
use crate::correlate::{Fact, HostTimeline, RecordRef, TimelineEntry};
use crate::diagnose::{Context, DatabaseFile};
use crate::knowledge::exchange::ExchangeBuild;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

/// One `[[fact]]` table: a name, a type and the type's parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactSpec {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub source: Vec<String>,
    #[serde(default)]
    pub event_id: Vec<u16>,
    #[serde(default)]
    pub text: Vec<String>,
    pub names_file: Option<String>,
    #[serde(default)]
    pub service: Vec<String>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub after: Option<Spanned<String>>,
    pub placed_against: Option<Spanned<String>>,
    pub release: Option<String>,
    pub service_pack: Option<u32>,
    pub of: Option<Spanned<String>>,
}

impl FactSpec {
    /// The parameters given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        let present = [
            ("source", !self.source.is_empty()),
            ("event_id", !self.event_id.is_empty()),
            ("text", !self.text.is_empty()),
            ("names_file", self.names_file.is_some()),
            ("service", !self.service.is_empty()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("after", self.after.is_some()),
            ("placed_against", self.placed_against.is_some()),
            ("release", self.release.is_some()),
            ("service_pack", self.service_pack.is_some()),
            ("of", self.of.is_some()),
        ];
        present
            .into_iter()
            .filter_map(|(name, given)| given.then_some(name))
            .collect()
    }

    /// The parameters that name another fact's value (a time or a record).
    pub fn path_params(&self) -> impl Iterator<Item = &Spanned<String>> {
        [
            &self.from,
            &self.to,
            &self.after,
            &self.placed_against,
            &self.of,
        ]
        .into_iter()
        .flatten()
    }
}

/// What a field holds, for checking paths before any log is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Number,
    Text,
    Time,
    /// One record; its own fields are [`RECORD_FIELDS`].
    Record,
    Records,
    /// Evidence that is not a record (the `--db` header).
    Evidence,
}

/// A fact type: its parameters and fields.
pub struct FactType {
    pub name: &'static str,
    pub params: &'static [&'static str],
    pub required: &'static [&'static str],
    pub fields: &'static [(&'static str, Kind)],
}

const BOUNDS: [&str; 4] = ["from", "to", "after", "placed_against"];

const RECORD_LIST: &[(&str, Kind)] = &[
    ("first", Kind::Record),
    ("last", Kind::Record),
    ("all", Kind::Records),
    ("count", Kind::Number),
    ("latest", Kind::Time),
    ("first_after", Kind::Record),
    ("first_before", Kind::Record),
    ("first_not_before", Kind::Record),
];

/// The fields of one record.
pub const RECORD_FIELDS: &[(&str, Kind)] = &[
    ("time", Kind::Time),
    ("file", Kind::Text),
    ("source", Kind::Text),
    ("event_id", Kind::Number),
];

pub const FACT_TYPES: &[FactType] = &[
    FactType {
        name: "events",
        params: &[
            "source",
            "event_id",
            "text",
            "names_file",
            BOUNDS[0],
            BOUNDS[1],
            BOUNDS[2],
            BOUNDS[3],
        ],
        required: &["source", "event_id"],
        fields: RECORD_LIST,
    },
    FactType {
        name: "service_failed",
        params: &["service", BOUNDS[0], BOUNDS[1], BOUNDS[2], BOUNDS[3]],
        required: &["service"],
        fields: RECORD_LIST,
    },
    FactType {
        name: "service_running",
        params: &["service", BOUNDS[0], BOUNDS[1], BOUNDS[2], BOUNDS[3]],
        required: &["service"],
        fields: RECORD_LIST,
    },
    FactType {
        name: "service_pack_change",
        params: &["release", "service_pack"],
        required: &["release", "service_pack"],
        fields: &[
            ("state", Kind::Text),
            ("from", Kind::Number),
            ("at", Kind::Time),
            ("evidence", Kind::Records),
            ("first_boot", Kind::Record),
            ("last_boot", Kind::Record),
            ("last_os", Kind::Text),
        ],
    },
    FactType {
        name: "exchange_build",
        params: &["of"],
        required: &["of"],
        fields: &[
            ("version", Kind::Text),
            ("release", Kind::Text),
            ("describe", Kind::Text),
            ("record", Kind::Record),
            ("own", Kind::Bool),
        ],
    },
    FactType {
        name: "database_file",
        params: &[],
        required: &[],
        fields: &[
            ("given", Kind::Bool),
            ("exists", Kind::Bool),
            ("ese", Kind::Bool),
            ("read", Kind::Bool),
            ("path", Kind::Text),
            ("state", Kind::Text),
            ("os_version", Kind::Text),
            ("os_release", Kind::Text),
            ("os_service_pack", Kind::Number),
            ("header", Kind::Evidence),
        ],
    },
    FactType {
        name: "last_shutdown",
        params: &["to"],
        required: &["to"],
        fields: &[("record", Kind::Record), ("clean", Kind::Bool)],
    },
];

pub fn fact_type(name: &str) -> Option<&'static FactType> {
    FACT_TYPES.iter().find(|t| t.name == name)
}

/// The kind of `path` below a value of kind `kind` (`first.time` below a record list).
pub fn field_kind(fields: &[(&str, Kind)], path: &[&str]) -> Option<Kind> {
    let (first, rest) = path.split_first()?;
    let kind = fields.iter().find(|(name, _)| name == first)?.1;
    match (kind, rest) {
        (kind, []) => Some(kind),
        (Kind::Record, rest) => field_kind(RECORD_FIELDS, rest),
        _ => None,
    }
}

/// A fact as extracted for one computer.
pub enum FactValue<'h> {
    Records(RecordList<'h>),
    ServicePack(ServicePackChange<'h>),
    Build(Option<(ExchangeBuild, &'h RecordRef, bool)>),
    Database(Option<&'h DatabaseFile>),
    Shutdown(Option<(&'h TimelineEntry, bool)>),
}

/// Records in timeline order, and where they fall against `placed_against`.
pub struct RecordList<'h> {
    records: Vec<&'h RecordRef>,
    against: Option<Option<DateTime<Utc>>>,
}

/// Extracts one fact; `scope` gives the values of the facts declared before it.
pub fn extract<'h>(
    spec: &FactSpec,
    host: &'h HostTimeline,
    context: &'h Context,
    scope: &dyn Scope,
) -> FactValue<'h> {
    let time_of = |param: &Option<Spanned<String>>| {
        param.as_ref().map(|path| {
            let parts: Vec<&str> = path.get_ref().split('.').collect();
            match scope.value(&parts) {
                Some(Value::Time(t)) => Some(t),
                Some(Value::Record(r)) => r.time,
                _ => None,
            }
        })
    };
    match spec.kind.get_ref().as_str() {
        "service_pack_change" => {
            let release = spec.release.as_deref().and_then(Release::parse);
            FactValue::ServicePack(match (release, spec.service_pack) {
                (Some(release), Some(target)) => service_pack_change(host, release, target),
                _ => ServicePackChange::Unknown,
            })
        }
        "exchange_build" => {
            let parts: Vec<String> = spec
                .of
                .as_ref()
                .map(|p| p.get_ref().split('.').map(str::to_owned).collect())
                .unwrap_or_default();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let record = match scope.value(&parts) {
                Some(Value::Record(r)) => Some(r.clone()),
                _ => None,
            };
            FactValue::Build(record.and_then(|r| exchange_build_for(host, &r)))
        }
        "database_file" => FactValue::Database(context.database.as_ref()),
        "last_shutdown" => {
            FactValue::Shutdown(last_shutdown_before(host, time_of(&spec.to).flatten()))
        }
        kind => {
            let (from, to, after) = (time_of(&spec.from), time_of(&spec.to), time_of(&spec.after));
            let bounded = from.is_some() || to.is_some() || after.is_some();
            let (from, to, after) = (from.flatten(), to.flatten(), after.flatten());
            let within = |time: Option<DateTime<Utc>>| {
                !bounded
                    || time.is_some_and(|t| {
                        from.is_none_or(|f| t >= f)
                            && to.is_none_or(|u| t <= u)
                            && after.is_none_or(|a| t > a)
                    })
            };
            let events = EventMatch {
                source: spec.source.clone(),
                event_id: spec.event_id.clone(),
                text: spec.text.clone(),
            };
            let records = host
                .entries
                .iter()
                .filter(|e| within(e.time) && entry_matches(kind, spec, &events, e))
                .filter_map(TimelineEntry::record)
                .collect();
            FactValue::Records(RecordList {
                records,
                against: time_of(&spec.placed_against),
            })
        }
    }
}

/// Whether a timeline entry is one a record-list fact collects (each record once: the
/// derived level changes repeat their boots).
fn entry_matches(kind: &str, spec: &FactSpec, events: &EventMatch, entry: &TimelineEntry) -> bool {
    let names_service = |service: &str| {
        let service = service.to_lowercase();
        spec.service
            .iter()
            .any(|name| service.contains(&name.to_lowercase()))
    };
    match (kind, &entry.fact) {
        (_, Fact::OsLevelChanged { .. }) => false,
        ("service_failed", Fact::ServiceFailed { service, .. }) => names_service(service),
        ("service_running", Fact::ServiceRunning { service }) => names_service(service),
        ("events", _) => entry.record().is_some_and(|record| {
            record_matches(events, record)
                && spec.names_file.as_deref().is_none_or(|want| {
                    named_file(record).is_some_and(|f| file_name(&f).eq_ignore_ascii_case(want))
                })
        }),
        _ => false,
    }
}

impl FactValue<'_> {
    /// The value of a field path (`first.time`).
    pub fn field(&self, path: &[&str]) -> Option<Value<'_>> {
        let (name, rest) = path.split_first()?;
        let value = match self {
            FactValue::Records(list) => list.field(name)?,
            FactValue::ServicePack(change) => service_pack_field(change, name)?,
            FactValue::Build(build) => {
                let (build, record, own) = build.as_ref()?;
                match *name {
                    "version" => Value::Text(build.to_string()),
                    "release" => {
                        Value::Text(format!("{}.{}.{}", build.major, build.minor, build.build))
                    }
                    "describe" => Value::Text(build.describe()),
                    "record" => Value::Record(record),
                    "own" => Value::Bool(*own),
                    _ => return None,
                }
            }
            FactValue::Database(db) => database_field(*db, name)?,
            FactValue::Shutdown(found) => {
                let (entry, clean) = found.as_ref()?;
                match *name {
                    "record" => Value::Record(entry.record()?),
                    "clean" => Value::Bool(*clean),
                    _ => return None,
                }
            }
        };
        match (value, rest) {
            (value, []) => Some(value),
            (Value::Record(record), [field]) => record_field(record, field),
            _ => None,
        }
    }
}

impl<'h> RecordList<'h> {
    fn field(&self, name: &str) -> Option<Value<'h>> {
        let records = &self.records;
        let placed = |want_after: Option<bool>| {
            let against = self.against?;
            records.iter().copied().find(|r| {
                let after = match (r.time, against) {
                    (Some(t), Some(c)) => Some(t >= c),
                    _ => None,
                };
                match want_after {
                    Some(want) => after == Some(want),
                    None => after != Some(false),
                }
            })
        };
        Some(match name {
            "first" => Value::Record(records.first()?),
            "last" => Value::Record(records.last()?),
            "all" => Value::Records(records.clone()),
            "count" => Value::Number(i64::try_from(records.len()).ok()?),
            "latest" => Value::Time(
                records
                    .iter()
                    .map(|r| r.time)
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .max()?,
            ),
            "first_after" => Value::Record(placed(Some(true))?),
            "first_before" => Value::Record(placed(Some(false))?),
            "first_not_before" => Value::Record(placed(None)?),
            _ => return None,
        })
    }
}

fn service_pack_field<'a>(change: &'a ServicePackChange<'_>, name: &str) -> Option<Value<'a>> {
    Some(match (name, change) {
        ("state", _) => Value::Text(
            match change {
                ServicePackChange::Changed { .. } => "changed",
                ServicePackChange::OnlyTarget { .. } => "only-target",
                ServicePackChange::Never { .. } => "never",
                ServicePackChange::Unknown => "unknown",
            }
            .to_owned(),
        ),
        ("from", ServicePackChange::Changed { from, .. }) => Value::Number((*from)?.into()),
        ("at", _) => Value::Time(change.at()?),
        ("evidence", ServicePackChange::Changed { evidence, .. }) => {
            Value::Records(evidence.iter().filter_map(|e| e.record()).collect())
        }
        ("evidence", ServicePackChange::OnlyTarget { first: record })
        | ("evidence", ServicePackChange::Never { last: record, .. }) => {
            Value::Records(vec![*record])
        }
        ("evidence", ServicePackChange::Unknown) => Value::Records(Vec::new()),
        ("first_boot", ServicePackChange::OnlyTarget { first }) => Value::Record(first),
        ("last_boot", ServicePackChange::Never { last, .. }) => Value::Record(last),
        ("last_os", ServicePackChange::Never { os, .. }) => Value::Text(os.to_string()),
        _ => return None,
    })
}

fn database_field<'h>(db: Option<&'h DatabaseFile>, name: &str) -> Option<Value<'h>> {
    if name == "given" {
        return Some(Value::Bool(db.is_some()));
    }
    let db = db?;
    let header = db.header.as_ref();
    Some(match name {
        "exists" => Value::Bool(db.exists),
        "ese" => Value::Bool(db.ese_signature),
        "read" => Value::Bool(header.is_some()),
        "path" => Value::Text(db.path.display().to_string()),
        "state" => Value::Text(header?.state.name()),
        "os_version" => Value::Text(header?.os_version.to_string()),
        "os_release" => {
            let os = header?.os_version;
            Value::Text(format!("{}.{}.{}", os.major, os.minor, os.build))
        }
        "os_service_pack" => Value::Number(header?.os_version.service_pack.into()),
        "header" => Value::Evidence(db.header_evidence()?),
        _ => return None,
    })
}

fn record_field<'h>(record: &'h RecordRef, name: &str) -> Option<Value<'h>> {
    Some(match name {
        "time" => Value::Time(record.time?),
        "file" => Value::Text(named_file(record)?),
        "source" => Value::Text(record.source.clone()),
        "event_id" => Value::Number(record.event_id.into()),
        _ => return None,
    })
}
