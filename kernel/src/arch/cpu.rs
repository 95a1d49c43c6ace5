//! Control registers, MSRs, TSC, interrupt flag, and the feature bits the kernel
//! turns on at boot (DESIGN.md "Kernel entries in mpk level").

use x86::controlregs::{self, Cr0, Cr4, Xcr0};
use x86::msr;

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc is unprivileged and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Puts `(node << 12) | cpu` in IA32_TSC_AUX, where `rdtscp` (the vDSO's
/// getcpu) reads it, if the CPU has RDTSCP (CPUID.80000001H:EDX bit 27).
/// Returns whether it does.
pub fn set_tsc_aux(cpu: u32, node: u32) -> bool {
    let has_rdtscp = raw_cpuid::cpuid!(0x8000_0000).eax >= 0x8000_0001 && raw_cpuid::cpuid!(0x8000_0001).edx & (1 << 27) != 0;
    if has_rdtscp {
        // SAFETY: the CPU has IA32_TSC_AUX (it has RDTSCP); the MSR only
        // feeds rdtscp and rdpid, and we run in ring 0.
        unsafe { msr::wrmsr(msr::IA32_TSC_AUX, u64::from((node << 12) | (cpu & 0xfff))) };
    }
    has_rdtscp
}

/// The faulting address of the last page fault.
pub fn read_cr2() -> u64 {
    // SAFETY: reading CR2 has no side effects (we run in ring 0).
    unsafe { controlregs::cr2() as u64 }
}

/// The physical address of the active root page table.
pub fn read_cr3() -> u64 {
    // SAFETY: reading CR3 has no side effects (ring 0).
    unsafe { controlregs::cr3() & 0x000f_ffff_ffff_f000 }
}

/// CR4 as a bit set.
pub fn read_cr4() -> Cr4 {
    // SAFETY: reading CR4 has no side effects (ring 0).
    unsafe { controlregs::cr4() }
}

#[cfg(feature = "ktest")]
/// CR0 as a bit set.
pub fn read_cr0() -> Cr0 {
    // SAFETY: reading CR0 has no side effects (ring 0).
    unsafe { controlregs::cr0() }
}

/// XCR0 as `enable_features` set it: the context switch's XSAVE mask. Kept
/// in memory because XGETBV is slow under emulation and some software
/// hypervisors (this project's PVM KVM) fail on it.
static XCR0_SET: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The XCR0 the kernel set (empty when OSXSAVE is off).
pub fn xcr0() -> Xcr0 {
    Xcr0::from_bits_truncate(XCR0_SET.load(core::sync::atomic::Ordering::Relaxed))
}

/// XCR0 read from the CPU (XGETBV), or empty when OSXSAVE is off.
#[cfg(feature = "ktest")]
pub fn read_xcr0() -> Xcr0 {
    if !read_cr4().contains(Cr4::CR4_ENABLE_OS_XSAVE) {
        return Xcr0::empty();
    }
    // SAFETY: xgetbv is legal once CR4.OSXSAVE is set, checked above.
    unsafe { controlregs::xcr0() }
}

#[cfg(feature = "ktest")]
/// EFER.
pub fn read_efer() -> u64 {
    // SAFETY: IA32_EFER exists on every x86-64 CPU; reading it has no side effects.
    unsafe { msr::rdmsr(msr::IA32_EFER) }
}

/// What `enable_features` turned on.
pub struct EnabledFeatures {
    pub xcr0: Xcr0,
}

/// Sets the control bits every isolation level needs: CR0.WP (write-disable
/// applies to the kernel), NE/MP for the FPU, SSE state (OSFXSR, OSXMMEXCPT),
/// XSAVE with x87|SSE|AVX where offered, global pages, EFER.NXE and EFER.SCE.
/// SMEP and SMAP stay off (ring 0 runs on U/S=1 pages by design); XCR0 bit 9
/// (PKRU) stays clear so that XRSTOR can never load PKRU.
pub fn enable_features(xsave: bool, supported_xcr0: u64) -> EnabledFeatures {
    // SAFETY: the bits set here only add checks (WP, NXE) or enable state the kernel
    // never uses itself (SSE, XSAVE); SMEP and SMAP are cleared, which is what the
    // kernel's own mappings (U/S=1) need.
    unsafe {
        let mut cr0 = controlregs::cr0();
        cr0.remove(Cr0::CR0_EMULATE_COPROCESSOR | Cr0::CR0_TASK_SWITCHED);
        cr0.insert(Cr0::CR0_WRITE_PROTECT | Cr0::CR0_NUMERIC_ERROR | Cr0::CR0_MONITOR_COPROCESSOR);
        controlregs::cr0_write(cr0);

        let mut cr4 = controlregs::cr4();
        cr4.remove(Cr4::CR4_ENABLE_SMEP | Cr4::CR4_ENABLE_SMAP);
        cr4.insert(Cr4::CR4_ENABLE_SSE | Cr4::CR4_UNMASKED_SSE | Cr4::CR4_ENABLE_GLOBAL_PAGES);
        if xsave {
            cr4.insert(Cr4::CR4_ENABLE_OS_XSAVE);
        }
        controlregs::cr4_write(cr4);

        let efer = msr::rdmsr(msr::IA32_EFER);
        msr::wrmsr(msr::IA32_EFER, efer | (1 << 11) | 1); // NXE, SCE
    }
    let mut xcr0 = Xcr0::empty();
    if xsave {
        let wanted = Xcr0::XCR0_FPU_MMX_STATE | Xcr0::XCR0_SSE_STATE | Xcr0::XCR0_AVX_STATE;
        xcr0 = Xcr0::from_bits_truncate(supported_xcr0) & wanted;
        xcr0.insert(Xcr0::XCR0_FPU_MMX_STATE);
        // SAFETY: OSXSAVE is set above; xcr0 holds only bits the CPU reports, never PKRU.
        unsafe { controlregs::xcr0_write(xcr0) };
        XCR0_SET.store(xcr0.bits(), core::sync::atomic::Ordering::Relaxed);
    }
    EnabledFeatures { xcr0 }
}

/// Sets CR4.SMEP and CR4.SMAP (level `strict`): kernel code never runs from,
/// and never reads or writes through, a user (U/S=1) page; the kernel
/// reaches process memory only through the direct map. The caller has made
/// every kernel mapping supervisor-only first.
pub fn enable_smep_smap() {
    // SAFETY: the kernel half is supervisor-only (checked by the caller's
    // order: `paging::make_kernel_half_supervisor` ran), so the kernel's own
    // fetches and accesses are unaffected; the caller checked CPUID.
    unsafe {
        let cr4 = controlregs::cr4() | Cr4::CR4_ENABLE_SMEP | Cr4::CR4_ENABLE_SMAP;
        controlregs::cr4_write(cr4);
    }
}

/// Sets CR4.PKE: protection keys apply to every U/S=1 data access from now on.
pub fn enable_protection_keys() {
    // SAFETY: PKRU is 0 at reset (every key open), so turning checks on changes no access
    // the kernel makes; the caller checked CPUID for PKU.
    unsafe {
        let cr4 = controlregs::cr4() | Cr4::CR4_ENABLE_PROTECTION_KEY;
        controlregs::cr4_write(cr4);
    }
}

/// Allows interrupts.
pub fn enable_interrupts() {
    // SAFETY: the IDT is loaded before anyone calls this.
    unsafe { x86::irq::enable() };
}

/// Blocks interrupts.
pub fn disable_interrupts() {
    // SAFETY: clearing IF has no memory effects.
    unsafe { x86::irq::disable() };
}

/// Waits for the next interrupt.
pub fn halt() {
    // SAFETY: hlt only waits; interrupts resume execution after it.
    unsafe { x86::halt() };
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    disable_interrupts();
    loop {
        halt();
    }
}

#[cfg(feature = "ktest")]
/// Executes `int3`; the #BP handler counts it and returns here.
pub fn breakpoint() {
    // SAFETY: the IDT has a #BP handler that returns to the next instruction.
    unsafe { core::arch::asm!("int3") };
}

/// Reads IA32_APIC_BASE.
pub fn apic_base_msr() -> u64 {
    // SAFETY: IA32_APIC_BASE exists where CPUID reports an APIC, checked by the caller.
    unsafe { msr::rdmsr(msr::IA32_APIC_BASE) }
}

/// Writes IA32_APIC_BASE.
pub fn set_apic_base_msr(value: u64) {
    // SAFETY: the caller only sets the global-enable bit of the existing base.
    unsafe { msr::wrmsr(msr::IA32_APIC_BASE, value) };
}

/// Masks every line of the legacy 8259 PICs (a no-op where they are absent, as on microvm).
pub fn mask_legacy_pic() {
    // SAFETY: writing the PIC mask registers only masks interrupt lines.
    unsafe {
        x86::io::outb(0x21, 0xff);
        x86::io::outb(0xa1, 0xff);
    }
}

/// The current frame pointer (start of a backtrace).
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reading rbp has no side effects.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
    rbp
}

/// Runs `f` with interrupts off, restoring IF afterwards.
#[cfg(feature = "ktest")]
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let flags: u64;
    // SAFETY: reading RFLAGS has no side effects.
    unsafe { core::arch::asm!("pushfq", "pop {}", out(reg) flags, options(preserves_flags)) };
    disable_interrupts();
    let result = f();
    if flags & 0x200 != 0 {
        enable_interrupts();
    }
    result
}

/// 64 random bits from RDRAND when the CPU has it.
pub fn rdrand() -> Option<u64> {
    if !raw_cpuid::CpuId::new().get_feature_info().is_some_and(|f| f.has_rdrand()) {
        return None;
    }
    for _ in 0..10 {
        let mut value = 0u64;
        // SAFETY: RDRAND exists (checked); it only writes `value`.
        if unsafe { core::arch::x86_64::_rdrand64_step(&mut value) } == 1 {
            return Some(value);
        }
    }
    None
}
