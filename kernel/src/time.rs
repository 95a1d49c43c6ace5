//! Time: the TSC frequency (stated by CPUID or measured against the local APIC
//! timer, since microvm has no PIT), the periodic tick, conversions, and
//! the clocks (CLOCK_MONOTONIC from the TSC, CLOCK_REALTIME an offset from
//! it that clock_settime moves), which the vDSO reads too (`proc::vdso`).

use core::sync::atomic::{AtomicU64, Ordering};

use paging::PhysAddr;
use spin::{Mutex, Once};

use crate::arch::{apic, cpu};
use crate::cpu_features::CpuFeatures;
use crate::trap::TIMER_VECTOR;

/// Timer interrupts per second.
pub const TIMER_HZ: u64 = 100;
/// APIC timer rate when CPUID states none: QEMU (TCG and KVM), Firecracker and
/// Cloud Hypervisor all clock the local APIC timer at 1 GHz (1 ns bus cycle).
const VMM_APIC_HZ: u64 = 1_000_000_000;
/// How long the TSC is measured against the APIC timer.
const CALIBRATION_US: u64 = 250;

/// Where the clock rates came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// CPUID stated the TSC frequency (leaf 0x40000010 or 0x15).
    Cpuid,
    /// The TSC was measured against the APIC timer.
    ApicCalibrated,
}

/// The calibrated clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub tsc_hz: u64,
    pub apic_hz: u64,
    pub source: ClockSource,
}

static CLOCK: Once<Clock> = Once::new();

/// Maps and enables the local APIC, calibrates the TSC, and starts the periodic tick.
pub fn init(features: &CpuFeatures) -> Result<Clock, &'static str> {
    cpu::mask_legacy_pic();
    let apic_phys = apic::enable_in_msr();
    let apic_virt = crate::mm::map_mmio(PhysAddr::new(apic_phys)).map_err(|_| "cannot map the local APIC")?;
    apic::init(apic_virt.as_u64());
    let apic_hz = features.stated_apic_hz.unwrap_or(VMM_APIC_HZ);
    let (tsc_hz, source) = match features.stated_tsc_hz {
        Some(hz) => (hz, ClockSource::Cpuid),
        None => {
            // A short first pass gets the loop translated (under TCG) before the real one.
            measure_tsc_hz(apic_hz, CALIBRATION_US / 16)?;
            (measure_tsc_hz(apic_hz, CALIBRATION_US)?, ClockSource::ApicCalibrated)
        }
    };
    let period = u32::try_from(apic_hz / TIMER_HZ).map_err(|_| "APIC timer period does not fit 32 bits")?;
    apic::start_periodic(TIMER_VECTOR, period);
    Ok(*CLOCK.call_once(|| Clock { tsc_hz, apic_hz, source }))
}

/// Counts TSC cycles while the APIC timer counts down `window_us`.
fn measure_tsc_hz(apic_hz: u64, window_us: u64) -> Result<u64, &'static str> {
    let window = (apic_hz * window_us / 1_000_000).max(1);
    apic::start_reference_count(u32::MAX);
    let start_count = apic::current_count();
    let start_tsc = cpu::rdtsc();
    let mut spins: u64 = 0;
    let elapsed = loop {
        let elapsed = u64::from(start_count.wrapping_sub(apic::current_count()));
        if elapsed >= window {
            break elapsed;
        }
        spins += 1;
        if spins > 100_000_000 {
            return Err("the local APIC timer does not count");
        }
    };
    let cycles = cpu::rdtsc().wrapping_sub(start_tsc);
    Ok(cycles.saturating_mul(apic_hz) / elapsed)
}

/// The clock, once calibrated.
pub fn clock() -> Option<Clock> {
    CLOCK.get().copied()
}

/// Microseconds in `cycles` TSC cycles (0 before calibration).
pub fn cycles_to_us(cycles: u64) -> u64 {
    match clock() {
        Some(clock) if clock.tsc_hz != 0 => (u128::from(cycles) * 1_000_000 / u128::from(clock.tsc_hz)) as u64,
        _ => 0,
    }
}

/// TSC cycles in `us` microseconds (0 before calibration).
#[cfg(feature = "ktest")]
pub fn us_to_cycles(us: u64) -> u64 {
    clock().map_or(0, |clock| (u128::from(us) * u128::from(clock.tsc_hz) / 1_000_000) as u64)
}

/// TSC to CLOCK_MONOTONIC (0 ns at the PVH entry): the formula the vDSO
/// computes too, with the same parameters, so both read the same clock.
static MONOTONIC: Once<vdso::ClockParams> = Once::new();
/// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns: the RTC's time at boot,
/// moved by clock_settime and settimeofday.
static REALTIME_OFFSET: AtomicU64 = AtomicU64::new(0);
/// The time zone settimeofday set (minutes west of Greenwich, DST type),
/// which gettimeofday reports; Linux starts with zeros.
static TIMEZONE: Mutex<(i32, i32)> = Mutex::new((0, 0));

/// Records the boot TSC and reads the RTC for the wall clock (or takes
/// `fallback_epoch_secs`, given by the host, where there is no RTC).
pub fn init_wall_clock(boot_tsc: u64, fallback_epoch_secs: Option<u64>) {
    let realtime_at_boot = match crate::arch::rtc::read() {
        Some(rtc) => {
            let days = days_from_civil(rtc.year, rtc.month, rtc.day);
            let secs = days * 86_400 + u64::from(rtc.hour) * 3600 + u64::from(rtc.minute) * 60 + u64::from(rtc.second);
            let since_boot = cycles_to_ns(cpu::rdtsc().wrapping_sub(boot_tsc));
            (secs * 1_000_000_000).saturating_sub(since_boot)
        }
        None => match fallback_epoch_secs {
            Some(secs) => secs.saturating_mul(1_000_000_000),
            None => {
                log::info!("no RTC and no epoch= argument: CLOCK_REALTIME starts at 1970");
                0
            }
        },
    };
    REALTIME_OFFSET.store(realtime_at_boot, Ordering::Relaxed);
    if let Some(params) = clock().and_then(|clock| vdso::ClockParams::new(clock.tsc_hz, boot_tsc)) {
        MONOTONIC.call_once(|| params);
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let (y, m) = if month <= 2 { (i64::from(year) - 1, i64::from(month) + 9) } else { (i64::from(year), i64::from(month) - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468).max(0) as u64
}

/// Nanoseconds in `cycles` TSC cycles.
pub fn cycles_to_ns(cycles: u64) -> u64 {
    match clock() {
        Some(clock) if clock.tsc_hz != 0 => (u128::from(cycles) * 1_000_000_000 / u128::from(clock.tsc_hz)) as u64,
        _ => 0,
    }
}

/// The clock CPU-time accounting runs on: raw TSC cycles, read at every
/// kernel entry and exit, so it costs one `rdtsc` there; `cpu_clock_to_ns`
/// converts a span of it (with a 128-bit division) only when a time is
/// reported.
pub fn cpu_clock() -> u64 {
    cpu::rdtsc()
}

/// Nanoseconds in `cycles` of [`cpu_clock`].
pub fn cpu_clock_to_ns(cycles: u64) -> u64 {
    cycles_to_ns(cycles)
}

/// Nanoseconds since boot (CLOCK_MONOTONIC; 0 until the wall clock is set up).
pub fn monotonic_ns() -> u64 {
    MONOTONIC.get().map_or(0, |params| params.ns_at(cpu::rdtsc()))
}

/// Nanoseconds since the epoch (CLOCK_REALTIME).
pub fn realtime_ns() -> u64 {
    REALTIME_OFFSET.load(Ordering::Relaxed).saturating_add(monotonic_ns())
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC, ns.
pub fn realtime_offset_ns() -> u64 {
    REALTIME_OFFSET.load(Ordering::Relaxed)
}

/// Sets CLOCK_REALTIME to `ns` since the epoch (clock_settime,
/// settimeofday) and publishes it to the vDSO. EINVAL for a time before
/// boot would have been (Linux refuses a wall clock behind the monotonic one).
pub fn set_realtime_ns(ns: u64) -> Result<(), syscall::Errno> {
    let offset = ns.checked_sub(monotonic_ns()).ok_or(syscall::Errno::EINVAL)?;
    REALTIME_OFFSET.store(offset, Ordering::Relaxed);
    crate::proc::vdso::publish();
    crate::timerfd::clock_was_set();
    Ok(())
}

/// The time zone of gettimeofday.
pub fn timezone() -> (i32, i32) {
    *TIMEZONE.lock()
}

/// Sets the time zone (settimeofday) and publishes it to the vDSO.
pub fn set_timezone(minuteswest: i32, dsttime: i32) {
    *TIMEZONE.lock() = (minuteswest, dsttime);
    crate::proc::vdso::publish();
}

/// What the vvar page says about the clocks (`rdtscp`: whether getcpu may use it).
pub fn vvar(rdtscp: bool) -> vdso::Vvar {
    let (tz_minuteswest, tz_dsttime) = timezone();
    vdso::Vvar {
        clock: MONOTONIC.get().copied(),
        rdtscp,
        realtime_offset: REALTIME_OFFSET.load(Ordering::Relaxed),
        tz_minuteswest,
        tz_dsttime,
    }
}
