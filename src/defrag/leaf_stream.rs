//! A tree's leaves compared as they are written: the rebuild tells the first leaf of each
//! tree it copies from the hand-over of `db check`'s walk (rebuild.rs), and the comparison
//! reads that leaf and each one its link names as soon as the writer has it on the file,
//! comparing the live entries byte for byte with the hand-over, which the rebuild passes on
//! batch by batch once it has copied them (entry_stream.rs). The source is read once, by
//! the check, instead of once more here; and the big trees are compared while they are
//! written instead of after. Of each leaf, what the walk of the branch pages needs once the
//! tree is complete is kept (`branch_walk.rs` in parsers).

use super::entry_stream::EntryStream;
use super::page_writer::WrittenPages;
use super::verify::{StreamedTree, TreeDifference};
use evtdoctor_parsers::ese::leaf_chain::LeafChain;
use evtdoctor_parsers::ese::page::{Page, PageError, FLAG_LEAF};
use evtdoctor_parsers::ese::{Database, PageSource};
use evtdoctor_parsers::Problem;

/// Bytes kept of a tree's leaves (about 10 MiB for a gigabyte of long values in 4 KiB
/// pages); past them, the tree is compared again in full once it is complete.
const MAX_KEPT_BYTES: usize = 24 << 20;
/// Bytes read in one go when the leaves that follow are written already.
const RUN_BYTES: usize = 256 << 10;

/// A tree's leaves, compared with the hand-over.
pub struct ComparedLeaves {
    /// Live entries compared.
    pub entries: u64,
    /// The leaves in link order, as the walk of the branch pages needs them.
    pub chain: LeafChain,
}

/// Reads the leaves of `tree` along their links as they are written and compares their live
/// entries with the hand-over; the first difference, or the leaves as kept. The rebuild
/// lays a tree's leaves out in ascending pages, and the links must say so (which also ends
/// the walk on any file).
pub fn compare_leaves<S: PageSource>(
    new: &Database<S>,
    written: &WrittenPages,
    tree: StreamedTree,
) -> Result<ComparedLeaves, TreeDifference> {
    let StreamedTree {
        first_leaf,
        mut entries,
        ..
    } = tree;
    let run_pages = u32::try_from(RUN_BYTES / new.page_size())
        .unwrap_or(1)
        .max(1);
    let mut compared = ComparedLeaves {
        entries: 0,
        chain: LeafChain::new(MAX_KEPT_BYTES),
    };
    let mut number = first_leaf;
    loop {
        let run = written.wait_for(number, run_pages);
        let run = run.ok_or(TreeDifference::RebuildStopped)?;
        let read = new.read_written_page(number, run);
        let page = match (read.page, read.problem) {
            (Some(page), None) => page,
            (_, Some(problem)) => return Err(TreeDifference::NewUnreadable(problem)),
            (None, None) => return Err(unreadable(new, number, "unreadable")),
        };
        if !page.header.is(FLAG_LEAF) {
            return Err(unreadable(
                new,
                number,
                "a leaf link names a page that is no leaf",
            ));
        }
        match compare_leaf(&page, &mut entries, &mut compared) {
            Ok(None) => {}
            Ok(Some(difference)) => return Err(difference),
            Err(e) => return Err(unreadable(new, number, &e.to_string())),
        }
        let next = page.header.next;
        if next == 0 {
            break;
        }
        if next <= number {
            let message = format!("the leaf links back to page {next}");
            return Err(unreadable(new, number, &message));
        }
        number = next;
    }
    match entries.next_entry() {
        None => Ok(compared),
        Some(Ok(_)) => Err(TreeDifference::Shorter(compared.entries)),
        Some(Err(_)) => Err(TreeDifference::RebuildStopped),
    }
}

/// Compares the live entries of one leaf with the next ones of the hand-over, counting them
/// and keeping the leaf in `compared`; the first difference, if any.
fn compare_leaf(
    page: &Page,
    entries: &mut EntryStream,
    compared: &mut ComparedLeaves,
) -> Result<Option<TreeDifference>, PageError> {
    let mut difference = None;
    let count = &mut compared.entries;
    let read = compared.chain.read_leaf(page, |key, data, deleted| {
        if deleted {
            return true;
        }
        difference = match entries.next_entry() {
            Some(Ok(old)) if old.key == key && old.data == data => None,
            Some(Ok(old)) => Some(TreeDifference::entry(*count + 1, old.key)),
            // The hand-over broke off: the rebuild stopped (and says why).
            Some(Err(_)) => Some(TreeDifference::RebuildStopped),
            None => Some(TreeDifference::Longer(*count)),
        };
        *count += 1;
        difference.is_none()
    });
    read?;
    Ok(difference)
}

fn unreadable<S: PageSource>(new: &Database<S>, number: u32, message: &str) -> TreeDifference {
    TreeDifference::NewUnreadable(Problem::at_offset(
        new.page_offset(number),
        format!("page {number}: {message}"),
    ))
}
