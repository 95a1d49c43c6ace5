//! Host tests of the image (its ELF shape, symbols and versions, no
//! WRPKRU) and of the clock arithmetic.
extern crate std;

use std::vec::Vec;

use goblin::elf::{Elf, dynamic, header, program_header, section_header, sym};

use super::*;

fn elf() -> Elf<'static> {
    Elf::parse(IMAGE).expect("the vDSO parses as ELF")
}

#[test]
fn the_image_holds_no_wrpkru_at_any_offset() {
    let hits: Vec<usize> = pkru::scan::find_wrpkru(IMAGE).collect();
    assert!(hits.is_empty(), "WRPKRU at {hits:x?}");
}

#[test]
fn one_read_execute_segment_from_offset_0_within_the_mapped_pages() {
    let elf = elf();
    assert_eq!(elf.header.e_type, header::ET_DYN);
    assert_eq!(elf.header.e_machine, header::EM_X86_64);
    let loads: Vec<_> = elf.program_headers.iter().filter(|p| p.p_type == program_header::PT_LOAD).collect();
    assert_eq!(loads.len(), 1, "{loads:?}");
    let text = loads[0];
    assert_eq!((text.p_offset, text.p_vaddr), (0, 0));
    assert_eq!(text.p_flags, program_header::PF_R | program_header::PF_X);
    assert_eq!(text.p_filesz, text.p_memsz, "no bss: the pages are the file's bytes");
    assert!(text.p_memsz <= image_pages() * PAGE_SIZE);
    assert!(elf.program_headers.iter().any(|p| p.p_type == program_header::PT_DYNAMIC));
    assert!(!elf.program_headers.iter().any(|p| p.p_type == program_header::PT_INTERP || p.p_type == program_header::PT_TLS));
}

#[test]
fn no_relocations_and_no_libraries() {
    let elf = elf();
    assert!(elf.dynrelas.is_empty() && elf.dynrels.is_empty() && elf.pltrelocs.is_empty());
    let dynamic = elf.dynamic.as_ref().expect("a dynamic section");
    for tag in [dynamic::DT_NEEDED, dynamic::DT_RELA, dynamic::DT_REL, dynamic::DT_JMPREL, dynamic::DT_TEXTREL] {
        assert!(!dynamic.dyns.iter().any(|d| d.d_tag == tag), "tag {tag:#x}");
    }
    // glibc's vDSO setup finds symbols through a hash table and versions.
    for tag in [dynamic::DT_HASH, dynamic::DT_GNU_HASH, dynamic::DT_VERSYM, dynamic::DT_VERDEF] {
        assert!(dynamic.dyns.iter().any(|d| d.d_tag == tag), "no tag {tag:#x}");
    }
    assert_eq!(elf.soname, Some("linux-vdso.so.1"));
    assert!(!elf.dynsyms.iter().any(|s| s.st_shndx == section_header::SHN_UNDEF as usize && s.st_name != 0));
}

/// (name, binding, version) of every named dynamic symbol.
fn exported() -> Vec<(std::string::String, u8, std::string::String)> {
    let elf = elf();
    let versym = elf.versym.as_ref().expect(".gnu.version");
    let verdef = elf.verdef.as_ref().expect(".gnu.version_d");
    let version_name = |index: u16| {
        verdef
            .iter()
            .find(|d| d.vd_ndx == index)
            .and_then(|d| d.iter().next())
            .and_then(|aux| elf.dynstrtab.get_at(aux.vda_name))
            .unwrap_or("?")
            .into()
    };
    elf.dynsyms
        .iter()
        .enumerate()
        .filter(|(_, s)| s.st_name != 0 && s.st_type() == sym::STT_FUNC)
        .map(|(i, s)| {
            let name = elf.dynstrtab.get_at(s.st_name).unwrap_or("?").into();
            let version = versym.get_at(i).map_or(0, |v| v.version());
            (name, s.st_bind(), version_name(version))
        })
        .collect()
}

#[test]
fn exports_linux_s_functions_at_linux_2_6_with_weak_aliases() {
    let symbols = exported();
    for name in ["clock_gettime", "gettimeofday", "time", "clock_getres", "getcpu"] {
        let strong = std::format!("__vdso_{name}");
        assert!(symbols.contains(&(strong.clone(), sym::STB_GLOBAL, "LINUX_2.6".into())), "{strong}: {symbols:?}");
        assert!(symbols.contains(&(name.into(), sym::STB_WEAK, "LINUX_2.6".into())), "{name}: {symbols:?}");
    }
    assert_eq!(symbols.len(), 10, "{symbols:?}");
}

#[test]
fn the_code_reads_the_vvar_page_right_below_the_image() {
    let elf = elf();
    let vvar = elf
        .syms
        .iter()
        .find(|s| elf.strtab.get_at(s.st_name) == Some("vvar_page"))
        .expect("vvar_page in .symtab");
    assert_eq!(vvar.st_value, (VVAR_PAGES * PAGE_SIZE).wrapping_neg());
}

#[test]
fn clock_params_match_exact_division() {
    for hz in [1_000_000_000u64, 2_100_000_000, 3_699_999_999, 133_333_333, 40_000_000_000, 1] {
        let params = ClockParams::new(hz, 1000).unwrap();
        assert!(params.mult < 1 << 63, "{hz}: {params:?}");
        for seconds in [0u64, 1, 3600, 86_400 * 365] {
            let cycles = u128::from(hz) * u128::from(seconds) + 12345;
            let Ok(cycles) = u64::try_from(cycles) else { continue };
            let exact = (u128::from(cycles) * 1_000_000_000 / u128::from(hz)) as u64;
            let got = params.ns_at(1000 + cycles);
            assert!(exact.abs_diff(got) <= 1, "{hz} Hz, {seconds} s: exact {exact}, got {got}");
        }
    }
    assert_eq!(ClockParams::new(0, 0), None);
}

#[test]
fn ns_never_decrease_as_the_tsc_grows() {
    let params = ClockParams::new(2_345_678_901, 77).unwrap();
    let mut last = 0;
    for tsc in (77..77 + 10_000_000).step_by(997) {
        let ns = params.ns_at(tsc);
        assert!(ns >= last);
        last = ns;
    }
    assert_eq!(params.ns_at(77), 0);
}

#[test]
fn vvar_words_follow_the_c_layout() {
    let vvar = Vvar {
        clock: Some(ClockParams { tsc_base: 5, mult: 6, shift: 7 }),
        rdtscp: true,
        realtime_offset: 8,
        tz_minuteswest: -60,
        tz_dsttime: 1,
    };
    let words = vvar.words();
    assert_eq!(words, [FLAG_CLOCK | FLAG_RDTSCP, 5, 6, 7, 8, (-60i64) as u64, 1]);
    assert_eq!(Vvar::default().words()[0], 0, "no clock: the vDSO makes the system call");
}
