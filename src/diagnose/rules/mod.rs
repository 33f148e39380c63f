//! Rules as data: the rule pack built into the program (`rules/*.toml`), extra rule files
//! from `--rules DIR`, and what `evtdoctor rules` shows of them. `docs/rules.md` describes the
//! format; [`eval`] runs a rule over one computer's timeline.

mod checks;
pub mod eval;
pub mod expr;
pub mod facts;
pub mod format;
mod over_facts;

use crate::correlate::WatchedEvents;
use format::{line_col, EventMatch, Problem, RuleSpec};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The shipped rules, in the order reports list them.
const SHIPPED: &[(&str, &str)] = &[
    (
        "kms-5085-after-windows-2000-sp4.toml",
        include_str!("../../../rules/kms-5085-after-windows-2000-sp4.toml"),
    ),
    (
        "ese-page-checksum-damage.toml",
        include_str!("../../../rules/ese-page-checksum-damage.toml"),
    ),
    (
        "database-dirty-shutdown.toml",
        include_str!("../../../rules/database-dirty-shutdown.toml"),
    ),
    (
        "kms-startup-password.toml",
        include_str!("../../../rules/kms-startup-password.toml"),
    ),
    (
        "index-rebuild-after-os-upgrade.toml",
        include_str!("../../../rules/index-rebuild-after-os-upgrade.toml"),
    ),
];

/// One rule and where it was read from.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    /// `built in`, or the file's path.
    pub origin: String,
    /// The file's text, for `rules show`.
    pub text: String,
}

impl Rule {
    pub fn id(&self) -> &str {
        self.spec.id.get_ref()
    }
}

/// The rules analyze runs.
#[derive(Debug, Clone)]
pub struct Pack {
    pub rules: Vec<Rule>,
}

/// A problem in one rule file, placed by line and column when the parser could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub file: String,
    pub line: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for FileProblem {}

/// Parses one rule file's text; problems name `file` and their line.
pub fn check_text(file: &str, text: &str) -> Result<RuleSpec, Vec<FileProblem>> {
    format::parse(text).map_err(|problems| {
        problems
            .into_iter()
            .map(|Problem { message, span, .. }| FileProblem {
                file: file.to_owned(),
                line: span.map(|s| line_col(text, s.start)),
                message,
            })
            .collect()
    })
}

impl Pack {
    /// The shipped rules (parsed once; a test keeps them valid).
    pub fn builtin() -> &'static Pack {
        static PACK: OnceLock<Pack> = OnceLock::new();
        PACK.get_or_init(|| {
            let rules = SHIPPED
                .iter()
                .map(|(name, text)| Rule {
                    spec: check_text(name, text)
                        .unwrap_or_else(|p| panic!("shipped rule {name} is invalid: {p:?}")),
                    origin: "built in".to_owned(),
                    text: (*text).to_owned(),
                })
                .collect();
            Pack { rules }
        })
    }

    /// The shipped rules and every `*.toml` file of `dirs` (sorted by name); a file whose
    /// rule has a shipped rule's id replaces it. Every problem of every file is returned.
    pub fn with_dirs(dirs: &[PathBuf]) -> Result<Pack, Vec<FileProblem>> {
        let mut pack = Pack::builtin().clone();
        let mut problems = Vec::new();
        for dir in dirs {
            match rule_files(dir) {
                Ok(files) => {
                    for path in files {
                        match read_rule(&path) {
                            Ok(rule) => pack.insert(rule),
                            Err(mut found) => problems.append(&mut found),
                        }
                    }
                }
                Err(error) => problems.push(FileProblem {
                    file: dir.display().to_string(),
                    line: None,
                    message: format!("cannot read the directory: {error}"),
                }),
            }
        }
        if problems.is_empty() {
            Ok(pack)
        } else {
            Err(problems)
        }
    }

    fn insert(&mut self, rule: Rule) {
        match self.rules.iter_mut().find(|r| r.id() == rule.id()) {
            Some(existing) => *existing = rule,
            None => self.rules.push(rule),
        }
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id() == id)
    }

    /// The events the rules read, which correlation must keep on the timeline.
    pub fn watched(&self) -> WatchedEvents {
        let mut watched = WatchedEvents::default();
        for spec in self.rules.iter().map(|r| &r.spec) {
            let matches = spec
                .trigger
                .iter()
                .map(|t| t.events())
                .chain(spec.confirms.iter().filter_map(|c| c.events.clone()))
                .chain(spec.differentials.iter().filter_map(|d| d.events.clone()))
                .chain(spec.facts.iter().map(|f| EventMatch {
                    source: f.source.clone(),
                    event_id: f.event_id.clone(),
                    text: Vec::new(),
                }));
            for m in matches {
                for source in &m.source {
                    for &id in &m.event_id {
                        watched.add(source, id);
                    }
                }
            }
        }
        watched
    }
}

/// Reads and checks one rule file.
pub fn read_rule(path: &Path) -> Result<Rule, Vec<FileProblem>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![FileProblem {
            file: name.clone(),
            line: None,
            message: e.to_string(),
        }]
    })?;
    let spec = check_text(&name, &text)?;
    Ok(Rule {
        spec,
        origin: name,
        text,
    })
}

fn rule_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_pack_parses_and_names_its_sources() {
        let pack = Pack::builtin();
        assert_eq!(pack.rules.len(), SHIPPED.len());
        for rule in &pack.rules {
            assert!(!rule.spec.sources.is_empty(), "{} has no source", rule.id());
        }
        assert_eq!(pack.rules[0].id(), "kms-5085-after-windows-2000-sp4");
        assert_eq!(pack.rules[0].spec.kb, "KB 818952");
        assert_eq!(
            pack.rules[0]
                .spec
                .fix
                .as_ref()
                .map(|f| f.get_ref().as_str()),
            Some("defrag-kms-database")
        );
    }

    #[test]
    fn problems_name_their_line() {
        let text = "id = \"x\"\ntitle = \"t\"\nkb = \"KB 1\"\n[trigger]\nsource = [\"A\"]\nevent_id = [\"one\"]\n";
        let problems = check_text("x.toml", text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line.map(|l| l.0), Some(6), "{problems:?}");
        let text = "id = \"Bad Id\"\ntitle = \"t\"\nkb = \"KB 1\"\n\n[[step]]\ntext = \"s\"\nonly_if = \"nope\"\n";
        let problems = check_text("x.toml", text).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "x.toml:1:6: id: use lower-case letters, digits and dashes",
                "x.toml:1:6: a rule needs a [trigger] table (the events it is about)",
                "x.toml:7:11: no differential \"nope\" in this rule",
            ]
        );
    }

    /// A small rule over facts, with `extra` appended.
    fn fact_rule(extra: &str) -> String {
        format!(
            "id = \"x\"\ntitle = \"t\"\nkb = \"KB 1\"\napplies = \"failure.first\"\n\
             summary = \"seen {{failure.count}} time(s)\"\n\n\
             [[fact]]\nname = \"failure\"\ntype = \"events\"\nsource = [\"A\"]\nevent_id = [1]\n{extra}"
        )
    }

    fn shown(text: &str) -> Vec<String> {
        match check_text("x.toml", text) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_rule_over_facts_checks_clean() {
        assert_eq!(shown(&fact_rule("")), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_fact_type_is_named_with_its_line() {
        let text = fact_rule("\n[[fact]]\nname = \"boots\"\ntype = \"boot_records\"\n");
        assert_eq!(
            shown(&text),
            [
                "x.toml:15:8: unknown fact type \"boot_records\" (known: events, service_failed, \
              service_running, service_pack_change, exchange_build, database_file, last_shutdown)"
            ]
        );
    }

    #[test]
    fn a_bad_placeholder_is_named_where_it_is_written() {
        let text = fact_rule(
            "\n[[step]]\ntext = \"Check it.\"\n\n[[step]]\ntext = \"Seen at {failure.frist.time} and {nothing}.\"\n",
        );
        assert_eq!(
            shown(&text),
            [
                "x.toml:17:17: placeholder {failure.frist.time}: fact type events has no field \
                 \"frist.time\" (fields: first, last, all, count, latest, first_after, \
                 first_before, first_not_before; a record's: time, file, source, event_id)",
                "x.toml:17:42: placeholder {nothing}: \"nothing\" is not a phrase (a fact's value \
                 is written fact.field)",
            ]
        );
        let text =
            fact_rule("\n[[step]]\nif = \"failure.count >> 2\"\ntext = \"x {failure.first\"\n");
        assert_eq!(
            shown(&text),
            [
                "x.toml:14:7: condition: unknown operator \">>\" (==, !=, <, <=, >, >=)",
                "x.toml:15:11: template: a placeholder is not closed with }",
            ]
        );
    }

    #[test]
    fn facts_name_only_the_facts_above_them_and_fit_their_type() {
        let text = fact_rule(
            "\n[[fact]]\nname = \"build\"\ntype = \"exchange_build\"\nof = \"failure.count\"\n\
             \n[[fact]]\nname = \"late\"\ntype = \"events\"\nsource = [\"B\"]\nevent_id = [2]\nafter = \"later.first\"\nrelease = \"5.0.2195\"\n",
        );
        assert_eq!(
            shown(&text),
            [
                "x.toml:16:6: fact \"build\": failure.count is not a record",
                "x.toml:19:8: fact \"late\": fact type events takes no release",
                "x.toml:23:9: fact \"late\": later.first: no fact \"later\" declared before this point",
            ]
        );
    }
}
