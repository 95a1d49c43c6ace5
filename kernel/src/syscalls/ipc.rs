//! SysV IPC: shmget, shmat, shmdt, shmctl, semget, semop, semtimedop and
//! semctl, with Linux's argument checks in Linux's order. The objects, the
//! waiters and the undo lists are `crate::sysv`'s; the key/id rules and
//! semop's evaluation are `process::sysv`'s (docs/sysv-ipc.md).
//!
//! A segment's attachment is a MAP_SHARED mapping of the segment's object
//! (`Memory::map_shared`): its own protection key, inherited by fork,
//! left at exec and exit. Executable attachments (SHM_EXEC) are refused
//! as executable shared memory is (EACCES, docs/shared-memory.md).

#![warn(clippy::arithmetic_side_effects)]

use alloc::vec;
use alloc::vec::Vec;

use paging::PAGE_SIZE;
use process::sysv::{self as rules, Caller, Got, Perm, SemBuf, SemOutcome};
use syscall::ipc::*;
use syscall::{Errno, SemLimits, SemidDs, ShmLimits, ShmUsage, ShmidDs};

use super::{Ctx, SysResult};
use crate::proc::memory::{Prot, SharedRef, USER_END};
use crate::proc::{BlockOn, sched, signal};
use crate::sysv::{self, SETS, SEGMENTS, SemSet, Segment, Waiter};

/// Linux's SHMMAX and SHMALL defaults (`ULONG_MAX - 2^24`, bytes and pages).
const SHMMAX: u64 = u64::MAX - (1 << 24);
const SHMALL: u64 = u64::MAX - (1 << 24);
/// Linux's SEMMNS default (SEMMNI * SEMMSL): the semaphores of all sets.
const SEMMNS: usize = SEMMNI * SEMMSL;

/// The caller's identity for the permission rules.
fn caller<'a>(ctx: &'a Ctx<'_>) -> Caller<'a> {
    let creds = &ctx.process.creds;
    Caller { uid: creds.euid, gid: creds.egid, groups: &ctx.process.groups, privileged: creds.privileged() }
}

/// ipcperms' requested bits from a get call's mode flags.
fn wanted(flags: u32) -> u16 {
    let mode = flags & 0o777;
    (((mode >> 6) | (mode >> 3) | mode) & 7) as u16
}

/// A new object's owner and mode: the caller, `flags`' low nine bits.
fn new_perm(ctx: &Ctx<'_>, key: i32, flags: u32) -> Perm {
    let creds = &ctx.process.creds;
    Perm { key, uid: creds.euid, gid: creds.egid, cuid: creds.euid, cgid: creds.egid, mode: (flags & 0o777) as u16 }
}

/// IPC_SET: the new owner and mode (the mode's permission bits only).
fn set_perm(perm: &mut Perm, new: &syscall::IpcPerm) {
    perm.uid = new.uid;
    perm.gid = new.gid;
    perm.mode = (new.mode & 0o777) as u16;
}

fn pid_of(ctx: &Ctx<'_>) -> u32 {
    ctx.process.pid.as_u32()
}

fn page_up(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1))
}

// --- shared memory ---------------------------------------------------------

pub fn sys_shmget(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (key, size, flags) = (a[0] as i32, a[1], a[2] as u32);
    let mut segments = SEGMENTS.lock();
    match segments.get(key, flags, &caller(ctx), 0)? {
        Got::Existing(id) => {
            let (perm, segment) = segments.lookup(id)?;
            if segment.size < size {
                return Err(Errno::EINVAL);
            }
            if !perm.allows(&caller(ctx), wanted(flags)) {
                return Err(Errno::EACCES);
            }
            Ok(id as u64)
        }
        Got::Create => {
            if !(SHMMIN..=SHMMAX).contains(&size) {
                return Err(Errno::EINVAL);
            }
            let pages = page_up(size).ok_or(Errno::EINVAL)? / PAGE_SIZE;
            let total: u64 = segments.iter().map(|(_, _, s)| s.size.div_ceil(PAGE_SIZE)).sum();
            if total.checked_add(pages).is_none_or(|t| t > SHMALL) {
                return Err(Errno::ENOSPC);
            }
            // Linux's accounting refuses what memory could never hold.
            if pages > crate::mm::frame::user_available() as u64 {
                return Err(Errno::ENOMEM);
            }
            let (object, pkey) = crate::mm::shared::create_anonymous(pages);
            let now = sysv::now_seconds();
            let segment = Segment {
                object,
                key: pkey,
                size,
                cpid: pid_of(ctx),
                lpid: 0,
                atime: 0,
                dtime: 0,
                ctime: now,
                destroyed: false,
                locked: false,
            };
            let inserted = segments.insert(new_perm(ctx, key, flags), segment);
            drop(segments);
            inserted.map(|id| id as u64).inspect_err(|_| crate::mm::shared::leave(object))
        }
    }
}

pub fn sys_shmat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (id, hint, flags) = (a[0] as i32, a[1], a[2]);
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let mut addr = hint;
    if addr != 0 {
        if !addr.is_multiple_of(SHMLBA) {
            if flags & SHM_RND == 0 {
                return Err(Errno::EINVAL);
            }
            addr &= !(SHMLBA - 1);
            if addr == 0 && flags & SHM_REMAP != 0 {
                return Err(Errno::EINVAL);
            }
        }
    } else if flags & SHM_REMAP != 0 {
        return Err(Errno::EINVAL);
    }
    let rdonly = flags & SHM_RDONLY != 0;
    let want = (if rdonly { 4 } else { 6 }) | u16::from(flags & SHM_EXEC != 0);
    let (object, key, len) = {
        let mut segments = SEGMENTS.lock();
        let who = caller(ctx);
        let (perm, segment) = segments.lookup(id)?;
        if !perm.allows(&who, want) {
            return Err(Errno::EACCES);
        }
        (segment.object, segment.key, page_up(segment.size).ok_or(Errno::EINVAL)?)
    };
    if flags & SHM_EXEC != 0 {
        log::warn!(
            "pid {} ({}): refused SHM_EXEC: executable shared memory (its bytes could change after the WRPKRU scan)",
            ctx.process.pid,
            ctx.process.name
        );
        return Err(Errno::EACCES);
    }
    let memory = &mut ctx.process.memory;
    let start = if addr != 0 {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > USER_END || addr < PAGE_SIZE {
            return Err(Errno::ENOMEM);
        }
        if flags & SHM_REMAP == 0 {
            if memory.overlaps(addr, end) {
                return Err(Errno::EINVAL);
            }
        } else {
            memory.write_back(addr, end);
            memory.unmap_range(addr, end);
        }
        addr
    } else {
        memory.find_free(len)?
    };
    let prot = if rdonly { Prot { read: true, write: false, exec: false } } else { Prot::RW };
    // One member more for this mapping (given back if already a member).
    crate::mm::shared::join(object);
    let mapped = memory.map_shared(start, start.saturating_add(len), prot, None, SharedRef { object, key, first_page: 0, may_write: !rdonly });
    crate::proc::refresh_pkru(ctx.process);
    mapped?;
    if let Ok((_, segment)) = SEGMENTS.lock().lookup(id) {
        segment.atime = sysv::now_seconds();
        segment.lpid = pid_of(ctx);
    }
    Ok(start)
}

pub fn sys_shmdt(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let addr = a[0];
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    // The first attachment at or above `addr` that starts where its
    // segment would (Linux's vm_pgoff test), then every piece of the same
    // segment within the segment's size from `addr`.
    let memory = &ctx.process.memory;
    let segment_of = |object| {
        let mut segments = SEGMENTS.lock();
        let id = segments.find(|s: &Segment| s.object == object)?;
        segments.lookup(id).ok().map(|(_, s)| s.size)
    };
    let starts_here =
        |r: &crate::proc::memory::Region| r.start >= addr && r.shared.is_some_and(|s| r.start.saturating_sub(addr) / PAGE_SIZE == s.first_page);
    let mut found = None;
    for region in memory.regions().filter(|r| r.end > addr) {
        if let Some(shared) = region.shared
            && starts_here(region)
            && let Some(size) = segment_of(shared.object)
        {
            found = Some((shared.object, size));
            break;
        }
    }
    let Some((object, size)) = found else { return Err(Errno::EINVAL) };
    let limit = addr.saturating_add(page_up(size).unwrap_or(u64::MAX));
    let pieces: Vec<(u64, u64)> = memory
        .regions()
        .filter(|r| r.start >= addr && r.end <= limit && r.shared.is_some_and(|s| s.object == object) && starts_here(r))
        .map(|r| (r.start, r.end))
        .collect();
    for (start, end) in pieces {
        ctx.process.memory.unmap_range(start, end);
    }
    crate::proc::refresh_pkru(ctx.process);
    Ok(0)
}

/// A segment's `struct shmid64_ds`.
fn shmid_ds(id: i32, perm: &Perm, segment: &Segment) -> ShmidDs {
    let extra = if segment.destroyed { SHM_DEST } else { 0 } | if segment.locked { SHM_LOCKED } else { 0 };
    ShmidDs {
        perm: sysv::perm_layout(id, perm, extra),
        segsz: segment.size,
        atime: segment.atime,
        dtime: segment.dtime,
        ctime: segment.ctime,
        cpid: segment.cpid as i32,
        lpid: segment.lpid as i32,
        nattch: sysv::attachments(segment),
    }
}

pub fn sys_shmctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (id, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        IPC_INFO => {
            let limits = ShmLimits { shmmax: SHMMAX, shmmin: SHMMIN, shmmni: SHMMNI as u64, shmseg: SHMMNI as u64, shmall: SHMALL };
            let max = SEGMENTS.lock().max_index().unwrap_or(0);
            ctx.process.memory.write(buf, &limits.to_bytes())?;
            Ok(max as u64)
        }
        SHM_INFO => {
            let (usage, max) = {
                let segments = SEGMENTS.lock();
                let tot = segments.iter().map(|(_, _, s)| s.size.div_ceil(PAGE_SIZE)).sum();
                let rss = segments.iter().map(|(_, _, s)| crate::mm::shared::resident_pages(s.object)).sum();
                (ShmUsage { used_ids: segments.in_use() as i32, shm_tot: tot, shm_rss: rss }, segments.max_index().unwrap_or(0))
            };
            ctx.process.memory.write(buf, &usage.to_bytes())?;
            Ok(max as u64)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (ds, ret) = {
                let mut segments = SEGMENTS.lock();
                let who = caller(ctx);
                let (id, perm, segment) = match cmd {
                    IPC_STAT => segments.lookup(id).map(|(p, s)| (id, p, s))?,
                    _ => segments.at_index(id as usize)?,
                };
                if cmd != SHM_STAT_ANY && !perm.allows(&who, 4) {
                    return Err(Errno::EACCES);
                }
                (shmid_ds(id, perm, segment), if cmd == IPC_STAT { 0 } else { id as u64 })
            };
            ctx.process.memory.write(buf, &ds.to_bytes())?;
            Ok(ret)
        }
        IPC_SET | IPC_RMID => {
            let new = if cmd == IPC_SET {
                let mut raw = [0u8; ShmidDs::SIZE];
                ctx.process.memory.read(buf, &mut raw)?;
                Some(ShmidDs::from_bytes(&raw))
            } else {
                None
            };
            let gone = {
                let mut segments = SEGMENTS.lock();
                let who = caller(ctx);
                let (perm, segment) = segments.lookup(id)?;
                if !who.owns(perm) {
                    return Err(Errno::EPERM);
                }
                match new {
                    Some(new) => {
                        set_perm(perm, &new.perm);
                        segment.ctime = sysv::now_seconds();
                        None
                    }
                    None if sysv::attachments(segment) > 0 => {
                        // Gone at the last detach; no longer found by its key.
                        segment.destroyed = true;
                        perm.key = rules::IPC_PRIVATE;
                        None
                    }
                    None => segments.remove(id).ok(),
                }
            };
            if let Some(segment) = gone {
                crate::mm::shared::leave(segment.object);
            }
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let memlock = ctx.process.limits.get(syscall::Resource::Memlock).rlim_cur;
            let mut segments = SEGMENTS.lock();
            let who = caller(ctx);
            let (perm, segment) = segments.lookup(id)?;
            if !who.privileged && (!who.owns(perm) || (cmd == SHM_LOCK && memlock == 0)) {
                return Err(Errno::EPERM);
            }
            // Every page is resident already: the flag is what changes.
            segment.locked = cmd == SHM_LOCK;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// --- semaphores ------------------------------------------------------------

pub fn sys_semget(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (key, nsems, flags) = (a[0] as i32, a[1] as i32, a[2] as u32);
    let nsems = usize::try_from(nsems).ok().filter(|&n| n <= SEMMSL).ok_or(Errno::EINVAL)?;
    let mut sets = SETS.lock();
    match sets.get(key, flags, &caller(ctx), 0)? {
        Got::Existing(id) => {
            let (perm, set) = sets.lookup(id)?;
            if nsems > set.values.len() {
                return Err(Errno::EINVAL);
            }
            if !perm.allows(&caller(ctx), wanted(flags)) {
                return Err(Errno::EACCES);
            }
            Ok(id as u64)
        }
        Got::Create => {
            if nsems == 0 {
                return Err(Errno::EINVAL);
            }
            let used: usize = sets.iter().map(|(_, _, s)| s.values.len()).sum();
            if used.saturating_add(nsems) > SEMMNS {
                return Err(Errno::ENOSPC);
            }
            if !crate::mm::heap_room_for_user(nsems.saturating_mul(8)) {
                return Err(Errno::ENOMEM);
            }
            let set = SemSet { values: vec![0; nsems], pids: vec![0; nsems], otime: 0, ctime: sysv::now_seconds() };
            Ok(sets.insert(new_perm(ctx, key, flags), set)? as u64)
        }
    }
}

pub fn sys_semop(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    semtimedop(ctx, a[0] as i32, a[1], u64::from(a[2] as u32), None)
}

pub fn sys_semtimedop(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let timeout = if a[3] == 0 {
        None
    } else {
        let mut raw = [0u8; syscall::Timespec::SIZE];
        ctx.process.memory.read(a[3], &mut raw)?;
        Some(syscall::Timespec::from_bytes(&raw))
    };
    semtimedop(ctx, a[0] as i32, a[1], u64::from(a[2] as u32), timeout)
}

/// semop and semtimedop (Linux's `do_semtimedop`): all the operations at
/// once or none; a wait blocks until the set changes, the timeout passes
/// (EAGAIN), a signal comes (EINTR, never restarted) or the set is
/// removed (EIDRM). Each retry runs the whole call again.
/// `nsops` is the unsigned int Linux takes (the upper half of the register is not looked at).
fn semtimedop(ctx: &mut Ctx<'_>, id: i32, sops: u64, nsops: u64, timeout: Option<syscall::Timespec>) -> SysResult {
    let tid = sched::current_tid().as_u32();
    // A retry: what its wait was for is taken out; the call decides anew.
    let earlier = if ctx.retry { sysv::take_waiter(tid) } else { None };
    if earlier.is_some_and(|w| w.removed) {
        return Err(Errno::EIDRM);
    }
    if nsops < 1 || id < 0 {
        return Err(Errno::EINVAL);
    }
    let count = usize::try_from(nsops).ok().filter(|&n| n <= SEMOPM).ok_or(Errno::E2BIG)?;
    let mut raw = vec![0u8; count.saturating_mul(SemBuf::SIZE)];
    ctx.process.memory.read(sops, &mut raw)?;
    let ops: Vec<SemBuf> = raw.chunks_exact(SemBuf::SIZE).filter_map(|c| c.try_into().ok().map(SemBuf::from_bytes)).collect();
    let deadline_ns = match (earlier, timeout) {
        (Some(w), _) => w.deadline_ns,
        (None, Some(t)) => syscall::time::deadline_ns(crate::time::monotonic_ns(), t.duration_ns()?),
        (None, None) => u64::MAX,
    };
    let max = ops.iter().map(|op| op.num).max().unwrap_or(0);
    let alter = ops.iter().any(|op| op.op != 0);
    let undoes = ops.iter().any(|op| op.flags & rules::SEM_UNDO != 0);
    let pid = pid_of(ctx);
    let step = {
        let mut sets = SETS.lock();
        let who = caller(ctx);
        let (perm, set) = sets.lookup(id)?;
        if usize::from(max) >= set.values.len() {
            return Err(Errno::EFBIG);
        }
        if !perm.allows(&who, if alter { 2 } else { 4 }) {
            return Err(Errno::EACCES);
        }
        let mut values = set.values.clone();
        match rules::semop(&mut values, &ops)? {
            SemOutcome::Done(undo) => {
                if undoes {
                    let mut lists = sysv::UNDO.lock();
                    let nsems = set.values.len();
                    if !lists.contains_key(&(pid, id)) && !crate::mm::heap_room_for_user(nsems.saturating_mul(4)) {
                        return Err(Errno::ENOMEM);
                    }
                    let semadj = lists.entry((pid, id)).or_insert_with(|| vec![0; nsems]);
                    rules::merge_undo(semadj, &undo)?;
                }
                set.values = values;
                for op in &ops {
                    if let Some(p) = set.pids.get_mut(usize::from(op.num)) {
                        *p = pid;
                    }
                }
                set.otime = sysv::now_seconds();
                Step::Done(alter.then(|| set.values.clone()))
            }
            SemOutcome::Wait { num, zero } => {
                let need = ops.iter().find(|op| op.num == num && (op.op == 0) == zero).map_or(0, |op| i32::from(op.op.min(0)).saturating_neg());
                Step::Wait { num, zero, need, values: set.values.clone() }
            }
        }
    };
    match step {
        Step::Done(changed) => {
            if let Some(values) = changed {
                sysv::wake_waiters(id, &values);
            }
            Ok(0)
        }
        Step::Wait { num, zero, need, values } => {
            // What this thread was woken for and does not take goes on.
            if earlier.is_some_and(|w| w.woken) {
                sysv::wake_waiters(id, &values);
            }
            if crate::time::monotonic_ns() >= deadline_ns {
                return Err(Errno::EAGAIN);
            }
            if signal::has_deliverable(ctx.process) {
                return Err(Errno::EINTR);
            }
            let waiter = Waiter { set: id, num, zero, need, deadline_ns, since: 0, woken: false, removed: false };
            sysv::wait(tid, waiter);
            ctx.block = Some(BlockOn::Until(deadline_ns));
            Ok(0)
        }
    }
}

/// Where one run of semop ended.
enum Step {
    /// Applied; the new values if any operation changed them.
    Done(Option<Vec<i32>>),
    /// The operation on semaphore `num` must wait (for zero, or until the
    /// value is at least `need`); `values` are the set's now.
    Wait { num: u16, zero: bool, need: i32, values: Vec<i32> },
}

/// A set's `struct semid64_ds`.
fn semid_ds(id: i32, perm: &Perm, set: &SemSet) -> SemidDs {
    SemidDs { perm: sysv::perm_layout(id, perm, 0), otime: set.otime, ctime: set.ctime, nsems: set.values.len() as u64 }
}

pub fn sys_semctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (id, semnum, cmd, arg) = (a[0] as i32, a[1] as i32, a[2] as i32, a[3]);
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        IPC_INFO | SEM_INFO => {
            let (info, max) = {
                let sets = SETS.lock();
                let used: usize = sets.iter().map(|(_, _, s)| s.values.len()).sum();
                let (semusz, semaem) =
                    if cmd == SEM_INFO { (sets.in_use() as i32, used as i32) } else { (SEMUSZ, rules::SEMAEM) };
                let info = SemLimits {
                    semmap: SEMMAP,
                    semmni: SEMMNI as i32,
                    semmns: SEMMNS as i32,
                    semmnu: SEMMNS as i32,
                    semmsl: SEMMSL as i32,
                    semopm: SEMOPM as i32,
                    semume: SEMOPM as i32,
                    semusz,
                    semvmx: rules::SEMVMX,
                    semaem,
                };
                (info, sets.max_index().unwrap_or(0))
            };
            ctx.process.memory.write(arg, &info.to_bytes())?;
            Ok(max as u64)
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let (ds, ret) = {
                let mut sets = SETS.lock();
                let who = caller(ctx);
                let (id, perm, set) = match cmd {
                    IPC_STAT => sets.lookup(id).map(|(p, s)| (id, p, s))?,
                    _ => sets.at_index(id as usize)?,
                };
                if cmd != SEM_STAT_ANY && !perm.allows(&who, 4) {
                    return Err(Errno::EACCES);
                }
                (semid_ds(id, perm, set), if cmd == IPC_STAT { 0 } else { id as u64 })
            };
            ctx.process.memory.write(arg, &ds.to_bytes())?;
            Ok(ret)
        }
        GETALL | GETVAL | GETPID | GETNCNT | GETZCNT | SETALL => sem_main(ctx, id, semnum, cmd, arg),
        SETVAL => {
            let value = arg as i32;
            if !(0..=rules::SEMVMX).contains(&value) {
                return Err(Errno::ERANGE);
            }
            let values = {
                let mut sets = SETS.lock();
                let who = caller(ctx);
                let (perm, set) = sets.lookup(id)?;
                let num = usize::try_from(semnum).ok().filter(|&n| n < set.values.len()).ok_or(Errno::EINVAL)?;
                if !perm.allows(&who, 2) {
                    return Err(Errno::EACCES);
                }
                set.values[num] = value;
                set.pids[num] = pid_of(ctx);
                set.ctime = sysv::now_seconds();
                for (&(_, set_id), semadj) in sysv::UNDO.lock().iter_mut() {
                    if set_id == id
                        && let Some(adj) = semadj.get_mut(num)
                    {
                        *adj = 0;
                    }
                }
                set.values.clone()
            };
            sysv::wake_waiters(id, &values);
            Ok(0)
        }
        IPC_SET | IPC_RMID => {
            let new = if cmd == IPC_SET {
                let mut raw = [0u8; SemidDs::SIZE];
                ctx.process.memory.read(arg, &mut raw)?;
                Some(SemidDs::from_bytes(&raw))
            } else {
                None
            };
            {
                let mut sets = SETS.lock();
                let who = caller(ctx);
                let (perm, set) = sets.lookup(id)?;
                if !who.owns(perm) {
                    return Err(Errno::EPERM);
                }
                match new {
                    Some(new) => {
                        set_perm(perm, &new.perm);
                        set.ctime = sysv::now_seconds();
                        return Ok(0);
                    }
                    None => sets.remove(id)?,
                };
            }
            sysv::set_removed(id);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// semctl's GETALL, GETVAL, GETPID, GETNCNT, GETZCNT and SETALL (Linux's
/// `semctl_main`): read rights for all but SETALL, which needs write.
fn sem_main(ctx: &mut Ctx<'_>, id: i32, semnum: i32, cmd: i32, arg: u64) -> SysResult {
    let nsems = {
        let mut sets = SETS.lock();
        let who = caller(ctx);
        let (perm, set) = sets.lookup(id)?;
        if !perm.allows(&who, if cmd == SETALL { 2 } else { 4 }) {
            return Err(Errno::EACCES);
        }
        set.values.len()
    };
    match cmd {
        GETALL => {
            let values: Vec<u8> = {
                let mut sets = SETS.lock();
                let (_, set) = sets.lookup(id)?;
                set.values.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect()
            };
            ctx.process.memory.write(arg, &values)?;
            Ok(0)
        }
        SETALL => {
            let mut raw = vec![0u8; nsems.saturating_mul(2)];
            ctx.process.memory.read(arg, &mut raw)?;
            let new: Vec<i32> = raw.chunks_exact(2).map(|c| i32::from(u16::from_le_bytes([c[0], c[1]]))).collect();
            if new.iter().any(|&v| v > rules::SEMVMX) {
                return Err(Errno::ERANGE);
            }
            let pid = pid_of(ctx);
            {
                let mut sets = SETS.lock();
                let (_, set) = sets.lookup(id)?;
                set.values.copy_from_slice(&new);
                set.pids.iter_mut().for_each(|p| *p = pid);
                set.ctime = sysv::now_seconds();
                for (&(_, set_id), semadj) in sysv::UNDO.lock().iter_mut() {
                    if set_id == id {
                        semadj.iter_mut().for_each(|adj| *adj = 0);
                    }
                }
            }
            sysv::wake_waiters(id, &new);
            Ok(0)
        }
        _ => {
            let num = usize::try_from(semnum).ok().filter(|&n| n < nsems).ok_or(Errno::EINVAL)?;
            let mut sets = SETS.lock();
            let (_, set) = sets.lookup(id)?;
            let answer = match cmd {
                GETVAL => set.values[num] as u64,
                GETPID => u64::from(set.pids[num]),
                _ => {
                    let (ncnt, zcnt) = sysv::waiting_on(id, num as u16);
                    if cmd == GETNCNT { ncnt } else { zcnt }
                }
            };
            Ok(answer)
        }
    }
}
