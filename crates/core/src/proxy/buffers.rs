//! Read buffers of sessions.
//!
//! An idle session holds no buffer: with thousands of idle pooled connections that is most of
//! the memory per connection. A busy request/response session goes idle after every reply, so
//! without help it would allocate and free two buffers per round trip. Buffers of the first
//! read's size therefore go back to a small per-thread pool when a session goes idle, and the
//! next read on that thread takes one from there. The pool is bounded (a few dozen buffers per
//! worker thread, whatever the number of connections); buffers that grew past the first size
//! are freed.

use std::cell::RefCell;

use bytes::BytesMut;

/// Read size once a buffer has filled up.
pub const READ_CHUNK: usize = 16 * 1024;
/// Size of the first read into an empty buffer.
/// 1 KiB: larger than almost every request and reply, and small enough for the allocator's
/// per-thread cache (a 4 KiB block is not).
pub const FIRST_READ: usize = 1024;
/// Buffers kept per thread. About the number of sessions one worker has mid-request at once
/// under load; at most 32 KiB per thread.
const POOL_SIZE: usize = 32;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A session's read buffer.
#[derive(Default)]
pub struct ReadBuf {
    bytes: BytesMut,
    /// Grown past [`FIRST_READ`]: freed rather than pooled.
    grown: bool,
}

impl std::ops::Deref for ReadBuf {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.bytes
    }
}

impl std::ops::DerefMut for ReadBuf {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.bytes
    }
}

impl ReadBuf {
    /// Room for the next read: small at first (most requests and replies are), more while
    /// reads keep filling the buffer.
    pub fn reserve_for_read(&mut self) {
        if self.bytes.capacity() == 0 {
            if let Some(b) = POOL.with(|p| p.borrow_mut().pop()) {
                self.bytes = b;
            }
        }
        if self.bytes.capacity() - self.bytes.len() >= 512 {
            return;
        }
        if self.bytes.is_empty() {
            // A fresh or pooled buffer; a pooled one gets its whole block back in place.
            self.bytes.reserve(FIRST_READ);
        } else {
            self.bytes.reserve(READ_CHUNK);
            self.grown = true;
        }
    }

    /// Give an empty buffer's memory back: to the pool, or to the allocator.
    pub fn release(&mut self) {
        if !self.bytes.is_empty() || self.bytes.capacity() == 0 {
            return;
        }
        let b = std::mem::take(&mut self.bytes);
        if std::mem::take(&mut self.grown) {
            return;
        }
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_SIZE {
                p.push(b);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_in_place_and_big_ones_are_freed() {
        let mut a = ReadBuf::default();
        a.reserve_for_read();
        assert!(a.capacity() >= FIRST_READ);
        a.extend_from_slice(b"+OK\r\n");
        let block = a.as_ptr();
        let _ = a.split_to(5).freeze();
        a.release();
        assert_eq!(a.capacity(), 0, "an idle session holds no buffer");

        // The next read on this thread gets the same block back.
        let mut b = ReadBuf::default();
        b.reserve_for_read();
        assert!((b.as_ptr() as usize).wrapping_sub(block as usize) < FIRST_READ);
        assert!(b.capacity() >= 512);

        // A buffer that grew is not pooled.
        b.extend_from_slice(&[b'x'; FIRST_READ - 100]);
        b.reserve_for_read();
        assert!(b.capacity() >= READ_CHUNK);
        b.clear();
        b.release();
        let pooled = POOL.with(|p| p.borrow().iter().any(|x| x.capacity() >= READ_CHUNK));
        assert!(!pooled);
    }
}
