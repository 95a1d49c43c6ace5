//! The IDT, the 256 entry stubs, and the trap frame handed to `crate::trap`.
//!
//! Every vector runs on an IST stack (see `gdt::ist`). Each stub is 16 bytes
//! long, so stub `v` sits at `isola_isr_stubs + 16 * v`; it pushes a zero
//! error code where the CPU pushes none, then the vector, and jumps to the
//! common path, which saves the general registers and calls `trap::handle`.

use core::arch::global_asm;
use core::ptr::{addr_of, addr_of_mut};

use x86::dtables::{DescriptorTablePointer, lidt};

use super::gdt::{KERNEL_CODE, ist};

/// Registers saved on entry, in memory order (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

global_asm!(
    r#"
    .pushsection .text.isola_isr, "ax"
    .p2align 4
    .global isola_isr_stubs
isola_isr_stubs:
    .set isr_vector, 0
    .rept 256
    .p2align 4
    .if (isr_vector == 8) || ((isr_vector >= 10) && (isr_vector <= 14)) || (isr_vector == 17) || (isr_vector == 21) || (isr_vector == 29) || (isr_vector == 30)
    .else
    pushq $0
    .endif
    pushq $isr_vector
    jmp isola_isr_common
    .set isr_vector, isr_vector + 1
    .endr

isola_isr_common:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    cld
    movq %rsp, %rdi             /* the CPU aligned the IST stack; 176 bytes pushed keep it aligned */
    call isola_trap_entry
    popq %rax
    popq %rbx
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    addq $16, %rsp              /* vector and error code */
    iretq
    .popsection
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static isola_isr_stubs: u8;
}

const STUB_SIZE: u64 = 16;

#[unsafe(no_mangle)]
extern "C" fn isola_trap_entry(frame: *mut TrapFrame) {
    // SAFETY: the common stub passes a pointer to the frame it just built on
    // this IST stack; nothing else aliases it while the handler runs.
    let frame = unsafe { &mut *frame };
    crate::trap::handle(frame);
}

#[unsafe(link_section = ".cpu_tables")]
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

/// One 64-bit interrupt gate: present, DPL 0, kernel code selector, IST slot.
fn gate(handler: u64, ist_slot: u8) -> u128 {
    let low = (handler & 0xffff)
        | (u64::from(KERNEL_CODE) << 16)
        | (u64::from(ist_slot) << 32)
        | (0x8e << 40)
        | (((handler >> 16) & 0xffff) << 48);
    u128::from(low) | (u128::from(handler >> 32) << 64)
}

/// Fills and loads the IDT.
pub fn init() {
    let stubs = addr_of!(isola_isr_stubs) as u64;
    // SAFETY: runs once on the boot CPU with interrupts off; nothing else reads
    // the IDT until `lidt` below.
    unsafe {
        let idt = &mut *addr_of_mut!(IDT);
        for (vector, entry) in idt.iter_mut().enumerate() {
            let vector = vector as u8;
            *entry = gate(stubs + u64::from(vector) * STUB_SIZE, ist_for(vector));
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
