//! The CPUs a process may run on and how they order memory:
//! sched_setaffinity, sched_getaffinity and membarrier. The VM has one
//! CPU (what /sys/devices/system/cpu/online and getcpu report), so a mask
//! must contain CPU 0 and every barrier is a fence on that CPU.

use core::sync::atomic::{Ordering, fence};

use process::membarrier::{Outcome, Refused};
use syscall::Errno;

use super::{Ctx, SysResult};

/// Bytes of a CPU mask as the kernel keeps it: Linux's `cpumask_size()`
/// for one possible CPU (one `unsigned long`).
const CPUMASK_BYTES: u32 = 8;

/// ESRCH unless `pid` (a `pid_t`; 0 is the caller) names a live thread or process.
fn check_pid(ctx: &Ctx<'_>, raw: u64) -> Result<(), Errno> {
    let pid = raw as i32;
    if pid == 0 || pid as u32 == ctx.process.pid.as_u32() {
        return Ok(());
    }
    // A thread id names its thread (all of a process run on the one CPU).
    if pid < 0 || !crate::proc::with_table(|t| t.process_of(process::Pid::new(pid as u32)).is_some()) {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

/// sched_getaffinity(pid, len, mask): EINVAL for a `len` (an unsigned
/// int) under the kernel's mask or not a multiple of 8, then ESRCH; writes
/// the mask (CPU 0) and returns its size, as Linux.
pub fn sys_sched_getaffinity(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let len = a[1] as u32;
    if len < CPUMASK_BYTES || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    check_pid(ctx, a[0])?;
    ctx.process.memory.write(a[2], &1u64.to_le_bytes())?;
    Ok(u64::from(CPUMASK_BYTES))
}

/// sched_setaffinity(pid, len, mask): reads `min(len, 8)` bytes of the
/// mask (EFAULT first, a shorter mask is zero-extended, bytes past the
/// kernel's mask are ignored), then ESRCH, then EINVAL if the mask holds
/// no online CPU. Every accepted mask leaves the process on CPU 0, the
/// only one, which is what sched_getaffinity reports after it on Linux too.
pub fn sys_sched_setaffinity(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let len = (a[1] as u32).min(CPUMASK_BYTES) as usize;
    let mut mask = [0u8; CPUMASK_BYTES as usize];
    ctx.process.memory.read(a[2], &mut mask[..len])?;
    check_pid(ctx, a[0])?;
    if mask[0] & 1 == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// membarrier(cmd, flags, cpu_id): the commands of `process::membarrier`,
/// registrations kept on the caller's memory.
pub fn sys_membarrier(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match ctx.process.memory.membarrier.call(a[0] as i32, a[1] as u32) {
        Ok(Outcome::Answer(value)) => Ok(value as u64),
        Ok(Outcome::Barrier) => {
            fence(Ordering::SeqCst);
            Ok(0)
        }
        Err(Refused::Invalid) => Err(Errno::EINVAL),
        Err(Refused::NotRegistered) => Err(Errno::EPERM),
    }
}
