//! GDT, TSS and the IST stacks. The IST stacks live in `.cpu_tables`, the
//! GDT and TSS in `.cpu_descriptors` (read-only after boot); both are
//! mapped U/S=0: the CPU reads them during interrupt delivery, and PKU checks
//! those implicit accesses too (GATE.md), so they must never depend on PKRU.

use core::mem::size_of;
use core::ptr::{addr_of, addr_of_mut};

use x86::dtables::{DescriptorTablePointer, lgdt};
use x86::segmentation::{SegmentSelector, load_ds, load_es, load_fs, load_gs, load_ss};
use x86::Ring;

/// Kernel code selector.
pub const KERNEL_CODE: u16 = 0x08;
/// Kernel data selector.
pub const KERNEL_DATA: u16 = 0x10;
/// TSS selector (a 16-byte system descriptor at slots 3 and 4).
pub const TSS_SELECTOR: u16 = 0x18;
/// STAR[63:48] for level `strict`: `sysret` would take SS = base + 8 (slot
/// 5, user data) and CS = base + 16 (slot 6, 64-bit user code), RPL 3; the
/// return gate uses the same selectors with `iretq`
/// (`pkru::gate::USER_CODE_SELECTOR`, `USER_DATA_SELECTOR`).
pub const USER_STAR_BASE: u16 = 0x23;

/// Number of IST stacks (x86-64 has seven slots).
pub const IST_COUNT: usize = 7;
/// Size of each IST stack.
pub const IST_STACK_SIZE: usize = 16 * 1024;

/// IST slots (1-based, as the IDT encodes them). Each class of vector has its
/// own so that a #DF, NMI or #MC never lands on a frame another handler uses.
pub mod ist {
    pub const DOUBLE_FAULT: u8 = 1;
    pub const NMI: u8 = 2;
    pub const MACHINE_CHECK: u8 = 3;
    pub const PAGE_FAULT: u8 = 4;
    pub const DEBUG: u8 = 5;
    pub const EXCEPTION: u8 = 6;
    pub const INTERRUPT: u8 = 7;
}

/// The 64-bit TSS (only the IST and RSP0 fields matter in long mode).
#[repr(C, packed(4))]
struct TaskStateSegment {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; IST_COUNT],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK_SIZE]; IST_COUNT]);

// Zero-initialized: `.cpu_tables` is NOLOAD, filled in by `init`.
#[unsafe(link_section = ".cpu_descriptors")]
static mut GDT: [u64; 8] = [0; 8];
#[unsafe(link_section = ".cpu_descriptors")]
static mut TSS: TaskStateSegment = TaskStateSegment {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; IST_COUNT],
    reserved2: 0,
    reserved3: 0,
    iomap_base: 0,
};
#[unsafe(link_section = ".cpu_tables")]
static mut IST_STACKS: IstStacks = IstStacks([[0; IST_STACK_SIZE]; IST_COUNT]);

/// The addresses the IST stacks span (one block, `IST_COUNT` stacks).
pub fn ist_stacks() -> core::ops::Range<u64> {
    let base = addr_of!(IST_STACKS) as u64;
    base..base + (IST_COUNT * IST_STACK_SIZE) as u64
}

/// The top of IST slot `slot` (1-based, as in `ist`).
pub fn ist_top(slot: u8) -> u64 {
    ist_stacks().start + u64::from(slot) * IST_STACK_SIZE as u64
}

/// Builds and loads the GDT and TSS, and reloads every segment register.
pub fn init() {
    // SAFETY: runs once on the boot CPU before interrupts are enabled; nothing
    // else touches these statics, and the selectors loaded describe flat
    // 64-bit segments equal to the boot GDT's.
    unsafe {
        let tss = &mut *addr_of_mut!(TSS);
        let stacks = &*addr_of!(IST_STACKS);
        let mut ist_tops = [0u64; IST_COUNT];
        for (top, stack) in ist_tops.iter_mut().zip(stacks.0.iter()) {
            *top = stack.as_ptr_range().end as u64;
        }
        tss.ist = ist_tops;
        tss.iomap_base = size_of::<TaskStateSegment>() as u16;

        let gdt = &mut *addr_of_mut!(GDT);
        // Accessed bits set: the CPU would otherwise write them on the first
        // load, and the table is read-only after boot.
        gdt[1] = 0x00af_9b00_0000_ffff; // 64-bit code, DPL 0, accessed
        gdt[2] = 0x00cf_9300_0000_ffff; // data, DPL 0, accessed
        let base = addr_of!(TSS) as u64;
        let limit = (size_of::<TaskStateSegment>() - 1) as u64;
        gdt[3] = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40) // present, 64-bit available TSS
            | (((limit >> 16) & 0xf) << 48)
            | (((base >> 24) & 0xff) << 56);
        gdt[4] = base >> 32;
        gdt[5] = 0x00cf_f300_0000_ffff; // data, DPL 3, accessed
        gdt[6] = 0x00af_fb00_0000_ffff; // 64-bit code, DPL 3, accessed

        lgdt(&DescriptorTablePointer::new_from_slice(&gdt[..7]));
        x86::segmentation::load_cs(SegmentSelector::new(KERNEL_CODE >> 3, Ring::Ring0));
        let data = SegmentSelector::new(KERNEL_DATA >> 3, Ring::Ring0);
        load_ds(data);
        load_es(data);
        load_ss(data);
        load_fs(data);
        load_gs(data);
        x86::task::load_tr(SegmentSelector::new(TSS_SELECTOR >> 3, Ring::Ring0));
    }
}
