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

/// Loads the kernel's PKRU (checked by the gate's kernel-only load).
///
/// Panics when protection keys are off.
pub fn set_kernel_pkru() {
    assert!(protection_keys_on(), "set_kernel_pkru without CR4.PKE");
    // SAFETY: CR4.PKE is set; the kernel PKRU opens every key, and kernel
    // code calls this only outside any process's entry (the gate aborts
    // otherwise).
    unsafe { pkru::gate::load_kernel_pkru() };
}

/// Runs the kernel with `value` loaded (published on the key-15 page
/// first, since the gate's load takes and checks the published value).
/// For in-kernel tests only; restore with [`set_kernel_pkru`] and
/// [`super::gate::publish`] of the previous value.
///
/// Panics when protection keys are off or `value` closes key 0 (the
/// kernel's own memory, its stack included).
#[cfg(feature = "ktest")]
pub fn set_pkru_published(value: Pkru) {
    assert!(protection_keys_on(), "set_pkru without CR4.PKE");
    assert!(value.can_write(pkru::Key::KERNEL), "the kernel must keep key 0 open while it runs");
    super::gate::publish(value);
    // SAFETY: CR4.PKE is set and key 0 stays open, so the kernel's code, data
    // and stack stay reachable after the write.
    unsafe { pkru::gate::load_published_pkru() };
}
