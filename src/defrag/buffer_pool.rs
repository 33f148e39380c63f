//! A fixed number of buffers going round between two threads: the one that fills them takes
//! them here, the other sends them back once done. None is taken anew once the pool is used
//! up (fresh memory costs a page fault per 4 KiB), and the filling side waits instead.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

pub struct BufferPool<T> {
    returned: Receiver<T>,
    /// Buffers not made yet.
    left: usize,
}

/// A pool of `size` buffers, and the sender the other thread gives them back through (it
/// never blocks: it holds as many as there are buffers).
pub fn buffer_pool<T>(size: usize) -> (BufferPool<T>, SyncSender<T>) {
    let (give_back, returned) = sync_channel(size);
    (
        BufferPool {
            returned,
            left: size,
        },
        give_back,
    )
}

impl<T> BufferPool<T> {
    /// Counts a buffer made outside the pool (the first one being filled).
    pub fn made_one(mut self) -> Self {
        self.left = self.left.saturating_sub(1);
        self
    }

    /// A buffer given back, else a new one from `make` while the pool allows, else the next
    /// one given back; `None` when the other thread is gone.
    pub fn take(&mut self, make: impl FnOnce() -> T) -> Option<T> {
        if let Ok(buffer) = self.returned.try_recv() {
            return Some(buffer);
        }
        if self.left > 0 {
            self.left -= 1;
            return Some(make());
        }
        self.returned.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_made_up_to_the_size_then_only_reused() {
        let (mut pool, give_back) = buffer_pool::<u32>(2);
        let mut pool_made = 0;
        let mut make = || {
            pool_made += 1;
            pool_made
        };
        assert_eq!(pool.take(&mut make), Some(1));
        assert_eq!(pool.take(&mut make), Some(2));
        give_back.send(1).unwrap();
        assert_eq!(pool.take(&mut make), Some(1));
        drop(give_back);
        assert_eq!(
            pool.take(&mut make),
            None,
            "all in use and nobody gives one back"
        );
        assert_eq!(pool_made, 2);
    }
}
