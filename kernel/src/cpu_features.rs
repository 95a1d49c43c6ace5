//! What the CPU offers, read once with CPUID (`raw-cpuid`).

use raw_cpuid::CpuId;

/// The CPUID facts the kernel acts on.
#[derive(Clone, Debug)]
pub struct CpuFeatures {
    /// Protection keys (CPUID.7.0:ECX.PKU).
    pub pku: bool,
    /// Supervisor-mode execution and access prevention (CPUID.7.0:EBX bits 7, 20).
    pub smep: bool,
    pub smap: bool,
    pub xsave: bool,
    /// XCR0 bits the CPU supports (x87, SSE, AVX only: the ones the kernel enables).
    pub supported_xcr0: u64,
    /// TSC frequency stated by CPUID (hypervisor leaf 0x40000010 or leaf 0x15), in Hz.
    pub stated_tsc_hz: Option<u64>,
    /// APIC timer frequency stated by CPUID (leaf 0x40000010 or the 0x15 crystal), in Hz.
    pub stated_apic_hz: Option<u64>,
    brand: [u8; 48],
    brand_len: usize,
}

impl CpuFeatures {
    pub fn detect() -> CpuFeatures {
        let cpuid = CpuId::new();
        let feature = cpuid.get_feature_info();
        let extended = cpuid.get_extended_feature_info();
        let xsave = feature.as_ref().is_some_and(|f| f.has_xsave());
        let mut supported_xcr0 = 0;
        if let Some(state) = cpuid.get_extended_state_info() {
            supported_xcr0 |= u64::from(state.xcr0_supports_legacy_x87());
            supported_xcr0 |= u64::from(state.xcr0_supports_sse_128()) << 1;
            supported_xcr0 |= u64::from(state.xcr0_supports_avx_256()) << 2;
        }
        let hypervisor_info = cpuid.get_hypervisor_info();
        let tsc_info = cpuid.get_tsc_info();
        let stated_tsc_hz = hypervisor_info
            .as_ref()
            .and_then(|h| h.tsc_frequency())
            .filter(|&khz| khz != 0)
            .map(|khz| u64::from(khz) * 1000)
            .or_else(|| tsc_info.as_ref().and_then(|t| t.tsc_frequency()));
        let stated_apic_hz = hypervisor_info
            .as_ref()
            .and_then(|h| h.apic_frequency())
            .filter(|&khz| khz != 0)
            .map(|khz| u64::from(khz) * 1000)
            .or_else(|| tsc_info.as_ref().map(|t| u64::from(t.nominal_frequency())).filter(|&hz| hz != 0));
        let mut brand = [0u8; 48];
        let mut brand_len = 0;
        if let Some(text) = cpuid.get_processor_brand_string() {
            for (slot, byte) in brand.iter_mut().zip(text.as_str().trim().bytes()) {
                *slot = byte;
                brand_len += 1;
            }
        }
        CpuFeatures {
            pku: extended.as_ref().is_some_and(|e| e.has_pku()),
            smep: extended.as_ref().is_some_and(|e| e.has_smep()),
            smap: extended.as_ref().is_some_and(|e| e.has_smap()),
            xsave,
            supported_xcr0,
            stated_tsc_hz,
            stated_apic_hz,
            brand,
            brand_len,
        }
    }

    /// The processor brand string ("QEMU TCG CPU version ...").
    pub fn brand(&self) -> &str {
        core::str::from_utf8(&self.brand[..self.brand_len]).unwrap_or("?")
    }
}

/// CPUID.7.0:ECX.OSPKE: the OS has set CR4.PKE.
pub fn os_pke_enabled() -> bool {
    CpuId::new().get_extended_feature_info().is_some_and(|e| e.has_ospke())
}

/// AT_HWCAP: CPUID.1:EDX, as Linux reports it on x86.
pub fn hwcap() -> u64 {
    u64::from(raw_cpuid::cpuid!(1).edx)
}

/// The registers of a leaf the CPU does not have.
const NO_LEAF: raw_cpuid::CpuIdResult = raw_cpuid::CpuIdResult { eax: 0, ebx: 0, ecx: 0, edx: 0 };

/// `/proc/cpuinfo`: one block per CPU (Isola runs on one), from CPUID as
/// it reads now, so `ospke` shows once CR4.PKE is on.
pub fn cpuinfo() -> alloc::string::String {
    let l0 = raw_cpuid::cpuid!(0);
    let mut vendor = [0u8; 12];
    for (chunk, reg) in vendor.chunks_mut(4).zip([l0.ebx, l0.edx, l0.ecx]) {
        chunk.copy_from_slice(&reg.to_le_bytes());
    }
    let l1 = raw_cpuid::cpuid!(1);
    let l7 = if l0.eax >= 7 { raw_cpuid::cpuid!(7, 0) } else { NO_LEAF };
    let max_ext = raw_cpuid::cpuid!(0x8000_0000).eax;
    let ext = if max_ext >= 0x8000_0001 { raw_cpuid::cpuid!(0x8000_0001) } else { NO_LEAF };
    let sizes = if max_ext >= 0x8000_0008 { raw_cpuid::cpuid!(0x8000_0008).eax } else { 0 };
    let brand = CpuId::new().get_processor_brand_string();
    let model_name = brand.as_ref().map(|b| b.as_str().trim()).unwrap_or("");
    let info = process::proctext::CpuInfo {
        vendor: core::str::from_utf8(&vendor).unwrap_or("unknown"),
        max_leaf: l0.eax,
        signature: l1.eax,
        clflush_bytes: (l1.ebx >> 8 & 0xff) * 8,
        model_name,
        phys_bits: sizes & 0xff,
        virt_bits: sizes >> 8 & 0xff,
        flags: process::proctext::CpuidFlags {
            l1_edx: l1.edx,
            l1_ecx: l1.ecx,
            l7_ebx: l7.ebx,
            l7_ecx: l7.ecx,
            l7_edx: l7.edx,
            ext_edx: ext.edx,
            ext_ecx: ext.ecx,
        },
    };
    process::proctext::cpuinfo_block(0, &info)
}
