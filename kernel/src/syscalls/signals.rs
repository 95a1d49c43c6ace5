//! Signal bookkeeping: rt_sigaction and rt_sigprocmask keep the
//! dispositions and the mask (delivery comes with the multi-process work);
//! rt_sigtimedwait takes a signal of a set without delivering it; the
//! temporary mask of ppoll, pselect6 and epoll_pwait(2).

#![warn(clippy::arithmetic_side_effects)]

use syscall::{Errno, KernelSigaction, SigprocmaskHow};

use super::{Ctx, SysResult};

pub fn sys_rt_sigaction(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (signal, new_addr, old_addr, size) = (a[0] as u32, a[1], a[2], a[3]);
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let new = if new_addr != 0 {
        let mut raw = [0u8; KernelSigaction::SIZE];
        ctx.process.memory.read(new_addr, &mut raw)?;
        Some(KernelSigaction::from_bytes(&raw))
    } else {
        None
    };
    let old = ctx.process.signals.sigaction(signal, new)?;
    if old_addr != 0 {
        ctx.process.memory.write(old_addr, &old.to_bytes())?;
    }
    Ok(0)
}

pub fn sys_rt_sigprocmask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (how, set_addr, old_addr, size) = (a[0], a[1], a[2], a[3]);
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let set = if set_addr != 0 {
        let how = SigprocmaskHow::from_raw(how)?;
        let mut raw = [0u8; 8];
        ctx.process.memory.read(set_addr, &mut raw)?;
        Some((how, u64::from_le_bytes(raw)))
    } else {
        None
    };
    let old = match set {
        Some((how, bits)) => ctx.process.thread_mut().signals.sigprocmask(how, Some(bits)),
        None => ctx.process.thread_mut().signals.mask(),
    };
    if old_addr != 0 {
        ctx.process.memory.write(old_addr, &old.to_le_bytes())?;
    }
    Ok(0)
}

pub fn sys_sigaltstack(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    // stack_t: ss_sp u64, ss_flags i32 (+4 padding), ss_size u64. SS_DISABLE = 2.
    const SS_DISABLE: u32 = 2;
    const MINSIGSTKSZ: u64 = 2048;
    let new = if a[0] != 0 {
        let mut raw = [0u8; 24];
        ctx.process.memory.read(a[0], &mut raw)?;
        let flags = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]);
        let size = u64::from_le_bytes(raw[16..24].try_into().map_err(|_| Errno::EINVAL)?);
        if flags & !SS_DISABLE != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & SS_DISABLE == 0 && size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        Some(raw)
    } else {
        None
    };
    if a[1] != 0 {
        let mut old = ctx.process.thread_mut().sigaltstack;
        if old == [0u8; 24] {
            old[8..12].copy_from_slice(&SS_DISABLE.to_le_bytes());
        } else {
            let stack = syscall::StackT::from_bytes(&old);
            if stack.contains(ctx.frame.rsp) {
                old[8..12].copy_from_slice(&(syscall::SS_ONSTACK as u32).to_le_bytes());
            }
        }
        ctx.process.memory.write(a[1], &old)?;
    }
    if let Some(raw) = new {
        ctx.process.thread_mut().sigaltstack = raw;
    }
    Ok(0)
}

/// rt_sigtimedwait(set, info, timeout, sigsetsize): takes a pending signal
/// of `set` (SIGKILL and SIGSTOP left out, as Linux does), blocked or not,
/// without running its handler: returns its number and fills `info`.
/// Otherwise waits, for at most `timeout` (EAGAIN when it passes; a zero
/// timeout only polls). A handled signal outside the set ends the wait
/// with EINTR, never restarted. EINVAL for a sigsetsize other than 8 or a
/// bad timespec.
pub fn sys_rt_sigtimedwait(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const UNWAITABLE: u64 = (1 << 8) | (1 << 18); // SIGKILL, SIGSTOP
    ctx.process.thread_mut().sigwait_set = 0;
    if a[3] != 8 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; 8];
    ctx.process.memory.read(a[0], &mut raw)?;
    let set = u64::from_le_bytes(raw) & !UNWAITABLE;
    let timeout = if a[2] == 0 { None } else { Some(super::info::read_timespec(ctx, a[2])?) };
    let process = &mut *ctx.process;
    let index = process.current_index();
    if let Some((sig, own)) = process.signals.take_pending_in(&mut process.threads[index].signals, set) {
        let number = sig.number();
        let info = crate::proc::signal::take_info(ctx.process, number, own);
        if a[1] != 0 {
            ctx.process.memory.write(a[1], &info.to_bytes())?;
        }
        return Ok(u64::from(number));
    }
    let deadline = super::files::deadline(ctx, timeout);
    if timeout == Some(0) || crate::time::monotonic_ns() >= deadline {
        return Err(Errno::EAGAIN);
    }
    ctx.process.thread_mut().sigwait_set = set;
    ctx.block = Some(crate::proc::BlockOn::Until(deadline));
    Ok(0)
}

/// The signal mask ppoll, pselect6, epoll_pwait and epoll_pwait2 wait under
/// (`addr`, null for none, of `size` bytes: EINVAL unless 8). Set at the
/// first run of the call, not at its runs after blocking; the old mask is
/// kept in `saved_mask`. Interrupted (EINTR), the handler runs and its
/// frame carries the old mask back; otherwise [`end_call_mask`] puts it
/// back at once.
pub fn begin_call_mask(ctx: &mut Ctx<'_>, addr: u64, size: u64) -> Result<(), Errno> {
    if addr == 0 || ctx.retry {
        return Ok(());
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; 8];
    ctx.process.memory.read(addr, &mut raw)?;
    let old = ctx.process.thread_mut().signals.set_mask(u64::from_le_bytes(raw));
    ctx.process.thread_mut().saved_mask = Some(old);
    Ok(())
}

/// The call is done without EINTR (events, a timeout, an error): the old
/// mask is back before the process runs, so the signals the temporary mask
/// let through stay pending, as Linux's `restore_saved_sigmask_unless`.
/// A call that blocks keeps the temporary mask while it waits.
pub fn end_call_mask(ctx: &mut Ctx<'_>, result: SysResult) -> SysResult {
    if ctx.block.is_none()
        && let Some(old) = ctx.process.thread_mut().saved_mask.take()
    {
        ctx.process.thread_mut().signals.set_mask(old);
    }
    result
}
