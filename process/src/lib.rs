//! Processes as plain data, tested on the host.
//!
//! This crate will own the process table, the fork/exec/wait/exit state
//! machine and wait semantics, file-descriptor tables and signal state
//! (dispositions, masks, pending sets): everything about processes that does
//! not touch hardware. The kernel drives it and supplies the address spaces,
//! keys and scheduling. For now it holds [`Pid`].
//!
//! Neighbours: `syscall` (the ABI values it reports), `pkru` (the domain key
//! a process holds), the kernel's scheduler and loader.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt;

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
