//! The PKRU instructions: the only place in Isola where `wrpkru` and
//! `rdpkru` are written.
//!
//! Every `wrpkru` in the kernel image must sit here, immediately followed by
//! a check of the value written (DESIGN.md, "Jumping into the middle of a
//! gate"); the build scans the kernel image for `0F 01 EF` and accepts only
//! the hits of this module. The process-facing entry and exit gates of
//! GATE.md compare against the kernel's PKRU as an immediate or against the
//! value published on the key-15 page; the helpers here serve kernel code
//! that already runs with kernel rights (boot, process switch, tests).
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

/// Writes `value` to PKRU and checks it.
///
/// The `wrpkru` is immediately followed by `rdpkru; cmp eax, <expected>;
/// jne abort`, where the abort is `ud2` (the kernel reports #UD in kernel
/// code as a fatal fault). The check follows the write so that the only
/// way on from this `wrpkru` goes through a comparison of the PKRU actually
/// loaded: code that jumps straight onto the `wrpkru` with a value of its
/// own in EAX (the "jumping into the middle of a gate" attack, ERIM's
/// `wrpkru; cmp; jne abort` pattern) ends in the abort instead of running on
/// with the rights it chose. Here `<expected>` is a register holding
/// `value`; for a comparison against a value fixed at build time, use
/// [`write_pkru_fixed`].
///
/// The asm is not `nomem`: the compiler may not move memory accesses across
/// the change of rights.
///
/// # Safety
/// CR4.PKE must be set, and the caller must not close a key whose memory it
/// (or its stack, or anything it returns to) is about to touch.
// Never inlined: one copy in the image, inside `pkru::gate`, where the
// image scan expects it.
#[inline(never)]
pub unsafe fn write_pkru(value: Pkru) {
    // `wrpkru` needs ECX = EDX = 0; `rdpkru` keeps ECX = 0 and sets EDX to 0;
    // a mismatch ends in `ud2`, never in a return with unchecked rights.
    // SAFETY: the caller guarantees CR4.PKE is set (no #UD) and that the new
    // rights cover the memory used afterwards.
    unsafe {
        asm!(
            "wrpkru",
            "rdpkru",
            "cmp eax, {expected:e}",
            "jne 2f",
            "jmp 3f",
            "2:",
            "ud2",
            "3:",
            expected = in(reg) value.bits(),
            inout("eax") value.bits() => _,
            in("ecx") 0u32,
            inout("edx") 0u32 => _,
            options(nostack),
        );
    }
}

/// Writes the PKRU value `BITS` and checks it against `BITS` as an
/// immediate: `wrpkru; rdpkru; cmp eax, BITS; jne abort` (abort = `ud2`).
///
/// Unlike [`write_pkru`], the expected value is part of the instruction
/// stream, so a jump onto this `wrpkru` with any other EAX aborts. Use it
/// for values known at build time, e.g.
/// `write_pkru_fixed::<{ Pkru::KERNEL.bits() }>()`.
///
/// # Safety
/// As for [`write_pkru`]: CR4.PKE must be set, and the caller must not close
/// a key whose memory it (or its stack) is about to touch.
#[inline(never)]
pub unsafe fn write_pkru_fixed<const BITS: u32>() {
    // SAFETY: as in `write_pkru`; the compared value is an immediate.
    unsafe {
        asm!(
            "wrpkru",
            "rdpkru",
            "cmp eax, {expected}",
            "jne 2f",
            "jmp 3f",
            "2:",
            "ud2",
            "3:",
            expected = const BITS as i32,
            inout("eax") BITS => _,
            in("ecx") 0u32,
            inout("edx") 0u32 => _,
            options(nostack),
        );
    }
}

#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
pub use entry::*;
