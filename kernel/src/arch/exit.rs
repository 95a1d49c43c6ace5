//! Leaving QEMU through the `isa-debug-exit` device (iobase 0xf4): writing v
//! makes QEMU exit with status `(v << 1) | 1`.

use x86::io::outl;

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the VM with `value` (QEMU exits with `(value << 1) | 1`). Halts if the device is absent.
pub fn qemu_exit(value: u32) -> ! {
    // SAFETY: the debug-exit port only ends the VM; it touches no memory.
    unsafe { outl(DEBUG_EXIT_PORT, value) };
    super::cpu::halt_forever()
}
