//! The kernel's virtual address layout (higher half, see DESIGN.md "Memory").
//!
//! | range start             | what                                             |
//! |-------------------------|--------------------------------------------------|
//! | `0xffff_8000_0000_0000` | direct map of all RAM, 2 MiB pages, key 0        |
//! | `0xffff_c000_0000_0000` | kernel stacks, one slot each, guard page below   |
//! | `0xffff_d000_0000_0000` | device MMIO (local APIC), uncached               |
//! | `0xffff_e000_0000_0000` | scratch range for in-kernel tests                |
//! | `0xffff_ffff_8000_0000` | kernel image (`KERNEL_VMA` + load address)       |

/// Where the kernel image is linked: virtual = physical + `KERNEL_VMA`.
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// Base of the direct map: virtual = physical + `DIRECT_MAP_BASE`.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// The direct map covers at most this much physical address space.
pub const DIRECT_MAP_MAX: u64 = 1 << 39;
/// Kernel stack slots start here.
pub const KERNEL_STACKS_BASE: u64 = 0xffff_c000_0000_0000;
/// Virtual size of one kernel stack slot (guard page included).
pub const KERNEL_STACK_SLOT: u64 = 1 << 20;
/// Number of kernel stack slots.
pub const KERNEL_STACK_SLOTS: u64 = 1 << 16;
/// Device registers are mapped from here on.
pub const MMIO_BASE: u64 = 0xffff_d000_0000_0000;
#[cfg(feature = "ktest")]
/// In-kernel tests map and unmap pages here.
pub const TEST_SCRATCH_BASE: u64 = 0xffff_e000_0000_0000;
