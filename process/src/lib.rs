//! Processes as plain data, tested on the host.
//!
//! This crate owns everything about processes that does not touch hardware:
//! [`FdTable`] (descriptors with Linux semantics), [`build_initial_stack`]
//! (the stack a new program starts on), [`SignalState`] (dispositions,
//! masks, pending set), [`ResourceLimits`], [`Pid`], the [`ProcessTable`]
//! (parents, groups, sessions, zombies and the `wait4` rules) and [`Pipe`]
//! (a pipe's buffer and its end-of-file/`EPIPE`/atomicity rules), advisory
//! file locks ([`locks`]: record ranges, flock, deadlock check), the user
//! and group ids with their change rules ([`Credentials`]), CPU time
//! ([`CpuClock`], [`Rusage`]), the waiters on futex words in shared
//! memory and the PI and robust-futex rules ([`futex`]), a timerfd's timer
//! ([`Timer`]), and the
//! out-of-memory killer's choice ([`oom::choose`]). The kernel
//! drives it and supplies the address spaces, keys, blocking and scheduling.
//!
//! Neighbours: `syscall` (the ABI values it reports), `pkru` (the domain key
//! a process holds), the kernel's scheduler and loader.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use core::fmt;

pub mod cputime;
pub mod ancillary;
pub mod control;
pub mod creds;
pub mod epoll;
pub mod eventfd;
pub mod fd;
pub mod futex;
pub mod locks;
pub mod membarrier;
pub mod oom;
pub mod pipe;
pub mod priority;
pub mod ports;
pub mod proctext;
pub mod rlimit;
pub mod signal;
pub mod stack;
pub mod sysv;
pub mod table;
pub mod timerfd;
pub mod tty;

pub use cputime::{CpuClock, CpuLimitAction, CpuTimer, CpuTimers, Rusage, cpu_limit_action};
pub use eventfd::{EventCounter, EventWait};
pub use timerfd::{Timer, TimerClock, TimerRead, TimerSpec};
pub use creds::Credentials;
pub use fd::{DEFAULT_NOFILE, FdTable, MAX_FDS, NR_OPEN, check_range};
pub use pipe::{PIPE_BUF, PIPE_CAPACITY, PIPE_MAX_SIZE, Pipe, PipeRead, PipeResize, PipeWrite};
pub use rlimit::ResourceLimits;
pub use signal::{SignalState, ThreadSignals};
pub use stack::{STACK_LIMIT_FOR_ARGS, StackError, StackImage, build_initial_stack};
pub use table::{Entry, ExitStatus, PID_MAX, ProcState, ProcessTable, WaitResult, WaitTarget};

/// A process id, as user space sees it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pid(u32);

impl Pid {
    /// The first process, started by the kernel from the command line.
    pub const INIT: Pid = Pid(1);

    /// The pid with this number.
    pub const fn new(raw: u32) -> Pid {
        Pid(raw)
    }

    /// The number.
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_basics() {
        assert_eq!(Pid::INIT.as_u32(), 1);
        assert_eq!(Pid::new(1), Pid::INIT);
        assert_eq!(Pid::new(4_000_000).as_u32(), 4_000_000);
        assert!(Pid::new(2) > Pid::INIT);
        assert_eq!(Pid::new(42).to_string(), "42");
        assert_eq!(format!("{:>5}", Pid::new(7)), "    7");
        assert_eq!(format!("{:?}", Pid::new(7)), "Pid(7)");
    }
}
