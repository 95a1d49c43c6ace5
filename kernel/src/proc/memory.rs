//! A process's memory: its regions (image, heap, stack, mappings), mapping
//! fresh pages with the process key, and checked copies between the kernel
//! and the process. Every user pointer is checked against the caller's own
//! mappings: present, U/S=1, carrying the process's key, writable for writes;
//! anything else is EFAULT.
//!
//! Limits: the address-space size (RLIMIT_AS, `as_limit`), at most
//! `MAX_REGIONS` regions, and no mapping larger than the frames processes
//! may still take (`frame::user_available`): a huge length fails at once
//! with ENOMEM instead of taking all memory first. Work on a range is
//! proportional to what is mapped in it, never to its length.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use paging::{Attributes, PAGE_SIZE, PageSize, PageTableEntry, PhysAddr, PteFlags, VirtAddr};
use pkru::Key;
use syscall::Errno;

use crate::arch::paging::{AddressSpace, copy_frame, copy_from_phys, copy_to_phys, zero_frame};
use crate::mm::frame;
use crate::mm::pagecache::{self, CodeRange};

mod shared;
pub use shared::SharedRef;

/// User addresses are below this.
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// The initial stack ends here (the page above stays unmapped).
pub const STACK_TOP: u64 = 0x0000_7fff_ffff_f000;
/// Most the stack may grow to (RLIMIT_STACK's default).
pub const STACK_MAX: u64 = 8 << 20;
/// Pages of stack mapped before the program starts.
const STACK_INITIAL_PAGES: u64 = 32;
/// New mappings are placed downwards from here.
pub const MMAP_TOP: u64 = 0x0000_7f00_0000_0000;
/// Most regions a process may have (Linux's `vm.max_map_count`), so that
/// the kernel's records of them stay bounded.
pub const MAX_REGIONS: usize = 65530;

/// What became of a page fault (or a kernel access) the kernel tried to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The page is there now: resume.
    Served,
    /// The access is legitimate but no frame is left for it (the OOM killer's case).
    NoMemory,
    /// Not a page the process may have this way (SIGSEGV, EFAULT).
    Refused,
    /// A page of a file or shared mapping wholly past the end of its file
    /// (or of an anonymous object's size): SIGBUS, EFAULT for the kernel,
    /// as on Linux.
    PastEnd,
}

/// Access rights of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    pub const RW: Prot = Prot { read: true, write: true, exec: false };

    /// From PROT_* bits.
    pub fn from_bits(bits: u64) -> Prot {
        Prot { read: bits & 1 != 0, write: bits & 2 != 0, exec: bits & 4 != 0 }
    }
}

/// What a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    Image,
    Heap,
    Stack,
    Mapping,
    /// The vDSO image (`proc::vdso`): the kernel's frames, shared by all.
    Vdso,
    /// The vDSO's data page, written only by the kernel: never writable
    /// or executable in a process (mprotect: EACCES, as on Linux).
    Vvar,
    /// A read-only executable MAP_SHARED mapping of a file: served from the
    /// page cache as a private file mapping is (its bytes scanned for
    /// WRPKRU once), never writable (mprotect PROT_WRITE: EACCES), so no
    /// write through it can change code after the scan (docs/shared-memory.md).
    ExecSharedFile,
}

/// The file a region maps: its inode and the file offset at the region's
/// start; for a mapping made executable at mmap, the file range checked
/// for WRPKRU then, which its pages faulted in later come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileBacking {
    pub id: vfs::InodeId,
    pub offset: u64,
    pub code: Option<CodeRange>,
}

impl FileBacking {
    pub fn new(id: vfs::InodeId, offset: u64) -> FileBacking {
        FileBacking { id, offset, code: None }
    }

    /// The same file at the same offset (a mapping continues), whatever was checked.
    fn continues(&self, other: &FileBacking) -> bool {
        self.id == other.id && self.offset == other.offset
    }
}

/// Pages faulted in together from a file mapping (Linux's
/// `fault_around_bytes` is 64 KiB): a program touches its code and data in
/// runs, and one fault per page would cost more than the pages it skips.
/// 32 KiB measured best for `isola bench exec` (16 pages: 1 % more
/// instructions, each page mapped costs about 100 to map and release).
const FAULT_AROUND_PAGES: u64 = 8;

/// A range of the lower half `[start, end)`, page aligned.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub kind: RegionKind,
    /// The file mapped there (mmap of a file, a program's segment), if any.
    pub file: Option<FileBacking>,
    /// The shared object mapped there (MAP_SHARED), if any: its pages are
    /// the object's frames, tagged with its key, never copied on write.
    pub shared: Option<SharedRef>,
}

impl Region {
    /// The part `[start, end)` of this region (inside it), its file offset moved along.
    pub fn slice(&self, start: u64, end: u64) -> Region {
        let file = self.file.map(|f| FileBacking { offset: f.offset + (start - self.start), ..f });
        let shared = self.shared.map(|s| s.advanced(start - self.start));
        Region { start, end, file, shared, ..*self }
    }
}

/// A process's regions by start address, with the last one found by
/// address kept: page faults and user copies come in runs within one
/// region. Every change forgets it, so it is never stale.
#[derive(Clone, Default)]
struct RegionMap {
    map: BTreeMap<u64, Region>,
    last: core::cell::Cell<Option<Region>>,
}

impl RegionMap {
    /// The region containing `addr`.
    fn at(&self, addr: u64) -> Option<Region> {
        if let Some(region) = self.last.get()
            && region.start <= addr
            && addr < region.end
        {
            return Some(region);
        }
        let found = self.map.range(..=addr).next_back().map(|(_, r)| *r).filter(|r| addr < r.end);
        if found.is_some() {
            self.last.set(found);
        }
        found
    }

    fn insert(&mut self, start: u64, region: Region) -> Option<Region> {
        self.last.set(None);
        self.map.insert(start, region)
    }

    fn remove(&mut self, start: &u64) -> Option<Region> {
        self.last.set(None);
        self.map.remove(start)
    }

    fn clear(&mut self) {
        self.last.set(None);
        self.map.clear();
    }

    fn range_mut<R: core::ops::RangeBounds<u64>>(&mut self, range: R) -> alloc::collections::btree_map::RangeMut<'_, u64, Region> {
        self.last.set(None);
        self.map.range_mut(range)
    }

    fn range<R: core::ops::RangeBounds<u64>>(&self, range: R) -> alloc::collections::btree_map::Range<'_, u64, Region> {
        self.map.range(range)
    }

    fn values(&self) -> alloc::collections::btree_map::Values<'_, u64, Region> {
        self.map.values()
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The lower half of one process.
pub struct Memory {
    pub space: AddressSpace,
    pub key: Key,
    regions: RegionMap,
    pub brk_start: u64,
    pub brk: u64,
    /// Lowest address the stack may grow down to.
    pub stack_limit: u64,
    mmap_cursor: u64,
    /// Frames mapped in the lower half (the listing, and the OOM killer's measure).
    pub frames: u64,
    /// The most `frames` has been (getrusage's ru_maxrss).
    pub peak_frames: u64,
    /// RLIMIT_AS (soft) in bytes: the regions' total may not grow past it.
    pub as_limit: u64,
    /// The files regions here map, each held once (`fs::hold_mapped`) while
    /// any region maps it: their pages are faulted in from them.
    mapped_files: Vec<vfs::InodeId>,
    /// The shared objects mapped here (MAP_SHARED): the shared domains
    /// whose keys the process's PKRU opens besides its own.
    pub membership: pkru::shared::Membership,
    /// membarrier(2) registrations: Linux keeps them on the mm, so a fork
    /// child inherits them and execve (a new Memory) drops them.
    pub membarrier: ::process::membarrier::Registrations,
}

/// Pages of `len` bytes that would need frames with `prot` (none for PROT_NONE).
/// The frames `len` bytes of memory with `prot` may take once touched: a
/// frame per page and the page tables that map them (one per 2 MiB, and a
/// directory and a pointer table that the range may need). A mapping is
/// refused (ENOMEM) when these pass what processes may still take, so the
/// pages a process was given can all be touched: the tables of its last
/// pages would otherwise take the frames those pages need, and the touch
/// would go to the OOM killer instead of the mmap to ENOMEM.
fn accessible_pages(prot: Prot, len: u64) -> u64 {
    if len > 0 && (prot.read || prot.write || prot.exec) { len / PAGE_SIZE + len.div_ceil(2 << 20) + 2 } else { 0 }
}

fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

fn page_up(addr: u64) -> Option<u64> {
    addr.checked_add(PAGE_SIZE - 1).map(page_down)
}

impl Memory {
    /// What a vfork parent keeps while its child runs in its memory.
    pub fn lent(key: Key) -> Memory {
        Memory::new(AddressSpace::detached(), key)
    }

    pub fn new(space: AddressSpace, key: Key) -> Memory {
        Memory {
            space,
            key,
            regions: RegionMap::default(),
            brk_start: 0,
            brk: 0,
            stack_limit: STACK_TOP - STACK_MAX,
            mmap_cursor: MMAP_TOP,
            frames: 0,
            peak_frames: 0,
            as_limit: u64::MAX,
            membership: pkru::shared::Membership::new(),
            mapped_files: Vec::new(),
            membarrier: ::process::membarrier::Registrations::NONE,
        }
    }

    /// Holds `id` for the regions that are to map it.
    fn hold_file(&mut self, id: vfs::InodeId) {
        if !self.mapped_files.contains(&id) {
            crate::fs::hold_mapped(id);
            self.mapped_files.push(id);
        }
    }

    /// Lets go of the files of `gone` (regions just removed) that no region maps any more.
    fn release_unmapped_files(&mut self, gone: &[Region]) {
        for region in gone {
            let Some(file) = region.file else { continue };
            let still = self.regions.values().any(|r| r.file.is_some_and(|f| f.id == file.id));
            if !still && let Some(at) = self.mapped_files.iter().position(|&id| id == file.id) {
                self.mapped_files.swap_remove(at);
                crate::fs::release_mapped(file.id);
            }
        }
    }

    /// Bytes of all regions (Linux's total_vm, what RLIMIT_AS bounds).
    pub fn vm_bytes(&self) -> u64 {
        self.regions.values().map(|r| r.end - r.start).sum()
    }

    /// ENOMEM if `len` more bytes of regions would pass RLIMIT_AS or the
    /// region count limit.
    fn check_growth(&self, len: u64) -> Result<(), Errno> {
        // Summing the regions only matters under a limit (RLIMIT_AS is unlimited by default).
        let over_limit = self.as_limit != u64::MAX && self.vm_bytes().saturating_add(len) > self.as_limit;
        if self.regions.len() >= MAX_REGIONS || over_limit {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    fn attrs(&self, prot: Prot) -> Attributes {
        Attributes { writable: prot.write, executable: prot.exec, user: true, global: false, no_cache: false, key: self.key }
    }

    /// The regions in address order (for /proc/PID/maps).
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    /// The region containing `addr`.
    pub fn region_at(&self, addr: u64) -> Option<Region> {
        self.regions.at(addr)
    }

    /// Whether regions cover every byte of `[start, end)` (the ENOMEM test of
    /// mprotect and msync).
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.region_at(at) {
                Some(region) => at = region.end,
                None => return false,
            }
        }
        true
    }

    /// Whether any region overlaps `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.regions.range(..end).next_back().is_some_and(|(_, r)| r.end > start)
    }

    /// Records `[start, end)` (page aligned, free) as a region of zeroed
    /// memory. Its pages are mapped on first touch ([`Memory::demand_page`]),
    /// as Linux does: a page never touched costs no frame. A mapping larger
    /// than the frames left is refused at once (ENOMEM), as Linux's
    /// heuristic overcommit refuses one larger than memory.
    pub fn map_fresh(&mut self, start: u64, end: u64, prot: Prot, kind: RegionKind) -> Result<(), Errno> {
        if start >= end || end > USER_END || start < PAGE_SIZE {
            return Err(Errno::ENOMEM);
        }
        self.check_growth(end - start)?;
        if accessible_pages(prot, end - start) > frame::user_available() as u64 {
            return Err(Errno::ENOMEM);
        }
        self.regions.insert(start, Region { start, end, prot, kind, file: None, shared: None });
        Ok(())
    }

    /// An access to a page that is not mapped: inside a region that allows
    /// it, the page's first touch (a fresh zeroed frame); below the stack,
    /// stack growth; anything else is refused.
    pub fn demand_page(&mut self, addr: u64, write: bool, exec: bool) -> Fault {
        let Some(region) = self.region_at(addr) else { return self.grow_stack(addr) };
        let prot = region.prot;
        if !(prot.read || prot.write || prot.exec) || (write && !prot.write) || (exec && !prot.exec) {
            return Fault::Refused;
        }
        if let Some(shared) = region.shared {
            return self.demand_shared(addr, &region, shared);
        }
        if let Some(file) = region.file {
            return match self.fault_file_pages(&region, file, page_down(addr)) {
                Fault::Served if write => self.write_fault(addr),
                outcome => outcome,
            };
        }
        match self.map_page(page_down(addr), self.attrs(prot)) {
            Ok(()) => Fault::Served,
            Err(_) => Fault::NoMemory,
        }
    }

    /// Maps the page cache's frames around `page` of a file region: the
    /// aligned run of [`FAULT_AROUND_PAGES`] holding it, inside the region
    /// and the file, skipping pages mapped already. A page wholly past the
    /// end of the file is `PastEnd` (SIGBUS). An executable region's pages come from the range
    /// checked when it was mapped (checked again if the file changed since).
    fn fault_file_pages(&mut self, region: &Region, file: FileBacking, page: u64) -> Fault {
        let to_file = |at: u64| file.offset + (at - region.start);
        let window = FAULT_AROUND_PAGES * PAGE_SIZE;
        let mut start = (page & !(window - 1)).max(region.start);
        let mut end = (page & !(window - 1)).saturating_add(window).min(region.end);
        if let Some(code) = file.code {
            // Only the checked bytes' pages (mremap may have joined another range).
            start = start.max(region.start + code.offset.saturating_sub(file.offset));
            end = end.min((region.start + (code.offset + code.len)).saturating_sub(file.offset));
        } else if region.prot.exec {
            // Executable file pages that no check covers are never mapped
            // lazily: `populate` maps them before they turn executable.
            log::warn!("page fault at {page:#x} in executable file pages that were not checked");
            return Fault::Refused;
        }
        if !(start..end).contains(&page) {
            return Fault::Refused;
        }
        let id = file.id;
        let fetched = crate::fs::try_with(|fs| {
            let (data, generation) = fs.file_content(id)?;
            let file_pages = (data.len() as u64).div_ceil(PAGE_SIZE);
            let first = to_file(start) / PAGE_SIZE;
            let last = (to_file(end) / PAGE_SIZE).min(file_pages);
            if to_file(page) / PAGE_SIZE >= file_pages {
                return Ok(None);
            }
            let count = last.saturating_sub(first);
            let frames = match file.code {
                None => pagecache::frames(id, generation, &data, first, count)?,
                Some(code) => pagecache::exec_frames(id, generation, &data, code, first, count, |bytes| {
                    // The file changed since it was mapped: its new bytes
                    // are checked as the old ones were.
                    pagecache::neutralize_code(bytes).err().map(|refusal| refusal.at())
                })
                .map_err(|refused| match refused {
                    Ok(at) => {
                        log::warn!(
                            "refused to fault in executable file pages at {page:#x}: WRPKRU (0F 01 EF) at file offset {at:#x} (the file changed since it was mapped)"
                        );
                        Errno::EACCES
                    }
                    Err(errno) => errno,
                })?,
            };
            Ok::<_, Errno>(Some(frames))
        });
        let frames = match fetched {
            None => {
                log::warn!("page fault at {page:#x} in a file mapping while the kernel holds the file system");
                return Fault::Refused;
            }
            Some(Err(Errno::ENOMEM)) => return Fault::NoMemory,
            Some(Err(_)) => return Fault::Refused,
            // Wholly past the end of the file: SIGBUS, as on Linux.
            Some(Ok(None)) => return Fault::PastEnd,
            Some(Ok(Some(frames))) => frames,
        };
        let attrs = Attributes { writable: false, ..self.attrs(region.prot) };
        let (mapped, outcome) = self.space.map_absent(start, &frames, attrs, frame::release);
        self.frames += mapped as u64;
        self.peak_frames = self.peak_frames.max(self.frames);
        match outcome {
            Ok(()) => Fault::Served,
            Err(_) => Fault::NoMemory,
        }
    }

    /// Maps `frames` (each with a reference taken for this mapping, as
    /// `mm::pagecache` hands them out) from `start` on, read-only whatever
    /// `prot` says (they are shared: a write copies first), and records the
    /// region; the rest up to `end` is zeroed memory mapped on first touch.
    /// PROT_NONE parks the frames (kept, not present). On failure nothing
    /// stays mapped and every reference is given back.
    pub fn map_frames(
        &mut self,
        start: u64,
        end: u64,
        prot: Prot,
        kind: RegionKind,
        file: Option<FileBacking>,
        frames: Vec<PhysAddr>,
    ) -> Result<(), Errno> {
        let shared_end = start.saturating_add(frames.len() as u64 * PAGE_SIZE).min(end);
        let checked = if start >= end || end > USER_END || start < PAGE_SIZE {
            Err(Errno::ENOMEM)
        } else {
            self.check_growth(end - start)
        };
        if let Err(error) = checked.and_then(|()| {
            if accessible_pages(prot, end - shared_end) > frame::user_available() as u64 { Err(Errno::ENOMEM) } else { Ok(()) }
        }) {
            frames.into_iter().for_each(frame::release);
            return Err(error);
        }
        let accessible = prot.read || prot.write || prot.exec;
        let attrs = Attributes { writable: false, ..self.attrs(if accessible { prot } else { Prot { read: true, ..prot } }) };
        let fit = (((end - start) / PAGE_SIZE) as usize).min(frames.len());
        let (mapped, outcome) = self.space.map_absent(start, &frames[..fit], attrs, frame::release);
        self.frames += mapped as u64;
        // Frames past `end` go back (map_absent gave back those it did not map).
        frame::release_all(&frames[fit..]);
        // The rest (past the end of the file) is zeros on first touch.
        let failed = outcome.err().map(|_| Errno::ENOMEM);
        if let Some(error) = failed {
            self.unmap_pages(start, end);
            return Err(error);
        }
        if !accessible {
            // PROT_NONE keeps the file's pages, parked, for a later mprotect.
            self.space.park_present(start, end);
        }
        self.peak_frames = self.peak_frames.max(self.frames);
        self.regions.insert(start, Region { start, end, prot, kind, file, shared: None });
        Ok(())
    }

    /// Records `[start, end)` as a mapping of `file` (held from now on):
    /// its pages are the page cache's, faulted in on first touch a run at a
    /// time ([`Memory::demand_page`]), read-only whatever `prot` says (a
    /// write copies first); a page wholly past the end of the file is SIGBUS.
    pub fn map_file(&mut self, start: u64, end: u64, prot: Prot, kind: RegionKind, file: FileBacking) -> Result<(), Errno> {
        if start >= end || end > USER_END || start < PAGE_SIZE {
            return Err(Errno::ENOMEM);
        }
        self.check_growth(end - start)?;
        self.hold_file(file.id);
        self.regions.insert(start, Region { start, end, prot, kind, file: Some(file), shared: None });
        Ok(())
    }

    /// Faults in every page of file regions in `[start, end)` that is not
    /// mapped yet (a file's pages about to turn executable, or read by the
    /// WRPKRU checks, must be there to be looked at; anonymous pages not
    /// mapped are zeros, which hold no WRPKRU).
    pub fn populate_file_pages(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let regions: Vec<Region> =
            self.regions.range(..end).map(|(_, r)| *r).filter(|r| r.end > start && r.file.is_some()).collect();
        for region in regions {
            if !(region.prot.read || region.prot.write || region.prot.exec) {
                continue;
            }
            let mut page = page_down(start).max(region.start);
            while page < end.min(region.end) {
                if self.space.next_with_frame(page, page + PAGE_SIZE).is_none() {
                    match self.demand_page(page, false, false) {
                        // Past the end of the file: nothing there to check.
                        Fault::Served | Fault::PastEnd => {}
                        Fault::NoMemory => return Err(Errno::ENOMEM),
                        Fault::Refused => return Err(Errno::EFAULT),
                    }
                }
                page += PAGE_SIZE;
            }
        }
        Ok(())
    }

    /// Maps fresh pages over the parts of `[start, end)` that no region
    /// covers yet (segments sharing a page). Work per region, not per page.
    pub fn map_fresh_gaps(&mut self, start: u64, end: u64, prot: Prot, kind: RegionKind) -> Result<(), Errno> {
        let mut at = start;
        while at < end {
            if let Some(region) = self.region_at(at) {
                at = region.end;
                continue;
            }
            let gap_end = self.regions.range(at..end).next().map_or(end, |(&next, _)| next);
            self.map_fresh(at, gap_end, prot, kind)?;
            at = gap_end;
        }
        Ok(())
    }

    fn map_page(&mut self, page: u64, attrs: Attributes) -> Result<(), Errno> {
        let frame = frame::allocate_user().map_err(|_| Errno::ENOMEM)?;
        zero_frame(frame);
        match self.space.map(VirtAddr::new(page), frame, PageSize::Size4K, attrs) {
            Ok(()) => {
                self.frames += 1;
                self.peak_frames = self.peak_frames.max(self.frames);
                Ok(())
            }
            Err(paging::MapError::AlreadyMapped) => {
                frame::free(frame);
                Ok(())
            }
            Err(_) => {
                frame::free(frame);
                Err(Errno::ENOMEM)
            }
        }
    }

    /// Unmaps the pages of `[start, end)` (skipping absent tables).
    fn unmap_pages(&mut self, start: u64, end: u64) {
        let mut freed = 0;
        let mut batch = frame::ReleaseBatch::new();
        self.space.unmap_range(start, end, |frame| {
            batch.push(frame);
            freed += 1;
        });
        drop(batch);
        self.frames = self.frames.saturating_sub(freed);
    }

    /// Takes `[start, end)` out of the region map, keeping the parts of the
    /// regions outside it, and returns the regions it overlapped.
    fn carve(&mut self, start: u64, end: u64) -> Vec<Region> {
        let affected: Vec<Region> =
            self.regions.range(..end).map(|(_, r)| *r).filter(|r| r.end > start).collect();
        for region in &affected {
            self.regions.remove(&region.start);
            if region.start < start {
                self.regions.insert(region.start, region.slice(region.start, start));
            }
            if region.end > end {
                self.regions.insert(end, region.slice(end, region.end));
            }
        }
        affected
    }

    /// Removes every mapping in `[start, end)`, splitting regions at the
    /// edges; only the parts of regions in it are walked.
    pub fn unmap_range(&mut self, start: u64, end: u64) {
        let mut shared = Vec::new();
        let gone = self.carve(start, end);
        for region in &gone {
            self.unmap_pages(region.start.max(start), region.end.min(end));
            shared.extend(region.shared.map(|s| s.object));
        }
        if !shared.is_empty() {
            self.leave_unmapped_objects(&mut shared);
        }
        self.release_unmapped_files(&gone);
    }

    /// Changes the rights of `[start, end)`; every page must be in a region.
    /// Pages already mapped are visited through the page tables; new pages
    /// (PROT_NONE turning accessible) are refused up front when memory
    /// cannot hold them.
    pub fn protect_range(&mut self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        if !self.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        if (prot.write || prot.exec) && self.regions.range(..end).any(|(_, r)| r.end > start && r.kind == RegionKind::Vvar) {
            return Err(Errno::EACCES);
        }
        if prot.write && self.regions.range(..end).any(|(_, r)| r.end > start && r.kind == RegionKind::ExecSharedFile) {
            return Err(Errno::EACCES);
        }
        self.check_shared_protect(start, end, prot)?;
        let accessible = prot.read || prot.write || prot.exec;
        let len_pages = (end - start) / PAGE_SIZE;
        if accessible && len_pages.saturating_sub(self.frames) > frame::user_available() as u64 {
            return Err(Errno::ENOMEM);
        }
        let mut shared_pieces = Vec::new();
        for region in self.carve(start, end) {
            let (s, e) = (region.start.max(start), region.end.min(end));
            self.regions.insert(s, Region { prot, ..region.slice(s, e) });
            if let Some(shared) = region.shared {
                shared_pieces.push((s, e, shared));
            }
        }
        if !accessible {
            // x86 has no "present but inaccessible" leaf: PROT_NONE pages
            // are parked (not present, frame kept) and come back with their
            // contents when access does.
            self.space.park_present(start, end);
            return Ok(());
        }
        let attrs = self.attrs(prot);
        // A shared page stays copy-on-write: read-only until written. Pages
        // not mapped yet are mapped on first touch.
        self.space
            .protect_present(start, end, |frame| {
                if prot.write && frame::is_shared(frame) { Attributes { writable: false, ..attrs } } else { attrs }
            })
            .map_err(|_| Errno::ENOMEM)?;
        // MAP_SHARED pages are never copy-on-write: their own key, writable as asked.
        for (s, e, shared) in shared_pieces {
            self.protect_shared(s, e, prot, shared)?;
        }
        Ok(())
    }

    /// The one mapping `[start, end)` lies in, for mremap: regions that
    /// cover it without a gap, of one kind and rights, their file offsets
    /// running on (what Linux would hold as one VMA). Returns its first
    /// piece's attributes sliced at `start`; EFAULT otherwise, as Linux.
    pub fn one_mapping(&self, start: u64, end: u64) -> Result<Region, Errno> {
        let first = self.region_at(start).ok_or(Errno::EFAULT)?.slice(start, start);
        let mut at = start;
        while at < end {
            let piece = self.region_at(at).ok_or(Errno::EFAULT)?;
            let expected = first.file.map(|f| FileBacking { offset: f.offset + (at - start), ..f });
            let expected_shared = first.shared.map(|s| s.advanced(at - start));
            let sliced = piece.slice(at, at);
            let continues = match (sliced.file, expected) {
                (Some(a), Some(b)) => a.continues(&b),
                (a, b) => a == b,
            };
            if piece.kind != first.kind || piece.prot != first.prot || !continues || sliced.shared != expected_shared {
                return Err(Errno::EFAULT);
            }
            at = piece.end;
        }
        Ok(Region { end, ..first })
    }

    /// Moves the pages and regions of `[from, from + len)` to `to` (free):
    /// mremap's move. The frames go along (nothing is copied); on failure
    /// nothing moved.
    pub fn move_range(&mut self, from: u64, to: u64, len: u64) -> Result<(), Errno> {
        if to < PAGE_SIZE || to.checked_add(len).is_none_or(|end| end > USER_END) || self.overlaps(to, to + len) {
            return Err(Errno::ENOMEM);
        }
        self.space.move_leaves(from, to, len).map_err(|_| Errno::ENOMEM)?;
        for piece in self.carve(from, from + len) {
            let (s, e) = (piece.start.max(from), piece.end.min(from + len));
            let moved = piece.slice(s, e);
            self.regions.insert(to + (s - from), Region { start: to + (s - from), end: to + (e - from), ..moved });
        }
        self.space.flush_all();
        Ok(())
    }

    /// Records that the regions in `[start, end)` without a file hold the
    /// file's bytes from `file` (at `start`) on: a program segment's pages
    /// that are copies, for /proc/PID/maps.
    pub fn set_backing(&mut self, start: u64, end: u64, file: FileBacking) {
        self.hold_file(file.id);
        for region in self.regions.range_mut(start..end).map(|(_, r)| r) {
            if region.file.is_none() && region.end <= end {
                region.file = Some(FileBacking { offset: file.offset + (region.start - start), ..file });
            }
        }
    }

    /// Whether `[start, end)` is free and inside the lower half.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        start >= PAGE_SIZE && start < end && end <= USER_END && !self.overlaps(start, end)
    }

    /// A free range of `len` bytes for a new mapping, below the last one.
    pub fn find_free(&mut self, len: u64) -> Result<u64, Errno> {
        let mut candidate = self.mmap_cursor.checked_sub(len).ok_or(Errno::ENOMEM)?;
        loop {
            if candidate < self.brk.max(PAGE_SIZE * 16) {
                return Err(Errno::ENOMEM);
            }
            match self.regions.range(..candidate + len).next_back() {
                Some((_, r)) if r.end > candidate => {
                    candidate = r.start.checked_sub(len).ok_or(Errno::ENOMEM)?;
                }
                _ => {
                    self.mmap_cursor = candidate;
                    return Ok(candidate);
                }
            }
        }
    }

    /// Moves the top of the mmap area down by `offset` (page-aligned; ASLR).
    pub fn randomize_mmap_base(&mut self, offset: u64) {
        self.mmap_cursor = MMAP_TOP.saturating_sub(offset & !(PAGE_SIZE - 1));
    }

    /// Sets up the stack region and maps its first pages.
    pub fn map_stack(&mut self) -> Result<(), Errno> {
        let start = STACK_TOP - STACK_INITIAL_PAGES * PAGE_SIZE;
        self.map_fresh(start, STACK_TOP, Prot::RW, RegionKind::Stack)
    }

    /// Grows the stack down to the page holding `addr`, if it is in the
    /// stack's reach (and RLIMIT_AS allows).
    pub fn grow_stack(&mut self, addr: u64) -> Fault {
        let Some(stack) = self.regions.values().find(|r| r.kind == RegionKind::Stack).copied() else {
            return Fault::Refused;
        };
        if addr >= stack.start || addr < self.stack_limit {
            return Fault::Refused;
        }
        let new_start = page_down(addr);
        if self.overlaps(new_start, stack.start) {
            return Fault::Refused;
        }
        if self.vm_bytes().saturating_add(stack.start - new_start) > self.as_limit {
            return Fault::Refused;
        }
        let attrs = self.attrs(stack.prot);
        // Mapped from the top down, so that what was mapped before a
        // failure extends the region without a hole.
        let mut page = stack.start;
        let mut outcome = Fault::Served;
        while page > new_start {
            if self.map_page(page - PAGE_SIZE, attrs).is_err() {
                outcome = Fault::NoMemory;
                break;
            }
            page -= PAGE_SIZE;
        }
        if page < stack.start {
            self.regions.remove(&stack.start);
            self.regions.insert(page, Region { start: page, ..stack });
        }
        outcome
    }

    /// Moves the program break (brk). Returns the new break (the old one on failure, as Linux).
    pub fn set_brk(&mut self, requested: u64) -> u64 {
        if requested < self.brk_start {
            return self.brk;
        }
        let old_end = page_up(self.brk).unwrap_or(self.brk);
        let Some(new_end) = page_up(requested) else { return self.brk };
        if new_end > old_end {
            if new_end > self.mmap_cursor || self.overlaps(old_end, new_end) {
                return self.brk;
            }
            if self.map_fresh(old_end, new_end, Prot::RW, RegionKind::Heap).is_err() {
                return self.brk;
            }
        } else if new_end < old_end {
            self.unmap_range(new_end, old_end);
        }
        self.brk = requested;
        requested
    }

    /// Resolves one user page for an access: present, U/S=1, this process's
    /// key, writable if `write` (breaking copy-on-write sharing). Grows the
    /// stack on demand.
    fn resolve(&mut self, addr: u64, write: bool) -> Result<PhysAddr, Errno> {
        if addr >= USER_END {
            return Err(Errno::EFAULT);
        }
        let virt = VirtAddr::new(addr);
        let writable = |leaf: PageTableEntry| leaf.flags().contains(PteFlags::WRITABLE);
        let (mut leaf, mut phys) = match self.space.translate_leaf(virt) {
            Some(found) => found,
            None => match self.demand_page(addr, write, false) {
                Fault::Served => self.space.translate_leaf(virt).ok_or(Errno::EFAULT)?,
                Fault::NoMemory => return Err(Errno::ENOMEM),
                Fault::Refused | Fault::PastEnd => return Err(Errno::EFAULT),
            },
        };
        if write && !writable(leaf) {
            match self.write_fault(addr) {
                Fault::Served => (leaf, phys) = self.space.translate_leaf(virt).ok_or(Errno::EFAULT)?,
                Fault::NoMemory => return Err(Errno::ENOMEM),
                Fault::Refused | Fault::PastEnd => {}
            }
        }
        if !leaf.flags().contains(PteFlags::USER) || !self.membership.opens(self.key, leaf.key()) || (write && !writable(leaf)) {
            return Err(Errno::EFAULT);
        }
        Ok(phys)
    }

    /// A write to a present read-only page: if its region is writable the page
    /// is copy-on-write; give it its own frame (or take the frame over when
    /// nobody else maps it).
    pub fn write_fault(&mut self, addr: u64) -> Fault {
        let Some(region) = self.region_at(addr) else { return Fault::Refused };
        if !region.prot.write {
            return Fault::Refused;
        }
        if let Some(shared) = region.shared {
            return self.write_fault_shared(addr, &region, shared);
        }
        let page = VirtAddr::new(page_down(addr));
        let Some(translation) = self.space.translate(page) else { return Fault::Refused };
        let attrs = self.attrs(region.prot);
        let old = PhysAddr::new(translation.phys.as_u64() & !(PAGE_SIZE - 1));
        if !frame::is_shared(old) {
            return if self.space.protect(page, attrs).is_ok() { Fault::Served } else { Fault::Refused };
        }
        let Ok(new) = frame::allocate_user() else { return Fault::NoMemory };
        copy_frame(old, new);
        // Swap the leaf in place (keeping the tables), then flush the page.
        self.space.unmap_range_keep_tables(page.as_u64(), page.as_u64() + PAGE_SIZE, |_| {});
        if self.space.map(page, new, PageSize::Size4K, attrs).is_err() {
            frame::free(new);
            return Fault::Refused;
        }
        self.space.flush_page(page);
        frame::release(old);
        Fault::Served
    }

    /// The child's copy of this memory for fork: the same frames, shared
    /// copy-on-write (read-only in both until one writes), tagged with the
    /// child's key in the child's own tables.
    pub fn fork(&mut self, space: AddressSpace, key: Key) -> Result<Memory, Errno> {
        let mut child = Memory {
            space,
            key,
            regions: self.regions.clone(),
            brk_start: self.brk_start,
            brk: self.brk,
            stack_limit: self.stack_limit,
            mmap_cursor: self.mmap_cursor,
            frames: 0,
            peak_frames: 0,
            as_limit: self.as_limit,
            membership: self.fork_membership(),
            mapped_files: self.mapped_files.clone(),
            membarrier: self.membarrier,
        };
        child.mapped_files.iter().for_each(|&id| crate::fs::hold_mapped(id));
        // MAP_SHARED pages are not copied: the child maps the objects'
        // frames on first touch, as any member does.
        let regions: Vec<(u64, u64)> = self.regions.values().filter(|r| r.shared.is_none()).map(|r| (r.start, r.end)).collect();
        let mut shared = 0;
        for (start, end) in regions {
            let result = self.space.share_cow_into(&mut child.space, start, end, key, |parent, child| {
                shared += frame::with_shares(|shares| paging::cow_copy(parent, child, key, |leaf| shares.add(leaf))) as u64;
            });
            // A failed copy's counts are up for what the child maps, which
            // its release drops.
            if result.is_err() {
                child.frames = shared;
                child.release();
                self.space.flush_all();
                return Err(Errno::ENOMEM);
            }
        }
        child.frames = shared;
        child.peak_frames = shared;
        self.space.flush_all();
        Ok(child)
    }

    /// The frames mapped here that other mappings share too (fork's copy on
    /// write, the page cache's file pages), and those only this process
    /// maps: the memory listing's split. Walks the present pages.
    pub fn frames_by_sharing(&self) -> (u64, u64) {
        let (mut shared, mut private) = (0, 0);
        for region in self.regions.values() {
            let mut next = region.start;
            while let Some((page, frame)) = self.space.next_with_frame(next, region.end) {
                next = page + PAGE_SIZE;
                if frame::is_shared(frame) {
                    shared += 1;
                } else {
                    private += 1;
                }
            }
        }
        (shared, private)
    }

    /// Copies the process's bytes at `addr` into `buf`.
    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let chunk = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(buf.len() - done);
            let phys = self.resolve(at, false)?;
            copy_from_phys(phys, &mut buf[done..done + chunk]);
            done += chunk;
        }
        Ok(())
    }

    /// Copies `data` to the process's memory at `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < data.len() {
            let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let chunk = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(data.len() - done);
            let phys = self.resolve(at, true)?;
            copy_to_phys(phys, &data[done..done + chunk]);
            done += chunk;
        }
        Ok(())
    }

    /// Writes into the process's pages regardless of their rights (loading
    /// the image into read-only or executable pages).
    pub fn fill(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let chunk = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(data.len() - done);
            let virt = VirtAddr::new(at);
            let translation = match self.space.translate(virt) {
                Some(translation) => translation,
                None => match self.demand_page(at, false, false) {
                    Fault::Served => self.space.translate(virt).ok_or(Errno::EFAULT)?,
                    Fault::NoMemory => return Err(Errno::ENOMEM),
                    Fault::Refused | Fault::PastEnd => return Err(Errno::EFAULT),
                },
            };
            // A shared frame (the page cache's) is never written through.
            if frame::is_shared(PhysAddr::new(translation.phys.as_u64() & !(PAGE_SIZE - 1))) {
                return Err(Errno::EFAULT);
            }
            copy_to_phys(translation.phys, &data[done..done + chunk]);
            done += chunk;
        }
        Ok(())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (ENAMETOOLONG beyond).
    pub fn read_cstr(&mut self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE_SIZE - at % PAGE_SIZE) as usize;
            let mut page = [0u8; 256];
            let take = chunk.min(page.len());
            self.read(at, &mut page[..take])?;
            if let Some(end) = memchr::memchr(0, &page[..take]) {
                out.extend_from_slice(&page[..end]);
                return Ok(out);
            }
            out.extend_from_slice(&page[..take]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at += take as u64;
        }
    }

    /// Feeds the mapped pages of `[start, end)` to a WRPKRU scan, one page at
    /// a time (no copy of the range: its length is the caller's), and
    /// returns the first hit. Unmapped pages read as zeros, which no WRPKRU
    /// contains: the scan is told of the gap, so nothing carries over it.
    /// The work is proportional to the pages present, not to the range.
    pub fn scan_present(&mut self, start: u64, end: u64, scan: &mut pkru::scan::StreamScan) -> Option<u64> {
        let mut page_buf = [0u8; PAGE_SIZE as usize];
        let mut expected = start;
        let mut next = start;
        // Parked pages (PROT_NONE) count: their bytes come back with access.
        while let Some((page, frame)) = self.space.next_with_frame(next, end) {
            next = page + PAGE_SIZE;
            if page != expected {
                scan.gap();
            }
            expected = next;
            copy_from_phys(frame, &mut page_buf);
            if let Some(hit) = scan.feed(page, &page_buf) {
                return Some(hit);
            }
        }
        if expected != end {
            scan.gap();
        }
        None
    }

    /// Copies the bytes at `addr` into `buf` whatever their rights (present
    /// or parked pages; zeros where nothing is mapped): the kernel's own look
    /// at code, for the WRPKRU checks.
    pub fn peek(&self, addr: u64, buf: &mut [u8]) {
        for (i, byte) in buf.iter_mut().enumerate() {
            let at = addr.wrapping_add(i as u64);
            let page = page_down(at);
            *byte = match self.space.next_with_frame(page, page + PAGE_SIZE) {
                Some((p, frame)) if p == page => {
                    let mut one = [0u8; 1];
                    copy_from_phys(PhysAddr::new(frame.as_u64() + (at - page)), &mut one);
                    one[0]
                }
                _ => 0,
            };
        }
    }

    /// Frees every page of the lower half.
    pub fn release(&mut self) {
        // Leaves first (a few reads per page), then each table once: cheaper
        // than unmapping page by page, which checks every table for emptiness.
        let ranges: Vec<(u64, u64)> = self.regions.values().map(|r| (r.start, r.end)).collect();
        let mut freed = 0;
        self.space.release_user(&ranges, |entries| freed += frame::release_entries(entries) as u64);
        self.space.flush_all();
        self.frames = self.frames.saturating_sub(freed);
        self.regions.clear();
        self.leave_all_objects();
        for id in core::mem::take(&mut self.mapped_files) {
            crate::fs::release_mapped(id);
        }
    }
}
