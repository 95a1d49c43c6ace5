//! The IDT. Its 256 entries point at the interrupt stubs of the `pkru`
//! gate (`pkru::gate`): the `mpk` set switches PKRU to the kernel's on entry
//! and back on the way out to a process, the `none` set does not. Each stub
//! pushes a zero error code where the CPU pushes none, then the vector, saves
//! the general registers and calls `trap::kernel_trap` (the kernel was
//! interrupted, on the IST stack) or `trap::process_trap` (a process was,
//! on its kernel stack). Every vector runs on an IST stack (see `gdt::ist`).

use core::ptr::{addr_of, addr_of_mut};

use x86::dtables::{DescriptorTablePointer, lidt};

use super::gdt::{KERNEL_CODE, ist};

pub use pkru::gate::{SyscallFrame, TrapFrame};

#[unsafe(no_mangle)]
extern "C" fn isola_trap_entry(frame: *mut TrapFrame) {
    // SAFETY: the gate's common path passes a pointer to the frame it just
    // built on this IST stack; nothing else aliases it while the handler runs.
    let frame = unsafe { &mut *frame };
    crate::trap::kernel_trap(frame);
}

/// A trap taken while a process ran, as the gate hands it over: the
/// process's registers as a `SyscallFrame` on its kernel stack, and the IST
/// frame it came in on (which lies within the IST stacks: the gate checked).
#[unsafe(no_mangle)]
extern "C" fn isola_process_trap(frame: *mut SyscallFrame, trap: *const TrapFrame) {
    // SAFETY: the gate passes the frame it just built on this kernel stack.
    let frame = unsafe { &mut *frame };
    // SAFETY: the gate checked that a whole `TrapFrame` at `trap` lies inside
    // the IST stacks, which stay mapped; it is only read.
    let ist_frame = unsafe { trap.read() };
    let origin = origin(trap as u64, &ist_frame);
    crate::trap::process_trap(frame, ist_frame.vector, ist_frame.error_code, origin);
}

/// Who raised a trap that came from a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapOrigin {
    /// The CPU (an exception, or a device interrupt in service), as far as
    /// can be told: an `int n` of an exception vector without an error code
    /// looks the same.
    Cpu,
    /// A software `int n` (or a jump into the interrupt path): an
    /// error-code vector whose frame lacks the error code, or a device
    /// vector the local APIC has not delivered. `rip`: where it was
    /// raised, read from where the frame really holds it.
    Software { rip: u64 },
}

fn origin(trap_addr: u64, trap: &TrapFrame) -> TrapOrigin {
    let software = TrapOrigin::Software { rip: trap.rip };
    let Ok(vector) = u8::try_from(trap.vector) else { return software };
    // The CPU pushes its frame at the top of the vector's IST stack, and the
    // stub evens out the error code: a genuine frame sits exactly one
    // `TrapFrame` below that top. `int n` on an error-code vector leaves it
    // one word higher.
    let expected = super::gdt::ist_top(ist_for(vector)) - core::mem::size_of::<TrapFrame>() as u64;
    if trap_addr != expected {
        // Without the error code the CPU's frame starts one word higher:
        // what the stub took for the error code is the RIP.
        let rip = if trap_addr == expected + 8 { trap.error_code } else { trap.rip };
        return TrapOrigin::Software { rip };
    }
    if vector >= 32 && vector != super::apic::SPURIOUS_VECTOR && !super::apic::in_service(vector) {
        return software;
    }
    TrapOrigin::Cpu
}

/// #BP, which `int3` raises.
const BREAKPOINT_VECTOR: u8 = 3;

#[unsafe(link_section = ".cpu_descriptors")]
static mut IDT: [u128; 256] = [0; 256];

/// The IST slot a vector runs on.
fn ist_for(vector: u8) -> u8 {
    match vector {
        1 | 3 => ist::DEBUG,
        2 => ist::NMI,
        8 => ist::DOUBLE_FAULT,
        14 => ist::PAGE_FAULT,
        18 => ist::MACHINE_CHECK,
        0..=31 => ist::EXCEPTION,
        _ => ist::INTERRUPT,
    }
}

/// One 64-bit interrupt gate: present, DPL 0 (DPL 3 where `user` may raise
/// it with `int n` from ring 3), kernel code selector, IST slot.
fn gate(handler: u64, ist_slot: u8, user: bool) -> u128 {
    let type_attr: u64 = if user { 0xee } else { 0x8e };
    let low = (handler & 0xffff)
        | (u64::from(KERNEL_CODE) << 16)
        | (u64::from(ist_slot) << 32)
        | (type_attr << 40)
        | (((handler >> 16) & 0xffff) << 48);
    u128::from(low) | (u128::from(handler >> 32) << 64)
}

/// Fills and loads the IDT with the stubs of the level's gate. At `strict`
/// only `int3` (#BP) is open to ring 3, as on Linux; every other `int n`
/// from a process is a #GP.
pub fn init(level: super::gate::GateLevel) {
    use super::gate::GateLevel;
    let stubs = match level {
        GateLevel::Strict => addr_of!(pkru::gate::isola_gate_isr_stubs_strict) as u64,
        GateLevel::Mpk => addr_of!(pkru::gate::isola_gate_isr_stubs_mpk) as u64,
        GateLevel::None => addr_of!(pkru::gate::isola_gate_isr_stubs_none) as u64,
    };
    // SAFETY: runs once on the boot CPU with interrupts off; nothing else reads
    // the IDT until `lidt` below.
    unsafe {
        let idt = &mut *addr_of_mut!(IDT);
        for (vector, entry) in idt.iter_mut().enumerate() {
            let vector = vector as u8;
            let user = vector == BREAKPOINT_VECTOR;
            *entry = gate(stubs + u64::from(vector) * pkru::gate::ISR_STUB_SIZE, ist_for(vector), user);
        }
        lidt(&DescriptorTablePointer::new_from_slice(&idt[..]));
    }
}

#[cfg(feature = "ktest")]
/// The IST slot the loaded IDT gives `vector` (read back from the table).
pub fn loaded_ist(vector: u8) -> u8 {
    // SAFETY: reads one IDT entry; the table is only written by `init`.
    let entry = unsafe { (*addr_of!(IDT))[usize::from(vector)] };
    ((entry >> 32) & 0x7) as u8
}
