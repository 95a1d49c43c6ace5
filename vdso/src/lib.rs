//! The vDSO: the ELF image every process maps (built from `vdso.c` by
//! `build.rs`), the layout of the vvar page it reads, and the clock
//! arithmetic the kernel and the image share, so that the clocks read in a
//! process and in the kernel agree to the nanosecond (docs/dynamic.md,
//! "vDSO").
//!
//! A process sees `[vvar]` (one read-only page, written only by the kernel)
//! directly below `[vdso]` (the image, read and execute): the image reads
//! the page at a fixed distance from its own code.
#![no_std]

/// The vDSO image: one `PT_LOAD` from file offset 0, linked at 0, with no
/// relocations, exporting `__vdso_clock_gettime`, `__vdso_gettimeofday`,
/// `__vdso_time`, `__vdso_clock_getres` and `__vdso_getcpu` (and their
/// unprefixed weak aliases) at version `LINUX_2.6`, as Linux's does.
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Bytes of a page.
pub const PAGE_SIZE: u64 = 4096;
/// Pages of the vvar area, placed right below the image (`vdso.lds`).
pub const VVAR_PAGES: u64 = 1;

/// Pages the image takes when mapped.
pub fn image_pages() -> u64 {
    (IMAGE.len() as u64).div_ceil(PAGE_SIZE)
}

/// The words of the vvar page, in order (`struct vvar` of `vdso.c`).
pub mod word {
    /// Sequence count: odd while the kernel writes the page.
    pub const SEQ: usize = 0;
    /// [`super::FLAG_CLOCK`], [`super::FLAG_RDTSCP`].
    pub const FLAGS: usize = 1;
    pub const TSC_BASE: usize = 2;
    pub const MULT: usize = 3;
    pub const SHIFT: usize = 4;
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns.
    pub const REALTIME_OFFSET: usize = 5;
    /// `struct timezone` as settimeofday set it (sign-extended).
    pub const TZ_MINUTESWEST: usize = 6;
    pub const TZ_DSTTIME: usize = 7;
    /// Words in the page's header.
    pub const COUNT: usize = 8;
}

/// The clock words are valid (else every clock call makes the system call).
pub const FLAG_CLOCK: u64 = 1;
/// `rdtscp` works and IA32_TSC_AUX holds `(node << 12) | cpu` (else
/// getcpu makes the system call).
pub const FLAG_RDTSCP: u64 = 2;

/// TSC to CLOCK_MONOTONIC: `ns = ((tsc - tsc_base) * mult) >> shift` with
/// a 128-bit product, the one formula of the kernel and the vDSO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockParams {
    pub tsc_base: u64,
    pub mult: u64,
    pub shift: u32,
}

impl ClockParams {
    /// The parameters for a TSC of `tsc_hz` that read 0 ns at `tsc_base`:
    /// the largest shift whose multiplier stays below 2^63 (the error is
    /// then below one part in 2^62 for any rate the TSC can have). None for
    /// a zero rate.
    pub fn new(tsc_hz: u64, tsc_base: u64) -> Option<ClockParams> {
        if tsc_hz == 0 {
            return None;
        }
        (0..=63u32).rev().find_map(|shift| {
            let mult = (1_000_000_000u128 << shift) / u128::from(tsc_hz);
            (mult < 1 << 63 && mult != 0).then_some(ClockParams { tsc_base, mult: mult as u64, shift })
        })
    }

    /// Nanoseconds since `tsc_base` at TSC value `tsc` (a TSC behind the
    /// base wraps, as the vDSO's unsigned subtraction does).
    pub fn ns_at(&self, tsc: u64) -> u64 {
        ((u128::from(tsc.wrapping_sub(self.tsc_base)) * u128::from(self.mult)) >> self.shift) as u64
    }
}

/// What the kernel publishes on the vvar page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vvar {
    pub clock: Option<ClockParams>,
    pub rdtscp: bool,
    pub realtime_offset: u64,
    pub tz_minuteswest: i32,
    pub tz_dsttime: i32,
}

impl Vvar {
    /// The page's words after the sequence count (`word::FLAGS..word::COUNT`).
    pub fn words(&self) -> [u64; word::COUNT - 1] {
        let mut words = [0u64; word::COUNT - 1];
        let clock = self.clock.unwrap_or(ClockParams { tsc_base: 0, mult: 0, shift: 0 });
        let flags = if self.clock.is_some() { FLAG_CLOCK } else { 0 } | if self.rdtscp { FLAG_RDTSCP } else { 0 };
        words[word::FLAGS - 1] = flags;
        words[word::TSC_BASE - 1] = clock.tsc_base;
        words[word::MULT - 1] = clock.mult;
        words[word::SHIFT - 1] = u64::from(clock.shift);
        words[word::REALTIME_OFFSET - 1] = self.realtime_offset;
        words[word::TZ_MINUTESWEST - 1] = i64::from(self.tz_minuteswest) as u64;
        words[word::TZ_DSTTIME - 1] = i64::from(self.tz_dsttime) as u64;
        words
    }
}

#[cfg(test)]
mod tests;
