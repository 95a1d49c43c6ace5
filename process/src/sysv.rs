//! SysV IPC's pure parts: the key/id table shared by shm and sem (ipcget's
//! IPC_PRIVATE, IPC_CREAT, IPC_EXCL and permission rules, ids that change
//! when a slot is reused, the index walk of IPC_INFO and *_STAT) and
//! semop's all-or-nothing evaluation with SEM_UNDO adjustments. The kernel
//! side (`kernel/src/sysv.rs`, `kernel/src/syscalls/ipc.rs`) holds the
//! objects and the waiters; decisions in docs/sysv-ipc.md.

use alloc::vec::Vec;
use syscall::Errno;

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: u32 = 0o1000;
pub const IPC_EXCL: u32 = 0o2000;
pub const IPC_NOWAIT: i16 = 0o4000;
pub const SEM_UNDO: i16 = 0x1000;
/// Linux's largest semaphore value.
pub const SEMVMX: i32 = 32767;
/// Ids are `seq * SEQ_MULTIPLIER + slot` (Linux's `IPCMNI`).
pub const SEQ_MULTIPLIER: i32 = 32768;

/// Linux's largest total SEM_UNDO adjustment of one semaphore (SEMAEM).
pub const SEMAEM: i32 = SEMVMX;

/// Who asks: effective ids, supplementary groups, and whether the caller
/// has CAP_IPC_OWNER (every check passes).
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
    pub privileged: bool,
}

impl Caller<'_> {
    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether the caller owns or created the object (IPC_SET, IPC_RMID
    /// and SHM_LOCK want this or privilege).
    pub fn owns(&self, perm: &Perm) -> bool {
        self.privileged || self.uid == perm.uid || self.uid == perm.cuid
    }
}

/// The owner and mode of one object (`struct ipc_perm`'s part that decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u16,
}

impl Perm {
    /// ipcperms: `want` is 4 (read) and/or 2 (write), checked against the
    /// owner's, the group's (the caller's group or one of its
    /// supplementary groups) or others' bits; privileged callers pass.
    pub fn allows(&self, caller: &Caller<'_>, want: u16) -> bool {
        if caller.privileged {
            return true;
        }
        let bits = if caller.uid == self.uid || caller.uid == self.cuid {
            self.mode >> 6
        } else if caller.in_group(self.gid) || caller.in_group(self.cgid) {
            self.mode >> 3
        } else {
            self.mode
        };
        bits & want & 7 == want
    }
}

/// Objects by slot, with the sequence numbers that make ids.
#[derive(Debug)]
pub struct Table<T> {
    slots: Vec<Option<(i32, Perm, T)>>,
    seq: i32,
    limit: usize,
}

/// What `get` found or made.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Existing(i32),
    /// A new object is needed: insert it with [`Table::insert`].
    Create,
}

impl<T> Table<T> {
    pub const fn new(limit: usize) -> Self {
        Table { slots: Vec::new(), seq: 0, limit }
    }

    /// shmget/semget's lookup: IPC_PRIVATE always creates; an existing key
    /// is EEXIST under IPC_CREAT|IPC_EXCL, else checked for `want`
    /// (EACCES); a missing key without IPC_CREAT is ENOENT.
    pub fn get(&self, key: i32, flags: u32, caller: &Caller<'_>, want: u16) -> Result<Got, Errno> {
        if key == IPC_PRIVATE {
            return Ok(Got::Create);
        }
        match self.find_key(key) {
            Some((id, perm)) => {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    Err(Errno::EEXIST)
                } else if !perm.allows(caller, want) {
                    Err(Errno::EACCES)
                } else {
                    Ok(Got::Existing(id))
                }
            }
            None if flags & IPC_CREAT != 0 => Ok(Got::Create),
            None => Err(Errno::ENOENT),
        }
    }

    fn find_key(&self, key: i32) -> Option<(i32, &Perm)> {
        self.slots.iter().flatten().find(|(_, p, _)| p.key == key).map(|(id, p, _)| (*id, p))
    }

    /// Adds an object: its id, or ENOSPC when the table is full.
    pub fn insert(&mut self, perm: Perm, object: T) -> Result<i32, Errno> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(slot) => slot,
            None if self.slots.len() < self.limit => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno::ENOSPC),
        };
        self.seq = (self.seq + 1) % (i32::MAX / SEQ_MULTIPLIER);
        let id = self.seq * SEQ_MULTIPLIER + slot as i32;
        self.slots[slot] = Some((id, perm, object));
        Ok(id)
    }

    /// The object of `id`: EINVAL for an id never made or removed.
    pub fn lookup(&mut self, id: i32) -> Result<(&mut Perm, &mut T), Errno> {
        let slot = usize::try_from(id.rem_euclid(SEQ_MULTIPLIER)).map_err(|_| Errno::EINVAL)?;
        match self.slots.get_mut(slot) {
            Some(Some((found, perm, object))) if *found == id && id >= 0 => Ok((perm, object)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// IPC_RMID: the object leaves the table (its key is free again).
    pub fn remove(&mut self, id: i32) -> Result<T, Errno> {
        self.lookup(id)?;
        let slot = id.rem_euclid(SEQ_MULTIPLIER) as usize;
        self.slots[slot].take().map(|(_, _, object)| object).ok_or(Errno::EINVAL)
    }

    pub fn iter(&self) -> impl Iterator<Item = (i32, &Perm, &T)> {
        self.slots.iter().flatten().map(|(id, p, t)| (*id, p, t))
    }

    /// As [`Table::iter`], to change them (SETVAL's undo reset walks the sets).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut Perm, &mut T)> {
        self.slots.iter_mut().flatten().map(|(id, p, t)| (*id, p, t))
    }

    /// Objects in the table (SEM_INFO's semusz, SHM_INFO's used_ids).
    pub fn in_use(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// The highest slot in use, if any: what IPC_INFO, SEM_INFO and
    /// SHM_INFO return (Linux's `ipc_get_maxidx`; 0 for an empty table).
    pub fn max_index(&self) -> Option<usize> {
        self.slots.iter().rposition(Option::is_some)
    }

    /// The object in slot `index` (SEM_STAT, SHM_STAT): its id; EINVAL
    /// for an empty or out-of-range slot.
    pub fn at_index(&mut self, index: usize) -> Result<(i32, &mut Perm, &mut T), Errno> {
        match self.slots.get_mut(index) {
            Some(Some((id, perm, object))) => Ok((*id, perm, object)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The id whose object `matches` says is the one (shmdt finding the
    /// segment of a mapping).
    pub fn find(&self, mut matches: impl FnMut(&T) -> bool) -> Option<i32> {
        self.slots.iter().flatten().find(|(_, _, t)| matches(t)).map(|(id, _, _)| *id)
    }
}

/// Adds the undo adjustments of one successful semop to a process's
/// `semadj` for the set (one entry per semaphore), all or nothing:
/// ERANGE if any total would leave `-(SEMAEM + 1)..=SEMAEM`, as Linux's
/// `perform_atomic_semop` refuses the operation then.
pub fn merge_undo(semadj: &mut [i32], undo: &[(u16, i32)]) -> Result<(), Errno> {
    let mut next = semadj.to_vec();
    for &(num, adj) in undo {
        let slot = next.get_mut(usize::from(num)).ok_or(Errno::EFBIG)?;
        let total = *slot + adj;
        if !(-(SEMAEM + 1)..=SEMAEM).contains(&total) {
            return Err(Errno::ERANGE);
        }
        *slot = total;
    }
    semadj.copy_from_slice(&next);
    Ok(())
}

/// One `struct sembuf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemBuf {
    pub num: u16,
    pub op: i16,
    pub flags: i16,
}

impl SemBuf {
    pub const SIZE: usize = 6;

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> SemBuf {
        SemBuf { num: u16::from_le_bytes([b[0], b[1]]), op: i16::from_le_bytes([b[2], b[3]]), flags: i16::from_le_bytes([b[4], b[5]]) }
    }
}

/// What semop does with a set's values.
#[derive(Debug, PartialEq, Eq)]
pub enum SemOutcome {
    /// All applied; the undo adjustments to add (semaphore, amount).
    Done(Vec<(u16, i32)>),
    /// None applied: the operation on this semaphore must wait for it to
    /// grow (`zero` false: counted in semncnt) or reach zero (semzcnt).
    Wait { num: u16, zero: bool },
}

/// semop's check of `ops` against `values`, all or nothing (Linux's
/// `perform_atomic_semop`): EFBIG for a semaphore past the set, ERANGE
/// for a result above SEMVMX, EAGAIN where it would wait under
/// IPC_NOWAIT; on success `values` hold the results.
pub fn semop(values: &mut [i32], ops: &[SemBuf]) -> Result<SemOutcome, Errno> {
    if ops.iter().any(|op| usize::from(op.num) >= values.len()) {
        return Err(Errno::EFBIG);
    }
    let mut next: Vec<i32> = values.to_vec();
    let mut undo = Vec::new();
    for op in ops {
        let value = &mut next[usize::from(op.num)];
        let wait = match op.op {
            0 => (*value != 0).then_some(true),
            n if n < 0 => (*value < -i32::from(n)).then_some(false),
            _ => None,
        };
        if let Some(zero) = wait {
            if op.flags & IPC_NOWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            return Ok(SemOutcome::Wait { num: op.num, zero });
        }
        *value += i32::from(op.op);
        if *value > SEMVMX {
            return Err(Errno::ERANGE);
        }
        if op.flags & SEM_UNDO != 0 && op.op != 0 {
            undo.push((op.num, -i32::from(op.op)));
        }
    }
    values.copy_from_slice(&next);
    Ok(SemOutcome::Done(undo))
}

/// A process's exit: its undo adjustments applied, each clamped to the
/// range 0..=SEMVMX as Linux's `exit_sem` does.
pub fn apply_undo(values: &mut [i32], adjustments: &[(u16, i32)]) {
    for &(num, adj) in adjustments {
        if let Some(v) = values.get_mut(usize::from(num)) {
            *v = (*v + adj).clamp(0, SEMVMX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(key: i32, mode: u16) -> Perm {
        Perm { key, uid: 1000, gid: 1000, cuid: 1000, cgid: 1000, mode }
    }

    fn who(uid: u32, gid: u32, privileged: bool) -> Caller<'static> {
        Caller { uid, gid, groups: &[], privileged }
    }

    #[test]
    fn keys_flags_and_permissions() {
        let mut t: Table<u32> = Table::new(4);
        assert_eq!(t.get(42, 0, &who(1000, 1000, false), 4), Err(Errno::ENOENT));
        assert_eq!(t.get(42, IPC_CREAT, &who(1000, 1000, false), 4), Ok(Got::Create));
        let id = t.insert(perm(42, 0o600), 7).unwrap();
        assert_eq!(t.get(42, IPC_CREAT, &who(1000, 1000, false), 6), Ok(Got::Existing(id)));
        assert_eq!(t.get(42, IPC_CREAT | IPC_EXCL, &who(1000, 1000, false), 4), Err(Errno::EEXIST));
        assert_eq!(t.get(42, 0, &who(2000, 2000, false), 4), Err(Errno::EACCES));
        assert_eq!(t.get(42, 0, &who(2000, 2000, true), 4), Ok(Got::Existing(id)));
        assert_eq!(t.get(IPC_PRIVATE, 0, &who(1000, 1000, false), 4), Ok(Got::Create));
        assert_eq!(*t.lookup(id).unwrap().1, 7);
        assert_eq!(t.remove(id), Ok(7));
        assert_eq!(t.lookup(id).map(|_| ()), Err(Errno::EINVAL));
        // The slot is reused under another id.
        let again = t.insert(perm(42, 0o600), 8).unwrap();
        assert_ne!(again, id);
        assert_eq!(t.lookup(id).map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(t.lookup(-1).map(|_| ()), Err(Errno::EINVAL));
        for k in 0..3 {
            t.insert(perm(100 + k, 0o600), 0).unwrap();
        }
        assert_eq!(t.insert(perm(200, 0o600), 0), Err(Errno::ENOSPC));
    }

    #[test]
    fn group_and_other_bits() {
        let p = perm(1, 0o640);
        assert!(p.allows(&who(1000, 5, false), 6));
        assert!(p.allows(&who(7, 1000, false), 4));
        assert!(!p.allows(&who(7, 1000, false), 2));
        assert!(!p.allows(&who(7, 7, false), 4));
        // A supplementary group counts as the group.
        assert!(p.allows(&Caller { uid: 7, gid: 7, groups: &[3, 1000], privileged: false }, 4));
        assert!(who(1000, 7, false).owns(&p) && !who(7, 7, false).owns(&p) && who(7, 7, true).owns(&p));
    }

    #[test]
    fn indexes_for_info_and_stat() {
        let mut t: Table<u32> = Table::new(8);
        assert_eq!((t.max_index(), t.in_use()), (None, 0));
        let a = t.insert(perm(1, 0o600), 10).unwrap();
        let b = t.insert(perm(2, 0o600), 20).unwrap();
        assert_eq!((t.max_index(), t.in_use()), (Some(1), 2));
        assert_eq!(t.at_index(1).map(|(id, _, v)| (id, *v)), Ok((b, 20)));
        assert_eq!(t.find(|&v| v == 10), Some(a));
        t.remove(b).unwrap();
        assert_eq!((t.max_index(), t.in_use()), (Some(0), 1));
        assert_eq!(t.at_index(1).map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(t.at_index(99).map(|_| ()), Err(Errno::EINVAL));
    }

    #[test]
    fn undo_totals_stay_in_range() {
        let mut adj = [0, 0];
        merge_undo(&mut adj, &[(0, 1), (1, -2), (0, 1)]).unwrap();
        assert_eq!(adj, [2, -2]);
        adj[0] = SEMAEM;
        assert_eq!(merge_undo(&mut adj, &[(1, 1), (0, 1)]), Err(Errno::ERANGE));
        assert_eq!(adj, [SEMAEM, -2], "nothing applied");
        adj[1] = -SEMAEM;
        merge_undo(&mut adj, &[(1, -1)]).unwrap();
        assert_eq!(merge_undo(&mut adj, &[(1, -1)]), Err(Errno::ERANGE));
    }

    #[test]
    fn semop_is_all_or_nothing() {
        let mut v = [1, 0];
        let ops = [SemBuf { num: 0, op: -1, flags: SEM_UNDO }, SemBuf { num: 1, op: -1, flags: 0 }];
        assert_eq!(semop(&mut v, &ops), Ok(SemOutcome::Wait { num: 1, zero: false }));
        assert_eq!(v, [1, 0]);
        let nowait = [SemBuf { num: 0, op: -1, flags: 0 }, SemBuf { num: 1, op: -1, flags: IPC_NOWAIT }];
        assert_eq!(semop(&mut v, &nowait), Err(Errno::EAGAIN));
        assert_eq!(v, [1, 0]);
        assert_eq!(semop(&mut v, &ops[..1]), Ok(SemOutcome::Done(alloc::vec![(0, 1)])));
        assert_eq!(v, [0, 0]);
        assert_eq!(semop(&mut v, &[SemBuf { num: 0, op: 0, flags: 0 }]), Ok(SemOutcome::Done(alloc::vec![])));
        v[1] = 3;
        assert_eq!(semop(&mut v, &[SemBuf { num: 1, op: 0, flags: 0 }]), Ok(SemOutcome::Wait { num: 1, zero: true }));
        assert_eq!(semop(&mut v, &[SemBuf { num: 2, op: 1, flags: 0 }]), Err(Errno::EFBIG));
        v[0] = SEMVMX;
        assert_eq!(semop(&mut v, &[SemBuf { num: 0, op: 1, flags: 0 }]), Err(Errno::ERANGE));
        assert_eq!(v[0], SEMVMX);
    }

    #[test]
    fn undo_is_clamped() {
        let mut v = [0, 5];
        apply_undo(&mut v, &[(0, 1), (1, -9), (9, 1)]);
        assert_eq!(v, [1, 0]);
    }
}
