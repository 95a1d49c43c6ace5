//! Scheduling: round robin over ready threads (of all processes), preemption
//! by the timer, blocking and waking, and the switch itself (kernel stack,
//! address space when the process changes, PKRU and the published key-15
//! value, FS base, FPU/SIMD state).
//!
//! Everything here runs with interrupts off; the kernel is not preemptible
//! (only process code is), so the locks never meet an interrupt handler.

#![warn(clippy::arithmetic_side_effects)]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use pkru::Pkru;
use process::Pid;

use super::{BlockOn, PROCS, Process, RunState, Thread};
use crate::arch::{context, cpu, gate};
use crate::isolation::{self, Level};

/// Timer ticks a process runs before another ready one gets the CPU.
pub const SLICE_TICKS: u32 = 2;

/// The running thread's process and its own id.
static CURRENT: AtomicU32 = AtomicU32::new(0);
static CURRENT_TID: AtomicU32 = AtomicU32::new(0);

/// Print the process listing when pid 1 exits (`ps` on the command line).
pub static PS_ON_EXIT: AtomicBool = AtomicBool::new(false);

/// The running thread's process.
pub fn current() -> Pid {
    Pid::new(CURRENT.load(Ordering::Relaxed))
}

/// The running thread: its tid (the pid of a single-threaded process).
/// Futex waiters, thread-directed signals and `gettid` name this.
pub fn current_tid() -> Pid {
    Pid::new(CURRENT_TID.load(Ordering::Relaxed))
}

/// The running thread takes another tid (its process's pid, at execve).
pub fn set_current_tid(tid: Pid) {
    CURRENT_TID.store(tid.as_u32(), Ordering::Relaxed);
}

/// Marks thread `tid` ready if it waits for `reason` (a futex wake-up).
pub fn wake_thread(tid: Pid, reason: BlockOn) {
    PENDING_WAKES.lock().push((Target::Thread(tid), Some(reason), 1));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// The PKRU a process runs with at the current isolation level.
pub fn effective_pkru(process: &Process) -> Pkru {
    match isolation::level() {
        Level::Strict | Level::Mpk => process.pkru,
        Level::None => Pkru::KERNEL,
    }
}

/// Adds a process and starts running it, leaving the boot stack for good.
pub fn start(first: alloc::boxed::Box<Process>) -> ! {
    let pid = first.pid;
    PROCS.lock().insert(pid.as_u32(), first);
    mark_ready(pid);
    let mut boot_rsp = 0u64;
    switch_to_raw((pid, pid), &mut boot_rsp);
    unreachable!("the boot context is never resumed");
}

/// Whose threads a wake-up is for.
#[derive(Clone, Copy, Debug)]
enum Target {
    Everyone,
    /// Any thread of this process (wait4's children, a vfork child).
    Process(Pid),
    /// This thread only (a futex wake-up).
    Thread(Pid),
}

/// A wake-up to apply: who, waiting for which reason (`None`: anything),
/// at most how many threads.
type Wake = (Target, Option<BlockOn>, usize);

/// Wake-ups are queued and applied by the scheduler, so that code holding
/// the process lock (closing a pipe end, exiting) can wake others.
static PENDING_WAKES: spin::Mutex<alloc::vec::Vec<Wake>> = spin::Mutex::new(alloc::vec::Vec::new());

/// The buffer the queue had before it was last applied, empty.
static SPARE_WAKES: spin::Mutex<alloc::vec::Vec<Wake>> = spin::Mutex::new(alloc::vec::Vec::new());

/// Marks `pid` ready if it waits for `reason`.
pub fn wake(pid: Pid, reason: BlockOn) {
    PENDING_WAKES.lock().push((Target::Process(pid), Some(reason), usize::MAX));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Marks every process waiting for `reason` ready.
pub fn wake_all(reason: BlockOn) {
    crate::fasync::woken();
    PENDING_WAKES.lock().push((Target::Everyone, Some(reason), usize::MAX));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Marks at most `count` processes waiting for `reason` ready, those that
/// have waited longest first (one connection wakes one acceptor).
pub fn wake_some(reason: BlockOn, count: usize) {
    crate::fasync::woken();
    PENDING_WAKES.lock().push((Target::Everyone, Some(reason), count));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Asks for the scheduler to run before the caller resumes (queued signals
/// to apply), without a wake-up entry.
pub fn request_switch() {
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Counts blocks, to order waiters by how long they have waited.
static BLOCKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Set when a wake-up is queued, cleared when the queue is applied.
static WAKES_QUEUED: AtomicBool = AtomicBool::new(false);

/// The run queue: the processes that may have a ready thread, in pid
/// order. Every change of a thread to ready adds its process
/// ([`mark_ready`]); entries go lazily, when `pick` finds the process with
/// no ready thread (or gone). `pick` then looks at the few processes that
/// can run, not at every process (64 nginx workers blocked in epoll_wait
/// cost nothing at a switch).
static READY_HINT: spin::Mutex<alloc::vec::Vec<u32>> = spin::Mutex::new(alloc::vec::Vec::new());

/// The deadlines processes wait for (a thread blocked on `Until` or a
/// finite `Poll`, an alarm), earliest first, as `(deadline, pid)`: what
/// `wake_timed` looks at. It reads the first entry only while nothing is
/// due, however many processes sleep (Linux's timers are ordered the same
/// way). Added at the block and at the arming ([`mark_timed`]); an entry
/// whose process no longer waits for it is dropped when it comes due.
static DEADLINES: spin::Mutex<alloc::collections::BTreeSet<(u64, u32)>> = spin::Mutex::new(alloc::collections::BTreeSet::new());

/// The processes with a thread blocked on `Poll` or `Console`: console
/// input wakes them. Looked at only when input is there; dropped lazily.
static INPUT_WAITERS: spin::Mutex<alloc::vec::Vec<u32>> = spin::Mutex::new(alloc::vec::Vec::new());

/// `pid` may have a ready thread now: the run queue holds it.
pub fn mark_ready(pid: Pid) {
    let mut hint = READY_HINT.lock();
    if let Err(at) = hint.binary_search(&pid.as_u32()) {
        hint.insert(at, pid.as_u32());
    }
}

/// `pid` waits until `deadline` (a sleep, a poll's timeout, an alarm):
/// `wake_timed` looks at it then.
pub fn mark_timed(pid: Pid, deadline: u64) {
    if deadline != u64::MAX {
        DEADLINES.lock().insert((deadline, pid.as_u32()));
    }
}

/// The time read and the processes whose deadlines have come by then,
/// taken out of [`DEADLINES`] (nothing, and no clock read, when it is empty).
fn due_deadlines() -> Option<(u64, alloc::vec::Vec<u32>)> {
    let mut deadlines = DEADLINES.lock();
    let &(first, _) = deadlines.first()?;
    let now = crate::time::monotonic_ns();
    if first > now {
        return None;
    }
    let mut due = alloc::vec::Vec::new();
    while let Some(&(deadline, pid)) = deadlines.first()
        && deadline <= now
    {
        deadlines.pop_first();
        due.push(pid);
    }
    Some((now, due))
}

/// `pid` waits for console input (poll, or a console read).
fn mark_input_waiter(pid: Pid) {
    let mut waiters = INPUT_WAITERS.lock();
    if !waiters.contains(&pid.as_u32()) {
        waiters.push(pid.as_u32());
    }
}

/// Whether wake-ups are waiting to be applied (someone was just woken).
pub fn has_pending_wakes() -> bool {
    WAKES_QUEUED.load(Ordering::Relaxed)
}

/// After a call that queued wake-ups or signals: applies them, and gives
/// the CPU away only when one of them made a waiting thread ready (Linux's
/// wake-up preemption: the woken reader runs before its writer goes on). A
/// wake-up that found nobody waiting, such as every write to a pipe whose
/// reader is not blocked, costs no switch.
pub fn preempt_for_wakes() {
    // SIGIO of what the call made ready, as a scheduler pass would send it.
    crate::fasync::notify();
    let woke = {
        let mut procs = PROCS.lock();
        let signalled = super::signal::apply_pending(&mut procs);
        apply_wakes(&mut procs) || signalled
    };
    if woke {
        schedule();
    }
}

/// Applies the queued wake-ups: whether one made a waiting thread ready.
fn apply_wakes(procs: &mut alloc::collections::BTreeMap<u32, alloc::boxed::Box<Process>>) -> bool {
    // Every queued wake-up sets the flag after its push, and the flag is
    // cleared under the queue's lock as the queue is taken: clear means
    // empty (each switch asks).
    if !WAKES_QUEUED.load(Ordering::Relaxed) {
        return false;
    }
    // The queue's buffer is swapped with the spare one, not taken: a
    // wake-up (one per pipe write) then costs no allocation.
    let mut wakes = core::mem::take(&mut *SPARE_WAKES.lock());
    {
        let mut queued = PENDING_WAKES.lock();
        WAKES_QUEUED.store(false, Ordering::Relaxed);
        core::mem::swap(&mut wakes, &mut *queued);
    }
    let mut woke = false;
    let mut ready = |pid: Pid, t: &mut Thread| {
        woke = true;
        t.run = RunState::Ready;
        mark_ready(pid);
    };
    for (target, reason, count) in wakes.drain(..) {
        let waits = |t: &Thread| {
            let RunState::Blocked(on) = t.run else { return false };
            let poll_woken = matches!((reason, on), (Some(BlockOn::Pipe(_) | BlockOn::Net), BlockOn::Poll(_)));
            reason.is_none_or(|r| r == on) || poll_woken
        };
        match target {
            Target::Process(pid) => {
                if let Some(p) = procs.get_mut(&pid.as_u32()) {
                    p.threads.iter_mut().filter(|t| waits(t)).for_each(|t| ready(pid, t));
                }
            }
            Target::Thread(tid) => {
                let process = super::with_table(|t| t.process_of(tid));
                if let Some(p) = process.and_then(|pid| procs.get_mut(&pid.as_u32())) {
                    let pid = p.pid;
                    p.threads.iter_mut().filter(|t| t.tid == tid && waits(t)).for_each(|t| ready(pid, t));
                }
            }
            Target::Everyone if count == usize::MAX => {
                for p in procs.values_mut() {
                    let pid = p.pid;
                    p.threads.iter_mut().filter(|t| waits(t)).for_each(|t| ready(pid, t));
                }
            }
            Target::Everyone => {
                // A limited wake-up (accept): those that have waited longest.
                let mut candidates: alloc::vec::Vec<(Pid, &mut alloc::boxed::Box<Thread>)> = procs
                    .values_mut()
                    .flat_map(|p| {
                        let pid = p.pid;
                        p.threads.iter_mut().map(move |t| (pid, t))
                    })
                    .filter(|(_, t)| waits(t))
                    .collect();
                candidates.sort_by_key(|(_, t)| t.blocked_since);
                for (pid, t) in candidates.into_iter().take(count) {
                    ready(pid, t);
                }
            }
        }
    }
    *SPARE_WAKES.lock() = wakes;
    woke
}

/// Blocks the current thread on `reason` and runs others until it is woken.
pub fn block(reason: BlockOn) {
    let pid = current();
    if let Some(p) = PROCS.lock().get_mut(&pid.as_u32()) {
        let t = p.thread_mut();
        t.run = RunState::Blocked(reason);
        t.blocked_since = BLOCKS.fetch_add(1, Ordering::Relaxed);
        match reason {
            BlockOn::Until(deadline) => mark_timed(pid, deadline),
            BlockOn::Poll(deadline) => {
                mark_timed(pid, deadline);
                mark_input_waiter(pid);
            }
            BlockOn::Console => mark_input_waiter(pid),
            _ => {}
        }
    }
    schedule();
}

/// Zombies nobody will wait for, freed once the CPU runs on another stack.
static REAP_LATER: spin::Mutex<alloc::vec::Vec<Pid>> = spin::Mutex::new(alloc::vec::Vec::new());

/// Frees `pid`'s record at the next switch (it may be running its last instructions).
pub fn reap_later(pid: Pid) {
    REAP_LATER.lock().push(pid);
}

fn reap_deferred() {
    super::thread::free_dead();
    let me = current();
    let pending = core::mem::take(&mut *REAP_LATER.lock());
    for pid in pending {
        if pid == me {
            REAP_LATER.lock().push(pid);
        } else {
            let _ = super::reap(pid);
        }
    }
}

/// Gives the CPU to another ready process, if any (sched_yield, preemption).
pub fn yield_now() {
    schedule();
}

/// Wakes sleepers whose time has come and console readers with input.
fn wake_timed() {
    crate::control::poll();
    crate::net::poll_if_due();
    crate::timerfd::wake_due();
    crate::fasync::notify();
    let mut procs = PROCS.lock();
    super::signal::apply_pending(&mut procs);
    apply_wakes(&mut procs);
    // Only what is due: the earliest deadlines, then, when console input
    // is there, its waiters. The clock and the serial port are read only
    // when someone waits on them (both are slow under emulation, and this
    // runs at every switch).
    if let Some((now, due)) = due_deadlines() {
        for pid in due {
            let Some(p) = procs.get_mut(&pid) else { continue };
            if p.is_zombie() {
                continue;
            }
            for t in p.threads.iter_mut() {
                if let RunState::Blocked(BlockOn::Until(at) | BlockOn::Poll(at)) = t.run
                    && at <= now
                {
                    t.run = RunState::Ready;
                    mark_ready(p.pid);
                }
            }
            // A reload of an interval timer goes back in the set.
            super::signal::fire_alarm_if_due(p, now);
        }
    }
    let mut waiters = INPUT_WAITERS.lock();
    if waiters.is_empty() {
        return;
    }
    let waiting = |p: &Process| !p.is_zombie() && p.threads.iter().any(|t| matches!(t.run, RunState::Blocked(BlockOn::Poll(_) | BlockOn::Console)));
    waiters.retain(|pid| procs.get(pid).is_some_and(|p| waiting(p)));
    if waiters.is_empty() || !crate::arch::serial::input_ready() {
        return;
    }
    for pid in waiters.iter() {
        let Some(p) = procs.get_mut(pid) else { continue };
        for t in p.threads.iter_mut() {
            if matches!(t.run, RunState::Blocked(BlockOn::Poll(_) | BlockOn::Console)) {
                t.run = RunState::Ready;
                mark_ready(p.pid);
            }
        }
    }
}

/// A thread: its process's pid and its tid.
type ThreadId = (Pid, Pid);

/// The next ready thread after `after` (in pid order, then each process's
/// thread order), wrapping around: the current process's threads after the
/// current one, then the run queue's processes after it, then those before
/// it, then its threads up to the current one.
fn pick(after: ThreadId) -> Option<ThreadId> {
    let procs = PROCS.lock();
    let (pid, tid) = after;
    // While a vfork child runs in a process's memory, the process's other
    // threads wait too (their memory is the child's until it execs or exits).
    let ready = |p: &Process, t: &Thread| t.run == RunState::Ready && !p.is_zombie() && (p.threads.len() == 1 || !p.lent_to_vfork_child());
    let own = procs.get(&pid.as_u32());
    let position = own.and_then(|p| p.thread_index(tid)).unwrap_or(usize::MAX);
    let in_own = |range: core::ops::Range<usize>| {
        own.and_then(|p| p.threads.iter().enumerate().find(|(i, t)| range.contains(i) && ready(p, t)).map(|(_, t)| (p.pid, t.tid)))
    };
    if let Some(next) = in_own(position.saturating_add(1)..usize::MAX) {
        return Some(next);
    }
    let mut hint = READY_HINT.lock();
    let split = hint.partition_point(|&other| other <= pid.as_u32());
    // The queue's order from `after` on: those after it, then those before.
    let mut found = None;
    let mut stale = alloc::vec::Vec::new();
    for &other in hint[split..].iter().chain(hint[..split].iter()) {
        if other == pid.as_u32() {
            continue;
        }
        let Some(p) = procs.get(&other) else {
            stale.push(other);
            continue;
        };
        if let Some(t) = p.threads.iter().find(|t| ready(p, t)) {
            found = Some((p.pid, t.tid));
            break;
        }
        // Ready threads a vfork child holds back keep their place.
        if p.is_zombie() || !p.threads.iter().any(|t| t.run == RunState::Ready) {
            stale.push(other);
        }
    }
    if !stale.is_empty() {
        hint.retain(|other| !stale.contains(other));
    }
    if found.is_some() {
        return found;
    }
    if let Some(next) = in_own(0..position.saturating_add(1)) {
        return Some(next);
    }
    // Nothing in the queue: before the CPU idles, make sure no ready
    // thread was left out of it (every change to ready marks it).
    let missed = procs
        .values()
        .filter(|p| p.pid != pid)
        .find_map(|p| p.threads.iter().find(|t| ready(p, t)).map(|t| (p.pid, t.tid)));
    drop(hint);
    if let Some((missed_pid, _)) = missed {
        log::error!("scheduler: pid {missed_pid} was ready but not in the run queue");
        mark_ready(missed_pid);
    }
    missed
}

/// Runs the next ready thread (the current one if it is the only one
/// ready), idling until one is. Returns when the current thread runs again.
pub fn schedule() {
    let me = (current(), current_tid());
    loop {
        wake_timed();
        if let Some(next) = pick(me) {
            if next != me {
                let mut scratch = 0u64;
                switch_to_raw(next, &mut scratch);
            }
            if let Some(p) = PROCS.lock().get_mut(&me.0.as_u32()) {
                let now = crate::time::cpu_clock();
                let t = p.thread_mut();
                t.slice = SLICE_TICKS;
                t.cpu.switch_in(now);
            }
            reap_deferred();
            return;
        }
        // Idle time is nobody's CPU time.
        if let Some(p) = PROCS.lock().get_mut(&me.0.as_u32()) {
            p.thread_mut().cpu.switch_out(crate::time::cpu_clock());
        }
        let halted_at = crate::time::cpu_clock();
        cpu::enable_interrupts();
        cpu::halt();
        cpu::disable_interrupts();
        IDLE_CYCLES.fetch_add(crate::time::cpu_clock().saturating_sub(halted_at), Ordering::Relaxed);
    }
}

/// CPU-clock cycles the CPU spent halted with nothing to run.
static IDLE_CYCLES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Time the CPU has been idle since boot (`/proc/uptime`'s second field).
pub fn idle_ns() -> u64 {
    crate::time::cpu_clock_to_ns(IDLE_CYCLES.load(Ordering::Relaxed))
}

/// Saves the current thread's FPU state, loads `next`'s address space
/// (when it is another process's), PKRU, FS base and FPU state, and
/// switches kernel stacks. The stack pointer to resume at is saved in the
/// current thread's record, or in `orphan` when it has none (boot).
fn switch_to_raw(next: ThreadId, orphan: *mut u64) {
    let (me, me_tid) = (current(), current_tid());
    let mut procs = PROCS.lock();
    let now = crate::time::cpu_clock();
    let mut save = orphan;
    if let Some(p) = procs.get_mut(&me.as_u32())
        && let Some(index) = p.thread_index(me_tid)
    {
        let t = &mut p.threads[index];
        t.cpu.switch_out(now);
        if t.run != RunState::Zombie {
            t.fpu.save();
        }
        // The slot lives in the boxed thread record, which stays put until
        // the thread is freed (never before this context is done with).
        save = core::ptr::addr_of_mut!(t.kernel_rsp);
    }
    let Some(n) = procs.get_mut(&next.0.as_u32()) else { return };
    let Some(index) = n.thread_index(next.1) else { return };
    let pkru = effective_pkru(n);
    let other_space = next.0 != me;
    let t = &mut n.threads[index];
    t.cpu.switch_in(now);
    t.fpu.restore();
    gate::set_process(t.kernel_stack.top.as_u64(), pkru);
    gate::set_fs_base(t.fs_base);
    let next_rsp = t.kernel_rsp;
    // Threads of one process share the address space: no CR3 write.
    if other_space {
        n.memory.space.activate_user();
    }
    drop(procs);
    CURRENT.store(next.0.as_u32(), Ordering::Relaxed);
    CURRENT_TID.store(next.1.as_u32(), Ordering::Relaxed);
    context::switch_checked(save, next_rsp);
}

/// A timer tick in process code: preempt the thread when its slice is used
/// up and another thread is ready.
pub fn tick_should_preempt() -> bool {
    let me = (current(), current_tid());
    let mut procs = PROCS.lock();
    let Some(p) = procs.get_mut(&me.0.as_u32()) else { return false };
    let t = p.thread_mut();
    t.slice = t.slice.saturating_sub(1);
    if t.slice > 0 {
        return false;
    }
    drop(procs);
    wake_timed();
    pick(me).is_some_and(|next| next != me)
}

/// The process listing on the console (`--ps-on-exit`).
pub fn print_listing() {
    listing(false, &mut |line| crate::knotice!("{line}"));
}

/// The process listing, one line at a time: a heading, a row per process
/// (pid, ppid, key, state, memory, CPU time, program), the memory left
/// (also `isola ps`'s answer, [`crate::control`], which shows each
/// process's whole command line, not only its name, when `command`).
pub fn listing(command: bool, emit: &mut dyn FnMut(core::fmt::Arguments<'_>)) {
    let procs = PROCS.lock();
    emit(format_args!("isola: processes ({} in all)", procs.len()));
    emit(format_args!(
        "  {:>5} {:>5} {:>3} {:<8} {:>9} {:>10} {:>11} {:>9} {:>9} {:>9}  {}",
        "PID",
        "PPID",
        "KEY",
        "STATE",
        "USER KiB",
        "SHARED KiB",
        "PRIVATE KiB",
        "KERN KiB",
        "USER ms",
        "SYS ms",
        if command { "COMMAND" } else { "PROGRAM" }
    ));
    for p in procs.values() {
        let ppid = super::with_table_readonly(|t| t.get(p.pid).map(|e| e.parent.as_u32())).flatten().unwrap_or(0);
        let state = if p.is_zombie() {
            "zombie"
        } else if p.pid == current() {
            "running"
        } else if p.threads.iter().any(|t| t.run == RunState::Ready) {
            "ready"
        } else {
            "sleeping"
        };
        let (shared, private) = p.memory.frames_by_sharing();
        let (user_ns, system_ns) = super::cpu_times_ns(p);
        let live = if command { p.live_cmdline() } else { alloc::vec::Vec::new() };
        let shown = match command {
            true if !live.is_empty() => CommandLine(&live),
            _ => CommandLine(p.name.as_bytes()),
        };
        emit(format_args!(
            "  {:>5} {:>5} {:>3} {:<8} {:>9} {:>10} {:>11} {:>9} {:>9} {:>9}  {}",
            p.pid,
            ppid,
            p.memory.key.index(),
            state,
            p.memory.frames.saturating_mul(4),
            shared.saturating_mul(4),
            private.saturating_mul(4),
            kernel_bytes(p) / 1024,
            user_ns / 1_000_000,
            system_ns / 1_000_000,
            shown
        ));
    }
    let free = crate::mm::free_frames_shown().saturating_mul(4);
    let cached = crate::mm::pagecache::cached_frames().saturating_mul(4);
    emit(format_args!("isola: memory: {free} KiB free, {cached} KiB in the page cache's own frames"));
}

/// argv as /proc/PID/cmdline holds it (each argument NUL-terminated),
/// shown the way `ps` shows it: separated by spaces, other control bytes
/// as `?`.
struct CommandLine<'a>(&'a [u8]);

impl core::fmt::Display for CommandLine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Trailing NULs (a title padded over the old arguments) are not shown.
        let end = self.0.iter().rposition(|&b| b != 0).map_or(0, |i| i.saturating_add(1));
        let text = &self.0[..end];
        for chunk in text.utf8_chunks() {
            for c in chunk.valid().chars() {
                let c = match c {
                    '\0' => ' ',
                    c if c.is_control() => '?',
                    c => c,
                };
                core::fmt::Write::write_char(f, c)?;
            }
            if !chunk.invalid().is_empty() {
                f.write_str("?")?;
            }
        }
        Ok(())
    }
}

/// The kernel's own memory for a process: its threads' kernel stacks, FPU
/// areas and records, its page tables (counted by the address space) and
/// its record.
pub fn kernel_bytes(p: &Process) -> u64 {
    let per_thread = |t: &alloc::boxed::Box<Thread>| {
        (super::exec::KERNEL_STACK_PAGES * paging::PAGE_SIZE)
            .saturating_add(t.fpu.size() as u64)
            .saturating_add(core::mem::size_of::<Thread>() as u64)
    };
    let threads = p.threads.iter().map(per_thread).fold(0u64, u64::saturating_add);
    let tables = p.memory.space.table_frames().saturating_mul(paging::PAGE_SIZE);
    threads.saturating_add(tables).saturating_add(core::mem::size_of::<Process>() as u64)
}
