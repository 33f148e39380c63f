//! The rule file format (TOML, one rule a file; `docs/rules.md` describes it). Parsing keeps
//! the spans of the fields other fields refer to, so `evtdoctor rules check` can name the line
//! of every mistake.

use super::facts::FactSpec;
use crate::diagnose::Remedy;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// One rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier (lower-case letters, digits and dashes).
    pub id: Spanned<String>,
    pub title: String,
    /// The knowledge-base article it applies, as reports name it (`KB 818952`).
    pub kb: String,
    /// Where the rule's facts come from.
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
    /// The remedy the rule hands to, by name (`defrag-kms-database`).
    pub fix: Option<Spanned<String>>,
    /// A rule over facts: the remedy is offered only when this condition holds.
    pub fix_if: Option<Spanned<String>>,
    /// One paragraph for the finding; `{placeholders}` are described in `docs/rules.md`.
    pub summary: Option<Spanned<String>>,
    /// A rule over facts: the named facts it reads, extracted in this order.
    #[serde(default, rename = "fact")]
    pub facts: Vec<FactSpec>,
    /// A rule over facts: named texts chosen by condition, for templates.
    #[serde(default, rename = "phrase")]
    pub phrases: Vec<PhraseSpec>,
    /// A rule over facts: conditions under which it says why it does not apply (the first
    /// that holds).
    #[serde(default, rename = "rule_out")]
    pub rule_outs: Vec<RuleOutSpec>,
    /// A rule over facts: the condition for a finding (instead of a `[trigger]`).
    pub applies: Option<Spanned<String>>,
    /// A rule over facts: what raises or lowers the confidence, in order.
    #[serde(default, rename = "weigh")]
    pub weighs: Vec<WeighSpec>,
    /// A rule over facts: the values the finding cites, in order.
    #[serde(default)]
    pub evidence: Vec<Spanned<String>>,
    /// A rule over facts: what shows the failure fixed.
    pub resolution: Option<ResolutionSpec>,
    /// Listed before these rules' findings on the same computer.
    #[serde(default)]
    pub outranks: Vec<OutranksSpec>,
    /// No finding or note when one of these rules finds something on the same computer (it
    /// weighs this rule's events itself).
    #[serde(default)]
    pub yields_to: Vec<Spanned<String>>,
    pub trigger: Option<TriggerSpec>,
    /// Facts that raise the confidence when found (and lower it when `missing` is given).
    #[serde(default, rename = "confirm")]
    pub confirms: Vec<ConfirmSpec>,
    #[serde(default, rename = "differential")]
    pub differentials: Vec<DifferentialSpec>,
    #[serde(default, rename = "step")]
    pub steps: Vec<StepSpec>,
}

/// A named text: the first case whose condition holds (a case without `if` always does).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseSpec {
    pub name: Spanned<String>,
    #[serde(rename = "case")]
    pub cases: Vec<TextCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextCase {
    #[serde(rename = "if")]
    pub condition: Option<Spanned<String>>,
    pub text: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOutSpec {
    #[serde(rename = "if")]
    pub condition: Spanned<String>,
    pub reason: Spanned<String>,
    #[serde(default)]
    pub evidence: Vec<Spanned<String>>,
}

/// One consideration of the confidence: the first case that holds adds its reasons.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeighSpec {
    #[serde(rename = "case")]
    pub cases: Vec<WeighCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeighCase {
    #[serde(rename = "if")]
    pub condition: Option<Spanned<String>>,
    /// A reason that keeps the level.
    pub support: Option<Spanned<String>>,
    /// Reasons that each lower the level by one.
    #[serde(default)]
    pub lower: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionSpec {
    #[serde(rename = "if")]
    pub condition: Spanned<String>,
    pub text: Spanned<String>,
    #[serde(default)]
    pub evidence: Vec<Spanned<String>>,
}

/// A differential decided by conditions over facts: the first case that holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifferentialCase {
    #[serde(rename = "if")]
    pub condition: Option<Spanned<String>>,
    pub verdict: VerdictSpec,
    pub reason: Spanned<String>,
    #[serde(default)]
    pub evidence: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutranksSpec {
    pub rule: Spanned<String>,
    /// Only when the trigger names this file (compared by file name, any case).
    pub when_file: Option<String>,
}

/// Which timeline records count: by source and event id, with optional text conditions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    /// Event sources (any case); at least one.
    pub source: Vec<String>,
    /// Event ids; at least one.
    pub event_id: Vec<u16>,
    /// One of these must appear (any case) in the insertion strings, the message or the
    /// decoded binary data.
    #[serde(default)]
    pub text: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// As in [`EventMatch`].
    pub source: Vec<String>,
    pub event_id: Vec<u16>,
    #[serde(default)]
    pub text: Vec<String>,
    /// The record must name a database file (`.edb`, `.stm`); it becomes `{file}`.
    #[serde(default)]
    pub names_file: bool,
    /// Only records after the latest such timeline fact count.
    pub after: Option<Anchor>,
    /// Fewer matching records than this give a note instead of a finding.
    #[serde(default = "one")]
    pub repeat: usize,
    /// The note's text, when `repeat` is above 1.
    pub note: Option<String>,
}

impl TriggerSpec {
    pub fn events(&self) -> EventMatch {
        EventMatch {
            source: self.source.clone(),
            event_id: self.event_id.clone(),
            text: self.text.clone(),
        }
    }
}

fn one() -> usize {
    1
}

/// Timeline facts the trigger can be placed after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The OS version or service pack changed between two boots, or a service pack was
    /// installed.
    OsChange,
    /// EventLog 6008: the shutdown before a boot was not clean.
    UnexpectedShutdown,
}

/// Where matching records are looked for, relative to the trigger's first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    #[default]
    Before,
    After,
    Any,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSpec {
    /// Records that confirm, or the header states of the `--db` file that do.
    pub events: Option<EventMatch>,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub header_state: Vec<String>,
    /// Said when found (`{record}` names the record, `{state}` the header's state).
    pub found: String,
    /// Said, and the confidence lowered, when not found (for header states: when the header
    /// was read and says otherwise).
    pub missing: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictSpec {
    Rejected,
    NotExcluded,
    Supported,
}

impl VerdictSpec {
    pub fn verdict(self) -> crate::diagnose::Verdict {
        use crate::diagnose::Verdict;
        match self {
            VerdictSpec::Rejected => Verdict::Rejected,
            VerdictSpec::NotExcluded => Verdict::NotExcluded,
            VerdictSpec::Supported => Verdict::Supported,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifferentialSpec {
    pub id: Spanned<String>,
    pub hypothesis: String,
    /// Records that speak for the alternative.
    pub events: Option<EventMatch>,
    #[serde(default)]
    pub when: When,
    /// `--db` header states that speak for it.
    #[serde(default)]
    pub header_state: Vec<String>,
    /// The verdict and reason when the records (or header state) are found.
    pub if_found: Option<VerdictSpec>,
    pub found: Option<String>,
    /// The verdict and reason when they are not.
    pub if_missing: Option<VerdictSpec>,
    pub missing: Option<String>,
    /// In a rule over facts: the cases that decide it, instead of the keys above.
    #[serde(default, rename = "case")]
    pub cases: Vec<DifferentialCase>,
    /// The verdicts that lower the finding's confidence (default: not-excluded, supported).
    pub lowers: Option<Vec<VerdictSpec>>,
    /// The reason given when it lowers it (default `{verdict}: {hypothesis}`).
    pub lowered: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub text: Spanned<String>,
    /// In a rule over facts: kept only when this condition holds.
    #[serde(rename = "if")]
    pub condition: Option<Spanned<String>>,
    /// Only when this differential is not rejected.
    pub only_if: Option<Spanned<String>>,
    /// Left out when this differential is not rejected (`instead` says why, in the step's
    /// place).
    pub unless: Option<Spanned<String>>,
    pub instead: Option<String>,
}

/// A mistake in a rule file, with the byte range it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub span: Option<Range<usize>>,
    /// The text the mistake is about, to be found inside `span` (a placeholder in a string).
    needle: Option<String>,
}

impl Problem {
    pub(super) fn at(span: Range<usize>, message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            span: Some(span),
            needle: None,
        }
    }

    /// A mistake about `needle`, written somewhere inside `span`.
    pub(super) fn within(
        span: Range<usize>,
        needle: String,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            needle: Some(needle),
            ..Problem::at(span, message)
        }
    }

    /// Narrows the span to where the needle is written in `text`.
    fn placed(mut self, text: &str) -> Problem {
        if let (Some(span), Some(needle)) = (&mut self.span, self.needle.take()) {
            if let Some(at) = text.get(span.clone()).and_then(|t| t.find(&needle)) {
                span.start += at;
                span.end = span.start + needle.len();
            }
        }
        self
    }
}

/// Parses one rule file; every problem found is returned (syntax first, then meaning).
pub fn parse(text: &str) -> Result<RuleSpec, Vec<Problem>> {
    let spec: RuleSpec = toml::from_str(text).map_err(|e| {
        vec![Problem {
            message: e.message().to_owned(),
            span: e.span(),
            needle: None,
        }]
    })?;
    let problems: Vec<Problem> = check_meaning(&spec)
        .into_iter()
        .map(|p| p.placed(text))
        .collect();
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

/// What TOML cannot say: identifiers well formed, references resolved, a rule either built in
/// or with a trigger.
fn check_meaning(spec: &RuleSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    let id_ok = |id: &str| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !id_ok(spec.id.get_ref()) {
        problems.push(Problem::at(
            spec.id.span(),
            "id: use lower-case letters, digits and dashes",
        ));
    }
    if let Some(fix) = spec
        .fix
        .as_ref()
        .filter(|f| Remedy::named(f.get_ref()).is_none())
    {
        problems.push(Problem::at(
            fix.span(),
            format!(
                "fix: unknown remedy {:?} (known: defrag-kms-database)",
                fix.get_ref()
            ),
        ));
    }
    match (&spec.trigger, &spec.applies) {
        (None, None) => problems.push(Problem::at(
            spec.id.span(),
            "a rule needs a [trigger] table (the events it is about)",
        )),
        (Some(_), Some(applies)) => problems.push(Problem::at(
            applies.span(),
            "give a [trigger] or applies (a rule over facts), not both",
        )),
        (Some(_), None) => super::checks::trigger_rule(spec, &mut problems),
        (None, Some(_)) => super::checks::fact_rule(spec, &mut problems),
    }
    if let Some(trigger) = &spec.trigger {
        check_events(&trigger.events(), spec.id.span(), "trigger", &mut problems);
        if trigger.repeat > 1 && trigger.note.is_none() {
            problems.push(Problem::at(
                spec.id.span(),
                "trigger: repeat above 1 needs a note (what fewer records mean)",
            ));
        }
    }
    for confirm in &spec.confirms {
        match &confirm.events {
            Some(events) => check_events(events, spec.id.span(), "confirm", &mut problems),
            None if confirm.header_state.is_empty() => problems.push(Problem::at(
                spec.id.span(),
                "confirm: give events or header_state",
            )),
            None => {}
        }
    }
    let mut ids: Vec<&str> = Vec::new();
    for differential in &spec.differentials {
        let id = differential.id.get_ref().as_str();
        if ids.contains(&id) {
            problems.push(Problem::at(
                differential.id.span(),
                format!("differential {id:?} is defined twice"),
            ));
        }
        ids.push(id);
        if spec.applies.is_some() {
            continue;
        }
        let decided = differential.if_found.is_some()
            && differential.found.is_some()
            && differential.if_missing.is_some()
            && differential.missing.is_some();
        if !decided {
            problems.push(Problem::at(
                differential.id.span(),
                "differential: give if_found, found, if_missing and missing",
            ));
        }
        match &differential.events {
            Some(events) => check_events(
                events,
                differential.id.span(),
                "differential",
                &mut problems,
            ),
            None if differential.header_state.is_empty() => problems.push(Problem::at(
                differential.id.span(),
                "differential: give events or header_state",
            )),
            None => {}
        }
    }
    for step in &spec.steps {
        for reference in [&step.only_if, &step.unless].into_iter().flatten() {
            if !ids.contains(&reference.get_ref().as_str()) {
                problems.push(Problem::at(
                    reference.span(),
                    format!("no differential {:?} in this rule", reference.get_ref()),
                ));
            }
        }
    }
    problems
}

fn check_events(events: &EventMatch, span: Range<usize>, what: &str, out: &mut Vec<Problem>) {
    if events.source.is_empty() || events.event_id.is_empty() {
        out.push(Problem::at(
            span,
            format!("{what}: give at least one source and one event_id"),
        ));
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
    (line, column)
}
