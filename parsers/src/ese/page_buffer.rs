//! Page-sized buffers kept for reuse on each thread. A walk reads one page after another,
//! each into a buffer freed as it moves on; an allocation of a page's size (above the
//! allocator's small sizes, so never on its fast path) cost a walk about as much as
//! checksumming the page.

use std::cell::RefCell;

/// Buffers kept per thread: a walk holds one page per tree level, and a few walks can run on
/// one thread; more would only hold memory.
const KEPT: usize = 16;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A copy of `bytes`, in a buffer used before when this thread has one.
pub fn copy_of(bytes: &[u8]) -> Vec<u8> {
    let mut buffer = take(bytes.len());
    buffer.copy_from_slice(bytes);
    buffer
}

/// A buffer of `len` bytes whose contents are left from its last use (or zeros): for a
/// caller that overwrites all of it before anyone reads it.
pub fn take(len: usize) -> Vec<u8> {
    let kept = FREE.try_with(|free| free.borrow_mut().pop()).ok().flatten();
    let mut buffer = kept.unwrap_or_default();
    buffer.resize(len, 0);
    buffer
}

/// Keeps `buffer` for the next [`take`] on this thread (when fewer than [`KEPT`] are kept).
pub fn give(buffer: Vec<u8>) {
    if buffer.capacity() == 0 {
        return;
    }
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < KEPT {
            free.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_with_the_length_asked() {
        let mut first = take(8);
        first.copy_from_slice(b"abcdefgh");
        let address = first.as_ptr();
        give(first);
        let again = take(4);
        assert_eq!(
            again.as_ptr(),
            address,
            "the same memory, not a new allocation"
        );
        assert_eq!(again, b"abcd");
        assert_eq!(copy_of(b"xy"), b"xy");
    }

    #[test]
    fn at_most_kept_buffers_are_held() {
        std::thread::spawn(|| {
            (0..KEPT + 4).for_each(|_| give(vec![0; 4]));
            let held = FREE.with(|free| free.borrow().len());
            assert_eq!(held, KEPT);
        })
        .join()
        .unwrap();
    }
}
