//! The kernel heap: `buddy_system_allocator` over direct-mapped frames, grown
//! from the frame allocator when it runs out.

use core::alloc::Layout;

use buddy_system_allocator::{Heap, LockedHeapWithRescue};
use paging::PhysAddr;

use super::paging::phys_to_virt;

/// Largest order of the buddy heap: blocks up to 2^31 bytes.
const ORDER: usize = 32;

#[global_allocator]
static HEAP: LockedHeapWithRescue<ORDER> = LockedHeapWithRescue::new(grow);

/// Hands `[start, start + len)` of physical memory to the heap for good.
pub fn add_frames(start: PhysAddr, len: u64) {
    let virt = phys_to_virt(start).as_u64() as usize;
    // SAFETY: the range was just taken from the frame allocator, so no one else
    // uses it, and it is mapped read-write in the direct map.
    unsafe { HEAP.lock().add_to_heap(virt, virt + len as usize) };
}

/// Bytes the heap manages in all, and bytes handed out.
pub fn stats() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.stats_total_bytes(), heap.stats_alloc_actual())
}

/// Called with the heap locked when an allocation fails: take more frames.
fn grow(heap: &mut Heap<ORDER>, layout: &Layout) {
    let Some((start, len)) = crate::mm::heap_growth(layout.size().max(layout.align())) else {
        return;
    };
    let virt = phys_to_virt(start).as_u64() as usize;
    // SAFETY: as in add_frames; the frames are fresh from the frame allocator.
    unsafe { heap.add_to_heap(virt, virt + len as usize) };
}
