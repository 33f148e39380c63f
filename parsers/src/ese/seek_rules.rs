//! The rules ESE's own seek relies on, checked page by page during a tree walk (see
//! docs/defrag.md, "What ESE's seek needs"): a walk along the branch pages reaches entries a
//! seek would never find, so reading every leaf proves nothing about the branch keys.
//!
//! In a branch page a seek for `x` goes to the first line whose key sorts after `x` (a line
//! whose key equals `x` sends it to the next line), or to the last line when none does; keys
//! are compared with `x` as bytes, where `x` is the entry's key, followed by its data in a
//! non-unique tree. So every entry under line `i` must sort at or after the key of line
//! `i - 1` and before the key of line `i`, except under the last line, which takes the rest of
//! the page's range. Checking each entry against the range its path allows is the same proof
//! as seeking each entry, at the cost of one walk. Besides, what `eseutil /g` checks: an empty
//! key only on a page's last line, branch keys strictly ascending, a branch page's last key
//! equal to its parent's key for it, a leaf's last key below its parent's key (and such a leaf
//! linked on to a next one).

use super::page::{Page, FLAG_LEAF};

/// The keys a page's entries must lie between, from the lines that lead to it.
#[derive(Debug, Clone, Default)]
pub struct KeyRange {
    /// Entries sort at or after this (`None`: no lower bound).
    lower: Option<Vec<u8>>,
    /// Entries sort before this (`None`: no upper bound).
    upper: Option<Vec<u8>>,
    /// The key of the parent's line naming this page; `None` for the root or an empty key.
    parent_key: Option<Vec<u8>>,
}

/// The range of the child named by branch line `index` of `page`, whose own range is `range`.
pub fn child_range(page: &Page, index: usize, range: &KeyRange) -> KeyRange {
    let prefix = page.external_header();
    let key_of = |i: usize| page.node(i).ok().map(|n| n.key(prefix));
    let key = key_of(index).unwrap_or_default();
    let previous = if index > 1 { key_of(index - 1) } else { None };
    let last_line = index + 1 >= page.tag_count();
    let upper = match (&range.upper, last_line) {
        (bound, true) => bound.clone(),
        (Some(bound), false) if bound < &key => Some(bound.clone()),
        (_, false) => Some(key.clone()),
    };
    KeyRange {
        lower: range.lower.clone().max(previous),
        upper,
        parent_key: (!key.is_empty()).then_some(key),
    }
}

/// The first rule `page` breaks, reached through `range`; `non_unique` when the tree's keys
/// may repeat (entries are then sought by key followed by data).
pub fn page_problem(page: &Page, range: &KeyRange, non_unique: bool) -> Option<String> {
    if page.header.is(FLAG_LEAF) {
        leaf_problem(page, range, non_unique)
    } else {
        branch_problem(page, range)
    }
}

fn branch_problem(page: &Page, range: &KeyRange) -> Option<String> {
    let prefix = page.external_header();
    let lines = page.tag_count().saturating_sub(1);
    let mut previous: Option<Vec<u8>> = None;
    for index in 1..=lines {
        let key = page.node(index).ok()?.key(prefix);
        if key.is_empty() && index < lines {
            return Some(format!(
                "branch line {index} of {lines} has an empty key (only a page's last line may)"
            ));
        }
        if let Some(before) = previous.as_ref().filter(|b| !key.is_empty() && key <= **b) {
            let relation = if key == *before {
                "equals"
            } else {
                "sorts before"
            };
            return Some(format!(
                "branch line {index}'s key {relation} the key of line {}",
                index - 1
            ));
        }
        if index == lines {
            if let Some(parent) = range.parent_key.as_ref().filter(|p| **p != key) {
                return Some(format!(
                    "last branch key {} is not the parent's key {} for this page",
                    hex(&key),
                    hex(parent)
                ));
            }
        }
        previous = Some(key);
    }
    None
}

fn leaf_problem(page: &Page, range: &KeyRange, non_unique: bool) -> Option<String> {
    let prefix = page.external_header();
    let lines = page.tag_count().saturating_sub(1);
    let mut unreachable = 0usize;
    let mut first: Option<(usize, &'static str)> = None;
    let mut last_key = Vec::new();
    for index in 1..=lines {
        let node = page.node(index).ok()?;
        let mut sought = node.key(prefix);
        last_key.clone_from(&sought);
        if non_unique {
            sought.extend_from_slice(node.data);
        }
        let side = if range.lower.as_ref().is_some_and(|l| sought < *l) {
            "before the key that leads to its page"
        } else if range.upper.as_ref().is_some_and(|u| sought >= *u) {
            "at or after the key that leads past its page"
        } else {
            continue;
        };
        unreachable += 1;
        first.get_or_insert((index, side));
    }
    if let Some((index, side)) = first {
        return Some(format!(
            "{unreachable} of {lines} entries unreachable by a seek from the root (entry {index} sorts {side})"
        ));
    }
    let parent = range.parent_key.as_ref()?;
    if lines > 0 && last_key >= *parent {
        return Some(format!(
            "last key {} does not sort before the parent's key {} for this page",
            hex(&last_key),
            hex(parent)
        ));
    }
    (page.header.next == 0)
        .then(|| "the parent names this leaf by a key, but it links on to no next leaf".into())
}

/// Keys in messages: hexadecimal, the first 32 bytes.
fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 32 {
        format!("{shown}... ({} bytes)", bytes.len())
    } else if bytes.is_empty() {
        "(empty)".into()
    } else {
        shown
    }
}
