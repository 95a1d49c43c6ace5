//! Memory accesses that may fault and come back with the fault instead of
//! crashing: the page-fault handler sees the faulting RIP is one of the probe
//! instructions, moves it to the probe's landing point and reports the error
//! code in the return value (the exception-table pattern).

// Only the in-kernel tests call the probes: user copies resolve each page in
// the caller's tables first (proc::memory), so they never fault. The
// page-fault handler's fixup stays in every build.
#![cfg_attr(not(feature = "ktest"), allow(dead_code))]

use core::arch::global_asm;

use paging::VirtAddr;

global_asm!(
    r#"
    .pushsection .text.isola_probe, "ax"
    .global isola_probe_read_u64
isola_probe_read_u64:
    xorl %edx, %edx
    .global isola_probe_read_insn
isola_probe_read_insn:
    movq (%rdi), %rax
    ret

    .global isola_probe_write_u64
isola_probe_write_u64:
    xorl %edx, %edx
    xorl %eax, %eax
    .global isola_probe_write_insn
isola_probe_write_insn:
    movq %rsi, (%rdi)
    ret

    .global isola_probe_landing
isola_probe_landing:
    ret
    .popsection
"#,
    options(att_syntax)
);

/// What a probe returns in rax:rdx: the value (or the #PF error code) and a
/// fault flag.
#[repr(C)]
struct ProbeResult {
    value: u64,
    faulted: u64,
}

unsafe extern "C" {
    fn isola_probe_read_u64(addr: u64) -> ProbeResult;
    fn isola_probe_write_u64(addr: u64, value: u64) -> ProbeResult;
    static isola_probe_read_insn: u8;
    static isola_probe_write_insn: u8;
    static isola_probe_landing: u8;
}

/// A page fault a probe ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFault {
    /// The #PF error code (P, W, U, RSVD, I, PK bits).
    pub error_code: u64,
}

fn finish(result: ProbeResult) -> Result<u64, ProbeFault> {
    if result.faulted != 0 { Err(ProbeFault { error_code: result.value }) } else { Ok(result.value) }
}

/// Reads 8 bytes at `addr`, or returns the page fault it caused.
pub fn read_u64(addr: VirtAddr) -> Result<u64, ProbeFault> {
    // SAFETY: the probe reads one aligned word; a fault is caught by the #PF
    // handler and turned into a return value. Other exceptions cannot occur for
    // an aligned mov.
    finish(unsafe { isola_probe_read_u64(addr.as_u64() & !7) })
}

/// Writes 8 bytes at `addr`, or returns the page fault it caused.
///
/// Only in-kernel tests call this, on pages they mapped themselves or on
/// read-only kernel pages (which fault): a successful write to live kernel
/// data would corrupt it.
pub fn write_u64(addr: VirtAddr, value: u64) -> Result<(), ProbeFault> {
    // SAFETY: as for read_u64; callers only aim it at their own scratch pages or
    // at pages that refuse the write.
    finish(unsafe { isola_probe_write_u64(addr.as_u64() & !7, value) }).map(|_| ())
}

/// If `rip` is a probe instruction, the landing point to resume at.
pub fn fixup(rip: u64) -> Option<u64> {
    let read = core::ptr::addr_of!(isola_probe_read_insn) as u64;
    let write = core::ptr::addr_of!(isola_probe_write_insn) as u64;
    let landing = core::ptr::addr_of!(isola_probe_landing) as u64;
    (rip == read || rip == write).then_some(landing)
}
