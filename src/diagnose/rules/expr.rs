//! Conditions (`if = "upgrade.from == 3 and not exchange.own"`) and text templates
//! (`"{failure.first} names {exchange.version}"`) of rule files: parsed when a rule is checked,
//! evaluated against the facts a rule names. `docs/rules.md` describes both.

use crate::correlate::{Evidence, RecordRef};
use chrono::{DateTime, Utc};

/// A value a path names.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    Bool(bool),
    Number(i64),
    Text(String),
    Time(DateTime<Utc>),
    Record(&'a RecordRef),
    Records(Vec<&'a RecordRef>),
    /// Cited, not shown in text (the `--db` header).
    Evidence(Evidence),
}

impl Value<'_> {
    /// A condition of one path holds when the value is there and not false or empty.
    fn holds(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Records(records) => !records.is_empty(),
            _ => true,
        }
    }

    /// How a template shows the value: records by their label, a list of them joined by
    /// ", then " (they are in time order), times as reports write them.
    pub fn text(&self) -> String {
        match self {
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Text(t) => t.clone(),
            Value::Time(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            Value::Record(r) => r.label(),
            Value::Records(rs) => rs
                .iter()
                .map(|r| r.label())
                .collect::<Vec<_>>()
                .join(", then "),
            Value::Evidence(e) => e.label(),
        }
    }

    /// The evidence the value cites (nothing for plain values).
    pub fn evidence(&self) -> Vec<Evidence> {
        match self {
            Value::Record(r) => vec![Evidence::Record((*r).clone())],
            Value::Records(rs) => rs.iter().map(|r| Evidence::Record((*r).clone())).collect(),
            Value::Evidence(e) => vec![e.clone()],
            _ => Vec::new(),
        }
    }
}

/// What paths resolve against.
pub trait Scope {
    /// The value of a dotted path; `None` when it is not there (an absent record, a header
    /// not read).
    fn value(&self, path: &[&str]) -> Option<Value<'_>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    negated: bool,
    path: String,
    compare: Option<(Op, Literal)>,
}

/// Clauses joined by `and`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    clauses: Vec<Clause>,
}

/// A condition's or template's mistake, with its byte offset in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl Condition {
    /// Parses `[not] PATH [OP LITERAL] (and ...)*`; OP is `==`, `!=`, `<`, `<=`, `>`, `>=`,
    /// LITERAL a whole number or a quoted text.
    pub fn parse(text: &str) -> Result<Condition, SyntaxError> {
        let mut clauses = Vec::new();
        let mut offset = 0;
        for piece in text.split(" and ") {
            clauses.push(parse_clause(piece).map_err(|message| SyntaxError { offset, message })?);
            offset += piece.len() + " and ".len();
        }
        Ok(Condition { clauses })
    }

    /// Every path the condition reads.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().map(|c| c.path.as_str())
    }

    /// True when every clause holds. A comparison with a value that is not there is false.
    pub fn holds(&self, scope: &dyn Scope) -> bool {
        self.clauses.iter().all(|clause| {
            let path: Vec<&str> = clause.path.split('.').collect();
            let value = scope.value(&path);
            let result = match (&clause.compare, value) {
                (None, value) => value.is_some_and(|v| v.holds()),
                (Some(_), None) => false,
                (Some((op, literal)), Some(value)) => compare(&value, *op, literal),
            };
            result != clause.negated
        })
    }
}

fn compare(value: &Value<'_>, op: Op, literal: &Literal) -> bool {
    use std::cmp::Ordering;
    let ordering = match (value, literal) {
        (Value::Number(n), Literal::Number(l)) => n.cmp(l),
        (_, Literal::Text(l)) => {
            return match op {
                Op::Eq => value.text().eq_ignore_ascii_case(l),
                Op::Ne => !value.text().eq_ignore_ascii_case(l),
                _ => false,
            }
        }
        _ => return false,
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
    }
}

fn parse_clause(text: &str) -> Result<Clause, String> {
    let text = text.trim();
    let (negated, rest) = match text.strip_prefix("not ") {
        Some(rest) => (true, rest.trim()),
        None => (false, text),
    };
    let mut words = rest.splitn(2, ' ');
    let path = words.next().unwrap_or_default();
    check_path(path)?;
    let compare = match words.next().map(str::trim) {
        None => None,
        Some(rest) => {
            let (op, literal) = rest
                .split_once(' ')
                .ok_or_else(|| format!("expected OPERATOR VALUE after {path}, found {rest:?}"))?;
            let op = match op {
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                other => return Err(format!("unknown operator {other:?} (==, !=, <, <=, >, >=)")),
            };
            Some((op, parse_literal(literal.trim())?))
        }
    };
    Ok(Clause {
        negated,
        path: path.to_owned(),
        compare,
    })
}

fn parse_literal(text: &str) -> Result<Literal, String> {
    let quoted = ['\'', '"']
        .iter()
        .find_map(|&q| text.strip_prefix(q)?.strip_suffix(q));
    if let Some(inner) = quoted {
        return Ok(Literal::Text(inner.to_owned()));
    }
    text.parse()
        .map(Literal::Number)
        .map_err(|_| format!("{text:?} is neither a whole number nor a 'quoted text'"))
}

/// A path is dot-separated names of letters, digits, `_` and `-`.
fn check_path(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{path:?} is not a path (names joined by dots)"))
    }
}

/// The `{path}` placeholders of a template, with their byte offsets (`{{` and `}}` are
/// literal braces).
pub fn placeholders(template: &str) -> Result<Vec<(usize, &str)>, SyntaxError> {
    let mut found = Vec::new();
    let mut rest = template.char_indices().peekable();
    while let Some((i, c)) = rest.next() {
        match c {
            '{' if rest.peek().map(|p| p.1) == Some('{') => {
                rest.next();
            }
            '}' if rest.peek().map(|p| p.1) == Some('}') => {
                rest.next();
            }
            '{' => {
                let end = template[i..].find('}').ok_or_else(|| SyntaxError {
                    offset: i,
                    message: "a placeholder is not closed with }".to_owned(),
                })?;
                let path = &template[i + 1..i + end];
                check_path(path).map_err(|message| SyntaxError { offset: i, message })?;
                found.push((i, path));
                while rest.peek().is_some_and(|p| p.0 <= i + end) {
                    rest.next();
                }
            }
            '}' => {
                return Err(SyntaxError {
                    offset: i,
                    message: "a lone } (write }} for a brace)".to_owned(),
                })
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The template with every placeholder replaced by its value's text (an absent value by
/// nothing).
pub fn render(template: &str, scope: &dyn Scope) -> String {
    let Ok(found) = placeholders(template) else {
        return template.to_owned();
    };
    let mut text = String::with_capacity(template.len());
    let mut copied = 0;
    for (offset, path) in found {
        text.push_str(&unescape(&template[copied..offset]));
        let parts: Vec<&str> = path.split('.').collect();
        if let Some(value) = scope.value(&parts) {
            text.push_str(&value.text());
        }
        copied = offset + path.len() + 2;
    }
    text.push_str(&unescape(&template[copied..]));
    text
}

fn unescape(text: &str) -> String {
    text.replace("{{", "{").replace("}}", "}")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Scope for Fixed {
        fn value(&self, path: &[&str]) -> Option<Value<'_>> {
            match path {
                ["a", "n"] => Some(Value::Number(3)),
                ["a", "t"] => Some(Value::Text("SP3".into())),
                ["a", "yes"] => Some(Value::Bool(true)),
                ["a", "none"] => Some(Value::Records(Vec::new())),
                _ => None,
            }
        }
    }

    fn holds(text: &str) -> bool {
        Condition::parse(text).unwrap().holds(&Fixed)
    }

    #[test]
    fn conditions_compare_numbers_and_texts_and_absent_values_are_false() {
        assert!(holds("a.n == 3 and a.n < 4 and a.n >= 3 and a.t == 'sp3'"));
        assert!(holds("a.yes and not a.none and not a.missing"));
        assert!(!holds("a.n > 3"));
        assert!(!holds("a.missing != 3"));
        assert!(!holds("a.n == 'x'") && holds("a.n != 'x'"));
        let bad = Condition::parse("a.n == 3 and a.n ~ 4").unwrap_err();
        assert_eq!(bad.offset, 13);
        assert!(bad.message.contains("unknown operator"), "{bad:?}");
        assert!(Condition::parse("a..b").is_err());
        assert!(Condition::parse("a.n == three").is_err());
    }

    #[test]
    fn templates_replace_paths_and_keep_doubled_braces() {
        assert_eq!(
            render("n={a.n}, t={a.t}, gone=[{a.missing}], {{literal}}", &Fixed),
            "n=3, t=SP3, gone=[], {literal}"
        );
        assert_eq!(placeholders("x {a.b} {c}").unwrap(), [(2, "a.b"), (8, "c")]);
        assert_eq!(placeholders("x {a.b").unwrap_err().offset, 2);
        assert_eq!(placeholders("x } y").unwrap_err().offset, 2);
        assert_eq!(placeholders("{a b}").unwrap_err().offset, 0);
    }
}
