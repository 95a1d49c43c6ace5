//! File-descriptor tables with Linux semantics: lowest free number first,
//! a close-on-exec bit per descriptor, `dup`/`dup2`/`dup3`/`F_DUPFD`.
//!
//! The table is generic over what a descriptor refers to (the kernel's open
//! file description, typically a reference-counted handle): `F: Clone` so
//! that `dup` and `fork` can share it. Dropping an `F` is closing it.

use alloc::vec::Vec;

use syscall::Errno;

/// Most descriptors a process may hold: fds are `0..MAX_FDS` (the
/// `RLIMIT_NOFILE` default).
pub const MAX_FDS: usize = 1024;

/// Checks that `fd` names a slot of a table (`0..MAX_FDS`), returning its
/// index; `EBADF` otherwise.
pub fn check_range(fd: i32) -> Result<usize, Errno> {
    match usize::try_from(fd) {
        Ok(index) if index < MAX_FDS => Ok(index),
        _ => Err(Errno::EBADF),
    }
}

#[derive(Clone, Debug)]
struct Entry<F> {
    file: F,
    cloexec: bool,
}

/// A process's descriptors. `Clone` is what `fork` does.
#[derive(Clone, Debug)]
pub struct FdTable<F: Clone> {
    /// Slot `i` is fd `i`; trailing `None`s are trimmed.
    slots: Vec<Option<Entry<F>>>,
    /// Number of open descriptors.
    open: usize,
}

impl<F: Clone> Default for FdTable<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Clone> FdTable<F> {
    /// Most descriptors a table holds (see [`MAX_FDS`]).
    pub const MAX_FDS: usize = MAX_FDS;

    /// An empty table.
    pub const fn new() -> Self {
        FdTable { slots: Vec::new(), open: 0 }
    }

    /// `fd` as an index if it is in `0..MAX_FDS`, else `EBADF` (the check of
    /// a `dup2`/`dup3` target). Same as the free function [`check_range`].
    pub fn check_range(fd: i32) -> Result<usize, Errno> {
        check_range(fd)
    }

    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.open
    }

    /// No descriptor open?
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    fn entry(&self, fd: i32) -> Result<&Entry<F>, Errno> {
        let index = check_range(fd)?;
        self.slots.get(index).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    fn entry_mut(&mut self, fd: i32) -> Result<&mut Entry<F>, Errno> {
        let index = check_range(fd)?;
        self.slots.get_mut(index).and_then(Option::as_mut).ok_or(Errno::EBADF)
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

    /// The lowest free fd at or above `min` (an index below `MAX_FDS`).
    fn lowest_free(&self, min: usize) -> Option<usize> {
        (min..MAX_FDS).find(|&index| self.slots.get(index).is_none_or(Option::is_none))
    }

    /// Puts `entry` in slot `index` (< MAX_FDS), returning what was there.
    fn put(&mut self, index: usize, entry: Entry<F>) -> Option<F> {
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        let old = self.slots[index].replace(entry).map(|old| old.file);
        if old.is_none() {
            self.open += 1;
        }
        old
    }

    /// Trims trailing empty slots.
    fn trim(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
    }

    /// Opens `file` at the lowest free fd; `EMFILE` when the table is full
    /// (the file is then dropped).
    pub fn insert(&mut self, file: F, cloexec: bool) -> Result<i32, Errno> {
        self.insert_from(0, file, cloexec)
    }

    /// Opens `file` at the lowest free fd `>= min_fd` (`F_DUPFD`): `EINVAL`
    /// if `min_fd` is outside `0..MAX_FDS`, `EMFILE` if no fd is free there.
    pub fn insert_from(&mut self, min_fd: i32, file: F, cloexec: bool) -> Result<i32, Errno> {
        let min = check_range(min_fd).map_err(|_| Errno::EINVAL)?;
        let index = self.lowest_free(min).ok_or(Errno::EMFILE)?;
        self.put(index, Entry { file, cloexec });
        Ok(index as i32)
    }

    /// Opens `file` at exactly `fd` (the target of `dup2`), returning the
    /// file it replaces, which the caller closes. `fd` must have passed
    /// [`check_range`]; if it is out of range nothing is installed and `file`
    /// is handed back as if replaced.
    pub fn install(&mut self, fd: i32, file: F, cloexec: bool) -> Option<F> {
        match check_range(fd) {
            Ok(index) => self.put(index, Entry { file, cloexec }),
            Err(_) => Some(file),
        }
    }

    /// Closes `fd`, returning its file; `EBADF` if it is not open.
    pub fn remove(&mut self, fd: i32) -> Result<F, Errno> {
        let index = check_range(fd)?;
        let entry = self.slots.get_mut(index).and_then(Option::take).ok_or(Errno::EBADF)?;
        self.open -= 1;
        self.trim();
        Ok(entry.file)
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
    /// `new` is out of range or `old` is not open.
    pub fn dup_to(&mut self, old: i32, new: i32, cloexec: bool) -> Result<Option<F>, Errno> {
        check_range(new)?;
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
    /// `old == new`; `EBADF` if `new` is out of range or `old` not open.
    pub fn dup3(&mut self, old: i32, new: i32, cloexec: bool) -> Result<i32, Errno> {
        if old == new {
            return Err(Errno::EINVAL);
        }
        drop(self.dup_to(old, new, cloexec)?);
        Ok(new)
    }

    /// At `execve`: closes the close-on-exec descriptors and returns their
    /// files, in increasing fd order.
    pub fn close_on_exec(&mut self) -> Vec<F> {
        let mut closed = Vec::new();
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|entry| entry.cloexec) {
                if let Some(entry) = slot.take() {
                    closed.push(entry.file);
                }
            }
        }
        self.open -= closed.len();
        self.trim();
        closed
    }

    /// Closes every descriptor (process exit), returning the files.
    pub fn clear(&mut self) -> Vec<F> {
        let files = self.slots.drain(..).flatten().map(|entry| entry.file).collect();
        self.open = 0;
        files
    }

    /// The open descriptors and their files, in increasing fd order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &F)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| slot.as_ref().map(|entry| (index as i32, &entry.file)))
    }
}

#[cfg(test)]
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
        assert_eq!(check_range(1023), Ok(1023));
        assert_eq!(check_range(1024), Err(Errno::EBADF));
        assert_eq!(check_range(-1), Err(Errno::EBADF));
        assert_eq!(Table::check_range(7), Ok(7));
        assert_eq!(Table::MAX_FDS, 1024);
    }

    #[test]
    fn full_table_is_emfile() {
        let mut table = Table::new();
        for fd in 0..MAX_FDS as i32 {
            assert_eq!(table.insert("f", false), Ok(fd));
        }
        assert_eq!(table.len(), MAX_FDS);
        assert_eq!(table.insert("g", false), Err(Errno::EMFILE));
        assert_eq!(table.dup(0), Err(Errno::EMFILE));
        table.remove(500).unwrap();
        assert_eq!(table.insert_from(501, "g", false), Err(Errno::EMFILE));
        assert_eq!(table.insert_from(10, "g", false), Ok(500));
    }

    #[test]
    fn insert_from_is_f_dupfd() {
        let mut table = Table::new();
        table.insert("a", false).unwrap();
        assert_eq!(table.insert_from(10, "b", true), Ok(10));
        assert_eq!(table.insert_from(10, "c", false), Ok(11));
        assert_eq!(table.insert_from(0, "d", false), Ok(1));
        assert_eq!(table.insert_from(-1, "e", false), Err(Errno::EINVAL));
        assert_eq!(table.insert_from(1024, "e", false), Err(Errno::EINVAL));
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
        assert_eq!(table.dup2(0, 1024), Err(Errno::EBADF), "new out of range");
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
