//! SysV IPC's live objects (docs/sysv-ipc.md): shared memory segments and
//! semaphore sets in their key/id tables (`process::sysv::Table`), the
//! threads waiting in semop, each process's SEM_UNDO adjustments, and what
//! becomes of them when a process detaches, a thread ends or a process
//! exits. The system calls are `syscalls::ipc`.
//!
//! - A segment is an anonymous object of `mm::shared`, as MAP_SHARED
//!   memory is, in a shared domain of its own. The table holds one member
//!   reference on it, so the pages live as long as the segment does, with
//!   or without attachments; each attaching address space is one member
//!   more (shm_nattch is the object's members less the table's). IPC_RMID
//!   with attachments marks the segment (SHM_DEST, its key private); the
//!   last detach ([`detached`]) then removes it and frees its pages.
//! - A semop that must wait records the thread in [`WAITERS`] (the set,
//!   the semaphore and kind it blocks on, its deadline) and blocks until
//!   that deadline; every change to a set wakes, oldest first, the waiters
//!   whose blocking operation the new values allow, and those retry the
//!   whole call. A removed set marks its waiters, which answer EIDRM.
//!
//! Locks: [`SEGMENTS`], [`SETS`], [`WAITERS`] and [`UNDO`] are taken in
//! that order, after the process record, and never held across a call
//! into `mm::shared` or the memory of a process.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use pkru::Key;
use pkru::shared::ObjectId;
use process::sysv::{Perm, Table};
use spin::Mutex;

use crate::mm::shared;
use crate::proc::{BlockOn, sched};

/// One shared memory segment.
#[derive(Debug)]
pub struct Segment {
    /// Its pages: an anonymous object of `mm::shared`.
    pub object: ObjectId,
    /// The object's protection key (its shared domain).
    pub key: Key,
    /// The size shmget was given, in bytes (attachments map it rounded up to pages).
    pub size: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    /// IPC_RMID came while it was attached: it goes at the last detach.
    pub destroyed: bool,
    /// SHM_LOCK (accepted; every page is resident anyway).
    pub locked: bool,
}

/// One semaphore set.
#[derive(Debug)]
pub struct SemSet {
    pub values: Vec<i32>,
    /// The pid of the last process to operate on each semaphore (GETPID).
    pub pids: Vec<u32>,
    pub otime: i64,
    pub ctime: i64,
}

/// Linux's default SHMMNI and SEMMNI.
pub static SEGMENTS: Mutex<Table<Segment>> = Mutex::new(Table::new(syscall::ipc::SHMMNI));
pub static SETS: Mutex<Table<SemSet>> = Mutex::new(Table::new(syscall::ipc::SEMMNI));

/// A thread blocked in semop.
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    /// The set's id.
    pub set: i32,
    /// The semaphore its blocking operation is on, and whether that
    /// operation waits for zero (semzcnt) or for the value to grow (semncnt).
    pub num: u16,
    pub zero: bool,
    /// What the blocking operation subtracts (0 for a wait for zero).
    pub need: i32,
    /// CLOCK_MONOTONIC deadline (u64::MAX: none); the thread blocks until it.
    pub deadline_ns: u64,
    /// Its order among the waiters (oldest first).
    pub since: u64,
    /// Woken to retry, not run yet.
    pub woken: bool,
    /// The set was removed while it waited: the call answers EIDRM.
    pub removed: bool,
}

/// Every thread waiting in semop, by tid.
pub static WAITERS: Mutex<BTreeMap<u32, Waiter>> = Mutex::new(BTreeMap::new());

/// Counts waits, for [`Waiter::since`].
static WAIT_SEQ: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// SEM_UNDO adjustments (`semadj`) by (pid, set id), one per semaphore of the set.
pub static UNDO: Mutex<BTreeMap<(u32, i32), Vec<i32>>> = Mutex::new(BTreeMap::new());

/// Seconds since the epoch (the times IPC_STAT shows).
pub fn now_seconds() -> i64 {
    (crate::time::realtime_ns() / 1_000_000_000) as i64
}

/// `perm`'s `struct ipc64_perm` with `extra` mode bits (SHM_DEST, SHM_LOCKED).
pub fn perm_layout(id: i32, perm: &Perm, extra: u32) -> syscall::IpcPerm {
    syscall::IpcPerm {
        key: perm.key,
        uid: perm.uid,
        gid: perm.gid,
        cuid: perm.cuid,
        cgid: perm.cgid,
        mode: u32::from(perm.mode) | extra,
        seq: (id / process::sysv::SEQ_MULTIPLIER) as u16,
    }
}

/// Address spaces attached to `segment` (shm_nattch).
pub fn attachments(segment: &Segment) -> u64 {
    u64::from(shared::members(segment.object).unwrap_or(1).saturating_sub(1))
}

/// An address space stopped mapping shared object `object` (munmap,
/// shmdt, exec, exit): if it is a segment, its last detach time and pid;
/// a removed segment with no attachment left goes, with its pages.
pub fn detached(object: ObjectId) {
    let gone = {
        let mut segments = SEGMENTS.lock();
        if segments.in_use() == 0 {
            return;
        }
        let Some(id) = segments.find(|s| s.object == object) else { return };
        let Ok((_, segment)) = segments.lookup(id) else { return };
        segment.dtime = now_seconds();
        segment.lpid = sched::current().as_u32();
        if segment.destroyed && attachments(segment) == 0 { segments.remove(id).ok() } else { None }
    };
    if let Some(segment) = gone {
        shared::leave(segment.object);
    }
}

/// Registers the calling thread as a waiter (replacing its earlier record).
pub fn wait(tid: u32, waiter: Waiter) {
    let since = WAIT_SEQ.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    WAITERS.lock().insert(tid, Waiter { since, woken: false, removed: false, ..waiter });
}

/// Takes the calling thread's record out (its retry decides anew).
pub fn take_waiter(tid: u32) -> Option<Waiter> {
    WAITERS.lock().remove(&tid)
}

/// Set `set` changed to `values`: the waiters whose blocking operation
/// may go now are woken, oldest first, each taking what its operation
/// needs from what is left (so one release wakes one waiter of a mutex,
/// not all of them). Woken waiters retry the whole call; one that does
/// not go through after all (it must wait again, times out, is
/// interrupted or ends) calls this once more, so what it did not take
/// reaches the next.
pub fn wake_waiters(set: i32, values: &[i32]) {
    let mut waiters = WAITERS.lock();
    let mut left: Vec<i32> = values.to_vec();
    let mut candidates: Vec<(u64, u32)> =
        waiters.iter().filter(|(_, w)| w.set == set && !w.woken).map(|(&tid, w)| (w.since, tid)).collect();
    candidates.sort_unstable();
    for (_, tid) in candidates {
        let Some(w) = waiters.get_mut(&tid) else { continue };
        let Some(value) = left.get_mut(usize::from(w.num)) else { continue };
        // Any growth may let a decrement go (what it needs was measured
        // after the call's earlier operations); it takes at most its need.
        let go = if w.zero { *value == 0 } else { *value > 0 };
        if go {
            *value = value.saturating_sub(w.need.min(*value));
            w.woken = true;
            sched::wake_thread(process::Pid::new(tid), BlockOn::Until(w.deadline_ns));
        }
    }
}

/// Set `set` is gone: each waiter is woken to answer EIDRM, and the
/// adjustments kept for it are dropped.
pub fn set_removed(set: i32) {
    for (&tid, w) in WAITERS.lock().iter_mut().filter(|(_, w)| w.set == set) {
        w.removed = true;
        w.woken = true;
        sched::wake_thread(process::Pid::new(tid), BlockOn::Until(w.deadline_ns));
    }
    UNDO.lock().retain(|&(_, id), _| id != set);
}

/// Waiters of `set` blocked on semaphore `num`: (semncnt, semzcnt).
pub fn waiting_on(set: i32, num: u16) -> (u64, u64) {
    let waiters = WAITERS.lock();
    let on = waiters.values().filter(|w| w.set == set && w.num == num && !w.removed);
    on.fold((0, 0), |(n, z), w| if w.zero { (n, z + 1) } else { (n + 1, z) })
}

/// Thread `tid` ends (exit, a fatal signal, exec's other threads): it
/// waits no more; if it had been woken, what it would have taken goes to
/// the next waiter.
pub fn thread_ended(tid: u32) {
    let Some(w) = take_waiter(tid) else { return };
    if w.woken && !w.removed {
        let values = SETS.lock().lookup(w.set).map(|(_, s)| s.values.clone());
        if let Ok(values) = values {
            wake_waiters(w.set, &values);
        }
    }
}

/// Process `pid` exits: its SEM_UNDO adjustments are applied to every set
/// they were made on (clamped to 0..=SEMVMX, Linux's `exit_sem`), with
/// `pid` as the last pid of each semaphore changed, and the waiters that
/// can go now are woken.
pub fn process_ended(pid: u32) {
    let entries: Vec<(i32, Vec<i32>)> = {
        let mut undo = UNDO.lock();
        let keys: Vec<(u32, i32)> = undo.range((pid, i32::MIN)..=(pid, i32::MAX)).map(|(&k, _)| k).collect();
        keys.into_iter().filter_map(|k| undo.remove(&k).map(|adj| (k.1, adj))).collect()
    };
    for (id, semadj) in entries {
        let values = {
            let mut sets = SETS.lock();
            let Ok((_, set)) = sets.lookup(id) else { continue };
            let adjustments: Vec<(u16, i32)> =
                semadj.iter().enumerate().filter(|&(_, &a)| a != 0).map(|(i, &a)| (i as u16, a)).collect();
            process::sysv::apply_undo(&mut set.values, &adjustments);
            for &(num, _) in &adjustments {
                if let Some(p) = set.pids.get_mut(usize::from(num)) {
                    *p = pid;
                }
            }
            set.values.clone()
        };
        wake_waiters(id, &values);
    }
}
