//! What the boot code learned from the VMM (PVH start info), copied into
//! kernel-owned memory before the early page tables go away.

/// Kind of a physical memory range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    Usable,
    Reserved,
}

/// One range of the physical memory map, `[start, end)`.
#[derive(Clone, Copy, Debug)]
pub struct MemoryRegion {
    pub start: u64,
    pub end: u64,
    pub kind: MemoryType,
}

const MAX_REGIONS: usize = 32;
const MAX_CMDLINE: usize = 1024;

/// The boot facts: the TSC at the first instruction, the memory map, the command line.
pub struct BootInfo {
    pub boot_tsc: u64,
    /// The first PVH module (the initramfs): physical start and length.
    pub initrd: Option<(u64, u64)>,
    pub cmdline: [u8; MAX_CMDLINE],
    pub cmdline_len: usize,
    regions: [MemoryRegion; MAX_REGIONS],
    region_count: usize,
}

impl BootInfo {
    pub const fn empty(boot_tsc: u64) -> Self {
        BootInfo {
            boot_tsc,
            initrd: None,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            regions: [MemoryRegion { start: 0, end: 0, kind: MemoryType::Reserved }; MAX_REGIONS],
            region_count: 0,
        }
    }

    /// Records a region; regions past `MAX_REGIONS` are dropped with a warning later.
    pub fn push_region(&mut self, region: MemoryRegion) {
        if let Some(slot) = self.regions.get_mut(self.region_count) {
            *slot = region;
            self.region_count += 1;
        }
    }

    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// The kernel command line; invalid UTF-8 reads as empty.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }
}
