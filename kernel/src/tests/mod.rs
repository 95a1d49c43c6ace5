//! In-kernel tests (built with the `ktest` feature): each file tests one part
//! of the kernel on the real (emulated) machine. Pure logic is tested on the
//! host in its own crate; these tests check what needs the hardware.

mod boot;
mod memory;
mod protection_keys;
mod traps;

use core::sync::atomic::{AtomicU64, Ordering};

use paging::{Attributes, PAGE_SIZE, PageSize, PhysAddr, VirtAddr};

use crate::arch::layout::TEST_SCRATCH_BASE;
use crate::mm::{self, frame};

/// A page mapped for one test in the scratch range; unmapped and freed on drop.
pub struct ScratchPage {
    pub virt: VirtAddr,
    pub frame: PhysAddr,
}

static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(TEST_SCRATCH_BASE);

impl ScratchPage {
    pub fn map(attrs: Attributes) -> Result<ScratchPage, alloc::string::String> {
        let frame = frame::allocate().map_err(|e| alloc::format!("no frame: {e:?}"))?;
        crate::arch::paging::zero_frame(frame);
        let virt = VirtAddr::new(NEXT_SCRATCH.fetch_add(PAGE_SIZE, Ordering::Relaxed));
        mm::with_kernel_space(|space| space.map(virt, frame, PageSize::Size4K, attrs))
            .map_err(|e| alloc::format!("map {virt:#x}: {e}"))?;
        Ok(ScratchPage { virt, frame })
    }
}

impl Drop for ScratchPage {
    fn drop(&mut self) {
        let _ = mm::with_kernel_space(|space| space.unmap(self.virt));
        frame::free(self.frame);
    }
}
