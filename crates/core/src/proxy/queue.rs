//! A FIFO queue whose first entry lives inline.
//!
//! A session's queues (complete requests not yet forwarded, replies still expected) hold zero
//! or one entry almost all the time. A `VecDeque` would allocate on the first push and keep
//! that block for the life of the connection; here a session that never pipelines never
//! allocates, and [`Queue::shrink_if_empty`] gives a pipelining session's block back once it
//! goes idle.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct Queue<T> {
    /// The oldest entry. `None` means the queue is empty: `rest` is then empty too.
    first: Option<T>,
    rest: VecDeque<T>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            first: None,
            rest: VecDeque::new(),
        }
    }
}

impl<T> Queue<T> {
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub fn push_back(&mut self, value: T) {
        if self.first.is_none() {
            self.first = Some(value);
        } else {
            self.rest.push_back(value);
        }
    }

    pub fn pop_front(&mut self) -> Option<T> {
        let value = self.first.take()?;
        self.first = self.rest.pop_front();
        Some(value)
    }

    pub fn pop_back(&mut self) -> Option<T> {
        match self.rest.pop_back() {
            Some(v) => Some(v),
            None => self.first.take(),
        }
    }

    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.first.as_mut()
    }

    pub fn back_mut(&mut self) -> Option<&mut T> {
        match self.rest.back_mut() {
            Some(v) => Some(v),
            None => self.first.as_mut(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.first.iter().chain(self.rest.iter())
    }

    /// Remove every entry, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.first.take().into_iter().chain(self.rest.drain(..))
    }

    pub fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }

    /// Free the overflow block of an empty queue (a session going idle keeps no heap memory).
    pub fn shrink_if_empty(&mut self) {
        if self.first.is_none() && self.rest.capacity() > 0 {
            self.rest = VecDeque::new();
        }
    }

    #[cfg(test)]
    fn heap_capacity(&self) -> usize {
        self.rest.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queue behaves like a VecDeque under every interleaving of the operations used.
    #[test]
    fn matches_a_vecdeque() {
        let mut q = Queue::default();
        let mut model = VecDeque::new();
        // A fixed pseudo-random walk over push / pop / mutate-front / mutate-back / drain.
        let mut x: u32 = 12345;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 7 {
                0..=2 => {
                    q.push_back(i);
                    model.push_back(i);
                }
                3 | 4 => assert_eq!(q.pop_front(), model.pop_front()),
                5 => {
                    if let Some(v) = q.front_mut() {
                        *v += 1;
                    }
                    if let Some(v) = model.front_mut() {
                        *v += 1;
                    }
                    if let Some(v) = q.back_mut() {
                        *v += 2;
                    }
                    if let Some(v) = model.back_mut() {
                        *v += 2;
                    }
                }
                _ if i % 97 == 0 => {
                    let a: Vec<u32> = q.drain().collect();
                    let b: Vec<u32> = model.drain(..).collect();
                    assert_eq!(a, b);
                }
                _ => {}
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.is_empty(), model.is_empty());
            assert!(q.iter().eq(model.iter()));
        }
        q.clear();
        assert!(q.is_empty() && q.iter().next().is_none());
    }

    #[test]
    fn one_entry_at_a_time_never_allocates_and_idle_gives_memory_back() {
        let mut q = Queue::default();
        for i in 0..100 {
            q.push_back(i);
            assert_eq!(q.pop_front(), Some(i));
        }
        assert_eq!(q.heap_capacity(), 0);
        for i in 0..16 {
            q.push_back(i);
        }
        assert!(q.heap_capacity() > 0);
        q.shrink_if_empty();
        assert!(q.heap_capacity() > 0, "not empty: nothing freed");
        assert_eq!(q.drain().count(), 16);
        q.shrink_if_empty();
        assert_eq!(q.heap_capacity(), 0);
    }
}
