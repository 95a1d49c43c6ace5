//! timerfd_create, timerfd_settime and timerfd_gettime: the border of
//! `crate::timerfd` (argument checks in Linux's order, `struct itimerspec`
//! in and out). Reads, polls and closes of the file go through files.rs
//! like every other file kind.

use process::timerfd::{TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, timer_clock};
use process::TimerSpec;
use syscall::{Errno, Timespec};

use super::files::file;
use super::{Ctx, SysResult};
use crate::fs::{self, FileKind};
use crate::timerfd::{self, TimerRef};

/// `struct itimerspec`: `it_interval` then `it_value`, two timespecs.
const ITIMERSPEC_SIZE: usize = 2 * Timespec::SIZE;

/// TFD_NONBLOCK and TFD_CLOEXEC are O_NONBLOCK and O_CLOEXEC.
const TFD_NONBLOCK: u32 = 0o4000;
const TFD_CLOEXEC: u32 = 0o2_000_000;
/// O_RDWR: a timerfd is open for reading and writing (writes are EINVAL).
const O_RDWR: u32 = 2;

/// timerfd_create(clockid, flags): EINVAL for other flags or clocks, EPERM
/// for an `_ALARM` clock without CAP_WAKE_ALARM (which a VM that never
/// suspends serves like its plain clock).
pub fn sys_timerfd_create(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (clockid, flags) = (a[0] as i32, a[1] as u32);
    if flags & !(TFD_NONBLOCK | TFD_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let (clock, alarm) = timer_clock(clockid).ok_or(Errno::EINVAL)?;
    if alarm && !ctx.process.creds.privileged() {
        return Err(Errno::EPERM);
    }
    let file = fs::open_file(FileKind::TimerFd(timerfd::create(clock)), O_RDWR | (flags & TFD_NONBLOCK));
    Ok(ctx.process.files.insert(file, flags & TFD_CLOEXEC != 0)? as u64)
}

/// The timer behind descriptor `fd`: EBADF, or EINVAL if it is another kind of file.
fn timer_of(ctx: &Ctx<'_>, fd: u64) -> Result<TimerRef, Errno> {
    match &file(ctx, fd as i32)?.lock().kind {
        FileKind::TimerFd(timer) => Ok(timer.clone()),
        _ => Err(Errno::EINVAL),
    }
}

fn itimerspec_bytes(spec: TimerSpec) -> [u8; ITIMERSPEC_SIZE] {
    let mut out = [0u8; ITIMERSPEC_SIZE];
    out[..Timespec::SIZE].copy_from_slice(&Timespec::from_nanos(spec.interval_ns).to_bytes());
    out[Timespec::SIZE..].copy_from_slice(&Timespec::from_nanos(spec.value_ns).to_bytes());
    out
}

/// timerfd_settime(fd, flags, new, old): EFAULT reading `new`, then EINVAL
/// for other flags or an invalid time (negative, nanoseconds outside
/// 0..1e9), then EBADF / EINVAL for the descriptor, as Linux checks; the
/// old setting goes to `old` if not NULL.
pub fn sys_timerfd_settime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let flags = a[1] as u32;
    let mut raw = [0u8; ITIMERSPEC_SIZE];
    ctx.process.memory.read(a[2], &mut raw)?;
    let (interval, value) = raw.split_at(Timespec::SIZE);
    let timespec = |bytes: &[u8]| bytes.try_into().map(Timespec::from_bytes).map_err(|_| Errno::EFAULT);
    let (interval, value) = (timespec(interval)?, timespec(value)?);
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let spec = TimerSpec { value_ns: value.duration_ns()?, interval_ns: interval.duration_ns()? };
    let timer = timer_of(ctx, a[0])?;
    let old = timerfd::set(&timer, spec, flags);
    if a[3] != 0 {
        ctx.process.memory.write(a[3], &itimerspec_bytes(old))?;
    }
    Ok(0)
}

/// timerfd_gettime(fd, curr): the time left (0 when disarmed) and the interval.
pub fn sys_timerfd_gettime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let timer = timer_of(ctx, a[0])?;
    let now = timerfd::get(&timer);
    ctx.process.memory.write(a[1], &itimerspec_bytes(now))?;
    Ok(0)
}
