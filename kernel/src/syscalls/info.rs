//! Identity (the uid and gid calls), time, randomness, limits and process-wide settings: getpid and
//! friends, exit, uname, the clocks and sleeps, getrandom, arch_prctl,
//! set_tid_address, prlimit64, umask, sched_yield.

#![warn(clippy::arithmetic_side_effects)]

use syscall::{ArchPrctl, ClockId, Errno, Resource, Rlimit, RusageLayout, Timespec, Timeval, Tms, Utsname};

use super::{Ctx, SysResult};
use crate::{arch::gate, isolation, proc, random, time};

pub fn sys_getpid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.process.pid.as_u32()))
}


pub fn sys_getuid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.process.creds.ruid))
}

pub fn sys_geteuid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.process.creds.euid))
}

pub fn sys_getgid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.process.creds.rgid))
}

pub fn sys_getegid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.process.creds.egid))
}

/// An id argument: a `uid_t`/`gid_t`, the upper half of the register ignored.
fn id_arg(raw: u64) -> u32 {
    raw as u32
}

/// The caller's ids or groups changed from `old`: the file system serves
/// it under a new identity from its next call on (`fs::serve_as`), and, as
/// Linux's `commit_creds`, a change of its effective or fs ids (or gained
/// capabilities) drops its parent-death signal.
fn identity_changed(ctx: &mut Ctx<'_>, old: process::Credentials) {
    ctx.process.identity_generation = crate::fs::new_identity_generation();
    proc::sync_priority_ids(ctx.process);
    let new = ctx.process.creds;
    let gained = (new.effective && !old.effective) || (new.permitted && !old.permitted);
    if new.euid != old.euid || new.egid != old.egid || new.fsuid != old.fsuid || new.fsgid != old.fsgid || gained {
        let pid = ctx.process.pid;
        proc::with_table(|t| {
            if let Some(entry) = t.get_mut(pid) {
                entry.pdeath_signal = 0;
            }
        });
    }
}

pub fn sys_setuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    ctx.process.creds.setuid(id_arg(a[0]))?;
    identity_changed(ctx, old);
    Ok(0)
}

pub fn sys_setgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    ctx.process.creds.setgid(id_arg(a[0]))?;
    identity_changed(ctx, old);
    Ok(0)
}

pub fn sys_setreuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    ctx.process.creds.setreuid(id_arg(a[0]), id_arg(a[1]))?;
    identity_changed(ctx, old);
    Ok(0)
}

pub fn sys_setregid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    ctx.process.creds.setregid(id_arg(a[0]), id_arg(a[1]))?;
    identity_changed(ctx, old);
    Ok(0)
}

pub fn sys_setresuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    ctx.process.creds.setresuid(id_arg(a[0]), id_arg(a[1]), id_arg(a[2]))?;
    identity_changed(ctx, old);
    Ok(0)
}

pub fn sys_setresgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    ctx.process.creds.setresgid(id_arg(a[0]), id_arg(a[1]), id_arg(a[2]))?;
    identity_changed(ctx, old);
    Ok(0)
}

/// getresuid/getresgid: three ids to three pointers (EFAULT for a bad one,
/// as Linux, which stops at the first that fails).
fn put_three(ctx: &mut Ctx<'_>, a: [u64; 6], ids: [u32; 3]) -> SysResult {
    for (addr, id) in a.iter().zip(ids) {
        ctx.process.memory.write(*addr, &id.to_le_bytes())?;
    }
    Ok(0)
}

pub fn sys_getresuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let c = ctx.process.creds;
    put_three(ctx, a, [c.ruid, c.euid, c.suid])
}

pub fn sys_getresgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let c = ctx.process.creds;
    put_three(ctx, a, [c.rgid, c.egid, c.sgid])
}

/// setfsuid/setfsgid never fail: they return the previous id.
pub fn sys_setfsuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    let previous = ctx.process.creds.setfsuid(id_arg(a[0]));
    identity_changed(ctx, old);
    Ok(u64::from(previous))
}

pub fn sys_setfsgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.creds;
    let previous = ctx.process.creds.setfsgid(id_arg(a[0]));
    identity_changed(ctx, old);
    Ok(u64::from(previous))
}

/// The `struct rusage` of a usage record.
pub fn rusage_layout(usage: &process::Rusage) -> RusageLayout {
    RusageLayout {
        utime: Timeval::from_nanos(usage.user_ns),
        stime: Timeval::from_nanos(usage.system_ns),
        maxrss_kib: usage.maxrss_kib as i64,
        ..RusageLayout::default()
    }
}

/// getrusage: RUSAGE_SELF (all threads), RUSAGE_THREAD (the caller's),
/// RUSAGE_CHILDREN (the waited-for ones); EINVAL otherwise. Times, and
/// ru_maxrss in KiB; the fault, switch and I/O counters are 0.
pub fn sys_getrusage(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const RUSAGE_SELF: i32 = 0;
    const RUSAGE_CHILDREN: i32 = -1;
    const RUSAGE_THREAD: i32 = 1;
    let usage = match a[0] as i32 {
        RUSAGE_SELF => crate::proc::usage_of(ctx.process),
        RUSAGE_THREAD => crate::proc::thread_usage_of(ctx.process),
        RUSAGE_CHILDREN => ctx.process.children_usage,
        _ => return Err(Errno::EINVAL),
    };
    ctx.process.memory.write(a[1], &rusage_layout(&usage).to_bytes())?;
    Ok(0)
}

/// times: the process's and its waited-for children's times in clock
/// ticks (a NULL buffer is allowed), and the ticks since boot.
pub fn sys_times(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] != 0 {
        let own = crate::proc::usage_of(ctx.process);
        let children = ctx.process.children_usage;
        let tms = Tms {
            utime: Tms::ticks(own.user_ns),
            stime: Tms::ticks(own.system_ns),
            cutime: Tms::ticks(children.user_ns),
            cstime: Tms::ticks(children.system_ns),
        };
        ctx.process.memory.write(a[0], &tms.to_bytes())?;
    }
    Ok(Tms::ticks(time::monotonic_ns()) as u64)
}

/// uname's node name (no sethostname: fixed), also /proc/sys/kernel/hostname.
pub const HOSTNAME: &str = "isola";
/// uname's release, also /proc/sys/kernel/osrelease.
pub const OSRELEASE: &str = "6.1.0-isola";
/// uname's system name, also /proc/sys/kernel/ostype.
pub const OSTYPE: &str = "Linux";

pub fn sys_uname(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let version = alloc::format!("#1 Isola {} isolation={}", env!("CARGO_PKG_VERSION"), isolation::level().name());
    let name = Utsname::new(OSTYPE, HOSTNAME, OSRELEASE, &version, "x86_64", "(none)");
    ctx.process.memory.write(a[0], &name.to_bytes())?;
    Ok(0)
}

fn clock_now_ns(clock: ClockId) -> u64 {
    match clock {
        ClockId::Realtime | ClockId::RealtimeCoarse => time::realtime_ns(),
        _ => time::monotonic_ns(),
    }
}

pub fn sys_clock_gettime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let clock = ClockId::from_raw(a[0])?;
    let ns = match clock {
        ClockId::ProcessCputimeId | ClockId::ThreadCputimeId => {
            let usage = if clock == ClockId::ThreadCputimeId {
                crate::proc::thread_usage_of(ctx.process)
            } else {
                crate::proc::usage_of(ctx.process)
            };
            usage.user_ns.saturating_add(usage.system_ns)
        }
        _ => clock_now_ns(clock),
    };
    let now = Timespec::from_nanos(ns);
    ctx.process.memory.write(a[1], &now.to_bytes())?;
    Ok(0)
}

pub fn sys_clock_getres(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ClockId::from_raw(a[0])?;
    if a[1] != 0 {
        ctx.process.memory.write(a[1], &Timespec::from_nanos(1).to_bytes())?;
    }
    Ok(0)
}

pub fn sys_gettimeofday(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] != 0 {
        ctx.process.memory.write(a[0], &Timeval::from_nanos(time::realtime_ns()).to_bytes())?;
    }
    if a[1] != 0 {
        let (minuteswest, dsttime) = time::timezone();
        let mut tz = [0u8; 8];
        tz[..4].copy_from_slice(&minuteswest.to_le_bytes());
        tz[4..].copy_from_slice(&dsttime.to_le_bytes());
        ctx.process.memory.write(a[1], &tz)?;
    }
    Ok(0)
}

/// clock_settime: only CLOCK_REALTIME is settable (EINVAL for the other
/// clocks, EPERM for the CPU-time ones, as Linux), by a caller with
/// CAP_SYS_TIME (EPERM otherwise).
pub fn sys_clock_settime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let clock = ClockId::from_raw(a[0])?;
    if !matches!(clock, ClockId::Realtime | ClockId::ProcessCputimeId | ClockId::ThreadCputimeId) {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; Timespec::SIZE];
    ctx.process.memory.read(a[1], &mut raw)?;
    if clock != ClockId::Realtime {
        return Err(Errno::EPERM);
    }
    let ns = Timespec::from_bytes(&raw).settod_ns()?;
    if !ctx.process.creds.privileged() {
        return Err(Errno::EPERM);
    }
    time::set_realtime_ns(ns)?;
    Ok(0)
}

/// settimeofday: the time (if given), the time zone (if given), checked in
/// Linux's order (EFAULT, EINVAL, EPERM without CAP_SYS_TIME, EINVAL for
/// a zone beyond 15 hours).
pub fn sys_settimeofday(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let mut new_time = None;
    if a[0] != 0 {
        let mut raw = [0u8; Timeval::SIZE];
        ctx.process.memory.read(a[0], &mut raw)?;
        let tv = Timeval::from_bytes(&raw);
        if !tv.is_valid() {
            return Err(Errno::EINVAL);
        }
        new_time = Some(tv);
    }
    let mut zone = None;
    if a[1] != 0 {
        let mut raw = [0u8; 8];
        ctx.process.memory.read(a[1], &mut raw)?;
        zone = Some((i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]), i32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]])));
    }
    let ns = new_time.map(|tv| tv.settod_ns()).transpose()?;
    if !ctx.process.creds.privileged() {
        return Err(Errno::EPERM);
    }
    if let Some((minuteswest, dsttime)) = zone {
        if !syscall::time::valid_timezone(minuteswest) {
            return Err(Errno::EINVAL);
        }
        time::set_timezone(minuteswest, dsttime);
    }
    if let Some(ns) = ns {
        time::set_realtime_ns(ns)?;
    }
    Ok(0)
}

/// getcpu: Isola runs on one CPU, CPU 0 of NUMA node 0 (what the vDSO's
/// rdtscp reads from IA32_TSC_AUX too). The third argument is unused, as
/// on Linux since 2.6.24.
pub fn sys_getcpu(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    for addr in [a[0], a[1]] {
        if addr != 0 {
            ctx.process.memory.write(addr, &0u32.to_le_bytes())?;
        }
    }
    Ok(0)
}

pub fn sys_time(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let secs = time::realtime_ns() / 1_000_000_000;
    if a[0] != 0 {
        ctx.process.memory.write(a[0], &secs.to_le_bytes())?;
    }
    Ok(secs)
}

/// A user `struct timespec` as a duration in ns: `EFAULT`, `EINVAL` if
/// invalid, saturated when huge (`syscall::time`).
pub(super) fn read_timespec(ctx: &mut Ctx<'_>, addr: u64) -> Result<u64, Errno> {
    let mut raw = [0u8; Timespec::SIZE];
    ctx.process.memory.read(addr, &mut raw)?;
    Timespec::from_bytes(&raw).duration_ns()
}

/// Sleeps until CLOCK_MONOTONIC reaches the deadline the first run computed.
fn sleep_until(ctx: &mut Ctx<'_>, duration_ns: u64) -> SysResult {
    let deadline = super::files::deadline(ctx, Some(duration_ns));
    if time::monotonic_ns() < deadline {
        ctx.block = Some(crate::proc::BlockOn::Until(deadline));
    }
    Ok(0)
}

pub fn sys_nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let duration = read_timespec(ctx, a[0])?;
    sleep_until(ctx, duration)
}

/// clock_nanosleep on the clocks Linux sleeps on: REALTIME, MONOTONIC,
/// BOOTTIME, and PROCESS_CPUTIME_ID, whose time does not move while its
/// only thread sleeps, so only a signal (EINTR) ends a sleep that is not
/// already over. THREAD_CPUTIME_ID and the raw and coarse clocks are
/// EOPNOTSUPP, as on Linux (which has no sleep for them; musl's wrapper
/// answers EINVAL for THREAD_CPUTIME_ID itself).
pub fn sys_clock_nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let clock = ClockId::from_raw(a[0])?;
    match clock {
        ClockId::ThreadCputimeId | ClockId::MonotonicRaw | ClockId::RealtimeCoarse | ClockId::MonotonicCoarse => {
            return Err(Errno::EOPNOTSUPP);
        }
        _ => {}
    }
    let value = read_timespec(ctx, a[2])?;
    let absolute = a[1] & u64::from(syscall::TIMER_ABSTIME) != 0;
    if clock == ClockId::ProcessCputimeId {
        let (user, system) = crate::proc::cpu_times_ns(ctx.process);
        let left = if absolute { syscall::time::remaining_ns(value, user.saturating_add(system)) } else { value };
        if left > 0 {
            ctx.block = Some(crate::proc::BlockOn::Signal);
        }
        return Ok(0);
    }
    let remaining = if absolute { syscall::time::remaining_ns(value, clock_now_ns(clock)) } else { value };
    sleep_until(ctx, remaining)
}

/// A relative nanosleep or clock_nanosleep ended by a signal: the time
/// left goes to `rem` when given. (Interrupted by a signal without a
/// handler, the call starts again with its own arguments, so it sleeps its
/// whole time again, where Linux sleeps what was left.) An unwritable
/// `rem` is EFAULT on Linux; here the call has ended with EINTR already,
/// so it is left unwritten.
pub fn interrupted_sleep(ctx: &mut Ctx<'_>, number: u64, a: [u64; 6]) {
    let (absolute, rem) = if number == syscall::nr::NANOSLEEP { (false, a[1]) } else { (a[1] & u64::from(syscall::TIMER_ABSTIME) != 0, a[3]) };
    if absolute || rem == 0 {
        return;
    }
    let left = if number == syscall::nr::CLOCK_NANOSLEEP && ClockId::from_raw(a[0]) == Ok(ClockId::ProcessCputimeId) {
        // No CPU time passed while it slept: all of it is left.
        read_timespec(ctx, a[2]).unwrap_or(0)
    } else {
        ctx.process.thread().wait_deadline.map_or(0, |at| syscall::time::remaining_ns(at, time::monotonic_ns()))
    };
    let _ = ctx.process.memory.write(rem, &Timespec::from_nanos(left).to_bytes());
}

pub fn sys_getrandom(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    syscall::GetrandomFlags::from_raw(a[2])?;
    let len = (a[1] as usize).min(1 << 16);
    let mut bytes = alloc::vec![0u8; len];
    random::fill(&mut bytes);
    ctx.process.memory.write(a[0], &bytes)?;
    Ok(len as u64)
}

pub fn sys_arch_prctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match ArchPrctl::from_raw(a[0])? {
        ArchPrctl::SetFs => {
            if a[1] >= crate::proc::memory::USER_END {
                return Err(Errno::EPERM);
            }
            ctx.process.thread_mut().fs_base = a[1];
            gate::set_fs_base(a[1]);
            Ok(0)
        }
        ArchPrctl::GetFs => {
            let base = ctx.process.thread().fs_base;
            ctx.process.memory.write(a[1], &base.to_le_bytes())?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn sys_prlimit64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] != 0 && a[0] as u32 != ctx.process.pid.as_u32() {
        return Err(Errno::ESRCH);
    }
    let resource = Resource::from_raw(a[1])?;
    let new = if a[2] != 0 {
        let mut raw = [0u8; Rlimit::SIZE];
        ctx.process.memory.read(a[2], &mut raw)?;
        Some(Rlimit::from_bytes(&raw))
    } else {
        None
    };
    let old = set_limit(ctx, resource, new)?;
    if a[3] != 0 {
        ctx.process.memory.write(a[3], &old.to_bytes())?;
    }
    Ok(0)
}

/// Reads and sets a limit in the process's table (`ResourceLimits`), then
/// hands a changed limit to the code that enforces it: RLIMIT_NOFILE the fd
/// table, RLIMIT_AS the memory (stack growth checks its own copy in a fault).
fn set_limit(ctx: &mut Ctx<'_>, resource: Resource, new: Option<Rlimit>) -> Result<Rlimit, Errno> {
    let old = ctx.process.limits.prlimit(resource, new)?;
    match resource {
        Resource::Nofile => {
            let soft = ctx.process.limits.get(Resource::Nofile).rlim_cur;
            ctx.process.files.set_limit(soft);
        }
        Resource::As => ctx.process.memory.as_limit = ctx.process.limits.get(Resource::As).rlim_cur,
        Resource::Nice => proc::sync_priority_ids(ctx.process),
        _ => {}
    }
    Ok(old)
}

pub fn sys_setrlimit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let resource = Resource::from_raw(a[0])?;
    let mut raw = [0u8; Rlimit::SIZE];
    ctx.process.memory.read(a[1], &mut raw)?;
    set_limit(ctx, resource, Some(Rlimit::from_bytes(&raw)))?;
    Ok(0)
}

pub fn sys_getrlimit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let resource = Resource::from_raw(a[0])?;
    let old = ctx.process.limits.prlimit(resource, None)?;
    ctx.process.memory.write(a[1], &old.to_bytes())?;
    Ok(0)
}

pub fn sys_sysinfo(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    // struct sysinfo (112 bytes): uptime, loads[3], totalram, freeram, sharedram,
    // bufferram, totalswap, freeswap (u64s), procs u16, pad, totalhigh, freehigh, mem_unit u32.
    let mut raw = [0u8; 112];
    let uptime = time::monotonic_ns() / 1_000_000_000;
    let free = (crate::mm::free_frames_shown() as u64).saturating_mul(paging::PAGE_SIZE);
    raw[0..8].copy_from_slice(&uptime.to_le_bytes());
    raw[32..40].copy_from_slice(&crate::mm::total_bytes().to_le_bytes());
    raw[40..48].copy_from_slice(&free.to_le_bytes());
    // procs: every process in the table, zombies included (Linux's nr_threads).
    let procs = u16::try_from(proc::with_table(|t| t.len())).unwrap_or(u16::MAX);
    raw[80..82].copy_from_slice(&procs.to_le_bytes());
    raw[104..108].copy_from_slice(&1u32.to_le_bytes());
    ctx.process.memory.write(a[0], &raw)?;
    Ok(0)
}

pub fn sys_umask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.process.umask;
    ctx.process.umask = (a[0] as u32) & 0o777;
    Ok(u64::from(old))
}


/// rseq(2): not offered. glibc registers one at every start and, on
/// ENOSYS, runs without it (sched_getcpu falls back to getcpu), so the
/// refusal is the documented kernel-without-rseq answer, not an unknown call
/// worth a warning.
pub fn sys_rseq(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Err(Errno::ENOSYS)
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
/// Linux's TASK_COMM_LEN.
const COMM_LEN: usize = 16;

pub fn sys_prctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match a[0] {
        PR_SET_PDEATHSIG => {
            // Linux's valid_signal: 0 (none) to 64.
            if a[1] > 64 {
                return Err(Errno::EINVAL);
            }
            let pid = ctx.process.pid;
            proc::with_table(|t| t.get_mut(pid).map(|e| e.pdeath_signal = a[1] as u32));
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let pid = ctx.process.pid;
            let signal = proc::with_table(|t| t.get(pid).map_or(0, |e| e.pdeath_signal));
            ctx.process.memory.write(a[1], &(signal as i32).to_le_bytes())?;
            Ok(0)
        }
        PR_SET_NAME => {
            let mut raw = [0u8; COMM_LEN];
            // The name may sit at the end of a mapping: read byte by byte up to the NUL.
            for (i, slot) in raw.iter_mut().enumerate().take(COMM_LEN - 1) {
                let mut byte = [0u8; 1];
                ctx.process.memory.read(a[1].checked_add(i as u64).ok_or(Errno::EFAULT)?, &mut byte)?;
                if byte[0] == 0 {
                    break;
                }
                *slot = byte[0];
            }
            let len = raw.iter().position(|&b| b == 0).unwrap_or(COMM_LEN - 1);
            let name = alloc::string::String::from_utf8_lossy(&raw[..len]).into_owned();
            // The first thread's name is the process's (comm); another
            // thread's is its own (/proc/PID/task/TID/comm).
            if proc::sched::current_tid() == ctx.process.pid {
                ctx.process.name = name;
            } else {
                ctx.process.thread_mut().comm = Some(name);
            }
            Ok(0)
        }
        PR_GET_NAME => {
            let mut raw = [0u8; COMM_LEN];
            let name = ctx.process.thread().comm.as_ref().unwrap_or(&ctx.process.name).as_bytes();
            let len = name.len().min(COMM_LEN - 1);
            raw[..len].copy_from_slice(&name[..len]);
            ctx.process.memory.write(a[1], &raw)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Most supplementary groups a process may hold (Linux NGROUPS_MAX).
pub const NGROUPS_MAX: u64 = 65536;

pub fn sys_getgroups(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let count = ctx.process.groups.len() as u64;
    if a[0] == 0 {
        return Ok(count);
    }
    if (a[0] as i32) < 0 || a[0] < count {
        return Err(Errno::EINVAL);
    }
    let bytes: alloc::vec::Vec<u8> = ctx.process.groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    ctx.process.memory.write(a[1], &bytes)?;
    Ok(count)
}

/// setgroups needs CAP_SETGID (EPERM).
pub fn sys_setgroups(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if !ctx.process.creds.privileged() {
        return Err(Errno::EPERM);
    }
    if a[0] > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = alloc::vec![0u8; (a[0] as usize).saturating_mul(4)];
    ctx.process.memory.read(a[1], &mut bytes)?;
    ctx.process.groups = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let old = ctx.process.creds;
    identity_changed(ctx, old);
    Ok(0)
}

/// statfs/fstatfs: the in-memory root file system, sized like RAM (struct statfs, 120 bytes).
fn statfs_bytes() -> [u8; 120] {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    let total = crate::mm::total_bytes() / paging::PAGE_SIZE;
    let free = crate::mm::free_frames_shown() as u64;
    let mut out = [0u8; 120];
    let fields = [TMPFS_MAGIC, paging::PAGE_SIZE, total, free, free, 0, 0];
    for (slot, v) in out.chunks_exact_mut(8).zip(fields) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    // f_fsid (8 bytes at 56), f_namelen at 64, f_frsize at 72, f_flags at 80.
    out[64..72].copy_from_slice(&255u64.to_le_bytes());
    out[72..80].copy_from_slice(&paging::PAGE_SIZE.to_le_bytes());
    out
}

/// statfs of a volume: the host's file system as the 9P server reports it.
fn volume_statfs_bytes(st: &vfs::remote::RemoteStatFs) -> [u8; 120] {
    let mut out = [0u8; 120];
    let bsize = u64::from(st.block_size);
    let fields = [u64::from(st.fs_type), bsize, st.blocks, st.blocks_free, st.blocks_available, st.files, st.files_free];
    for (slot, v) in out.chunks_exact_mut(8).zip(fields) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    out[64..72].copy_from_slice(&u64::from(st.name_max).to_le_bytes());
    out[72..80].copy_from_slice(&bsize.to_le_bytes());
    out
}

/// The statfs answer for inode `id` (a volume's or the in-memory tree's).
fn statfs_of(id: Option<vfs::InodeId>) -> Result<[u8; 120], Errno> {
    match id {
        Some(id) => Ok(crate::fs::with(|fs| fs.statfs(id))?.map_or_else(statfs_bytes, |st| volume_statfs_bytes(&st))),
        None => Ok(statfs_bytes()),
    }
}

pub fn sys_statfs(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.process.memory.read_cstr(a[0], 4096)?;
    let cwd = ctx.process.cwd;
    let id = if crate::procfs::is_proc(&path) { None } else { Some(crate::fs::with(|fs| fs.lookup(cwd, &path, true))?) };
    let bytes = statfs_of(id)?;
    ctx.process.memory.write(a[1], &bytes)?;
    Ok(0)
}

pub fn sys_fstatfs(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = ctx.process.files.get(a[0] as i32)?;
    let id = file.lock().kind.node();
    let bytes = statfs_of(id)?;
    ctx.process.memory.write(a[1], &bytes)?;
    Ok(0)
}
