//! The evaluator of a rule over facts (`applies` instead of a `[trigger]`, docs/rules.md): its
//! named facts are extracted in order, then its rule-outs, weighs, differentials, steps and
//! texts are decided by conditions over them.

use super::eval::step_text;
use super::expr::{render, Condition, Scope, Value};
use super::facts::{extract, FactValue};
use super::format::{PhraseSpec, RuleSpec};
use crate::correlate::{Evidence, HostTimeline};
use crate::diagnose::{
    Confidence, Context, Differential, Finding, Outcome, Remedy, Resolution, RuledOut, Status,
    Verdict,
};
use toml::Spanned;

/// What the paths of one rule resolve against on one computer.
struct RuleScope<'r, 'h> {
    facts: Vec<(&'r str, FactValue<'h>)>,
    phrases: &'r [PhraseSpec],
    /// The differentials' verdicts, once decided.
    verdicts: Vec<(&'r str, Verdict)>,
    /// The names a `lowered` template uses alone.
    locals: Vec<(&'static str, String)>,
}

impl Scope for RuleScope<'_, '_> {
    fn value(&self, path: &[&str]) -> Option<Value<'_>> {
        match path {
            ["differential", id] => {
                let (_, verdict) = self.verdicts.iter().find(|(name, _)| name == id)?;
                Some(Value::Text(verdict_key(*verdict).to_owned()))
            }
            [name] => {
                if let Some((_, text)) = self.locals.iter().find(|(local, _)| local == name) {
                    return Some(Value::Text(text.clone()));
                }
                let phrase = self.phrases.iter().find(|p| p.name.get_ref() == name)?;
                let case = phrase
                    .cases
                    .iter()
                    .find(|c| holds_if(c.condition.as_ref(), self))?;
                Some(Value::Text(render(case.text.get_ref(), self)))
            }
            [fact, field @ ..] => {
                let (_, value) = self.facts.iter().find(|(name, _)| name == fact)?;
                value.field(field)
            }
            [] => None,
        }
    }
}

/// A verdict as conditions compare it (the rule file's spelling).
fn verdict_key(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Rejected => "rejected",
        Verdict::NotExcluded => "not-excluded",
        Verdict::Supported => "supported",
    }
}

fn holds(condition: &Spanned<String>, scope: &dyn Scope) -> bool {
    // `rules check` parsed every condition already.
    Condition::parse(condition.get_ref()).is_ok_and(|c| c.holds(scope))
}

/// A missing condition always holds.
fn holds_if(condition: Option<&Spanned<String>>, scope: &dyn Scope) -> bool {
    condition.is_none_or(|c| holds(c, scope))
}

fn text(template: &Spanned<String>, scope: &dyn Scope) -> String {
    render(template.get_ref(), scope)
}

/// The evidence the paths name, in order; a record cited twice is cited once.
fn cite(paths: &[Spanned<String>], scope: &dyn Scope) -> Vec<Evidence> {
    let mut cited: Vec<Evidence> = Vec::new();
    for path in paths {
        let parts: Vec<&str> = path.get_ref().split('.').collect();
        for evidence in scope
            .value(&parts)
            .map(|v| v.evidence())
            .unwrap_or_default()
        {
            if !cited.contains(&evidence) {
                cited.push(evidence);
            }
        }
    }
    cited
}

/// Runs a rule over facts on one computer.
pub(crate) fn evaluate(spec: &RuleSpec, host: &HostTimeline, context: &Context) -> Outcome {
    let mut scope = RuleScope {
        facts: Vec::with_capacity(spec.facts.len()),
        phrases: &spec.phrases,
        verdicts: Vec::new(),
        locals: Vec::new(),
    };
    for fact in &spec.facts {
        let value = extract(fact, host, context, &scope);
        scope.facts.push((fact.name.get_ref(), value));
    }
    if let Some(rule_out) = spec.rule_outs.iter().find(|r| holds(&r.condition, &scope)) {
        return Outcome::RuledOut(RuledOut {
            rule: spec.id.get_ref().clone().into(),
            computer: host.computer.clone(),
            reason: text(&rule_out.reason, &scope),
            evidence: cite(&rule_out.evidence, &scope),
        });
    }
    if !holds_if(spec.applies.as_ref(), &scope) {
        return Outcome::NotApplicable;
    }
    let mut confidence = Confidence::new();
    for weigh in &spec.weighs {
        let Some(case) = weigh
            .cases
            .iter()
            .find(|c| holds_if(c.condition.as_ref(), &scope))
        else {
            continue;
        };
        if let Some(support) = &case.support {
            confidence.support(text(support, &scope));
        }
        for lower in &case.lower {
            confidence.weaken(text(lower, &scope));
        }
    }
    let evidence = cite(&spec.evidence, &scope);
    let differentials: Vec<Differential> = spec
        .differentials
        .iter()
        .map(|d| {
            let case = d
                .cases
                .iter()
                .find(|c| holds_if(c.condition.as_ref(), &scope));
            Differential {
                hypothesis: d.hypothesis.clone(),
                verdict: case.map_or(Verdict::NotExcluded, |c| c.verdict.verdict()),
                reason: case.map(|c| text(&c.reason, &scope)).unwrap_or_default(),
                evidence: case.map(|c| cite(&c.evidence, &scope)).unwrap_or_default(),
            }
        })
        .collect();
    scope.verdicts = spec
        .differentials
        .iter()
        .zip(&differentials)
        .map(|(s, d)| (s.id.get_ref().as_str(), d.verdict))
        .collect();
    for (spec, decided) in spec.differentials.iter().zip(&differentials) {
        let lowers = match &spec.lowers {
            Some(verdicts) => verdicts.iter().any(|v| v.verdict() == decided.verdict),
            None => decided.verdict != Verdict::Rejected,
        };
        if !lowers {
            continue;
        }
        let reason = match &spec.lowered {
            Some(template) => {
                scope.locals = vec![
                    ("verdict", decided.verdict.name().to_owned()),
                    ("hypothesis", decided.hypothesis.clone()),
                    ("reason", decided.reason.clone()),
                ];
                text(template, &scope)
            }
            None => format!("{}: {}", decided.verdict.name(), decided.hypothesis),
        };
        confidence.weaken(reason);
    }
    scope.locals.clear();
    let verdict_of = |id: &str| {
        scope
            .verdicts
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, v)| *v)
    };
    let remediation = spec
        .steps
        .iter()
        .filter(|step| holds_if(step.condition.as_ref(), &scope))
        .filter_map(|step| step_text(step, verdict_of).map(|t| render(t, &scope)))
        .collect();
    let resolution = spec
        .resolution
        .as_ref()
        .filter(|r| holds(&r.condition, &scope))
        .map(|r| Resolution {
            summary: text(&r.text, &scope),
            evidence: cite(&r.evidence, &scope),
        });
    let remedy = spec
        .fix
        .as_ref()
        .filter(|_| holds_if(spec.fix_if.as_ref(), &scope))
        .and_then(|fix| Remedy::named(fix.get_ref()));
    Outcome::Finding(Box::new(Finding {
        id: spec.id.get_ref().clone().into(),
        title: spec.title.clone().into(),
        kb: spec.kb.clone().into(),
        computer: host.computer.clone(),
        status: if resolution.is_some() {
            Status::Resolved
        } else {
            Status::Active
        },
        confidence,
        summary: spec
            .summary
            .as_ref()
            .map(|s| text(s, &scope))
            .unwrap_or_default(),
        evidence,
        differentials,
        remediation,
        resolution,
        remedy,
    }))
}
