//! A pipe's buffer and its Linux semantics, without blocking.
//!
//! [`Pipe`] is a ring buffer of [`PIPE_CAPACITY`] bytes (changed by
//! `fcntl(F_SETPIPE_SZ)`, [`Pipe::resize`]) with counts of the open read and
//! write ends. [`Pipe::read`] and [`Pipe::write`] never wait:
//! they answer [`PipeRead::WouldBlock`] / [`PipeWrite::WouldBlock`] and the
//! kernel blocks the caller (or returns `EAGAIN` for `O_NONBLOCK`) and wakes
//! it when the other side moves. Rules (pipe(7)):
//! - a read of an empty pipe is end-of-file only once every write end is
//!   closed;
//! - a write with no read end open fails with `EPIPE` and raises SIGPIPE;
//! - a write of at most [`PIPE_BUF`] bytes is atomic: all of it or nothing;
//!   a larger one may be partial (the kernel then writes the rest later, or
//!   returns the count for `O_NONBLOCK`).
//!
//! Neighbours: the kernel's open-file layer (`pipe2`, `read`, `write`,
//! `poll`, `close`, `dup`, `fork`, which add and drop ends).

use alloc::vec::Vec;

/// Writes up to this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;
/// Bytes a pipe holds (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// The largest capacity an unprivileged process may set (Linux's default
/// /proc/sys/fs/pipe-max-size).
pub const PIPE_MAX_SIZE: usize = 1 << 20;
/// A page: capacities are whole pages.
const PAGE: usize = 4096;

/// Why [`Pipe::resize`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeResize {
    /// More than 2 GiB asked: `EINVAL`.
    TooLarge,
    /// Above [`PIPE_MAX_SIZE`] without privilege: `EPERM`.
    NotPermitted,
    /// The bytes in the pipe would not fit: `EBUSY`.
    Busy,
    /// The new ring could not be allocated: `ENOMEM`.
    NoMemory,
}

/// The outcome of [`Pipe::read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeRead {
    /// This many bytes were read (0 only for an empty buffer argument).
    Data(usize),
    /// Empty, and a writer could still write: block, or `EAGAIN`.
    WouldBlock,
    /// Empty, and no writer is left: read returns 0.
    Eof,
}

/// The outcome of [`Pipe::write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeWrite {
    /// This many bytes were written; fewer than asked only for a write of
    /// more than [`PIPE_BUF`] bytes.
    Wrote(usize),
    /// No room: none at all, or (for at most [`PIPE_BUF`] bytes) not enough
    /// for the whole write. Block, or `EAGAIN`.
    WouldBlock,
    /// No reader is left: `EPIPE`, and SIGPIPE to the writer.
    Broken,
    /// The ring could not be allocated: `ENOMEM` (as Linux's pipe_write
    /// when it gets no page).
    NoMemory,
}

/// One pipe: the bytes in flight and how many ends are open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipe {
    /// The ring; allocated at the first write, freed when no reader is left.
    ring: Vec<u8>,
    /// The ring's size, allocated or not.
    capacity: usize,
    /// Index of the oldest byte.
    head: usize,
    /// Bytes in the ring.
    len: usize,
    readers: usize,
    writers: usize,
    /// Opens of a FIFO's read and write sides so far: an opener that waits
    /// for the other side goes on once the other side's count changes.
    reader_opens: u64,
    writer_opens: u64,
    /// Bytes ever read and written: the positions AF_UNIX ancillary data
    /// (SCM_RIGHTS) is attached to.
    read_total: u64,
    written_total: u64,
    /// Ends opened, closed or resized so far (for `generation`).
    end_changes: u64,
    /// Whether poll, select, epoll or SIGIO ever looked at the pipe
    /// (Linux's `poll_usage`): from then on every read and write wakes its
    /// waiters, whose readiness tests (edge-triggered epoll counts bytes)
    /// may see any change.
    polled: bool,
}

impl Default for Pipe {
    fn default() -> Self {
        Self::new()
    }
}

impl Pipe {
    /// An empty pipe with one read end and one write end (`pipe2`).
    pub fn new() -> Self {
        Pipe { ring: Vec::new(), capacity: PIPE_CAPACITY, head: 0, len: 0, readers: 1, writers: 1, reader_opens: 0, writer_opens: 0, read_total: 0, written_total: 0, end_changes: 0, polled: false }
    }

    /// The pipe of a FIFO nobody has open yet.
    pub fn unopened() -> Self {
        Pipe { readers: 0, writers: 0, ..Pipe::new() }
    }

    /// A FIFO read open (counted at once, as Linux does, so that a writer
    /// that waits for a reader sees it). Returns what
    /// [`Pipe::fifo_reader_may_go`] needs.
    pub fn open_fifo_reader(&mut self) -> u64 {
        self.end_changes = self.end_changes.wrapping_add(1);
        self.readers += 1;
        self.reader_opens = self.reader_opens.wrapping_add(1);
        self.writer_opens
    }

    /// A FIFO write open; see [`Pipe::open_fifo_reader`].
    pub fn open_fifo_writer(&mut self) -> u64 {
        self.end_changes = self.end_changes.wrapping_add(1);
        self.writers += 1;
        self.writer_opens = self.writer_opens.wrapping_add(1);
        self.reader_opens
    }

    /// A blocking read open returns once a writer is there or has come
    /// (and perhaps gone) since `seen`.
    pub fn fifo_reader_may_go(&self, seen: u64) -> bool {
        self.writers > 0 || self.writer_opens != seen
    }

    /// A blocking write open returns once a reader is there or has come.
    pub fn fifo_writer_may_go(&self, seen: u64) -> bool {
        self.readers > 0 || self.reader_opens != seen
    }

    /// Copies up to `buf.len()` of the oldest bytes without taking them
    /// (`recv` with MSG_PEEK on a socket built on pipes).
    pub fn peek(&self, buf: &mut [u8]) -> PipeRead {
        if buf.is_empty() {
            return PipeRead::Data(0);
        }
        if self.len == 0 {
            return if self.writers == 0 { PipeRead::Eof } else { PipeRead::WouldBlock };
        }
        let count = buf.len().min(self.len);
        let first = count.min(self.capacity - self.head);
        buf[..first].copy_from_slice(&self.ring[self.head..self.head + first]);
        buf[first..count].copy_from_slice(&self.ring[..count - first]);
        PipeRead::Data(count)
    }

    /// Reads up to `buf.len()` bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> PipeRead {
        let count = match self.peek(buf) {
            PipeRead::Data(0) => return PipeRead::Data(0),
            PipeRead::Data(count) => count,
            other => return other,
        };
        self.head = (self.head + count) % self.capacity;
        self.len -= count;
        self.read_total += count as u64;
        if self.len == 0 {
            self.head = 0;
        }
        PipeRead::Data(count)
    }

    /// Writes `data`: all of it if at most [`PIPE_BUF`] bytes and there is
    /// room for all, else as much as fits (for a larger write). An empty
    /// write succeeds with 0 even without readers, as on Linux.
    pub fn write(&mut self, data: &[u8]) -> PipeWrite {
        if data.is_empty() {
            return PipeWrite::Wrote(0);
        }
        if self.readers == 0 {
            return PipeWrite::Broken;
        }
        let space = self.space();
        if space == 0 || (data.len() <= PIPE_BUF && space < data.len()) {
            return PipeWrite::WouldBlock;
        }
        if self.ring.is_empty() {
            let mut ring = Vec::new();
            if ring.try_reserve_exact(self.capacity).is_err() {
                return PipeWrite::NoMemory;
            }
            ring.resize(self.capacity, 0);
            self.ring = ring;
        }
        let count = data.len().min(space);
        let tail = (self.head + self.len) % self.capacity;
        let first = count.min(self.capacity - tail);
        self.ring[tail..tail + first].copy_from_slice(&data[..first]);
        self.ring[..count - first].copy_from_slice(&data[first..count]);
        self.len += count;
        self.written_total += count as u64;
        PipeWrite::Wrote(count)
    }

    /// Bytes read from the pipe since it was made.
    pub fn read_total(&self) -> u64 {
        self.read_total
    }

    /// Bytes written to the pipe since it was made.
    /// Changes every time something happens that a waiter may care about
    /// (bytes in or out, an end opened or closed): what an edge-triggered
    /// epoll entry compares against its last report.
    pub fn generation(&self) -> u64 {
        self.read_total.wrapping_add(self.written_total).wrapping_add(self.end_changes)
    }

    pub fn written_total(&self) -> u64 {
        self.written_total
    }

    /// The bytes the pipe can hold (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// `F_SETPIPE_SZ`: at least `requested` bytes, rounded as Linux does (up
    /// to a page, then to a power of two); above [`PIPE_MAX_SIZE`] only when
    /// `privileged`; never below the bytes waiting. Returns the new capacity.
    pub fn resize(&mut self, requested: u32, privileged: bool) -> Result<usize, PipeResize> {
        let requested = requested as usize;
        if requested > 1 << 31 {
            return Err(PipeResize::TooLarge);
        }
        let size = requested.max(PAGE).next_power_of_two();
        if size > PIPE_MAX_SIZE && size > self.capacity && !privileged {
            return Err(PipeResize::NotPermitted);
        }
        if self.len > size {
            return Err(PipeResize::Busy);
        }
        if !self.ring.is_empty() {
            let mut ring = Vec::new();
            if ring.try_reserve_exact(size).is_err() {
                return Err(PipeResize::NoMemory);
            }
            ring.resize(size, 0);
            let first = self.len.min(self.capacity - self.head);
            ring[..first].copy_from_slice(&self.ring[self.head..self.head + first]);
            ring[first..self.len].copy_from_slice(&self.ring[..self.len - first]);
            self.ring = ring;
            self.head = 0;
        }
        self.capacity = size;
        Ok(size)
    }

    /// Whether the ring is allocated (the next write needs none).
    pub fn has_buffer(&self) -> bool {
        !self.ring.is_empty()
    }

    /// A read end was duplicated (`dup`, `fork`).
    pub fn add_reader(&mut self) {
        self.end_changes = self.end_changes.wrapping_add(1);
        self.readers += 1;
    }

    /// A write end was duplicated (`dup`, `fork`).
    pub fn add_writer(&mut self) {
        self.end_changes = self.end_changes.wrapping_add(1);
        self.writers += 1;
    }

    /// A read end was closed. With none left, the buffered bytes can never
    /// be read and are dropped; writers now get [`PipeWrite::Broken`].
    pub fn drop_reader(&mut self) {
        self.end_changes = self.end_changes.wrapping_add(1);
        self.readers = self.readers.saturating_sub(1);
        if self.readers == 0 {
            self.ring = Vec::new();
            self.head = 0;
            self.len = 0;
        }
    }

    /// A write end was closed. With none left, readers get the buffered
    /// bytes, then [`PipeRead::Eof`].
    pub fn drop_writer(&mut self) {
        self.end_changes = self.end_changes.wrapping_add(1);
        self.writers = self.writers.saturating_sub(1);
    }

    /// Open read ends.
    pub fn readers(&self) -> usize {
        self.readers
    }

    /// Open write ends.
    pub fn writers(&self) -> usize {
        self.writers
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.len
    }

    /// Bytes that can be written now.
    pub fn space(&self) -> usize {
        self.capacity - self.len
    }

    /// Would a read not block (`POLLIN`, or `POLLHUP` when no writer is
    /// left)?
    pub fn readable(&self) -> bool {
        self.len > 0 || self.writers == 0
    }

    /// Would a write of [`PIPE_BUF`] bytes not block (`POLLOUT`, or
    /// `POLLERR` when no reader is left)?
    pub fn writable(&self) -> bool {
        self.space() >= PIPE_BUF || self.readers == 0
    }

    /// Records that a readiness test looked at the pipe (see
    /// [`Pipe::read_may_unblock`]).
    pub fn mark_polled(&mut self) {
        self.polled = true;
    }

    /// After a read that found `space_before` bytes free: may a thread
    /// blocked on the pipe go on now? As Linux's `pipe_read`, which wakes
    /// writers only when the pipe was full: a writer blocks only for want
    /// of room, at most [`PIPE_BUF`] bytes for an atomic write, and a
    /// reader only on an empty pipe. Always, once the pipe was polled.
    pub fn read_may_unblock(&self, space_before: usize) -> bool {
        self.polled || space_before < PIPE_BUF
    }

    /// After a write into a pipe that held `len_before` bytes: may a
    /// thread blocked on the pipe go on now? Readers block only on an
    /// empty pipe (Linux's `pipe_write` wakes them when it was empty), and
    /// a writer can not have been helped by another write. Always, once
    /// the pipe was polled.
    pub fn write_may_unblock(&self, len_before: usize) -> bool {
        self.polled || len_before == 0
    }

    /// Are both sides closed (the kernel can free the pipe)?
    pub fn is_unused(&self) -> bool {
        self.readers == 0 && self.writers == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn resize_rounds_as_linux_and_keeps_the_bytes_in_order() {
        let mut pipe = Pipe::new();
        assert_eq!(pipe.capacity(), PIPE_CAPACITY);
        assert_eq!(pipe.resize(0, false), Ok(4096), "below a page: a page");
        assert_eq!(pipe.resize(4097, false), Ok(8192), "up to a power of two");
        assert_eq!(pipe.resize(0x40000, false), Ok(0x40000));
        assert_eq!(pipe.resize(PIPE_MAX_SIZE as u32, false), Ok(PIPE_MAX_SIZE));
        assert_eq!(pipe.resize(PIPE_MAX_SIZE as u32 + 1, false), Err(PipeResize::NotPermitted));
        assert_eq!(pipe.resize(u32::MAX, true), Err(PipeResize::TooLarge));
        assert_eq!(pipe.capacity(), PIPE_MAX_SIZE, "a refusal changes nothing");
        // Wrapped contents survive a resize, in order.
        assert_eq!(pipe.resize(8192, false), Ok(8192));
        let data = pattern(6000, 7);
        assert_eq!(pipe.write(&data), PipeWrite::Wrote(6000));
        let mut buf = vec![0u8; 5000];
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(5000));
        assert_eq!(pipe.write(&data[..4000]), PipeWrite::Wrote(4000), "wraps around the 8 KiB ring");
        assert_eq!(pipe.resize(4096, false), Err(PipeResize::Busy), "5000 bytes do not fit a page");
        assert_eq!(pipe.resize(16384, false), Ok(16384));
        assert_eq!(pipe.space(), 16384 - 5000);
        let mut out = vec![0u8; 5000];
        assert_eq!(pipe.read(&mut out), PipeRead::Data(5000));
        assert_eq!(&out[..1000], &data[5000..]);
        assert_eq!(&out[1000..], &data[..4000]);
        // A small pipe fills at its size.
        let mut small = Pipe::new();
        assert_eq!(small.resize(4096, false), Ok(4096));
        assert_eq!(small.write(&pattern(10000, 1)), PipeWrite::Wrote(4096));
        assert_eq!(small.write(b"x"), PipeWrite::WouldBlock);
    }

    #[test]
    fn reads_and_writes_wake_only_when_a_waiter_may_go_on() {
        let mut p = Pipe::new();
        // Into an empty pipe: a reader may have waited.
        let before = p.available();
        assert_eq!(p.write(b"ab"), PipeWrite::Wrote(2));
        assert!(p.write_may_unblock(before));
        // Into a pipe with bytes: no reader waits on it.
        let before = p.available();
        assert_eq!(p.write(b"c"), PipeWrite::Wrote(1));
        assert!(!p.write_may_unblock(before));
        // Out of a pipe with room for PIPE_BUF: no writer waits on it.
        let mut buf = [0u8; 1];
        let space = p.space();
        assert_eq!(p.read(&mut buf), PipeRead::Data(1));
        assert!(!p.read_may_unblock(space));
        // Out of a pipe with less room than PIPE_BUF: an atomic writer may wait.
        let fill = alloc::vec![7u8; p.space() - (PIPE_BUF - 1)];
        assert_eq!(p.write(&fill), PipeWrite::Wrote(fill.len()));
        let space = p.space();
        assert!(space < PIPE_BUF);
        assert_eq!(p.read(&mut buf), PipeRead::Data(1));
        assert!(p.read_may_unblock(space));
        // Once polled, every read and write may matter.
        p.mark_polled();
        assert!(p.write_may_unblock(1));
        assert!(p.read_may_unblock(PIPE_CAPACITY));
    }

    #[test]
    fn bytes_come_out_in_order() {
        let mut pipe = Pipe::new();
        assert_eq!((pipe.readers(), pipe.writers()), (1, 1));
        assert_eq!(pipe.write(b"hello, "), PipeWrite::Wrote(7));
        assert_eq!(pipe.write(b"world"), PipeWrite::Wrote(5));
        assert_eq!(pipe.available(), 12);
        assert_eq!(pipe.space(), PIPE_CAPACITY - 12);
        let mut buf = [0u8; 5];
        assert_eq!(pipe.peek(&mut buf), PipeRead::Data(5));
        assert_eq!(&buf, b"hello");
        assert_eq!(pipe.available(), 12, "a peek takes nothing");
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(5));
        assert_eq!(&buf, b"hello");
        let mut rest = [0u8; 100];
        assert_eq!(pipe.read(&mut rest), PipeRead::Data(7));
        assert_eq!(&rest[..7], b", world");
        assert_eq!(pipe.read(&mut rest), PipeRead::WouldBlock);
        assert_eq!(pipe.read(&mut []), PipeRead::Data(0), "empty read");
        assert_eq!(pipe.write(&[]), PipeWrite::Wrote(0), "empty write");
    }

    #[test]
    fn the_ring_exists_from_the_first_write_on() {
        let mut pipe = Pipe::new();
        assert!(!pipe.has_buffer(), "a new pipe holds no memory");
        assert_eq!(pipe.write(b""), PipeWrite::Wrote(0));
        assert!(!pipe.has_buffer(), "an empty write allocates nothing");
        assert_eq!(pipe.write(b"x"), PipeWrite::Wrote(1));
        assert!(pipe.has_buffer());
    }

    #[test]
    fn eof_only_after_every_writer_is_gone() {
        let mut pipe = Pipe::new();
        pipe.add_writer();
        pipe.write(b"abc");
        pipe.drop_writer();
        assert!(pipe.readable());
        let mut buf = [0u8; 8];
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(3));
        assert_eq!(pipe.read(&mut buf), PipeRead::WouldBlock, "one writer left");
        assert!(!pipe.readable());
        pipe.write(b"de");
        pipe.drop_writer();
        assert_eq!(pipe.writers(), 0);
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(2), "data before EOF");
        assert_eq!(&buf[..2], b"de");
        assert_eq!(pipe.read(&mut buf), PipeRead::Eof);
        assert_eq!(pipe.peek(&mut buf), PipeRead::Eof);
        assert_eq!(pipe.read(&mut buf), PipeRead::Eof, "and stays at EOF");
        assert!(pipe.readable(), "POLLHUP");
        pipe.drop_writer();
        assert_eq!(pipe.writers(), 0, "no underflow");
    }

    #[test]
    fn fifo_opens_meet() {
        let mut fifo = Pipe::unopened();
        assert!(fifo.is_unused());
        let reader_seen = fifo.open_fifo_reader();
        assert!(!fifo.fifo_reader_may_go(reader_seen), "a reader waits for a writer");
        let writer_seen = fifo.open_fifo_writer();
        assert!(fifo.fifo_writer_may_go(writer_seen), "a reader is already there");
        assert!(fifo.fifo_reader_may_go(reader_seen));
        assert_eq!(fifo.write(b"hi"), PipeWrite::Wrote(2));
        // The writer comes and goes before the reader runs again: it still goes on.
        let mut fifo = Pipe::unopened();
        let seen = fifo.open_fifo_reader();
        let _ = fifo.open_fifo_writer();
        fifo.drop_writer();
        assert!(fifo.fifo_reader_may_go(seen));
        let mut buf = [0u8; 4];
        assert_eq!(fifo.read(&mut buf), PipeRead::Eof);
        // A writer alone waits.
        let mut fifo = Pipe::unopened();
        let seen = fifo.open_fifo_writer();
        assert!(!fifo.fifo_writer_may_go(seen));
        fifo.drop_writer();
        assert!(fifo.is_unused());
    }

    #[test]
    fn broken_without_readers() {
        let mut pipe = Pipe::new();
        pipe.add_reader();
        pipe.write(b"kept");
        pipe.drop_reader();
        assert_eq!(pipe.write(b"x"), PipeWrite::Wrote(1), "one reader left");
        pipe.drop_reader();
        assert_eq!(pipe.readers(), 0);
        assert_eq!(pipe.write(b"x"), PipeWrite::Broken);
        assert_eq!(pipe.write(&[0; 100_000]), PipeWrite::Broken);
        assert_eq!(pipe.available(), 0, "unreadable bytes dropped");
        assert!(pipe.writable(), "POLLERR wakes writers");
        assert!(!pipe.is_unused());
        pipe.drop_writer();
        assert!(pipe.is_unused());
    }

    #[test]
    fn small_writes_are_atomic() {
        let mut pipe = Pipe::new();
        assert_eq!(pipe.write(&vec![1; PIPE_CAPACITY - 100]), PipeWrite::Wrote(PIPE_CAPACITY - 100));
        assert_eq!(pipe.space(), 100);
        assert!(!pipe.writable(), "less than PIPE_BUF free");
        assert_eq!(pipe.write(&[2; 101]), PipeWrite::WouldBlock, "no partial small write");
        assert_eq!(pipe.write(&[2; PIPE_BUF]), PipeWrite::WouldBlock);
        assert_eq!(pipe.available(), PIPE_CAPACITY - 100, "nothing written");
        assert_eq!(pipe.write(&[2; 100]), PipeWrite::Wrote(100), "exact fit");
        assert_eq!(pipe.write(&[3; 1]), PipeWrite::WouldBlock, "full");
        let mut buf = vec![0; PIPE_BUF];
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(PIPE_BUF));
        assert!(pipe.writable());
        assert_eq!(pipe.write(&[4; PIPE_BUF]), PipeWrite::Wrote(PIPE_BUF), "PIPE_BUF exactly, all at once");
    }

    #[test]
    fn large_writes_may_be_partial() {
        let mut pipe = Pipe::new();
        let data = pattern(PIPE_CAPACITY + 5000, 7);
        assert_eq!(pipe.write(&data), PipeWrite::Wrote(PIPE_CAPACITY));
        assert_eq!(pipe.write(&data[PIPE_CAPACITY..]), PipeWrite::WouldBlock, "full");
        let mut buf = vec![0; 3000];
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(3000));
        assert_eq!(buf, data[..3000]);
        // 5000 > PIPE_BUF: takes the 3000 bytes of room.
        assert_eq!(pipe.write(&data[PIPE_CAPACITY..]), PipeWrite::Wrote(3000));
        let mut out = vec![0; PIPE_CAPACITY];
        assert_eq!(pipe.read(&mut out), PipeRead::Data(PIPE_CAPACITY));
        assert_eq!(out, data[3000..PIPE_CAPACITY + 3000]);
        assert_eq!(pipe.available(), 0);
    }

    #[test]
    fn wraparound_keeps_order() {
        let mut pipe = Pipe::new();
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut seed = 0u8;
        // Odd sizes so that head and tail cross the end of the ring often.
        for round in 0..200 {
            let chunk = pattern(1000 + round * 37 % 3000, seed);
            seed = seed.wrapping_add(1);
            match pipe.write(&chunk) {
                PipeWrite::Wrote(n) => expected.extend_from_slice(&chunk[..n]),
                other => panic!("{other:?}"),
            }
            let mut buf = vec![0; 1500 + round * 53 % 4000];
            if let PipeRead::Data(n) = pipe.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        let mut buf = vec![0; PIPE_CAPACITY];
        while let PipeRead::Data(n) = pipe.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        assert!(expected.len() > 4 * PIPE_CAPACITY, "wrapped several times");
        assert_eq!(got, expected);
    }

    #[test]
    fn write_across_the_end_of_the_ring() {
        let mut pipe = Pipe::new();
        pipe.write(&vec![0; PIPE_CAPACITY - 10]);
        let mut sink = vec![0; PIPE_CAPACITY - 20];
        assert_eq!(pipe.read(&mut sink), PipeRead::Data(PIPE_CAPACITY - 20));
        // 10 bytes left at the end; 30 more wrap to the start.
        let data = pattern(30, 99);
        assert_eq!(pipe.write(&data), PipeWrite::Wrote(30));
        let mut buf = [0u8; 40];
        assert_eq!(pipe.read(&mut buf), PipeRead::Data(40));
        assert_eq!(buf[..10], [0; 10]);
        assert_eq!(buf[10..], data[..]);
    }
}
