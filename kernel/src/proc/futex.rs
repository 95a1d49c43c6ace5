//! The kernel's futex state: the one table of waiters (private and shared
//! words, PI locks), each thread's robust-list head, the key of a word,
//! and what a thread's futexes become when it ends or execs
//! ([`thread_exited`]). The rules live in `process::futex`;
//! `syscalls::futex` is the system call.

use alloc::collections::BTreeMap;

use ::process::futex::{self as rules, FutexKey, FutexTable, RobustWord, Waiter};
use process::Pid;
use spin::Mutex;
use syscall::Errno;

use super::memory::USER_END;
use super::{BlockOn, Process, sched};

/// Every thread waiting on a futex word, and the PI locks with waiters.
pub static TABLE: Mutex<FutexTable> = Mutex::new(FutexTable::new());

/// Each thread's robust-list head (`set_robust_list`), by tid. Kept here,
/// not in the record, so that `get_robust_list` can read another thread's
/// while the caller's record is locked.
static ROBUST_HEADS: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());

/// Records `tid`'s robust-list head (0: none).
pub fn set_robust_list(tid: Pid, head: u64) {
    let mut heads = ROBUST_HEADS.lock();
    if head == 0 {
        heads.remove(&tid.as_u32());
    } else {
        heads.insert(tid.as_u32(), head);
    }
}

/// `tid`'s robust-list head (0 if it set none).
pub fn robust_list(tid: Pid) -> u64 {
    ROBUST_HEADS.lock().get(&tid.as_u32()).copied().unwrap_or(0)
}

/// Whether `tid` is a thread that has not ended (an owner a PI waiter can
/// queue behind): a thread of a process that has not ended.
pub fn thread_alive(tid: Pid) -> bool {
    super::with_table(|t| t.process_of(tid).and_then(|pid| t.get(pid)).is_some_and(|e| !e.is_zombie()))
}

/// The key of the word at `addr` in `process`'s memory (`get_futex_key`):
/// EINVAL when misaligned, EFAULT outside user space. A private operation
/// names the word by address space and address; a shared one by its frame
/// when it is in shared memory (the same key in every process mapping it),
/// else by address space and address with Linux's FUT_OFF_MMSHARED
/// distinction (EFAULT if nothing is mapped there).
pub fn key(process: &mut Process, addr: u64, private: bool) -> Result<FutexKey, Errno> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    if addr.checked_add(4).is_none_or(|end| end > USER_END) {
        return Err(Errno::EFAULT);
    }
    let mm = process.pid;
    if private {
        return Ok(FutexKey::Private { mm, addr });
    }
    match process.memory.shared_word_key(addr)? {
        Some(frame) => Ok(FutexKey::Shared(frame)),
        None => {
            read_word(process, addr)?;
            Ok(FutexKey::MmShared { mm, addr })
        }
    }
}

/// The u32 at `addr` of `process`.
pub fn read_word(process: &mut Process, addr: u64) -> Result<u32, Errno> {
    let mut word = [0u8; 4];
    process.memory.read(addr, &mut word)?;
    Ok(u32::from_le_bytes(word))
}

/// Writes the u32 at `addr` of `process` (EFAULT if not writable).
pub fn write_word(process: &mut Process, addr: u64, value: u32) -> Result<(), Errno> {
    process.memory.write(addr, &value.to_le_bytes())
}

/// Wakes each of `woken` (blocked until its deadline) and counts them.
pub fn wake(woken: &[Waiter]) -> u64 {
    for w in woken {
        sched::wake_thread(w.tid, BlockOn::Until(w.deadline_ns));
    }
    woken.len() as u64
}

/// Thread `tid` of `process` ends, or execs (Linux's `futex_cleanup`, run
/// by both): it leaves every futex queue; each word its robust list names
/// that it owns gets FUTEX_OWNER_DIED (its tid cleared, FUTEX_WAITERS kept)
/// and, not PI, one waiter woken; every PI lock the kernel knows it owns
/// goes to that lock's oldest waiter. Call it while `process`'s memory is
/// still its own. A hostile list (cyclic, unmapped, kernel addresses) ends
/// the walk after at most `ROBUST_LIST_LIMIT` entries or at the first fault.
pub fn thread_exited(process: &mut Process, tid: Pid) {
    TABLE.lock().remove(tid);
    let head = ROBUST_HEADS.lock().remove(&tid.as_u32()).unwrap_or(0);
    if head != 0 {
        walk_robust_list(process, tid, head);
    }
    let handed = TABLE.lock().owner_died(tid);
    wake(&handed);
}

fn walk_robust_list(process: &mut Process, tid: Pid, head: u64) {
    // The walk reads and writes the same memory: one borrow at a time.
    let memory = core::cell::RefCell::new(process);
    let read = |addr: u64| {
        let mut raw = [0u8; 8];
        memory.borrow_mut().memory.read(addr, &mut raw).ok().map(|()| u64::from_le_bytes(raw))
    };
    let mark = |word: RobustWord| -> bool {
        let mut process = memory.borrow_mut();
        if !word.addr.is_multiple_of(4) {
            return false;
        }
        let Ok(value) = read_word(&mut process, word.addr) else { return false };
        let death = rules::robust_death(value, tid, word);
        if let Some(new) = death.write
            && write_word(&mut process, word.addr, new).is_err()
        {
            return false;
        }
        if death.wake
            && let Ok(key) = key(&mut process, word.addr, false)
        {
            // A PI waiter on a word marked non-PI: EINVAL, nobody woken (as Linux).
            if let Ok(woken) = TABLE.lock().wake(key, u32::MAX, 1) {
                wake(&woken);
            }
        }
        true
    };
    rules::walk_robust_list(head, read, mark);
}
