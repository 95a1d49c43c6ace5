//! x86-64 4-level page tables, with protection keys in the leaves.
//!
//! This crate owns the format of page-table entries ([`PageTableEntry`],
//! [`PteFlags`], protection-key bits 62:59) and the walks over a 4-level
//! table: [`map`], [`unmap`], [`protect`], [`translate`]. The walks never
//! touch memory themselves: they go through [`PageTableMemory`], which the
//! kernel implements over its direct map of physical memory and the host
//! tests implement over an emulated physical memory ([`emulate`], like Redox
//! rmm's `emulate`). TLB shootdown and CR3 are the caller's business.
//!
//! Rules the walks enforce (DESIGN.md, "Memory"):
//! - W^X: a leaf is never both writable and executable
//!   ([`MapError::WritableAndExecutable`]); non-executable leaves get
//!   `NO_EXECUTE`.
//! - Intermediate entries are permissive (`PRESENT | WRITABLE | USER`, no
//!   `NO_EXECUTE`, no key): the leaf alone decides, so that a U/S=1 leaf is
//!   key-checked and a U/S=0 leaf is not.
//! - 2 MiB leaves sit in the page directory with `HUGE`; 1 GiB leaves are
//!   never created, and one met on a walk is reported as
//!   [`MapError::HugePageInTheWay`] (or `None` by [`translate`]).
//!
//! Neighbours: `pkru` ([`pkru::Key`]); the kernel's `AddressSpace`, which owns
//! a root table and calls these functions.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;

use core::fmt;

use bitflags::bitflags;
use pkru::Key;

#[cfg(any(test, feature = "alloc"))]
pub mod emulate;

/// Size of a small page and of a page table.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a large page (a leaf in the page directory).
pub const HUGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;
/// Entries per page table.
pub const ENTRIES: usize = 512;

/// Number of table levels (PML4, PDPT, PD, PT).
const LEVELS: usize = 4;
/// Bits 51:12 of an entry: the physical address of a frame or a table.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Bits 62:59 of a leaf entry: the protection key.
const KEY_SHIFT: u32 = 59;
const KEY_MASK: u64 = 0xf << KEY_SHIFT;
/// Highest canonical lower-half address + 1 (48-bit virtual addresses).
const LOWER_HALF_END: u64 = 1 << 47;
/// Lowest canonical higher-half address.
const HIGHER_HALF_START: u64 = 0xffff_8000_0000_0000;

/// A physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(u64);

/// A virtual address (not necessarily canonical; see [`VirtAddr::new_canonical`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(u64);

macro_rules! address_ops {
    ($name:ident) => {
        impl $name {
            /// The address with this value.
            pub const fn new(addr: u64) -> Self {
                Self(addr)
            }

            /// The raw value.
            pub const fn as_u64(self) -> u64 {
                self.0
            }

            /// `self + bytes`, or `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(addr) => Some(Self(addr)),
                    None => None,
                }
            }

            /// `self - bytes`, or `None` on underflow.
            pub const fn checked_sub(self, bytes: u64) -> Option<Self> {
                match self.0.checked_sub(bytes) {
                    Some(addr) => Some(Self(addr)),
                    None => None,
                }
            }

            /// Bytes from `base` up to `self`, or `None` if `self < base`.
            pub const fn checked_offset_from(self, base: Self) -> Option<u64> {
                self.0.checked_sub(base.0)
            }

            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                debug_assert!(align.is_power_of_two());
                self.0 & (align - 1) == 0
            }

            /// The address rounded down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                debug_assert!(align.is_power_of_two());
                Self(self.0 & !(align - 1))
            }

            /// The address rounded up to a multiple of `align` (a power of
            /// two), or `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                debug_assert!(align.is_power_of_two());
                match self.0.checked_add(align - 1) {
                    Some(addr) => Some(Self(addr & !(align - 1))),
                    None => None,
                }
            }

            /// Offset within its 4 KiB page.
            pub const fn page_offset(self) -> u64 {
                self.0 & (PAGE_SIZE - 1)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address_ops!(PhysAddr);
address_ops!(VirtAddr);

impl VirtAddr {
    /// The address if it is canonical (bits 63:47 all equal), else `None`.
    pub const fn new_canonical(addr: u64) -> Option<VirtAddr> {
        let v = VirtAddr(addr);
        if v.is_canonical() { Some(v) } else { None }
    }

    /// Whether bits 63:47 are all equal (48-bit virtual addresses).
    pub const fn is_canonical(self) -> bool {
        self.0 < LOWER_HALF_END || self.0 >= HIGHER_HALF_START
    }

    /// Whether the address is in the higher (kernel) half.
    pub const fn is_higher_half(self) -> bool {
        self.0 >= HIGHER_HALF_START
    }
}

bitflags! {
    /// The flag bits of a page-table entry (the address and key bits are
    /// not flags; see [`PageTableEntry`]).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct PteFlags: u64 {
        const PRESENT = 1 << 0;
        const WRITABLE = 1 << 1;
        /// U/S: a user-mode page, checked against PKRU on data accesses.
        const USER = 1 << 2;
        const WRITE_THROUGH = 1 << 3;
        const NO_CACHE = 1 << 4;
        const ACCESSED = 1 << 5;
        const DIRTY = 1 << 6;
        /// PS: a large-page leaf in a PD (2 MiB) or PDPT (1 GiB).
        const HUGE = 1 << 7;
        const GLOBAL = 1 << 8;
        /// Software bit (ignored by the CPU): a leaf of a PROT_NONE page
        /// that is not present but keeps its frame, as Linux keeps a
        /// PROT_NONE page's frame in a non-present entry.
        const PARKED = 1 << 9;
        const NO_EXECUTE = 1 << 63;
    }
}

/// Flags of every entry that points to a lower table.
const INTERMEDIATE_FLAGS: PteFlags = PteFlags::PRESENT.union(PteFlags::WRITABLE).union(PteFlags::USER);

/// One 64-bit entry of a page table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageTableEntry(u64);

impl PageTableEntry {
    /// The not-present entry with every bit clear.
    pub const EMPTY: PageTableEntry = PageTableEntry(0);

    /// The entry with these raw bits.
    pub const fn from_raw(raw: u64) -> Self {
        PageTableEntry(raw)
    }

    /// The raw bits.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// An entry pointing at `phys` (bits 51:12 are kept, the rest of the
    /// address is dropped) with `flags` and the protection key `key`.
    pub fn new(phys: PhysAddr, flags: PteFlags, key: Key) -> Self {
        debug_assert!(phys.is_aligned(PAGE_SIZE) && phys.0 & !ADDR_MASK == 0, "bad frame {phys:?}");
        PageTableEntry((phys.0 & ADDR_MASK) | flags.bits() | (u64::from(key.index()) << KEY_SHIFT))
    }

    /// The physical address in bits 51:12 (for a 2 MiB leaf, bit 12 is the
    /// PAT bit, which Isola never sets).
    pub fn addr(self) -> PhysAddr {
        PhysAddr(self.0 & ADDR_MASK)
    }

    /// The flag bits (unknown bits dropped).
    pub fn flags(self) -> PteFlags {
        PteFlags::from_bits_truncate(self.0)
    }

    /// The protection key in bits 62:59 (meaningful in leaves only).
    pub fn key(self) -> Key {
        let index = ((self.0 & KEY_MASK) >> KEY_SHIFT) as u8;
        // A 4-bit value is always a valid key.
        Key::new(index).unwrap_or(Key::KERNEL)
    }

    /// Whether the PRESENT bit is set.
    pub fn is_present(self) -> bool {
        self.0 & PteFlags::PRESENT.bits() != 0
    }

    /// Whether this is a parked leaf: not present, frame kept ([`PteFlags::PARKED`]).
    pub fn is_parked(self) -> bool {
        self.0 & (PteFlags::PRESENT.bits() | PteFlags::PARKED.bits()) == PteFlags::PARKED.bits()
    }

    /// Whether a leaf holds a frame: present or parked.
    pub fn holds_frame(self) -> bool {
        self.is_present() || self.is_parked()
    }

    /// A present leaf made parked: no access at all, the frame kept.
    pub fn parked(self) -> Self {
        PageTableEntry((self.0 & !PteFlags::PRESENT.bits()) | PteFlags::PARKED.bits())
    }

    /// Whether the HUGE (PS) bit is set.
    pub fn is_huge(self) -> bool {
        self.0 & PteFlags::HUGE.bits() != 0
    }

    /// The same entry with protection key `k`.
    pub fn with_key(self, k: Key) -> Self {
        PageTableEntry((self.0 & !KEY_MASK) | (u64::from(k.index()) << KEY_SHIFT))
    }
}

impl fmt::Debug for PageTableEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageTableEntry")
            .field("addr", &self.addr())
            .field("flags", &self.flags())
            .field("key", &self.key().index())
            .finish()
    }
}

/// The size of a leaf mapping.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PageSize {
    /// A 4 KiB page, a leaf in a page table (PT).
    Size4K,
    /// A 2 MiB page, a leaf in a page directory (PD) with `HUGE`.
    Size2M,
}

impl PageSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => PAGE_SIZE,
            PageSize::Size2M => HUGE_PAGE_SIZE,
        }
    }

    /// Level of the table that holds the leaf: 3 = PT, 2 = PD.
    const fn leaf_level(self) -> usize {
        match self {
            PageSize::Size4K => 3,
            PageSize::Size2M => 2,
        }
    }
}

/// What a leaf mapping allows. `key` applies to the leaf only (PTE bits 62:59).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Attributes {
    pub writable: bool,
    pub executable: bool,
    /// U/S = 1: a user-mode page, so data accesses are checked against PKRU
    /// (in the `mpk` level, process and kernel pages alike; only what the CPU
    /// itself touches during interrupt delivery is U/S = 0).
    pub user: bool,
    pub global: bool,
    pub no_cache: bool,
    pub key: Key,
}

impl Attributes {
    /// The flags of a leaf of `size` with these attributes (`PRESENT`
    /// included; `NO_EXECUTE` unless executable; `HUGE` for 2 MiB). The key
    /// is not a flag: [`PageTableEntry::new`] takes it separately. No W^X
    /// check here; [`map`] and [`protect`] make it.
    pub fn leaf_flags(self, size: PageSize) -> PteFlags {
        let mut flags = PteFlags::PRESENT;
        flags.set(PteFlags::WRITABLE, self.writable);
        flags.set(PteFlags::NO_EXECUTE, !self.executable);
        flags.set(PteFlags::USER, self.user);
        flags.set(PteFlags::GLOBAL, self.global);
        flags.set(PteFlags::NO_CACHE, self.no_cache);
        flags.set(PteFlags::HUGE, size == PageSize::Size2M);
        flags
    }

    /// The attributes of a leaf entry.
    pub fn from_entry(entry: PageTableEntry) -> Attributes {
        let flags = entry.flags();
        Attributes {
            writable: flags.contains(PteFlags::WRITABLE),
            executable: !flags.contains(PteFlags::NO_EXECUTE),
            user: flags.contains(PteFlags::USER),
            global: flags.contains(PteFlags::GLOBAL),
            no_cache: flags.contains(PteFlags::NO_CACHE),
            key: entry.key(),
        }
    }

    pub fn check_w_xor_x(self) -> Result<(), MapError> {
        if self.writable && self.executable { Err(MapError::WritableAndExecutable) } else { Ok(()) }
    }
}

/// Why a page-table operation failed. The tables are left as they were.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MapError {
    /// `map`: the address already has a leaf, or (for a 2 MiB map) a page
    /// table of 4 KiB leaves.
    AlreadyMapped,
    /// `unmap`/`protect`: the address has no leaf.
    NotMapped,
    /// A new page table could not be allocated.
    OutOfMemory,
    /// The virtual or physical address is not aligned to the page size.
    Misaligned,
    /// The virtual address is not canonical.
    NonCanonical,
    /// A larger leaf than asked for covers the address (a 2 MiB leaf under a
    /// 4 KiB request, or any 1 GiB leaf).
    HugePageInTheWay,
    /// The attributes ask for a writable and executable leaf (W^X).
    WritableAndExecutable,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapError::AlreadyMapped => "address already mapped",
            MapError::NotMapped => "address not mapped",
            MapError::OutOfMemory => "out of memory for page tables",
            MapError::Misaligned => "address not aligned to the page size",
            MapError::NonCanonical => "non-canonical virtual address",
            MapError::HugePageInTheWay => "a larger page covers the address",
            MapError::WritableAndExecutable => "mapping would be writable and executable (W^X)",
        })
    }
}

impl core::error::Error for MapError {}

/// Access to the page tables in physical memory.
pub trait PageTableMemory {
    /// Entry `index` (< 512) of the table at `table`.
    fn read_entry(&self, table: PhysAddr, index: usize) -> PageTableEntry;
    /// Sets entry `index` (< 512) of the table at `table`.
    fn write_entry(&mut self, table: PhysAddr, index: usize, entry: PageTableEntry);
    /// A new zero-filled 4 KiB table.
    fn alloc_table(&mut self) -> Result<PhysAddr, MapError>;
    /// Gives back a table from `alloc_table`; all its entries are empty.
    fn free_table(&mut self, table: PhysAddr);
}

/// Where a virtual address leads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Translation {
    /// The exact physical address, offset within the page included.
    pub phys: PhysAddr,
    /// Size of the leaf that maps it.
    pub size: PageSize,
    /// What the leaf allows.
    pub attrs: Attributes,
}

/// The PML4, PDPT, PD and PT indices of `virt`.
pub fn indices(virt: VirtAddr) -> [usize; 4] {
    let index = |shift: u32| ((virt.0 >> shift) & 0x1ff) as usize;
    [index(39), index(30), index(21), index(12)]
}

/// A leaf found by a walk: the table that holds it and its index there.
struct Leaf {
    table: PhysAddr,
    index: usize,
    entry: PageTableEntry,
    size: PageSize,
    /// Tables from the root down to `table` and the index taken in each;
    /// `path[level]` for levels above the leaf.
    path: [(PhysAddr, usize); LEVELS],
    level: usize,
}

/// Walks down to the leaf that maps `virt`.
fn find_leaf<M: PageTableMemory>(mem: &M, root: PhysAddr, virt: VirtAddr) -> Result<Leaf, MapError> {
    if !virt.is_canonical() {
        return Err(MapError::NonCanonical);
    }
    let idx = indices(virt);
    let mut path = [(PhysAddr(0), 0); LEVELS];
    let mut table = root;
    for (level, &index) in idx.iter().enumerate() {
        path[level] = (table, index);
        let entry = mem.read_entry(table, index);
        if !entry.is_present() {
            return Err(MapError::NotMapped);
        }
        let size = match level {
            3 => Some(PageSize::Size4K),
            2 if entry.is_huge() => Some(PageSize::Size2M),
            1 if entry.is_huge() => return Err(MapError::HugePageInTheWay),
            _ => None,
        };
        if let Some(size) = size {
            return Ok(Leaf { table, index, entry, size, path, level });
        }
        table = entry.addr();
    }
    unreachable!("level 3 always ends the walk")
}

/// Checks the address of an `unmap`/`protect` against the leaf found.
fn check_leaf_alignment(virt: VirtAddr, size: PageSize) -> Result<(), MapError> {
    if !virt.is_aligned(PAGE_SIZE) {
        Err(MapError::Misaligned)
    } else if !virt.is_aligned(size.bytes()) {
        // A 4 KiB-aligned address inside a 2 MiB leaf: the caller meant a
        // small page, and unmapping or changing the whole leaf would surprise.
        Err(MapError::HugePageInTheWay)
    } else {
        Ok(())
    }
}

/// Maps `virt` to `phys` with a leaf of `size` and `attrs`.
///
/// Creates missing intermediate tables (`PRESENT | WRITABLE | USER`) and
/// widens existing ones to those flags (clearing `NO_EXECUTE`), so that the
/// leaf decides. On `OutOfMemory` the tables created by this call are freed
/// again.
///
/// # Errors
/// `NonCanonical`, `WritableAndExecutable`, `Misaligned` (virt or phys not
/// aligned to `size`), `AlreadyMapped` (a leaf exists, or a table of 4 KiB
/// leaves sits where a 2 MiB leaf should go), `HugePageInTheWay` (a larger
/// leaf covers `virt`), `OutOfMemory`.
pub fn map<M: PageTableMemory>(
    mem: &mut M,
    root: PhysAddr,
    virt: VirtAddr,
    phys: PhysAddr,
    size: PageSize,
    attrs: Attributes,
) -> Result<(), MapError> {
    if !virt.is_canonical() {
        return Err(MapError::NonCanonical);
    }
    attrs.check_w_xor_x()?;
    if !virt.is_aligned(size.bytes()) || !phys.is_aligned(size.bytes()) || phys.0 & !ADDR_MASK != 0 {
        return Err(MapError::Misaligned);
    }
    let idx = indices(virt);
    let leaf_level = size.leaf_level();

    // First a read-only walk, so that nothing is changed when the request
    // fails for a reason other than memory.
    let mut table = root;
    for (level, &index) in idx.iter().enumerate().take(leaf_level + 1) {
        let entry = mem.read_entry(table, index);
        if !entry.is_present() {
            break;
        }
        if level == leaf_level {
            return Err(MapError::AlreadyMapped);
        }
        if entry.is_huge() {
            return Err(MapError::HugePageInTheWay);
        }
        table = entry.addr();
    }

    // Then build the missing tables, remembering them to undo on failure.
    let mut created: [Option<(PhysAddr, usize, PhysAddr)>; LEVELS] = [None; LEVELS];
    let mut table = root;
    for (level, &index) in idx.iter().enumerate().take(leaf_level) {
        let entry = mem.read_entry(table, index);
        let next = if entry.is_present() {
            let widened = PageTableEntry((entry.0 | INTERMEDIATE_FLAGS.bits()) & !PteFlags::NO_EXECUTE.bits());
            if widened != entry {
                mem.write_entry(table, index, widened);
            }
            entry.addr()
        } else {
            let new = match mem.alloc_table() {
                Ok(new) => new,
                Err(err) => {
                    undo_created(mem, &created);
                    return Err(err);
                }
            };
            mem.write_entry(table, index, PageTableEntry::new(new, INTERMEDIATE_FLAGS, Key::KERNEL));
            created[level] = Some((table, index, new));
            new
        };
        table = next;
    }
    let flags = attrs.leaf_flags(size);
    mem.write_entry(table, idx[leaf_level], PageTableEntry::new(phys, flags, attrs.key));
    Ok(())
}

/// Unlinks and frees the tables `map` created, deepest first.
fn undo_created<M: PageTableMemory>(mem: &mut M, created: &[Option<(PhysAddr, usize, PhysAddr)>]) {
    for &(parent, index, table) in created.iter().rev().flatten() {
        mem.write_entry(parent, index, PageTableEntry::EMPTY);
        mem.free_table(table);
    }
}

/// Removes the leaf that maps `virt` (the start of the page) and returns the
/// frame it pointed to and its size. Intermediate tables left empty are
/// freed and unlinked; the root never is.
///
/// # Errors
/// `NonCanonical`, `Misaligned` (virt not 4 KiB aligned), `NotMapped`,
/// `HugePageInTheWay` (virt is inside a 2 MiB leaf but not at its start, or
/// under a 1 GiB leaf).
pub fn unmap<M: PageTableMemory>(
    mem: &mut M,
    root: PhysAddr,
    virt: VirtAddr,
) -> Result<(PhysAddr, PageSize), MapError> {
    if virt.is_canonical() && !virt.is_aligned(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    let leaf = find_leaf(mem, root, virt)?;
    check_leaf_alignment(virt, leaf.size)?;
    mem.write_entry(leaf.table, leaf.index, PageTableEntry::EMPTY);

    // Free the tables that became empty, from the leaf's table upwards.
    let mut level = leaf.level;
    while level > 0 {
        let (table, _) = leaf.path[level];
        if (0..ENTRIES).any(|i| mem.read_entry(table, i).is_present()) {
            break;
        }
        let (parent, parent_index) = leaf.path[level - 1];
        mem.write_entry(parent, parent_index, PageTableEntry::EMPTY);
        mem.free_table(table);
        level -= 1;
    }
    Ok((leaf.entry.addr(), leaf.size))
}

/// Changes the attributes of the leaf that maps `virt` (the start of the
/// page), keeping its frame and its ACCESSED and DIRTY bits. Returns the
/// leaf's size.
///
/// # Errors
/// `NonCanonical`, `WritableAndExecutable`, `Misaligned`, `NotMapped`,
/// `HugePageInTheWay`, as for [`unmap`].
pub fn protect<M: PageTableMemory>(
    mem: &mut M,
    root: PhysAddr,
    virt: VirtAddr,
    attrs: Attributes,
) -> Result<PageSize, MapError> {
    if !virt.is_canonical() {
        return Err(MapError::NonCanonical);
    }
    attrs.check_w_xor_x()?;
    if !virt.is_aligned(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    let leaf = find_leaf(mem, root, virt)?;
    check_leaf_alignment(virt, leaf.size)?;
    let kept = leaf.entry.flags() & (PteFlags::ACCESSED | PteFlags::DIRTY);
    let entry = PageTableEntry::new(leaf.entry.addr(), attrs.leaf_flags(leaf.size) | kept, attrs.key);
    mem.write_entry(leaf.table, leaf.index, entry);
    Ok(leaf.size)
}

/// Where `virt` leads, or `None` if it is non-canonical, not mapped, or under
/// a 1 GiB leaf (Isola creates none).
pub fn translate<M: PageTableMemory>(mem: &M, root: PhysAddr, virt: VirtAddr) -> Option<Translation> {
    let (entry, phys, size) = translate_leaf(mem, root, virt)?;
    Some(Translation { phys, size, attrs: Attributes::from_entry(entry) })
}

/// [`translate`] without decoding the leaf's rights: the leaf, the exact
/// physical address and the leaf's size. The kernel's user copies check
/// two bits and the key of the leaf, and decoding all of it into
/// [`Attributes`] was two fifths of the walk.
#[inline]
pub fn translate_leaf<M: PageTableMemory>(mem: &M, root: PhysAddr, virt: VirtAddr) -> Option<(PageTableEntry, PhysAddr, PageSize)> {
    // The walk of `find_leaf` without the path it keeps for unmapping: every
    // user copy of the kernel translates, so this is a hot loop.
    if !virt.is_canonical() {
        return None;
    }
    let idx = indices(virt);
    let mut table = root;
    let mut level = 0;
    let (entry, size) = loop {
        let entry = mem.read_entry(table, idx[level]);
        if !entry.is_present() {
            return None;
        }
        match level {
            3 => break (entry, PageSize::Size4K),
            2 if entry.is_huge() => break (entry, PageSize::Size2M),
            1 if entry.is_huge() => return None,
            _ => {}
        }
        table = entry.addr();
        level += 1;
    };
    let offset = virt.0 & (size.bytes() - 1);
    let base = entry.addr().align_down(size.bytes());
    Some((entry, base.checked_add(offset)?, size))
}

/// Entries tested for emptiness at once by the whole-table loops: a
/// process's tables are mostly empty slots (a reserved stack, a heap's tail).
pub const OCCUPANCY_GROUP: usize = 8;

/// Whether every entry of `group` is zero (neither present nor parked).
#[inline(always)]
pub fn all_zero(group: &[u64]) -> bool {
    group.iter().fold(0, |acc, &entry| acc | entry) == 0
}

/// fork's copy on write of one page table's run of leaves into the child's
/// table: a present leaf loses its write right in both, a parked one
/// (PROT_NONE) stays parked in both, and the child's copy carries
/// `child_key`. `shared` sees each leaf that holds a frame (the frame's
/// count goes up in the same pass). Empty slots are skipped eight at a time.
#[inline(always)]
pub fn cow_copy(parent: &mut [u64], child: &mut [u64], child_key: Key, mut shared: impl FnMut(PageTableEntry)) {
    for (group, child_group) in parent.chunks_mut(OCCUPANCY_GROUP).zip(child.chunks_mut(OCCUPANCY_GROUP)) {
        if all_zero(group) {
            continue;
        }
        for (slot, child_slot) in group.iter_mut().zip(child_group) {
            let leaf = PageTableEntry::from_raw(*slot);
            if !leaf.holds_frame() {
                continue;
            }
            let kept = if leaf.is_present() { PageTableEntry::from_raw(leaf.raw() & !PteFlags::WRITABLE.bits()) } else { leaf };
            *slot = kept.raw();
            *child_slot = kept.with_key(child_key).raw();
            shared(kept);
        }
    }
}

#[cfg(test)]
mod tests;
