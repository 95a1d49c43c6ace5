//! Memory: brk, mmap (anonymous and private file mappings), munmap,
//! mprotect, madvise. W^X always: writable and executable together is
//! refused (EACCES), and memory that turns executable is scanned for WRPKRU
//! first (EACCES and a log line on a hit).

use paging::PAGE_SIZE;
use syscall::{Errno, MapType, MmapFlags, MmapProt};

use super::{Ctx, SysResult};
use crate::fs;
use crate::proc::memory::{Prot, RegionKind, USER_END};

fn page_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}

fn length(len: u64) -> Result<u64, Errno> {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1)).ok_or(Errno::ENOMEM)
}

/// Refuses writable+executable memory (W^X).
fn check_wx(ctx: &Ctx<'_>, prot: Prot, start: u64) -> Result<(), Errno> {
    if prot.write && prot.exec {
        log::warn!("pid {} ({}): refused writable+executable memory at {start:#x} (W^X)", ctx.process.pid, ctx.process.name);
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// Refuses (EACCES, logged) memory turning executable at `[start, end)`
/// whose bytes, `contents` (what will be there) joined with the two bytes
/// on each side that are executable already, hold WRPKRU: an instruction
/// may straddle two mappings, whichever became executable first.
fn scan_new_code(ctx: &mut Ctx<'_>, start: u64, end: u64, contents: Contents<'_>) -> Result<(), Errno> {
    let memory = &mut ctx.process.memory;
    let executable = |memory: &mut crate::proc::memory::Memory, addr: u64| memory.region_at(addr).is_some_and(|r| r.prot.exec);
    let mut scan = pkru::scan::StreamScan::new();
    let mut hit = None;
    // The executable page before (already scanned, so only its last two
    // bytes can matter): its bytes go first, so its tail carries over.
    if start >= PAGE_SIZE && executable(memory, start - 1) {
        hit = memory.scan_present(start - PAGE_SIZE, start, &mut scan);
    } else {
        scan.gap();
    }
    let mut tail_is_zero = false;
    match contents {
        Contents::Bytes(bytes) => {
            hit = hit.or_else(|| scan.feed(start, bytes));
            // Zeros follow a short file's bytes: no WRPKRU ends in them.
            tail_is_zero = (bytes.len() as u64) < end - start;
        }
        Contents::Zero => tail_is_zero = true,
        Contents::Mapped => hit = hit.or_else(|| memory.scan_present(start, end, &mut scan)),
    }
    if tail_is_zero {
        scan.gap();
    }
    if hit.is_none() && end < USER_END && executable(memory, end) {
        hit = memory.scan_present(end, end + PAGE_SIZE, &mut scan);
    }
    if let Some(at) = hit {
        log::warn!(
            "pid {} ({}): refused to make memory executable: WRPKRU (0F 01 EF) at {at:#x}",
            ctx.process.pid,
            ctx.process.name
        );
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// A file's bytes about to be mapped executable: glibc's `pkey_set` WRPKRU
/// defused (`pkru::scan::defuse_pkey_set`, docs/dynamic.md), any other
/// WRPKRU refused (EACCES) with the file and its offset named.
fn defuse_and_check_file_code(ctx: &Ctx<'_>, data: &mut [u8], path: &[u8], offset: u64) -> Result<(), Errno> {
    pkru::scan::defuse_pkey_set(data);
    if let Some(at) = pkru::scan::find_wrpkru(data).next() {
        log::warn!(
            "pid {} ({}): refused to map {} executable: WRPKRU (0F 01 EF) at file offset {:#x}",
            ctx.process.pid,
            ctx.process.name,
            alloc::string::String::from_utf8_lossy(path),
            offset.saturating_add(at as u64)
        );
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// What a range that turns executable will hold.
enum Contents<'a> {
    /// These bytes (a file's), then zeros.
    Bytes(&'a [u8]),
    /// Zeros (fresh anonymous memory).
    Zero,
    /// What is mapped there now (mprotect).
    Mapped,
}

pub fn sys_mmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (hint, raw_len, raw_prot, raw_flags, fd, offset) = (a[0], a[1], a[2], a[3], a[4] as i32, a[5]);
    let prot_bits = MmapProt::from_raw(raw_prot)?;
    let flags = MmapFlags::from_raw(raw_flags)?;
    let len = length(raw_len)?;
    if !page_aligned(offset) {
        return Err(Errno::EINVAL);
    }
    if !matches!(flags.map_type(), MapType::Private | MapType::Shared | MapType::SharedValidate) {
        return Err(Errno::EINVAL);
    }
    let prot = Prot::from_bits(u64::from(prot_bits.bits()));
    let anonymous = flags.contains(MmapFlags::MAP_ANONYMOUS);

    // The file's bytes first (before anything is mapped), so that errors change nothing.
    let contents = if anonymous {
        None
    } else {
        let file = ctx.process.files.get(fd)?.clone();
        let open = file.lock();
        let Some(id) = open.kind.node() else { return Err(Errno::ENODEV) };
        if !fs::can_read(open.flags) {
            return Err(Errno::EACCES);
        }
        let (mut data, path) = fs::with(|fs| -> Result<_, Errno> {
            let all = fs.file_data(id).map_err(|_| Errno::ENODEV)?;
            let start = (offset as usize).min(all.len());
            let end = (offset.saturating_add(len) as usize).min(all.len());
            Ok((fs::copy_charged(&all[start..end])?, fs.any_path_of(id).unwrap_or_default()))
        })?;
        if prot.exec {
            defuse_and_check_file_code(ctx, &mut data, &path, offset)?;
        }
        Some(data)
    };
    check_wx(ctx, prot, hint)?;

    let fixed = flags.contains(MmapFlags::MAP_FIXED) || flags.contains(MmapFlags::MAP_FIXED_NOREPLACE);
    let start = if fixed {
        if !page_aligned(hint) || hint.checked_add(len).is_none_or(|end| end > USER_END) || hint < PAGE_SIZE {
            return Err(if page_aligned(hint) { Errno::ENOMEM } else { Errno::EINVAL });
        }
        if ctx.process.memory.overlaps(hint, hint + len) {
            if flags.contains(MmapFlags::MAP_FIXED_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            ctx.process.memory.unmap_range(hint, hint + len);
        }
        hint
    } else {
        ctx.process.memory.find_free(len)?
    };
    if prot.exec {
        let new = contents.as_deref().map_or(Contents::Zero, Contents::Bytes);
        scan_new_code(ctx, start, start + len, new)?;
    }
    // Write the contents through a writable mapping, then set the real rights.
    let staging = Prot { read: true, write: true, exec: false };
    let initial = if contents.is_some() { staging } else { prot };
    ctx.process.memory.map_fresh(start, start + len, initial, RegionKind::Mapping)?;
    if let Some(data) = contents {
        ctx.process.memory.fill(start, &data)?;
        if prot != staging {
            ctx.process.memory.protect_range(start, start + len, prot)?;
        }
    }
    Ok(start)
}

pub fn sys_munmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (start, len) = (a[0], length(a[1])?);
    if !page_aligned(start) || start.checked_add(len).is_none_or(|end| end > USER_END) {
        return Err(Errno::EINVAL);
    }
    ctx.process.memory.unmap_range(start, start + len);
    Ok(0)
}

pub fn sys_mprotect(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let start = a[0];
    let prot = Prot::from_bits(u64::from(MmapProt::from_raw(a[2])?.bits()));
    if !page_aligned(start) {
        return Err(Errno::EINVAL);
    }
    if a[1] == 0 {
        return Ok(0);
    }
    let len = length(a[1])?;
    let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
    if end > USER_END {
        return Err(Errno::ENOMEM);
    }
    check_wx(ctx, prot, start)?;
    if prot.exec {
        // Linux: ENOMEM when part of the range is not mapped; checked before
        // reading it, so the scan only ever walks mapped regions.
        if !ctx.process.memory.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        scan_new_code(ctx, start, end, Contents::Mapped)?;
    }
    ctx.process.memory.protect_range(start, end, prot)?;
    Ok(0)
}

pub fn sys_brk(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    Ok(ctx.process.memory.set_brk(a[0]))
}

/// msync: every file lives in memory, so there is no disk to write back
/// to and the call only checks its arguments; the checks
/// are Linux's: EINVAL for unknown flags, MS_ASYNC with MS_SYNC, or an
/// unaligned address; ENOMEM if part of the range is not mapped.
pub fn sys_msync(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const MS_ASYNC: u64 = 1;
    const MS_INVALIDATE: u64 = 2;
    const MS_SYNC: u64 = 4;
    let (start, len, flags) = (a[0], a[1], u64::from(a[2] as u32));
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !page_aligned(start) {
        return Err(Errno::EINVAL);
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(Errno::EINVAL);
    }
    let end = len
        .checked_add(PAGE_SIZE - 1)
        .map(|l| l & !(PAGE_SIZE - 1))
        .and_then(|l| start.checked_add(l))
        .ok_or(Errno::ENOMEM)?;
    if !ctx.process.memory.covers(start, end) {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}

pub fn sys_madvise(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if !page_aligned(a[0]) {
        return Err(Errno::EINVAL);
    }
    // Advice only: nothing to do for memory that is always resident.
    Ok(0)
}
