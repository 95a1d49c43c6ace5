//! Memory: brk, mmap (anonymous and file mappings, private or shared),
//! munmap, mprotect, msync, mremap, madvise. W^X always: writable and
//! executable together is refused (EACCES), and memory that turns
//! executable is scanned for WRPKRU first (EACCES and a log line on a hit).
//! MAP_SHARED memory is one set of frames for all that map it, in a shared
//! domain of its own (`mm::shared`, docs/shared-memory.md).

use paging::PAGE_SIZE;
use syscall::{Errno, MapType, MmapFlags, MmapProt};

use alloc::vec::Vec;

use super::{Ctx, SysResult};
use crate::fs;
use crate::mm::pagecache;
use crate::proc::memory::{FileBacking, Prot, RegionKind, SharedRef, USER_END};

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
fn scan_new_code(ctx: &mut Ctx<'_>, start: u64, end: u64, contents: Contents) -> Result<(), Errno> {
    let memory = &mut ctx.process.memory;
    let executable = |memory: &mut crate::proc::memory::Memory, addr: u64| memory.region_at(addr).is_some_and(|r| r.prot.exec);
    // File pages are faulted in lazily: what is scanned must be there.
    if start >= PAGE_SIZE && executable(memory, start - 1) {
        memory.populate_file_pages(start - PAGE_SIZE, start)?;
    }
    if matches!(contents, Contents::Mapped) {
        memory.populate_file_pages(start, end)?;
    }
    if end < USER_END && executable(memory, end) {
        memory.populate_file_pages(end, end + PAGE_SIZE)?;
    }
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

/// A file's bytes about to be mapped executable, checked
/// (`pagecache::neutralize_code`); the offset of any WRPKRU left, which
/// refuses the mapping. What was rewritten, or why not, goes to `outcome`
/// for the log.
fn check_file_code(data: &mut [u8], outcome: &mut Option<Result<Vec<pkru::rewrite::Rewrite>, pkru::rewrite::Refusal>>) -> Option<usize> {
    let result = pagecache::neutralize_code(data);
    let left = result.as_ref().err().map(|refusal| refusal.at());
    *outcome = Some(result);
    left
}

/// Logs each rewrite of `check_file_code` once per file and offset (not at
/// every process that maps the library).
fn log_rewrites(path: &[u8], offset: u64, rewrites: &[pkru::rewrite::Rewrite]) {
    let name = alloc::string::String::from_utf8_lossy(path);
    for r in rewrites {
        let at = offset.saturating_add(r.at as u64);
        if REWRITES_LOGGED.lock().insert((Vec::from(path), at)) {
            let through = r.trampoline.map(|t| offset.saturating_add(t.at as u64));
            log::info!(
                "rewrote unintended WRPKRU (0F 01 EF) in {name} at file offset {:#x}: instruction at {at:#x} {:02x?} -> {:02x?} ({}{})",
                offset.saturating_add(r.wrpkru_at as u64),
                r.before(),
                r.after(),
                r.how.describe(),
                through.map(|t| alloc::format!(" at {t:#x}")).unwrap_or_default()
            );
        }
    }
}

/// The (file, offset) rewrites already logged.
static REWRITES_LOGGED: spin::Mutex<alloc::collections::BTreeSet<(Vec<u8>, u64)>> = spin::Mutex::new(alloc::collections::BTreeSet::new());

/// The backing of a new mapping of `[offset, offset + len)` of file `id`:
/// a file whose bytes can be mapped (ENODEV otherwise). One to be
/// executable is checked for WRPKRU first, once per content and range:
/// EACCES with the file and its offset named on a hit; its pages come from
/// that check when they are faulted in.
fn file_backing(ctx: &Ctx<'_>, id: vfs::InodeId, offset: u64, len: u64, exec: bool) -> Result<FileBacking, Errno> {
    let code = pagecache::CodeRange { offset, len };
    // Set only when the page cache checks this content and range (once).
    let mut outcome = None;
    let mut path = Vec::new();
    // A private mapping starts from what shared mappings of the file wrote.
    crate::mm::shared::write_back_file(id);
    let refused = fs::with(|fs| {
        let data = fs.file_data(id).map_err(|_| Errno::ENODEV)?;
        let data: &[u8] = &data;
        let generation = fs.generation(id)?;
        if !exec {
            return Ok(Ok(()));
        }
        let checked = pagecache::exec_frames(id, generation, data, code, 0, 0, |code| check_file_code(code, &mut outcome));
        if outcome.is_some() {
            path = fs.any_path_of(id).unwrap_or_default();
        }
        match checked {
            Ok(_) => Ok(Ok(())),
            Err(Ok(at)) => Ok(Err((fs.any_path_of(id).unwrap_or_default(), at))),
            Err(Err(errno)) => Err(errno),
        }
    })?;
    if let Some(Ok(rewrites)) = &outcome {
        log_rewrites(&path, offset, rewrites);
    }
    let why = match &outcome {
        Some(Err(refusal)) => alloc::format!(": {}", refusal.describe()),
        _ => alloc::string::String::new(),
    };
    refused.map_err(|(path, at)| {
        log::warn!(
            "pid {} ({}): refused to map {} executable: WRPKRU (0F 01 EF) at file offset {at:#x}{why}",
            ctx.process.pid,
            ctx.process.name,
            alloc::string::String::from_utf8_lossy(&path),
        );
        Errno::EACCES
    })?;
    Ok(FileBacking { id, offset, code: exec.then_some(code) })
}

/// Refuses (EACCES, logged) executable memory `[start, end)` whose bytes
/// are checked already when an instruction could run across one of its
/// edges into a neighbouring executable mapping: only the two bytes on
/// each side of each edge can form such a WRPKRU, so only they are read.
fn check_code_edges(ctx: &mut Ctx<'_>, start: u64, end: u64) -> Result<(), Errno> {
    let memory = &mut ctx.process.memory;
    for edge in [start, end] {
        let executable = |m: &crate::proc::memory::Memory, addr: u64| m.region_at(addr).is_some_and(|r| r.prot.exec);
        if !(2..=USER_END - 2).contains(&edge) || !executable(memory, edge - 1) || !executable(memory, edge) {
            continue;
        }
        // File pages are faulted in lazily: the bytes looked at must be there.
        memory.populate_file_pages(edge - 2, edge + 2)?;
        let mut window = [0u8; 4];
        memory.peek(edge - 2, &mut window);
        if let Some(at) = pkru::scan::find_wrpkru(&window).next() {
            log::warn!(
                "pid {} ({}): refused to make memory executable: WRPKRU (0F 01 EF) at {:#x}",
                ctx.process.pid,
                ctx.process.name,
                edge - 2 + at as u64
            );
            return Err(Errno::EACCES);
        }
    }
    Ok(())
}

/// What a range that turns executable will hold.
enum Contents {
    /// Zeros (fresh anonymous memory).
    Zero,
    /// What is mapped there now (mprotect, a file's pages).
    Mapped,
}

/// Whether mmap is MAP_FIXED(_NOREPLACE), with Linux's errors for its
/// address: EINVAL unaligned, ENOMEM outside the lower half, EEXIST for
/// MAP_FIXED_NOREPLACE over a mapping.
fn check_fixed(ctx: &Ctx<'_>, hint: u64, len: u64, flags: MmapFlags) -> Result<bool, Errno> {
    let fixed = flags.contains(MmapFlags::MAP_FIXED) || flags.contains(MmapFlags::MAP_FIXED_NOREPLACE);
    if fixed {
        if !page_aligned(hint) || hint.checked_add(len).is_none_or(|end| end > USER_END) || hint < PAGE_SIZE {
            return Err(if page_aligned(hint) { Errno::ENOMEM } else { Errno::EINVAL });
        }
        if flags.contains(MmapFlags::MAP_FIXED_NOREPLACE) && ctx.process.memory.overlaps(hint, hint + len) {
            return Err(Errno::EEXIST);
        }
    }
    Ok(fixed)
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
    if flags.is_shared() {
        let result = mmap_shared(ctx, hint, len, prot, flags, if anonymous { None } else { Some(fd) }, offset);
        crate::proc::refresh_pkru(ctx.process);
        return result;
    }

    let file = if anonymous {
        None
    } else {
        let file = ctx.process.files.get(fd)?.clone();
        let open = file.lock();
        let Some(id) = open.kind.node() else { return Err(Errno::ENODEV) };
        if !fs::can_read(open.flags) {
            return Err(Errno::EACCES);
        }
        Some(id)
    };
    check_wx(ctx, prot, hint)?;

    let fixed = check_fixed(ctx, hint, len, flags)?;
    // The file checked first (before anything is unmapped), so that errors change nothing.
    let backing = match file {
        Some(id) => Some(file_backing(ctx, id, offset, len, prot.exec)?),
        None => None,
    };
    let start = if fixed {
        ctx.process.memory.unmap_range(hint, hint + len);
        Ok(hint)
    } else {
        ctx.process.memory.find_free(len)
    };
    let start = start?;
    let end = start + len;
    match backing {
        None => {
            if prot.exec {
                scan_new_code(ctx, start, end, Contents::Zero)?;
            }
            ctx.process.memory.map_fresh(start, end, prot, RegionKind::Mapping)?;
        }
        Some(backing) => {
            ctx.process.memory.map_file(start, end, prot, RegionKind::Mapping, backing)?;
            if prot.exec {
                // The file's range is checked already; what is left is an
                // instruction across either edge.
                if let Err(error) = check_code_edges(ctx, start, end) {
                    ctx.process.memory.unmap_range(start, end);
                    return Err(error);
                }
            }
        }
    }
    Ok(start)
}

/// A read-only executable MAP_SHARED mapping of file `id`: the page
/// cache's frames, as a private mapping of the file (checked for WRPKRU
/// now), in a region that can never be made writable. What differs from
/// Linux: a later write to the file is not seen through it.
fn mmap_exec_shared_file(ctx: &mut Ctx<'_>, hint: u64, len: u64, prot: Prot, flags: MmapFlags, id: vfs::InodeId, offset: u64) -> SysResult {
    let fixed = check_fixed(ctx, hint, len, flags)?;
    let backing = file_backing(ctx, id, offset, len, true)?;
    let start = if fixed {
        ctx.process.memory.write_back(hint, hint + len);
        ctx.process.memory.unmap_range(hint, hint + len);
        hint
    } else {
        ctx.process.memory.find_free(len)?
    };
    let end = start + len;
    ctx.process.memory.map_file(start, end, prot, RegionKind::ExecSharedFile, backing)?;
    if let Err(error) = check_code_edges(ctx, start, end) {
        ctx.process.memory.unmap_range(start, end);
        return Err(error);
    }
    Ok(start)
}

/// mmap of MAP_SHARED memory: a new anonymous object (MAP_ANONYMOUS, or
/// /dev/zero), or the object every process mapping the file shares. The
/// checks are Linux's, in its order; executable shared memory is refused
/// (EACCES, logged): its bytes could change after the WRPKRU scan, through
/// another mapping or a write to the file (docs/shared-memory.md).
fn mmap_shared(ctx: &mut Ctx<'_>, hint: u64, len: u64, prot: Prot, flags: MmapFlags, fd: Option<i32>, offset: u64) -> SysResult {
    let file = match fd {
        None => None,
        Some(fd) => {
            let file = ctx.process.files.get(fd)?.clone();
            let open = file.lock();
            let Some(id) = open.kind.node() else { return Err(Errno::ENODEV) };
            if !fs::can_read(open.flags) {
                return Err(Errno::EACCES);
            }
            let may_write = fs::can_write(open.flags);
            if prot.write && !may_write {
                return Err(Errno::EACCES);
            }
            match fs::with(|fs| fs.metadata(id))?.kind {
                vfs::NodeKind::File => {
                    // A write-sealed file maps shared read-only only, and
                    // for good (mprotect cannot add PROT_WRITE: EACCES).
                    let sealed = fs::with(|fs| fs.seals(id)).is_ok_and(|s| s & (vfs::SEAL_WRITE | vfs::SEAL_FUTURE_WRITE) != 0);
                    if sealed && prot.write {
                        return Err(Errno::EPERM);
                    }
                    Some((id, may_write && !sealed))
                }
                // Shared memory of /dev/zero is shared anonymous memory.
                vfs::NodeKind::CharDevice(vfs::Device::Zero) => None,
                _ => return Err(Errno::ENODEV),
            }
        }
    };
    if file.is_some() && offset.checked_add(len).is_none_or(|end| end > vfs::MAX_FILE_SIZE) {
        return Err(Errno::EOVERFLOW);
    }
    check_wx(ctx, prot, hint)?;
    if prot.exec && !prot.write && let Some((id, _)) = file {
        return mmap_exec_shared_file(ctx, hint, len, prot, flags, id, offset);
    }
    if prot.exec {
        log::warn!(
            "pid {} ({}): refused executable MAP_SHARED memory (its bytes could change after the WRPKRU scan)",
            ctx.process.pid,
            ctx.process.name
        );
        return Err(Errno::EACCES);
    }
    let fixed = check_fixed(ctx, hint, len, flags)?;
    // Joined before anything is unmapped: a MAP_FIXED over this process's
    // own mapping of the file must not end the object it is about to map.
    let (object, key) = match file {
        Some((id, _)) => crate::mm::shared::join_file(id),
        None => crate::mm::shared::create_anonymous(len / PAGE_SIZE),
    };
    let start = if fixed {
        ctx.process.memory.write_back(hint, hint + len);
        ctx.process.memory.unmap_range(hint, hint + len);
        Ok(hint)
    } else {
        ctx.process.memory.find_free(len)
    };
    let start = start.inspect_err(|_| crate::mm::shared::leave(object))?;
    let shared = SharedRef {
        object,
        key,
        first_page: if file.is_some() { offset / PAGE_SIZE } else { 0 },
        may_write: file.is_none_or(|(_, may_write)| may_write),
    };
    let backing = file.map(|(id, _)| FileBacking::new(id, offset));
    ctx.process.memory.map_shared(start, start + len, prot, backing, shared)?;
    Ok(start)
}

pub fn sys_munmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (start, len) = (a[0], length(a[1])?);
    if !page_aligned(start) || start.checked_add(len).is_none_or(|end| end > USER_END) {
        return Err(Errno::EINVAL);
    }
    // What shared file mappings there wrote goes to the file first.
    ctx.process.memory.write_back(start, start + len);
    ctx.process.memory.unmap_range(start, start + len);
    crate::proc::refresh_pkru(ctx.process);
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
    let brk = ctx.process.memory.set_brk(a[0]);
    // A shrink may have unmapped a shared mapping placed in the heap.
    crate::proc::refresh_pkru(ctx.process);
    Ok(brk)
}

/// msync: writes what shared file mappings in the range hold back into
/// their files (every file lives in memory: MS_ASYNC and MS_SYNC both do
/// it at once, MS_INVALIDATE has nothing to drop). The checks are Linux's:
/// EINVAL for unknown flags, MS_ASYNC with MS_SYNC, or an unaligned
/// address; ENOMEM if part of the range is not mapped.
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
    ctx.process.memory.write_back(start, end);
    Ok(0)
}

pub fn sys_madvise(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if !page_aligned(a[0]) {
        return Err(Errno::EINVAL);
    }
    // Advice only: nothing to do for memory that is always resident.
    Ok(0)
}

/// mremap: shrink, grow in place, or move (MREMAP_MAYMOVE, MREMAP_FIXED,
/// MREMAP_DONTUNMAP) one mapping, as Linux does: a move takes the pages
/// along (no copy), growth is zeroed memory for anonymous mappings, the
/// file's pages for file mappings, the object's next pages for shared
/// ones. Errors are Linux's: EINVAL for bad
/// flags, an unaligned address, a zero length or overlapping ranges,
/// EFAULT when the old range is not one mapping, ENOMEM when it cannot
/// grow in place and may not move.
pub fn sys_mremap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const MREMAP_MAYMOVE: u64 = 1;
    const MREMAP_FIXED: u64 = 2;
    const MREMAP_DONTUNMAP: u64 = 4;
    let (old, flags, new_addr) = (a[0], a[3], a[4]);
    let may_move = flags & MREMAP_MAYMOVE != 0;
    let fixed = flags & MREMAP_FIXED != 0;
    let dont_unmap = flags & MREMAP_DONTUNMAP != 0;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || !page_aligned(old) {
        return Err(Errno::EINVAL);
    }
    if (fixed || dont_unmap) && !may_move {
        return Err(Errno::EINVAL);
    }
    let round = |len: u64| len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1)).ok_or(Errno::EINVAL);
    let (old_len, new_len) = (round(a[1])?, round(a[2])?);
    // old_len 0 duplicates a shared mapping on Linux; private ones are EINVAL.
    if new_len == 0 || old_len == 0 || (dont_unmap && old_len != new_len) {
        return Err(Errno::EINVAL);
    }
    let old_end = old.checked_add(old_len).filter(|&end| end <= USER_END).ok_or(Errno::EFAULT)?;
    if fixed {
        let overlaps = new_addr < old_end && old < new_addr.saturating_add(new_len);
        if !page_aligned(new_addr) || new_addr.checked_add(new_len).is_none_or(|end| end > USER_END) || overlaps {
            return Err(Errno::EINVAL);
        }
    }
    let mapping = ctx.process.memory.one_mapping(old, old_end)?;
    if dont_unmap && (mapping.file.is_some() || mapping.shared.is_some() || mapping.kind != RegionKind::Mapping) {
        return Err(Errno::EINVAL);
    }
    let result = mremap_checked(ctx, old, old_len, new_len, new_addr, flags, mapping);
    crate::proc::refresh_pkru(ctx.process);
    result
}

/// mremap past its argument checks (`mapping` is the one mapping at `old`).
fn mremap_checked(
    ctx: &mut Ctx<'_>,
    old: u64,
    old_len: u64,
    new_len: u64,
    new_addr: u64,
    flags: u64,
    mapping: crate::proc::memory::Region,
) -> SysResult {
    const MREMAP_MAYMOVE: u64 = 1;
    const MREMAP_FIXED: u64 = 2;
    const MREMAP_DONTUNMAP: u64 = 4;
    let may_move = flags & MREMAP_MAYMOVE != 0;
    let fixed = flags & MREMAP_FIXED != 0;
    let dont_unmap = flags & MREMAP_DONTUNMAP != 0;
    let old_end = old + old_len;
    let memory = &mut ctx.process.memory;
    // Shrinking in place (also the first step of a move to a smaller size).
    let kept = old_len.min(new_len);
    if new_len < old_len && !dont_unmap {
        memory.write_back(old + new_len, old_end);
        memory.unmap_range(old + new_len, old_end);
        if !fixed {
            return Ok(old);
        }
    }
    if new_len == old_len && !fixed && !dont_unmap {
        return Ok(old);
    }
    let grow = new_len - kept;
    let target = if fixed {
        memory.unmap_range(new_addr, new_addr + new_len);
        new_addr
    } else if !dont_unmap && memory.is_free(old_end, old + new_len) {
        old
    } else if may_move {
        memory.find_free(new_len)?
    } else {
        return Err(Errno::ENOMEM);
    };
    if grow > 0 && memory.vm_bytes().saturating_add(grow) > memory.as_limit {
        return Err(Errno::ENOMEM);
    }
    if target != old {
        memory.move_range(old, target, kept)?;
        if dont_unmap {
            // The old range stays, empty: zeroed memory on the next touch.
            memory.map_fresh(old, old + kept, mapping.prot, mapping.kind)?;
        }
    }
    if grow > 0 {
        let (start, end) = (target + kept, target + new_len);
        if let Some(shared) = mapping.shared {
            // The object's next pages, in the same shared domain.
            crate::mm::shared::join(shared.object);
            let backing = mapping.file.map(|file| FileBacking { offset: file.offset + kept, ..file });
            ctx.process.memory.map_shared(start, end, mapping.prot, backing, shared.advanced(kept))?;
        } else {
            match mapping.file {
                None => ctx.process.memory.map_fresh(start, end, mapping.prot, mapping.kind)?,
                Some(file) => {
                    let offset = file.offset + kept;
                    let backing = file_backing(ctx, file.id, offset, grow, mapping.prot.exec)?;
                    ctx.process.memory.map_file(start, end, mapping.prot, mapping.kind, backing)?;
                }
            }
        }
    }
    if mapping.prot.exec {
        // New neighbours for executable bytes: an instruction across an edge.
        let end = target + new_len;
        if let Err(error) = check_code_edges(ctx, target, end) {
            ctx.process.memory.unmap_range(target, end);
            return Err(error);
        }
    }
    Ok(target)
}
