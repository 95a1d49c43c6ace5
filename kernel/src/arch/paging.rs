//! Page tables in physical memory: the `PageTableMemory` the `paging` crate
//! walks, reached through the direct map, and the one `AddressSpace` type.

use core::sync::atomic::{AtomicU64, Ordering};

use paging::{
    Attributes, MapError, PageSize, PageTableEntry, PageTableMemory, PhysAddr, PteFlags, Translation,
    VirtAddr,
};

use super::layout::{DIRECT_MAP_BASE, KERNEL_VMA};

/// Virtual address of physical 0. Starts as the early boot alias (first GiB at
/// `KERNEL_VMA`) and becomes `DIRECT_MAP_BASE` once the kernel's tables are live.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(KERNEL_VMA);

/// The kernel virtual address of a physical address.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
}

/// Page-table memory reached through the direct map; new tables come from the
/// global frame allocator, as a process's frames (`allocate_user`: after
/// boot every new table is for a process, its pages or its kernel stack).
pub struct DirectMap;

impl PageTableMemory for DirectMap {
    fn read_entry(&self, table: PhysAddr, index: usize) -> PageTableEntry {
        let ptr = (phys_to_virt(table).as_u64() + (index as u64 & 511) * 8) as *const u64;
        // SAFETY: `table` is a page-table frame the walker reached from a live root;
        // every RAM frame is mapped at PHYS_OFFSET, and the index is masked to the table.
        PageTableEntry::from_raw(unsafe { ptr.read_volatile() })
    }

    fn write_entry(&mut self, table: PhysAddr, index: usize, entry: PageTableEntry) {
        let ptr = (phys_to_virt(table).as_u64() + (index as u64 & 511) * 8) as *mut u64;
        // SAFETY: as in read_entry; the caller holds the address space exclusively (&mut).
        unsafe { ptr.write_volatile(entry.raw()) };
    }

    fn alloc_table(&mut self) -> Result<PhysAddr, MapError> {
        let frame = crate::mm::frame::allocate_user().map_err(|_| MapError::OutOfMemory)?;
        zero_frame(frame);
        Ok(frame)
    }

    fn free_table(&mut self, table: PhysAddr) {
        crate::mm::frame::free(table);
    }
}

/// Runs `f` on the 512 entries of the page table at `table`, as a slice:
/// the loops over a whole table (fork's copy, the release at exit) then
/// index memory directly instead of computing each entry's address.
#[inline(always)]
fn with_entries<R>(table: PhysAddr, f: impl FnOnce(&mut [u64; 512]) -> R) -> R {
    let entries = phys_to_virt(table).as_u64() as *mut [u64; 512];
    // SAFETY: `table` is a page-table frame the caller reached from a live
    // root it holds exclusively (&mut AddressSpace), mapped at PHYS_OFFSET,
    // page-aligned; the slice lives only for `f`, and no other reference to
    // the table exists meanwhile (the CPU's walks read it, as ever).
    f(unsafe { &mut *entries })
}

/// As [`with_entries`], for two different tables at once (a parent's and a
/// child's).
#[inline(always)]
fn with_two_tables<R>(a: PhysAddr, b: PhysAddr, f: impl FnOnce(&mut [u64; 512], &mut [u64; 512]) -> R) -> R {
    assert!(a != b, "one page table as two");
    let first = phys_to_virt(a).as_u64() as *mut [u64; 512];
    let second = phys_to_virt(b).as_u64() as *mut [u64; 512];
    // SAFETY: as in with_entries; the two frames differ (checked above), so
    // this slice and the next do not overlap.
    let first = unsafe { &mut *first };
    // SAFETY: as for `first`, of the other frame.
    let second = unsafe { &mut *second };
    f(first, second)
}

/// The first slot in `[from, last]` of the page table `table` whose entry
/// is not all zeros (four at a time past empty runs).
#[inline(always)]
fn next_occupied(table: PhysAddr, from: usize, last: usize) -> Option<usize> {
    let entries = phys_to_virt(table).as_u64() as *const u64;
    let read = |i: usize| {
        // SAFETY: `table` is a page-table frame the caller reached from a
        // live root, mapped at PHYS_OFFSET, and `i` is at most `last` < 512.
        // A raw read, no reference: the visitors write entries meanwhile.
        unsafe { entries.add(i).read() }
    };
    let last = last.min(511);
    let mut i = from;
    while i + 3 <= last {
        if read(i) | read(i + 1) | read(i + 2) | read(i + 3) != 0 {
            break;
        }
        i += 4;
    }
    while i <= last {
        if read(i) != 0 {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Fills a frame with zeros.
pub fn zero_frame(frame: PhysAddr) {
    // SAFETY: the frame was just handed out by the frame allocator, so nothing
    // else uses it, and it is mapped at PHYS_OFFSET.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame).as_u64() as *mut u8, 0, 4096) };
}

#[cfg(feature = "ktest")]
/// Reads a u64 from a physical address (in-kernel tests).
pub fn phys_read_u64(phys: PhysAddr) -> u64 {
    // SAFETY: every RAM frame is mapped at PHYS_OFFSET; reads have no side effects on RAM.
    unsafe { (phys_to_virt(phys).as_u64() as *const u64).read_volatile() }
}

#[cfg(feature = "ktest")]
/// Writes a u64 to a physical address the caller owns (in-kernel tests).
pub fn phys_write_u64(phys: PhysAddr, value: u64) {
    // SAFETY: the caller owns the frame (allocated by it); it is mapped at PHYS_OFFSET.
    unsafe { (phys_to_virt(phys).as_u64() as *mut u64).write_volatile(value) };
}

/// One page-table tree (CR3 root). `map`, `unmap`, `protect` and `translate`
/// are safe; only `activate` is not.
pub struct AddressSpace {
    root: PhysAddr,
}

impl AddressSpace {
    /// An empty address space with a fresh root table.
    pub fn new() -> Result<Self, MapError> {
        Ok(AddressSpace { root: DirectMap.alloc_table()? })
    }

    /// The physical address of the root table.
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    pub fn map(&mut self, virt: VirtAddr, phys: PhysAddr, size: PageSize, attrs: Attributes) -> Result<(), MapError> {
        let attrs = supervisor_if_kernel(virt, attrs);
        let result = paging::map(&mut DirectMap, self.root, virt, phys, size, attrs);
        // `paging::map` widens the tables above the leaf to USER; at
        // `strict` the kernel half's top-level entries must stay
        // supervisor-only, or a later address space would copy a U=1 entry
        // over pages mapped before boot made them supervisor (the boot
        // stack), and SMAP would fault the kernel on its own stack.
        keep_kernel_root_supervisor(self.root, virt);
        result
    }

    pub fn unmap(&mut self, virt: VirtAddr) -> Result<(PhysAddr, PageSize), MapError> {
        let result = paging::unmap(&mut DirectMap, self.root, virt)?;
        flush(virt);
        Ok(result)
    }

    pub fn protect(&mut self, virt: VirtAddr, attrs: Attributes) -> Result<PageSize, MapError> {
        let attrs = supervisor_if_kernel(virt, attrs);
        let size = paging::protect(&mut DirectMap, self.root, virt, attrs)?;
        flush(virt);
        Ok(size)
    }

    pub fn translate(&self, virt: VirtAddr) -> Option<Translation> {
        // A detached space (a vfork parent's while its child runs in its
        // memory) has no tables: walking physical page 0 as a root would
        // follow garbage.
        if self.is_detached() {
            return None;
        }
        paging::translate(&DirectMap, self.root, virt)
    }

    /// [`Self::translate`] without decoding the leaf's rights: the leaf and
    /// the exact physical address (the user copies' check).
    #[inline]
    pub fn translate_leaf(&self, virt: VirtAddr) -> Option<(PageTableEntry, PhysAddr)> {
        if self.is_detached() {
            return None;
        }
        paging::translate_leaf(&DirectMap, self.root, virt).map(|(leaf, phys, _)| (leaf, phys))
    }

    /// Whether this is the placeholder of `detached` (no tables at all).
    pub fn is_detached(&self) -> bool {
        self.root.as_u64() == 0
    }

    /// Loads this address space into CR3 and, the first time, moves
    /// `phys_to_virt` from the boot alias to the direct map.
    ///
    /// # Safety
    /// The tables must map the running code, the current stack, and every
    /// static and frame the kernel touches afterwards (kernel image, direct map).
    pub unsafe fn activate(&self) {
        if super::cpu::read_cr3() != self.root.as_u64() {
            // SAFETY: the caller guarantees the new tables cover everything in use.
            unsafe { x86::controlregs::cr3_write(self.root.as_u64()) };
        }
        PHYS_OFFSET.store(DIRECT_MAP_BASE, Ordering::Relaxed);
    }
}

/// Drops the TLB entry of one page on this CPU.
fn flush(virt: VirtAddr) {
    // SAFETY: invlpg only drops a cached translation.
    unsafe { x86::tlb::flush(virt.as_u64() as usize) };
}

/// Walks the active tables (CR3) without any lock: for the fault reporter and
/// backtraces, which may run while an `AddressSpace` is being changed.
pub fn translate_current(virt: VirtAddr) -> Option<Translation> {
    paging::translate(&DirectMap, PhysAddr::new(super::cpu::read_cr3()), virt)
}

/// Switches to the kernel's address space after checking that it maps what the
/// CPU uses next: the running code, the current stack, and the new root table
/// in the direct map.
pub fn activate_kernel_space(space: &AddressSpace) {
    let rip = activate_kernel_space as *const () as u64;
    let rsp = super::cpu::frame_pointer();
    let root_alias = VirtAddr::new(super::layout::DIRECT_MAP_BASE + space.root().as_u64());
    for (what, addr) in [("code", rip), ("stack", rsp), ("root table", root_alias.as_u64())] {
        assert!(
            space.translate(VirtAddr::new(addr)).is_some(),
            "new kernel tables do not map the {what} at {addr:#x}"
        );
    }
    // SAFETY: checked above: the code, the stack and the direct map (where every
    // frame, page tables included, is reached from now on) are mapped; the image
    // statics are mapped by mm::init together with the code.
    unsafe { space.activate() };
}

/// The physical address of a kernel image address.
pub fn kernel_image_phys(virt: u64) -> PhysAddr {
    PhysAddr::new(virt - KERNEL_VMA)
}

/// Whether kernel mappings are supervisor-only (level `strict`).
static KERNEL_SUPERVISOR: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Clears U/S in every present kernel-half entry of `kernel`'s root, so that
/// (U/S being the AND of every level's bit) the whole kernel half is
/// supervisor-only, and makes later kernel mappings supervisor-only too.
/// Level `strict`, at boot, before any process address space copies the
/// kernel half. Flushes the TLB.
pub fn make_kernel_half_supervisor(kernel: &AddressSpace) {
    KERNEL_SUPERVISOR.store(true, core::sync::atomic::Ordering::Relaxed);
    let mut tables = DirectMap;
    for index in 256..512 {
        let entry = tables.read_entry(kernel.root, index).raw();
        if entry & 1 != 0 {
            tables.write_entry(kernel.root, index, paging::PageTableEntry::from_raw(entry & !USER_BIT));
        }
    }
    // SAFETY: reloading CR3 with its own value only flushes non-global TLB
    // entries; the global ones (the kernel half) are flushed by toggling PGE.
    unsafe {
        use x86::controlregs::{Cr4, cr3, cr3_write, cr4, cr4_write};
        cr3_write(cr3());
        let c4 = cr4();
        cr4_write(c4 - Cr4::CR4_ENABLE_GLOBAL_PAGES);
        cr4_write(c4);
    }
}

/// At `strict`, clears USER again on the top-level entry of `root` that
/// covers `virt`, when `virt` is in the kernel half.
fn keep_kernel_root_supervisor(root: PhysAddr, virt: VirtAddr) {
    if virt.as_u64() < KERNEL_HALF || !KERNEL_SUPERVISOR.load(core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let index = paging::indices(virt)[0];
    let mut tables = DirectMap;
    let entry = tables.read_entry(root, index).raw();
    if entry & USER_BIT != 0 {
        tables.write_entry(root, index, paging::PageTableEntry::from_raw(entry & !USER_BIT));
    }
}

/// At `strict`, a kernel-half mapping is supervisor-only whatever the caller
/// asked (the callers' attributes are the `mpk` ones).
fn supervisor_if_kernel(virt: VirtAddr, attrs: Attributes) -> Attributes {
    if virt.as_u64() >= KERNEL_HALF && KERNEL_SUPERVISOR.load(core::sync::atomic::Ordering::Relaxed) {
        Attributes { user: false, ..attrs }
    } else {
        attrs
    }
}

/// The first address of the kernel half.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// U/S in a page-table entry.
const USER_BIT: u64 = 1 << 2;

impl AddressSpace {
    /// A process address space: an empty lower half, and the kernel half
    /// shared with the kernel's own tables (the same PML4 entries).
    pub fn new_user(kernel: &AddressSpace) -> Result<AddressSpace, MapError> {
        // The new root is written whole, not zeroed first: an empty lower
        // half and the kernel's upper half as a slice (half the stores of
        // zeroing it and then copying the kernel's entries one by one).
        let root = crate::mm::frame::allocate_user().map_err(|_| MapError::OutOfMemory)?;
        let supervisor = KERNEL_SUPERVISOR.load(core::sync::atomic::Ordering::Relaxed);
        with_two_tables(kernel.root, root, |kernel, new| {
            new[..256].fill(0);
            new[256..].copy_from_slice(&kernel[256..]);
            if supervisor {
                new[256..].iter_mut().for_each(|entry| *entry &= !USER_BIT);
            }
        });
        Ok(AddressSpace { root })
    }

}

/// Copies the 4 KiB frame `src` into the frame `dst` (copy-on-write).
pub fn copy_frame(src: PhysAddr, dst: PhysAddr) {
    // SAFETY: both are whole RAM frames in the direct map; `dst` was just
    // allocated by the caller, so it is not `src` and nothing else uses it.
    unsafe {
        core::ptr::copy_nonoverlapping(
            phys_to_virt(src).as_u64() as *const u8,
            phys_to_virt(dst).as_u64() as *mut u8,
            paging::PAGE_SIZE as usize,
        )
    };
}

/// Copies `len` bytes from physical `src` into `dst` (user copies go through
/// the direct map after the caller resolved the page).
pub fn copy_from_phys(src: PhysAddr, dst: &mut [u8]) {
    // SAFETY: the caller resolved `src` from a live mapping; the range lies in
    // one page of RAM, which the direct map covers.
    unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(src).as_u64() as *const u8, dst.as_mut_ptr(), dst.len()) };
}

/// Copies `src` to physical `dst` (one page at most, resolved by the caller).
pub fn copy_to_phys(dst: PhysAddr, src: &[u8]) {
    // SAFETY: as in copy_from_phys; the frame belongs to the process being served.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), phys_to_virt(dst).as_u64() as *mut u8, src.len()) };
}

/// Stores `value` at physical `phys` as one atomic 64-bit write with
/// release ordering (after every earlier store): how the kernel publishes
/// the vvar page, which processes read while it writes (`proc::vdso`).
pub fn publish_u64(phys: PhysAddr, value: u64) {
    assert!(phys.as_u64().is_multiple_of(8), "unaligned published word");
    // SAFETY: every RAM frame is mapped at PHYS_OFFSET; the caller owns the
    // frame (the kernel's vvar frame, never freed); the address is 8-byte
    // aligned (asserted), as AtomicU64 requires, and lives for good.
    let word = unsafe { &*(phys_to_virt(phys).as_u64() as *const AtomicU64) };
    word.store(value, Ordering::Release);
}

/// The bytes of a physical range that the kernel keeps reserved for good
/// (the initramfs the VMM loaded).
pub fn reserved_phys_slice(start: PhysAddr, len: u64) -> &'static [u8] {
    // SAFETY: the frame allocator never hands out the range (mm::init reserves
    // it), nothing writes it, and the direct map covers it.
    unsafe { core::slice::from_raw_parts(phys_to_virt(start).as_u64() as *const u8, len as usize) }
}

impl AddressSpace {
    /// Loads a process address space (made by `new_user`, so its kernel half
    /// is the kernel's): checked against the kernel image's own entry.
    pub fn activate_user(&self) {
        assert!(self.root.as_u64() != 0, "activating a detached address space");
        let image_slot = 511;
        let mine = DirectMap.read_entry(self.root, image_slot);
        let active = DirectMap.read_entry(PhysAddr::new(super::cpu::read_cr3()), image_slot);
        assert!(mine == active, "address space without the kernel half");
        // SAFETY: the kernel half (code, stacks, direct map) is the same as in
        // the active tables (checked on the image slot; new_user copies all).
        unsafe { self.activate() };
    }

    /// Frees the root table (after `release_user`, when the process is reaped).
    pub fn free_root(&mut self) {
        if self.root.as_u64() == 0 {
            return;
        }
        DirectMap.free_table(self.root);
        self.root = PhysAddr::new(0);
    }

    /// Page-table frames of the lower half plus the root (memory accounting).
    pub fn table_frames(&self) -> u64 {
        if self.root.as_u64() == 0 {
            return 0;
        }
        let tables = DirectMap;
        let mut count = 1;
        for pml4 in 0..256 {
            let pdpt = tables.read_entry(self.root, pml4);
            if !pdpt.is_present() {
                continue;
            }
            count += 1;
            for i in 0..512 {
                let pd = tables.read_entry(pdpt.addr(), i);
                if !pd.is_present() {
                    continue;
                }
                count += 1;
                for j in 0..512 {
                    let pt = tables.read_entry(pd.addr(), j);
                    if pt.is_present() && !pt.is_huge() {
                        count += 1;
                    }
                }
            }
        }
        count
    }
}

impl AddressSpace {
    /// A stand-in with no tables, for a process whose address space is lent
    /// to its vfork child; activating it fails loudly (`activate_user`).
    pub const fn detached() -> AddressSpace {
        AddressSpace { root: PhysAddr::new(0) }
    }
}

impl AddressSpace {
    /// Drops this CPU's cached translation of one page.
    pub fn flush_page(&self, virt: VirtAddr) {
        flush(virt);
    }

    /// Drops this CPU's cached translations of this address space if it is the
    /// active one (non-global entries: the whole lower half).
    pub fn flush_all(&self) {
        let active = super::cpu::read_cr3();
        if active == self.root.as_u64() {
            // SAFETY: reloading CR3 with its current value only flushes the TLB.
            unsafe { x86::controlregs::cr3_write(active) };
        }
    }
}

/// Entries per table and the span one entry covers at each level (PML4, PDPT, PD, PT).
const LEVEL_SPAN: [u64; 4] = [1 << 39, 1 << 30, 1 << 21, 1 << 12];

impl AddressSpace {
    /// Removes every 4 KiB leaf of `[start, end)` in the lower half, keeping
    /// the tables; skips absent tables. `release` first sees the entries of
    /// each page table's part of the range (one call per table, so that the
    /// frames' counts are taken once per table, not once per page).
    pub fn unmap_range_keep_tables(&mut self, start: u64, end: u64, mut release: impl FnMut(&[u64])) {
        let _ = self.for_each_table_part(start, end, |table, _, first, last| -> Result<(), ()> {
            with_entries(table, |entries| {
                let part = &mut entries[first..=last];
                release(part);
                for group in part.chunks_mut(paging::OCCUPANCY_GROUP) {
                    if paging::all_zero(group) {
                        continue;
                    }
                    for raw in group {
                        if PageTableEntry::from_raw(*raw).holds_frame() {
                            *raw = 0;
                        }
                    }
                }
            });
            Ok(())
        });
    }

    /// Removes every 4 KiB leaf of `[start, end)` in the lower half, handing
    /// each frame to `release`, and frees the tables that become empty. The
    /// work is proportional to the tables present, not to the length of the
    /// range (munmap of the whole lower half is quick).
    pub fn unmap_range(&mut self, start: u64, end: u64, mut release: impl FnMut(PhysAddr)) {
        let mut tables = DirectMap;
        let mut addr = start;
        let mut visited = false;
        while addr < end {
            let table = match self.page_table_for(addr) {
                Ok(table) => table,
                Err(next) => {
                    addr = next;
                    continue;
                }
            };
            let chunk = addr & !(LEVEL_SPAN[2] - 1);
            let chunk_end = (chunk + LEVEL_SPAN[2]).min(end);
            let mut removed = false;
            let last = ((chunk_end - 1 - chunk) / paging::PAGE_SIZE) as usize;
            let mut from = paging::indices(VirtAddr::new(addr))[3];
            while let Some(index) = next_occupied(table, from, last) {
                from = index + 1;
                let leaf = tables.read_entry(table, index);
                if leaf.holds_frame() {
                    tables.write_entry(table, index, PageTableEntry::EMPTY);
                    flush(VirtAddr::new(chunk + index as u64 * paging::PAGE_SIZE));
                    release(leaf.addr());
                    removed = true;
                }
            }
            addr = chunk_end;
            // A table that lost nothing is as full as it was (an emptied
            // one was freed when its last leaf went).
            if removed {
                visited = true;
                self.free_empty_tables(chunk);
            }
        }
        if visited {
            // Freed tables may sit in the paging-structure caches.
            self.flush_all();
        }
    }

    /// Frees the page table covering `addr` if it maps nothing, then its
    /// parents up to (not including) the root while they are empty.
    fn free_empty_tables(&mut self, addr: u64) {
        let mut tables = DirectMap;
        let idx = paging::indices(VirtAddr::new(addr));
        if idx[0] >= 256 {
            return;
        }
        // The path root -> PDPT -> PD -> PT.
        let mut path = [(self.root, 0usize); 4];
        let mut table = self.root;
        for level in 0..3 {
            let entry = tables.read_entry(table, idx[level]);
            if !entry.is_present() || entry.is_huge() {
                return;
            }
            path[level] = (table, idx[level]);
            table = entry.addr();
            path[level + 1] = (table, 0);
        }
        for level in (1..4).rev() {
            let (table, _) = path[level];
            if (0..512).any(|i| tables.read_entry(table, i).holds_frame()) {
                return;
            }
            let (parent, index) = path[level - 1];
            tables.write_entry(parent, index, PageTableEntry::EMPTY);
            tables.free_table(table);
        }
    }

    /// The first page at or after `addr` (page aligned) and below `end`
    /// whose leaf holds a frame (present or parked), with the frame.
    pub fn next_with_frame(&self, addr: u64, end: u64) -> Option<(u64, PhysAddr)> {
        if self.is_detached() {
            return None;
        }
        let mut found = None;
        self.for_each_slot(addr, end, |table, index, at| {
            let leaf = DirectMap.read_entry(table, index);
            if leaf.holds_frame() {
                found = Some((at, leaf.addr()));
            }
            found.is_none()
        });
        found
    }

    /// Moves every leaf that holds a frame in `[from, from + len)` to the
    /// same place in `[to, to + len)` (free, not overlapping), bits and all
    /// (rights, key, parked or present): mremap's move, no frame copied and
    /// no count changed. On failure (no memory for tables) nothing moved.
    pub fn move_leaves(&mut self, from: u64, to: u64, len: u64) -> Result<(), MapError> {
        let mut tables = DirectMap;
        let mut leaves = alloc::vec::Vec::new();
        let mut next = from;
        while let Some((page, _)) = self.next_with_frame(next, from + len) {
            next = page + paging::PAGE_SIZE;
            let table = self.page_table_for(page).map_err(|_| MapError::NotMapped)?;
            let index = paging::indices(VirtAddr::new(page))[3];
            leaves.try_reserve(1).map_err(|_| MapError::OutOfMemory)?;
            leaves.push((page, table, index, tables.read_entry(table, index)));
        }
        for (done, &(page, _, _, leaf)) in leaves.iter().enumerate() {
            let dest = to + (page - from);
            let attrs = Attributes { writable: false, executable: false, ..Attributes::from_entry(leaf) };
            let placed = self.map(VirtAddr::new(dest), leaf.addr(), PageSize::Size4K, attrs).and_then(|()| {
                let table = self.page_table_for(dest).map_err(|_| MapError::NotMapped)?;
                tables.write_entry(table, paging::indices(VirtAddr::new(dest))[3], leaf);
                Ok(())
            });
            if let Err(error) = placed {
                for &(page, ..) in &leaves[..done] {
                    let dest = to + (page - from);
                    if let Ok(table) = self.page_table_for(dest) {
                        tables.write_entry(table, paging::indices(VirtAddr::new(dest))[3], PageTableEntry::EMPTY);
                        flush(VirtAddr::new(dest));
                    }
                }
                return Err(error);
            }
        }
        for &(page, table, index, _) in &leaves {
            tables.write_entry(table, index, PageTableEntry::EMPTY);
            flush(VirtAddr::new(page));
        }
        // The source's tables that are empty now go.
        self.unmap_range(from, from + len, |_| {});
        Ok(())
    }

    /// Maps `frames` at consecutive 4 KiB pages of the lower half from
    /// `start` with `attrs`, in the slots that hold no frame (absent, not
    /// parked), walking the tables once per page table instead of once per
    /// page: a file's pages faulted in around one access, where some are
    /// mapped already, or the vDSO's. Each frame not mapped goes to
    /// `unused` (so its reference can be given back). Returns how many it
    /// mapped, and whether a table could not be made.
    pub fn map_absent(
        &mut self,
        start: u64,
        frames: &[PhysAddr],
        attrs: Attributes,
        mut unused: impl FnMut(PhysAddr),
    ) -> (usize, Result<(), MapError>) {
        let flags = attrs.leaf_flags(PageSize::Size4K);
        let mut mapped = 0;
        let mut done = 0;
        while done < frames.len() {
            let addr = start + done as u64 * paging::PAGE_SIZE;
            let table = match self.page_table_for(addr) {
                Ok(table) => table,
                Err(_) => {
                    // No page table yet: `map` makes it.
                    if let Err(error) = self.map(VirtAddr::new(addr), frames[done], PageSize::Size4K, attrs) {
                        frames[done..].iter().for_each(|&frame| unused(frame));
                        return (mapped, Err(error));
                    }
                    mapped += 1;
                    done += 1;
                    continue;
                }
            };
            // The rest of this page table's part, as one slice.
            let chunk_end = (addr & !(LEVEL_SPAN[2] - 1)) + LEVEL_SPAN[2];
            let first = paging::indices(VirtAddr::new(addr))[3];
            let count = (frames.len() - done).min(((chunk_end - addr) / paging::PAGE_SIZE) as usize);
            with_entries(table, |entries| {
                for (slot, &frame) in entries[first..first + count].iter_mut().zip(&frames[done..done + count]) {
                    if PageTableEntry::from_raw(*slot).holds_frame() {
                        unused(frame);
                    } else {
                        *slot = PageTableEntry::new(frame, flags, attrs.key).raw();
                        mapped += 1;
                    }
                }
            });
            done += count;
        }
        (mapped, Ok(()))
    }

    /// Parks every present 4 KiB leaf of `[start, end)` (PROT_NONE): not
    /// present any more, its frame kept for when access comes back.
    pub fn park_present(&mut self, start: u64, end: u64) {
        let mut tables = DirectMap;
        self.for_each_slot(start, end, |table, index, addr| {
            let leaf = tables.read_entry(table, index);
            if leaf.is_present() {
                tables.write_entry(table, index, leaf.parked());
                flush(VirtAddr::new(addr));
            }
            true
        });
    }

    /// Gives every 4 KiB leaf of `[start, end)` that holds a frame (present,
    /// or parked: made present again) the attributes `attrs_for(frame)`
    /// returns for its frame, skipping absent tables (work proportional to
    /// what is mapped). Returns how many leaves it changed.
    pub fn protect_present(
        &mut self,
        start: u64,
        end: u64,
        mut attrs_for: impl FnMut(PhysAddr) -> Attributes,
    ) -> Result<u64, MapError> {
        let mut tables = DirectMap;
        let mut changed = 0;
        let mut outcome = Ok(());
        self.for_each_slot(start, end, |table, index, addr| {
            let leaf = tables.read_entry(table, index);
            if !leaf.holds_frame() {
                return true;
            }
            let attrs = supervisor_if_kernel(VirtAddr::new(addr), attrs_for(leaf.addr()));
            if let Err(error) = attrs.check_w_xor_x() {
                outcome = Err(error);
                return false;
            }
            // The accessed and dirty bits stay, as `paging::protect` keeps them.
            let kept = leaf.flags() & (PteFlags::ACCESSED | PteFlags::DIRTY);
            tables.write_entry(table, index, PageTableEntry::new(leaf.addr(), attrs.leaf_flags(PageSize::Size4K) | kept, attrs.key));
            if leaf.is_present() {
                flush(VirtAddr::new(addr));
            }
            changed += 1;
            true
        });
        outcome.map(|()| changed)
    }

    /// The page table holding the 4 KiB leaves around `addr`, or (`Err`) the
    /// first address past the absent (or huge) part of the tree there.
    fn page_table_for(&self, addr: u64) -> Result<PhysAddr, u64> {
        let idx = paging::indices(VirtAddr::new(addr));
        let mut table = self.root;
        for (level, &index) in idx[..3].iter().enumerate() {
            let entry = DirectMap.read_entry(table, index);
            if !entry.is_present() || entry.is_huge() {
                let span = LEVEL_SPAN[level];
                return Err((addr & !(span - 1)) + span);
            }
            table = entry.addr();
        }
        Ok(table)
    }

    /// Calls `visit(table, chunk, first, last)` for every page table that
    /// covers part of `[start, end)`: the table, the 2 MiB chunk it maps and
    /// the slots `first..=last` of the range in it. Walks down once per
    /// table and skips absent ones (work proportional to what is mapped);
    /// stops at `visit`'s first error. The walk every leaf operation shares.
    #[inline(always)]
    fn for_each_table_part<E>(
        &self,
        start: u64,
        end: u64,
        mut visit: impl FnMut(PhysAddr, u64, usize, usize) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut addr = start;
        while addr < end {
            let table = match self.page_table_for(addr) {
                Ok(table) => table,
                Err(next) => {
                    addr = next;
                    continue;
                }
            };
            let chunk = addr & !(LEVEL_SPAN[2] - 1);
            let chunk_end = (chunk + LEVEL_SPAN[2]).min(end);
            let first = paging::indices(VirtAddr::new(addr))[3];
            let last = ((chunk_end - 1 - chunk) / paging::PAGE_SIZE) as usize;
            visit(table, chunk, first, last)?;
            addr = chunk_end;
        }
        Ok(())
    }

    /// Calls `visit(table, index, addr)` for every occupied 4 KiB leaf slot
    /// of `[start, end)` (see [`Self::for_each_table_part`]); `visit`
    /// returns false to stop.
    #[inline(always)]
    fn for_each_slot(&self, start: u64, end: u64, mut visit: impl FnMut(PhysAddr, usize, u64) -> bool) {
        let _ = self.for_each_table_part(start, end, |table, chunk, first, last| {
            let mut index = first;
            // Only slots that hold something: every visitor skips empty
            // ones, and a region's tables are mostly empty slots.
            while let Some(found) = next_occupied(table, index, last) {
                if !visit(table, found, chunk + found as u64 * paging::PAGE_SIZE) {
                    return Err(());
                }
                index = found + 1;
            }
            Ok(())
        });
    }

    /// The end of a process's memory (exit, exec): `release` sees the
    /// entries of each page table's part of `ranges` (its frames go), then
    /// the lower-half tables that cover `ranges` are freed. The leaves are
    /// not cleared first: a table is zeroed when it is allocated again, and
    /// nothing walks these between the two steps. The caller flushes the TLB.
    pub fn release_user(&mut self, ranges: &[(u64, u64)], mut release: impl FnMut(&[u64])) {
        for &(start, end) in ranges {
            let _ = self.for_each_table_part(start, end, |table, _, first, last| -> Result<(), ()> {
                with_entries(table, |entries| release(&entries[first..=last]));
                Ok(())
            });
        }
        self.free_user_tables(ranges);
    }

    /// Frees the lower-half tables that cover `ranges` (the process's regions,
    /// already emptied of leaves), and clears their root entries.
    fn free_user_tables(&mut self, ranges: &[(u64, u64)]) {
        let mut tables = DirectMap;
        // Walked in address order, a table's chunks come one after another:
        // comparing with the last table seen at its level drops nearly every
        // repeat; the sort at the end drops any left (unsorted ranges).
        let mut seen: alloc::vec::Vec<u64> = alloc::vec::Vec::with_capacity(16);
        let mut roots: alloc::vec::Vec<usize> = alloc::vec::Vec::with_capacity(4);
        let mut last = [u64::MAX; 3];
        for &(start, end) in ranges {
            let mut addr = start & !(LEVEL_SPAN[2] - 1);
            while addr < end {
                let idx = paging::indices(VirtAddr::new(addr));
                let mut table = self.root;
                // Past an absent table, skip all it would cover (a huge
                // PROT_NONE reservation has no tables at all).
                let mut next = addr + LEVEL_SPAN[2];
                for level in 0..3 {
                    let entry = tables.read_entry(table, idx[level]);
                    if !entry.is_present() || entry.is_huge() {
                        next = (addr & !(LEVEL_SPAN[level] - 1)) + LEVEL_SPAN[level];
                        break;
                    }
                    let child = entry.addr().as_u64();
                    if last[level] != child {
                        last[level] = child;
                        seen.push(child);
                        if level == 0 {
                            roots.push(idx[0]);
                        }
                    }
                    table = entry.addr();
                }
                addr = next;
            }
        }
        seen.sort_unstable();
        seen.dedup();
        roots.sort_unstable();
        roots.dedup();
        for index in roots {
            if index < 256 {
                tables.write_entry(self.root, index, PageTableEntry::EMPTY);
            }
        }
        for table in seen {
            tables.free_table(PhysAddr::new(table));
        }
    }
}

impl AddressSpace {
    /// fork's copy-on-write sharing of `[start, end)`: the child gets the
    /// tables down to each page table that holds a leaf of the range, and
    /// `copy(parent, child)` gets both tables' parts of the range (one call
    /// per table, so that the caller counts the frames as it copies:
    /// [`paging::cow_copy`]). Walks each page table once instead of once per
    /// page. The caller flushes this space's TLB afterwards.
    pub fn share_cow_into(
        &mut self,
        child: &mut AddressSpace,
        start: u64,
        end: u64,
        child_key: pkru::Key,
        mut copy: impl FnMut(&mut [u64], &mut [u64]),
    ) -> Result<(), MapError> {
        self.for_each_table_part(start, end, |table, chunk, first, last| {
            // The chunk's first leaf makes the child's tables down to its
            // page table; `copy` then copies the chunk's entries.
            let Some(first) = next_occupied(table, first, last) else {
                return Ok(());
            };
            let leaf = DirectMap.read_entry(table, first);
            let attrs = Attributes { writable: false, key: child_key, ..Attributes::from_entry(leaf) };
            let at = chunk + first as u64 * paging::PAGE_SIZE;
            child.map(VirtAddr::new(at), leaf.addr(), PageSize::Size4K, attrs)?;
            let child_pt = child.page_table_for(at).map_err(|_| MapError::NotMapped)?;
            with_two_tables(table, child_pt, |parent, child| copy(&mut parent[first..=last], &mut child[first..=last]));
            Ok(())
        })
    }
}
