//! The kernel heap: `buddy_system_allocator` over direct-mapped frames, grown
//! from the frame allocator when it runs out, with a cache of freed small
//! blocks in front of it.
//!
//! Why the cache: the buddy allocator merges a freed block with its buddy by
//! searching that order's free list, and splits larger blocks to allocate;
//! an exec makes and frees about 130 small records (path strings, region and
//! file records), and each pair cost about 140 instructions. A freed block
//! of 8 B to 2 KiB is kept, unmerged, on a short list of its size class and
//! handed out again to the next allocation of that class (as slab caches
//! do). Each list holds at most [`CACHE_DEPTH`] blocks (at most 128 KiB in
//! all); the lists go back to the buddy allocator when it cannot serve an
//! allocation, before the heap grows.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use buddy_system_allocator::{Heap, LockedHeapWithRescue};
use paging::PhysAddr;

use super::paging::phys_to_virt;

/// Largest order of the buddy heap: blocks up to 2^31 bytes.
const ORDER: usize = 32;

/// Size classes kept (2^3 = 8 B up to 2^11 = 2 KiB; the buddy allocator
/// hands out no block smaller than a pointer).
const CACHED_CLASSES: core::ops::RangeInclusive<usize> = 3..=11;

/// Blocks kept per class at most.
const CACHE_DEPTH: u32 = 32;

/// Freed blocks by size class: each list is threaded through the blocks'
/// first word (0 ends it).
struct BlockCache {
    heads: [usize; ORDER],
    counts: [u32; ORDER],
}

impl BlockCache {
    const fn new() -> Self {
        BlockCache { heads: [0; ORDER], counts: [0; ORDER] }
    }

    /// Bytes held.
    fn bytes(&self) -> usize {
        self.counts.iter().enumerate().map(|(class, &count)| (count as usize) << class).sum()
    }

    /// Gives every kept block back to `heap`.
    fn flush_into(&mut self, heap: &mut Heap<ORDER>) {
        for class in CACHED_CLASSES {
            while self.heads[class] != 0 {
                let block = self.heads[class];
                // SAFETY: `block` is a block of 2^class bytes the buddy heap
                // handed out and the cache took at dealloc; its first word
                // holds the next block of the list.
                self.heads[class] = unsafe { *(block as *const usize) };
                self.counts[class] -= 1;
                let layout = Layout::from_size_align(1 << class, 1 << class).expect("a power of two");
                // SAFETY: the block came from this heap with this class's
                // size and alignment, and is nobody's any more.
                unsafe { heap.dealloc(NonNull::new_unchecked(block as *mut u8), layout) };
            }
        }
    }
}

/// The buddy heap and its cache of small blocks.
struct KernelHeap {
    buddy: LockedHeapWithRescue<ORDER>,
    cache: spin::Mutex<BlockCache>,
}

/// The buddy allocator's size class of `layout`: log2 of the block it gives
/// (its size rounded up to a power of two, at least the alignment and a
/// pointer), computed as the bit length of `size - 1`.
#[inline(always)]
fn class_of(layout: &Layout) -> usize {
    let size = layout.size().max(layout.align()).max(core::mem::size_of::<usize>());
    (usize::BITS - (size - 1).leading_zeros()) as usize
}

impl KernelHeap {
    /// A cached block of `class`, if any.
    #[inline(always)]
    fn take_cached(&self, class: usize) -> Option<*mut u8> {
        let mut cache = self.cache.lock();
        let block = cache.heads[class];
        if block == 0 {
            return None;
        }
        // SAFETY: a cached block of this class; its first word holds the next.
        cache.heads[class] = unsafe { *(block as *const usize) };
        cache.counts[class] -= 1;
        Some(block as *mut u8)
    }

    /// Keeps `ptr` (a block of `class`) if its list has room.
    #[inline(always)]
    fn keep(&self, ptr: *mut u8, class: usize) -> bool {
        let mut cache = self.cache.lock();
        if cache.counts[class] >= CACHE_DEPTH {
            return false;
        }
        // SAFETY: the caller gives up the block (at least 2^class >= 8
        // bytes, aligned to them): its first word links the list.
        unsafe { *(ptr as *mut usize) = cache.heads[class] };
        cache.heads[class] = ptr as usize;
        cache.counts[class] += 1;
        true
    }

    /// The buddy allocator's own path, out of line (the cached one needs
    /// no saved registers).
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc`: `layout` has a non-zero size.
    #[inline(never)]
    unsafe fn alloc_buddy(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on under the same contract.
        unsafe { self.buddy.alloc(layout) }
    }

    /// See [`Self::alloc_buddy`].
    ///
    /// # Safety
    /// `ptr` was allocated by this heap with `layout`.
    // SAFETY (of the declaration): the contract above is `GlobalAlloc::dealloc`'s.
    #[inline(never)]
    unsafe fn dealloc_buddy(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the block and layout the caller allocated with.
        unsafe { self.buddy.dealloc(ptr, layout) }
    }
}

// SAFETY: every block handed out comes from the buddy heap, either directly
// or through the cache, which only holds blocks freed with a layout of the
// same class (same size and alignment in the buddy heap); a cached block is
// on one list only and is handed out once.
unsafe impl GlobalAlloc for KernelHeap {
    // SAFETY (of the declaration): `GlobalAlloc::alloc`'s contract.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let class = class_of(&layout);
        if class <= *CACHED_CLASSES.end()
            && let Some(block) = self.take_cached(class)
        {
            return block;
        }
        // SAFETY: the caller's layout, under the same contract.
        unsafe { self.alloc_buddy(layout) }
    }

    // Out of line: inlined, its lock and class arithmetic made every drop
    // of an `Option<Box<_>>` save registers before its `None` test (18
    // instructions instead of 3 on each system call's context).
    // SAFETY (of the declaration): `GlobalAlloc::dealloc`'s contract.
    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let class = class_of(&layout);
        if class <= *CACHED_CLASSES.end() && self.keep(ptr, class) {
            return;
        }
        // SAFETY: the block and layout the caller allocated with.
        unsafe { self.dealloc_buddy(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap { buddy: LockedHeapWithRescue::new(grow), cache: spin::Mutex::new(BlockCache::new()) };

/// Hands `[start, start + len)` of physical memory to the heap for good.
pub fn add_frames(start: PhysAddr, len: u64) {
    let virt = phys_to_virt(start).as_u64() as usize;
    // SAFETY: the range was just taken from the frame allocator, so no one else
    // uses it, and it is mapped read-write in the direct map.
    unsafe { HEAP.buddy.lock().add_to_heap(virt, virt + len as usize) };
}

/// Bytes the heap manages in all, and bytes handed out (the cached blocks
/// count as free: any allocation that needs them gets them back).
pub fn stats() -> (usize, usize) {
    let cached = HEAP.cache.lock().bytes();
    let heap = HEAP.buddy.lock();
    (heap.stats_total_bytes(), heap.stats_alloc_actual().saturating_sub(cached))
}

/// Called with the heap locked when an allocation fails: the cached blocks
/// go back first (merged, they may serve it), then more frames come.
fn grow(heap: &mut Heap<ORDER>, layout: &Layout) {
    HEAP.cache.lock().flush_into(heap);
    // Merged, they may be enough: no growth then (the caller allocates again).
    if let Ok(block) = heap.alloc(*layout) {
        // SAFETY: the block was just allocated with this layout, and is unused.
        unsafe { heap.dealloc(block, *layout) };
        return;
    }
    let Some((start, len)) = crate::mm::heap_growth(layout.size().max(layout.align())) else {
        return;
    };
    let virt = phys_to_virt(start).as_u64() as usize;
    // SAFETY: as in add_frames; the frames are fresh from the frame allocator.
    unsafe { heap.add_to_heap(virt, virt + len as usize) };
}
