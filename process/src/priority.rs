//! Nice values and Linux's `getpriority`/`setpriority` rules.
//!
//! Each process's nice value lives in its [`crate::Entry`] with what the
//! rules need of it ([`Priority`]: its real and effective uid, its
//! RLIMIT_NICE), so that a call can name other processes (`PRIO_PGRP`,
//! `PRIO_USER`, another pid) without their records. A fork child inherits
//! its parent's ([`crate::ProcessTable::insert`]); execve keeps it. The
//! kernel's scheduler does not weigh it (one run queue, docs/processes.md):
//! it is kept and reported, as `getpriority` and /proc/PID/stat show it.
//!
//! Rules, as Linux's `kernel/sys.c`:
//! - `which` is `PRIO_PROCESS` (`who` a pid, 0 the caller), `PRIO_PGRP`
//!   (a process group, 0 the caller's) or `PRIO_USER` (a real uid, 0 the
//!   caller's); anything else is `EINVAL`; nobody matching is `ESRCH`;
//! - `setpriority` clamps the value to `-20..=19`; per match, `EPERM` unless
//!   the caller's effective uid is the target's real or effective uid (or
//!   it holds CAP_SYS_NICE), `EACCES` for lowering the nice value below
//!   what the target's RLIMIT_NICE allows (`20 - nice <= rlim_cur`) without
//!   CAP_SYS_NICE; the others still change, and the call returns the last
//!   such error;
//! - the raw `getpriority` returns `20 - nice` of the highest-priority
//!   match (1..=40: never negative, so never mistaken for an errno); glibc
//!   turns it back into a nice value.
//!
//! Neighbours: [`crate::table`] (the entries), the kernel's
//! `sys_getpriority`/`sys_setpriority` and /proc/PID/stat.

use syscall::Errno;

use crate::Pid;

/// The lowest (most favourable) nice value.
pub const NICE_MIN: i32 = -20;
/// The highest nice value.
pub const NICE_MAX: i32 = 19;

/// `which`: one process (or thread) by id.
pub const PRIO_PROCESS: i32 = 0;
/// `which`: a process group.
pub const PRIO_PGRP: i32 = 1;
/// `which`: every process of a real user id.
pub const PRIO_USER: i32 = 2;

/// What the priority calls need of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Priority {
    /// `-20..=19`.
    pub nice: i8,
    /// Real user id (`PRIO_USER` matches on it).
    pub ruid: u32,
    /// Effective user id.
    pub euid: u32,
    /// RLIMIT_NICE's soft limit: the nice value may go down to `20 - it`.
    pub nice_rlimit: u64,
}

impl Priority {
    /// getpriority's raw answer for this process: `20 - nice`.
    pub fn raw(&self) -> u64 {
        u64::try_from(20i32.saturating_sub(i32::from(self.nice))).unwrap_or(0)
    }
}

/// Whom a priority call names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The process with this pid (or the process of this thread id).
    Process(Pid),
    /// The members of this process group.
    Group(u32),
    /// The processes whose real uid is this.
    User(u32),
}

impl Target {
    /// Decodes `which` and `who` (both ints) for a caller with this pid,
    /// process group and real uid: `EINVAL` for an unknown `which`. A
    /// negative pid or group names nobody (`ESRCH` later), as on Linux.
    pub fn from_raw(which: i32, who: i32, caller: Pid, caller_pgid: u32, caller_ruid: u32) -> Result<Target, Errno> {
        match which {
            PRIO_PROCESS if who == 0 => Ok(Target::Process(caller)),
            PRIO_PROCESS => Ok(Target::Process(Pid::new(u32::try_from(who).unwrap_or(u32::MAX)))),
            PRIO_PGRP if who == 0 => Ok(Target::Group(caller_pgid)),
            PRIO_PGRP => Ok(Target::Group(u32::try_from(who).unwrap_or(u32::MAX))),
            PRIO_USER if who == 0 => Ok(Target::User(caller_ruid)),
            PRIO_USER => Ok(Target::User(who as u32)),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// The caller of `setpriority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub euid: u32,
    /// Holds CAP_SYS_NICE (Isola: the full capability set).
    pub privileged: bool,
}

/// setpriority's value clamped to `NICE_MIN..=NICE_MAX`.
pub fn clamp(prio: i32) -> i8 {
    // The clamp makes it fit.
    i8::try_from(prio.clamp(NICE_MIN, NICE_MAX)).unwrap_or(0)
}

/// Whether `caller` may give `target` the nice value `nice` (Linux's
/// `set_one_prio`): `EPERM` for another user's process, `EACCES` for a
/// lower value than RLIMIT_NICE allows, both waived by CAP_SYS_NICE.
pub fn may_set(caller: Caller, target: &Priority, nice: i8) -> Result<(), Errno> {
    if !caller.privileged && caller.euid != target.ruid && caller.euid != target.euid {
        return Err(Errno::EPERM);
    }
    let lowering = nice < target.nice;
    // nice_to_rlimit: 20 - nice, 1..=40.
    let needed = u64::try_from(20i32.saturating_sub(i32::from(nice))).unwrap_or(u64::MAX);
    if lowering && !caller.privileged && needed > target.nice_rlimit {
        return Err(Errno::EACCES);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, nice: i8, nice_rlimit: u64) -> Priority {
        Priority { nice, ruid: uid, euid: uid, nice_rlimit }
    }

    #[test]
    fn targets_decode_with_the_callers_defaults() {
        let me = Pid::new(7);
        assert_eq!(Target::from_raw(PRIO_PROCESS, 0, me, 3, 1000), Ok(Target::Process(me)));
        assert_eq!(Target::from_raw(PRIO_PROCESS, 9, me, 3, 1000), Ok(Target::Process(Pid::new(9))));
        assert_eq!(Target::from_raw(PRIO_PGRP, 0, me, 3, 1000), Ok(Target::Group(3)));
        assert_eq!(Target::from_raw(PRIO_USER, 0, me, 3, 1000), Ok(Target::User(1000)));
        assert_eq!(Target::from_raw(PRIO_USER, 33, me, 3, 1000), Ok(Target::User(33)));
        assert_eq!(Target::from_raw(3, 0, me, 3, 1000), Err(Errno::EINVAL));
        assert_eq!(Target::from_raw(-1, 0, me, 3, 1000), Err(Errno::EINVAL));
        assert_eq!(Target::from_raw(PRIO_PROCESS, -5, me, 3, 1000), Ok(Target::Process(Pid::new(u32::MAX))));
    }

    #[test]
    fn values_clamp_and_report_as_twenty_minus_nice() {
        assert_eq!((clamp(-100), clamp(-20), clamp(0), clamp(19), clamp(i32::MAX)), (-20, -20, 0, 19, 19));
        assert_eq!((user(0, -20, 0).raw(), user(0, 0, 0).raw(), user(0, 19, 0).raw()), (40, 20, 1));
    }

    #[test]
    fn raising_is_the_owners_lowering_needs_the_limit_or_the_capability() {
        let alice = Caller { euid: 1000, privileged: false };
        let root = Caller { euid: 0, privileged: true };
        assert_eq!(may_set(alice, &user(1000, 0, 0), 5), Ok(()));
        assert_eq!(may_set(alice, &user(1001, 0, 0), 5), Err(Errno::EPERM), "another user's");
        let setuid = Priority { nice: 0, ruid: 1001, euid: 1000, nice_rlimit: 0 };
        assert_eq!(may_set(alice, &setuid, 5), Ok(()), "its effective uid is the caller's");
        assert_eq!(may_set(alice, &user(1000, 5, 0), 4), Err(Errno::EACCES), "lowering without RLIMIT_NICE");
        assert_eq!(may_set(alice, &user(1000, 5, 0), 5), Ok(()), "the same value is no lowering");
        assert_eq!(may_set(alice, &user(1000, 5, 20), 0), Ok(()), "RLIMIT_NICE 20 allows down to 0");
        assert_eq!(may_set(alice, &user(1000, 5, 20), -1), Err(Errno::EACCES));
        assert_eq!(may_set(root, &user(1000, 19, 0), -20), Ok(()));
    }
}
