//! The local APIC (xAPIC, memory-mapped): its timer drives the periodic tick
//! and serves as the reference clock to calibrate the TSC where CPUID does not
//! state frequencies.

use core::sync::atomic::{AtomicU64, Ordering};

const EOI: u64 = 0xb0;
const SPURIOUS: u64 = 0xf0;
const LVT_TIMER: u64 = 0x320;
const TIMER_INITIAL: u64 = 0x380;
const TIMER_CURRENT: u64 = 0x390;
const TIMER_DIVIDE: u64 = 0x3e0;

const APIC_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const DIVIDE_BY_1: u32 = 0b1011;
const MSR_GLOBAL_ENABLE: u64 = 1 << 11;

/// Vector of spurious APIC interrupts (no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// Virtual address of the APIC registers; 0 until `init`.
static BASE: AtomicU64 = AtomicU64::new(0);

fn read(reg: u64) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    assert!(base != 0, "local APIC used before init");
    // SAFETY: `init` mapped the APIC page uncached at `base`; registers are 32-bit aligned.
    unsafe { ((base + reg) as *const u32).read_volatile() }
}

fn write(reg: u64, value: u32) {
    let base = BASE.load(Ordering::Relaxed);
    assert!(base != 0, "local APIC used before init");
    // SAFETY: as in read.
    unsafe { ((base + reg) as *mut u32).write_volatile(value) };
}

/// The physical base of the APIC, from IA32_APIC_BASE, after enabling it there.
pub fn enable_in_msr() -> u64 {
    let msr = super::cpu::apic_base_msr();
    if msr & MSR_GLOBAL_ENABLE == 0 {
        super::cpu::set_apic_base_msr(msr | MSR_GLOBAL_ENABLE);
    }
    msr & 0x000f_ffff_ffff_f000
}

/// Uses the registers mapped at `virt`, software-enables the APIC, masks its timer.
pub fn init(virt: u64) {
    BASE.store(virt, Ordering::Relaxed);
    write(SPURIOUS, APIC_ENABLE | u32::from(SPURIOUS_VECTOR));
    write(LVT_TIMER, LVT_MASKED);
    write(TIMER_DIVIDE, DIVIDE_BY_1);
}

/// Starts a masked one-shot count from `initial` (divide by 1), for calibration.
pub fn start_reference_count(initial: u32) {
    write(LVT_TIMER, LVT_MASKED);
    write(TIMER_DIVIDE, DIVIDE_BY_1);
    write(TIMER_INITIAL, initial);
}

/// The timer's current count.
pub fn current_count() -> u32 {
    read(TIMER_CURRENT)
}

/// Fires `vector` every `period_ticks` APIC timer ticks (divide by 1).
pub fn start_periodic(vector: u8, period_ticks: u32) {
    write(TIMER_DIVIDE, DIVIDE_BY_1);
    write(LVT_TIMER, LVT_PERIODIC | u32::from(vector));
    write(TIMER_INITIAL, period_ticks);
}

/// Whether `vector` is in service (its In-Service Register bit is set): true
/// from the delivery of a hardware interrupt until its EOI, never for a
/// software `int n`.
pub fn in_service(vector: u8) -> bool {
    const ISR: u64 = 0x100;
    let word = read(ISR + 0x10 * u64::from(vector / 32));
    word & (1 << (vector % 32)) != 0
}

/// Signals end of interrupt.
pub fn end_of_interrupt() {
    write(EOI, 0);
}
