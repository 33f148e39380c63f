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

use super::page::{Node, Page, PageHeader, FLAG_LEAF, FLAG_NON_UNIQUE};
use std::cmp::Ordering;
use std::rc::Rc;

/// The keys a page's entries must lie between, from the lines that lead to it.
#[derive(Debug, Clone, Default)]
pub struct KeyRange {
    /// Entries sort at or after this (`None`: no lower bound). Bounds are shared down the path
    /// (a child mostly inherits one from its parent), not copied.
    lower: Option<Rc<[u8]>>,
    /// Entries sort before this (`None`: no upper bound).
    upper: Option<Rc<[u8]>>,
    /// The key of the parent's line naming this page; `None` for the root or an empty key.
    parent_key: Option<Rc<[u8]>>,
}

/// The range of the child named by branch line `index` of `page`, whose own range is `range`.
pub fn child_range(page: &Page, index: usize, range: &KeyRange) -> KeyRange {
    let prefix = page.external_header();
    let key_of = |i: usize| page.node(i).ok().map(|n| n.full_key(prefix));
    let key: Rc<[u8]> = Rc::from(key_of(index).unwrap_or_default());
    let previous = if index > 1 { key_of(index - 1) } else { None };
    let last_line = index + 1 >= page.tag_count();
    let upper = match (&range.upper, last_line) {
        (bound, true) => bound.clone(),
        (Some(bound), false) if bound < &key => Some(bound.clone()),
        (_, false) => Some(key.clone()),
    };
    let lower = match (&range.lower, previous) {
        (Some(bound), Some(previous)) if *previous <= **bound => Some(bound.clone()),
        (_, Some(previous)) => Some(Rc::from(previous)),
        (bound, None) => bound.clone(),
    };
    KeyRange {
        lower,
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
            if let Some(parent) = range.parent_key.as_ref().filter(|p| ***p != *key) {
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
    let sought = |index: usize, with_data: bool| {
        let node = page.node(index).ok()?;
        Some(Sought::of(&node, prefix, with_data))
    };
    let ends = match lines {
        0 => None,
        _ => Some(LeafEnds {
            first: sought(1, non_unique)?,
            last: sought(lines, non_unique)?,
            last_key: sought(lines, false)?,
        }),
    };
    Some(match leaf_fault(ends, range, page.header.next)? {
        LeafFault::Outside => {
            let mut unreachable = 0usize;
            let mut first: Option<(usize, &'static str)> = None;
            for index in 1..=lines {
                if let Some(side) = outside(&sought(index, non_unique)?, range) {
                    unreachable += 1;
                    first.get_or_insert((index, side));
                }
            }
            let (index, side) = first?;
            format!(
                "{unreachable} of {lines} entries unreachable by a seek from the root (entry {index} sorts {side})"
            )
        }
        LeafFault::LastNotBelowParent(parent) => format!(
            "last key {} does not sort before the parent's key {} for this page",
            hex(&page.node(lines).ok()?.key(prefix)),
            hex(&parent)
        ),
        LeafFault::NoNextLeaf => NO_NEXT_LEAF.into(),
    })
}

const NO_NEXT_LEAF: &str = "the parent names this leaf by a key, but it links on to no next leaf";

/// A leaf as a walk read it earlier, kept for the rules that need only its ends: the
/// defrag's comparison reads a new tree's leaves as they are written, before the branch
/// pages above them exist (`leaf_chain.rs` keeps them, `branch_walk.rs` checks them).
#[derive(Debug, Clone)]
pub struct LeafSummary<'a> {
    pub number: u32,
    /// The fields the checks use (links, owner, flags).
    pub header: PageHeader,
    /// The first and the last entry (`None` on an empty leaf).
    pub ends: Option<(LeafEnd<'a>, LeafEnd<'a>)>,
    /// Entries, deleted ones included.
    pub entries: u64,
    /// Whether a key in the page sorts before the one above it, or equals it.
    pub descends: bool,
    pub repeats: bool,
}

/// One end of a leaf: what a seek for it looks for (the key, then the data when the page's
/// tree is non-unique).
#[derive(Debug, Clone, Copy)]
pub struct LeafEnd<'a> {
    pub sought: &'a [u8],
    pub key_len: usize,
}

impl<'a> LeafEnd<'a> {
    pub fn key(&self) -> &'a [u8] {
        &self.sought[..self.key_len.min(self.sought.len())]
    }
}

/// The first rule a leaf read earlier breaks, reached through `range` (as [`page_problem`]
/// for a leaf page, told in fewer words: a caller that meets one walks the tree again).
pub fn leaf_summary_problem(
    leaf: &LeafSummary<'_>,
    range: &KeyRange,
    non_unique: bool,
) -> Option<&'static str> {
    if leaf.header.is(FLAG_NON_UNIQUE) != non_unique {
        return Some("the leaf's non-unique flag is not its root's");
    }
    let ends = leaf.ends.as_ref().map(|(first, last)| LeafEnds {
        first: Sought::whole(first.sought),
        last: Sought::whole(last.sought),
        last_key: Sought::whole(last.key()),
    });
    Some(match leaf_fault(ends, range, leaf.header.next)? {
        LeafFault::Outside => "entries unreachable by a seek from the root",
        LeafFault::LastNotBelowParent(_) => "last key does not sort before the parent's key",
        LeafFault::NoNextLeaf => NO_NEXT_LEAF,
    })
}

/// A leaf's first and last entries as a seek looks for them, and its last key alone.
struct LeafEnds<'a> {
    first: Sought<'a>,
    last: Sought<'a>,
    last_key: Sought<'a>,
}

enum LeafFault {
    /// An end lies outside the range: some entries are unreachable.
    Outside,
    LastNotBelowParent(std::rc::Rc<[u8]>),
    NoNextLeaf,
}

/// The rules on a leaf's ends: inside its range (the entries ascend, so all then are), the
/// last key below the parent's key for the page, and such a page linked on to a next one.
fn leaf_fault(ends: Option<LeafEnds<'_>>, range: &KeyRange, next: u32) -> Option<LeafFault> {
    if let Some(ends) = &ends {
        if outside(&ends.first, range).is_some() || outside(&ends.last, range).is_some() {
            return Some(LeafFault::Outside);
        }
    }
    let parent = range.parent_key.as_ref()?;
    if let Some(ends) = &ends {
        if ends.last_key.cmp(parent).is_ge() {
            return Some(LeafFault::LastNotBelowParent(parent.clone()));
        }
    }
    (next == 0).then_some(LeafFault::NoNextLeaf)
}

/// Which side of `range` an entry lies on, if outside it.
fn outside(sought: &Sought<'_>, range: &KeyRange) -> Option<&'static str> {
    if range.lower.as_ref().is_some_and(|l| sought.cmp(l).is_lt()) {
        Some("before the key that leads to its page")
    } else if range.upper.as_ref().is_some_and(|u| sought.cmp(u).is_ge()) {
        Some("at or after the key that leads past its page")
    } else {
        None
    }
}

/// What a seek for a leaf entry looks for, in the pieces the page stores it in (the prefix
/// shared with tag 0, the key's own suffix, and the data in a non-unique tree): compared
/// piece by piece, so checking every entry of a tree copies no key.
struct Sought<'a>([&'a [u8]; 3]);

impl<'a> Sought<'a> {
    fn of(node: &Node<'a>, page_prefix: &'a [u8], non_unique: bool) -> Sought<'a> {
        let prefix = page_prefix.get(..node.prefix_len).unwrap_or(page_prefix);
        let data: &[u8] = if non_unique { node.data } else { &[] };
        Sought([prefix, node.suffix, data])
    }

    /// Bytes held in one piece.
    fn whole(bytes: &'a [u8]) -> Sought<'a> {
        Sought([bytes, &[], &[]])
    }

    /// The pieces joined, compared byte-wise with `bound`.
    fn cmp(&self, bound: &[u8]) -> Ordering {
        let mut rest = bound;
        for piece in self.0 {
            let shared = piece.len().min(rest.len());
            let order = piece[..shared].cmp(&rest[..shared]);
            if order.is_ne() {
                return order;
            }
            if shared < piece.len() {
                return Ordering::Greater;
            }
            rest = &rest[shared..];
        }
        if rest.is_empty() {
            Ordering::Equal
        } else {
            Ordering::Less
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::page::{FLAG_LEAF, FLAG_PARENT};
    use crate::ese::write::page::test_page;

    const CHILD: &[u8] = &[9, 0, 0, 0];

    fn page(flags: u32, next: u32, entries: &[(&[u8], &[u8])]) -> Page {
        test_page(7, flags, (0, next), entries)
    }

    fn range(lower: Option<&[u8]>, upper: Option<&[u8]>, parent: Option<&[u8]>) -> KeyRange {
        KeyRange {
            lower: lower.map(Rc::from),
            upper: upper.map(Rc::from),
            parent_key: parent.map(Rc::from),
        }
    }

    /// A range's bounds as plain bytes, to compare.
    fn bounds(range: &KeyRange) -> [Option<&[u8]>; 3] {
        [&range.lower, &range.upper, &range.parent_key].map(|b| b.as_deref())
    }

    #[test]
    fn a_child_gets_the_keys_between_its_line_and_the_line_before() {
        let branch = page(
            FLAG_PARENT,
            0,
            &[(b"b", CHILD), (b"d", CHILD), (b"", CHILD)],
        );
        let outer = range(Some(b"a"), Some(b"x"), None);
        let first = child_range(&branch, 1, &outer);
        assert_eq!(
            bounds(&first),
            [Some(&b"a"[..]), Some(&b"b"[..]), Some(&b"b"[..])]
        );
        let middle = child_range(&branch, 2, &outer);
        assert_eq!(bounds(&middle)[..2], [Some(&b"b"[..]), Some(&b"d"[..])]);
        // The last line takes the rest of the page's range; its empty key names no parent key.
        let last = child_range(&branch, 3, &outer);
        assert_eq!(bounds(&last), [Some(&b"d"[..]), Some(&b"x"[..]), None]);
        assert_eq!(page_problem(&branch, &outer, false), None);
    }

    #[test]
    fn an_empty_key_before_a_page_s_last_line_is_refused() {
        let branch = page(
            FLAG_PARENT,
            0,
            &[(b"b", CHILD), (b"", CHILD), (b"d", CHILD)],
        );
        let problem = page_problem(&branch, &KeyRange::default(), false).unwrap();
        assert_eq!(
            problem,
            "branch line 2 of 3 has an empty key (only a page's last line may)"
        );
    }

    #[test]
    fn a_branch_page_s_last_key_must_be_its_parent_s_key() {
        let branch = page(FLAG_PARENT, 0, &[(b"b", CHILD), (b"d", CHILD)]);
        let problem = page_problem(&branch, &range(None, Some(b"e"), Some(b"e")), false);
        assert_eq!(
            problem.unwrap(),
            "last branch key 64 is not the parent's key 65 for this page"
        );
        assert_eq!(
            page_problem(&branch, &range(None, Some(b"d"), Some(b"d")), false),
            None
        );
    }

    #[test]
    fn a_leaf_separator_after_the_right_page_s_first_key_hides_it() {
        let leaf = page(FLAG_LEAF, 0, &[(b"c", b"1"), (b"d", b"2")]);
        let problem = page_problem(&leaf, &range(Some(b"ca"), None, None), false).unwrap();
        assert_eq!(
            problem,
            "1 of 2 entries unreachable by a seek from the root (entry 1 sorts before the key that leads to its page)"
        );
    }

    #[test]
    fn equal_keys_split_by_a_bare_key_are_unreachable_on_the_left() {
        // Left page of a non-unique index whose parent key is the bare key "k": a seek for
        // "k" + data lands right of it, so the left page's "k" entries are lost.
        let leaf = page(FLAG_LEAF, 8, &[(b"j", b"1"), (b"k", b"1"), (b"k", b"2")]);
        let problem = page_problem(&leaf, &range(None, Some(b"k"), Some(b"k")), true).unwrap();
        assert!(
            problem.starts_with("2 of 3 entries unreachable"),
            "{problem}"
        );
        // With the data byte in the parent key ("k2"), only what belongs right of it is.
        let fixed = page(FLAG_LEAF, 8, &[(b"j", b"1"), (b"k", b"1")]);
        assert_eq!(
            page_problem(&fixed, &range(None, Some(b"k2"), Some(b"k2")), true),
            None
        );
    }

    #[test]
    fn an_entry_in_pieces_compares_as_its_joined_bytes() {
        let joined: &[&[u8]] = &[b"", b"a", b"ab", b"abc", b"abcd", b"abd", b"b"];
        for pieces in [
            [&b"a"[..], b"b", b"c"],
            [b"", b"abc", b""],
            [b"ab", b"", b"c"],
        ] {
            let sought = Sought(pieces);
            for bound in joined {
                assert_eq!(
                    sought.cmp(bound),
                    b"abc"[..].cmp(bound),
                    "{pieces:?} {bound:?}"
                );
            }
        }
    }

    #[test]
    fn a_leaf_named_by_a_key_must_link_on() {
        let leaf = page(FLAG_LEAF, 0, &[(b"a", b"1")]);
        let problem = page_problem(&leaf, &range(None, Some(b"b"), Some(b"b")), false);
        assert_eq!(
            problem.unwrap(),
            "the parent names this leaf by a key, but it links on to no next leaf"
        );
    }
}
