//! Function names for addresses, from an ELF's symbol table: the kernel's
//! (`target/isola/kernel.elf`) and PROGRAM's when it is a non-PIE
//! executable that kept its symbols.
//!
//! Kept: `STT_FUNC` symbols, and `STT_NOTYPE` ones in executable sections
//! (the kernel's assembly entry points, `isola_gate_syscall_common`, are
//! labels without a type), except local labels (`.L...`). A symbol covers
//! `[value, value + size)`; one of size 0 covers up to the next symbol's
//! start or the end of its section, whichever comes first. Names are
//! demangled (Rust, without the hash) and never contain `;`, which the
//! folded-stack format uses between frames.

use goblin::elf::Elf;
use goblin::elf::header::ET_EXEC;
use goblin::elf::section_header::SHF_EXECINSTR;
use goblin::elf::sym::{STT_FUNC, STT_NOTYPE};

/// One named range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    start: u64,
    end: u64,
    name: String,
}

/// A symbol table, sorted by start address.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    entries: Vec<Entry>,
}

/// A symbol as read from the ELF, before ends are settled.
#[derive(Debug, Clone)]
pub struct RawSymbol {
    pub start: u64,
    pub size: u64,
    /// The end of the symbol's section (a bound for size-0 symbols).
    pub section_end: u64,
    pub name: String,
}

/// A frame name from a symbol name: demangled without hash, `;` replaced.
pub fn display_name(raw: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(raw)).replace(';', ",")
}

impl Symbols {
    /// The table of these symbols: sorted, one per start address (the
    /// largest), ends settled as the module says.
    pub fn new(mut raw: Vec<RawSymbol>) -> Symbols {
        raw.retain(|s| s.start != 0 && !s.name.is_empty());
        raw.sort_by(|a, b| a.start.cmp(&b.start).then(b.size.cmp(&a.size)));
        raw.dedup_by_key(|s| s.start);
        let starts: Vec<u64> = raw.iter().map(|s| s.start).collect();
        let entries = raw
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let end = if s.size > 0 {
                    s.start.saturating_add(s.size)
                } else {
                    let next = starts.get(i + 1).copied().unwrap_or(u64::MAX);
                    next.min(s.section_end).max(s.start.saturating_add(1))
                };
                Entry { start: s.start, end, name: display_name(&s.name) }
            })
            .collect();
        Symbols { entries }
    }

    /// The function symbols of an ELF image (see the module).
    pub fn from_elf(bytes: &[u8]) -> Result<Symbols, String> {
        let elf = Elf::parse(bytes).map_err(|e| format!("not a valid ELF: {e}"))?;
        Ok(Symbols::new(raw_symbols(&elf)))
    }

    /// PROGRAM's symbols: `None` unless it is an ELF executable of type
    /// `ET_EXEC` (not PIE: its addresses are the ones it runs at) with at
    /// least one function symbol.
    pub fn for_program(bytes: &[u8]) -> Option<Symbols> {
        let elf = Elf::parse(bytes).ok()?;
        if elf.header.e_type != ET_EXEC {
            return None;
        }
        let symbols = Symbols::new(raw_symbols(&elf));
        (!symbols.entries.is_empty()).then_some(symbols)
    }

    /// The name of the function `addr` lies in.
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        // Entries starting at or below addr: [0, below).
        let below = self.entries.partition_point(|e| e.start <= addr);
        // The nearest such entry, or a few before it when a sized symbol
        // contains later, smaller ones.
        self.entries[below.saturating_sub(16)..below]
            .iter()
            .rev()
            .find(|e| addr < e.end)
            .map(|e| e.name.as_str())
    }

    /// Number of symbols.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

fn raw_symbols(elf: &Elf<'_>) -> Vec<RawSymbol> {
    elf.syms
        .iter()
        .filter_map(|s| {
            let section = elf.section_headers.get(s.st_shndx)?;
            let wanted = s.st_type() == STT_FUNC
                || (s.st_type() == STT_NOTYPE && section.sh_flags & u64::from(SHF_EXECINSTR) != 0);
            if !wanted || s.st_value == 0 {
                return None;
            }
            let name = elf.strtab.get_at(s.st_name).filter(|n| !n.is_empty() && !n.starts_with(".L"))?;
            Some(RawSymbol {
                start: s.st_value,
                size: s.st_size,
                section_end: section.sh_addr.saturating_add(section.sh_size),
                name: name.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testelf::{self, LOAD_ADDR, Sym};

    fn raw(start: u64, size: u64, section_end: u64, name: &str) -> RawSymbol {
        RawSymbol { start, size, section_end, name: name.into() }
    }

    #[test]
    fn sized_and_unsized_symbols() {
        let s = Symbols::new(vec![
            raw(0x1000, 0x10, 0x9000, "a"),
            raw(0x1020, 0, 0x9000, "label"),
            raw(0x1040, 0x20, 0x9000, "b"),
            raw(0x8ff0, 0, 0x9000, "last"),
        ]);
        assert_eq!(s.lookup(0xfff), None);
        assert_eq!(s.lookup(0x1000), Some("a"));
        assert_eq!(s.lookup(0x100f), Some("a"));
        assert_eq!(s.lookup(0x1010), None, "past a's size, before the label");
        assert_eq!(s.lookup(0x1020), Some("label"));
        assert_eq!(s.lookup(0x103f), Some("label"), "a label runs to the next symbol");
        assert_eq!(s.lookup(0x1050), Some("b"));
        assert_eq!(s.lookup(0x8fff), Some("last"));
        assert_eq!(s.lookup(0x9000), None, "a label stops at its section's end");
    }

    #[test]
    fn a_symbol_containing_smaller_ones() {
        let s = Symbols::new(vec![
            raw(0x1000, 0x100, 0x9000, "outer"),
            raw(0x1010, 0x10, 0x9000, "inner"),
        ]);
        assert_eq!(s.lookup(0x1015), Some("inner"));
        assert_eq!(s.lookup(0x1030), Some("outer"));
        // One entry per address: the larger symbol wins.
        let s = Symbols::new(vec![raw(0x1000, 4, 0x9000, "small"), raw(0x1000, 8, 0x9000, "big")]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.lookup(0x1006), Some("big"));
    }

    #[test]
    fn names_are_demangled_without_hash_and_without_semicolons() {
        assert_eq!(
            display_name("_ZN12isola_kernel8syscalls8dispatch17h0123456789abcdefE"),
            "isola_kernel::syscalls::dispatch"
        );
        assert_eq!(display_name("accept"), "accept");
        assert_eq!(display_name("weird;name"), "weird,name");
    }

    #[test]
    fn an_executable_with_symbols() {
        let image = testelf::elf(
            &[0x90; 64],
            None,
            &[
                Sym { name: "main", value: LOAD_ADDR, size: 16, func: true },
                Sym { name: "data", value: LOAD_ADDR + 16, size: 8, func: false },
                Sym { name: "serve", value: LOAD_ADDR + 32, size: 32, func: true },
            ],
        );
        let s = Symbols::from_elf(&image).unwrap();
        assert_eq!(s.lookup(LOAD_ADDR + 3), Some("main"));
        assert_eq!(s.lookup(LOAD_ADDR + 17), None, "objects are not functions");
        assert_eq!(s.lookup(LOAD_ADDR + 40), Some("serve"));
        assert!(Symbols::for_program(&image).is_some());
        // Stripped: nothing to name with.
        assert!(Symbols::for_program(&testelf::elf(&[0x90; 64], None, &[])).is_none());
        assert!(Symbols::for_program(b"#!/bin/sh\n").is_none());
        assert!(Symbols::from_elf(b"nope").is_err());
    }
}
