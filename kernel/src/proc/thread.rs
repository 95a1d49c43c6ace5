//! Threads: what the scheduler runs. Each has its own kernel stack, FPU
//! state, FS base (TLS), signal mask and alternate stack; its process's
//! memory, domain key, files and signal dispositions are shared. Here: the
//! record, a new thread (`clone` with CLONE_THREAD), and the end of one
//! thread (`exit`) or of all the others (`exit_group`, `execve`).

use alloc::boxed::Box;
use alloc::string::String;

use pkru::gate::SyscallFrame;
use process::{Pid, ThreadSignals};
use syscall::Errno;

use super::{Process, RunState, sched};
use crate::arch::context::{self, FpuState};
use crate::mm::KernelStack;

/// One thread of a process.
pub struct Thread {
    /// Its id: the pid for a process's first thread.
    pub tid: Pid,
    /// Its name if set apart from the process's (`PR_SET_NAME` in a thread
    /// other than the first, /proc/PID/task/TID/comm).
    pub comm: Option<String>,
    pub kernel_stack: KernelStack,
    /// Saved kernel RSP while another thread runs.
    pub kernel_rsp: u64,
    pub fpu: FpuState,
    pub fs_base: u64,
    pub run: RunState,
    /// When it last blocked (a count of blocks): wake-ups of some waiters
    /// take those that waited longest.
    pub blocked_since: u64,
    /// Timer ticks left before preemption.
    pub slice: u32,
    /// Its blocked mask and the signals sent to it alone.
    pub signals: ThreadSignals,
    /// The alternate signal stack (`stack_t` as the thread gave it).
    pub sigaltstack: [u8; 24],
    /// Cleared and woken as a futex when the thread ends (`set_tid_address`,
    /// CLONE_CHILD_CLEARTID): how pthread_join learns of it.
    pub clear_child_tid: u64,
    /// The syscall a signal interrupted, to run again after the handler (SA_RESTART).
    pub restart_syscall: Option<u64>,
    /// The mask to restore after a signal interrupted rt_sigsuspend.
    pub saved_mask: Option<u64>,
    /// Deadline of the call the thread waits in (poll, select, nanosleep).
    pub wait_deadline: Option<u64>,
    /// The set an rt_sigtimedwait waits for: a signal of it wakes the
    /// thread even while blocked (0 when not waiting).
    pub sigwait_set: u64,
    /// A FIFO open waiting for the other side (undone if interrupted).
    pub fifo_wait: Option<crate::fs::FifoWait>,
    /// Its own user and system time (RUSAGE_THREAD, CLOCK_THREAD_CPUTIME_ID);
    /// the process's clock counts all of them.
    pub cpu: ::process::CpuClock,
}

impl Thread {
    /// A thread that starts by returning to user space with `frame`, on a
    /// fresh kernel stack.
    pub fn new(tid: Pid, kernel_stack: KernelStack, frame: &SyscallFrame, fpu: FpuState) -> Box<Thread> {
        let kernel_rsp = context::prepare_first_entry(kernel_stack.top.as_u64(), frame);
        Box::new(Thread {
            tid,
            comm: None,
            kernel_stack,
            kernel_rsp,
            fpu,
            fs_base: 0,
            run: RunState::Ready,
            blocked_since: 0,
            slice: sched::SLICE_TICKS,
            signals: ThreadSignals::new(),
            sigaltstack: [0; 24],
            clear_child_tid: 0,
            restart_syscall: None,
            saved_mask: None,
            wait_deadline: None,
            sigwait_set: 0,
            fifo_wait: None,
            cpu: ::process::CpuClock::new(),
        })
    }

    /// Undoes a FIFO open the thread waits in, as it ends (its futex
    /// waits go in `futex::thread_exited`).
    fn cancel_waits(&mut self) {
        if let Some(wait) = self.fifo_wait.take() {
            wait.cancel();
        }
    }
}

/// What `clone` with CLONE_THREAD asks for.
pub struct NewThread {
    pub stack: u64,
    /// CLONE_SETTLS: the new thread's FS base.
    pub tls: Option<u64>,
    /// CLONE_PARENT_SETTID: where the tid is written (in the shared memory).
    pub parent_tid: Option<u64>,
    /// CLONE_CHILD_SETTID.
    pub child_tid: Option<u64>,
    /// CLONE_CHILD_CLEARTID.
    pub clear_child_tid: Option<u64>,
}

/// Adds a thread to `p` that returns from the clone with rax = 0 on
/// `spec.stack`; returns its tid. Its mask is the caller's; nothing is
/// pending on it; its alternate stack is none (Linux resets it for a
/// CLONE_VM child).
pub fn spawn(p: &mut Process, frame: &SyscallFrame, spec: &NewThread) -> Result<Pid, Errno> {
    let tid = super::with_table(|t| t.try_allocate_pid())?;
    if let Some(at) = spec.parent_tid {
        p.memory.write(at, &tid.as_u32().to_le_bytes())?;
    }
    if let Some(at) = spec.child_tid {
        p.memory.write(at, &tid.as_u32().to_le_bytes())?;
    }
    let kernel_stack = crate::mm::allocate_stack(super::exec::KERNEL_STACK_PAGES).map_err(|_| Errno::ENOMEM)?;
    let mut child_frame = *frame;
    child_frame.rax = 0;
    if spec.stack != 0 {
        child_frame.rsp = spec.stack;
    }
    child_frame.rcx = child_frame.rip;
    child_frame.r11 = child_frame.rflags;
    let parent = p.thread_mut();
    parent.fpu.save();
    let fpu = parent.fpu.duplicate();
    let signals = parent.signals.inherited();
    let fs_base = spec.tls.unwrap_or(parent.fs_base);
    let mut thread = Thread::new(tid, kernel_stack, &child_frame, fpu);
    thread.signals = signals;
    thread.fs_base = fs_base;
    thread.clear_child_tid = spec.clear_child_tid.unwrap_or(0);
    p.threads.push(thread);
    let pid = p.pid;
    super::sched::mark_ready(pid);
    super::with_table(|t| t.add_thread(tid, pid));
    Ok(tid)
}

/// Threads that ended, freed once the CPU runs on another kernel stack;
/// the flag marks the one that was running when it ended.
static DEAD: spin::Mutex<alloc::vec::Vec<(Box<Thread>, bool)>> = spin::Mutex::new(alloc::vec::Vec::new());

/// Frees the ended threads the CPU is not running on (after a switch).
pub fn free_dead() {
    let me = sched::current_tid();
    let mut dead = DEAD.lock();
    if dead.is_empty() {
        return;
    }
    let mut keep = alloc::vec::Vec::new();
    for (thread, was_running) in core::mem::take(&mut *dead) {
        if was_running && thread.tid == me {
            keep.push((thread, was_running));
        } else {
            crate::mm::free_stack(thread.kernel_stack);
        }
    }
    *dead = keep;
}

/// The end of one thread's life in the kernel: its robust futexes are
/// released, its clear-child-tid word is zeroed and woken (pthread_join)
/// when other threads remain, and what it waited on is undone.
fn release(p: &mut Process, index: usize) {
    let thread = &mut p.threads[index];
    thread.cancel_waits();
    let (tid, clear) = (thread.tid, thread.clear_child_tid);
    thread.clear_child_tid = 0;
    // Robust list first (Linux's mm_release order), then the tid word,
    // woken with a shared operation as Linux does (glibc's join waits so).
    super::futex::thread_exited(p, tid);
    crate::sysv::thread_ended(tid.as_u32());
    // Only while other threads share the memory (Linux's mm_users > 1): a
    // process's last thread leaves the word alone, so that an exit needs no
    // copy-on-write frame (a fork bomb's children exit with none left).
    if clear != 0
        && p.threads.len() > 1
        && super::futex::write_word(p, clear, 0).is_ok()
        && let Ok(key) = super::futex::key(p, clear, false)
        && let Ok(woken) = super::futex::TABLE.lock().wake(key, u32::MAX, 1)
    {
        super::futex::wake(&woken);
    }
}

/// `exit` in a process with other threads: the calling thread ends, the
/// process goes on. Returns false when it is the last one (the process
/// ends with the status instead).
pub fn exit_current_thread() -> bool {
    let tid = sched::current_tid();
    let ended = super::with_current(|p| {
        if p.threads.len() <= 1 {
            return false;
        }
        let Some(index) = p.thread_index(tid) else { return false };
        release(p, index);
        let mut thread = p.threads.remove(index);
        thread.run = RunState::Zombie;
        thread.cpu.switch_out(crate::time::cpu_clock());
        p.cpu.absorb(&thread.cpu, crate::time::cpu_clock());
        DEAD.lock().push((thread, true));
        // A process-directed signal this thread would have taken goes to another.
        super::signal::redirect_pending(p);
        true
    })
    .unwrap_or(false);
    if ended {
        super::with_table(|t| t.remove_thread(tid));
    }
    ended
}

/// Ends every thread of `p` but the running one (exit_group, a fatal
/// signal, execve): none of them runs again. With `execve` the survivor
/// takes the process's pid as its tid, as on Linux.
pub fn end_other_threads(p: &mut Process, execve: bool) {
    let me = sched::current_tid();
    let mut index = 0;
    while index < p.threads.len() {
        if p.threads[index].tid == me {
            index += 1;
            continue;
        }
        release(p, index);
        let mut thread = p.threads.remove(index);
        thread.run = RunState::Zombie;
        p.cpu.absorb(&thread.cpu, crate::time::cpu_clock());
        let tid = thread.tid;
        DEAD.lock().push((thread, false));
        if tid != p.pid {
            super::with_table(|t| t.remove_thread(tid));
        }
    }
    if execve && me != p.pid {
        super::with_table(|t| t.remove_thread(me));
        let pid = p.pid;
        if let Some(thread) = p.threads.first_mut() {
            thread.tid = pid;
        }
        sched::set_current_tid(pid);
    }
}

/// Releases the running thread's futexes and waits as its process ends
/// (exit_group): the thread's record stays as the zombie's.
pub fn release_current(p: &mut Process) {
    let index = p.current_index();
    release(p, index);
    let tid = p.threads[index].tid;
    if tid != p.pid {
        super::with_table(|t| t.remove_thread(tid));
    }
}
