//! futex(2) and the robust-list calls (set_robust_list, get_robust_list):
//! the argument checks and blocking of each futex command, over
//! `proc::futex` (the table, keys, words) and `process::futex` (the rules).
//! Waiters are named by tid (`sched::current_tid`) and woken by
//! `sched::wake_thread`, so the calls hold for several threads of a
//! process as they do for processes sharing memory. See docs/futex.md.

#![warn(clippy::arithmetic_side_effects)]

use ::process::futex::{self as rules, FutexKey, LockPi, Waiter, WakeOp};
use process::Pid;
use syscall::futex::{FutexCmd, FutexOp};
use syscall::Errno;

use super::{Ctx, SysResult};
use crate::proc::futex::{self as state, TABLE, read_word, write_word};
use crate::proc::{BlockOn, sched, signal};
use crate::time;

pub fn sys_set_robust_list(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    // Linux checks only the length; the head is read when the thread ends.
    if a[1] != rules::ROBUST_LIST_HEAD_LEN {
        return Err(Errno::EINVAL);
    }
    state::set_robust_list(sched::current_tid(), a[0]);
    Ok(0)
}

/// get_robust_list(pid, head_ptr, len_ptr): pid 0 is the caller. Another
/// thread's head is Linux's PTRACE_MODE_READ check; the other thread's
/// ids are not at hand here, so only a privileged caller reads them
/// (EPERM otherwise, where Linux also lets the same user).
pub fn sys_get_robust_list(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let pid = a[0] as i32;
    let own = sched::current_tid();
    let tid = if pid == 0 { own } else { Pid::new(u32::try_from(pid).map_err(|_| Errno::ESRCH)?) };
    if tid != own {
        if !crate::proc::with_table(|t| t.get(tid).is_some()) {
            return Err(Errno::ESRCH);
        }
        if !ctx.process.creds.privileged() {
            return Err(Errno::EPERM);
        }
    }
    let head = state::robust_list(tid);
    ctx.process.memory.write(a[2], &rules::ROBUST_LIST_HEAD_LEN.to_le_bytes())?;
    ctx.process.memory.write(a[1], &head.to_le_bytes())?;
    Ok(0)
}

/// futex(uaddr, op, val, timeout or val2, uaddr2, val3), as Linux's
/// `do_futex`: the timeout is read first (EFAULT, EINVAL) for the commands
/// that take one, then the key (EINVAL misaligned, EFAULT), then the word.
pub fn sys_futex(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let op = FutexOp::from_raw(a[1] as u32)?;
    let (uaddr, val, timeout, uaddr2, val3) = (a[0], a[2] as u32, a[3], a[4], a[5] as u32);
    match op.cmd {
        FutexCmd::Wait | FutexCmd::WaitBitset => {
            let bitset = if op.cmd == FutexCmd::Wait { u32::MAX } else { val3 };
            wait(ctx, op, uaddr, val, timeout, bitset)
        }
        FutexCmd::Wake | FutexCmd::WakeBitset => {
            let bitset = if op.cmd == FutexCmd::Wake { u32::MAX } else { val3 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let key = state::key(ctx.process, uaddr, op.private)?;
            let woken = TABLE.lock().wake(key, bitset, rules::wake_limit(val))?;
            Ok(state::wake(&woken))
        }
        FutexCmd::Requeue | FutexCmd::CmpRequeue => {
            // nr_wake and nr_requeue (the timeout argument) are ints.
            let (nr_wake, nr_requeue) = (val as i32, timeout as u32 as i32);
            if nr_wake < 0 || nr_requeue < 0 {
                return Err(Errno::EINVAL);
            }
            let from = state::key(ctx.process, uaddr, op.private)?;
            let to = state::key(ctx.process, uaddr2, op.private)?;
            if op.cmd == FutexCmd::CmpRequeue && read_word(ctx.process, uaddr)? != val3 {
                return Err(Errno::EAGAIN);
            }
            let (woken, moved) = TABLE.lock().requeue(from, to, nr_wake as usize, nr_requeue as usize)?;
            // Both commands return the woken and the moved (futex_requeue's task_count).
            Ok(state::wake(&woken).saturating_add(moved as u64))
        }
        FutexCmd::WakeOp => wake_op(ctx, op, uaddr, uaddr2, val, timeout as u32, val3),
        FutexCmd::LockPi | FutexCmd::LockPi2 | FutexCmd::TrylockPi => lock_pi(ctx, op, uaddr, timeout),
        FutexCmd::UnlockPi => {
            let tid = sched::current_tid();
            let key = state::key(ctx.process, uaddr, op.private)?;
            let word = read_word(ctx.process, uaddr)?;
            // Writable before the table hands the lock on.
            write_word(ctx.process, uaddr, word)?;
            let unlocked = TABLE.lock().unlock_pi(key, word, tid)?;
            write_word(ctx.process, uaddr, unlocked.word)?;
            if let Some(next) = unlocked.woken {
                state::wake(&[next]);
            }
            Ok(0)
        }
        FutexCmd::WaitRequeuePi => wait_requeue_pi(ctx, op, uaddr, val, timeout, uaddr2),
        FutexCmd::CmpRequeuePi => cmp_requeue_pi(ctx, op, uaddr, uaddr2, val, timeout as u32, val3),
    }
}

/// The CLOCK_MONOTONIC deadline of a timeout argument (u64::MAX: none):
/// relative for FUTEX_WAIT, absolute on CLOCK_REALTIME for LOCK_PI and for
/// the others with FUTEX_CLOCK_REALTIME, else absolute on CLOCK_MONOTONIC.
fn deadline(ctx: &mut Ctx<'_>, op: FutexOp, timeout: u64) -> Result<u64, Errno> {
    if timeout == 0 {
        return Ok(u64::MAX);
    }
    let value = super::info::read_timespec(ctx, timeout)?;
    let now = time::monotonic_ns();
    let relative = match op.cmd {
        FutexCmd::Wait => value,
        FutexCmd::LockPi => syscall::time::remaining_ns(value, time::realtime_ns()),
        _ => {
            let clock_now = if op.realtime { time::realtime_ns() } else { now };
            syscall::time::remaining_ns(value, clock_now)
        }
    };
    Ok(syscall::time::deadline_ns(now, relative))
}

/// How a wait ends when a signal comes first (Linux's restart codes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    /// ERESTARTSYS: EINTR, or the call again after an SA_RESTART handler
    /// (FUTEX_WAIT without a timeout).
    RestartSys,
    /// ERESTART_RESTARTBLOCK: EINTR after any handler (a timed wait).
    Eintr,
    /// ERESTARTNOINTR: the call again after the handler, always (LOCK_PI).
    NoIntr,
    /// EWOULDBLOCK (EAGAIN): a WAIT_REQUEUE_PI waiter already requeued
    /// onto its PI lock (Linux's "cannot restart" answer).
    WouldBlock,
}

/// The caller waits until `deadline` (already queued), unless a signal is
/// there to deliver: then it leaves the queue and the call ends as
/// `interrupt` says.
fn block(ctx: &mut Ctx<'_>, deadline: u64, interrupt: Interrupt) -> SysResult {
    if !signal::has_deliverable(ctx.process) {
        ctx.block = Some(BlockOn::Until(deadline));
        return Ok(0);
    }
    TABLE.lock().remove(sched::current_tid());
    match interrupt {
        Interrupt::RestartSys => {
            // The dispatcher turns a block with a signal pending into EINTR
            // and restarts the call after an SA_RESTART handler.
            ctx.block = Some(BlockOn::Until(deadline));
            Ok(0)
        }
        // Without a handler to run (a stop signal's default), Linux restarts
        // the call (restart_block): the dispatcher's restart path.
        Interrupt::Eintr if !handler_will_run(ctx) => {
            ctx.block = Some(BlockOn::Until(deadline));
            Ok(0)
        }
        Interrupt::Eintr => Err(Errno::EINTR),
        Interrupt::WouldBlock => Err(Errno::EAGAIN),
        Interrupt::NoIntr => {
            // Back to the `syscall` instruction (2 bytes): the handler
            // runs, then the call again. rax is the number again.
            ctx.frame.rip = ctx.frame.rip.wrapping_sub(2);
            Ok(syscall::nr::FUTEX)
        }
    }
}

/// Whether a signal handler runs on the way back to user space: some
/// deliverable signal is caught (ignored ones are never pending).
fn handler_will_run(ctx: &Ctx<'_>) -> bool {
    let signals = &ctx.process.signals;
    let thread = &ctx.process.thread().signals;
    let ready = (signals.pending() | thread.pending()) & !thread.mask();
    (0..64u32).filter(|&bit| ready & (1u64 << bit) != 0).any(|bit| {
        let handler = signals.action(bit.saturating_add(1)).handler;
        handler != syscall::SIG_DFL && handler != syscall::SIG_IGN
    })
}

/// FUTEX_WAIT and FUTEX_WAIT_BITSET (`futex_wait`).
fn wait(ctx: &mut Ctx<'_>, op: FutexOp, uaddr: u64, val: u32, timeout: u64, bitset: u32) -> SysResult {
    let tid = sched::current_tid();
    let interrupt = if timeout == 0 { Interrupt::RestartSys } else { Interrupt::Eintr };
    if ctx.retry {
        // Woken: the waker took it out of the queue.
        let Some(waiter) = TABLE.lock().waiting(tid) else { return Ok(0) };
        if time::monotonic_ns() >= waiter.deadline_ns {
            TABLE.lock().remove(tid);
            return Err(Errno::ETIMEDOUT);
        }
        return block(ctx, waiter.deadline_ns, interrupt);
    }
    let deadline = deadline(ctx, op, timeout)?;
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let key = state::key(ctx.process, uaddr, op.private)?;
    if read_word(ctx.process, uaddr)? != val {
        return Err(Errno::EAGAIN);
    }
    if time::monotonic_ns() >= deadline {
        return Err(Errno::ETIMEDOUT);
    }
    TABLE.lock().wait(Waiter::new(tid, key, bitset, deadline));
    block(ctx, deadline, interrupt)
}

/// FUTEX_WAKE_OP (`futex_wake_op`): `*uaddr2 = op(*uaddr2)`, then wake up
/// to `nr_wake` waiters on `uaddr` and, if the old `*uaddr2` passes the
/// comparison, up to `nr_wake2` on `uaddr2`; returns how many woke.
fn wake_op(ctx: &mut Ctx<'_>, op: FutexOp, uaddr: u64, uaddr2: u64, nr_wake: u32, nr_wake2: u32, encoded: u32) -> SysResult {
    let key1 = state::key(ctx.process, uaddr, op.private)?;
    let key2 = state::key(ctx.process, uaddr2, op.private)?;
    let wake_op = WakeOp::decode(encoded);
    let old = read_word(ctx.process, uaddr2)?;
    let new = wake_op.apply(old)?;
    write_word(ctx.process, uaddr2, new)?;
    let second = wake_op.compare(old)?;
    let mut table = TABLE.lock();
    let mut woken = table.wake(key1, u32::MAX, rules::wake_limit(nr_wake))?;
    if second {
        woken.extend(table.wake(key2, u32::MAX, rules::wake_limit(nr_wake2))?);
    }
    drop(table);
    Ok(state::wake(&woken))
}

/// FUTEX_LOCK_PI, FUTEX_LOCK_PI2 and FUTEX_TRYLOCK_PI (`futex_lock_pi`).
/// A waiter handed the lock (by the owner's unlock or death) finds itself
/// granted on its retry and fixes the word up; one that was neither woken
/// nor granted tries again.
fn lock_pi(ctx: &mut Ctx<'_>, op: FutexOp, uaddr: u64, timeout: u64) -> SysResult {
    let tid = sched::current_tid();
    let trylock = op.cmd == FutexCmd::TrylockPi;
    let deadline = if ctx.retry {
        let granted = TABLE.lock().take_granted(tid);
        if let Some(granted) = granted {
            let word = read_word(ctx.process, uaddr)?;
            if let Some(new) = rules::pi_fixup(word, granted) {
                write_word(ctx.process, uaddr, new)?;
            }
            return Ok(0);
        }
        let waiting = TABLE.lock().waiting(tid);
        match waiting {
            Some(waiter) => {
                if time::monotonic_ns() >= waiter.deadline_ns {
                    TABLE.lock().remove(tid);
                    return Err(Errno::ETIMEDOUT);
                }
                return block(ctx, waiter.deadline_ns, Interrupt::NoIntr);
            }
            None => ctx.process.thread_mut().wait_deadline.unwrap_or(u64::MAX),
        }
    } else if trylock {
        u64::MAX
    } else {
        deadline(ctx, op, timeout)?
    };
    ctx.process.thread_mut().wait_deadline = Some(deadline);
    let key: FutexKey = state::key(ctx.process, uaddr, op.private)?;
    let word = read_word(ctx.process, uaddr)?;
    let decision = TABLE.lock().lock_pi(key, word, tid, state::thread_alive)?;
    match decision {
        LockPi::Acquired(new) => {
            write_word(ctx.process, uaddr, new)?;
            Ok(0)
        }
        LockPi::Wait { word: new, owner } => {
            if new != word {
                write_word(ctx.process, uaddr, new)?;
            }
            if trylock {
                return Err(Errno::EAGAIN);
            }
            if time::monotonic_ns() >= deadline {
                return Err(Errno::ETIMEDOUT);
            }
            TABLE.lock().wait_pi(Waiter::pi(tid, key, deadline), owner);
            block(ctx, deadline, Interrupt::NoIntr)
        }
    }
}

/// FUTEX_WAIT_REQUEUE_PI (`futex_wait_requeue_pi`): waits on condition
/// word `uaddr` (holding `val`) to be requeued onto PI lock `uaddr2` by a
/// FUTEX_CMP_REQUEUE_PI, and returns 0 owning that lock. A signal before
/// the requeue restarts the call (ERESTARTNOINTR); one after it is EAGAIN.
fn wait_requeue_pi(ctx: &mut Ctx<'_>, op: FutexOp, uaddr: u64, val: u32, timeout: u64, uaddr2: u64) -> SysResult {
    let tid = sched::current_tid();
    if ctx.retry {
        let granted = TABLE.lock().take_granted(tid);
        if let Some(granted) = granted {
            let word = read_word(ctx.process, uaddr2)?;
            if let Some(new) = rules::pi_fixup(word, granted) {
                write_word(ctx.process, uaddr2, new)?;
            }
            return Ok(0);
        }
        let waiting = TABLE.lock().waiting(tid);
        let Some(waiter) = waiting else { return Err(Errno::EAGAIN) };
        if time::monotonic_ns() >= waiter.deadline_ns {
            TABLE.lock().remove(tid);
            return Err(Errno::ETIMEDOUT);
        }
        let interrupt = if waiter.pi { Interrupt::WouldBlock } else { Interrupt::NoIntr };
        return block(ctx, waiter.deadline_ns, interrupt);
    }
    if uaddr == uaddr2 {
        return Err(Errno::EINVAL);
    }
    let deadline = deadline(ctx, op, timeout)?;
    let lock = state::key(ctx.process, uaddr2, op.private)?;
    let cond = state::key(ctx.process, uaddr, op.private)?;
    if read_word(ctx.process, uaddr)? != val {
        return Err(Errno::EAGAIN);
    }
    if cond == lock {
        return Err(Errno::EINVAL);
    }
    if time::monotonic_ns() >= deadline {
        return Err(Errno::ETIMEDOUT);
    }
    TABLE.lock().wait(Waiter::requeue_pi(tid, cond, lock, deadline));
    block(ctx, deadline, Interrupt::NoIntr)
}

/// FUTEX_CMP_REQUEUE_PI (`futex_requeue` with requeue_pi): if condition
/// word `uaddr` still holds `val3`, its oldest waiter tries to take PI lock
/// `uaddr2` (woken owning it) and up to `nr_requeue` others wait on the
/// lock instead. `nr_wake` must be 1. Returns taken + requeued.
fn cmp_requeue_pi(ctx: &mut Ctx<'_>, op: FutexOp, uaddr: u64, uaddr2: u64, nr_wake: u32, nr_requeue: u32, val3: u32) -> SysResult {
    let (nr_wake, nr_requeue) = (nr_wake as i32, nr_requeue as i32);
    if nr_wake < 0 || nr_requeue < 0 || uaddr == uaddr2 || nr_wake != 1 {
        return Err(Errno::EINVAL);
    }
    let cond = state::key(ctx.process, uaddr, op.private)?;
    let lock = state::key(ctx.process, uaddr2, op.private)?;
    if cond == lock {
        return Err(Errno::EINVAL);
    }
    if read_word(ctx.process, uaddr)? != val3 {
        return Err(Errno::EAGAIN);
    }
    if !TABLE.lock().has_waiters(cond) {
        return Ok(0);
    }
    let word = read_word(ctx.process, uaddr2)?;
    // Writable before the table changes.
    write_word(ctx.process, uaddr2, word)?;
    let requeued = TABLE.lock().requeue_pi(cond, lock, word, nr_requeue as usize, state::thread_alive)?;
    if let Some(new) = requeued.word {
        write_word(ctx.process, uaddr2, new)?;
    }
    if let Some(taken) = requeued.woken {
        state::wake(&[taken]);
    }
    Ok(requeued.count as u64)
}
