//! Diagnosis: rules read a computer's timeline and yield findings with their evidence, the
//! alternatives considered and what to do; or say why they did not fire.

pub mod rules;

use crate::correlate::{Correlation, DatabaseHeaderRef, Evidence, Fact};
use evtdoctor_parsers::detect::ESE_SIGNATURE;
use evtdoctor_parsers::ese::header::{DbState, OsVersion};
use evtdoctor_parsers::ese::Database;
use serde::Serialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// What the rules may know besides the logs.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The database named with `--db`, as found on disk.
    pub database: Option<DatabaseFile>,
}

/// The `--db` file: whether it is there, looks like an ESE database, and what its header says.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseFile {
    pub path: PathBuf,
    pub exists: bool,
    pub ese_signature: bool,
    /// The header (primary, or the shadow when the primary is damaged), when it could be read.
    pub header: Option<DatabaseHeader>,
}

/// The header fields the rules weigh.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseHeader {
    /// Serialized by the name eseutil prints (`Clean Shutdown`).
    #[serde(serialize_with = "state_name")]
    pub state: DbState,
    pub os_version: OsVersion,
    pub format_version: u32,
    pub format_revision: u32,
}

fn state_name<S: serde::Serializer>(state: &DbState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&state.name())
}

impl DatabaseFile {
    /// Whether the file is there, is ESE, and what its header says.
    pub fn inspect(path: &Path) -> DatabaseFile {
        let head = crate::input::file_head(path, 8)
            .ok()
            .map(|head| head.get(4..8).map(<[u8]>::to_vec));
        let ese_signature = matches!(head, Some(Some(sig)) if sig == ESE_SIGNATURE);
        let header = ese_signature
            .then(|| std::fs::File::open(path).ok())
            .flatten()
            .and_then(|file| Database::open(file).ok())
            .map(|database| DatabaseHeader {
                state: database.header.state,
                os_version: database.header.os_version,
                format_version: database.header.format_version,
                format_revision: database.header.format_revision,
            });
        DatabaseFile {
            path: path.to_path_buf(),
            exists: path.is_file(),
            ese_signature,
            header,
        }
    }

    /// The header as evidence, when it was read.
    pub fn header_evidence(&self) -> Option<Evidence> {
        let header = self.header.as_ref()?;
        Some(Evidence::DatabaseHeader(DatabaseHeaderRef {
            file: self.path.display().to_string(),
            state: header.state.name(),
            os_version: header.os_version.to_string(),
            format: format!("0x{:x},{}", header.format_version, header.format_revision),
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceLevel {
    Low,
    Medium,
    High,
}

impl ConfidenceLevel {
    /// One level lower (Low stays Low).
    fn lower(self) -> ConfidenceLevel {
        match self {
            ConfidenceLevel::High => ConfidenceLevel::Medium,
            _ => ConfidenceLevel::Low,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConfidenceLevel::High => "high",
            ConfidenceLevel::Medium => "medium",
            ConfidenceLevel::Low => "low",
        }
    }
}

/// How sure a finding is, and every reason that raised or lowered it.
#[derive(Debug, Clone, Serialize)]
pub struct Confidence {
    pub level: ConfidenceLevel,
    pub reasons: Vec<String>,
}

impl Confidence {
    fn new() -> Confidence {
        Confidence {
            level: ConfidenceLevel::High,
            reasons: Vec::new(),
        }
    }

    fn support(&mut self, reason: impl Into<String>) {
        self.reasons.push(reason.into());
    }

    fn weaken(&mut self, reason: impl Into<String>) {
        self.level = self.level.lower();
        self.reasons.push(format!("lowered: {}", reason.into()));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The evidence speaks against it.
    Rejected,
    /// Nothing in the input settles it.
    NotExcluded,
    /// The evidence speaks for it (the finding is weaker for it).
    Supported,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Rejected => "rejected",
            Verdict::NotExcluded => "not excluded",
            Verdict::Supported => "supported",
        }
    }
}

/// An alternative explanation considered for a finding.
#[derive(Debug, Clone, Serialize)]
pub struct Differential {
    pub hypothesis: String,
    pub verdict: Verdict,
    pub reason: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The failure is the latest state the logs show.
    Active,
    /// Newer records show it fixed.
    Resolved,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Resolved => "resolved",
        }
    }
}

/// A diagnosed problem on one computer.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable identifier for tickets and scripts.
    pub id: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub kb: Cow<'static, str>,
    pub computer: String,
    pub status: Status,
    pub confidence: Confidence,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub differentials: Vec<Differential>,
    pub remediation: Vec<String>,
    /// What shows the problem fixed, when it is.
    pub resolution: Option<Resolution>,
    /// The fix evtdoctor itself can apply, when there is one.
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

/// A fix evtdoctor itself can apply for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// An offline defragmentation of the database, stamped with the OS version that runs.
    DefragDatabase,
}

impl Remedy {
    /// The remedy a rule file names in `fix` (docs/rules.md).
    pub fn named(name: &str) -> Option<Remedy> {
        match name {
            "defrag-kms-database" => Some(Remedy::DefragDatabase),
            _ => None,
        }
    }
}

/// Why `analyze --fix-db` applies no fix.
#[derive(Debug, thiserror::Error)]
pub enum NoRemedy {
    #[error("no active KMS finding calls for it")]
    NotCalledFor,
    #[error("the logs do not show which OS version runs: use evtdoctor fix --target-os")]
    RunningOsUnknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

/// A rule that looked at a computer and did not fire, with the reason: the differential that
/// explains the records better, or the condition that is missing.
#[derive(Debug, Clone, Serialize)]
pub struct RuledOut {
    pub rule: Cow<'static, str>,
    pub computer: String,
    pub reason: String,
    pub evidence: Vec<Evidence>,
}

/// Something a rule saw that is worth knowing but is no failure (an index rebuild after an
/// OS upgrade happens once by design).
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub rule: Cow<'static, str>,
    pub computer: String,
    pub text: String,
    pub evidence: Vec<Evidence>,
}

/// A rule as the report lists it among what was examined.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    pub id: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub kb: Cow<'static, str>,
}

/// What every rule said about every computer.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The rules that found records to weigh (the whole pack: `evtdoctor rules list`).
    pub rules: Vec<RuleInfo>,
    pub findings: Vec<Finding>,
    pub ruled_out: Vec<RuledOut>,
    pub notes: Vec<Note>,
    /// How many rules the pack holds.
    pub rules_in_pack: usize,
}

impl Diagnosis {
    /// True when a finding still needs action.
    pub fn has_active_findings(&self) -> bool {
        self.findings.iter().any(|f| f.status == Status::Active)
    }

    /// The OS version to stamp on the database when an active finding calls for its
    /// defragmentation: the one the logs show running last.
    pub fn database_defrag(&self, correlation: &Correlation) -> Result<OsVersion, NoRemedy> {
        let called_for = self
            .findings
            .iter()
            .any(|f| f.status == Status::Active && f.remedy == Some(Remedy::DefragDatabase));
        if !called_for {
            return Err(NoRemedy::NotCalledFor);
        }
        let running = correlation
            .hosts
            .iter()
            .flat_map(|host| &host.entries)
            .filter_map(|entry| match &entry.fact {
                Fact::Boot { os: Some(os) } | Fact::OsLevelChanged { to: os, .. } => {
                    Some((entry.time, os))
                }
                _ => None,
            })
            .max_by_key(|(time, _)| *time);
        let (_, os) = running.ok_or(NoRemedy::RunningOsUnknown)?;
        Ok(OsVersion {
            major: os.major,
            minor: os.minor,
            build: os.build,
            service_pack: os.service_pack,
        })
    }
}

/// The outcome of one rule on one computer.
pub(crate) enum Outcome {
    Finding(Box<Finding>),
    RuledOut(RuledOut),
    Note(Note),
    /// Nothing the rule looks at is in the logs.
    NotApplicable,
}

/// Runs the shipped rules on every computer.
pub fn diagnose(correlation: &Correlation, context: &Context) -> Diagnosis {
    diagnose_with(correlation, context, rules::Pack::builtin())
}

/// Runs every rule of `pack` on every computer. On one computer, a rule yields to the rules
/// its file names in `yields_to` when they find something, and a finding that outranks
/// another is listed first.
pub fn diagnose_with(
    correlation: &Correlation,
    context: &Context,
    pack: &rules::Pack,
) -> Diagnosis {
    let mut diagnosis = Diagnosis {
        rules: Vec::new(),
        findings: Vec::new(),
        ruled_out: Vec::new(),
        notes: Vec::new(),
        rules_in_pack: pack.rules.len(),
    };
    let mut applied = vec![false; pack.rules.len()];
    for host in &correlation.hosts {
        let evaluated: Vec<(&rules::Rule, rules::eval::Evaluated)> = pack
            .rules
            .iter()
            .map(|rule| (rule, rules::eval::evaluate(&rule.spec, host, context)))
            .collect();
        let found = |id: &str| {
            evaluated
                .iter()
                .any(|(r, e)| r.id() == id && matches!(e.outcome, Outcome::Finding(_)))
        };
        let mut findings: Vec<(Finding, bool)> = Vec::new();
        for (index, (rule, result)) in evaluated.iter().enumerate() {
            if matches!(result.outcome, Outcome::NotApplicable) {
                continue;
            }
            applied[index] = true;
            if rule.spec.yields_to.iter().any(|id| found(id.get_ref())) {
                continue;
            }
            let outranks = rule.spec.outranks.iter().any(|o| {
                found(o.rule.get_ref())
                    && o.when_file.as_deref().is_none_or(|want| {
                        result.file.as_deref().is_some_and(|file| {
                            rules::eval::file_name(file).eq_ignore_ascii_case(want)
                        })
                    })
            });
            match &result.outcome {
                Outcome::Finding(finding) => findings.push(((**finding).clone(), outranks)),
                Outcome::RuledOut(ruled_out) => diagnosis.ruled_out.push(ruled_out.clone()),
                Outcome::Note(note) => diagnosis.notes.push(note.clone()),
                Outcome::NotApplicable => {}
            }
        }
        // Stable: outranking findings first, the rest in pack order.
        findings.sort_by_key(|(_, outranks)| !outranks);
        diagnosis
            .findings
            .extend(findings.into_iter().map(|(finding, _)| finding));
    }
    diagnosis.rules = pack
        .rules
        .iter()
        .zip(applied)
        .filter(|(_, applied)| *applied)
        .map(|(rule, _)| RuleInfo {
            id: rule.id().to_owned().into(),
            title: rule.spec.title.clone().into(),
            kb: rule.spec.kb.clone().into(),
        })
        .collect();
    diagnosis
}
