//! What boot set up: control registers, XCR0, the IDT's IST slots, the
//! descriptor tables sealed read-only, and the symbol table the host wrote
//! into the image.

use x86::controlregs::{Cr0, Cr4, Xcr0};

use crate::arch::{cpu, idt, probe, section};
use crate::isolation::{self, Level};
use crate::{ensure, ktest};

ktest!(
    fn control_registers_match_the_design() -> TestResult {
        let cr0 = cpu::read_cr0();
        let cr4 = cpu::read_cr4();
        ensure!(cr0.contains(Cr0::CR0_WRITE_PROTECT), "CR0.WP is off");
        let strict = isolation::level() == Level::Strict;
        ensure!(cr4.contains(Cr4::CR4_ENABLE_SMEP) == strict, "CR4.SMEP at level {:?}", isolation::level());
        ensure!(cr4.contains(Cr4::CR4_ENABLE_SMAP) == strict, "CR4.SMAP at level {:?}", isolation::level());
        let pke = cr4.contains(Cr4::CR4_ENABLE_PROTECTION_KEY);
        ensure!(pke == (isolation::level() != Level::None), "CR4.PKE {pke} at level {:?}", isolation::level());
        let efer = cpu::read_efer();
        ensure!(efer & (1 << 11) != 0, "EFER.NXE is off");
        ensure!(efer & 1 != 0, "EFER.SCE is off");
        Ok(())
    }
);

ktest!(
    fn xcr0_never_includes_pkru() -> TestResult {
        let xcr0 = cpu::read_xcr0();
        ensure!(!xcr0.contains(Xcr0::XCR0_PKRU_STATE), "XCR0 {xcr0:?} includes PKRU");
        Ok(())
    }
);

ktest!(
    fn every_exception_runs_on_an_ist_stack() -> TestResult {
        for vector in 0..=255u8 {
            ensure!(idt::loaded_ist(vector) != 0, "vector {vector} has no IST stack");
        }
        ensure!(idt::loaded_ist(8) != idt::loaded_ist(14), "#DF shares the #PF stack");
        ensure!(idt::loaded_ist(2) != idt::loaded_ist(14), "NMI shares the #PF stack");
        Ok(())
    }
);

ktest!(
    fn descriptor_tables_are_read_only_after_boot() -> TestResult {
        // A write to the IDT, GDT or TSS faults (present, write): at mpk a
        // ring-0 process could otherwise point a vector at its own code.
        let tables = section::image().cpu_descriptors;
        ensure!(!tables.is_empty(), "no .cpu_descriptors section");
        let mut page = tables.start;
        while page < tables.end {
            let addr = paging::VirtAddr::new(page);
            let old = probe::read_u64(addr).map_err(|f| crate::ktest::TestError::Failed(alloc::format!("read {page:#x}: {f:?}")))?;
            let write = probe::write_u64(addr, old);
            ensure!(matches!(write, Err(f) if f.error_code & 0b11 == 0b11), "write to {page:#x}: {write:?}");
            page += paging::PAGE_SIZE;
        }
        Ok(())
    }
);

ktest!(
    fn symbol_table_names_kernel_functions() -> TestResult {
        let table = section::ksyms();
        let addr = every_exception_runs_on_an_ist_stack as *const () as u64;
        let symbol = ksyms::lookup(table, addr);
        ensure!(symbol.is_some(), "no symbol for {addr:#x}: the host did not fill in .ksyms");
        let name = symbol.map(|s| s.name).unwrap_or("");
        ensure!(name.contains("every_exception_runs_on_an_ist_stack"), "symbol for {addr:#x} is '{name}'");
        Ok(())
    }
);
