//! An opened database: the header (primary, or the shadow copy when the primary is damaged)
//! and verified page reads through a [`PageSource`].

use super::checksum::{self, ChecksumStatus};
use super::header::{FileHeader, HeaderError, HeaderFault, HEADER_CHECKSUM_SPAN};
use super::page::Page;
use super::page_buffer;
use super::read_ahead::{PageSpot, ReadAhead};
use super::PageSource;
use crate::Problem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use super::header::PAGE_SIZES;

/// Why a header copy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HeaderReadError {
    #[error("read failed: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    NotAHeader(#[from] HeaderError),
    #[error("header checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")]
    Checksum { stored: u32, computed: u32 },
    /// An ESE header, checksum right, whose page size is none ESE uses: no page of the file
    /// can be found with it.
    #[error("invalid page size {}", .0.page_size)]
    PageSize(Box<FileHeader>),
}

/// Why a file cannot be opened as a database.
#[derive(Debug)]
pub enum OpenError {
    /// No header copy is an ESE header one can read: not a database (or not one any more).
    /// Holds why the primary copy is not.
    NotEse(HeaderReadError),
    /// Its headers are ESE headers, but with a value ESE refuses that leaves the pages
    /// unreadable (the page size): damage, with the header for those who show it.
    Damaged {
        header: Box<FileHeader>,
        fault: HeaderFault,
    },
}

impl OpenError {
    /// The error as a problem at the offset it concerns.
    pub fn problem(&self) -> Problem {
        match self {
            OpenError::NotEse(e) => {
                Problem::at_offset(0, format!("not a readable ESE database: {e}"))
            }
            OpenError::Damaged { fault, .. } => fault.problem(),
        }
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem().fmt(f)
    }
}

impl std::error::Error for OpenError {}

pub struct Database<S> {
    source: S,
    pub header: FileHeader,
    /// Problems with the primary or shadow header found while opening.
    pub header_problems: Vec<Problem>,
    page_size: usize,
    /// The source's size when opened (asked once: for a file it is a system call), or for a
    /// file still being written, how much of it the writer has announced.
    size: AtomicU64,
    /// Pages read so far, for progress reports (atomic, so threads can share the database).
    pages_read: AtomicU64,
    read_ahead: ReadAhead,
    /// Pages whose checksum was found right: read again (by the check's tree pass, another
    /// walk, the defrag's comparison), they are not checksummed again.
    verified: Arc<VerifiedPages>,
}

/// One bit per page, settable from several threads.
struct VerifiedPages(Vec<AtomicU64>);

impl VerifiedPages {
    fn new(page_count: u64) -> VerifiedPages {
        let words = usize::try_from(page_count / 64 + 1).unwrap_or(0);
        VerifiedPages((0..words).map(|_| AtomicU64::new(0)).collect())
    }

    fn contains(&self, page: u32) -> bool {
        let (word, bit) = (page as usize / 64, page % 64);
        self.0
            .get(word)
            .is_some_and(|w| w.load(Ordering::Relaxed) >> bit & 1 == 1)
    }

    fn insert(&self, page: u32) {
        let (word, bit) = (page as usize / 64, page % 64);
        if let Some(w) = self.0.get(word) {
            w.fetch_or(1 << bit, Ordering::Relaxed);
        }
    }
}

/// A page as read: `None` when it could not be used, with the reason.
pub struct PageRead {
    pub page: Option<Page>,
    pub problem: Option<Problem>,
}

impl<S: PageSource> Database<S> {
    /// Reads the header, falling back to the shadow copy when the primary is unreadable.
    /// Header values ESE refuses (format, state, file type) are among the header problems;
    /// a page size none ESE uses, in every copy, is an error: no page can be read with it.
    pub fn open(source: S) -> Result<Database<S>, OpenError> {
        let mut header_problems = Vec::new();
        let primary = read_header(&source, 0);
        let header = match primary {
            Ok(header) => {
                let shadow_offset = u64::from(header.page_size);
                match read_header(&source, shadow_offset) {
                    Ok(shadow) if shadow != header => header_problems.push(Problem::at_offset(
                        shadow_offset,
                        "shadow header differs from the primary header",
                    )),
                    Ok(_) => {}
                    Err(message) => header_problems.push(Problem::at_offset(
                        shadow_offset,
                        format!("shadow header damaged: {message}"),
                    )),
                }
                header
            }
            Err(error) => {
                header_problems.push(Problem::at_offset(
                    0,
                    format!("primary header damaged: {error}"),
                ));
                match PAGE_SIZES
                    .iter()
                    .find_map(|&size| read_header(&source, u64::from(size)).ok())
                {
                    Some(shadow) => shadow,
                    None => {
                        return Err(match error {
                            HeaderReadError::PageSize(header) => OpenError::Damaged {
                                fault: HeaderFault::PageSize(header.page_size),
                                header,
                            },
                            other => OpenError::NotEse(other),
                        })
                    }
                }
            }
        };
        header_problems.extend(header.faults().into_iter().map(|fault| fault.problem()));
        let size = source.size();
        Ok(Database::with_header(source, header, header_problems, size))
    }

    fn with_header(
        source: S,
        header: FileHeader,
        header_problems: Vec<Problem>,
        size: u64,
    ) -> Database<S> {
        let page_size = header.page_size as usize;
        Database {
            size: AtomicU64::new(size),
            verified: Arc::new(VerifiedPages::new(size / page_size as u64)),
            header,
            header_problems,
            page_size,
            pages_read: AtomicU64::new(0),
            read_ahead: ReadAhead::default(),
            source,
        }
    }

    /// A database file still being written, whose header (`header`, already checked) goes
    /// in last: nothing of it is readable until the writer announces, with
    /// [`Database::grow_to`], how far its pages are written. `expected_size` only sizes the
    /// record of verified pages (pages past it are checksummed at every read).
    pub fn being_written(source: S, header: FileHeader, expected_size: u64) -> Database<S> {
        let database = Database::with_header(source, header, Vec::new(), expected_size);
        database.grow_to(0);
        database
    }

    /// The writer of a file being written has written its first `size` bytes, all but pages
    /// it has not handed out yet (which may still be zeros): runs read ahead before now are
    /// dropped, as they may hold such pages.
    pub fn grow_to(&self, size: u64) {
        self.read_ahead.forget();
        self.size.store(size, Ordering::Relaxed);
    }

    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Database pages in the file (the two header pages excluded).
    pub fn page_count(&self) -> u32 {
        let pages = self.file_size() / self.page_size as u64;
        u32::try_from(pages.saturating_sub(2)).unwrap_or(u32::MAX)
    }

    pub fn file_size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Byte offset of database page `number` (page 1 follows the two header pages).
    pub fn page_offset(&self, number: u32) -> u64 {
        (u64::from(number) + 1) * self.page_size as u64
    }

    /// Pages read since the database was opened.
    pub fn pages_read(&self) -> u64 {
        self.pages_read.load(Ordering::Relaxed)
    }

    /// Reads page `number` without verifying it.
    pub fn read_raw(&self, number: u32) -> Result<Vec<u8>, Problem> {
        self.read_raw_before(number, (self.page_count() + 1).saturating_sub(number))
    }

    /// Reads page `number`, reading ahead no further than `pages_left` pages from it.
    fn read_raw_before(&self, number: u32, pages_left: u32) -> Result<Vec<u8>, Problem> {
        self.pages_read.fetch_add(1, Ordering::Relaxed);
        let offset = self.page_offset(number);
        if let Some(all) = self.source.in_memory() {
            return self.page_in(all, number).map(page_buffer::copy_of);
        }
        let spot = PageSpot {
            number,
            offset,
            size: self.page_size,
            pages_left,
        };
        if let Some(bytes) = self.read_ahead.read(&self.source, &spot) {
            return Ok(bytes);
        }
        let mut bytes = page_buffer::take(self.page_size);
        let n = self
            .source
            .read_at(offset, &mut bytes)
            .map_err(|e| Problem::at_offset(offset, format!("page {number}: read failed: {e}")))?;
        if n < self.page_size {
            return Err(self.truncated(number, n));
        }
        Ok(bytes)
    }

    /// Reads page `number` without verifying it and hands it to `look`, without a copy when
    /// the source is in memory.
    pub fn with_raw<R>(&self, number: u32, look: impl FnOnce(&[u8]) -> R) -> Result<R, Problem> {
        match self.source.in_memory() {
            Some(all) => {
                self.pages_read.fetch_add(1, Ordering::Relaxed);
                self.page_in(all, number).map(look)
            }
            None => self.read_raw(number).map(|bytes| look(&bytes)),
        }
    }

    /// Page `number` of a source held in memory (as far as the database reaches).
    fn page_in<'a>(&self, all: &'a [u8], number: u32) -> Result<&'a [u8], Problem> {
        let end = usize::try_from(self.file_size()).map_or(all.len(), |e| e.min(all.len()));
        let offset = usize::try_from(self.page_offset(number)).unwrap_or(usize::MAX);
        let available = &all[offset.min(end)..end];
        available
            .get(..self.page_size)
            .ok_or_else(|| self.truncated(number, available.len()))
    }

    fn truncated(&self, number: u32, read: usize) -> Problem {
        Problem::at_offset(
            self.page_offset(number),
            format!(
                "page {number}: truncated file ({read} of {} bytes)",
                self.page_size
            ),
        )
    }

    /// Takes the pages whose checksum `other`, a database over the same bytes, found right as
    /// found right here too (the defrag's comparison read the new file while it was written,
    /// and the file's pages are written once).
    pub fn trust_checksums_of<T>(&self, other: &Database<T>) {
        for (mine, theirs) in self.verified.0.iter().zip(&other.verified.0) {
            mine.fetch_or(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// Shares one record of pages found right with `other`, a reader of the same file (two
    /// threads reading it each with their own read-ahead): a page either checksums is not
    /// checksummed again by the other.
    pub fn share_checksums_with<T>(&mut self, other: &Database<T>) {
        if self.verified.0.len() == other.verified.0.len() {
            self.verified = Arc::clone(&other.verified);
        }
    }

    /// Whether page `number`'s checksum was found right by an earlier read.
    pub fn checksum_known_right(&self, number: u32) -> bool {
        self.verified.contains(number)
    }

    /// How page `number`'s stored checksum compares with `bytes` (the page as read); a page
    /// found right once is taken as right from then on.
    pub fn checksum_status(&self, number: u32, bytes: &[u8]) -> ChecksumStatus {
        if self.verified.contains(number) {
            return ChecksumStatus::Ok;
        }
        let status = checksum::verify_page(bytes, number);
        if status == ChecksumStatus::Ok {
            self.verified.insert(number);
        }
        status
    }

    /// Reads and verifies page `number`. A single flipped bit the ECC locates is corrected in
    /// memory (and reported); any other checksum failure makes the page unusable.
    pub fn read_page(&self, number: u32) -> PageRead {
        self.read_page_before(number, (self.page_count() + 1).saturating_sub(number))
    }

    /// [`read_page`](Self::read_page) for a file being written, whose writer has written
    /// `written` pages from `number` on (pages past them may not be written yet, however far
    /// the file has grown): runs are read ahead within those only. The file counts as grown
    /// to their end.
    pub fn read_written_page(&self, number: u32, written: u32) -> PageRead {
        let end = self.page_offset(number.saturating_add(written));
        self.size.fetch_max(end, Ordering::Relaxed);
        self.read_page_before(number, written)
    }

    /// Drops the runs read ahead so far: pages they hold may have been written since.
    pub fn forget_read_ahead(&self) {
        self.read_ahead.forget();
    }

    fn read_page_before(&self, number: u32, pages_left: u32) -> PageRead {
        let offset = self.page_offset(number);
        let mut bytes = match self.read_raw_before(number, pages_left) {
            Ok(bytes) => bytes,
            Err(problem) => {
                return PageRead {
                    page: None,
                    problem: Some(problem),
                }
            }
        };
        let problem = match self.checksum_status(number, &bytes) {
            ChecksumStatus::Ok => None,
            status @ ChecksumStatus::CorrectableBit { bit } => {
                if let Some(byte) = bytes.get_mut((bit / 8) as usize) {
                    *byte ^= 1 << (bit % 8);
                }
                Some(Problem::at_offset(
                    offset + u64::from(bit / 8),
                    format!(
                        "page {number}: {}; read corrected",
                        describe_checksum(&status)
                    ),
                ))
            }
            other => {
                return PageRead {
                    page: None,
                    problem: Some(Problem::at_offset(
                        offset,
                        format!("page {number}: {}", describe_checksum(&other)),
                    )),
                }
            }
        };
        match Page::parse(number, bytes) {
            Ok(page) => PageRead {
                page: Some(page),
                problem,
            },
            Err(message) => PageRead {
                page: None,
                problem: Some(Problem::at_offset(
                    offset,
                    format!("page {number}: {message}"),
                )),
            },
        }
    }
}

/// One line describing a checksum failure.
pub fn describe_checksum(status: &ChecksumStatus) -> String {
    match status {
        ChecksumStatus::Ok => "checksum ok".into(),
        ChecksumStatus::CorrectableBit { bit } => format!(
            "checksum: single-bit error at bit {} of byte {} (ECC-correctable)",
            bit % 8,
            bit / 8
        ),
        ChecksumStatus::Mismatch {
            block,
            stored,
            computed,
        } => format!(
            "checksum mismatch (block {block}): stored 0x{stored:016x}, computed 0x{computed:016x}"
        ),
        ChecksumStatus::WrongPageNumber { stored } => {
            format!("page number mismatch: the page says it is page {stored}")
        }
    }
}

/// Reads and checks the header page at `offset`.
fn read_header<S: PageSource>(source: &S, offset: u64) -> Result<FileHeader, HeaderReadError> {
    let mut first = vec![0u8; HEADER_CHECKSUM_SPAN];
    let n = source.read_at(offset, &mut first)?;
    first.truncate(n);
    let header = FileHeader::parse(&first)?;
    if !header.checksum_ok() {
        return Err(HeaderReadError::Checksum {
            stored: header.checksum,
            computed: header.computed_checksum,
        });
    }
    if !PAGE_SIZES.contains(&header.page_size) {
        return Err(HeaderReadError::PageSize(Box::new(header)));
    }
    Ok(header)
}
