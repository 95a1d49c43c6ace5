//! The I/O APICs of microvm: routing one device interrupt line (a GSI) to a
//! vector on this CPU. microvm has one I/O APIC at 0xfec00000 for GSIs 0..24
//! and, with ACPI, a second one at 0xfec10000 for GSIs 24..48, where its
//! virtio-mmio transports sit.

use paging::PhysAddr;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REDIRECTION_BASE: u32 = 0x10;
/// GSIs each I/O APIC of microvm serves.
const PINS: u32 = 24;
const FIRST_BASE: u64 = 0xfec0_0000;
const SECOND_BASE: u64 = 0xfec1_0000;

fn write(base: u64, reg: u32, value: u32) {
    // SAFETY: `base` is an I/O APIC page mapped uncached by `route`; IOREGSEL
    // and IOWIN are 32-bit registers at offsets 0 and 0x10.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *mut u32).write_volatile(value);
    }
}

/// Delivers `gsi` (edge-triggered, active high) as `vector` to the CPU with
/// local APIC id 0, unmasked.
pub fn route(gsi: u32, vector: u8) -> Result<(), &'static str> {
    let (phys, pin) = match gsi {
        g if g < PINS => (FIRST_BASE, g),
        g if g < 2 * PINS => (SECOND_BASE, g - PINS),
        _ => return Err("GSI beyond the I/O APICs of microvm"),
    };
    let base = crate::mm::map_mmio(PhysAddr::new(phys)).map_err(|_| "cannot map the I/O APIC")?.as_u64();
    let reg = REDIRECTION_BASE + 2 * pin;
    write(base, reg + 1, 0);
    write(base, reg, u32::from(vector));
    Ok(())
}
