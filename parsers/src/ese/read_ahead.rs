//! Read-ahead for pages read in ascending order, as the check's page pass and the trees of a
//! rebuilt file are: one read of a run of pages instead of one system call per page. Two
//! streams are followed at once (the check and the defrag's comparison share the new file);
//! reads that do not go forward are left to the caller, so random access costs nothing extra.

use super::{page_buffer, PageSource};
use std::sync::Mutex;

/// Bytes read in one go (and held, per stream): small enough that a run is still in the CPU's
/// cache when its pages are copied out (1 MiB runs cost about 8% more CPU time in a defrag).
const RUN_BYTES: usize = 256 << 10;
/// A read this many pages past where a stream stopped still counts as going forward: a
/// rebuilt tree's branch pages sit between its leaves.
const FORWARD_GAP: u32 = 8;

#[derive(Default)]
pub struct ReadAhead {
    streams: Mutex<[Stream; 2]>,
}

#[derive(Default)]
struct Stream {
    /// The run held: pages `first..first + pages`.
    first: u32,
    pages: u32,
    bytes: Vec<u8>,
    /// The page after the last one this stream served (0: unused).
    next: u32,
    /// When the stream last served a page (for choosing which one to reuse).
    used: u64,
}

impl Stream {
    fn holds(&self, number: u32) -> bool {
        number >= self.first && number - self.first < self.pages
    }

    fn goes_on_at(&self, number: u32) -> bool {
        self.next != 0 && number >= self.next && number - self.next <= FORWARD_GAP
    }

    fn page(&self, number: u32, page_size: usize) -> Option<Vec<u8>> {
        let start = (number - self.first) as usize * page_size;
        self.bytes
            .get(start..start + page_size)
            .map(page_buffer::copy_of)
    }
}

/// Where a page is and how many pages from it on the file holds.
pub struct PageSpot {
    pub number: u32,
    pub offset: u64,
    pub size: usize,
    /// Pages from `number` to the end of the file, `number` included.
    pub pages_left: u32,
}

impl ReadAhead {
    /// Drops the runs held: pages read into them may have been rewritten since (a file being
    /// written fills in pages below its end, such as a tree's root, after pages above them).
    pub fn forget(&self) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        *streams = Default::default();
    }

    /// Page `spot.number` from a run, reading the run when the read goes forward; `None`
    /// when the caller should read the page alone (also when the run read fails: the single
    /// read then reports the failure for this page).
    pub fn read<S: PageSource>(&self, source: &S, spot: &PageSpot) -> Option<Vec<u8>> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let clock = streams.iter().map(|s| s.used).max().unwrap_or(0) + 1;
        let number = spot.number;
        if let Some(stream) = streams.iter_mut().find(|s| s.holds(number)) {
            stream.next = number.saturating_add(1);
            stream.used = clock;
            return stream.page(number, spot.size);
        }
        let forward = streams.iter().position(|s| s.goes_on_at(number));
        let index = forward.unwrap_or_else(|| {
            let oldest = streams[0].used > streams[1].used;
            usize::from(oldest)
        });
        let stream = &mut streams[index];
        stream.next = number.saturating_add(1);
        stream.used = clock;
        forward?;
        let pages = (RUN_BYTES / spot.size).min(spot.pages_left as usize);
        if pages < 2 {
            return None;
        }
        // The buffer is overwritten: until the read succeeds it holds no run.
        stream.pages = 0;
        stream.bytes.resize(pages * spot.size, 0);
        let read = source.read_at(spot.offset, &mut stream.bytes).ok()?;
        stream.first = number;
        stream.pages = u32::try_from(read / spot.size).unwrap_or(0);
        stream.page(number, spot.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Ten 4-byte pages, each filled with its number; counts the reads.
    struct Counted {
        bytes: Vec<u8>,
        reads: Cell<u32>,
    }

    impl PageSource for Counted {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
            self.reads.set(self.reads.get() + 1);
            self.bytes.read_at(offset, buf)
        }

        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }
    }

    fn spot(number: u32) -> PageSpot {
        PageSpot {
            number,
            offset: u64::from(number) * 4,
            size: 4,
            pages_left: 10 - number,
        }
    }

    #[test]
    fn forward_reads_come_from_one_run_and_others_are_left_alone() {
        let source = Counted {
            bytes: (0..10u8).flat_map(|n| [n; 4]).collect(),
            reads: Cell::new(0),
        };
        let ahead = ReadAhead::default();
        // A first read is not known to go forward: the caller reads it.
        assert_eq!(ahead.read(&source, &spot(2)), None);
        for number in [3, 4, 6, 9] {
            assert_eq!(
                ahead.read(&source, &spot(number)),
                Some(vec![number as u8; 4])
            );
        }
        assert_eq!(source.reads.get(), 1, "pages 3-9 in one read");
        // Going back is a random read, left to the caller; going on from it starts a second
        // stream, and the first one still serves its run.
        assert_eq!(ahead.read(&source, &spot(0)), None);
        assert_eq!(ahead.read(&source, &spot(1)), Some(vec![1; 4]));
        assert_eq!(ahead.read(&source, &spot(8)), Some(vec![8; 4]));
        assert_eq!(source.reads.get(), 2);
        // Forgotten runs serve nothing: the next read goes to the source again.
        ahead.forget();
        assert_eq!(ahead.read(&source, &spot(9)), None);
        assert_eq!(source.reads.get(), 2);
    }
}
