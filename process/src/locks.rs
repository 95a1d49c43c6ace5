//! Advisory file locks as plain data: `fcntl` record locks (per process and
//! per open file description, byte ranges split and merged as Linux does),
//! `flock` locks (whole file, per open file description), the `struct
//! flock` range rules and the two-process deadlock check of `F_SETLKW`.
//! The kernel keeps one [`RecordLocks`] and one [`Flocks`] per file, and
//! does the blocking and waking.

use alloc::vec::Vec;
use syscall::Errno;

/// The last byte a lock can cover (`OFFSET_MAX`): `l_len == 0` locks to it.
pub const OFFSET_MAX: u64 = i64::MAX as u64;

pub const F_RDLCK: i16 = 0;
pub const F_WRLCK: i16 = 1;
pub const F_UNLCK: i16 = 2;

pub const LOCK_SH: u32 = 1;
pub const LOCK_EX: u32 = 2;
pub const LOCK_NB: u32 = 4;
pub const LOCK_UN: u32 = 8;

/// A record lock's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Read,
    Write,
}

impl LockKind {
    /// The `l_type` value.
    pub const fn l_type(self) -> i16 {
        match self {
            LockKind::Read => F_RDLCK,
            LockKind::Write => F_WRLCK,
        }
    }
}

/// Who holds a record lock: a process (`F_SETLK`, released when it closes
/// any descriptor of the file or exits) or an open file description
/// (`F_OFD_SETLK`, released with the description's last close).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Process(u32),
    Description(u64),
}

/// Bytes `start..=end` of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    fn overlaps(&self, other: &Range) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Overlapping or touching (`end + 1 == start`): same-kind locks of one
    /// owner that touch become one, as Linux merges them.
    fn touches(&self, other: &Range) -> bool {
        self.start <= other.end.saturating_add(1) && other.start <= self.end.saturating_add(1)
    }

    /// `l_start` and `l_len` as `F_GETLK` reports them (`l_whence` SEEK_SET,
    /// length 0 for a lock to the end).
    pub fn as_flock(&self) -> (i64, i64) {
        let len = if self.end == OFFSET_MAX {
            0
        } else {
            self.end.saturating_sub(self.start).saturating_add(1) as i64
        };
        (self.start as i64, len)
    }
}

/// The bytes a `struct flock` names: `l_start` from `base` (0, the file
/// offset or the file size for SEEK_SET, SEEK_CUR, SEEK_END), `l_len`
/// bytes onwards (0: to the end, whatever the file grows to; negative: the
/// bytes before `l_start`). EINVAL for a start before 0 or an unknown
/// whence, EOVERFLOW past `OFFSET_MAX`, as Linux's `flock_to_posix_lock`.
pub fn flock_range(
    whence: i16,
    l_start: i64,
    l_len: i64,
    offset: u64,
    size: u64,
) -> Result<Range, Errno> {
    let base: i64 = match whence {
        0 => 0,
        1 => i64::try_from(offset).map_err(|_| Errno::EOVERFLOW)?,
        2 => i64::try_from(size).map_err(|_| Errno::EOVERFLOW)?,
        _ => return Err(Errno::EINVAL),
    };
    let start = base.checked_add(l_start).ok_or(Errno::EOVERFLOW)?;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    let (start, end) = match l_len {
        0 => (start, i64::MAX),
        len if len > 0 => (start, start.checked_add(len - 1).ok_or(Errno::EOVERFLOW)?),
        len => {
            let from = start.checked_add(len).ok_or(Errno::EINVAL)?;
            if from < 0 {
                return Err(Errno::EINVAL);
            }
            (from, start - 1)
        }
    };
    Ok(Range {
        start: start as u64,
        end: end as u64,
    })
}

/// One held record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLock {
    pub owner: Owner,
    /// What `F_GETLK` reports as `l_pid`: the process that set it (-1 for
    /// an open file description's lock).
    pub pid: i32,
    pub kind: LockKind,
    pub range: Range,
}

/// The record locks of one file, sorted by start.
#[derive(Clone, Debug, Default)]
pub struct RecordLocks {
    locks: Vec<RecordLock>,
}

impl RecordLocks {
    pub const fn new() -> Self {
        RecordLocks { locks: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// Every lock, sorted by start.
    pub fn locks(&self) -> &[RecordLock] {
        &self.locks
    }

    /// The first lock of another owner that keeps `owner` from taking
    /// `kind` on `range` (two read locks never conflict).
    pub fn conflict(&self, owner: Owner, kind: LockKind, range: Range) -> Option<RecordLock> {
        self.locks
            .iter()
            .find(|l| {
                l.owner != owner
                    && l.range.overlaps(&range)
                    && (kind == LockKind::Write || l.kind == LockKind::Write)
            })
            .copied()
    }

    /// Takes `kind` on `range` for `owner`, replacing what it held there
    /// (so a read lock inside a write lock splits it in three), and merges
    /// it with touching locks of the same kind. Err: the conflicting lock,
    /// and nothing changed.
    pub fn lock(
        &mut self,
        owner: Owner,
        pid: i32,
        kind: LockKind,
        range: Range,
    ) -> Result<(), RecordLock> {
        if let Some(conflict) = self.conflict(owner, kind, range) {
            return Err(conflict);
        }
        self.unlock(owner, range);
        let mut merged = range;
        self.locks.retain(|l| {
            let joins = l.owner == owner && l.kind == kind && l.range.touches(&merged);
            if joins {
                merged.start = merged.start.min(l.range.start);
                merged.end = merged.end.max(l.range.end);
            }
            !joins
        });
        self.insert(RecordLock {
            owner,
            pid,
            kind,
            range: merged,
        });
        Ok(())
    }

    /// Drops `owner`'s locks on `range`, splitting those that reach past it.
    pub fn unlock(&mut self, owner: Owner, range: Range) {
        let mut kept = Vec::with_capacity(self.locks.len().saturating_add(1));
        for l in self.locks.drain(..) {
            if l.owner != owner || !l.range.overlaps(&range) {
                kept.push(l);
                continue;
            }
            if l.range.start < range.start {
                kept.push(RecordLock {
                    range: Range {
                        start: l.range.start,
                        end: range.start - 1,
                    },
                    ..l
                });
            }
            if l.range.end > range.end {
                kept.push(RecordLock {
                    range: Range {
                        start: range.end + 1,
                        end: l.range.end,
                    },
                    ..l
                });
            }
        }
        self.locks = kept;
        self.locks.sort_by_key(|l| (l.range.start, l.owner));
    }

    /// Drops every lock of `owner`; whether it had any.
    pub fn release(&mut self, owner: Owner) -> bool {
        let before = self.locks.len();
        self.locks.retain(|l| l.owner != owner);
        self.locks.len() != before
    }

    fn insert(&mut self, lock: RecordLock) {
        let at = self
            .locks
            .partition_point(|l| (l.range.start, l.owner) <= (lock.range.start, lock.owner));
        self.locks.insert(at, lock);
    }
}

/// How many waits-for links Linux follows before giving up (its
/// `MAX_DEADLK_ITERATIONS`).
pub const MAX_DEADLOCK_STEPS: usize = 10;

/// Whether process `me`, about to wait for a lock `blocker` holds, would
/// close a cycle: `blocker` waits (through `waits_for`, the process each
/// blocked `F_SETLKW` waits for) for `me`. Linux checks process-owned locks
/// only, and this far.
pub fn deadlock(me: u32, blocker: u32, waits_for: impl Fn(u32) -> Option<u32>) -> bool {
    let mut at = blocker;
    for _ in 0..MAX_DEADLOCK_STEPS {
        if at == me {
            return true;
        }
        match waits_for(at) {
            Some(next) => at = next,
            None => return false,
        }
    }
    false
}

/// The `flock` locks of one file: each open file description holds a
/// shared or an exclusive lock, or none.
#[derive(Clone, Debug, Default)]
pub struct Flocks {
    holders: Vec<(u64, bool)>,
}

impl Flocks {
    pub const fn new() -> Self {
        Flocks {
            holders: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }

    /// What `description` holds: Some(true) exclusive, Some(false) shared.
    pub fn held(&self, description: u64) -> Option<bool> {
        self.holders
            .iter()
            .find(|(d, _)| *d == description)
            .map(|(_, ex)| *ex)
    }

    /// Takes (or converts to) a shared or exclusive lock. A conversion
    /// drops the old lock first, as Linux does: it is gone even when the
    /// new one cannot be had. Err: another description's lock is in
    /// the way: `EWOULDBLOCK`, or wait.
    pub fn lock(&mut self, description: u64, exclusive: bool) -> Result<(), Errno> {
        if self.held(description) == Some(exclusive) {
            return Ok(());
        }
        self.unlock(description);
        if self.holders.iter().any(|(_, ex)| exclusive || *ex) {
            return Err(Errno::EAGAIN);
        }
        self.holders.push((description, exclusive));
        Ok(())
    }

    /// Drops `description`'s lock; whether it had one.
    pub fn unlock(&mut self, description: u64) -> bool {
        let before = self.holders.len();
        self.holders.retain(|(d, _)| *d != description);
        self.holders.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Owner = Owner::Process(10);
    const B: Owner = Owner::Process(20);

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    fn shape(locks: &RecordLocks) -> Vec<(Owner, LockKind, u64, u64)> {
        locks
            .locks()
            .iter()
            .map(|l| (l.owner, l.kind, l.range.start, l.range.end))
            .collect()
    }

    #[test]
    fn ranges_follow_whence_and_length_rules() {
        assert_eq!(flock_range(0, 10, 5, 0, 0), Ok(r(10, 14)));
        assert_eq!(flock_range(1, 2, 3, 100, 0), Ok(r(102, 104)));
        assert_eq!(flock_range(2, -10, 0, 0, 50), Ok(r(40, OFFSET_MAX)));
        assert_eq!(flock_range(0, 10, -4, 0, 0), Ok(r(6, 9)));
        assert_eq!(flock_range(0, 3, -4, 0, 0), Err(Errno::EINVAL));
        assert_eq!(flock_range(0, -1, 1, 0, 0), Err(Errno::EINVAL));
        assert_eq!(flock_range(3, 0, 0, 0, 0), Err(Errno::EINVAL));
        assert_eq!(flock_range(0, i64::MAX, 2, 0, 0), Err(Errno::EOVERFLOW));
        assert_eq!(r(5, OFFSET_MAX).as_flock(), (5, 0));
        assert_eq!(r(5, 9).as_flock(), (5, 5));
    }

    #[test]
    fn read_locks_share_and_write_locks_exclude() {
        let mut locks = RecordLocks::new();
        locks.lock(A, 10, LockKind::Read, r(0, 99)).unwrap();
        assert!(locks.lock(B, 20, LockKind::Read, r(50, 149)).is_ok());
        let conflict = locks.lock(B, 20, LockKind::Write, r(60, 200)).unwrap_err();
        assert_eq!(conflict.owner, A);
        assert_eq!(
            locks
                .conflict(A, LockKind::Write, r(100, 100))
                .map(|l| l.owner),
            Some(B)
        );
        assert_eq!(locks.conflict(A, LockKind::Write, r(150, 300)), None);
        // Own locks never conflict.
        assert_eq!(locks.conflict(B, LockKind::Write, r(100, 149)), None);
    }

    #[test]
    fn a_failed_lock_changes_nothing() {
        let mut locks = RecordLocks::new();
        locks.lock(A, 10, LockKind::Write, r(0, 9)).unwrap();
        locks.lock(B, 20, LockKind::Read, r(20, 29)).unwrap();
        let before = shape(&locks);
        assert_eq!(
            locks
                .lock(B, 20, LockKind::Write, r(5, 25))
                .unwrap_err()
                .owner,
            A
        );
        assert_eq!(shape(&locks), before);
    }

    #[test]
    fn a_different_kind_inside_splits_in_three() {
        let mut locks = RecordLocks::new();
        locks.lock(A, 10, LockKind::Write, r(0, 99)).unwrap();
        locks.lock(A, 10, LockKind::Read, r(40, 59)).unwrap();
        assert_eq!(
            shape(&locks),
            [
                (A, LockKind::Write, 0, 39),
                (A, LockKind::Read, 40, 59),
                (A, LockKind::Write, 60, 99)
            ]
        );
        // And back: one write lock again.
        locks.lock(A, 10, LockKind::Write, r(40, 59)).unwrap();
        assert_eq!(shape(&locks), [(A, LockKind::Write, 0, 99)]);
    }

    #[test]
    fn touching_locks_of_one_kind_merge() {
        let mut locks = RecordLocks::new();
        locks.lock(A, 10, LockKind::Read, r(0, 9)).unwrap();
        locks.lock(A, 10, LockKind::Read, r(20, 29)).unwrap();
        locks.lock(A, 10, LockKind::Read, r(10, 19)).unwrap();
        assert_eq!(shape(&locks), [(A, LockKind::Read, 0, 29)]);
        // Another owner's touching lock stays apart.
        locks.lock(B, 20, LockKind::Read, r(30, 39)).unwrap();
        assert_eq!(
            shape(&locks),
            [(A, LockKind::Read, 0, 29), (B, LockKind::Read, 30, 39)]
        );
    }

    #[test]
    fn unlock_splits_and_release_drops_an_owner() {
        let mut locks = RecordLocks::new();
        locks
            .lock(A, 10, LockKind::Write, r(0, OFFSET_MAX))
            .unwrap();
        locks.unlock(A, r(100, 199));
        assert_eq!(
            shape(&locks),
            [
                (A, LockKind::Write, 0, 99),
                (A, LockKind::Write, 200, OFFSET_MAX)
            ]
        );
        assert!(locks.lock(B, 20, LockKind::Write, r(100, 199)).is_ok());
        assert!(locks.release(A));
        assert!(!locks.release(A));
        assert_eq!(shape(&locks), [(B, LockKind::Write, 100, 199)]);
        locks.unlock(B, r(0, OFFSET_MAX));
        assert!(locks.is_empty());
    }

    #[test]
    fn description_locks_conflict_with_process_locks() {
        let mut locks = RecordLocks::new();
        let ofd = Owner::Description(0x1000);
        locks.lock(ofd, -1, LockKind::Write, r(0, 0)).unwrap();
        let conflict = locks.lock(A, 10, LockKind::Read, r(0, 5)).unwrap_err();
        assert_eq!((conflict.owner, conflict.pid), (ofd, -1));
        assert!(
            locks
                .lock(Owner::Description(0x2000), -1, LockKind::Read, r(1, 5))
                .is_ok()
        );
    }

    #[test]
    fn deadlock_is_a_cycle_back_to_the_caller() {
        // 20 waits for 10; 10 asking to wait for 20 closes the cycle.
        let waits = |p: u32| if p == 20 { Some(10) } else { None };
        assert!(deadlock(10, 20, waits));
        assert!(!deadlock(30, 20, waits));
        // A chain longer than Linux follows is not reported.
        let chain = |p: u32| if p < 100 { Some(p + 1) } else { None };
        assert!(!deadlock(100, 1, chain));
        assert!(deadlock(5, 1, chain));
    }

    #[test]
    fn flock_shared_exclusive_and_conversion() {
        let mut f = Flocks::new();
        assert!(f.lock(1, false).is_ok());
        assert!(f.lock(2, false).is_ok());
        assert!(f.lock(3, true).is_err());
        // Converting while another holds a shared lock fails, and the
        // converter's shared lock is gone (Linux).
        assert!(f.lock(1, true).is_err());
        assert_eq!(f.held(1), None);
        assert!(f.unlock(2));
        assert!(f.lock(3, true).is_ok());
        assert!(f.lock(3, true).is_ok());
        assert_eq!(f.held(3), Some(true));
        assert!(f.lock(1, false).is_err());
        assert!(f.unlock(3));
        assert!(f.is_empty());
    }
}
