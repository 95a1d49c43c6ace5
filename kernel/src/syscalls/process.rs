//! Process life: fork, vfork, execve, wait4, waitid, kill, rt_sigreturn,
//! rt_sigsuspend, pause, alarm, sched_yield, and process groups and
//! sessions (clone, exit and the thread calls are in `thread`).

#![warn(clippy::arithmetic_side_effects)]

use alloc::string::String;
use alloc::vec::Vec;

use process::{ExitStatus, Pid, WaitResult, WaitTarget};
use syscall::{Errno, SigInfo, WaitOptions};

use super::{Ctx, SysResult};
use crate::proc::{self, BlockOn, signal};

/// Most argv + envp strings execve takes (each string up to 128 KiB in all).
const ARG_MAX_STRINGS: u64 = 65536;

pub(super) fn spawn(ctx: &mut Ctx<'_>, child_stack: u64, vfork: bool) -> SysResult {
    // RLIMIT_NPROC counts every process of the caller's user (all are root's,
    // zombies included, as Linux); enforced for root too (docs/limits.md).
    let count = proc::with_table(|t| t.tasks()) as u64;
    let nproc = ctx.process.limits.get(syscall::Resource::Nproc).rlim_cur;
    if count >= nproc || count >= ::process::rlimit::MAX_PROCESSES {
        return Err(Errno::EAGAIN);
    }
    let pid = proc::with_table(|t| t.allocate_pid());
    let child = proc::fork::fork(ctx.process, ctx.frame, pid, child_stack, vfork)?;
    let parent = ctx.process.pid;
    let (pgid, sid) = proc::with_table(|t| t.get(parent).map_or((1, 1), |e| (e.pgid, e.sid)));
    proc::with_table(|t| t.insert(pid, parent, pgid, sid));
    if vfork {
        ctx.block = Some(BlockOn::VforkChild(pid));
        ctx.block_once = true;
    }
    proc::set_name(pid, &child.name, &child.cmdline, &child.exe);
    ctx.spawn = Some(child);
    Ok(u64::from(pid.as_u32()))
}

pub fn sys_fork(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    spawn(ctx, 0, false)
}

pub fn sys_vfork(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    spawn(ctx, 0, true)
}

fn string_array(ctx: &mut Ctx<'_>, addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total: usize = 0;
    for i in 0..ARG_MAX_STRINGS {
        let mut raw = [0u8; 8];
        let at = i.checked_mul(8).and_then(|offset| addr.checked_add(offset)).ok_or(Errno::EFAULT)?;
        ctx.process.memory.read(at, &mut raw)?;
        let ptr = u64::from_le_bytes(raw);
        if ptr == 0 {
            return Ok(out);
        }
        // Linux's MAX_ARG_STRLEN: a longer string is E2BIG, not ENAMETOOLONG.
        let s = ctx.process.memory.read_cstr(ptr, 128 * 1024).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::E2BIG } else { e })?;
        total = total.saturating_add(s.len()).saturating_add(1);
        if total > 2 * 1024 * 1024 {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
    Err(Errno::E2BIG)
}

pub fn sys_execve(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.process.memory.read_cstr(a[0], 4096)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = String::from_utf8(path).map_err(|_| Errno::ENOENT)?;
    let argv = string_array(ctx, a[1])?;
    let envp = string_array(ctx, a[2])?;
    match proc::exec::execve(ctx.process, ctx.frame, &path, &argv, &envp) {
        Ok(give_back) => {
            ctx.give_back = give_back.map(alloc::boxed::Box::new);
            // The old image's shared domains are left.
            proc::refresh_pkru(ctx.process);
            proc::set_name(ctx.process.pid, &ctx.process.name, &ctx.process.cmdline, &ctx.process.exe);
        }
        Err(error) => {
            // A missing file is routine (a shell searching PATH); a refused one is logged.
            if error.errno != Errno::ENOENT && error.errno != Errno::ENOTDIR {
                log::warn!("pid {} ({}): execve {path}: {} ({})", ctx.process.pid, ctx.process.name, error.reason, error.errno.name());
            }
            return Err(error.errno);
        }
    }
    ctx.full_restore = true;
    Ok(0)
}

fn wait_common(ctx: &mut Ctx<'_>, target: WaitTarget, options: WaitOptions, reap: bool) -> Result<Option<(Pid, ExitStatus)>, Errno> {
    let me = ctx.process.pid;
    match proc::with_table(|t| t.wait(me, target, reap)) {
        WaitResult::Reaped { pid, status } => {
            if reap {
                ctx.reap = Some(pid);
            }
            Ok(Some((pid, status)))
        }
        WaitResult::NoChild => Err(Errno::ECHILD),
        WaitResult::NotYet if options.contains(WaitOptions::WNOHANG) => Ok(None),
        WaitResult::NotYet => {
            ctx.block = Some(BlockOn::Child);
            Ok(None)
        }
    }
}

pub fn sys_wait4(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let options = WaitOptions::from_raw(a[2])?;
    let pgid = proc::with_table(|t| t.get(ctx.process.pid).map_or(0, |e| e.pgid));
    let target = WaitTarget::from_raw(a[0] as i32, pgid);
    match wait_common(ctx, target, options, true)? {
        Some((pid, status)) => {
            if a[1] != 0 {
                ctx.process.memory.write(a[1], &status.wait_status().to_le_bytes())?;
            }
            if a[3] != 0 {
                ctx.process.memory.write(a[3], &[0u8; 144])?;
            }
            Ok(u64::from(pid.as_u32()))
        }
        None => Ok(0),
    }
}

const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;
const WNOWAIT: u64 = 0x0100_0000;
const WEXITED: u64 = 4;

pub fn sys_waitid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (idtype, id, infop, raw_options) = (a[0], a[1] as u32, a[2], a[3]);
    if raw_options & WEXITED == 0 {
        return Err(Errno::EINVAL);
    }
    let options = WaitOptions::from_raw(raw_options & !(WEXITED | WNOWAIT))?;
    let target = match idtype {
        P_ALL => WaitTarget::Any,
        P_PID => WaitTarget::Pid(Pid::new(id)),
        P_PGID => WaitTarget::Group(id),
        _ => return Err(Errno::EINVAL),
    };
    let found = wait_common(ctx, target, options, raw_options & WNOWAIT == 0)?;
    if infop != 0 {
        let info = match found {
            Some((pid, ExitStatus::Exited(code))) => SigInfo::child(pid.as_u32() as i32, 0, signal::CLD_EXITED, i32::from(code)),
            Some((pid, ExitStatus::Signaled { signal: sig, core })) => {
                let code = if core { signal::CLD_DUMPED } else { signal::CLD_KILLED };
                SigInfo::child(pid.as_u32() as i32, 0, code, sig as i32)
            }
            None => SigInfo { signo: 0, errno: 0, code: 0, fields: [0; 112] },
        };
        let mut bytes = info.to_bytes();
        if found.is_some() {
            bytes[0..4].copy_from_slice(&(proc::SIGCHLD as i32).to_le_bytes());
        }
        ctx.process.memory.write(infop, &bytes)?;
    }
    Ok(0)
}

/// Sends `raw` to the processes `pid` names (kill's rules). A group or
/// everyone is one queued entry, not one per process: nothing here grows
/// with the number of processes.
fn kill_targets(ctx: &mut Ctx<'_>, pid: i32, raw: u64, code: i32) -> SysResult {
    // The signal is an int: the upper half of the register is ignored.
    let raw = u64::from(raw as u32);
    let signal = if raw == 0 { None } else { Some(syscall::Signal::from_raw(raw)?.number()) };
    let me = ctx.process.pid;
    // kill of a thread's id signals its process, as on Linux.
    let pid = match pid {
        p if p > 0 => proc::with_table(|t| t.process_of(Pid::new(p as u32))).map_or(p, |owner| owner.as_u32() as i32),
        p => p,
    };
    let group = |t: &::process::ProcessTable| match pid {
        0 => Some(t.get(me).map_or(0, |e| e.pgid)),
        p if p < -1 => Some(p.unsigned_abs()),
        _ => None,
    };
    // Whether anyone is there (ESRCH otherwise), and whether the caller is one of them.
    let (exists, includes_me, pgid) = proc::with_table(|t| match pid {
        // A zombie still exists for kill (the signal has no effect on it).
        p if p > 0 => (t.get(Pid::new(p as u32)).is_some(), p as u32 == me.as_u32(), None),
        -1 => (t.iter().any(|e| e.pid != Pid::INIT && e.pid != me && !e.is_zombie()), false, None),
        _ => {
            let pgid = group(t).unwrap_or(0);
            let mut members = t.members_of_group(pgid);
            let exists = members.next().is_some();
            (exists, t.get(me).is_some_and(|e| e.pgid == pgid), Some(pgid))
        }
    });
    if !exists {
        return Err(Errno::ESRCH);
    }
    let Some(signal) = signal else { return Ok(0) };
    let mut info = SigInfo::kill(signal as i32, me.as_u32() as i32, 0);
    info.code = code;
    if includes_me {
        signal::post(ctx.process, signal, info);
    }
    match (pid, pgid) {
        (p, _) if p > 0 && !includes_me => signal::send(Pid::new(p as u32), signal, info),
        (p, _) if p > 0 => {}
        (-1, _) => signal::send_to_all_but(me, signal, info),
        (_, Some(pgid)) => signal::send_to_group(pgid, me, signal, info),
        _ => {}
    }
    Ok(0)
}

/// The target of getpriority/setpriority (`which`, `who`: ints).
fn priority_target(ctx: &Ctx<'_>, which: u64, who: u64) -> Result<::process::priority::Target, Errno> {
    let me = ctx.process.pid;
    let pgid = proc::with_table(|t| t.get(me).map_or(0, |e| e.pgid));
    ::process::priority::Target::from_raw(which as i32, who as i32, me, pgid, ctx.process.creds.ruid)
}

/// getpriority(which, who): the raw call's `20 - nice` of the
/// highest-priority process named (`process::priority`).
pub fn sys_getpriority(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let target = priority_target(ctx, a[0], a[1])?;
    proc::with_table(|t| t.get_priority(target))
}

/// setpriority(which, who, prio): the nice value of every process named
/// that the caller may change (`process::priority`).
pub fn sys_setpriority(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let target = priority_target(ctx, a[0], a[1])?;
    let caller = ::process::priority::Caller { euid: ctx.process.creds.euid, privileged: ctx.process.creds.privileged() };
    proc::with_table(|t| t.set_priority(target, a[2] as i32, caller))?;
    Ok(0)
}

pub fn sys_kill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    kill_targets(ctx, a[0] as i32, a[1], syscall::SI_USER)
}

pub fn sys_rt_sigreturn(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    ctx.full_restore = true;
    match signal::sigreturn(ctx.process, ctx.frame) {
        Ok(rax) => Ok(rax),
        Err(_) => {
            ctx.exit = Some(ExitStatus::Signaled { signal: proc::SIGSEGV, core: true });
            Ok(0)
        }
    }
}

pub fn sys_rt_sigsuspend(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[1] != 8 {
        return Err(Errno::EINVAL);
    }
    if ctx.retry {
        // Woken: a signal is deliverable under the temporary mask.
        return Err(Errno::EINTR);
    }
    let mut raw = [0u8; 8];
    ctx.process.memory.read(a[0], &mut raw)?;
    let old = ctx.process.thread_mut().signals.mask();
    ctx.process.thread_mut().signals.set_mask(u64::from_le_bytes(raw));
    ctx.process.thread_mut().saved_mask = Some(old);
    ctx.block = Some(BlockOn::Signal);
    Ok(0)
}

pub fn sys_pause(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    if ctx.retry {
        return Err(Errno::EINTR);
    }
    ctx.block = Some(BlockOn::Signal);
    Ok(0)
}

/// alarm(unsigned int seconds): the upper half of the register is ignored,
/// as Linux does; returns the previous alarm's seconds, rounded as Linux.
pub fn sys_alarm(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    use syscall::time::{alarm_remaining_secs, deadline_ns, remaining_ns, secs_to_ns};
    let seconds = u64::from(a[0] as u32);
    let now = crate::time::monotonic_ns();
    let left = ctx.process.alarm_at.map_or(0, |at| alarm_remaining_secs(remaining_ns(at, now)));
    ctx.process.alarm_at = (seconds != 0).then(|| deadline_ns(now, secs_to_ns(seconds)));
    ctx.process.alarm_interval = 0;
    if let Some(at) = ctx.process.alarm_at {
        proc::sched::mark_timed(ctx.process.pid, at);
    }
    Ok(left)
}

const ITIMER_REAL: i32 = 0;
const ITIMER_VIRTUAL: i32 = 1;
const ITIMER_PROF: i32 = 2;

/// struct itimerval: interval then value, two timevals.
fn itimerval(interval_ns: u64, value_ns: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&syscall::Timeval::from_nanos(interval_ns).to_bytes());
    out[16..].copy_from_slice(&syscall::Timeval::from_nanos(value_ns).to_bytes());
    out
}

/// The timer `which` names (an int: the upper half of the register is ignored).
fn itimer_which(raw: u64) -> Result<i32, Errno> {
    match raw as i32 {
        which @ (ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) => Ok(which),
        _ => Err(Errno::EINVAL),
    }
}

/// (interval, time left) of timer `which`, in nanoseconds.
fn current_itimer(ctx: &Ctx<'_>, which: i32) -> (u64, u64) {
    let (user, system) = proc::cpu_times_ns(ctx.process);
    let timers = &ctx.process.cpu.timers;
    match which {
        ITIMER_VIRTUAL => timers.virtual_time.get(user),
        ITIMER_PROF => timers.profiling.get(user.saturating_add(system)),
        _ => {
            let now = crate::time::monotonic_ns();
            let value = ctx.process.alarm_at.map_or(0, |at| syscall::time::itimer_remaining_ns(syscall::time::remaining_ns(at, now)));
            (ctx.process.alarm_interval, value)
        }
    }
}

/// ITIMER_REAL (what alarm uses, and musl's alarm is built on) counts
/// CLOCK_MONOTONIC time; ITIMER_VIRTUAL the process's user time and
/// ITIMER_PROF its user and system time (`process::CpuTimers`, fired by
/// `signal::fire_cpu_timers_if_due` on the way back to the process).
/// A null new value disarms, as Linux (which warns that it may stop).
pub fn sys_setitimer(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let which = itimer_which(a[0])?;
    let (interval, value) = if a[1] != 0 {
        let mut raw = [0u8; 32];
        ctx.process.memory.read(a[1], &mut raw)?;
        let tv = |b: &[u8]| -> Result<u64, Errno> {
            syscall::Timeval::from_bytes(b.try_into().map_err(|_| Errno::EINVAL)?).duration_ns()
        };
        (tv(&raw[..16])?, tv(&raw[16..])?)
    } else {
        (0, 0)
    };
    let old = current_itimer(ctx, which);
    let (user, system) = proc::cpu_times_ns(ctx.process);
    match which {
        ITIMER_VIRTUAL => {
            ctx.process.cpu.timers.virtual_time.set(user, value, interval);
        }
        ITIMER_PROF => {
            ctx.process.cpu.timers.profiling.set(user.saturating_add(system), value, interval);
        }
        _ => {
            ctx.process.alarm_interval = interval;
            let now = crate::time::monotonic_ns();
            ctx.process.alarm_at = (value != 0).then(|| syscall::time::deadline_ns(now, value));
            if let Some(at) = ctx.process.alarm_at {
                proc::sched::mark_timed(ctx.process.pid, at);
            }
        }
    }
    if a[2] != 0 {
        ctx.process.memory.write(a[2], &itimerval(old.0, old.1))?;
    }
    Ok(0)
}

pub fn sys_getitimer(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let which = itimer_which(a[0])?;
    let (interval, value) = current_itimer(ctx, which);
    ctx.process.memory.write(a[1], &itimerval(interval, value))?;
    Ok(0)
}

pub fn sys_rt_sigpending(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[1] > 8 {
        return Err(Errno::EINVAL);
    }
    // The process's pending signals and the caller's own, that it blocks.
    let thread = &ctx.process.thread().signals;
    let pending = (ctx.process.signals.pending() | thread.pending()) & thread.mask();
    ctx.process.memory.write(a[0], &pending.to_le_bytes()[..a[1] as usize])?;
    Ok(0)
}

pub fn sys_sched_yield(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    ctx.yield_after = true;
    Ok(0)
}

pub fn sys_getppid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(proc::with_table(|t| t.get(ctx.process.pid).map_or(0, |e| e.parent.as_u32()))))
}

fn pid_arg(ctx: &Ctx<'_>, raw: u64) -> Pid {
    if raw == 0 { ctx.process.pid } else { Pid::new(raw as u32) }
}

pub fn sys_getpgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let pid = pid_arg(ctx, a[0]);
    proc::with_table(|t| t.get(pid).map(|e| u64::from(e.pgid))).ok_or(Errno::ESRCH)
}

pub fn sys_getpgrp(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    sys_getpgid(ctx, [0; 6])
}

pub fn sys_getsid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let pid = pid_arg(ctx, a[0]);
    proc::with_table(|t| t.get(pid).map(|e| u64::from(e.sid))).ok_or(Errno::ESRCH)
}

pub fn sys_setpgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if (a[1] as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let me = ctx.process.pid;
    proc::with_table(|t| t.setpgid(me, Pid::new(a[0] as u32), a[1] as u32))?;
    Ok(0)
}

pub fn sys_setsid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    let me = ctx.process.pid;
    Ok(u64::from(proc::with_table(|t| t.setsid(me))?))
}
