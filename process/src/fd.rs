//! File-descriptor tables with Linux semantics: lowest free number first,
//! a close-on-exec bit per descriptor, `dup`/`dup2`/`dup3`/`F_DUPFD`, and
//! the process's `RLIMIT_NOFILE` soft limit.
//!
//! The table is generic over what a descriptor refers to (the kernel's open
//! file description, typically a reference-counted handle): `F: Clone` so
//! that `dup` and `fork` can share it. Dropping an `F` is closing it.
//!
//! Descriptors are kept in a map, not a vector indexed by fd, so that
//! `dup2(0, 1048575)` costs one entry rather than a megabyte-sized array.
//! New descriptors must be below the table's limit (the soft
//! `RLIMIT_NOFILE`, set by the owner through [`FdTable::set_limit`]);
//! descriptors opened before the limit was lowered stay usable, as in Linux.
#![warn(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use syscall::Errno;

/// The kernel's ceiling on `RLIMIT_NOFILE` (Linux's `fs.nr_open` default,
/// 1048576): fds are `0..NR_OPEN`, and no limit may be raised above it.
pub const NR_OPEN: usize = 1 << 20;

/// The default `RLIMIT_NOFILE` soft limit (Linux's `INR_OPEN_CUR`).
pub const DEFAULT_NOFILE: usize = 1024;

/// Most descriptors any table can hold: fds are `0..MAX_FDS` (= [`NR_OPEN`]).
pub const MAX_FDS: usize = NR_OPEN;

/// Checks that `fd` could name a descriptor at all (`0..NR_OPEN`),
/// returning it as an index; `EBADF` otherwise.
pub fn check_range(fd: i32) -> Result<usize, Errno> {
    match usize::try_from(fd) {
        Ok(index) if index < NR_OPEN => Ok(index),
        _ => Err(Errno::EBADF),
    }
}

#[derive(Clone, Debug)]
struct Entry<F> {
    file: F,
    cloexec: bool,
}

/// A process's descriptors. `Clone` is what `fork` does (the limit is
/// inherited with them).
#[derive(Clone, Debug)]
pub struct FdTable<F: Clone> {
    /// Open descriptors by number (each below [`NR_OPEN`]).
    entries: BTreeMap<usize, Entry<F>>,
    /// New descriptors must be below this (the soft `RLIMIT_NOFILE`,
    /// at most [`NR_OPEN`]).
    limit: usize,
}

impl<F: Clone> Default for FdTable<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Clone> FdTable<F> {
    /// Most descriptors a table holds (see [`MAX_FDS`]).
    pub const MAX_FDS: usize = MAX_FDS;

    /// An empty table with the default limit ([`DEFAULT_NOFILE`]).
    pub const fn new() -> Self {
        FdTable { entries: BTreeMap::new(), limit: DEFAULT_NOFILE }
    }

    /// `fd` as an index if it is in `0..NR_OPEN`, else `EBADF`. Same as
    /// the free function [`check_range`].
    pub fn check_range(fd: i32) -> Result<usize, Errno> {
        check_range(fd)
    }

    /// The limit new descriptors must stay below.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit from a soft `RLIMIT_NOFILE` (clamped to [`NR_OPEN`];
    /// `RLIM_INFINITY` is `NR_OPEN`). Open descriptors above it stay open.
    pub fn set_limit(&mut self, soft_limit: u64) {
        self.limit = usize::try_from(soft_limit).map_or(NR_OPEN, |limit| limit.min(NR_OPEN));
    }

    /// Linux's `max_fds` as `select` sees it: the size of the descriptor
    /// array, a power of two (at least 64) above the highest open fd.
    /// `select` ignores bits at or above it.
    pub fn capacity(&self) -> usize {
        let highest = self.entries.keys().next_back().map_or(0, |&fd| fd.saturating_add(1));
        highest.next_power_of_two().clamp(64, NR_OPEN)
    }

    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No descriptor open?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&self, fd: i32) -> Result<&Entry<F>, Errno> {
        let index = check_range(fd)?;
        self.entries.get(&index).ok_or(Errno::EBADF)
    }

    fn entry_mut(&mut self, fd: i32) -> Result<&mut Entry<F>, Errno> {
        let index = check_range(fd)?;
        self.entries.get_mut(&index).ok_or(Errno::EBADF)
    }

    /// The file of `fd`; `EBADF` if it is not open.
    pub fn get(&self, fd: i32) -> Result<&F, Errno> {
        self.entry(fd).map(|entry| &entry.file)
    }

    /// The file of `fd`, mutably; `EBADF` if it is not open.
    pub fn get_mut(&mut self, fd: i32) -> Result<&mut F, Errno> {
        self.entry_mut(fd).map(|entry| &mut entry.file)
    }

    /// Is `fd` open?
    pub fn contains(&self, fd: i32) -> bool {
        self.entry(fd).is_ok()
    }

    /// The lowest free fd at or above `min`, if it is below the limit. Walks
    /// the open descriptors from `min` on: at most `limit` steps.
    fn lowest_free(&self, min: usize) -> Option<usize> {
        let mut want = min;
        for &fd in self.entries.range(min..).map(|(fd, _)| fd) {
            if fd != want {
                break;
            }
            want = want.saturating_add(1);
        }
        (want < self.limit).then_some(want)
    }

    /// Puts `entry` at `index` (< NR_OPEN), returning what was there.
    fn put(&mut self, index: usize, entry: Entry<F>) -> Option<F> {
        self.entries.insert(index, entry).map(|old| old.file)
    }

    /// Opens `file` at the lowest free fd; `EMFILE` when every fd below the
    /// limit is taken (the file is then dropped).
    pub fn insert(&mut self, file: F, cloexec: bool) -> Result<i32, Errno> {
        self.insert_at_or_above(0, file, cloexec)
    }

    /// Opens `file` at the lowest free fd `>= min_fd` (`F_DUPFD`): `EINVAL`
    /// if `min_fd` is negative or not below the limit, `EMFILE` if no fd is
    /// free between it and the limit.
    pub fn insert_from(&mut self, min_fd: i32, file: F, cloexec: bool) -> Result<i32, Errno> {
        let min = usize::try_from(min_fd).map_err(|_| Errno::EINVAL)?;
        if min >= self.limit {
            return Err(Errno::EINVAL);
        }
        self.insert_at_or_above(min, file, cloexec)
    }

    fn insert_at_or_above(&mut self, min: usize, file: F, cloexec: bool) -> Result<i32, Errno> {
        let index = self.lowest_free(min).ok_or(Errno::EMFILE)?;
        let fd = i32::try_from(index).map_err(|_| Errno::EMFILE)?;
        self.put(index, Entry { file, cloexec });
        Ok(fd)
    }

    /// Checks a `dup2`/`dup3` target: `EBADF` unless it is in `0..limit`.
    pub fn check_target(&self, fd: i32) -> Result<usize, Errno> {
        match usize::try_from(fd) {
            Ok(index) if index < self.limit => Ok(index),
            _ => Err(Errno::EBADF),
        }
    }

    /// Opens `file` at exactly `fd` (the target of `dup2`), returning the
    /// file it replaces, which the caller closes. `fd` must have passed
    /// [`FdTable::check_target`]; if it is out of range nothing is
    /// installed and `file` is handed back as if replaced.
    pub fn install(&mut self, fd: i32, file: F, cloexec: bool) -> Option<F> {
        match self.check_target(fd) {
            Ok(index) => self.put(index, Entry { file, cloexec }),
            Err(_) => Some(file),
        }
    }

    /// Closes `fd`, returning its file; `EBADF` if it is not open.
    pub fn remove(&mut self, fd: i32) -> Result<F, Errno> {
        let index = check_range(fd)?;
        self.entries.remove(&index).map(|entry| entry.file).ok_or(Errno::EBADF)
    }

    /// The close-on-exec bit of `fd` (`F_GETFD`).
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.entry(fd).map(|entry| entry.cloexec)
    }

    /// Sets the close-on-exec bit of `fd` (`F_SETFD`, `FIOCLEX`, `FIONCLEX`).
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        self.entry_mut(fd)?.cloexec = cloexec;
        Ok(())
    }

    /// `dup`: a copy of `fd` at the lowest free fd, close-on-exec clear.
    pub fn dup(&mut self, fd: i32) -> Result<i32, Errno> {
        let file = self.get(fd)?.clone();
        self.insert(file, false)
    }

    /// `F_DUPFD`/`F_DUPFD_CLOEXEC`: a copy of `fd` at the lowest free fd
    /// `>= min_fd` (`EBADF` for a bad `fd`, then `EINVAL`/`EMFILE` as
    /// [`FdTable::insert_from`]).
    pub fn dup_from(&mut self, fd: i32, min_fd: i32, cloexec: bool) -> Result<i32, Errno> {
        let file = self.get(fd)?.clone();
        self.insert_from(min_fd, file, cloexec)
    }

    /// Makes `new` a copy of `old` and returns the file `new` held before, if
    /// any (for callers that close it explicitly). `old == new` is allowed
    /// here and only updates the close-on-exec bit. Errors: `EBADF` if
    /// `new` is not below the limit or `old` is not open.
    pub fn dup_to(&mut self, old: i32, new: i32, cloexec: bool) -> Result<Option<F>, Errno> {
        self.check_target(new)?;
        let file = self.get(old)?.clone();
        Ok(self.install(new, file, cloexec))
    }

    /// `dup2`: as `dup3(old, new, false)`, except that `old == new` returns
    /// `new` (if `old` is open, else `EBADF`) and changes nothing.
    pub fn dup2(&mut self, old: i32, new: i32) -> Result<i32, Errno> {
        if old == new {
            self.entry(old)?;
            return Ok(new);
        }
        self.dup3(old, new, false)
    }

    /// `dup3`: makes `new` a copy of `old` with the given close-on-exec bit,
    /// closing what `new` held (the replaced file is dropped). `EINVAL` if
    /// `old == new`; `EBADF` if `new` is not below the limit or `old` not open.
    pub fn dup3(&mut self, old: i32, new: i32, cloexec: bool) -> Result<i32, Errno> {
        if old == new {
            return Err(Errno::EINVAL);
        }
        drop(self.dup_to(old, new, cloexec)?);
        Ok(new)
    }

    /// `close_range(first, last, 0)`: closes every open descriptor in
    /// `first..=last` and returns their files (in fd order). Numbers past
    /// the table are simply absent, so `last == u32::MAX` is fine.
    pub fn close_range(&mut self, first: u32, last: u32) -> Vec<F> {
        let (first, last) = (first as usize, last as usize);
        let doomed: Vec<usize> = self.entries.range(first..=last).map(|(&fd, _)| fd).collect();
        doomed.into_iter().filter_map(|fd| self.entries.remove(&fd)).map(|entry| entry.file).collect()
    }

    /// `close_range(first, last, CLOSE_RANGE_CLOEXEC)`: sets close-on-exec
    /// on every open descriptor in `first..=last`, closing none.
    pub fn set_cloexec_range(&mut self, first: u32, last: u32) {
        for (_, entry) in self.entries.range_mut(first as usize..=last as usize) {
            entry.cloexec = true;
        }
    }

    /// At `execve`: closes the close-on-exec descriptors and returns their
    /// files, in increasing fd order.
    pub fn close_on_exec(&mut self) -> Vec<F> {
        let doomed: Vec<usize> = self.entries.iter().filter(|(_, entry)| entry.cloexec).map(|(&fd, _)| fd).collect();
        doomed.into_iter().filter_map(|fd| self.entries.remove(&fd)).map(|entry| entry.file).collect()
    }

    /// Closes every descriptor (process exit), returning the files.
    pub fn clear(&mut self) -> Vec<F> {
        core::mem::take(&mut self.entries).into_values().map(|entry| entry.file).collect()
    }

    /// The open descriptors and their files, in increasing fd order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &F)> {
        // Keys are below NR_OPEN, which fits an i32.
        self.entries.iter().map(|(&fd, entry)| (i32::try_from(fd).unwrap_or(i32::MAX), &entry.file))
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::rc::Rc;
    use alloc::string::String;
    use alloc::vec;

    type Table = FdTable<&'static str>;

    fn fds(table: &Table) -> Vec<(i32, &'static str)> {
        table.iter().map(|(fd, &file)| (fd, file)).collect()
    }

    #[test]
    fn close_range_closes_or_marks_only_the_range() {
        let mut table: FdTable<u32> = FdTable::new();
        for file in 0..6 {
            table.insert(file, false).unwrap();
        }
        assert_eq!(table.close_range(1, 2), vec![1, 2]);
        assert!(table.contains(0) && !table.contains(1) && !table.contains(2) && table.contains(3));
        assert_eq!(table.close_range(2, 2), Vec::<u32>::new());
        table.set_cloexec_range(4, u32::MAX);
        assert_eq!(table.cloexec(3), Ok(false));
        assert_eq!(table.cloexec(4), Ok(true));
        assert_eq!(table.cloexec(5), Ok(true));
        assert_eq!(table.close_range(3, u32::MAX), vec![3, 4, 5]);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn insert_takes_the_lowest_free_fd() {
        let mut table = Table::new();
        assert!(table.is_empty());
        assert_eq!(table.insert("stdin", false), Ok(0));
        assert_eq!(table.insert("stdout", false), Ok(1));
        assert_eq!(table.insert("stderr", true), Ok(2));
        assert_eq!(table.len(), 3);
        assert_eq!(table.remove(1), Ok("stdout"));
        assert_eq!(table.insert("a", false), Ok(1));
        assert_eq!(table.insert("b", false), Ok(3));
        assert_eq!(fds(&table), vec![(0, "stdin"), (1, "a"), (2, "stderr"), (3, "b")]);
        assert_eq!(table.get(2), Ok(&"stderr"));
        *table.get_mut(3).unwrap() = "c";
        assert_eq!(table.get(3), Ok(&"c"));
        assert!(table.contains(0) && !table.contains(4));
    }

    #[test]
    fn bad_descriptors() {
        let mut table = Table::new();
        table.insert("x", false).unwrap();
        for fd in [-1, 1, 5, 1023, 1024, i32::MAX, i32::MIN] {
            assert_eq!(table.get(fd), Err(Errno::EBADF), "{fd}");
            assert_eq!(table.remove(fd), Err(Errno::EBADF), "{fd}");
            assert_eq!(table.cloexec(fd), Err(Errno::EBADF), "{fd}");
            assert_eq!(table.set_cloexec(fd, true), Err(Errno::EBADF), "{fd}");
            assert_eq!(table.dup(fd), Err(Errno::EBADF), "{fd}");
        }
        assert_eq!(table.remove(0), Ok("x"));
        assert_eq!(table.remove(0), Err(Errno::EBADF), "closed twice");
        assert_eq!(check_range(0), Ok(0));
        assert_eq!(check_range(1024), Ok(1024));
        assert_eq!(check_range(NR_OPEN as i32 - 1), Ok(NR_OPEN - 1));
        assert_eq!(check_range(NR_OPEN as i32), Err(Errno::EBADF));
        assert_eq!(check_range(-1), Err(Errno::EBADF));
        assert_eq!(Table::check_range(7), Ok(7));
        assert_eq!(Table::MAX_FDS, 1 << 20);
    }

    #[test]
    fn full_table_is_emfile() {
        let mut table = Table::new();
        assert_eq!(table.limit(), DEFAULT_NOFILE);
        for fd in 0..DEFAULT_NOFILE as i32 {
            assert_eq!(table.insert("f", false), Ok(fd));
        }
        assert_eq!(table.len(), DEFAULT_NOFILE);
        assert_eq!(table.insert("g", false), Err(Errno::EMFILE));
        assert_eq!(table.dup(0), Err(Errno::EMFILE));
        table.remove(500).unwrap();
        assert_eq!(table.insert_from(501, "g", false), Err(Errno::EMFILE));
        assert_eq!(table.insert_from(10, "g", false), Ok(500));
    }

    #[test]
    fn the_limit_bounds_new_descriptors_only() {
        let mut table = Table::new();
        for _ in 0..10 {
            table.insert("f", false).unwrap();
        }
        table.set_limit(5);
        assert_eq!(table.limit(), 5);
        // Open descriptors above the limit stay usable and closable.
        assert_eq!(table.get(9), Ok(&"f"));
        assert_eq!(table.cloexec(9), Ok(false));
        assert_eq!(table.insert("g", false), Err(Errno::EMFILE));
        assert_eq!(table.dup(0), Err(Errno::EMFILE));
        // dup2/dup3 targets at or above the limit: EBADF, as Linux.
        assert_eq!(table.dup2(0, 5), Err(Errno::EBADF));
        assert_eq!(table.dup3(0, 9, false), Err(Errno::EBADF));
        assert_eq!(table.dup2(9, 4), Ok(4));
        // F_DUPFD: EINVAL at or above the limit, EMFILE when full below it.
        assert_eq!(table.dup_from(0, 5, false), Err(Errno::EINVAL));
        assert_eq!(table.dup_from(0, 4, false), Err(Errno::EMFILE));
        table.remove(3).unwrap();
        assert_eq!(table.dup_from(0, 1, false), Ok(3));
        assert_eq!(table.remove(9), Ok("f"));
        // Raising it again; infinity and huge values clamp to NR_OPEN.
        table.set_limit(u64::MAX);
        assert_eq!(table.limit(), NR_OPEN);
        table.set_limit(1 << 40);
        assert_eq!(table.limit(), NR_OPEN);
        assert_eq!(table.insert("h", false), Ok(9));
        // The last fd NR_OPEN allows costs one entry, not an array that large.
        let last = NR_OPEN as i32 - 1;
        assert_eq!(table.dup2(0, last), Ok(last));
        assert_eq!(table.dup2(0, last + 1), Err(Errno::EBADF));
        assert_eq!(table.insert_from(last, "i", false), Err(Errno::EMFILE));
        assert_eq!(table.capacity(), NR_OPEN);
        // Forked tables inherit the limit.
        table.set_limit(7);
        assert_eq!(table.clone().limit(), 7);
    }

    #[test]
    fn capacity_is_what_select_scans() {
        let mut table = Table::new();
        assert_eq!(table.capacity(), 64);
        table.insert("a", false).unwrap();
        assert_eq!(table.capacity(), 64);
        table.dup2(0, 64).unwrap();
        assert_eq!(table.capacity(), 128);
        table.dup2(0, 1000).unwrap();
        assert_eq!(table.capacity(), 1024);
        table.remove(1000).unwrap();
        assert_eq!(table.capacity(), 128);
    }

    #[test]
    fn insert_from_is_f_dupfd() {
        let mut table = Table::new();
        table.insert("a", false).unwrap();
        assert_eq!(table.insert_from(10, "b", true), Ok(10));
        assert_eq!(table.insert_from(10, "c", false), Ok(11));
        assert_eq!(table.insert_from(0, "d", false), Ok(1));
        assert_eq!(table.insert_from(-1, "e", false), Err(Errno::EINVAL));
        assert_eq!(table.insert_from(1024, "e", false), Err(Errno::EINVAL), "at the limit");
        assert_eq!(table.insert_from(1023, "e", false), Ok(1023));
        assert_eq!(table.cloexec(10), Ok(true));
        assert_eq!(table.dup_from(0, 5, true), Ok(5));
        assert_eq!(table.cloexec(5), Ok(true));
        assert_eq!(table.get(5), Ok(&"a"));
        assert_eq!(table.dup_from(7, 5, true), Err(Errno::EBADF));
        assert_eq!(table.dup_from(0, -3, true), Err(Errno::EINVAL));
    }

    #[test]
    fn cloexec_bits() {
        let mut table = Table::new();
        let fd = table.insert("f", true).unwrap();
        assert_eq!(table.cloexec(fd), Ok(true));
        table.set_cloexec(fd, false).unwrap();
        assert_eq!(table.cloexec(fd), Ok(false));
        // dup clears the bit on the copy only.
        table.set_cloexec(fd, true).unwrap();
        let copy = table.dup(fd).unwrap();
        assert_eq!(copy, 1);
        assert_eq!(table.cloexec(copy), Ok(false));
        assert_eq!(table.cloexec(fd), Ok(true));
    }

    #[test]
    fn dup2_and_dup3() {
        let mut table = Table::new();
        table.insert("a", false).unwrap();
        table.insert("b", true).unwrap();
        // dup2 onto an open fd replaces it.
        assert_eq!(table.dup2(0, 1), Ok(1));
        assert_eq!(table.get(1), Ok(&"a"));
        assert_eq!(table.cloexec(1), Ok(false));
        // dup2 onto a free fd far away.
        assert_eq!(table.dup2(0, 100), Ok(100));
        assert_eq!(table.len(), 3);
        // old == new: dup2 checks old and changes nothing; dup3 is EINVAL.
        table.set_cloexec(1, true).unwrap();
        assert_eq!(table.dup2(1, 1), Ok(1));
        assert_eq!(table.cloexec(1), Ok(true));
        assert_eq!(table.dup2(7, 7), Err(Errno::EBADF));
        assert_eq!(table.dup3(1, 1, false), Err(Errno::EINVAL));
        // Errors.
        assert_eq!(table.dup2(7, 3), Err(Errno::EBADF), "old closed");
        assert_eq!(table.dup2(0, 1024), Err(Errno::EBADF), "new at the limit");
        assert_eq!(table.dup2(0, -1), Err(Errno::EBADF));
        assert!(!table.contains(3));
        // dup3 sets the bit.
        assert_eq!(table.dup3(0, 5, true), Ok(5));
        assert_eq!(table.cloexec(5), Ok(true));
        // dup_to hands back the replaced file.
        assert_eq!(table.dup_to(1, 5, false), Ok(Some("a")));
        assert_eq!(table.dup_to(1, 6, false), Ok(None));
        assert_eq!(table.install(1024, "z", false), Some("z"));
        assert_eq!(table.install(6, "y", false), Some("a"));
    }

    #[test]
    fn replaced_and_closed_files_are_dropped() {
        let file = Rc::new(String::from("pipe"));
        let mut table: FdTable<Rc<String>> = FdTable::new();
        table.insert(file.clone(), false).unwrap();
        table.dup(0).unwrap();
        let mut forked = table.clone();
        assert_eq!(Rc::strong_count(&file), 5);
        table.insert(Rc::new(String::from("other")), false).unwrap();
        table.dup2(0, 2).unwrap();
        assert_eq!(Rc::strong_count(&file), 6);
        drop(table.remove(0).unwrap());
        assert_eq!(Rc::strong_count(&file), 5);
        assert_eq!(forked.clear().len(), 2);
        assert!(forked.is_empty());
        assert_eq!(Rc::strong_count(&file), 3);
    }

    #[test]
    fn close_on_exec_removes_only_flagged() {
        let mut table = Table::new();
        table.insert("0", false).unwrap();
        table.insert("1", true).unwrap();
        table.insert("2", false).unwrap();
        table.insert_from(50, "50", true).unwrap();
        table.insert_from(60, "60", true).unwrap();
        assert_eq!(table.close_on_exec(), vec!["1", "50", "60"]);
        assert_eq!(fds(&table), vec![(0, "0"), (2, "2")]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.insert("n", false), Ok(1));
        assert!(table.close_on_exec().is_empty());
    }
}
