//! Signal bookkeeping: rt_sigaction and rt_sigprocmask keep the
//! dispositions and the mask (delivery comes with the multi-process work).

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
        Some((how, bits)) => ctx.process.signals.sigprocmask(how, Some(bits)),
        None => ctx.process.signals.mask(),
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
        let mut old = ctx.process.sigaltstack;
        if old == [0u8; 24] {
            old[8..12].copy_from_slice(&SS_DISABLE.to_le_bytes());
        }
        ctx.process.memory.write(a[1], &old)?;
    }
    if let Some(raw) = new {
        ctx.process.sigaltstack = raw;
    }
    Ok(0)
}

/// Sends `signal` to the caller itself. Until signal delivery exists (the
/// multi-process work), a signal that is not ignored takes its default
/// action; a caught one is reported and also takes the default action.
fn signal_self(ctx: &mut Ctx<'_>, raw: u64) -> SysResult {
    if raw == 0 {
        return Ok(0);
    }
    let signal = syscall::Signal::from_raw(raw)?;
    let action = ctx.process.signals.action(signal.number());
    let ignored = action.handler == syscall::SIG_IGN
        || (action.handler == syscall::SIG_DFL && signal.default_action() == syscall::DefaultAction::Ignore);
    if ignored {
        return Ok(0);
    }
    if action.handler != syscall::SIG_DFL {
        log::warn!("pid {}: {} has a handler, but delivery is not implemented yet: default action", ctx.process.pid, signal.name());
    }
    if signal.default_action() == syscall::DefaultAction::Stop || signal.default_action() == syscall::DefaultAction::Continue {
        return Ok(0);
    }
    ctx.exit = Some(signal.number());
    Ok(0)
}

fn is_self(ctx: &Ctx<'_>, pid: u64) -> bool {
    let pid = pid as i32;
    pid == 0 || pid == -1 || pid as u32 == ctx.process.pid.as_u32()
}

pub fn sys_kill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if !is_self(ctx, a[0]) {
        return Err(Errno::ESRCH);
    }
    signal_self(ctx, a[1])
}

pub fn sys_tkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] as u32 != ctx.process.pid.as_u32() {
        return Err(Errno::ESRCH);
    }
    signal_self(ctx, a[1])
}

pub fn sys_tgkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] as u32 != ctx.process.pid.as_u32() || a[1] as u32 != ctx.process.pid.as_u32() {
        return Err(Errno::ESRCH);
    }
    signal_self(ctx, a[2])
}
