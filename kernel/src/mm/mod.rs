//! Memory management: the physical frame allocator, the kernel's own page
//! tables (direct map, image with per-section rights, stacks with guard pages,
//! MMIO), and the heap's supply of frames.

pub mod frame;
pub mod pagecache;
pub mod shared;

use core::sync::atomic::{AtomicU64, Ordering};

use paging::{Attributes, HUGE_PAGE_SIZE, MapError, PAGE_SIZE, PageSize, PhysAddr, VirtAddr};
use pkru::Key;
use spin::Mutex;

use crate::arch::layout::{
    DIRECT_MAP_BASE, DIRECT_MAP_MAX, KERNEL_STACK_SLOT, KERNEL_STACK_SLOTS, KERNEL_STACKS_BASE, KERNEL_VMA,
    MMIO_BASE,
};
use crate::arch::paging::AddressSpace;
use crate::arch::section;
use crate::boot_info::{BootInfo, MemoryType};

/// The kernel's address space (the only one until processes exist).
static KERNEL_SPACE: Mutex<Option<AddressSpace>> = Mutex::new(None);

/// Physical memory facts kept after boot.
pub struct MemoryFacts {
    pub usable_bytes: u64,
}

/// Kernel data: key 0, U/S=1 so that PKRU governs every access (DESIGN.md).
pub const fn kernel_data() -> Attributes {
    Attributes { writable: true, executable: false, user: true, global: true, no_cache: false, key: Key::KERNEL }
}

/// What the CPU itself touches on an interrupt: U/S=0, never key-checked.
const fn cpu_tables() -> Attributes {
    Attributes { user: false, ..kernel_data() }
}

/// Makes the GDT, TSS and IDT read-only, once boot has filled them in: no
/// ring-0 process can then redirect a vector or an IST pointer (the CPU
/// never writes them in long mode: the descriptors' accessed bits are set
/// in advance, and `ltr` has marked the TSS busy already).
pub fn seal_descriptor_tables() -> Result<(), MapError> {
    let range = section::image().cpu_descriptors;
    let sealed = Attributes { writable: false, ..cpu_tables() };
    with_kernel_space(|space| {
        let mut virt = range.start;
        while virt < range.end {
            space.protect(VirtAddr::new(virt), sealed)?;
            virt += PAGE_SIZE;
        }
        Ok(())
    })
}

/// Runs `f` on the kernel address space.
pub fn with_kernel_space<R>(f: impl FnOnce(&mut AddressSpace) -> R) -> R {
    let mut guard = KERNEL_SPACE.lock();
    f(guard.as_mut().expect("kernel address space used before mm::init"))
}

/// Sets up the frame allocator from the memory map, builds the kernel's page
/// tables and switches to them.
pub fn init(info: &BootInfo) -> Result<MemoryFacts, MapError> {
    let image = section::image();
    let kernel_phys_end = image.bss.end - KERNEL_VMA;
    let mut usable = 0;
    let mut top = 0;
    frame::with_global(|frames| {
        for region in info.regions().iter().filter(|r| r.kind == MemoryType::Usable) {
            if region.end > frame::MAX_PHYS {
                log::warn!("RAM above {} GiB is not used", frame::MAX_PHYS >> 30);
            }
            frames.add_range(region.start, region.end);
            usable += region.end.min(frame::MAX_PHYS).saturating_sub(region.start);
            top = top.max(region.end.min(frame::MAX_PHYS));
        }
        // The first MiB (start info, firmware tables) and the image stay untouched.
        frames.reserve_range(0, image.phys_start);
        frames.reserve_range(image.phys_start, kernel_phys_end);
        if let Some((start, len)) = info.initrd {
            frames.reserve_range(start, start + len);
        }
    });

    let mut space = AddressSpace::new()?;
    // Direct map: every 2 MiB chunk that holds RAM.
    for region in info.regions().iter().filter(|r| r.kind == MemoryType::Usable) {
        let end = region.end.min(top).min(DIRECT_MAP_MAX);
        let mut chunk = region.start & !(HUGE_PAGE_SIZE - 1);
        while chunk < end {
            let virt = VirtAddr::new(DIRECT_MAP_BASE + chunk);
            match space.map(virt, PhysAddr::new(chunk), PageSize::Size2M, kernel_data()) {
                Ok(()) | Err(MapError::AlreadyMapped) => {}
                Err(error) => return Err(error),
            }
            chunk += HUGE_PAGE_SIZE;
        }
    }
    // The image, each part with its own rights (W^X), in 4 KiB pages.
    let text = Attributes { writable: false, executable: true, ..kernel_data() };
    let rodata = Attributes { writable: false, ..kernel_data() };
    map_image_range(&mut space, image.text.clone(), text)?;
    map_image_range(&mut space, image.rodata.clone(), rodata)?;
    map_image_range(&mut space, image.data.clone(), kernel_data())?;
    let published = Attributes { writable: false, key: Key::PUBLISHED, ..kernel_data() };
    map_image_range(&mut space, image.published.clone(), published)?;
    map_image_range(&mut space, image.cpu_tables.clone(), cpu_tables())?;
    map_image_range(&mut space, image.cpu_descriptors.clone(), cpu_tables())?;
    map_image_range(&mut space, image.bss.clone(), kernel_data())?;

    // SAFETY-relevant invariant for `activate`: the tables now map the running
    // code (text), the boot stack (bss) and the direct map of all RAM.
    activate(&space);
    *KERNEL_SPACE.lock() = Some(space);
    TOTAL_BYTES.store(usable, Ordering::Relaxed);
    RAM_TOP.store(top, Ordering::Relaxed);
    Ok(MemoryFacts { usable_bytes: usable })
}

fn map_image_range(space: &mut AddressSpace, range: core::ops::Range<u64>, attrs: Attributes) -> Result<(), MapError> {
    let mut virt = range.start & !(PAGE_SIZE - 1);
    while virt < range.end {
        space.map(VirtAddr::new(virt), PhysAddr::new(virt - KERNEL_VMA), PageSize::Size4K, attrs)?;
        virt += PAGE_SIZE;
    }
    Ok(())
}

fn activate(space: &AddressSpace) {
    crate::arch::paging::activate_kernel_space(space);
}

/// A kernel stack: mapped pages below `top`, an unmapped guard page below them.
#[derive(Clone, Copy, Debug)]
pub struct KernelStack {
    pub top: VirtAddr,
    pub guard: VirtAddr,
}

impl KernelStack {
    /// Mapped pages (the guard page not counted).
    pub fn pages(&self) -> u64 {
        (self.top.as_u64() - self.guard.as_u64()) / PAGE_SIZE - 1
    }
}

static NEXT_STACK_SLOT: AtomicU64 = AtomicU64::new(0);

/// Maps a kernel stack of `pages` pages in a fresh slot, guard page below.
/// Its frames are a process's (`frame::allocate_user`): a fork that finds
/// only the reserve left fails here, and gives back what it took.
pub fn allocate_stack(pages: u64) -> Result<KernelStack, MapError> {
    assert!(pages > 0 && (pages + 1) * PAGE_SIZE <= KERNEL_STACK_SLOT, "kernel stack size out of range");
    {
        let mut cached = CACHED_STACKS.lock();
        if let Some(at) = cached.iter().position(|s| s.pages() == pages) {
            return Ok(cached.swap_remove(at));
        }
    }
    let reused = FREE_STACK_SLOTS.lock().pop();
    let slot = reused.unwrap_or_else(|| NEXT_STACK_SLOT.fetch_add(1, Ordering::Relaxed));
    if slot >= KERNEL_STACK_SLOTS {
        return Err(MapError::OutOfMemory);
    }
    let guard = KERNEL_STACKS_BASE + slot * KERNEL_STACK_SLOT;
    let stack = KernelStack { top: VirtAddr::new(guard + (pages + 1) * PAGE_SIZE), guard: VirtAddr::new(guard) };
    let mapped = with_kernel_space(|space| {
        for page in 1..=pages {
            let frame = frame::allocate_user().map_err(|_| MapError::OutOfMemory)?;
            if let Err(error) = space.map(VirtAddr::new(guard + page * PAGE_SIZE), frame, PageSize::Size4K, kernel_data()) {
                frame::free(frame);
                return Err(error);
            }
        }
        Ok(())
    });
    match mapped {
        Ok(()) => Ok(stack),
        Err(error) => {
            free_stack(stack);
            Err(error)
        }
    }
}

/// If `addr` is the guard page of a kernel stack slot, that guard page.
pub fn stack_guard_page(addr: u64) -> Option<u64> {
    let end = KERNEL_STACKS_BASE + KERNEL_STACK_SLOTS * KERNEL_STACK_SLOT;
    if !(KERNEL_STACKS_BASE..end).contains(&addr) {
        return None;
    }
    let offset = (addr - KERNEL_STACKS_BASE) % KERNEL_STACK_SLOT;
    (offset < PAGE_SIZE).then_some(addr - offset)
}

static NEXT_MMIO: AtomicU64 = AtomicU64::new(MMIO_BASE);

/// Maps one page of device registers, uncached, and returns its address.
pub fn map_mmio(phys: PhysAddr) -> Result<VirtAddr, MapError> {
    let virt = VirtAddr::new(NEXT_MMIO.fetch_add(PAGE_SIZE, Ordering::Relaxed));
    let attrs = Attributes { no_cache: true, global: true, ..kernel_data() };
    with_kernel_space(|space| space.map(virt, phys, PageSize::Size4K, attrs))?;
    Ok(virt)
}

/// Initial heap size.
const HEAP_INITIAL: u64 = 2 << 20;
/// Smallest amount the heap grows by.
const HEAP_GROWTH_MIN: u64 = 1 << 20;

/// Gives the heap its first frames, sizes the frame-sharing counts, and
/// sets the frame reserve.
pub fn init_heap() -> Result<(), frame::FrameError> {
    let frames = (HEAP_INITIAL / PAGE_SIZE) as usize;
    let start = frame::with_global(|allocator| allocator.allocate_contiguous(frames, frames))?;
    crate::arch::heap::add_frames(start, HEAP_INITIAL);
    frame::init_sharing(RAM_TOP.load(Ordering::Relaxed));
    frame::set_reserve(frame::reserve_for(total_bytes()));
    Ok(())
}

/// End of the highest RAM region.
static RAM_TOP: AtomicU64 = AtomicU64::new(0);

/// Frames for the heap when an allocation of `bytes` fails: a run of at
/// least twice that (at least 1 MiB), a power of two in size and aligned to
/// its size, so that the buddy heap can hand it out as one block. When
/// memory is full or fragmented, smaller runs down to the request itself.
/// The heap may take the frame reserve (which is what it is for).
pub fn heap_growth(bytes: usize) -> Option<(PhysAddr, u64)> {
    let needed = (bytes as u64).max(PAGE_SIZE).checked_next_power_of_two()?;
    let mut len = (bytes as u64).saturating_mul(2).max(HEAP_GROWTH_MIN).checked_next_power_of_two()?;
    loop {
        let frames = (len / PAGE_SIZE) as usize;
        if let Ok(start) = frame::with_global(|allocator| allocator.allocate_contiguous(frames, frames)) {
            return Some((start, len));
        }
        if len <= needed {
            return None;
        }
        len /= 2;
    }
}

/// Free bytes in the kernel heap as it is now.
pub fn heap_free_bytes() -> usize {
    let (total, used) = crate::arch::heap::stats();
    total.saturating_sub(used)
}

/// Frames the heap takes at most when an allocation of `bytes` makes it
/// grow (see `heap_growth`).
pub fn heap_growth_frames(bytes: usize) -> usize {
    let len = (bytes as u64).saturating_mul(2).max(HEAP_GROWTH_MIN).next_power_of_two();
    (len / PAGE_SIZE) as usize
}

/// Whether the heap may take `bytes` for data a process asked for (a pipe's
/// ring): the heap has that much free already, or growing it would leave
/// the frame reserve untouched. Such data is then charged to the
/// processes' share of memory, so the reserve stays the kernel's.
pub fn heap_room_for_user(bytes: usize) -> bool {
    // The frames of kernel stacks kept for reuse count as free (MemFree
    // shows them so): given back before the answer is no.
    heap_room_now(bytes) || (drop_cached_stacks() && heap_room_now(bytes))
}

fn heap_room_now(bytes: usize) -> bool {
    let (total, used) = crate::arch::heap::stats();
    if total.saturating_sub(used) >= bytes.saturating_mul(2) {
        return true;
    }
    let growth = (bytes as u64).saturating_mul(2).max(HEAP_GROWTH_MIN);
    frame::user_available() as u64 * PAGE_SIZE >= growth
}

/// Whether the kernel lives on its reserve: its heap has little room left
/// and has already grown into half of the frame reserve. Calls that make
/// new kernel records are then refused (ENOMEM), keeping the other half
/// for what the kernel must still do (exits, signals, wake-ups).
pub fn kernel_memory_low() -> bool {
    if !kernel_memory_low_now() {
        return false;
    }
    // As in heap_room_for_user: the kept kernel stacks go back first.
    !drop_cached_stacks() || kernel_memory_low_now()
}

fn kernel_memory_low_now() -> bool {
    if frame::free_frames() >= frame::reserve() / 2 {
        return false;
    }
    let (total, used) = crate::arch::heap::stats();
    total.saturating_sub(used) < KERNEL_LOW_HEAP_ROOM
}

/// Heap room below which `kernel_memory_low` may hold (256 KiB).
const KERNEL_LOW_HEAP_ROOM: usize = 256 << 10;

static TOTAL_BYTES: AtomicU64 = AtomicU64::new(0);

/// Usable RAM found at boot.
pub fn total_bytes() -> u64 {
    TOTAL_BYTES.load(Ordering::Relaxed)
}

/// Kernel stack slots given back, for reuse.
static FREE_STACK_SLOTS: Mutex<alloc::vec::Vec<u64>> = Mutex::new(alloc::vec::Vec::new());

/// Unmaps a kernel stack, frees its frames, and keeps its slot for reuse.
pub fn free_stack(stack: KernelStack) {
    // Kept mapped for the next fork while memory is plentiful: mapping and
    // unmapping six pages was an eighth of a fork's instructions.
    if frame::user_available() > STACK_CACHE_ROOM_FRAMES {
        let mut cached = CACHED_STACKS.lock();
        if cached.len() < STACK_CACHE_LEN {
            cached.push(stack);
            return;
        }
    }
    unmap_stack(stack);
}

/// Freed kernel stacks kept with their frames mapped, for reuse.
static CACHED_STACKS: spin::Mutex<alloc::vec::Vec<KernelStack>> = spin::Mutex::new(alloc::vec::Vec::new());

/// At most this many stacks are kept.
const STACK_CACHE_LEN: usize = 8;

/// Stacks are kept only while processes may still take more frames than
/// this (16 MiB): under memory pressure a freed stack's frames go back.
const STACK_CACHE_ROOM_FRAMES: usize = 4096;

/// Free frames, with those of the kernel stacks kept for reuse (given back
/// on demand): the free memory that listings, `MemFree` and sysinfo show.
pub fn free_frames_shown() -> usize {
    let cached: u64 = CACHED_STACKS.lock().iter().map(KernelStack::pages).sum();
    frame::free_frames() + cached as usize
}

/// Gives the cached stacks' frames back (memory ran short): whether there
/// were any.
pub fn drop_cached_stacks() -> bool {
    let cached = core::mem::take(&mut *CACHED_STACKS.lock());
    let any = !cached.is_empty();
    for stack in cached {
        unmap_stack(stack);
    }
    any
}

/// Unmaps a stack, frees its frames and its slot.
fn unmap_stack(stack: KernelStack) {
    let guard = stack.guard.as_u64();
    with_kernel_space(|space| {
        let mut page = guard + PAGE_SIZE;
        while page < stack.top.as_u64() {
            if let Ok((frame, _)) = space.unmap(VirtAddr::new(page)) {
                frame::free(frame);
            }
            page += PAGE_SIZE;
        }
    });
    FREE_STACK_SLOTS.lock().push((guard - KERNEL_STACKS_BASE) / KERNEL_STACK_SLOT);
}
