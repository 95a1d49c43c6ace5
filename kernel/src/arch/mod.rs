//! Everything that touches the hardware or needs `unsafe`: boot, descriptor
//! tables, trap entry, page-table memory, the heap glue, the APIC, port I/O.
//! The rest of the kernel uses the safe functions exported here.

pub mod apic;
pub mod backtrace;
pub mod boot;
pub mod context;
pub mod cpu;
pub mod exit;
pub mod gate;
pub mod gdt;
pub mod heap;
pub mod idt;
pub mod ioapic;
pub mod layout;
pub mod paging;
pub mod pkey;
pub mod probe;
pub mod rtc;
pub mod section;
pub mod serial;
pub mod stack;
pub mod virtio;
