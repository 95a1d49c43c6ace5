//! An emulated physical memory for page tables, backed by the heap.
//!
//! [`EmulatedMemory`] implements [`PageTableMemory`] over a vector of 4 KiB
//! tables, so that the walks run in host tests (and, with the `alloc`
//! feature, in kernel tests that must not touch the live tables). It checks
//! what the hardware would not: entries read or written outside an allocated
//! table, double frees, and tables freed while they still have entries.

use alloc::vec::Vec;

use crate::{ENTRIES, MapError, PAGE_SIZE, PageTableEntry, PageTableMemory, PhysAddr};

/// Physical address of the first emulated table (frame 0 stays unused, so a
/// zero address is never a valid table).
const BASE: u64 = 0x1000;

/// Page tables in emulated physical memory.
#[derive(Clone, Debug)]
pub struct EmulatedMemory {
    tables: Vec<[u64; ENTRIES]>,
    allocated: Vec<bool>,
    capacity: usize,
    allocations: usize,
    frees: usize,
}

impl EmulatedMemory {
    /// A memory that can hold at most `capacity_tables` tables at once;
    /// `alloc_table` fails with `OutOfMemory` beyond.
    pub fn new(capacity_tables: usize) -> Self {
        EmulatedMemory { tables: Vec::new(), allocated: Vec::new(), capacity: capacity_tables, allocations: 0, frees: 0 }
    }

    /// Changes how many tables may be live at once (for out-of-memory tests).
    pub fn set_capacity(&mut self, capacity_tables: usize) {
        self.capacity = capacity_tables;
    }

    /// Number of tables currently allocated.
    pub fn live_tables(&self) -> usize {
        self.allocated.iter().filter(|&&a| a).count()
    }

    /// Number of successful `alloc_table` calls so far.
    pub fn allocations(&self) -> usize {
        self.allocations
    }

    /// Number of `free_table` calls so far.
    pub fn frees(&self) -> usize {
        self.frees
    }

    /// Whether `table` is a live table.
    pub fn is_live(&self, table: PhysAddr) -> bool {
        self.slot(table).is_some_and(|slot| self.allocated[slot])
    }

    fn slot(&self, table: PhysAddr) -> Option<usize> {
        let offset = table.as_u64().checked_sub(BASE)?;
        if offset % PAGE_SIZE != 0 {
            return None;
        }
        let slot = usize::try_from(offset / PAGE_SIZE).ok()?;
        (slot < self.tables.len()).then_some(slot)
    }

    fn live_slot(&self, table: PhysAddr, index: usize) -> usize {
        assert!(index < ENTRIES, "entry index {index} out of range");
        match self.slot(table) {
            Some(slot) if self.allocated[slot] => slot,
            _ => panic!("{table:?} is not a live page table"),
        }
    }
}

impl PageTableMemory for EmulatedMemory {
    fn read_entry(&self, table: PhysAddr, index: usize) -> PageTableEntry {
        let slot = self.live_slot(table, index);
        PageTableEntry::from_raw(self.tables[slot][index])
    }

    fn write_entry(&mut self, table: PhysAddr, index: usize, entry: PageTableEntry) {
        let slot = self.live_slot(table, index);
        self.tables[slot][index] = entry.raw();
    }

    fn alloc_table(&mut self) -> Result<PhysAddr, MapError> {
        if self.live_tables() >= self.capacity {
            return Err(MapError::OutOfMemory);
        }
        let slot = match self.allocated.iter().position(|&a| !a) {
            Some(slot) => slot,
            None => {
                self.tables.push([0; ENTRIES]);
                self.allocated.push(false);
                self.tables.len() - 1
            }
        };
        self.tables[slot] = [0; ENTRIES];
        self.allocated[slot] = true;
        self.allocations += 1;
        Ok(PhysAddr::new(BASE + slot as u64 * PAGE_SIZE))
    }

    fn free_table(&mut self, table: PhysAddr) {
        let slot = self.live_slot(table, 0);
        assert!(self.tables[slot].iter().all(|&e| e == 0), "freeing non-empty table {table:?}");
        self.allocated[slot] = false;
        self.frees += 1;
    }
}
