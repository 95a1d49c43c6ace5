//! Where AF_UNIX ancillary data (SCM_RIGHTS files, SCM_CREDENTIALS) sits in
//! a connected socket's byte stream: each item is attached to the bytes one
//! sendmsg put in the pipe, by the pipe's running byte counts, so that it
//! arrives with exactly that data (Linux keeps it in the data's skb).

use alloc::collections::VecDeque;

/// One sendmsg's ancillary data and the pipe positions `start..end` of the
/// bytes it came with (`start == end` for an empty datagram).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<T> {
    pub start: u64,
    pub end: u64,
    pub item: T,
}

/// The records of one direction of a connected pair, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue<T> {
    records: VecDeque<Record<T>>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { records: VecDeque::new() }
    }
}

/// What a receive at some position may take.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a, T> {
    /// No record ahead: read as much as wanted.
    Free,
    /// Plain bytes up to a record `n` bytes ahead: read at most `n`.
    Before(u64),
    /// A record starts here: it comes with at most its bytes.
    Here(&'a Record<T>),
}

impl<T> Queue<T> {
    /// Attaches `item` to the bytes `start..end` just written; an item
    /// `merges` with the previous one if they are adjacent and alike
    /// (credentials only), as Linux merges such skbs in a stream read.
    pub fn push(&mut self, start: u64, end: u64, item: T, merges: impl Fn(&T, &T) -> bool) {
        if let Some(last) = self.records.back_mut()
            && last.end == start
            && start < end
            && last.start < last.end
            && merges(&last.item, &item)
        {
            last.end = end;
            return;
        }
        self.records.push_back(Record { start, end, item });
    }

    /// Drops what reads that passed over it left behind (a read(2) takes
    /// bytes but no ancillary data: Linux closes such files). Returns the
    /// dropped items.
    pub fn discard_before(&mut self, position: u64) -> VecDeque<T> {
        let mut dropped = VecDeque::new();
        while self.records.front().is_some_and(|r| r.start < position) {
            if let Some(r) = self.records.pop_front() {
                dropped.push_back(r.item);
            }
        }
        dropped
    }

    /// What a receive starting at `position` meets first.
    pub fn next(&self, position: u64) -> Next<'_, T> {
        match self.records.front() {
            None => Next::Free,
            Some(r) if r.start > position => Next::Before(r.start - position),
            Some(r) => Next::Here(r),
        }
    }

    /// Takes the record starting at `position` after a receive consumed
    /// `consumed` of its bytes (or its empty datagram). An item that
    /// `splits` (credentials only) stays with the bytes still unread.
    pub fn take(&mut self, position: u64, consumed: u64, splits: impl Fn(&T) -> bool) -> Option<T>
    where
        T: Clone,
    {
        let front = self.records.front_mut().filter(|r| r.start == position)?;
        let rest = position.saturating_add(consumed);
        if rest < front.end && splits(&front.item) {
            front.start = rest;
            return Some(front.item.clone());
        }
        self.records.pop_front().map(|r| r.item)
    }

    /// How far a stream receive at `position` may read, as Linux's
    /// `unix_stream_read_generic`: to the end of the first record whose
    /// item `stops_after` it (files), or to the start of a record that
    /// `breaks` from the first one read (other credentials, under
    /// SO_PASSCRED). None: no limit.
    pub fn span(&self, position: u64, stops_after: impl Fn(&T) -> bool, breaks: impl Fn(&T, &T) -> bool) -> Option<u64> {
        let mut first: Option<&T> = None;
        for r in self.records.iter().filter(|r| r.start >= position || r.end > position) {
            if let Some(f) = first
                && breaks(f, &r.item)
            {
                return Some(r.start.saturating_sub(position));
            }
            first = first.or(Some(&r.item));
            if stops_after(&r.item) {
                return Some(r.end.saturating_sub(position));
            }
        }
        None
    }

    /// The records a stream receive of `n` bytes at `position` reached
    /// (starting before `position + n`), oldest first, taken out unless an
    /// item `splits` and bytes of it are left, which then stay with it.
    pub fn consume(&mut self, position: u64, n: u64, splits: impl Fn(&T) -> bool) -> alloc::vec::Vec<Record<T>>
    where
        T: Clone,
    {
        let end = position.saturating_add(n);
        let mut out = alloc::vec::Vec::new();
        while let Some(front) = self.records.front_mut() {
            if front.start >= end {
                break;
            }
            if front.end > end && splits(&front.item) {
                out.push(front.clone());
                front.start = end;
                break;
            }
            if let Some(r) = self.records.pop_front() {
                out.push(r);
            }
        }
        out
    }

    /// The records a receive of `n` bytes at `position` would reach.
    pub fn reached(&self, position: u64, n: u64) -> impl Iterator<Item = &Record<T>> {
        let end = position.saturating_add(n);
        self.records.iter().take_while(move |r| r.start < end)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &u32, b: &u32) -> bool {
        a == b && *a < 100
    }

    #[test]
    fn records_sit_at_their_bytes() {
        let mut q = Queue::default();
        q.push(0, 10, 1, same);
        q.push(10, 20, 2, same);
        assert_eq!(q.next(0), Next::Here(&Record { start: 0, end: 10, item: 1 }));
        assert_eq!(q.take(0, 3, |_| true), Some(1));
        assert_eq!(q.next(3), Next::Here(&Record { start: 3, end: 10, item: 1 }));
        assert_eq!(q.take(3, 7, |_| true), Some(1));
        assert_eq!(q.take(3, 1, |_| true), None);
        assert_eq!(q.next(10), Next::Here(&Record { start: 10, end: 20, item: 2 }));
    }

    #[test]
    fn alike_adjacent_items_merge_others_do_not() {
        let mut q = Queue::default();
        q.push(0, 5, 1, same);
        q.push(5, 9, 1, same);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next(0), Next::Here(&Record { start: 0, end: 9, item: 1 }));
        // Files (here: >= 100) never merge, nor gaps, nor empty datagrams.
        q.push(9, 12, 100, same);
        q.push(12, 14, 100, same);
        q.push(20, 22, 1, same);
        q.push(22, 22, 1, same);
        assert_eq!(q.len(), 5);
        // Files go whole with the first bytes read.
        assert_eq!(q.take(0, 9, |_| false), Some(1));
        assert_eq!(q.next(9), Next::Here(&Record { start: 9, end: 12, item: 100 }));
        assert_eq!(q.take(9, 1, |i| *i < 100), Some(100));
        assert_eq!(q.next(10), Next::Before(2));
    }

    #[test]
    fn a_stream_read_spans_to_the_end_of_files() {
        let files = |i: &u32| *i >= 100;
        let mut q = Queue::default();
        q.push(0, 3, 1, same);
        q.push(3, 6, 100, same);
        q.push(6, 9, 1, same);
        // Reads through plain bytes into the files' bytes, stops after them.
        assert_eq!(q.span(0, files, |_, _| false), Some(6));
        // Under SO_PASSCRED another sender's bytes break the read.
        q.push(9, 12, 2, same);
        assert_eq!(q.span(6, |_| false, |a, b| a != b), Some(3));
        let got = q.consume(0, 4, |i| *i < 100);
        assert_eq!(got.iter().map(|r| r.item).collect::<alloc::vec::Vec<_>>(), [1, 100]);
        assert_eq!(q.next(4), Next::Before(2));
        assert_eq!(q.reached(4, 3).count(), 1);
        let got = q.consume(4, 5, |i| *i < 100);
        assert_eq!(got.len(), 1);
        assert_eq!(q.next(9), Next::Here(&Record { start: 9, end: 12, item: 2 }));
        let got = q.consume(9, 1, |i| *i < 100);
        assert_eq!(got[0].item, 2);
        assert_eq!(q.next(10), Next::Here(&Record { start: 10, end: 12, item: 2 }));
    }

    #[test]
    fn reads_that_passed_drop_records() {
        let mut q = Queue::default();
        q.push(0, 4, 100, same);
        q.push(4, 8, 101, same);
        q.push(8, 8, 102, same);
        assert_eq!(q.discard_before(5).into_iter().collect::<alloc::vec::Vec<_>>(), alloc::vec![100, 101]);
        assert_eq!(q.discard_before(8).len(), 0);
        assert_eq!(q.take(8, 0, |_| true), Some(102));
        assert!(q.is_empty());
        assert_eq!(q.next(8), Next::Free);
    }
}
