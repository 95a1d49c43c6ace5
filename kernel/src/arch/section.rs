//! Linker-collected sections: the in-kernel test registry (`.ktests`) and the
//! symbol table the host writes into `.ksyms` after linking.

use crate::ktest::KTest;

unsafe extern "C" {
    static __ktests_start: u8;
    static __ktests_end: u8;
    static __ksyms_start: u8;
    static __ksyms_end: u8;
}

/// Registers an in-kernel test: `ktest!(fn name() -> TestResult { ... });`
/// The test is collected in the `.ktests` section and run by `ktest::run_all`.
#[macro_export]
macro_rules! ktest {
    ($(#[$meta:meta])* fn $name:ident() -> TestResult $body:block) => {
        $(#[$meta])*
        fn $name() -> $crate::ktest::TestResult $body
        const _: () = {
            #[used]
            // SAFETY: `.ktests` only holds `KTest` values; the linker script keeps
            // the section and brackets it with `__ktests_start` / `__ktests_end`.
            #[unsafe(link_section = ".ktests")]
            static ENTRY: $crate::ktest::KTest = $crate::ktest::KTest {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: $name,
            };
        };
    };
}

/// Every registered test, in link order.
pub fn ktests() -> &'static [KTest] {
    // SAFETY: the linker script places only `KTest` statics (each aligned and
    // sized as a `KTest`) between the two symbols.
    unsafe {
        let start = core::ptr::addr_of!(__ktests_start).cast::<KTest>();
        let end = core::ptr::addr_of!(__ktests_end) as usize;
        let count = (end - start as usize) / core::mem::size_of::<KTest>();
        core::slice::from_raw_parts(start, count)
    }
}

/// The `.ksyms` section: zeros until the host fills in the symbol table.
pub fn ksyms() -> &'static [u8] {
    // SAFETY: the linker script reserves `[__ksyms_start, __ksyms_end)` in the
    // read-only image; it is never written at run time.
    unsafe {
        let start = core::ptr::addr_of!(__ksyms_start);
        let end = core::ptr::addr_of!(__ksyms_end);
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

unsafe extern "C" {
    static __boot_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __published_start: u8;
    static __published_end: u8;
    static __cpu_tables_start: u8;
    static __cpu_tables_end: u8;
    static __cpu_descriptors_start: u8;
    static __cpu_descriptors_end: u8;
    static __bss_start: u8;
    static __kernel_end: u8;
}

/// Virtual ranges of the kernel image's parts, as the linker script lays them out.
pub struct ImageLayout {
    /// Physical address where the image (boot code first) starts.
    pub phys_start: u64,
    pub text: core::ops::Range<u64>,
    pub rodata: core::ops::Range<u64>,
    /// `.data` (and `.got`).
    pub data: core::ops::Range<u64>,
    /// The key-15 page.
    pub published: core::ops::Range<u64>,
    /// The IST stacks and the gates' entry area: mapped U/S=0, writable.
    pub cpu_tables: core::ops::Range<u64>,
    /// GDT, TSS, IDT: mapped U/S=0, read-only after boot.
    pub cpu_descriptors: core::ops::Range<u64>,
    pub bss: core::ops::Range<u64>,
}

/// The image layout from the linker script's symbols.
pub fn image() -> ImageLayout {
    macro_rules! addr {
        ($sym:ident) => {
            core::ptr::addr_of!($sym) as u64
        };
    }
    ImageLayout {
        phys_start: addr!(__boot_start),
        text: addr!(__text_start)..addr!(__text_end),
        rodata: addr!(__rodata_start)..addr!(__rodata_end),
        data: addr!(__data_start)..addr!(__published_start),
        published: addr!(__published_start)..addr!(__published_end),
        cpu_tables: addr!(__cpu_tables_start)..addr!(__cpu_tables_end),
        cpu_descriptors: addr!(__cpu_descriptors_start)..addr!(__cpu_descriptors_end),
        bss: addr!(__bss_start)..addr!(__kernel_end),
    }
}
