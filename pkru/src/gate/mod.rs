//! The PKRU instructions: the only place in Isola where `wrpkru` and
//! `rdpkru` are written.
//!
//! Every `wrpkru` in the kernel image sits in `entry` (the `.text.isola_gate`
//! section), each immediately followed by a check of the value loaded
//! against an immediate or the value published on the key-15 page (DESIGN.md,
//! "Jumping into the middle of a gate"); the build scans the kernel image for
//! `0F 01 EF` and accepts only hits inside that section. The helpers here
//! call the gate's kernel-only loads, which also abort when a process runs.
//!
//! Both instructions need CR4.PKE set, else they raise #UD.

use crate::Pkru;
use core::arch::asm;

/// Reads PKRU (`rdpkru` with ECX = 0; EDX is clobbered).
///
/// # Safety
/// CR4.PKE must be set, else the instruction raises #UD.
#[inline(always)]
pub unsafe fn read_pkru() -> Pkru {
    let bits: u32;
    // SAFETY: the caller guarantees CR4.PKE is set, so `rdpkru` is defined;
    // with ECX = 0 it only writes EAX and EDX and touches no memory.
    unsafe {
        asm!(
            "rdpkru",
            in("ecx") 0u32,
            out("eax") bits,
            out("edx") _,
            options(nomem, nostack, preserves_flags),
        );
    }
    Pkru::from_bits(bits)
}

/// Loads the kernel's PKRU ([`Pkru::KERNEL`]), for kernel code that does not
/// run on behalf of a process (boot, and the end of an in-kernel test).
///
/// The WRPKRU is the one of `isola_gate_load_kernel_pkru`: after it, the
/// value is compared with an immediate and the gate state (key 0) must say
/// that no process runs on this CPU; a process that jumps onto it is
/// aborted (killed), never returned to. There is no helper that loads a
/// value from a register: a check against a register the caller chose is
/// no check (issue 9, escape 1).
///
/// # Safety
/// CR4.PKE must be set, and no process may be running on this CPU (the
/// gate state's `in_process` clear), else the gate's abort kills the current
/// process.
#[cfg(target_os = "none")]
pub unsafe fn load_kernel_pkru() {
    // SAFETY: the caller guarantees CR4.PKE (no #UD) and kernel context; the
    // routine follows the C ABI and clobbers only EAX, ECX and EDX.
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = sym isola_gate_load_kernel_pkru,
            out("eax") _, out("ecx") _, out("edx") _,
        );
    }
}

/// Loads the PKRU published on the key-15 page for this CPU (the value the
/// return gate compares against), for in-kernel tests that run the kernel
/// with reduced rights: publish a value, load it, test, then
/// [`load_kernel_pkru`]. A process that jumps onto this WRPKRU gets at most
/// the value published for it, and is then aborted.
///
/// # Safety
/// As for [`load_kernel_pkru`], and the published value must keep open every
/// key the caller touches afterwards (its code's data, its stack).
#[cfg(target_os = "none")]
pub unsafe fn load_published_pkru() {
    // SAFETY: as in `load_kernel_pkru`.
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = sym isola_gate_load_published_pkru,
            out("eax") _, out("ecx") _, out("edx") _,
        );
    }
}

#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
pub use entry::*;
