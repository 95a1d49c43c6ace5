//! Threads: clone and clone3 (all three kinds: fork, vfork, thread),
//! gettid, set_tid_address, exit (of one thread) and exit_group, tkill and
//! tgkill.

use process::{ExitStatus, Pid};
use syscall::{CloneArgs, CloneFlags, CloneKind, Errno, SigInfo};

use super::{Ctx, SysResult};
use crate::proc::{self, signal, thread::NewThread};

/// What both clone calls ask for, decoded.
struct CloneRequest {
    flags: CloneFlags,
    exit_signal: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
}

fn clone_common(ctx: &mut Ctx<'_>, r: &CloneRequest) -> SysResult {
    let kind = r.flags.kind().inspect_err(|_| {
        log::warn!("pid {}: clone flags {:#x}: not offered (EINVAL)", ctx.process.pid, r.flags.bits());
    })?;
    let has = |flag| r.flags.contains(flag);
    if kind == CloneKind::Thread {
        // Threads count against RLIMIT_NPROC as processes do (Linux counts tasks).
        let tasks = proc::with_table(|t| t.tasks()) as u64;
        let nproc = ctx.process.limits.get(syscall::Resource::Nproc).rlim_cur;
        if tasks >= nproc || tasks >= ::process::rlimit::MAX_PROCESSES {
            return Err(Errno::EAGAIN);
        }
        let spec = NewThread {
            stack: r.stack,
            tls: has(CloneFlags::CLONE_SETTLS).then_some(r.tls),
            parent_tid: has(CloneFlags::CLONE_PARENT_SETTID).then_some(r.parent_tid),
            child_tid: has(CloneFlags::CLONE_CHILD_SETTID).then_some(r.child_tid),
            clear_child_tid: has(CloneFlags::CLONE_CHILD_CLEARTID).then_some(r.child_tid),
        };
        let tid = proc::thread::spawn(ctx.process, ctx.frame, &spec)?;
        return Ok(u64::from(tid.as_u32()));
    }
    if r.exit_signal != 0 && r.exit_signal != u64::from(proc::SIGCHLD) {
        log::warn!("pid {}: clone exit signal {} treated as SIGCHLD", ctx.process.pid, r.exit_signal);
    }
    let vfork = kind == CloneKind::Vfork;
    let result = super::process::spawn(ctx, r.stack, vfork)?;
    let tid = (result as u32).to_le_bytes();
    if let Some(child) = ctx.spawn.as_mut() {
        // A vfork parent has lent its memory to the child: the parent's
        // PARENT_SETTID word lives in the memory the child holds now.
        if has(CloneFlags::CLONE_PARENT_SETTID) {
            let memory = if vfork { &mut child.memory } else { &mut ctx.process.memory };
            memory.write(r.parent_tid, &tid)?;
        }
        if has(CloneFlags::CLONE_CHILD_SETTID) {
            child.memory.write(r.child_tid, &tid)?;
        }
        let first = &mut child.threads[0];
        if has(CloneFlags::CLONE_CHILD_CLEARTID) {
            first.clear_child_tid = r.child_tid;
        }
        if has(CloneFlags::CLONE_SETTLS) {
            first.fs_base = r.tls;
        }
    }
    Ok(result)
}

/// clone(flags, stack, parent_tid, child_tid, tls) (x86-64's order).
pub fn sys_clone(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    CloneFlags::exit_signal_of(a[0])?;
    let request = CloneRequest {
        flags: CloneFlags::from_raw(a[0] & !syscall::CSIGNAL)?,
        exit_signal: a[0] & syscall::CSIGNAL,
        stack: a[1],
        parent_tid: a[2],
        child_tid: a[3],
        tls: a[4],
    };
    clone_common(ctx, &request)
}

/// clone3(args, size): glibc 2.36 tries it first for threads and posix_spawn.
pub fn sys_clone3(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let size = a[1] as usize;
    if size > paging::PAGE_SIZE as usize {
        return Err(Errno::E2BIG);
    }
    if size < syscall::CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut bytes = alloc::vec![0u8; size];
    ctx.process.memory.read(a[0], &mut bytes)?;
    let args = CloneArgs::decode(&bytes)?;
    if args.flags & (syscall::CLONE_CLEAR_SIGHAND | syscall::CLONE_INTO_CGROUP) != 0
        || args.flags >> 32 != 0
        || args.set_tid_size != 0
        || args.flags & CloneFlags::CLONE_PIDFD.bits() != 0
    {
        log::warn!("pid {}: clone3 flags {:#x} (set_tid_size {}): not offered (EINVAL)", ctx.process.pid, args.flags, args.set_tid_size);
        return Err(Errno::EINVAL);
    }
    let request = CloneRequest {
        flags: CloneFlags::from_bits_truncate(args.flags),
        exit_signal: args.exit_signal,
        stack: args.stack_top(),
        parent_tid: args.parent_tid,
        child_tid: args.child_tid,
        tls: args.tls,
    };
    clone_common(ctx, &request)
}

pub fn sys_gettid(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(proc::sched::current_tid().as_u32()))
}

/// set_tid_address: the word cleared and woken when this thread ends.
pub fn sys_set_tid_address(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.process.thread_mut().clear_child_tid = a[0];
    Ok(u64::from(proc::sched::current_tid().as_u32()))
}

/// exit: ends the calling thread; the process ends with the last one.
pub fn sys_exit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.exit = Some(ExitStatus::Exited(a[0] as u8));
    ctx.exit_thread = true;
    Ok(0)
}

/// exit_group: ends every thread of the process.
pub fn sys_exit_group(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.exit = Some(ExitStatus::Exited(a[0] as u8));
    Ok(0)
}

/// Sends `signal` to thread `tid` (of process `tgid` if given): ESRCH when
/// no such thread lives (or it is another process's), EINVAL for a bad
/// signal (kill's rules otherwise).
fn signal_thread(ctx: &mut Ctx<'_>, tgid: Option<Pid>, tid: Pid, raw: u64) -> SysResult {
    // The signal is an int: the upper half of the register is ignored.
    let raw = u64::from(raw as u32);
    let signal = if raw == 0 { 0 } else { syscall::Signal::from_raw(raw)?.number() };
    let Some(pid) = proc::with_table(|t| t.process_of(tid)) else { return Err(Errno::ESRCH) };
    if tgid.is_some_and(|tgid| tgid != pid) {
        return Err(Errno::ESRCH);
    }
    let alive = if pid == ctx.process.pid {
        ctx.process.thread_index(tid).is_some() && !ctx.process.is_zombie()
    } else {
        proc::PROCS.lock().get(&pid.as_u32()).is_some_and(|p| p.thread_index(tid).is_some() && !p.is_zombie())
    };
    if !alive {
        return Err(Errno::ESRCH);
    }
    if signal == 0 {
        return Ok(0);
    }
    let me = ctx.process.pid;
    let mut info = SigInfo::kill(signal as i32, me.as_u32() as i32, 0);
    info.code = syscall::SI_TKILL;
    if pid == me {
        signal::post_to_thread(ctx.process, tid, signal, info);
    } else {
        signal::send_to_thread(tid, signal, info);
    }
    Ok(0)
}

pub fn sys_tkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let tid = a[0] as i32;
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    signal_thread(ctx, None, Pid::new(tid as u32), a[1])
}

pub fn sys_tgkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (tgid, tid) = (a[0] as i32, a[1] as i32);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    signal_thread(ctx, Some(Pid::new(tgid as u32)), Pid::new(tid as u32), a[2])
}
