//! Advisory file locks: the `flock` and `fcntl` lock tables of every
//! locked file (kept by `process::locks`), who waits for whom (for
//! `EDEADLK`), and their release when descriptors close and processes end.
//! The system calls are in `syscalls::files`.

use alloc::collections::BTreeMap;

use process::locks::{Flocks, Owner, RecordLock, RecordLocks};
use spin::Mutex;

use crate::fs::{FileKind, OpenFile};
use crate::proc::BlockOn;

/// What a lock is on: an inode of the file system, or the kernel object
/// behind a pipe, socket, /proc file or the console (Linux locks any inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockKey {
    Inode(vfs::InodeId),
    Object(usize),
}

/// The lock key of an open file.
pub fn key_of(kind: &FileKind) -> LockKey {
    use alloc::sync::Arc;
    match kind {
        FileKind::Node(id) => LockKey::Inode(*id),
        FileKind::Console(_) => LockKey::Object(0),
        FileKind::EventFd(counter) => LockKey::Object(Arc::as_ptr(counter) as *const () as usize),
        FileKind::TimerFd(timer) => LockKey::Object(crate::timerfd::id(timer)),
        FileKind::Pipe { pipe, .. } => LockKey::Object(crate::fs::pipe_id(pipe)),
        FileKind::Proc(node) => LockKey::Object(Arc::as_ptr(node) as usize),
        FileKind::Socket(socket) => LockKey::Object(Arc::as_ptr(socket) as *const () as usize),
        FileKind::Unix(end) => LockKey::Object(Arc::as_ptr(end) as usize),
        FileKind::UnixSocket(socket) => LockKey::Object(Arc::as_ptr(socket) as usize),
        FileKind::Epoll(epoll) => LockKey::Object(Arc::as_ptr(epoll) as *const () as usize),
        FileKind::Pty(end) => LockKey::Object(crate::pty::wait_id(&end.pty)),
    }
}

static RECORDS: Mutex<BTreeMap<LockKey, RecordLocks>> = Mutex::new(BTreeMap::new());
static FLOCKS: Mutex<BTreeMap<LockKey, Flocks>> = Mutex::new(BTreeMap::new());
/// Each process blocked in `F_SETLKW` and the process whose lock it waits for.
static WAITS: Mutex<BTreeMap<u32, u32>> = Mutex::new(BTreeMap::new());

/// Every lock waiter runs again and retries (locks change rarely).
fn wake_waiters() {
    crate::proc::sched::wake_all(BlockOn::FileLock);
}

/// The lock that keeps `owner` from `kind` on `range`, if any (`F_GETLK`).
pub fn test(key: LockKey, owner: Owner, kind: process::locks::LockKind, range: process::locks::Range) -> Option<RecordLock> {
    RECORDS.lock().get(&key).and_then(|locks| locks.conflict(owner, kind, range))
}

/// Most record locks one file holds: past it a request that would add one
/// is ENOLCK (Linux's answer when it has no memory for another lock), so
/// that splitting ranges cannot exhaust the kernel heap.
pub const MAX_RECORD_LOCKS_PER_FILE: usize = 4096;

/// Why a record lock was not taken.
pub enum SetFailure {
    /// This lock is in the way.
    Conflict(RecordLock),
    NoLocks,
}

/// Takes a record lock.
pub fn set(key: LockKey, owner: Owner, pid: i32, kind: process::locks::LockKind, range: process::locks::Range) -> Result<(), SetFailure> {
    let mut records = RECORDS.lock();
    let locks = records.entry(key).or_default();
    // A request adds at most two entries (a split in three).
    if locks.locks().len().saturating_add(2) > MAX_RECORD_LOCKS_PER_FILE {
        let mut trial = locks.clone();
        trial.lock(owner, pid, kind, range).map_err(SetFailure::Conflict)?;
        if trial.locks().len() > locks.locks().len() {
            return Err(SetFailure::NoLocks);
        }
    }
    locks.lock(owner, pid, kind, range).map_err(SetFailure::Conflict)
}

/// Drops `owner`'s record locks on `range`.
pub fn unset(key: LockKey, owner: Owner, range: process::locks::Range) {
    let mut records = RECORDS.lock();
    if let Some(locks) = records.get_mut(&key) {
        locks.unlock(owner, range);
        if locks.is_empty() {
            records.remove(&key);
        }
    }
    drop(records);
    wake_waiters();
}

/// `F_SETLKW` from `pid` must wait for `blocker`: EDEADLK if `blocker`
/// already waits (directly or not) for `pid`; else the wait is noted.
pub fn note_wait(pid: u32, blocker: u32) -> Result<(), syscall::Errno> {
    let mut waits = WAITS.lock();
    if process::locks::deadlock(pid, blocker, |p| waits.get(&p).copied()) {
        waits.remove(&pid);
        return Err(syscall::Errno::EDEADLK);
    }
    waits.insert(pid, blocker);
    Ok(())
}

/// `pid` no longer waits for a record lock (it got it, failed, was
/// interrupted or ended).
pub fn end_wait(pid: u32) {
    WAITS.lock().remove(&pid);
}

/// `flock`: takes or converts the lock of the description `id`; Err
/// (EAGAIN, which is EWOULDBLOCK): another description's lock is in the way.
pub fn flock(key: LockKey, id: u64, exclusive: bool) -> Result<(), syscall::Errno> {
    let mut flocks = FLOCKS.lock();
    let locks = flocks.entry(key).or_default();
    let had = locks.held(id).is_some();
    let result = locks.lock(id, exclusive);
    if result.is_err() && locks.is_empty() {
        flocks.remove(&key);
    }
    drop(flocks);
    // A failed conversion dropped the old lock: others may go now.
    if result.is_err() && had {
        wake_waiters();
    }
    result
}

/// `flock(LOCK_UN)`.
pub fn funlock(key: LockKey, id: u64) {
    let mut flocks = FLOCKS.lock();
    if let Some(locks) = flocks.get_mut(&key)
        && locks.unlock(id)
    {
        if locks.is_empty() {
            flocks.remove(&key);
        }
        drop(flocks);
        wake_waiters();
    }
}

/// Process `pid` closed a descriptor of `file`: its record locks on the
/// file go, whichever descriptor took them (POSIX).
pub fn descriptor_closed(pid: u32, file: &crate::fs::FileRef) {
    let key = key_of(&file.lock().kind);
    release_records(key, Owner::Process(pid));
}

fn release_records(key: LockKey, owner: Owner) {
    let mut records = RECORDS.lock();
    let Some(locks) = records.get_mut(&key) else { return };
    if locks.release(owner) {
        if locks.is_empty() {
            records.remove(&key);
        }
        drop(records);
        wake_waiters();
    }
}

/// The last descriptor of an open file description closed: its `flock`
/// and OFD locks go.
pub fn description_closed(open: &OpenFile) {
    let key = key_of(&open.kind);
    funlock(key, open.id);
    release_records(key, Owner::Description(open.id));
}

/// Process `pid` ended: its record locks go, and so does its wait.
pub fn process_ended(pid: u32) {
    end_wait(pid);
    let mut released = false;
    RECORDS.lock().retain(|_, locks| {
        released |= locks.release(Owner::Process(pid));
        !locks.is_empty()
    });
    if released {
        wake_waiters();
    }
}
