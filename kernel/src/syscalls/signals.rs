//! Signal bookkeeping: rt_sigaction and rt_sigprocmask keep the
//! dispositions and the mask (delivery comes with the multi-process work).

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
        } else {
            let stack = syscall::StackT::from_bytes(&old);
            if stack.contains(ctx.frame.rsp) {
                old[8..12].copy_from_slice(&(syscall::SS_ONSTACK as u32).to_le_bytes());
            }
        }
        ctx.process.memory.write(a[1], &old)?;
    }
    if let Some(raw) = new {
        ctx.process.sigaltstack = raw;
    }
    Ok(0)
}
