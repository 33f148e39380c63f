//! What `rules check` verifies in a rule over facts beyond TOML (docs/rules.md): fact types
//! and their parameters, every path of a condition, template or evidence list resolved against
//! the facts declared above it, and none of these keys in a rule with a `[trigger]`.

use super::expr::{placeholders, Condition, SyntaxError};
use super::facts::{fact_type, field_kind, FactType, Kind, FACT_TYPES};
use super::format::{Problem, RuleSpec};
use toml::Spanned;

/// A rule with a `[trigger]` uses none of the keys of a rule over facts.
pub(super) fn trigger_rule(spec: &RuleSpec, problems: &mut Vec<Problem>) {
    let fact_keys = [
        ("fact", !spec.facts.is_empty()),
        ("phrase", !spec.phrases.is_empty()),
        ("rule_out", !spec.rule_outs.is_empty()),
        ("weigh", !spec.weighs.is_empty()),
        ("evidence", !spec.evidence.is_empty()),
        ("resolution", spec.resolution.is_some()),
        ("fix_if", spec.fix_if.is_some()),
        (
            "differential.case",
            spec.differentials.iter().any(|d| !d.cases.is_empty()),
        ),
        ("step.if", spec.steps.iter().any(|s| s.condition.is_some())),
    ];
    for (key, _) in fact_keys.iter().filter(|(_, used)| *used) {
        problems.push(Problem::at(
            spec.id.span(),
            format!("{key}: only in a rule over facts (with applies, without [trigger])"),
        ));
    }
}

/// What the paths of a rule over facts may name.
#[derive(Clone)]
struct Names<'a> {
    /// The facts declared so far, with their types.
    facts: Vec<(&'a str, &'static FactType)>,
    differentials: Vec<&'a str>,
    phrases: Vec<&'a str>,
    /// Names a template of this place may use alone (`{reason}` in `lowered`).
    locals: &'static [&'static str],
}

/// Names a template may use alone in `lowered`.
const LOWERED_LOCALS: &[&str] = &["verdict", "hypothesis", "reason"];

impl Names<'_> {
    /// The kind of value `path` names, or why it names none.
    fn kind(&self, path: &str, in_template: bool) -> Result<Kind, String> {
        let parts: Vec<&str> = path.split('.').collect();
        match parts.as_slice() {
            ["differential", id] => {
                if self.differentials.contains(id) {
                    Ok(Kind::Text)
                } else {
                    Err(format!("no differential {id:?} in this rule"))
                }
            }
            [name]
                if in_template && (self.phrases.contains(name) || self.locals.contains(name)) =>
            {
                Ok(Kind::Text)
            }
            [name] => Err(format!(
                "{name:?} is not a phrase{} (a fact's value is written fact.field)",
                if self.locals.is_empty() {
                    String::new()
                } else {
                    format!(" or one of {}", self.locals.join(", "))
                }
            )),
            [fact, field @ ..] => {
                let (_, kind) = self
                    .facts
                    .iter()
                    .find(|(name, _)| name == fact)
                    .ok_or_else(|| format!("no fact {fact:?} declared before this point"))?;
                field_kind(kind.fields, field).ok_or_else(|| {
                    let fields: Vec<&str> = kind.fields.iter().map(|(n, _)| *n).collect();
                    format!(
                        "fact type {} has no field {:?} (fields: {}; a record's: time, file, source, event_id)",
                        kind.name,
                        field.join("."),
                        fields.join(", ")
                    )
                })
            }
            [] => Err("an empty path".to_owned()),
        }
    }

    fn template(&self, template: &Spanned<String>, problems: &mut Vec<Problem>) {
        match placeholders(template.get_ref()) {
            Ok(found) => {
                for (_, path) in found {
                    if let Err(message) = self.kind(path, true) {
                        problems.push(Problem::within(
                            template.span(),
                            format!("{{{path}}}"),
                            format!("placeholder {{{path}}}: {message}"),
                        ));
                    }
                }
            }
            Err(SyntaxError { offset, message }) => problems.push(Problem::within(
                template.span(),
                written_at(template.get_ref(), offset),
                format!("template: {message}"),
            )),
        }
    }

    fn condition(&self, condition: &Spanned<String>, problems: &mut Vec<Problem>) {
        match Condition::parse(condition.get_ref()) {
            Ok(parsed) => {
                for path in parsed.paths() {
                    if let Err(message) = self.kind(path, false) {
                        problems.push(Problem::within(
                            condition.span(),
                            path.to_owned(),
                            format!("condition: {path}: {message}"),
                        ));
                    }
                }
            }
            Err(SyntaxError { offset, message }) => problems.push(Problem::within(
                condition.span(),
                written_at(condition.get_ref(), offset),
                format!("condition: {message}"),
            )),
        }
    }

    /// Paths cited as evidence must name records or the header.
    fn evidence(&self, paths: &[Spanned<String>], problems: &mut Vec<Problem>) {
        for path in paths {
            match self.kind(path.get_ref(), false) {
                Ok(Kind::Record | Kind::Records | Kind::Evidence) => {}
                Ok(_) => problems.push(Problem::at(
                    path.span(),
                    format!(
                        "evidence: {} is not a record, records or a header",
                        path.get_ref()
                    ),
                )),
                Err(message) => problems.push(Problem::at(
                    path.span(),
                    format!("evidence: {}: {message}", path.get_ref()),
                )),
            }
        }
    }
}

/// The word of `text` at `offset`, to find where a mistake is written.
fn written_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or_default();
    rest.split_whitespace().next().unwrap_or(rest).to_owned()
}

/// Facts, conditions, templates and evidence of a rule over facts (docs/rules.md).
pub(super) fn fact_rule(spec: &RuleSpec, problems: &mut Vec<Problem>) {
    let mut names = Names {
        facts: Vec::new(),
        differentials: spec
            .differentials
            .iter()
            .map(|d| d.id.get_ref().as_str())
            .collect(),
        phrases: spec
            .phrases
            .iter()
            .map(|p| p.name.get_ref().as_str())
            .collect(),
        locals: &[],
    };
    for fact in &spec.facts {
        let name = fact.name.get_ref().as_str();
        let simple = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !simple || name == "differential" || names.phrases.contains(&name) {
            problems.push(Problem::at(
                fact.name.span(),
                format!("fact name {name:?}: use lower-case letters, digits and _, unlike any phrase and not differential"),
            ));
        }
        if names.facts.iter().any(|(n, _)| *n == name) {
            problems.push(Problem::at(
                fact.name.span(),
                format!("fact {name:?} is declared twice"),
            ));
        }
        let Some(kind) = fact_type(fact.kind.get_ref()) else {
            let known: Vec<&str> = FACT_TYPES.iter().map(|t| t.name).collect();
            problems.push(Problem::at(
                fact.kind.span(),
                format!(
                    "unknown fact type {:?} (known: {})",
                    fact.kind.get_ref(),
                    known.join(", ")
                ),
            ));
            continue;
        };
        for param in fact.given() {
            if !kind.params.contains(&param) {
                problems.push(Problem::at(
                    fact.name.span(),
                    format!("fact {name:?}: fact type {} takes no {param}", kind.name),
                ));
            }
        }
        for param in kind.required {
            if !fact.given().contains(param) {
                problems.push(Problem::at(
                    fact.name.span(),
                    format!("fact {name:?}: fact type {} needs {param}", kind.name),
                ));
            }
        }
        if fact
            .release
            .as_deref()
            .is_some_and(|r| crate::correlate::derived::Release::parse(r).is_none())
        {
            problems.push(Problem::at(
                fact.name.span(),
                format!("fact {name:?}: release is major.minor.build, e.g. \"5.0.2195\""),
            ));
        }
        for path in fact.path_params() {
            let wanted = if fact.of.as_ref() == Some(path) {
                "a record"
            } else {
                "a time or a record"
            };
            match names.kind(path.get_ref(), false) {
                Ok(Kind::Record) => {}
                Ok(Kind::Time) if fact.of.as_ref() != Some(path) => {}
                Ok(_) => problems.push(Problem::at(
                    path.span(),
                    format!("fact {name:?}: {} is not {wanted}", path.get_ref()),
                )),
                Err(message) => problems.push(Problem::at(
                    path.span(),
                    format!("fact {name:?}: {}: {message}", path.get_ref()),
                )),
            }
        }
        names.facts.push((name, kind));
    }
    for phrase in &spec.phrases {
        for case in &phrase.cases {
            if let Some(condition) = &case.condition {
                names.condition(condition, problems);
            }
            names.template(&case.text, problems);
        }
    }
    for rule_out in &spec.rule_outs {
        names.condition(&rule_out.condition, problems);
        names.template(&rule_out.reason, problems);
        names.evidence(&rule_out.evidence, problems);
    }
    if let Some(applies) = &spec.applies {
        names.condition(applies, problems);
    }
    for weigh in &spec.weighs {
        for case in &weigh.cases {
            if let Some(condition) = &case.condition {
                names.condition(condition, problems);
            }
            for text in case.support.iter().chain(&case.lower) {
                names.template(text, problems);
            }
        }
    }
    names.evidence(&spec.evidence, problems);
    for differential in &spec.differentials {
        let keyed = differential.events.is_some()
            || !differential.header_state.is_empty()
            || differential.if_found.is_some()
            || differential.found.is_some()
            || differential.if_missing.is_some()
            || differential.missing.is_some();
        if keyed || differential.cases.is_empty() {
            problems.push(Problem::at(
                differential.id.span(),
                "in a rule over facts, a differential is decided by its [[differential.case]] tables only",
            ));
        }
        if differential
            .cases
            .last()
            .is_some_and(|c| c.condition.is_some())
        {
            problems.push(Problem::at(
                differential.id.span(),
                "the last case of a differential needs no if (it decides when no other case does)",
            ));
        }
        for case in &differential.cases {
            if let Some(condition) = &case.condition {
                names.condition(condition, problems);
            }
            names.template(&case.reason, problems);
            names.evidence(&case.evidence, problems);
        }
        if let Some(lowered) = &differential.lowered {
            let local = Names {
                locals: LOWERED_LOCALS,
                ..names.clone()
            };
            local.template(lowered, problems);
        }
    }
    for step in &spec.steps {
        if let Some(condition) = &step.condition {
            names.condition(condition, problems);
        }
        names.template(&step.text, problems);
    }
    if let Some(summary) = &spec.summary {
        names.template(summary, problems);
    }
    if let Some(resolution) = &spec.resolution {
        names.condition(&resolution.condition, problems);
        names.template(&resolution.text, problems);
        names.evidence(&resolution.evidence, problems);
    }
    if let Some(fix_if) = &spec.fix_if {
        if spec.fix.is_none() {
            problems.push(Problem::at(fix_if.span(), "fix_if without a fix"));
        }
        names.condition(fix_if, problems);
    }
}
