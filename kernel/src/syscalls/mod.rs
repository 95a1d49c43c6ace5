//! The system call table: one `match` generated from the list below, each
//! number taken from `syscall::nr` and mapped to its `sys_<name>` handler.
//! Handlers decode their raw arguments first (typed flags, checked user
//! pointers) and return `Result<u64, Errno>`. An unknown number returns
//! ENOSYS and is logged once per program. `--trace` prints every call.
//! What each call supports is annotated in `syscall::support` (checked
//! against this table at build time; docs/syscalls.md is made from it).

mod cpu;
mod files;
mod futex;
mod info;
mod ipc;
pub use files::readiness;
pub use info::{HOSTNAME, NGROUPS_MAX, OSRELEASE, OSTYPE};
mod memory;
mod net;
mod process;
mod signals;
mod terminal;
mod thread;
mod timers;

use alloc::collections::BTreeSet;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use pkru::gate::SyscallFrame;
use spin::Mutex;
use ::process::{ExitStatus, Pid};
use syscall::{Errno, nr};

use crate::proc::{self, BlockOn, Process, signal};

/// What a handler returns: the value for rax, or an errno.
pub type SysResult = Result<u64, Errno>;

/// The caller, its registers, and what should happen after the call (the
/// process lock is held during the call; these are carried out after it).
pub struct Ctx<'a> {
    pub process: &'a mut Process,
    pub frame: &'a mut SyscallFrame,
    /// exit, exit_group, a fatal rt_sigreturn: the status the process ends with.
    pub exit: Option<ExitStatus>,
    /// `exit` ends only the calling thread (the process with its last one).
    pub exit_thread: bool,
    /// The call must wait: the process blocks, and the call runs again when woken.
    pub block: Option<BlockOn>,
    /// Block after the call instead of retrying it (vfork's parent).
    pub block_once: bool,
    /// This run of the call is a retry after blocking.
    pub retry: bool,
    /// A new process to add (fork).
    pub spawn: Option<alloc::boxed::Box<Process>>,
    /// A zombie to free (wait).
    pub reap: Option<Pid>,
    /// The frame holds a whole new register set (execve, rt_sigreturn).
    pub full_restore: bool,
    /// Give the CPU away after the call (sched_yield).
    pub yield_after: bool,
    /// A vfork child's exec hands the parent its memory back.
    /// Boxed: a rare case, and every call moves this record around.
    pub give_back: Option<alloc::boxed::Box<(Pid, proc::memory::Memory)>>,
    /// An open /proc file of another process, to fill in once the caller's
    /// record is unlocked (`procfs::fill_other`).
    pub proc_fill: Option<(crate::fs::FileRef, Pid, crate::procfs::OtherFile)>,
}

/// Generates [`call`] from the table, and checks at build time that the
/// table and `syscall::support` (what docs/syscalls.md says of each call)
/// agree: every number dispatched here is annotated there, and every
/// annotated number is dispatched here.
macro_rules! syscall_table {
    ($($nr:ident => $handler:path,)*) => {
        fn call(ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> SysResult {
            match number {
                $(nr::$nr => $handler(ctx, args),)*
                _ => unknown(ctx, number),
            }
        }

        $(const _: () = assert!(
            syscall::support::is_annotated(nr::$nr),
            concat!("syscall ", stringify!($nr), " is dispatched but has no annotation in syscall/src/support.rs")
        );)*

        /// Every number the table dispatches.
        const DISPATCHED: &[u64] = &[$(nr::$nr),*];
        const _: () = assert!(
            syscall::support::first_undispatched(DISPATCHED).is_none(),
            "a syscall annotated in syscall/src/support.rs is not dispatched by the kernel's table \
             (`cargo test -p isola syscall_table` names it)"
        );
    };
}

syscall_table! {
    READ => files::sys_read,
    WRITE => files::sys_write,
    OPEN => files::sys_open,
    CLOSE => files::sys_close,
    CREAT => files::sys_creat,
    LINK => files::sys_link,
    LINKAT => files::sys_linkat,
    STAT => files::sys_stat,
    FSTAT => files::sys_fstat,
    LSTAT => files::sys_lstat,
    POLL => files::sys_poll,
    PIPE => files::sys_pipe,
    PIPE2 => files::sys_pipe2,
    SELECT => files::sys_select,
    PSELECT6 => files::sys_pselect6,
    LSEEK => files::sys_lseek,
    MMAP => memory::sys_mmap,
    MPROTECT => memory::sys_mprotect,
    MREMAP => memory::sys_mremap,
    FSYNC => files::sys_fsync,
    EVENTFD => files::sys_eventfd,
    MEMFD_CREATE => files::sys_memfd_create,
    EVENTFD2 => files::sys_eventfd2,
    TIMERFD_CREATE => timers::sys_timerfd_create,
    TIMERFD_SETTIME => timers::sys_timerfd_settime,
    TIMERFD_GETTIME => timers::sys_timerfd_gettime,
    FDATASYNC => files::sys_fdatasync,
    SYNC => files::sys_sync,
    SYNCFS => files::sys_syncfs,
    MUNMAP => memory::sys_munmap,
    BRK => memory::sys_brk,
    RT_SIGACTION => signals::sys_rt_sigaction,
    RT_SIGPROCMASK => signals::sys_rt_sigprocmask,
    IOCTL => files::sys_ioctl,
    PREAD64 => files::sys_pread64,
    PWRITE64 => files::sys_pwrite64,
    READV => files::sys_readv,
    WRITEV => files::sys_writev,
    PREADV => files::sys_preadv,
    PWRITEV => files::sys_pwritev,
    PREADV2 => files::sys_preadv2,
    PWRITEV2 => files::sys_pwritev2,
    CLOSE_RANGE => files::sys_close_range,
    ACCESS => files::sys_access,
    SCHED_YIELD => process::sys_sched_yield,
    MADVISE => memory::sys_madvise,
    SHMGET => ipc::sys_shmget,
    SHMAT => ipc::sys_shmat,
    SHMDT => ipc::sys_shmdt,
    SHMCTL => ipc::sys_shmctl,
    SEMGET => ipc::sys_semget,
    SEMOP => ipc::sys_semop,
    SEMTIMEDOP => ipc::sys_semtimedop,
    SEMCTL => ipc::sys_semctl,
    MSYNC => memory::sys_msync,
    FALLOCATE => files::sys_fallocate,
    DUP => files::sys_dup,
    DUP2 => files::sys_dup2,
    SENDFILE => files::sys_sendfile,
    COPY_FILE_RANGE => files::sys_copy_file_range,
    SPLICE => files::sys_splice,
    NANOSLEEP => info::sys_nanosleep,
    GETPID => info::sys_getpid,
    FORK => process::sys_fork,
    VFORK => process::sys_vfork,
    CLONE => thread::sys_clone,
    CLONE3 => thread::sys_clone3,
    EXECVE => process::sys_execve,
    WAIT4 => process::sys_wait4,
    WAITID => process::sys_waitid,
    RT_SIGRETURN => process::sys_rt_sigreturn,
    RT_SIGSUSPEND => process::sys_rt_sigsuspend,
    RT_SIGTIMEDWAIT => signals::sys_rt_sigtimedwait,
    PAUSE => process::sys_pause,
    ALARM => process::sys_alarm,
    SETITIMER => process::sys_setitimer,
    GETITIMER => process::sys_getitimer,
    RT_SIGPENDING => process::sys_rt_sigpending,
    GETPGID => process::sys_getpgid,
    EXIT => thread::sys_exit,
    UNAME => info::sys_uname,
    FCNTL => files::sys_fcntl,
    FLOCK => files::sys_flock,
    GETCWD => files::sys_getcwd,
    CHDIR => files::sys_chdir,
    FCHDIR => files::sys_fchdir,
    MKDIR => files::sys_mkdir,
    RMDIR => files::sys_rmdir,
    UNLINK => files::sys_unlink,
    READLINK => files::sys_readlink,
    CHMOD => files::sys_chmod,
    FCHMOD => files::sys_fchmod,
    FCHMODAT => files::sys_fchmodat,
    CHOWN => files::sys_chown,
    LCHOWN => files::sys_lchown,
    FCHOWN => files::sys_fchown,
    FCHOWNAT => files::sys_fchownat,
    TRUNCATE => files::sys_truncate,
    FTRUNCATE => files::sys_ftruncate,
    RENAME => files::sys_rename,
    RENAMEAT => files::sys_renameat,
    RENAMEAT2 => files::sys_renameat2,
    SYMLINK => files::sys_symlink,
    SYMLINKAT => files::sys_symlinkat,
    UTIMENSAT => files::sys_utimensat,
    FUTIMESAT => files::sys_futimesat,
    UTIMES => files::sys_utimes,
    UTIME => files::sys_utime,
    UMASK => info::sys_umask,
    GETTIMEOFDAY => info::sys_gettimeofday,
    GETRLIMIT => info::sys_getrlimit,
    SETRLIMIT => info::sys_setrlimit,
    SYSINFO => info::sys_sysinfo,
    GETRUSAGE => info::sys_getrusage,
    TIMES => info::sys_times,
    GETUID => info::sys_getuid,
    GETGID => info::sys_getgid,
    GETEUID => info::sys_geteuid,
    GETEGID => info::sys_getegid,
    SETUID => info::sys_setuid,
    SETGID => info::sys_setgid,
    SETREUID => info::sys_setreuid,
    SETREGID => info::sys_setregid,
    SETRESUID => info::sys_setresuid,
    SETRESGID => info::sys_setresgid,
    GETRESUID => info::sys_getresuid,
    GETRESGID => info::sys_getresgid,
    SETFSUID => info::sys_setfsuid,
    SETFSGID => info::sys_setfsgid,
    GETGROUPS => info::sys_getgroups,
    SCHED_GETAFFINITY => cpu::sys_sched_getaffinity,
    SCHED_SETAFFINITY => cpu::sys_sched_setaffinity,
    MEMBARRIER => cpu::sys_membarrier,
    STATFS => info::sys_statfs,
    FSTATFS => info::sys_fstatfs,
    SETGROUPS => info::sys_setgroups,
    SETPGID => process::sys_setpgid,
    GETPPID => process::sys_getppid,
    GETPGRP => process::sys_getpgrp,
    SETSID => process::sys_setsid,
    GETSID => process::sys_getsid,
    SIGALTSTACK => signals::sys_sigaltstack,
    ARCH_PRCTL => info::sys_arch_prctl,
    GETTID => thread::sys_gettid,
    TIME => info::sys_time,
    SET_TID_ADDRESS => thread::sys_set_tid_address,
    GETDENTS64 => files::sys_getdents64,
    CLOCK_GETTIME => info::sys_clock_gettime,
    CLOCK_GETRES => info::sys_clock_getres,
    CLOCK_SETTIME => info::sys_clock_settime,
    SETTIMEOFDAY => info::sys_settimeofday,
    GETCPU => info::sys_getcpu,
    CLOCK_NANOSLEEP => info::sys_clock_nanosleep,
    EXIT_GROUP => thread::sys_exit_group,
    OPENAT => files::sys_openat,
    MKDIRAT => files::sys_mkdirat,
    MKNOD => files::sys_mknod,
    MKNODAT => files::sys_mknodat,
    NEWFSTATAT => files::sys_newfstatat,
    STATX => files::sys_statx,
    SETXATTR => files::sys_setxattr,
    LSETXATTR => files::sys_lsetxattr,
    FSETXATTR => files::sys_fsetxattr,
    GETXATTR => files::sys_getxattr,
    LGETXATTR => files::sys_lgetxattr,
    FGETXATTR => files::sys_fgetxattr,
    LISTXATTR => files::sys_listxattr,
    LLISTXATTR => files::sys_llistxattr,
    FLISTXATTR => files::sys_flistxattr,
    REMOVEXATTR => files::sys_removexattr,
    LREMOVEXATTR => files::sys_lremovexattr,
    FREMOVEXATTR => files::sys_fremovexattr,
    FADVISE64 => files::sys_fadvise64,
    UNLINKAT => files::sys_unlinkat,
    READLINKAT => files::sys_readlinkat,
    FACCESSAT => files::sys_faccessat,
    FACCESSAT2 => files::sys_faccessat2,
    DUP3 => files::sys_dup3,
    PRLIMIT64 => info::sys_prlimit64,
    GETRANDOM => info::sys_getrandom,
    PPOLL => files::sys_ppoll,
    SET_ROBUST_LIST => futex::sys_set_robust_list,
    GET_ROBUST_LIST => futex::sys_get_robust_list,
    FUTEX => futex::sys_futex,
    RSEQ => info::sys_rseq,
    PRCTL => info::sys_prctl,
    KILL => process::sys_kill,
    GETPRIORITY => process::sys_getpriority,
    SETPRIORITY => process::sys_setpriority,
    TKILL => thread::sys_tkill,
    TGKILL => thread::sys_tgkill,
    SOCKET => net::sys_socket,
    SOCKETPAIR => net::sys_socketpair,
    BIND => net::sys_bind,
    LISTEN => net::sys_listen,
    ACCEPT => net::sys_accept,
    ACCEPT4 => net::sys_accept4,
    CONNECT => net::sys_connect,
    SENDTO => net::sys_sendto,
    RECVFROM => net::sys_recvfrom,
    SENDMSG => net::sys_sendmsg,
    RECVMSG => net::sys_recvmsg,
    SHUTDOWN => net::sys_shutdown,
    GETSOCKNAME => net::sys_getsockname,
    GETPEERNAME => net::sys_getpeername,
    SETSOCKOPT => net::sys_setsockopt,
    GETSOCKOPT => net::sys_getsockopt,
    EPOLL_CREATE => net::sys_epoll_create,
    EPOLL_CREATE1 => net::sys_epoll_create1,
    EPOLL_CTL => net::sys_epoll_ctl,
    EPOLL_WAIT => net::sys_epoll_wait,
    EPOLL_PWAIT => net::sys_epoll_pwait,
    EPOLL_PWAIT2 => net::sys_epoll_pwait2,
}

/// Numbers already reported as unknown, with the program that used them.
static REPORTED: Mutex<BTreeSet<(String, u64)>> = Mutex::new(BTreeSet::new());

fn unknown(ctx: &mut Ctx<'_>, number: u64) -> SysResult {
    let first = REPORTED.lock().insert((ctx.process.name.clone(), number));
    // ENOSYS is an answer programs handle (glibc probes newer calls and
    // falls back): a log line for --verbose, not a notice.
    if first {
        log::info!(
            "pid {} ({}): unimplemented syscall {} ({number}): ENOSYS",
            ctx.process.pid,
            ctx.process.name,
            nr::name(number).unwrap_or("unknown")
        );
    }
    Err(Errno::ENOSYS)
}

/// Calls that make new kernel records (descriptors, pipes, sockets, files,
/// processes, mappings): refused with ENOMEM while the kernel lives on its
/// frame reserve (`mm::kernel_memory_low`), so that what processes pile up
/// cannot spend the memory the kernel keeps for itself (docs/limits.md).
fn creates_kernel_objects(number: u64) -> bool {
    matches!(
        number,
        nr::OPEN
            | nr::OPENAT
            | nr::CREAT
            | nr::PIPE
            | nr::PIPE2
            | nr::SOCKET
            | nr::SOCKETPAIR
            | nr::ACCEPT
            | nr::ACCEPT4
            | nr::DUP
            | nr::DUP2
            | nr::DUP3
            | nr::EPOLL_CREATE
            | nr::EPOLL_CREATE1
            | nr::MEMFD_CREATE
            | nr::MKDIR
            | nr::MKDIRAT
            | nr::MKNOD
            | nr::MKNODAT
            | nr::LINK
            | nr::LINKAT
            | nr::SYMLINK
            | nr::SYMLINKAT
            | nr::FORK
            | nr::VFORK
            | nr::CLONE
            | nr::MMAP
            | nr::SHMGET
            | nr::SHMAT
            | nr::SEMGET
    )
}

/// RFLAGS bits a process may set for itself (CF PF AF ZF SF TF DF OF, AC, ID);
/// IF is always on when it runs.
const USER_FLAGS: u64 = 0x0000_0dd5 | 0x4_0000 | 0x20_0000;

/// What a call leaves to do once the caller's record is unlocked: taken
/// out of its [`Ctx`] only when there is any, so that the common call moves
/// none of it.
struct Later {
    result: SysResult,
    exit: Option<(ExitStatus, bool)>,
    block: Option<BlockOn>,
    block_once: bool,
    spawn: Option<alloc::boxed::Box<Process>>,
    reap: Option<Pid>,
    full_restore: bool,
    yield_after: bool,
    give_back: Option<alloc::boxed::Box<(Pid, proc::memory::Memory)>>,
    proc_fill: Option<(crate::fs::FileRef, Pid, crate::procfs::OtherFile)>,
}

/// Entry from the syscall gate. Never inlined into the gate's entry, even
/// with LTO: profiles show every system call under this one frame.
#[inline(never)]
pub fn dispatch(frame: &mut SyscallFrame) {
    let number = frame.rax;
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    let mut retry = false;
    let (result, full_restore, yield_after) = loop {
        let mut later: Option<Later> = None;
        let done = proc::with_current(|process| serve(process, frame, number, &args, retry, &mut later));
        let Some(done) = done else { panic!("syscall {number} with no current process") };
        if let Some(status) = done {
            proc::exit_current(status);
        }
        // The common case was finished under the lock (`serve`).
        let Some(later) = later else { return };
        let Later { result, exit, block, block_once, spawn, reap, full_restore, yield_after, give_back, proc_fill } = later;
        if let Some((file, pid, what)) = proc_fill {
            crate::procfs::fill_other(&file, pid, what);
        }
        if let Some(lent) = give_back {
            let (parent, memory) = *lent;
            proc::give_back(parent, memory);
        }
        if let Some(child) = spawn {
            let pid = child.pid;
            proc::PROCS.lock().insert(pid.as_u32(), child);
            proc::sched::mark_ready(pid);
        }
        if let Some(pid) = reap
            && let Some((own, children)) = proc::reap(pid)
        {
            proc::with_current(|p| {
                p.children_usage.add_child(own, children);
                // wait4's rusage: the child's own and its children's.
                if number == nr::WAIT4 && args[3] != 0 {
                    let mut both = ::process::Rusage::default();
                    both.add_child(own, children);
                    let _ = p.memory.write(args[3], &info::rusage_layout(&both).to_bytes());
                }
            });
        }
        match exit {
            Some((status, true)) => proc::exit_current_thread(status),
            Some((status, false)) => proc::exit_current(status),
            None => {}
        }
        match block {
            Some(reason) if block_once => {
                frame.rax = syscall::encode_return(result.map(|v| v as usize)) as u64;
                proc::sched::block(reason);
                break (result, full_restore, yield_after);
            }
            Some(reason) => {
                proc::sched::block(reason);
                retry = true;
            }
            None => break (result, full_restore, yield_after),
        }
    };
    finish_frame(frame, &result, full_restore);
    // A process this call woke runs next (as Linux's wake-up preemption
    // usually does): a pipe writer hands over to its blocked reader.
    if yield_after {
        proc::sched::yield_now();
    } else if proc::sched::has_pending_wakes() {
        proc::sched::preempt_for_wakes();
    }
    return_to_user(frame);
}

/// One run of the call under the caller's lock. The common case (done,
/// nothing to hand over, nobody to run first) also takes the way back to
/// the process here, and returns the status the process must end with, if
/// any; otherwise what is left is put in `later`.
#[inline(always)]
fn serve(
    process: &mut Process,
    frame: &mut SyscallFrame,
    number: u64,
    args: &[u64; 6],
    retry: bool,
    later: &mut Option<Later>,
) -> Option<ExitStatus> {
    let index = process.current_index();
    process.threads[index].cpu.enter_kernel(crate::time::cpu_clock());
    let mut ctx = Ctx {
        process,
        frame,
        exit: None,
        exit_thread: false,
        block: None,
        block_once: false,
        retry,
        spawn: None,
        reap: None,
        full_restore: false,
        yield_after: false,
        give_back: None,
        proc_fill: None,
    };
    crate::fs::serve_as(ctx.process.identity_generation, &ctx.process.creds, &ctx.process.groups);
    let mut result = if creates_kernel_objects(number) && crate::mm::kernel_memory_low() { Err(Errno::ENOMEM) } else { call(&mut ctx, number, *args) };
    if ctx.block.is_some() && !ctx.block_once && signal::has_deliverable(ctx.process) {
        result = interrupted(&mut ctx, number, args);
    }
    if proc::TRACE.load(Ordering::Relaxed) && (ctx.block.is_none() || ctx.block_once) {
        print_trace(ctx.process, number, *args, &result, ctx.exit.is_some());
    }
    let simple = ctx.block.is_none()
        && ctx.exit.is_none()
        && ctx.spawn.is_none()
        && ctx.reap.is_none()
        && ctx.give_back.is_none()
        && ctx.proc_fill.is_none()
        && !ctx.yield_after
        && !proc::sched::has_pending_wakes();
    if simple {
        finish_frame(ctx.frame, &result, ctx.full_restore);
        return leaving(ctx.process, ctx.frame);
    }
    *later = Some(Later {
        result,
        exit: ctx.exit.map(|status| (status, ctx.exit_thread)),
        block: ctx.block,
        block_once: ctx.block_once,
        spawn: ctx.spawn.take(),
        reap: ctx.reap,
        full_restore: ctx.full_restore,
        yield_after: ctx.yield_after,
        give_back: ctx.give_back.take(),
        proc_fill: ctx.proc_fill.take(),
    });
    None
}

/// A blocking call interrupted by a signal: EINTR, or a restart if the
/// handler asks for one (SA_RESTART).
#[cold]
fn interrupted(ctx: &mut Ctx<'_>, number: u64, args: &[u64; 6]) -> SysResult {
    ctx.block = None;
    if let Some(wait) = ctx.process.thread_mut().fifo_wait.take() {
        wait.cancel();
    }
    crate::locks::end_wait(ctx.process.pid.as_u32());
    ctx.process.thread_mut().sigwait_set = 0;
    // pause, sigsuspend, sigtimedwait and the epoll waits always
    // end with EINTR (ERESTARTNOHAND, and a plain EINTR, on Linux).
    if !matches!(number, nr::RT_SIGSUSPEND | nr::PAUSE | nr::RT_SIGTIMEDWAIT | nr::EPOLL_WAIT | nr::EPOLL_PWAIT | nr::EPOLL_PWAIT2) {
        ctx.process.thread_mut().restart_syscall = Some(number);
    }
    match number {
        nr::NANOSLEEP | nr::CLOCK_NANOSLEEP => info::interrupted_sleep(ctx, number, *args),
        nr::SELECT | nr::PSELECT6 => files::write_time_left(ctx, args[4], number == nr::SELECT),
        nr::PPOLL => files::write_time_left(ctx, args[2], false),
        _ => {}
    }
    Err(Errno::EINTR)
}

/// The call's result in rax, and the registers SYSRET would give (rcx,
/// r11) unless the call set the whole frame (rt_sigreturn, execve).
fn finish_frame(frame: &mut SyscallFrame, result: &SysResult, full_restore: bool) {
    frame.rax = syscall::encode_return(result.map(|v| v as usize)) as u64;
    if !full_restore {
        frame.rcx = frame.rip;
        frame.r11 = frame.rflags;
    }
    frame.rflags = (frame.rflags & USER_FLAGS) | 0x202;
}

/// The last step before a process's code runs again (after a syscall or a
/// trap): a due alarm, then signal delivery (default action or handler).
pub fn return_to_user(frame: &mut SyscallFrame) {
    let status = proc::with_current(|p| leaving(p, frame)).flatten();
    if let Some(status) = status {
        proc::exit_current(status);
    }
}

/// [`return_to_user`]'s work on the current process: CPU time, due
/// timers, then signals; the status it must end with, if one is fatal.
/// The checks are inline (every call passes them); the work is not.
#[inline(always)]
fn leaving(p: &mut Process, frame: &mut SyscallFrame) -> Option<ExitStatus> {
    let index = p.current_index();
    p.threads[index].cpu.leave_kernel(crate::time::cpu_clock());
    let thread = &p.threads[index];
    let timed = p.alarm_at.is_some()
        || p.cpu.timers.any_armed()
        || p.limits.get(syscall::Resource::Cpu).rlim_cur != syscall::RLIM_INFINITY;
    // The common case, nothing due or pending: no signal work at all.
    if !timed && !p.signals.has_deliverable(&thread.signals) && thread.restart_syscall.is_none() && thread.saved_mask.is_none() {
        return None;
    }
    leaving_with_work(p, frame, index)
}

/// [`leaving`] with a timer armed or a signal to look at.
#[inline(never)]
fn leaving_with_work(p: &mut Process, frame: &mut SyscallFrame, index: usize) -> Option<ExitStatus> {
    if p.alarm_at.is_some() {
        signal::fire_alarm_if_due(p, crate::time::monotonic_ns());
    }
    if p.cpu.timers.any_armed() {
        signal::fire_cpu_timers_if_due(p);
    }
    if p.limits.get(syscall::Resource::Cpu).rlim_cur != syscall::RLIM_INFINITY {
        signal::fire_cpu_limit_if_due(p);
    }
    let thread = &p.threads[index];
    if !p.signals.has_deliverable(&thread.signals) && thread.restart_syscall.is_none() && thread.saved_mask.is_none() {
        return None;
    }
    let status = signal::deliver(p, frame);
    let thread = &mut p.threads[index];
    if let Some(mask) = thread.saved_mask.take() {
        thread.signals.set_mask(mask);
    }
    status
}

/// One strace-style line: `[pid 1 key 1] openat(AT_FDCWD, "/x", O_RDONLY) = 3`.
fn print_trace(process: &mut Process, number: u64, args: [u64; 6], result: &SysResult, exits: bool) {
    let mut line = String::new();
    let name = nr::name(number).unwrap_or("syscall");
    let _ = write!(line, "[pid {} key {}] {name}(", process.pid, process.memory.key.index());
    match syscall::signature(number) {
        Some(kinds) => {
            for (i, (kind, value)) in kinds.iter().zip(args).enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                let text = match kind {
                    syscall::ArgKind::CStr => process.memory.read_cstr(value, 256).ok(),
                    _ => None,
                };
                let _ = syscall::format_arg(&mut line, *kind, value, text.as_deref());
            }
        }
        None => {
            let _ = write!(line, "{number:#x}, {:#x}, {:#x}, {:#x}", args[0], args[1], args[2]);
        }
    }
    line.push(')');
    if exits {
        line.push_str(" = ?");
    } else {
        let raw = syscall::encode_return(result.map(|v| v as usize)) as i64;
        line.push(' ');
        let _ = syscall::format_result(&mut line, number, raw);
    }
    crate::knotice!("{line}");
}
