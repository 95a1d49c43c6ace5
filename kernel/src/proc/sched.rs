//! Scheduling: round robin over ready processes, preemption by the timer,
//! blocking and waking, and the switch itself (kernel stack, address space,
//! PKRU and the published key-15 value, FS base, FPU/SIMD state).
//!
//! Everything here runs with interrupts off; the kernel is not preemptible
//! (only process code is), so the locks never meet an interrupt handler.

#![warn(clippy::arithmetic_side_effects)]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use pkru::Pkru;
use process::Pid;

use super::{BlockOn, PROCS, Process, RunState};
use crate::arch::{context, cpu, gate};
use crate::isolation::{self, Level};

/// Timer ticks a process runs before another ready one gets the CPU.
pub const SLICE_TICKS: u32 = 2;

static CURRENT: AtomicU32 = AtomicU32::new(0);

/// Print the process listing when pid 1 exits (`ps` on the command line).
pub static PS_ON_EXIT: AtomicBool = AtomicBool::new(false);

/// The running process.
pub fn current() -> Pid {
    Pid::new(CURRENT.load(Ordering::Relaxed))
}

/// The running thread: its tid (the pid of a single-threaded process).
/// Futex waiters, thread-directed signals and `gettid` name this.
pub fn current_tid() -> Pid {
    current()
}

/// Marks thread `tid` ready if it waits for `reason` (a futex wake-up).
pub fn wake_thread(tid: Pid, reason: BlockOn) {
    wake(tid, reason)
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
    let mut boot_rsp = 0u64;
    switch_to(pid, &mut boot_rsp);
    unreachable!("the boot context is never resumed");
}

/// A wake-up to apply: a process (or every process) waiting for a reason,
/// or (`None` reason) a process waiting for anything (a signal arrived).
/// Who to wake: one pid or everyone, waiting for one reason or anything,
/// at most this many.
type Wake = (Option<Pid>, Option<BlockOn>, usize);

/// Wake-ups are queued and applied by the scheduler, so that code holding
/// the process lock (closing a pipe end, exiting) can wake others.
static PENDING_WAKES: spin::Mutex<alloc::vec::Vec<Wake>> = spin::Mutex::new(alloc::vec::Vec::new());

/// Marks `pid` ready if it waits for `reason`.
pub fn wake(pid: Pid, reason: BlockOn) {
    PENDING_WAKES.lock().push((Some(pid), Some(reason), 1));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Marks every process waiting for `reason` ready.
pub fn wake_all(reason: BlockOn) {
    PENDING_WAKES.lock().push((None, Some(reason), usize::MAX));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Marks at most `count` processes waiting for `reason` ready, those that
/// have waited longest first (one connection wakes one acceptor).
pub fn wake_some(reason: BlockOn, count: usize) {
    PENDING_WAKES.lock().push((None, Some(reason), count));
    WAKES_QUEUED.store(true, Ordering::Relaxed);
}

/// Makes a blocked process ready whatever it waits for (a signal arrived).
pub fn interrupt(pid: Pid) {
    PENDING_WAKES.lock().push((Some(pid), None, 1));
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

/// Whether wake-ups are waiting to be applied (someone was just woken).
pub fn has_pending_wakes() -> bool {
    WAKES_QUEUED.load(Ordering::Relaxed)
}

/// Applies the queued wake-ups.
fn apply_wakes(procs: &mut alloc::collections::BTreeMap<u32, alloc::boxed::Box<Process>>) {
    let wakes = {
        let mut queued = PENDING_WAKES.lock();
        WAKES_QUEUED.store(false, Ordering::Relaxed);
        core::mem::take(&mut *queued)
    };
    for (pid, reason, count) in wakes {
        let waits = |p: &Process| {
            let RunState::Blocked(on) = p.run else { return false };
            let poll_woken = matches!((reason, on), (Some(BlockOn::Pipe(_) | BlockOn::Net), BlockOn::Poll(_)));
            pid.is_none_or(|pid| pid == p.pid) && (reason.is_none_or(|r| r == on) || poll_woken)
        };
        if count == usize::MAX || pid.is_some() {
            procs.values_mut().filter(|p| waits(p)).for_each(|p| p.run = RunState::Ready);
            continue;
        }
        // A limited wake-up (accept): those that have waited longest.
        let mut candidates: alloc::vec::Vec<&mut alloc::boxed::Box<Process>> =
            procs.values_mut().filter(|p| waits(p)).collect();
        candidates.sort_by_key(|p| p.blocked_since);
        for p in candidates.into_iter().take(count) {
            p.run = RunState::Ready;
        }
    }
}

/// Blocks the current process on `reason` and runs others until it is woken.
pub fn block(reason: BlockOn) {
    let pid = current();
    if let Some(p) = PROCS.lock().get_mut(&pid.as_u32()) {
        p.run = RunState::Blocked(reason);
        p.blocked_since = BLOCKS.fetch_add(1, Ordering::Relaxed);
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
    crate::net::poll_if_due();
    crate::timerfd::wake_due();
    let mut procs = PROCS.lock();
    super::signal::apply_pending(&mut procs);
    apply_wakes(&mut procs);
    // The clock and the serial port are read only when someone waits on them
    // (both are slow under emulation, and this runs at every switch).
    let timed = procs.values().any(|p| {
        p.alarm_at.is_some() || matches!(p.run, RunState::Blocked(BlockOn::Until(_) | BlockOn::Poll(_) | BlockOn::Console))
    });
    if !timed {
        return;
    }
    let now = crate::time::monotonic_ns();
    let input = crate::arch::serial::input_ready();
    for p in procs.values_mut() {
        match p.run {
            RunState::Blocked(BlockOn::Until(deadline)) if deadline <= now => p.run = RunState::Ready,
            RunState::Blocked(BlockOn::Poll(deadline)) if deadline <= now || input => p.run = RunState::Ready,
            RunState::Blocked(BlockOn::Console) if input => p.run = RunState::Ready,
            _ => {}
        }
        if p.run != RunState::Zombie {
            super::signal::fire_alarm_if_due(p, now);
        }
    }
}

/// The next ready process after `after` in pid order, wrapping around.
fn pick(after: u32) -> Option<Pid> {
    let procs = PROCS.lock();
    let ready = |p: &&alloc::boxed::Box<Process>| p.run == RunState::Ready;
    procs
        .range(after.saturating_add(1)..)
        .map(|(_, p)| p)
        .find(ready)
        .or_else(|| procs.range(..=after).map(|(_, p)| p).find(ready))
        .map(|p| p.pid)
}

/// Runs the next ready process (the current one if it is the only one
/// ready), idling until one is. Returns when the current process runs again.
pub fn schedule() {
    let me = current();
    loop {
        wake_timed();
        if let Some(next) = pick(me.as_u32()) {
            if next != me {
                // The slot lives in the boxed record, which stays put until the
                // process is reaped (never before this context is done with).
                let slot = PROCS.lock().get_mut(&me.as_u32()).map(|p| core::ptr::addr_of_mut!(p.kernel_rsp));
                let mut scratch = 0u64;
                switch_to_raw(next, slot.unwrap_or(&mut scratch));
            }
            if let Some(p) = PROCS.lock().get_mut(&me.as_u32()) {
                p.slice = SLICE_TICKS;
                p.cpu.switch_in(crate::time::cpu_clock());
            }
            reap_deferred();
            return;
        }
        // Idle time is nobody's CPU time.
        if let Some(p) = PROCS.lock().get_mut(&me.as_u32()) {
            p.cpu.switch_out(crate::time::cpu_clock());
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

fn switch_to(next: Pid, save: &mut u64) {
    switch_to_raw(next, save);
}

/// Saves the current process's FPU state, loads `next`'s address space,
/// PKRU, FS base and FPU state, and switches kernel stacks.
fn switch_to_raw(next: Pid, save: *mut u64) {
    let me = current();
    let mut procs = PROCS.lock();
    let now = crate::time::cpu_clock();
    if let Some(p) = procs.get_mut(&me.as_u32()) {
        p.cpu.switch_out(now);
        if p.run != RunState::Zombie {
            p.fpu.save();
        }
    }
    let Some(n) = procs.get_mut(&next.as_u32()) else { return };
    n.cpu.switch_in(now);
    n.fpu.restore();
    let pkru = effective_pkru(n);
    gate::set_process(n.kernel_stack.top.as_u64(), pkru);
    n.memory.space.activate_user();
    gate::set_fs_base(n.fs_base);
    let next_rsp = n.kernel_rsp;
    drop(procs);
    CURRENT.store(next.as_u32(), Ordering::Relaxed);
    context::switch_checked(save, next_rsp);
}

/// A timer tick in process code: preempt the process when its slice is used
/// up and another process is ready.
pub fn tick_should_preempt() -> bool {
    let me = current();
    let mut procs = PROCS.lock();
    let Some(p) = procs.get_mut(&me.as_u32()) else { return false };
    p.slice = p.slice.saturating_sub(1);
    if p.slice > 0 {
        return false;
    }
    drop(procs);
    wake_timed();
    pick(me.as_u32()).is_some_and(|next| next != me)
}

/// The process listing: pid, ppid, key, state, memory, program.
pub fn print_listing() {
    let procs = PROCS.lock();
    crate::knotice!("isola: processes ({} in all)", procs.len());
    crate::knotice!(
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
        "PROGRAM"
    );
    for p in procs.values() {
        let ppid = super::with_table_readonly(|t| t.get(p.pid).map(|e| e.parent.as_u32())).flatten().unwrap_or(0);
        let state = match p.run {
            RunState::Ready if p.pid == current() => "running",
            RunState::Ready => "ready",
            RunState::Blocked(_) => "sleeping",
            RunState::Zombie => "zombie",
        };
        let (shared, private) = p.memory.frames_by_sharing();
        let (user_ns, system_ns) = super::cpu_times_ns(p);
        crate::knotice!(
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
            p.name
        );
    }
    let free = crate::mm::frame::free_frames().saturating_mul(4);
    let cached = crate::mm::pagecache::cached_frames().saturating_mul(4);
    crate::knotice!("isola: memory: {free} KiB free, {cached} KiB in the page cache's own frames");
}

/// The kernel's own memory for a process: its kernel stack, its page tables
/// (counted by the address space), its FPU area and its record.
pub fn kernel_bytes(p: &Process) -> u64 {
    let stack = super::exec::KERNEL_STACK_PAGES * paging::PAGE_SIZE;
    let tables = p.memory.space.table_frames().saturating_mul(paging::PAGE_SIZE);
    stack.saturating_add(tables).saturating_add(p.fpu.size() as u64).saturating_add(core::mem::size_of::<Process>() as u64)
}
