//! The evaluator: a rule written as data, run over one computer's timeline facts (never over
//! the events again), gives a finding, a note, or nothing.

use super::format::{
    Anchor, ConfirmSpec, DifferentialSpec, EventMatch, RuleSpec, StepSpec, VerdictSpec, When,
};
use crate::correlate::{Evidence, Fact, HostTimeline, RecordRef, TimelineEntry};
use crate::diagnose::{
    Confidence, Context, DatabaseFile, Differential, Finding, Note, Outcome, Remedy, Status,
    Verdict,
};
use chrono::{DateTime, Utc};

/// At most this many trigger records are cited (the count is in the summary).
const CITED_TRIGGERS: usize = 5;

/// A rule's outcome on one computer, with the file its trigger names.
pub(crate) struct Evaluated {
    pub outcome: Outcome,
    pub file: Option<String>,
}

/// True when the record is one the match describes.
pub fn record_matches(events: &EventMatch, record: &RecordRef) -> bool {
    events.event_id.contains(&record.event_id)
        && events
            .source
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&record.source))
        && (events.text.is_empty()
            || events.text.iter().any(|t| {
                contains_any_case(&record.excerpt, t)
                    || record
                        .description
                        .as_deref()
                        .is_some_and(|d| contains_any_case(d, t))
            }))
}

fn contains_any_case(text: &str, word: &str) -> bool {
    text.to_lowercase().contains(&word.to_lowercase())
}

/// The database file a record names: a quoted or `|`-separated piece ending in `.edb` or
/// `.stm` (ESE 474 gives the path as an insertion string; its message quotes it).
pub fn named_file(record: &RecordRef) -> Option<String> {
    let texts = [Some(record.excerpt.as_str()), record.description.as_deref()];
    texts.into_iter().flatten().find_map(|text| {
        text.split(['|', '"', '\'', '\u{201c}', '\u{201d}'])
            .map(str::trim)
            .find_map(|piece| {
                let lower = piece.to_ascii_lowercase();
                if !(lower.ends_with(".edb") || lower.ends_with(".stm")) {
                    return None;
                }
                // A path keeps its spaces; in prose, the file is the last word.
                let file = if piece.contains('\\') || piece.contains('/') {
                    piece
                } else {
                    piece.rsplit(' ').next().unwrap_or(piece)
                };
                Some(file.to_owned())
            })
    })
}

/// The last path component, for comparing file names written with either separator.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// Runs a rule written as data on one computer.
pub(crate) fn evaluate(spec: &RuleSpec, host: &HostTimeline, context: &Context) -> Evaluated {
    let nothing = Evaluated {
        outcome: Outcome::NotApplicable,
        file: None,
    };
    let Some(trigger) = &spec.trigger else {
        return match spec.applies {
            Some(_) => Evaluated {
                outcome: super::over_facts::evaluate(spec, host, context),
                file: None,
            },
            None => nothing,
        };
    };
    let events = trigger.events();
    let since = trigger.after.and_then(|anchor| latest_anchor(host, anchor));
    let mut matched: Vec<&RecordRef> = host
        .entries
        .iter()
        .filter_map(TimelineEntry::record)
        .filter(|r| record_matches(&events, r))
        .filter(|r| since.is_none_or(|s| r.time.is_some_and(|t| t >= s)))
        .collect();
    let file = if trigger.names_file {
        matched.retain(|r| named_file(r).is_some());
        matched.first().and_then(|r| named_file(r))
    } else {
        None
    };
    let Some(&first) = matched.first() else {
        return nothing;
    };
    let database = context
        .database
        .as_ref()
        .map(|d| d.path.display().to_string())
        .or_else(|| file.clone())
        .unwrap_or_else(|| "the database".to_owned());
    let values = Values {
        file: file.clone().unwrap_or_else(|| "the database".to_owned()),
        database,
        count: matched.len(),
        first: first.label(),
        computer: host.computer.clone(),
    };
    let cited: Vec<Evidence> = matched
        .iter()
        .take(CITED_TRIGGERS)
        .map(|r| Evidence::Record((*r).clone()))
        .collect();
    if matched.len() < trigger.repeat {
        let text = values.render(trigger.note.as_deref().unwrap_or_default(), None);
        return Evaluated {
            outcome: Outcome::Note(Note {
                rule: spec.id.get_ref().clone().into(),
                computer: host.computer.clone(),
                text,
                evidence: cited,
            }),
            file,
        };
    }

    let mut confidence = Confidence::new();
    confidence.support(format!(
        "{} is the event {} describes ({} such record(s))",
        values.first,
        spec.kb,
        matched.len()
    ));
    let mut evidence = cited;
    for confirm in &spec.confirms {
        weigh_confirm(
            confirm,
            host,
            first,
            context,
            &values,
            &mut confidence,
            &mut evidence,
        );
    }
    let differentials: Vec<Differential> = spec
        .differentials
        .iter()
        .map(|d| differential(d, host, first, context, &values))
        .collect();
    for d in &differentials {
        if d.verdict != Verdict::Rejected {
            confidence.weaken(format!("{}: {}", d.verdict.name(), d.hypothesis));
        }
    }
    let verdict_of = |id: &str| {
        spec.differentials
            .iter()
            .zip(&differentials)
            .find(|(s, _)| s.id.get_ref() == id)
            .map(|(_, d)| d.verdict)
    };
    let remediation = spec
        .steps
        .iter()
        .filter_map(|step| step_text(step, verdict_of).map(|t| values.render(t, None)))
        .collect();
    Evaluated {
        outcome: Outcome::Finding(Box::new(Finding {
            id: spec.id.get_ref().clone().into(),
            title: spec.title.clone().into(),
            kb: spec.kb.clone().into(),
            computer: host.computer.clone(),
            status: Status::Active,
            confidence,
            summary: values.render(
                spec.summary.as_ref().map_or("", |s| s.get_ref().as_str()),
                None,
            ),
            evidence,
            differentials,
            remediation,
            resolution: None,
            remedy: spec
                .fix
                .as_ref()
                .and_then(|fix| Remedy::named(fix.get_ref())),
        })),
        file,
    }
}

/// The text a step gives, given the differentials' verdicts: none when its `only_if`
/// alternative is rejected; its `instead` (or none) when its `unless` alternative is not.
pub(super) fn step_text(
    step: &StepSpec,
    verdict_of: impl Fn(&str) -> Option<Verdict>,
) -> Option<&str> {
    let open = |reference: &Option<toml::Spanned<String>>| {
        reference
            .as_ref()
            .map(|r| verdict_of(r.get_ref()).is_some_and(|v| v != Verdict::Rejected))
    };
    if open(&step.only_if) == Some(false) {
        return None;
    }
    if open(&step.unless) == Some(true) {
        return step.instead.as_deref();
    }
    Some(step.text.get_ref())
}

/// What `{placeholders}` in a rule's texts stand for.
struct Values {
    file: String,
    database: String,
    count: usize,
    first: String,
    computer: String,
}

impl Values {
    /// The template with every known placeholder replaced; `{record}` is the record a
    /// confirmation or differential found, `{state}` the header's state.
    fn render(&self, template: &str, found: Option<&str>) -> String {
        let mut text = template
            .replace("{file}", &self.file)
            .replace("{database}", &self.database)
            .replace("{count}", &self.count.to_string())
            .replace("{first}", &self.first)
            .replace("{computer}", &self.computer);
        if let Some(found) = found {
            text = text.replace("{record}", found).replace("{state}", found);
        }
        text
    }
}

/// The time of the latest timeline fact of this kind.
fn latest_anchor(host: &HostTimeline, anchor: Anchor) -> Option<DateTime<Utc>> {
    host.entries
        .iter()
        .filter(|e| match anchor {
            Anchor::OsChange => matches!(
                e.fact,
                Fact::OsLevelChanged { .. } | Fact::ServicePackInstalled { .. }
            ),
            Anchor::UnexpectedShutdown => e.fact == Fact::UnexpectedShutdown,
        })
        .filter_map(|e| e.time)
        .max()
}

/// The first record the match describes, placed against the trigger's first record.
fn find<'a>(
    host: &'a HostTimeline,
    events: &EventMatch,
    when: When,
    trigger: &RecordRef,
) -> Option<&'a RecordRef> {
    let placed = |time: Option<DateTime<Utc>>| match (when, time, trigger.time) {
        (When::Any, _, _) | (_, _, None) => true,
        (When::Before, Some(t), Some(at)) => t <= at,
        (When::After, Some(t), Some(at)) => t >= at,
        (_, None, Some(_)) => false,
    };
    host.entries
        .iter()
        .filter_map(TimelineEntry::record)
        .find(|r| r != &trigger && record_matches(events, r) && placed(r.time))
}

/// The `--db` header's state, when it was read.
fn header_state(context: &Context) -> Option<(&DatabaseFile, String)> {
    let db = context.database.as_ref()?;
    Some((db, db.header.as_ref()?.state.name()))
}

fn state_listed(states: &[String], state: &str) -> bool {
    states.iter().any(|s| s.eq_ignore_ascii_case(state))
}

fn weigh_confirm(
    confirm: &ConfirmSpec,
    host: &HostTimeline,
    trigger: &RecordRef,
    context: &Context,
    values: &Values,
    confidence: &mut Confidence,
    evidence: &mut Vec<Evidence>,
) {
    if let Some(events) = &confirm.events {
        match find(host, events, confirm.when, trigger) {
            Some(record) => {
                confidence.support(values.render(&confirm.found, Some(&record.label())));
                evidence.push(Evidence::Record(record.clone()));
            }
            None => {
                if let Some(missing) = &confirm.missing {
                    confidence.weaken(values.render(missing, None));
                }
            }
        }
    }
    if confirm.header_state.is_empty() {
        return;
    }
    if let Some((db, state)) = header_state(context) {
        if state_listed(&confirm.header_state, &state) {
            confidence.support(values.render(&confirm.found, Some(&state)));
            evidence.extend(db.header_evidence());
        } else if let Some(missing) = &confirm.missing {
            confidence.weaken(values.render(missing, Some(&state)));
        }
    }
}

fn differential(
    spec: &DifferentialSpec,
    host: &HostTimeline,
    trigger: &RecordRef,
    context: &Context,
    values: &Values,
) -> Differential {
    // `rules check` makes sure a differential of a rule with a trigger has all four.
    let decided = |found: bool, shown: Option<&str>, evidence: Vec<Evidence>| Differential {
        hypothesis: spec.hypothesis.clone(),
        verdict: if found {
            spec.if_found
        } else {
            spec.if_missing
        }
        .unwrap_or(VerdictSpec::NotExcluded)
        .verdict(),
        reason: values.render(
            if found { &spec.found } else { &spec.missing }
                .as_deref()
                .unwrap_or_default(),
            shown,
        ),
        evidence,
    };
    if !spec.header_state.is_empty() {
        if let Some((db, state)) = header_state(context) {
            let found = state_listed(&spec.header_state, &state);
            return decided(
                found,
                Some(&state),
                db.header_evidence().into_iter().collect(),
            );
        }
    }
    match &spec.events {
        Some(events) => match find(host, events, spec.when, trigger) {
            Some(record) => decided(
                true,
                Some(&record.label()),
                vec![Evidence::Record(record.clone())],
            ),
            None => decided(false, None, Vec::new()),
        },
        // Only a header decides it, and none was read.
        None => Differential {
            hypothesis: spec.hypothesis.clone(),
            verdict: Verdict::NotExcluded,
            reason: "not checked: give --db with the database file to read its header".to_owned(),
            evidence: Vec::new(),
        },
    }
}
