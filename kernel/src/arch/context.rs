//! Switching between processes' kernel stacks, the entry of a process that
//! has not run yet, and each process's FPU/SIMD
//! state (XSAVE with the kernel's XCR0, which never includes PKRU).

use alloc::vec::Vec;
use core::arch::global_asm;

use pkru::gate::SyscallFrame;

global_asm!(
    r#"
    .pushsection .text.isola_context, "ax"
    /* isola_switch_context(save: *mut u64 [rdi], next_rsp: u64 [rsi]) */
    .global isola_switch_context
isola_switch_context:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov qword ptr [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

    /* A new process's first switch returns here with RSP at its SyscallFrame. */
    .global isola_first_return
isola_first_return:
    jmp {return_gate}
    .popsection
"#,
    return_gate = sym pkru::gate::isola_gate_return_to_process,
);

unsafe extern "C" {
    fn isola_switch_context(save: *mut u64, next_rsp: u64);
    static isola_first_return: u8;
}

/// Saves the running kernel context (callee-saved registers, RSP) into
/// `*save` and continues the one saved at `next_rsp`. Returns when something
/// switches back to the saved context.
///
/// # Safety
/// `next_rsp` must be a context saved by this function or made by
/// `prepare_first_entry`, on a kernel stack that stays mapped; `save` must
/// stay valid until the saved context is resumed.
pub unsafe fn switch(save: *mut u64, next_rsp: u64) {
    // SAFETY: per the contract above; the asm follows the SysV ABI (it saves
    // the callee-saved registers itself and returns normally).
    unsafe { isola_switch_context(save, next_rsp) };
}

/// Lays out a new process's kernel stack so that the first switch to it
/// returns to the process with `frame`. Returns the context's RSP.
pub fn prepare_first_entry(kernel_stack_top: u64, frame: &SyscallFrame) -> u64 {
    let frame_addr = kernel_stack_top - core::mem::size_of::<SyscallFrame>() as u64;
    let ret_addr = frame_addr - 8;
    let context = ret_addr - 6 * 8;
    // SAFETY: the stack was just allocated for this process and nobody runs
    // on it; the writes stay between `context` and its top.
    unsafe {
        (frame_addr as *mut SyscallFrame).write(*frame);
        (ret_addr as *mut u64).write(core::ptr::addr_of!(isola_first_return) as u64);
        core::ptr::write_bytes(context as *mut u64, 0, 6);
    }
    context
}

/// A process's FPU/SIMD registers (an XSAVE area, 64-byte aligned inside).
pub struct FpuState {
    buffer: Vec<u8>,
}

/// Bytes of the XSAVE area for the enabled XCR0 (CPUID 0xD.0:EBX), at least the legacy 512 + 64 header.
fn xsave_size() -> usize {
    (raw_cpuid::cpuid!(0xd, 0).ebx as usize).max(576)
}

impl FpuState {
    /// The initial state (XRSTOR of a zero header loads x87/SSE/AVX init values).
    pub fn new() -> FpuState {
        FpuState { buffer: alloc::vec![0u8; xsave_size() + 64] }
    }

    fn area(&mut self) -> *mut u8 {
        let base = self.buffer.as_mut_ptr();
        base.wrapping_add(base.align_offset(64))
    }

    /// Saves the CPU's current FPU/SIMD state here.
    pub fn save(&mut self) {
        let area = self.area();
        let mask = super::cpu::xcr0().bits();
        if mask != 0 {
            // SAFETY: the area is 64-byte aligned and large enough for the enabled
            // features (CPUID 0xD); OSXSAVE is on (the kernel's XCR0 is non-zero only then).
            unsafe { core::arch::asm!("xsave64 [{}]", in(reg) area, in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack)) };
        } else {
            // SAFETY: FXSAVE needs a 16-byte aligned 512-byte area; this one is 64-aligned.
            unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) area, options(nostack)) };
        }
    }

    /// Loads this state into the CPU.
    pub fn restore(&mut self) {
        let area = self.area();
        let mask = super::cpu::xcr0().bits();
        if mask != 0 {
            // SAFETY: the area holds a state XSAVE wrote, or zeros (a valid init
            // header); the kernel's XCR0 never includes PKRU, so XRSTOR cannot load it.
            unsafe { core::arch::asm!("xrstor64 [{}]", in(reg) area, in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack)) };
        } else {
            // SAFETY: as for save; a zero FXSAVE image is valid (MXCSR 0).
            unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) area, options(nostack)) };
        }
    }

    /// A copy (fork).
    pub fn duplicate(&mut self) -> FpuState {
        let mut copy = FpuState::new();
        let (src, dst) = (self.area(), copy.area());
        let len = xsave_size();
        // SAFETY: both areas are `len` bytes inside their buffers.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, len) };
        copy
    }

    /// The legacy 512-byte FXSAVE part (for signal frames).
    pub fn legacy(&mut self) -> [u8; 512] {
        let mut out = [0u8; 512];
        // SAFETY: the area holds at least 512 bytes.
        unsafe { core::ptr::copy_nonoverlapping(self.area(), out.as_mut_ptr(), 512) };
        out
    }

    /// Replaces the legacy part (rt_sigreturn) and marks x87/SSE as present
    /// in the XSAVE header so XRSTOR takes them from the image.
    pub fn set_legacy(&mut self, image: &[u8; 512]) {
        let area = self.area();
        // SAFETY: as above; byte 512 starts the XSAVE header (XSTATE_BV).
        unsafe {
            core::ptr::copy_nonoverlapping(image.as_ptr(), area, 512);
            let bv = area.wrapping_add(512);
            *bv |= 0b11;
        }
    }
}

impl FpuState {
    /// Bytes this state takes.
    pub fn size(&self) -> usize {
        self.buffer.len()
    }
}

/// `switch` for the scheduler: checks that the context to resume lies on a
/// kernel stack before handing it to the CPU.
pub fn switch_checked(save: *mut u64, next_rsp: u64) {
    use super::layout::{KERNEL_STACKS_BASE, KERNEL_STACK_SLOT, KERNEL_STACK_SLOTS};
    let stacks = KERNEL_STACKS_BASE..KERNEL_STACKS_BASE + KERNEL_STACK_SLOT * KERNEL_STACK_SLOTS;
    assert!(stacks.contains(&next_rsp), "resuming a context outside the kernel stacks: {next_rsp:#x}");
    assert!(!save.is_null(), "no place to save the current context");
    // SAFETY: the scheduler only resumes contexts this module saved or
    // prepared, on kernel stacks that live as long as their processes (checked
    // to lie in the stack range), and `save` points into a live record.
    unsafe { switch(save, next_rsp) };
}
