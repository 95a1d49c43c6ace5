//! The system call table: one `match` generated from the list below, each
//! number taken from `syscall::nr` and mapped to its `sys_<name>` handler.
//! Handlers decode their raw arguments first (typed flags, checked user
//! pointers) and return `Result<u64, Errno>`. An unknown number returns
//! ENOSYS and is logged once per program. `--trace` prints every call.

mod files;
mod info;
mod memory;
mod signals;

use alloc::collections::BTreeSet;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use pkru::gate::SyscallFrame;
use spin::Mutex;
use syscall::{Errno, nr};

use crate::proc::{self, Process};

/// What a handler returns: the value for rax, or an errno.
pub type SysResult = Result<u64, Errno>;

/// The caller, and what should happen after the call.
pub struct Ctx<'a> {
    pub process: &'a mut Process,
    /// Set by exit and exit_group: the wait status the process ends with.
    pub exit: Option<u32>,
}

macro_rules! syscall_table {
    ($($nr:ident => $handler:path,)*) => {
        fn call(ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> SysResult {
            match number {
                $(nr::$nr => $handler(ctx, args),)*
                _ => unknown(ctx, number),
            }
        }
    };
}

syscall_table! {
    READ => files::sys_read,
    WRITE => files::sys_write,
    OPEN => files::sys_open,
    CLOSE => files::sys_close,
    STAT => files::sys_stat,
    FSTAT => files::sys_fstat,
    LSTAT => files::sys_lstat,
    POLL => files::sys_poll,
    LSEEK => files::sys_lseek,
    MMAP => memory::sys_mmap,
    MPROTECT => memory::sys_mprotect,
    MUNMAP => memory::sys_munmap,
    BRK => memory::sys_brk,
    RT_SIGACTION => signals::sys_rt_sigaction,
    RT_SIGPROCMASK => signals::sys_rt_sigprocmask,
    IOCTL => files::sys_ioctl,
    PREAD64 => files::sys_pread64,
    PWRITE64 => files::sys_pwrite64,
    READV => files::sys_readv,
    WRITEV => files::sys_writev,
    ACCESS => files::sys_access,
    SCHED_YIELD => info::sys_sched_yield,
    MADVISE => memory::sys_madvise,
    DUP => files::sys_dup,
    DUP2 => files::sys_dup2,
    SENDFILE => files::sys_sendfile,
    NANOSLEEP => info::sys_nanosleep,
    GETPID => info::sys_getpid,
    EXIT => info::sys_exit,
    UNAME => info::sys_uname,
    FCNTL => files::sys_fcntl,
    GETCWD => files::sys_getcwd,
    CHDIR => files::sys_chdir,
    FCHDIR => files::sys_fchdir,
    MKDIR => files::sys_mkdir,
    RMDIR => files::sys_rmdir,
    UNLINK => files::sys_unlink,
    READLINK => files::sys_readlink,
    UMASK => info::sys_umask,
    GETTIMEOFDAY => info::sys_gettimeofday,
    GETRLIMIT => info::sys_getrlimit,
    SYSINFO => info::sys_sysinfo,
    GETUID => info::sys_getid,
    GETGID => info::sys_getid,
    GETEUID => info::sys_getid,
    GETEGID => info::sys_getid,
    SETPGID => info::sys_setpgid,
    GETPPID => info::sys_getppid,
    GETPGRP => info::sys_getpid,
    SETSID => info::sys_getpid,
    GETPGID => info::sys_getpid,
    GETSID => info::sys_getpid,
    SIGALTSTACK => signals::sys_sigaltstack,
    ARCH_PRCTL => info::sys_arch_prctl,
    GETTID => info::sys_getpid,
    TIME => info::sys_time,
    SET_TID_ADDRESS => info::sys_set_tid_address,
    GETDENTS64 => files::sys_getdents64,
    CLOCK_GETTIME => info::sys_clock_gettime,
    CLOCK_GETRES => info::sys_clock_getres,
    CLOCK_NANOSLEEP => info::sys_clock_nanosleep,
    EXIT_GROUP => info::sys_exit,
    OPENAT => files::sys_openat,
    MKDIRAT => files::sys_mkdirat,
    NEWFSTATAT => files::sys_newfstatat,
    UNLINKAT => files::sys_unlinkat,
    READLINKAT => files::sys_readlinkat,
    FACCESSAT => files::sys_faccessat,
    FACCESSAT2 => files::sys_faccessat2,
    DUP3 => files::sys_dup3,
    PRLIMIT64 => info::sys_prlimit64,
    GETRANDOM => info::sys_getrandom,
    PPOLL => files::sys_ppoll,
    SET_ROBUST_LIST => info::sys_set_robust_list,
    PRCTL => info::sys_prctl,
    KILL => signals::sys_kill,
    TKILL => signals::sys_tkill,
    TGKILL => signals::sys_tgkill,
}

/// Numbers already reported as unknown, with the program that used them.
static REPORTED: Mutex<BTreeSet<(String, u64)>> = Mutex::new(BTreeSet::new());

fn unknown(ctx: &mut Ctx<'_>, number: u64) -> SysResult {
    let first = REPORTED.lock().insert((ctx.process.name.clone(), number));
    if first {
        log::warn!(
            "pid {} ({}): unimplemented syscall {} ({number}): ENOSYS",
            ctx.process.pid,
            ctx.process.name,
            nr::name(number).unwrap_or("unknown")
        );
    }
    Err(Errno::ENOSYS)
}

/// RFLAGS bits a process may set for itself (CF PF AF ZF SF TF DF OF, and AC/ID);
/// IF is always on when it runs.
const USER_FLAGS: u64 = 0x0000_0cd5 | 0x4_0000 | 0x20_0000;

/// Entry from the syscall gate.
pub fn dispatch(frame: &mut SyscallFrame) {
    let number = frame.rax;
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    let trace = proc::TRACE.load(Ordering::Relaxed);
    let outcome = proc::with_current(|process| {
        let mut ctx = Ctx { process, exit: None };
        let result = call(&mut ctx, number, args);
        if trace {
            print_trace(ctx.process, number, args, &result, ctx.exit.is_some());
        }
        (result, ctx.exit)
    });
    let Some((result, exit)) = outcome else {
        panic!("syscall {number} with no current process");
    };
    if let Some(status) = exit {
        proc::exit_current(status);
    }
    frame.rax = syscall::encode_return(result.map(|v| v as usize)) as u64;
    frame.rflags = (frame.rflags & USER_FLAGS) | 0x202;
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
    crate::kprintln!("{line}");
}
