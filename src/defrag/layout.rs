//! Page numbers for the new file. Pages 1-3 (the database's own tree) and the catalog's fixed
//! roots keep the numbers ESE expects; everything else is laid out from the first page after
//! them, one table with its long values and indexes after another, so each tree owns one or
//! two runs of pages. The catalog fills the holes between its fixed roots first.

use evtdoctor_parsers::ese::space::Extent;

pub struct PageAllocator {
    /// Unused pages below the first free one, handed to the catalog first (ascending).
    holes: Vec<u32>,
    next: u32,
}

impl PageAllocator {
    /// `fixed`: pages reserved up front (they and every page below the highest one are taken
    /// or become holes).
    pub fn new(fixed: &[u32]) -> PageAllocator {
        let top = fixed.iter().copied().max().unwrap_or(0);
        let holes = (1..=top).filter(|p| !fixed.contains(p)).collect();
        PageAllocator {
            holes,
            next: top + 1,
        }
    }

    /// The next page at the end of the file.
    pub fn next_page(&mut self) -> Result<u32, String> {
        let page = self.next;
        self.next = self
            .next
            .checked_add(1)
            .ok_or("the database needs more than 2^32 pages")?;
        Ok(page)
    }

    /// Three consecutive pages at the end (a root and its two space trees); the first.
    pub fn next_three(&mut self) -> Result<u32, String> {
        let first = self.next_page()?;
        self.next_page()?;
        self.next_page()?;
        Ok(first)
    }

    /// A hole if one is left, else the next page at the end.
    pub fn hole_or_next(&mut self) -> Result<u32, String> {
        if self.holes.is_empty() {
            self.next_page()
        } else {
            Ok(self.holes.remove(0))
        }
    }

    /// The last page handed out (the new file's page count).
    pub fn last_page(&self) -> u32 {
        self.next - 1
    }

    /// Holes nobody took: free pages of the database.
    pub fn unused_holes(&self) -> Vec<Extent> {
        coalesce(self.holes.iter().map(|&p| Extent { first: p, last: p }))
    }
}

/// The pages one tree (or a table with its trees) got, as runs.
#[derive(Debug, Default, Clone)]
pub struct Runs(Vec<Extent>);

impl Runs {
    pub fn add(&mut self, page: u32) {
        match self.0.last_mut() {
            Some(run) if run.last.checked_add(1) == Some(page) => run.last = page,
            _ => self.0.push(Extent {
                first: page,
                last: page,
            }),
        }
    }

    pub fn add_three(&mut self, first: u32) {
        for page in first..first + 3 {
            self.add(page);
        }
    }

    pub fn extend(&mut self, other: &Runs) {
        self.0.extend_from_slice(&other.0);
    }

    /// Sorted, with touching runs merged.
    pub fn extents(&self) -> Vec<Extent> {
        coalesce(self.0.iter().copied())
    }
}

fn coalesce(extents: impl Iterator<Item = Extent>) -> Vec<Extent> {
    let mut sorted: Vec<Extent> = extents.collect();
    sorted.sort_by_key(|e| e.first);
    let mut merged: Vec<Extent> = Vec::with_capacity(sorted.len());
    for extent in sorted {
        match merged.last_mut() {
            Some(last) if last.last.saturating_add(1) >= extent.first => {
                last.last = last.last.max(extent.last)
            }
            _ => merged.push(extent),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_go_first_and_runs_merge() {
        let mut pages = PageAllocator::new(&[1, 2, 3, 4, 5, 6, 9]);
        assert_eq!(pages.hole_or_next(), Ok(7));
        assert_eq!(pages.next_three(), Ok(10));
        assert_eq!(pages.unused_holes(), vec![Extent { first: 8, last: 8 }]);
        assert_eq!(pages.last_page(), 12);
        let mut runs = Runs::default();
        for page in [10, 11, 7, 12, 4] {
            runs.add(page);
        }
        let extent = |first, last| Extent { first, last };
        assert_eq!(
            runs.extents(),
            vec![extent(4, 4), extent(7, 7), extent(10, 12)]
        );
    }
}
