//! The isolation level (DESIGN.md): `strict` (processes in ring 3, in their
//! own protection-key domains) or `mpk` (in ring 0, the Iso-UniK design)
//! where the CPU has protection keys and the command line asks for it,
//! `none` otherwise. Decided once at boot.

use pkru::Pkru;
use spin::Once;

use crate::arch::cpu;
use crate::cpu_features::CpuFeatures;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Auto,
    Strict,
    Mpk,
    None,
}

impl Request {
    pub fn parse(text: &str) -> Option<Request> {
        match text {
            "auto" => Some(Request::Auto),
            "strict" => Some(Request::Strict),
            "mpk" => Some(Request::Mpk),
            "none" => Some(Request::None),
            _ => None,
        }
    }
}

/// The level the kernel runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Processes in ring 3, each in its own protection-key domain, the
    /// kernel's memory supervisor-only (U/S=0), SMEP and SMAP on.
    Strict,
    /// Protection keys on: each process in its own domain behind the PKRU
    /// gate, in ring 0.
    Mpk,
    /// No hardware isolation between processes.
    None,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Mpk => "mpk",
            Level::None => "none",
        }
    }
}

static LEVEL: Once<Level> = Once::new();

/// Picks the level and, for `mpk`, turns protection keys on (CR4.PKE) and
/// loads the kernel PKRU. Fails when `mpk` is asked for on a CPU without PKU.
pub fn init(request: Request, features: &CpuFeatures) -> Result<Level, &'static str> {
    let level = match (request, features.pku) {
        (Request::Mpk, false) => {
            return Err("isolation=mpk was requested but the CPU has no PKU (CPUID.7.0:ECX.PKU = 0)");
        }
        (Request::Strict, false) => {
            return Err("isolation=strict was requested but the CPU has no PKU (CPUID.7.0:ECX.PKU = 0)");
        }
        (Request::None, _) | (Request::Auto, false) => Level::None,
        (Request::Mpk, true) => Level::Mpk,
        // Auto: strict where the CPU can (PKU, SMEP, SMAP), else mpk.
        (Request::Auto, true) if features.smep && features.smap => Level::Strict,
        (Request::Auto, true) => Level::Mpk,
        (Request::Strict, true) => Level::Strict,
    };
    if level == Level::Strict && !(features.smep && features.smap) {
        return Err("isolation=strict needs SMEP and SMAP, and the CPU lacks one");
    }
    if level != Level::None {
        cpu::enable_protection_keys();
        if !crate::cpu_features::os_pke_enabled() {
            return Err("CR4.PKE was set but CPUID does not report OSPKE");
        }
        crate::arch::pkey::set_kernel_pkru();
        if crate::arch::pkey::pkru() != Some(KERNEL_PKRU) {
            return Err("PKRU did not take the kernel value");
        }
    }
    Ok(*LEVEL.call_once(|| level))
}

/// The level chosen at boot (`None` before `init`).
pub fn level() -> Level {
    LEVEL.get().copied().unwrap_or(Level::None)
}

/// The PKRU value the kernel runs with.
pub const KERNEL_PKRU: Pkru = Pkru::KERNEL;
