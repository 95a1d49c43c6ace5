//! Futexes as plain data: the keys that name a futex word, the table of
//! threads waiting on them (FIFO, bitsets, requeue), the PI lock protocol on
//! the word (owner tid, FUTEX_WAITERS, FUTEX_OWNER_DIED) with its hand-over
//! of ownership, FUTEX_WAKE_OP's operation word, and the robust-list walk a
//! dying thread's words get marked by. The kernel supplies the words (user
//! memory), the keys (frames of shared memory), blocking and waking.
//!
//! The rules are Linux's (kernel/futex/{core,waitwake,requeue,pi}.c); the
//! functions below name the Linux function they follow.

use alloc::vec::Vec;

use syscall::Errno;

use crate::Pid;

/// The owner's tid in a PI or robust futex word.
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Someone waits in the kernel: the owner must unlock through the kernel.
pub const FUTEX_WAITERS: u32 = 0x8000_0000;
/// The owner died holding the lock (robust futexes).
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// Entries of a robust list walked at most (a cycle cannot hang the kernel).
pub const ROBUST_LIST_LIMIT: usize = 2048;
/// `sizeof(struct robust_list_head)`: what `set_robust_list` accepts.
pub const ROBUST_LIST_HEAD_LEN: u64 = 24;

/// What names one futex word: two waits meet when their keys are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexKey {
    /// A FUTEX_PRIVATE_FLAG operation's word: its address space (the pid of
    /// the process that owns it, shared by its threads) and user address.
    Private { mm: Pid, addr: u64 },
    /// A word in private memory named by an operation without
    /// FUTEX_PRIVATE_FLAG: keyed by address space and address as well, but
    /// never equal to a private operation's key (Linux's FUT_OFF_MMSHARED
    /// in the key's offset). glibc waits with shared operations where the
    /// kernel wakes with them (pthread_join's tid word, robust mutexes).
    MmShared { mm: Pid, addr: u64 },
    /// A word in shared memory: what the kernel names it by, the same in
    /// every process mapping it (its physical address).
    Shared(u64),
}

/// One thread waiting on a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub tid: Pid,
    pub key: FutexKey,
    /// FUTEX_WAIT_BITSET's mask (all ones for FUTEX_WAIT and LOCK_PI).
    pub bitset: u32,
    /// What the waiter blocks until (the kernel wakes it by this).
    pub deadline_ns: u64,
    /// Waits in FUTEX_LOCK_PI for ownership, not for a wake-up (also a
    /// FUTEX_WAIT_REQUEUE_PI waiter once requeued onto its PI lock).
    pub pi: bool,
    /// A FUTEX_WAIT_REQUEUE_PI waiter still on its condition word: the PI
    /// lock it is to be requeued onto.
    pub requeue_pi: Option<FutexKey>,
}

impl Waiter {
    /// A FUTEX_WAIT(_BITSET) waiter.
    pub fn new(tid: Pid, key: FutexKey, bitset: u32, deadline_ns: u64) -> Waiter {
        Waiter { tid, key, bitset, deadline_ns, pi: false, requeue_pi: None }
    }

    /// A FUTEX_LOCK_PI waiter.
    pub fn pi(tid: Pid, key: FutexKey, deadline_ns: u64) -> Waiter {
        Waiter { tid, key, bitset: u32::MAX, deadline_ns, pi: true, requeue_pi: None }
    }

    /// A FUTEX_WAIT_REQUEUE_PI waiter on `key`, for PI lock `lock`.
    pub fn requeue_pi(tid: Pid, key: FutexKey, lock: FutexKey, deadline_ns: u64) -> Waiter {
        Waiter { tid, key, bitset: u32::MAX, deadline_ns, pi: false, requeue_pi: Some(lock) }
    }

    /// Not a plain waiter: FUTEX_WAKE and FUTEX_REQUEUE refuse it.
    fn is_pi_kind(&self) -> bool {
        self.pi || self.requeue_pi.is_some()
    }
}

/// A PI futex the kernel knows an owner of (Linux's `pi_state`): one with
/// waiters, or handed to a waiter that has not run yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PiState {
    key: FutexKey,
    owner: Pid,
}

/// Every waiter, oldest first, and the PI futexes with an owner the kernel
/// tracks. A thread waits on at most one word at a time.
#[derive(Debug, Default)]
pub struct FutexTable {
    waiters: Vec<Waiter>,
    pi_states: Vec<PiState>,
    /// PI waiters handed the lock, until they run: by whom (an unlock, or
    /// the owner's death).
    granted: Vec<Granted>,
}

/// The kernel's answer to FUTEX_LOCK_PI / TRYLOCK_PI for one word value
/// (`futex_lock_pi_atomic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockPi {
    /// The caller owns it: write this value (the caller's tid, OWNER_DIED
    /// kept) and return 0.
    Acquired(u32),
    /// Someone (`owner`) holds it: write this value (FUTEX_WAITERS set)
    /// and wait (TRYLOCK_PI: EAGAIN).
    Wait { word: u32, owner: Pid },
}

/// What FUTEX_CMP_REQUEUE_PI does ([`FutexTable::requeue_pi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequeuePi {
    /// The PI lock word's new value, if it changes.
    pub word: Option<u32>,
    /// The waiter that took the lock, to wake.
    pub woken: Option<Waiter>,
    /// What the call returns: taken + requeued.
    pub count: usize,
}

/// A PI waiter handed the lock it waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    pub waiter: Waiter,
    /// The previous owner died (not an unlock): the word gets
    /// FUTEX_OWNER_DIED, as Linux's `fixup_pi_state_owner` sets it.
    pub owner_died: bool,
}

/// How FUTEX_UNLOCK_PI leaves the word (`futex_unlock_pi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnlockPi {
    /// The new value: the next owner's tid | FUTEX_WAITERS, or 0.
    pub word: u32,
    /// The waiter handed the lock, to wake.
    pub woken: Option<Waiter>,
}

impl FutexTable {
    pub const fn new() -> Self {
        FutexTable { waiters: Vec::new(), pi_states: Vec::new(), granted: Vec::new() }
    }

    /// `waiter.tid` waits on `waiter.key` (replacing anything older of it).
    pub fn wait(&mut self, waiter: Waiter) {
        self.remove(waiter.tid);
        self.waiters.push(waiter);
    }

    /// What `tid` waits on, if it still does (not woken, not handed a lock).
    pub fn waiting(&self, tid: Pid) -> Option<Waiter> {
        self.waiters.iter().copied().find(|w| w.tid == tid)
    }

    /// `tid` stops waiting (timeout, signal, exit). A PI futex left with
    /// no waiter drops its state (the word keeps FUTEX_WAITERS, as on
    /// Linux: the owner's unlock comes to the kernel and clears it).
    pub fn remove(&mut self, tid: Pid) {
        let gone: Vec<FutexKey> = self.waiters.iter().filter(|w| w.tid == tid && w.pi).map(|w| w.key).collect();
        self.waiters.retain(|w| w.tid != tid);
        self.granted.retain(|g| g.waiter.tid != tid);
        for key in gone {
            self.drop_pi_state_if_unused(key);
        }
    }

    /// Whether `key` has any waiter left.
    pub fn has_waiters(&self, key: FutexKey) -> bool {
        self.waiters.iter().any(|w| w.key == key)
    }

    fn drop_pi_state_if_unused(&mut self, key: FutexKey) {
        let used = self.waiters.iter().any(|w| w.key == key && w.pi) || self.granted.iter().any(|g| g.waiter.key == key);
        if !used {
            self.pi_states.retain(|s| s.key != key);
        }
    }

    /// FUTEX_WAKE(_BITSET) (`futex_wake`): takes out up to `count` waiters
    /// on `key` whose bitset meets `bitset`, oldest first: the ones to wake.
    /// A PI futex's waiters are not woken so: EINVAL, as Linux.
    pub fn wake(&mut self, key: FutexKey, bitset: u32, count: usize) -> Result<Vec<Waiter>, Errno> {
        if self.waiters.iter().any(|w| w.key == key && w.is_pi_kind()) {
            return Err(Errno::EINVAL);
        }
        let mut woken = Vec::new();
        self.waiters.retain(|w| {
            if woken.len() < count && w.key == key && w.bitset & bitset != 0 {
                woken.push(*w);
                false
            } else {
                true
            }
        });
        Ok(woken)
    }

    /// FUTEX_REQUEUE and FUTEX_CMP_REQUEUE once the value matched
    /// (`futex_requeue`): wakes up to `nr_wake` waiters on `from`, then
    /// moves up to `nr_requeue` of the others to `to`, oldest first.
    /// Returns the woken; the call returns woken + moved (both commands).
    pub fn requeue(&mut self, from: FutexKey, to: FutexKey, nr_wake: usize, nr_requeue: usize) -> Result<(Vec<Waiter>, usize), Errno> {
        if self.waiters.iter().any(|w| (w.key == from && w.is_pi_kind()) || (w.key == to && w.pi)) {
            return Err(Errno::EINVAL);
        }
        let woken = self.wake(from, u32::MAX, nr_wake)?;
        let mut moved = 0;
        for w in self.waiters.iter_mut().filter(|w| w.key == from) {
            if moved == nr_requeue {
                break;
            }
            w.key = to;
            moved += 1;
        }
        Ok((woken, moved))
    }

    /// FUTEX_CMP_REQUEUE_PI once the condition word matched
    /// (`futex_requeue` with requeue_pi, `futex_proxy_trylock_atomic`):
    /// the oldest waiter on `from` (a FUTEX_WAIT_REQUEUE_PI waiter for
    /// `to`, else EINVAL) tries to take PI lock `to`, whose word holds
    /// `word`, as LOCK_PI would for it (EDEADLK, ESRCH as there). If it
    /// gets it, it is handed the lock (FUTEX_WAITERS set when others are
    /// to follow); then up to `nr_requeue` waiters (one more if the first
    /// did not get it) become PI waiters on `to`. The call returns the
    /// count (taken + requeued).
    pub fn requeue_pi(
        &mut self,
        from: FutexKey,
        to: FutexKey,
        word: u32,
        nr_requeue: usize,
        alive: impl Fn(Pid) -> bool,
    ) -> Result<RequeuePi, Errno> {
        let Some(top) = self.waiters.iter().copied().find(|w| w.key == from) else {
            return Ok(RequeuePi { word: None, woken: None, count: 0 });
        };
        let on_from = || self.waiters.iter().filter(|w| w.key == from);
        if on_from().any(|w| w.pi || w.requeue_pi != Some(to)) {
            return Err(Errno::EINVAL);
        }
        let mut out = RequeuePi { word: None, woken: None, count: 0 };
        let owner = match self.lock_pi(to, word, top.tid, &alive)? {
            LockPi::Acquired(new) => {
                out.word = Some(if nr_requeue > 0 { new | FUTEX_WAITERS } else { new });
                let at = self.waiters.iter().position(|w| w.tid == top.tid).unwrap_or(0);
                let taken = self.waiters.remove(at);
                let taken = Waiter { key: to, pi: true, requeue_pi: None, ..taken };
                self.granted.push(Granted { waiter: taken, owner_died: false });
                self.pi_states.retain(|s| s.key != to);
                self.pi_states.push(PiState { key: to, owner: taken.tid });
                out.woken = Some(taken);
                out.count = 1;
                taken.tid
            }
            LockPi::Wait { word: new, owner } => {
                out.word = (new != word).then_some(new);
                owner
            }
        };
        // Up to nr_requeue + 1 in all (futex_requeue's `task_count - nr_wake`).
        let limit = nr_requeue.saturating_add(1);
        for w in self.waiters.iter_mut().filter(|w| w.key == from) {
            if out.count >= limit {
                break;
            }
            *w = Waiter { key: to, pi: true, requeue_pi: None, ..*w };
            out.count += 1;
        }
        if self.pi_owner(to).is_none() && self.waiters.iter().any(|w| w.key == to && w.pi) {
            self.pi_states.push(PiState { key: to, owner });
        }
        Ok(out)
    }

    /// The owner the kernel knows of PI futex `key`, if it has waiters.
    pub fn pi_owner(&self, key: FutexKey) -> Option<Pid> {
        self.pi_states.iter().find(|s| s.key == key).map(|s| s.owner)
    }

    /// FUTEX_LOCK_PI and FUTEX_TRYLOCK_PI by `tid` on a word holding
    /// `word` (`futex_lock_pi_atomic`, `attach_to_pi_owner`): EDEADLK when
    /// the caller owns it; a word with no owner is taken over (its
    /// OWNER_DIED kept); otherwise the owner (the kernel's record of it,
    /// else the word's tid) must be a live thread (`alive`), else ESRCH
    /// (it died without a robust list to clean its words up).
    pub fn lock_pi(&self, key: FutexKey, word: u32, tid: Pid, alive: impl Fn(Pid) -> bool) -> Result<LockPi, Errno> {
        let word_owner = word & FUTEX_TID_MASK;
        if word_owner == tid.as_u32() & FUTEX_TID_MASK {
            return Err(Errno::EDEADLK);
        }
        if let Some(owner) = self.pi_owner(key) {
            // Waiters already queue behind a known owner (attach_to_pi_state).
            if owner == tid {
                return Err(Errno::EDEADLK);
            }
            return Ok(LockPi::Wait { word: word | FUTEX_WAITERS, owner });
        }
        if word_owner == 0 {
            return Ok(LockPi::Acquired((word & FUTEX_OWNER_DIED) | (tid.as_u32() & FUTEX_TID_MASK)));
        }
        let owner = Pid::new(word_owner);
        if !alive(owner) {
            return Err(Errno::ESRCH);
        }
        Ok(LockPi::Wait { word: word | FUTEX_WAITERS, owner })
    }

    /// Queues `waiter` (a PI waiter) behind `owner` of its word.
    pub fn wait_pi(&mut self, waiter: Waiter, owner: Pid) {
        self.wait(waiter);
        if self.pi_owner(waiter.key).is_none() {
            self.pi_states.push(PiState { key: waiter.key, owner });
        }
    }

    /// FUTEX_UNLOCK_PI by `tid` of a word holding `word` (`futex_unlock_pi`,
    /// `wake_futex_pi`): EPERM unless the word names the caller; the oldest
    /// waiter gets the lock (the word becomes its tid | FUTEX_WAITERS, kept
    /// while the kernel has PI state, as Linux), else the word becomes 0.
    pub fn unlock_pi(&mut self, key: FutexKey, word: u32, tid: Pid) -> Result<UnlockPi, Errno> {
        if word & FUTEX_TID_MASK != tid.as_u32() & FUTEX_TID_MASK {
            return Err(Errno::EPERM);
        }
        match self.grant(key, false) {
            Some(next) => Ok(UnlockPi { word: FUTEX_WAITERS | (next.tid.as_u32() & FUTEX_TID_MASK), woken: Some(next) }),
            None => Ok(UnlockPi { word: 0, woken: None }),
        }
    }

    /// Hands PI futex `key` to its oldest waiter (now its owner), or drops
    /// its state when none waits.
    fn grant(&mut self, key: FutexKey, owner_died: bool) -> Option<Waiter> {
        let Some(at) = self.waiters.iter().position(|w| w.key == key && w.pi) else {
            self.pi_states.retain(|s| s.key != key);
            return None;
        };
        let next = self.waiters.remove(at);
        self.granted.push(Granted { waiter: next, owner_died });
        match self.pi_states.iter_mut().find(|s| s.key == key) {
            Some(state) => state.owner = next.tid,
            None => self.pi_states.push(PiState { key, owner: next.tid }),
        }
        Some(next)
    }

    /// Whether `tid` was handed a PI lock it waited for (and forgets it):
    /// its retry owns the word and fixes it up (`fixup_pi_owner`).
    pub fn take_granted(&mut self, tid: Pid) -> Option<Granted> {
        let at = self.granted.iter().position(|g| g.waiter.tid == tid)?;
        let granted = self.granted.remove(at);
        self.drop_pi_state_if_unused(granted.waiter.key);
        Some(granted)
    }

    /// Thread `tid` ended (`exit_pi_state_list`): every PI futex the
    /// kernel knows it owns goes to its oldest waiter. Returns those to
    /// wake (each fixes the word up on its retry).
    pub fn owner_died(&mut self, tid: Pid) -> Vec<Waiter> {
        self.remove(tid);
        let owned: Vec<FutexKey> = self.pi_states.iter().filter(|s| s.owner == tid).map(|s| s.key).collect();
        owned.into_iter().filter_map(|key| self.grant(key, true)).collect()
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

/// How many waiters FUTEX_WAKE and FUTEX_WAKE_OP wake for a count of
/// `nr` (an int): Linux's loop wakes before it counts, so 0 or a negative
/// count still wakes one.
pub fn wake_limit(nr: u32) -> usize {
    (nr as i32).max(1) as usize
}

/// The word a PI waiter handed the lock writes (`fixup_pi_state_owner`):
/// its tid with FUTEX_WAITERS, OWNER_DIED kept, and set when the lock
/// came from a dead owner; `None` when the word already says so.
pub fn pi_fixup(word: u32, granted: Granted) -> Option<u32> {
    let tid = granted.waiter.tid.as_u32() & FUTEX_TID_MASK;
    let died = if granted.owner_died { FUTEX_OWNER_DIED } else { 0 };
    let new = (word & FUTEX_OWNER_DIED) | died | FUTEX_WAITERS | tid;
    (new != word).then_some(new)
}

/// FUTEX_WAKE_OP's operation word (`futex_atomic_op_inuser`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakeOp {
    op: u32,
    cmp: u32,
    oparg: i32,
    cmparg: i32,
}

/// FUTEX_OP_OPARG_SHIFT (in the op field): the argument is `1 << oparg`.
pub const FUTEX_OP_OPARG_SHIFT: u32 = 8;

impl WakeOp {
    /// Decodes `encoded`: op (bits 28-31, the top one OPARG_SHIFT), cmp
    /// (24-27), oparg (12-23) and cmparg (0-11), both sign-extended. A shift
    /// beyond 31 is taken mod 32, as Linux does (with a warning).
    pub fn decode(encoded: u32) -> WakeOp {
        let sign_extend_12 = |v: u32| ((v << 20) as i32) >> 20;
        let mut oparg = sign_extend_12((encoded >> 12) & 0xfff);
        if encoded & (FUTEX_OP_OPARG_SHIFT << 28) != 0 {
            oparg = 1i32.wrapping_shl((oparg & 31) as u32);
        }
        WakeOp { op: (encoded >> 28) & 7, cmp: (encoded >> 24) & 0xf, oparg, cmparg: sign_extend_12(encoded & 0xfff) }
    }

    /// The value the word gets from `old` (SET, ADD, OR, ANDN, XOR);
    /// another op is ENOSYS and nothing is written.
    pub fn apply(&self, old: u32) -> Result<u32, Errno> {
        let arg = self.oparg as u32;
        Ok(match self.op {
            0 => arg,
            1 => old.wrapping_add(arg),
            2 => old | arg,
            3 => old & !arg,
            4 => old ^ arg,
            _ => return Err(Errno::ENOSYS),
        })
    }

    /// Whether waiters on the second word are woken: `old` (signed)
    /// compared with cmparg (EQ, NE, LT, LE, GT, GE); another comparison is
    /// ENOSYS (after the word was written, as Linux).
    pub fn compare(&self, old: u32) -> Result<bool, Errno> {
        let (old, arg) = (old as i32, self.cmparg);
        Ok(match self.cmp {
            0 => old == arg,
            1 => old != arg,
            2 => old < arg,
            3 => old <= arg,
            4 => old > arg,
            5 => old >= arg,
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// One futex word a dying thread's robust list names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RobustWord {
    /// The word's user address (entry + futex_offset).
    pub addr: u64,
    /// The entry's bit 0: a PI futex.
    pub pi: bool,
    /// It came from `list_op_pending` (a lock or unlock in progress).
    pub pending: bool,
}

/// Walks the robust list at `head` (`exit_robust_list`): the entries from
/// `head->list.next` until the list returns to `head`, at most
/// [`ROBUST_LIST_LIMIT`] of them, each but the pending one handed to
/// `mark`, then `list_op_pending`'s. `read` reads a user u64 (`None`: a
/// fault, which ends the walk); `mark` returning false (a bad word) ends
/// it too, as Linux.
pub fn walk_robust_list(head: u64, mut read: impl FnMut(u64) -> Option<u64>, mut mark: impl FnMut(RobustWord) -> bool) {
    // fetch_robust_entry: the pointer without its PI bit, and the bit.
    let Some(first) = read(head) else { return };
    // futex_offset is a signed long: added with wrap-around.
    let Some(offset) = read(head.wrapping_add(8)) else { return };
    let Some(pending_raw) = read(head.wrapping_add(16)) else { return };
    let split = |v: u64| (v & !1, v & 1 != 0);
    let ((mut entry, mut pi), (pending, pending_pi)) = (split(first), split(pending_raw));
    let mut limit = ROBUST_LIST_LIMIT;
    while entry != head {
        let next = read(entry).map(split);
        if entry != pending && !mark(RobustWord { addr: entry.wrapping_add(offset), pi, pending: false }) {
            return;
        }
        let Some((next_entry, next_pi)) = next else { return };
        entry = next_entry;
        pi = next_pi;
        limit -= 1;
        if limit == 0 {
            break;
        }
    }
    if pending != 0 {
        mark(RobustWord { addr: pending.wrapping_add(offset), pi: pending_pi, pending: true });
    }
}

/// What a dying thread's robust word gets (`handle_futex_death`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Death {
    /// The new value, if the word is written.
    pub write: Option<u32>,
    /// Whether one waiter on the word is woken (non-PI words: PI waiters
    /// are handed the lock by [`FutexTable::owner_died`]).
    pub wake: bool,
}

/// The rule for one robust word holding `word` when thread `tid` dies: a
/// word it owns gets FUTEX_OWNER_DIED with FUTEX_WAITERS kept and the tid
/// cleared, and (non-PI, waiters) one waiter is woken; a pending non-PI
/// word with no owner only wakes one waiter (a wake-up the dying unlock
/// did not get to send); any other word is left alone.
pub fn robust_death(word: u32, tid: Pid, word_info: RobustWord) -> Death {
    let owner = word & FUTEX_TID_MASK;
    if word_info.pending && !word_info.pi && owner == 0 {
        return Death { write: None, wake: true };
    }
    if owner != tid.as_u32() & FUTEX_TID_MASK {
        return Death { write: None, wake: false };
    }
    Death { write: Some((word & FUTEX_WAITERS) | FUTEX_OWNER_DIED), wake: !word_info.pi && word & FUTEX_WAITERS != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    const fn shared(k: u64) -> FutexKey {
        FutexKey::Shared(k)
    }

    fn waiter(tid: u32, key: FutexKey) -> Waiter {
        Waiter::new(Pid::new(tid), key, u32::MAX, u64::MAX)
    }

    fn tids(ws: &[Waiter]) -> Vec<u32> {
        ws.iter().map(|w| w.tid.as_u32()).collect()
    }

    #[test]
    fn wake_takes_the_oldest_on_the_key() {
        let mut t = FutexTable::new();
        t.wait(waiter(2, shared(0x1000)));
        t.wait(waiter(3, shared(0x2000)));
        t.wait(waiter(4, shared(0x1000)));
        t.wait(waiter(5, shared(0x1000)));
        assert_eq!(tids(&t.wake(shared(0x1000), u32::MAX, 2).unwrap()), [2, 4]);
        assert_eq!(t.waiting(Pid::new(2)), None, "woken: no longer waiting");
        assert!(t.waiting(Pid::new(5)).is_some());
        assert_eq!(t.wake(shared(0x3000), u32::MAX, 10), Ok(Vec::new()));
        assert_eq!(t.wake(shared(0x1000), u32::MAX, 0), Ok(Vec::new()), "a count of 0 wakes none");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn wake_counts_as_linux() {
        assert_eq!(wake_limit(0), 1);
        assert_eq!(wake_limit(u32::MAX), 1, "-1");
        assert_eq!(wake_limit(5), 5);
        assert_eq!(wake_limit(i32::MAX as u32), i32::MAX as usize);
        assert_eq!(wake_limit(0x8000_0000), 1, "INT_MIN");
    }

    #[test]
    fn private_keys_are_per_address_space() {
        let mut t = FutexTable::new();
        let a = FutexKey::Private { mm: Pid::new(2), addr: 0x1000 };
        let b = FutexKey::Private { mm: Pid::new(3), addr: 0x1000 };
        t.wait(waiter(2, a));
        t.wait(waiter(3, b));
        // Same address, another process: not the same word.
        assert_eq!(tids(&t.wake(b, u32::MAX, 5).unwrap()), [3]);
        assert_ne!(a, shared(0x1000));
        // A shared operation on the same private word: another key.
        let a_shared_op = FutexKey::MmShared { mm: Pid::new(2), addr: 0x1000 };
        assert_eq!(t.wake(a_shared_op, u32::MAX, 5).unwrap(), []);
        assert_eq!(tids(&t.wake(a, u32::MAX, 5).unwrap()), [2]);
    }

    #[test]
    fn bitsets_and_one_wait_per_thread() {
        let mut t = FutexTable::new();
        t.wait(Waiter { bitset: 0b01, ..waiter(2, shared(8)) });
        t.wait(Waiter { bitset: 0b10, ..waiter(3, shared(8)) });
        t.wait(Waiter { bitset: 0b11, ..waiter(4, shared(8)) });
        assert_eq!(tids(&t.wake(shared(8), 0b10, 5).unwrap()), [3, 4]);
        assert!(t.waiting(Pid::new(2)).is_some());
        // A new wait of the same thread replaces its old one.
        t.wait(waiter(2, shared(16)));
        assert_eq!(t.len(), 1);
        assert_eq!(t.waiting(Pid::new(2)).map(|w| w.key), Some(shared(16)));
        t.remove(Pid::new(2));
        assert!(t.is_empty());
    }

    #[test]
    fn requeue_wakes_then_moves_oldest_first() {
        let mut t = FutexTable::new();
        for tid in 2..7 {
            t.wait(waiter(tid, shared(1)));
        }
        let (woken, moved) = t.requeue(shared(1), shared(2), 1, 2).unwrap();
        assert_eq!(tids(&woken), [2]);
        assert_eq!(moved, 2);
        assert_eq!(tids(&t.wake(shared(2), u32::MAX, 10).unwrap()), [3, 4]);
        assert_eq!(tids(&t.wake(shared(1), u32::MAX, 10).unwrap()), [5, 6]);
        // Nothing to move: zero of each.
        assert_eq!(t.requeue(shared(1), shared(2), 5, 5), Ok((Vec::new(), 0)));
    }

    #[test]
    fn requeue_to_the_same_word_and_wake_all() {
        let mut t = FutexTable::new();
        for tid in 2..5 {
            t.wait(waiter(tid, shared(1)));
        }
        let (woken, moved) = t.requeue(shared(1), shared(1), 0, usize::MAX).unwrap();
        assert_eq!((woken.len(), moved), (0, 3));
        assert_eq!(t.wake(shared(1), u32::MAX, usize::MAX).unwrap().len(), 3);
    }

    #[test]
    fn wake_and_requeue_refuse_pi_waiters() {
        let mut t = FutexTable::new();
        t.wait_pi(Waiter::pi(Pid::new(3), shared(1), u64::MAX), Pid::new(2));
        assert_eq!(t.wake(shared(1), u32::MAX, 1), Err(Errno::EINVAL));
        assert_eq!(t.requeue(shared(1), shared(2), 1, 1), Err(Errno::EINVAL));
        assert_eq!(t.requeue(shared(2), shared(1), 1, 1), Err(Errno::EINVAL));
    }

    #[test]
    fn lock_pi_words() {
        let t = FutexTable::new();
        let me = Pid::new(7);
        let alive = |p: Pid| p.as_u32() == 9;
        // No owner: taken, OWNER_DIED kept, WAITERS not set.
        assert_eq!(t.lock_pi(shared(1), 0, me, alive), Ok(LockPi::Acquired(7)));
        assert_eq!(t.lock_pi(shared(1), FUTEX_OWNER_DIED, me, alive), Ok(LockPi::Acquired(FUTEX_OWNER_DIED | 7)));
        assert_eq!(t.lock_pi(shared(1), FUTEX_WAITERS | FUTEX_OWNER_DIED, me, alive), Ok(LockPi::Acquired(FUTEX_OWNER_DIED | 7)));
        // Own lock: EDEADLK, with or without the flag bits.
        assert_eq!(t.lock_pi(shared(1), 7, me, alive), Err(Errno::EDEADLK));
        assert_eq!(t.lock_pi(shared(1), 7 | FUTEX_WAITERS, me, alive), Err(Errno::EDEADLK));
        // A live owner: wait, WAITERS set.
        assert_eq!(t.lock_pi(shared(1), 9, me, alive), Ok(LockPi::Wait { word: 9 | FUTEX_WAITERS, owner: Pid::new(9) }));
        // A dead owner with no robust cleanup: ESRCH.
        assert_eq!(t.lock_pi(shared(1), 10, me, alive), Err(Errno::ESRCH));
        assert_eq!(t.lock_pi(shared(1), 10 | FUTEX_WAITERS, me, alive), Err(Errno::ESRCH));
    }

    #[test]
    fn unlock_pi_hands_over_in_order() {
        let mut t = FutexTable::new();
        let (owner, a, b) = (Pid::new(2), Pid::new(3), Pid::new(4));
        let key = shared(1);
        let alive = |_: Pid| true;
        let LockPi::Wait { word, owner: o } = t.lock_pi(key, 2, a, alive).unwrap() else { panic!() };
        assert_eq!((word, o), (2 | FUTEX_WAITERS, owner));
        t.wait_pi(Waiter::pi(a, key, u64::MAX), o);
        // The second waiter queues behind the kernel's owner.
        assert_eq!(t.lock_pi(key, word, b, alive), Ok(LockPi::Wait { word, owner }));
        t.wait_pi(Waiter::pi(b, key, u64::MAX), owner);
        assert_eq!(t.unlock_pi(key, word, a), Err(Errno::EPERM), "only the owner unlocks");
        let u = t.unlock_pi(key, word, owner).unwrap();
        assert_eq!(u.word, FUTEX_WAITERS | 3);
        assert_eq!(u.woken.map(|w| w.tid), Some(a));
        assert_eq!(t.pi_owner(key), Some(a));
        // While a is handed the lock, others (and the old owner) queue.
        assert_eq!(t.lock_pi(key, u.word, owner, alive).map(|l| matches!(l, LockPi::Wait { .. })), Ok(true));
        assert_eq!(t.lock_pi(key, u.word, a, alive), Err(Errno::EDEADLK));
        let granted = t.take_granted(a).unwrap();
        assert_eq!((granted.waiter.key, granted.owner_died), (key, false));
        assert_eq!(t.take_granted(a), None);
        assert_eq!(pi_fixup(u.word, granted), None, "the unlock already wrote a's tid");
        let u = t.unlock_pi(key, u.word, a).unwrap();
        assert_eq!((u.word, u.woken.map(|w| w.tid)), (FUTEX_WAITERS | 4, Some(b)));
        t.take_granted(b);
        // The last owner's unlock: no waiter, the word becomes 0.
        let u = t.unlock_pi(key, u.word, b).unwrap();
        assert_eq!(u, UnlockPi { word: 0, woken: None });
        assert_eq!(t.pi_owner(key), None);
    }

    #[test]
    fn a_pi_waiter_that_leaves_drops_the_state() {
        let mut t = FutexTable::new();
        t.wait_pi(Waiter::pi(Pid::new(3), shared(1), 100), Pid::new(2));
        assert_eq!(t.pi_owner(shared(1)), Some(Pid::new(2)));
        t.remove(Pid::new(3));
        assert_eq!(t.pi_owner(shared(1)), None);
        // The owner's unlock finds no one: 0 (WAITERS cleared).
        assert_eq!(t.unlock_pi(shared(1), 2 | FUTEX_WAITERS, Pid::new(2)).map(|u| u.word), Ok(0));
    }

    #[test]
    fn a_dead_owner_hands_its_pi_locks_over() {
        let mut t = FutexTable::new();
        let owner = Pid::new(2);
        t.wait_pi(Waiter::pi(Pid::new(3), shared(1), u64::MAX), owner);
        t.wait_pi(Waiter::pi(Pid::new(4), shared(1), u64::MAX), owner);
        t.wait_pi(Waiter::pi(Pid::new(5), shared(2), u64::MAX), Pid::new(6));
        let woken = t.owner_died(owner);
        assert_eq!(tids(&woken), [3]);
        assert_eq!(t.pi_owner(shared(1)), Some(Pid::new(3)));
        assert_eq!(t.pi_owner(shared(2)), Some(Pid::new(6)), "another owner's lock stays");
        let granted = Granted { waiter: woken[0], owner_died: true };
        // The robust walk left OWNER_DIED | WAITERS; the new owner writes its tid.
        assert_eq!(pi_fixup(FUTEX_OWNER_DIED | FUTEX_WAITERS, granted), Some(FUTEX_OWNER_DIED | FUTEX_WAITERS | 3));
        // Without robust cleanup the dead tid is still there; OWNER_DIED
        // is set all the same (the kernel saw the owner die).
        assert_eq!(pi_fixup(2 | FUTEX_WAITERS, granted), Some(FUTEX_OWNER_DIED | FUTEX_WAITERS | 3));
        assert_eq!(pi_fixup(FUTEX_OWNER_DIED | FUTEX_WAITERS | 3, granted), None);
        // Handed the lock and dying before running: the next one gets it.
        let woken = t.owner_died(Pid::new(3));
        assert_eq!(tids(&woken), [4]);
        assert_eq!(t.take_granted(Pid::new(3)), None);
        assert_eq!(t.take_granted(Pid::new(4)).map(|g| g.owner_died), Some(true));
        assert_eq!(t.owner_died(Pid::new(4)), []);
        assert_eq!(t.pi_owner(shared(1)), None);
    }

    #[test]
    fn requeue_pi_takes_a_free_lock_then_queues_the_rest() {
        let mut t = FutexTable::new();
        let (cond, lock) = (shared(1), shared(2));
        for tid in 3..7 {
            t.wait(Waiter::requeue_pi(Pid::new(tid), cond, lock, u64::MAX));
        }
        // Requeue-PI waiters are no plain waiters.
        assert_eq!(t.wake(cond, u32::MAX, 1), Err(Errno::EINVAL));
        assert_eq!(t.requeue(cond, shared(9), 1, 1), Err(Errno::EINVAL));
        let alive = |_: Pid| true;
        let r = t.requeue_pi(cond, lock, 0, 2, alive).unwrap();
        // 3 takes the free lock (WAITERS: others follow); 4 and 5 queue.
        assert_eq!(r.word, Some(3 | FUTEX_WAITERS));
        assert_eq!(r.woken.map(|w| w.tid), Some(Pid::new(3)));
        assert_eq!(r.count, 3);
        assert_eq!(t.pi_owner(lock), Some(Pid::new(3)));
        assert_eq!(t.waiting(Pid::new(6)).map(|w| w.key), Some(cond), "beyond nr_requeue: stays");
        let granted = t.take_granted(Pid::new(3)).unwrap();
        assert_eq!(pi_fixup(3 | FUTEX_WAITERS, granted), None);
        let u = t.unlock_pi(lock, 3 | FUTEX_WAITERS, Pid::new(3)).unwrap();
        assert_eq!(u.woken.map(|w| w.tid), Some(Pid::new(4)));
    }

    #[test]
    fn requeue_pi_onto_a_held_lock_and_its_errors() {
        let mut t = FutexTable::new();
        let (cond, lock) = (shared(1), shared(2));
        let alive = |p: Pid| p.as_u32() == 9;
        assert_eq!(t.requeue_pi(cond, lock, 9, 5, alive), Ok(RequeuePi { word: None, woken: None, count: 0 }), "no waiter");
        t.wait(Waiter::requeue_pi(Pid::new(3), cond, lock, u64::MAX));
        t.wait(Waiter::requeue_pi(Pid::new(4), cond, lock, u64::MAX));
        // Held by 9: one more than nr_requeue (0) is requeued, none taken.
        let r = t.requeue_pi(cond, lock, 9, 0, alive).unwrap();
        assert_eq!(r, RequeuePi { word: Some(9 | FUTEX_WAITERS), woken: None, count: 1 });
        assert_eq!(t.pi_owner(lock), Some(Pid::new(9)));
        assert_eq!(t.waiting(Pid::new(3)).map(|w| (w.key, w.pi)), Some((lock, true)));
        // The top waiter owning the lock itself: EDEADLK; a dead owner: ESRCH.
        assert_eq!(t.requeue_pi(cond, shared(7), 4, 1, alive), Err(Errno::EINVAL), "another lock than it waits for");
        let mut u = FutexTable::new();
        u.wait(Waiter::requeue_pi(Pid::new(4), cond, lock, u64::MAX));
        assert_eq!(u.requeue_pi(cond, lock, 4, 1, alive), Err(Errno::EDEADLK));
        assert_eq!(u.requeue_pi(cond, lock, 8, 1, alive), Err(Errno::ESRCH));
        // A plain waiter on the condition word: EINVAL.
        u.wait(waiter(5, cond));
        assert_eq!(u.requeue_pi(cond, lock, 0, 1, alive), Err(Errno::EINVAL));
    }

    #[test]
    fn a_dying_waiter_leaves_every_queue() {
        let mut t = FutexTable::new();
        t.wait(waiter(3, shared(1)));
        t.wait(waiter(4, shared(1)));
        assert_eq!(t.owner_died(Pid::new(3)), []);
        assert_eq!(tids(&t.wake(shared(1), u32::MAX, 5).unwrap()), [4]);
    }

    #[test]
    fn wake_op_decodes_as_linux() {
        // glibc's old FUTEX_OP_CLEAR_WAKE_IF_GT_ONE: SET 0, wake if old > 1.
        let op = WakeOp::decode((4 << 24) | 1);
        assert_eq!(op.apply(5), Ok(0));
        assert_eq!(op.compare(5), Ok(true));
        assert_eq!(op.compare(1), Ok(false));
        // ADD 1, EQ 0.
        let add = WakeOp::decode((1 << 28) | (1 << 12));
        assert_eq!(add.apply(u32::MAX), Ok(0), "wraps");
        assert_eq!(add.compare(0), Ok(true));
        // Sign extension: oparg 0xfff is -1, cmparg 0x800 is -2048.
        let neg = WakeOp::decode((1 << 28) | (2 << 24) | (0xfff << 12) | 0x800);
        assert_eq!(neg.apply(10), Ok(9));
        assert_eq!(neg.compare((-2049i32) as u32), Ok(true));
        assert_eq!(neg.compare((-2048i32) as u32), Ok(false));
        assert_eq!(neg.compare(5), Ok(false), "signed: 5 is not below -2048");
        // OR, ANDN, XOR with OPARG_SHIFT: the argument is 1 << oparg.
        let shift = |op: u32, arg: u32| WakeOp::decode(((op | FUTEX_OP_OPARG_SHIFT) << 28) | (arg << 12));
        assert_eq!(shift(2, 4).apply(1), Ok(0b10001));
        assert_eq!(shift(3, 0).apply(0b111), Ok(0b110));
        assert_eq!(shift(4, 31).apply(0), Ok(0x8000_0000));
        assert_eq!(shift(0, 40).apply(0), Ok(1 << 8), "shift mod 32");
        // Every comparison.
        let cmp = |c: u32, arg: u32, old: i32| WakeOp::decode((c << 24) | arg).compare(old as u32);
        assert_eq!([cmp(0, 3, 3), cmp(1, 3, 3), cmp(2, 3, 2), cmp(3, 3, 3), cmp(4, 3, 3), cmp(5, 3, 3)], [Ok(true), Ok(false), Ok(true), Ok(true), Ok(false), Ok(true)]);
        // Unknown op (5..7) and comparison (6..15): ENOSYS.
        assert_eq!(WakeOp::decode(5 << 28).apply(0), Err(Errno::ENOSYS));
        assert_eq!(WakeOp::decode(7 << 28).apply(0), Err(Errno::ENOSYS));
        assert_eq!(WakeOp::decode(6 << 24).compare(0), Err(Errno::ENOSYS));
        assert_eq!(WakeOp::decode(15 << 24).compare(0), Err(Errno::ENOSYS));
    }

    /// A user memory of u64s for the robust walker.
    fn walk(mem: &BTreeMap<u64, u64>, head: u64) -> Vec<RobustWord> {
        let mut out = Vec::new();
        walk_robust_list(head, |a| mem.get(&a).copied(), |w| {
            out.push(w);
            true
        });
        out
    }

    #[test]
    fn robust_list_walk() {
        // head at 0x100: next, futex_offset, list_op_pending.
        let mut mem = BTreeMap::new();
        mem.insert(0x100, 0x200);
        mem.insert(0x108, (-8i64) as u64);
        mem.insert(0x110, 0x301); // pending: a PI entry
        mem.insert(0x200, 0x301); // -> 0x300, PI
        mem.insert(0x300, 0x400);
        mem.insert(0x400, 0x100); // back to the head
        let words = walk(&mem, 0x100);
        assert_eq!(
            words,
            [
                RobustWord { addr: 0x1f8, pi: false, pending: false },
                // 0x300 is the pending one: only once, at the end.
                RobustWord { addr: 0x3f8, pi: false, pending: false },
                RobustWord { addr: 0x2f8, pi: true, pending: true },
            ]
        );
        // An empty list (next is the head) with nothing pending.
        let mut empty = BTreeMap::new();
        empty.insert(0x100, 0x100);
        empty.insert(0x108, 0);
        empty.insert(0x110, 0);
        assert_eq!(walk(&empty, 0x100), []);
    }

    #[test]
    fn robust_list_faults_and_cycles_end_the_walk() {
        // A cycle not through the head: stops after ROBUST_LIST_LIMIT.
        let mut mem = BTreeMap::new();
        mem.insert(0x100, 0x200);
        mem.insert(0x108, 0);
        mem.insert(0x110, 0);
        mem.insert(0x200, 0x300);
        mem.insert(0x300, 0x200);
        assert_eq!(walk(&mem, 0x100).len(), ROBUST_LIST_LIMIT);
        // A fault reading an entry's next: that entry is still marked
        // (its word read fails in the kernel), then the walk stops before
        // the pending one.
        let mut bad = BTreeMap::new();
        bad.insert(0x100, 0x200);
        bad.insert(0x108, 4);
        bad.insert(0x110, 0x500);
        bad.insert(0x200, 0xffff_8000_0000_0000);
        let words = walk(&bad, 0x100);
        assert_eq!(words.iter().map(|w| w.addr).collect::<Vec<_>>(), [0x204, 0xffff_8000_0000_0004]);
        // An unreadable head: nothing.
        assert_eq!(walk(&BTreeMap::new(), 0x100), []);
        // mark refusing a word ends the walk.
        let mut n = 0;
        walk_robust_list(0x100, |a| mem.get(&a).copied(), |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn robust_death_rule() {
        let tid = Pid::new(5);
        let list = RobustWord { addr: 0, pi: false, pending: false };
        let pi = RobustWord { pi: true, ..list };
        let pending = RobustWord { pending: true, ..list };
        // Owned: OWNER_DIED, WAITERS kept, tid cleared; wake if waiters (non-PI).
        assert_eq!(robust_death(5, tid, list), Death { write: Some(FUTEX_OWNER_DIED), wake: false });
        assert_eq!(robust_death(5 | FUTEX_WAITERS, tid, list), Death { write: Some(FUTEX_OWNER_DIED | FUTEX_WAITERS), wake: true });
        assert!(robust_death(5 | FUTEX_WAITERS | FUTEX_OWNER_DIED, tid, list).wake);
        assert_eq!(robust_death(5 | FUTEX_WAITERS, tid, pi), Death { write: Some(FUTEX_OWNER_DIED | FUTEX_WAITERS), wake: false });
        // Someone else's: untouched.
        assert_eq!(robust_death(6 | FUTEX_WAITERS, tid, list), Death { write: None, wake: false });
        // A pending unlock that cleared the word: wake only.
        assert_eq!(robust_death(0, tid, pending), Death { write: None, wake: true });
        assert_eq!(robust_death(0, tid, list), Death { write: None, wake: false });
        assert_eq!(robust_death(0, tid, RobustWord { pi: true, ..pending }), Death { write: None, wake: false });
    }
}
