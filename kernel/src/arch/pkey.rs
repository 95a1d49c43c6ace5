//! Safe access to PKRU for the kernel, through the `pkru` crate's gate module
//! (the only place WRPKRU lives). Both functions check CR4.PKE first, since
//! RDPKRU and WRPKRU raise #UD without it.

use pkru::Pkru;
use x86::controlregs::Cr4;

fn protection_keys_on() -> bool {
    super::cpu::read_cr4().contains(Cr4::CR4_ENABLE_PROTECTION_KEY)
}

/// The current PKRU, or `None` when protection keys are off.
pub fn pkru() -> Option<Pkru> {
    // SAFETY: CR4.PKE is set (checked), so RDPKRU is defined.
    protection_keys_on().then(|| unsafe { pkru::gate::read_pkru() })
}

/// Loads `value` into PKRU (checked after the write by the gate sequence).
///
/// Panics when protection keys are off. Callers must not close key 0 (the
/// kernel's own memory, its stack included) while they run kernel code.
pub fn set_pkru(value: Pkru) {
    assert!(protection_keys_on(), "set_pkru without CR4.PKE");
    assert!(value.can_write(pkru::Key::KERNEL), "the kernel must keep key 0 open while it runs");
    // SAFETY: CR4.PKE is set and key 0 stays open, so the kernel's code, data
    // and stack stay reachable after the write.
    unsafe { pkru::gate::write_pkru(value) };
}
