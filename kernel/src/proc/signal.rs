//! Signals: sending (queued, applied by the scheduler), delivery on the way
//! back to a process (default actions, or a Linux rt_sigframe on the user
//! stack that runs the handler), and rt_sigreturn. The frame carries the
//! registers, the mask and the legacy FPU image; it never carries PKRU: the
//! return gate always loads the PKRU kept in the kernel's process record.

#![warn(clippy::arithmetic_side_effects)]

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use pkru::gate::SyscallFrame;
use process::{ExitStatus, Pid};
use spin::Mutex;
use syscall::{DefaultAction, Errno, SIG_DFL, SIG_IGN, SigInfo, SignalFrame};

use super::{Process, RunState, sched};

pub use syscall::{CLD_DUMPED, CLD_EXITED, CLD_KILLED, SEGV_ACCERR, SEGV_MAPERR, SEGV_PKUERR};

const SA_ONSTACK: u64 = 0x0800_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SS_DISABLE: u32 = 2;
/// RFLAGS bits a handler may restore (CF PF AF ZF SF TF DF OF, AC, ID); IF is forced on.
const USER_FLAGS: u64 = 0x0000_0dd5 | 0x4_0000 | 0x20_0000;

/// Who a queued signal is for: one entry however many processes a group
/// holds, so that kill of a group allocates nothing per member.
#[derive(Clone, Copy, Debug)]
enum Recipients {
    One(Pid),
    /// The members of a process group but one (the sender, served at once).
    Group { pgid: u32, except: Pid },
    /// kill(-1): every process but pid 1 and the sender.
    AllBut(Pid),
    /// One thread (tkill, tgkill).
    Thread(Pid),
}

/// Signals sent by processes that held the process lock, applied by the
/// scheduler (drained at the sender's next switch, so it stays short).
static PENDING: Mutex<Vec<(Recipients, u32, SigInfo)>> = Mutex::new(Vec::new());

/// The siginfo of each pending signal, per process, and per thread for the
/// signals sent to one thread (the id with [`THREAD_INFO`] set).
static INFOS: Mutex<BTreeMap<(u32, u32), SigInfo>> = Mutex::new(BTreeMap::new());

/// Marks a thread's id in `INFOS` (ids stay below 2^22).
const THREAD_INFO: u32 = 1 << 31;

fn info_key(id: Pid, signal: u32, thread: bool) -> (u32, u32) {
    (if thread { id.as_u32() | THREAD_INFO } else { id.as_u32() }, signal)
}

/// Queues `signal` for thread `tid` alone (tkill, tgkill).
pub fn send_to_thread(tid: Pid, signal: u32, info: SigInfo) {
    PENDING.lock().push((Recipients::Thread(tid), signal, info));
    sched::request_switch();
}

/// Queues `signal` for `pid` (applied before anyone runs again).
pub fn send(pid: Pid, signal: u32, info: SigInfo) {
    PENDING.lock().push((Recipients::One(pid), signal, info));
    sched::request_switch();
}

/// Queues `signal` for every member of process group `pgid` but `except`.
pub fn send_to_group(pgid: u32, except: Pid, signal: u32, info: SigInfo) {
    PENDING.lock().push((Recipients::Group { pgid, except }, signal, info));
    sched::request_switch();
}

/// Queues `signal` for every process but pid 1 and `except` (kill(-1)).
pub fn send_to_all_but(except: Pid, signal: u32, info: SigInfo) {
    PENDING.lock().push((Recipients::AllBut(except), signal, info));
    sched::request_switch();
}

/// Posts the queued signals to their processes (whether there were any).
/// Ignored signals are dropped (SIGKILL never is).
pub fn apply_pending(procs: &mut BTreeMap<u32, Box<Process>>) -> bool {
    // Every scheduler pass asks; the queue is nearly always empty.
    if PENDING.lock().is_empty() {
        return false;
    }
    post_queued(procs);
    true
}

#[inline(never)]
fn post_queued(procs: &mut BTreeMap<u32, Box<Process>>) {
    let queued = core::mem::take(&mut *PENDING.lock());
    for (to, signal, info) in queued {
        match to {
            Recipients::One(pid) => {
                if let Some(p) = procs.get_mut(&pid.as_u32())
                    && !p.is_zombie()
                {
                    post(p, signal, info);
                }
            }
            Recipients::Thread(tid) => {
                let process = super::with_table(|t| t.process_of(tid));
                if let Some(p) = process.and_then(|pid| procs.get_mut(&pid.as_u32()))
                    && !p.is_zombie()
                {
                    post_to_thread(p, tid, signal, info);
                }
            }
            Recipients::Group { pgid, except } => super::with_table(|table| {
                for p in procs.values_mut() {
                    let member = table.get(p.pid).is_some_and(|e| e.pgid == pgid);
                    if member && p.pid != except && !p.is_zombie() {
                        post(p, signal, info);
                    }
                }
            }),
            Recipients::AllBut(except) => {
                for p in procs.values_mut() {
                    if p.pid != except && p.pid != Pid::INIT && !p.is_zombie() {
                        post(p, signal, info);
                    }
                }
            }
        }
    }
}

fn ignored(p: &Process, signal: u32) -> bool {
    let Some(sig) = syscall::Signal::new(signal) else { return true };
    if sig.is_unblockable() {
        return false;
    }
    let action = p.signals.action(signal);
    action.handler == SIG_IGN || (action.handler == SIG_DFL && sig.default_action() == DefaultAction::Ignore)
}

/// Marks `signal` pending on process `p` (the current one or one the
/// caller holds), and wakes a thread of it that takes it (Linux's
/// `complete_signal`): none if the running thread takes it, else the first
/// that does not block it or waits for it in sigtimedwait.
pub fn post(p: &mut Process, signal: u32, info: SigInfo) {
    if ignored(p, signal) {
        return;
    }
    let Some(sig) = syscall::Signal::new(signal) else { return };
    p.signals.post(sig);
    INFOS.lock().insert(info_key(p.pid, signal, false), info);
    wake_taker(p, sig);
}

fn wake_taker(p: &mut Process, sig: syscall::Signal) {
    let takes = |t: &super::Thread| t.signals.accepts(sig) || t.sigwait_set & sig.mask_bit() != 0;
    // The running thread takes it if it can (it sees it on its way out).
    let me = sched::current_tid();
    let index = p.thread_index(me).filter(|&i| takes(&p.threads[i])).or_else(|| p.threads.iter().position(|t| takes(t)));
    if let Some(t) = index.map(|i| &mut p.threads[i])
        && matches!(t.run, RunState::Blocked(_))
    {
        t.run = RunState::Ready;
        sched::mark_ready(p.pid);
    }
}

/// Marks `signal` pending on thread `tid` of `p` alone and wakes it if it takes it.
pub fn post_to_thread(p: &mut Process, tid: Pid, signal: u32, info: SigInfo) {
    if ignored(p, signal) {
        return;
    }
    let Some(sig) = syscall::Signal::new(signal) else { return };
    let Some(index) = p.thread_index(tid) else { return };
    let t = &mut p.threads[index];
    p.signals.post_to_thread(&mut t.signals, sig);
    INFOS.lock().insert(info_key(tid, signal, true), info);
    if matches!(t.run, RunState::Blocked(_)) && (t.signals.accepts(sig) || t.sigwait_set & sig.mask_bit() != 0) {
        t.run = RunState::Ready;
        sched::mark_ready(p.pid);
    }
}

/// After a thread ended: the process's pending signals it would have
/// taken wake another that takes them.
pub fn redirect_pending(p: &mut Process) {
    let mut bits = p.signals.pending();
    while bits != 0 {
        let number = bits.trailing_zeros().wrapping_add(1);
        bits &= bits.wrapping_sub(1);
        if let Some(sig) = syscall::Signal::new(number) {
            wake_taker(p, sig);
        }
    }
}

/// The siginfo a pending `signal` of `p` (or, `own`, of its running
/// thread alone) was sent with (taken).
pub fn take_info(p: &Process, signal: u32, own: bool) -> SigInfo {
    let id = if own { p.thread().tid } else { p.pid };
    INFOS.lock().remove(&info_key(id, signal, own)).unwrap_or_else(|| SigInfo::kill(signal as i32, 0, 0))
}

/// ITIMER_REAL (alarm, setitimer): SIGALRM when due, reloaded with its interval.
pub fn fire_alarm_if_due(p: &mut Process, now: u64) {
    if p.alarm_at.is_some_and(|at| at <= now) {
        p.alarm_at = (p.alarm_interval != 0).then(|| syscall::time::deadline_ns(now, p.alarm_interval));
        if let Some(at) = p.alarm_at {
            sched::mark_timed(p.pid, at);
        }
        let pid = p.pid.as_u32() as i32;
        post(p, SIGALRM, SigInfo::kill(SIGALRM as i32, pid, 0));
    }
}

const SIGALRM: u32 = 14;
const SIGXCPU: u32 = 24;
const SIGVTALRM: u32 = 26;
const SIGPROF: u32 = 27;
const SIGKILL: u32 = 9;

/// RLIMIT_CPU: SIGXCPU at the soft limit and each second after it (the
/// soft limit moves on by one, as Linux shows in getrlimit), SIGKILL at
/// the hard limit; checked where the CPU timers are.
pub fn fire_cpu_limit_if_due(p: &mut Process) {
    let limit = p.limits.get(syscall::Resource::Cpu);
    let (user, system) = super::cpu_times_ns(p);
    let (signal, next_soft) = match ::process::cpu_limit_action(limit.rlim_cur, limit.rlim_max, user.saturating_add(system)) {
        None => return,
        Some(::process::CpuLimitAction::Kill) => (SIGKILL, None),
        Some(::process::CpuLimitAction::Xcpu { next_soft }) => (SIGXCPU, Some(next_soft)),
    };
    if let Some(soft) = next_soft {
        let _ = p.limits.prlimit(syscall::Resource::Cpu, Some(syscall::Rlimit::new(soft, limit.rlim_max)));
    }
    let mut info = SigInfo::kill(signal as i32, 0, 0);
    info.code = syscall::SI_KERNEL;
    post(p, signal, info);
}

/// ITIMER_VIRTUAL and ITIMER_PROF: SIGVTALRM and SIGPROF when the CPU time
/// they count reaches them (checked on every return to the process, so at
/// least once a tick while it runs), sent by the kernel (SI_KERNEL) as
/// Linux's `check_cpu_itimer`.
pub fn fire_cpu_timers_if_due(p: &mut Process) {
    let (user, system) = super::cpu_times_ns(p);
    let (virtual_due, prof_due) = p.cpu.timers.fire_if_due(user, system);
    for (due, signal) in [(virtual_due, SIGVTALRM), (prof_due, SIGPROF)] {
        if due {
            let mut info = SigInfo::kill(signal as i32, 0, 0);
            info.code = syscall::SI_KERNEL;
            post(p, signal, info);
        }
    }
}

/// SIGCHLD to `parent` about `child`, and a wake-up for its waits.
pub fn send_child_signal(parent: Pid, child: Pid, code: i32, status: ExitStatus) {
    let value = match status {
        ExitStatus::Exited(code) => i32::from(code),
        ExitStatus::Signaled { signal, .. } => signal as i32,
    };
    send(parent, super::SIGCHLD, SigInfo::child(child.as_u32() as i32, 0, code, value));
    sched::wake(parent, super::BlockOn::Child);
}

/// Whether the current process catches `signal` (a fault it can handle).
pub fn fault_has_handler(signal: u32) -> bool {
    super::with_current(|p| {
        let action = p.signals.action(signal);
        let blocked = p.thread().signals.mask() & 1u64.checked_shl(signal.wrapping_sub(1)).unwrap_or(0) != 0;
        action.handler != SIG_DFL && action.handler != SIG_IGN && !blocked
    })
    .unwrap_or(false)
}

/// Queues a fault signal on the running thread (delivered before it resumes).
pub fn queue_fault(signal: u32, info: SigInfo) {
    let tid = sched::current_tid();
    super::with_current(|p| post_to_thread(p, tid, signal, info));
}

/// Whether the running thread of `p` has a signal to take now (interrupting a wait).
pub fn has_deliverable(p: &Process) -> bool {
    p.signals.has_deliverable(&p.thread().signals)
}

/// On the way back to `p`'s code: takes one deliverable signal and either
/// applies its default action (returned as the status the process dies with)
/// or rewrites `frame` to run its handler on a new signal frame.
pub fn deliver(p: &mut Process, frame: &mut SyscallFrame) -> Option<ExitStatus> {
    let index = p.current_index();
    loop {
        let Some((sig, action, own)) = p.signals.take_deliverable(&mut p.threads[index].signals) else {
            // Interrupted, but no handler ran: the call starts again (Linux's ERESTARTSYS).
            if let Some(number) = p.threads[index].restart_syscall.take() {
                rewind(frame, number);
            }
            return None;
        };
        let signal = sig.number();
        let info = take_info(p, signal, own);
        if action.handler == SIG_IGN {
            continue;
        }
        if action.handler == SIG_DFL {
            match sig.default_action() {
                DefaultAction::Terminate => return Some(ExitStatus::Signaled { signal, core: false }),
                DefaultAction::CoreDump => return Some(ExitStatus::Signaled { signal, core: true }),
                _ => continue,
            }
        }
        if let Some(number) = p.threads[index].restart_syscall.take()
            && action.flags & SA_RESTART != 0
            && restarted_after_handler(number)
        {
            rewind(frame, number);
        }
        let thread = &mut p.threads[index];
        let old_mask = thread.saved_mask.take().unwrap_or(thread.signals.mask());
        if push_frame(p, index, frame, signal, &action, info, old_mask).is_err() {
            // No room for the frame: Linux kills with SIGSEGV.
            return Some(ExitStatus::Signaled { signal: super::SIGSEGV, core: true });
        }
        let mut mask = old_mask | action.mask;
        if action.flags & SA_NODEFER == 0 {
            mask |= 1u64.checked_shl(signal.wrapping_sub(1)).unwrap_or(0);
        }
        p.threads[index].signals.set_mask(mask);
        return None;
    }
}

/// Whether a call interrupted by a handler with SA_RESTART starts again:
/// not the waits that signal(7) says are never restarted after a handler
/// (poll, select, their p- forms, and the sleeps, which return EINTR and,
/// relative, the time left).
fn restarted_after_handler(number: u64) -> bool {
    use syscall::nr;
    !matches!(number, nr::POLL | nr::PPOLL | nr::SELECT | nr::PSELECT6 | nr::NANOSLEEP | nr::CLOCK_NANOSLEEP)
}

/// Makes the process execute its interrupted `syscall` again.
fn rewind(frame: &mut SyscallFrame, number: u64) {
    frame.rax = number;
    frame.rip = frame.rip.wrapping_sub(2); // the `syscall` instruction is 2 bytes (0F 05)
    frame.rcx = frame.rip;
}

fn push_frame(
    p: &mut Process,
    index: usize,
    frame: &mut SyscallFrame,
    signal: u32,
    action: &syscall::KernelSigaction,
    info: SigInfo,
    old_mask: u64,
) -> Result<(), Errno> {
    let thread = &mut p.threads[index];
    let alt_sp = u64::from_le_bytes(thread.sigaltstack[0..8].try_into().unwrap_or([0; 8]));
    let alt_flags = u32::from_le_bytes(thread.sigaltstack[8..12].try_into().unwrap_or([0; 4]));
    let alt_size = u64::from_le_bytes(thread.sigaltstack[16..24].try_into().unwrap_or([0; 8]));
    // Linux's on_sig_stack; the process chose both values, so no sum may overflow.
    let on_alt = frame.rsp.checked_sub(alt_sp).is_some_and(|depth| depth != 0 && depth <= alt_size);
    let use_alt = action.flags & SA_ONSTACK != 0 && alt_flags & SS_DISABLE == 0 && alt_size != 0 && !on_alt;
    // The alternate stack's top (wrapping as Linux's unsigned sum; a frame
    // that lands nowhere is EFAULT and the process dies of SIGSEGV), plus the
    // red zone that frame_address skips on an ordinary stack.
    let base = if use_alt { alt_sp.wrapping_add(alt_size).wrapping_add(128) } else { frame.rsp };
    let at = syscall::frame_address(base);
    thread.fpu.save();
    let context = syscall::SigContext {
        r8: frame.r8,
        r9: frame.r9,
        r10: frame.r10,
        r11: frame.r11,
        r12: frame.r12,
        r13: frame.r13,
        r14: frame.r14,
        r15: frame.r15,
        rdi: frame.rdi,
        rsi: frame.rsi,
        rbp: frame.rbp,
        rbx: frame.rbx,
        rdx: frame.rdx,
        rax: frame.rax,
        rcx: frame.rcx,
        rsp: frame.rsp,
        rip: frame.rip,
        eflags: frame.rflags,
        cs: 0x08,
        gs: 0,
        fs: 0,
        ss: 0x10,
        err: 0,
        trapno: 0,
        oldmask: old_mask,
        cr2: 0,
        fpstate: at.wrapping_add(SignalFrame::FPU_OFFSET as u64),
    };
    let sigframe = SignalFrame {
        restorer: action.restorer,
        uc_flags: syscall::UC_FLAGS_DEFAULT,
        uc_stack: thread.sigaltstack,
        context,
        sigmask: old_mask,
        info,
        fpu: thread.fpu.legacy(),
    };
    p.memory.write(at, &sigframe.to_bytes())?;
    frame.rip = action.handler;
    frame.rsp = at;
    frame.rdi = u64::from(signal);
    frame.rsi = at.wrapping_add(SignalFrame::SIGINFO_OFFSET as u64);
    frame.rdx = at.wrapping_add(SignalFrame::UCONTEXT_OFFSET as u64);
    frame.rax = 0;
    frame.rflags &= !(0x100 | 0x400); // TF, DF
    frame.rcx = frame.rip;
    frame.r11 = frame.rflags;
    Ok(())
}

/// rt_sigreturn: the handler returned into its restorer, which made this
/// call with RSP just past the frame's return address. Restores registers,
/// mask and FPU state from the frame; PKRU is not in it and stays the record's.
pub fn sigreturn(p: &mut Process, frame: &mut SyscallFrame) -> Result<u64, Errno> {
    let at = frame.rsp.wrapping_sub(8);
    let mut bytes = alloc::vec![0u8; syscall::FRAME_SIZE];
    p.memory.read(at, &mut bytes)?;
    let sigframe = SignalFrame::from_bytes(&bytes).ok_or(Errno::EFAULT)?;
    let c = &sigframe.context;
    *frame = SyscallFrame {
        r15: c.r15,
        r14: c.r14,
        r13: c.r13,
        r12: c.r12,
        r11: c.r11,
        r10: c.r10,
        r9: c.r9,
        r8: c.r8,
        rbp: c.rbp,
        rbx: c.rbx,
        rdx: c.rdx,
        rcx: c.rcx,
        rsi: c.rsi,
        rdi: c.rdi,
        rax: c.rax,
        rip: c.rip,
        rflags: (c.eflags & USER_FLAGS) | 0x202,
        rsp: c.rsp,
    };
    let thread = p.thread_mut();
    thread.signals.set_mask(sigframe.sigmask);
    let mut image = sigframe.fpu;
    syscall::sanitize_fxsave(&mut image, 0xffbf);
    thread.fpu.save();
    thread.fpu.set_legacy(&image);
    thread.fpu.restore();
    Ok(frame.rax)
}
