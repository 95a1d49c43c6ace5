//! The post-link step: turn the ELF cargo linked into the image QEMU boots.
//!
//! Steps, in order, on a copy at `target/isola/<variant>.elf`:
//! 1. fill the kernel symbol table: the kernel reserves a zero-filled section
//!    [`ksyms::SECTION_NAME`] of fixed size; its FUNC symbols, demangled
//!    without hashes, are encoded by [`ksyms::build`] into it, so that the
//!    kernel's backtraces name functions;
//! 2. scan the image's executable segments for WRPKRU at every byte offset
//!    and refuse any hit outside the `pkru` gates — see [`check_image`].
//!
//! The copy is redone only when the linked ELF is newer than it, and is
//! written to a temporary file then renamed, so concurrent runs never see a
//! half-written image.

use std::fmt;
use std::fs;
use std::path::Path;

use goblin::elf::Elf;
use goblin::elf::section_header::SHT_NOBITS;
use goblin::elf::sym::STT_FUNC;

/// Why the post-link step failed.
#[derive(Debug)]
pub enum ImageError {
    Io(String),
    Parse(String),
    /// The ELF has no section of this name.
    MissingSection(&'static str),
    /// The section takes no file space (SHT_NOBITS) or lies outside the file.
    BadSection(String),
    /// ksyms::build refused the symbols.
    Symbols(String),
    /// WRPKRU (0F 01 EF) in the kernel's code outside the `pkru` gates.
    StrayWrpkru {
        vaddr: u64,
        file_offset: u64,
        symbol: String,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io(msg) | ImageError::Parse(msg) | ImageError::BadSection(msg) => {
                f.write_str(msg)
            }
            ImageError::MissingSection(name) => {
                write!(
                    f,
                    "the kernel ELF has no {name} section (the kernel must reserve it for its symbol table)"
                )
            }
            ImageError::Symbols(msg) => f.write_str(msg),
            ImageError::StrayWrpkru {
                vaddr,
                file_offset,
                symbol,
            } => write!(
                f,
                "the kernel image contains WRPKRU (0F 01 EF) at {vaddr:#x} (file offset {file_offset:#x}, in {symbol}) \
                 outside the gate section: every WRPKRU must live in pkru::gate's .text.isola_gate"
            ),
        }
    }
}

/// Copy `elf` to `out` and fill in its symbol table, unless `out` is
/// already newer than `elf`.
pub fn postlink(elf: &Path, out: &Path) -> Result<(), ImageError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        ImageError::Io(format!("{what} {}: {e}", p.display()))
    };
    let elf_time = fs::metadata(elf)
        .and_then(|m| m.modified())
        .map_err(|e| io("cannot read", elf, e))?;
    if let Ok(out_time) = fs::metadata(out).and_then(|m| m.modified()) {
        if out_time >= elf_time {
            return Ok(());
        }
    }
    let mut bytes = fs::read(elf).map_err(|e| io("cannot read", elf, e))?;
    fill_symbols(&mut bytes)?;
    check_image(&bytes)?;
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    }
    let tmp = out.with_extension(format!("elf.tmp{}", std::process::id()));
    fs::write(&tmp, &bytes).map_err(|e| io("cannot write", &tmp, e))?;
    fs::rename(&tmp, out).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io("cannot write", out, e)
    })
}

/// The image's FUNC symbols with an address, names demangled without hash.
pub fn function_symbols(elf: &Elf<'_>) -> Vec<ksyms::SymbolInput> {
    elf.syms
        .iter()
        .filter(|s| s.st_type() == STT_FUNC && s.st_value != 0)
        .filter_map(|s| {
            let name = elf.strtab.get_at(s.st_name).filter(|n| !n.is_empty())?;
            Some(ksyms::SymbolInput {
                addr: s.st_value,
                size: s.st_size,
                name: format!("{:#}", rustc_demangle::demangle(name)),
            })
        })
        .collect()
}

/// Encode the function symbols into the `.ksyms` section of `bytes`.
pub fn fill_symbols(bytes: &mut [u8]) -> Result<(), ImageError> {
    let (offset, size, symbols) = {
        let elf =
            Elf::parse(bytes).map_err(|e| ImageError::Parse(format!("not a valid ELF: {e}")))?;
        let section = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(ksyms::SECTION_NAME))
            .ok_or(ImageError::MissingSection(ksyms::SECTION_NAME))?;
        if section.sh_type == SHT_NOBITS {
            return Err(ImageError::BadSection(format!(
                "section {} takes no space in the file (NOBITS): it must be initialised data",
                ksyms::SECTION_NAME
            )));
        }
        (section.sh_offset, section.sh_size, function_symbols(&elf))
    };
    let size_usize =
        usize::try_from(size).map_err(|_| ImageError::BadSection("section too large".into()))?;
    let start = usize::try_from(offset).ok().filter(|&o| {
        o.checked_add(size_usize)
            .is_some_and(|end| end <= bytes.len())
    });
    let Some(start) = start else {
        return Err(ImageError::BadSection(format!(
            "section {} (offset {offset:#x}, {size} bytes) lies outside the file",
            ksyms::SECTION_NAME
        )));
    };
    let table =
        ksyms::build(symbols, size_usize).map_err(|e| ImageError::Symbols(e.to_string()))?;
    if table.len() > size_usize {
        return Err(ImageError::Symbols(format!(
            "table of {} bytes does not fit the {size}-byte section",
            table.len()
        )));
    }
    let section = &mut bytes[start..start + size_usize];
    section.fill(0);
    section[..table.len()].copy_from_slice(&table);
    Ok(())
}

/// The virtual address of every WRPKRU (`0F 01 EF`, at any byte offset) in
/// the image's executable segments. The jump-in tests aim at each.
pub fn wrpkru_addresses(bytes: &[u8]) -> Result<Vec<u64>, ImageError> {
    let elf = Elf::parse(bytes).map_err(|e| ImageError::Parse(e.to_string()))?;
    let mut out = Vec::new();
    for header in elf
        .program_headers
        .iter()
        .filter(|h| h.p_type == goblin::elf::program_header::PT_LOAD && h.is_executable())
    {
        let start = header.p_offset as usize;
        let end = start.saturating_add(header.p_filesz as usize).min(bytes.len());
        let code = bytes.get(start..end).unwrap_or(&[]);
        out.extend(pkru::scan::find_wrpkru(code).map(|offset| header.p_vaddr + offset as u64));
    }
    Ok(out)
}

/// Checks on the finished image before it is written: the WRPKRU scan
/// (DESIGN.md, threat model: "the build scans the kernel image and fails on
/// any other `0F 01 EF`"). Every WRPKRU must lie in the gate section
/// (`isola_gate_text_start..isola_gate_text_end`), where each is followed by
/// a check against an immediate or the key-15 page.
pub fn check_image(bytes: &[u8]) -> Result<(), ImageError> {
    let elf = Elf::parse(bytes).map_err(|e| ImageError::Parse(e.to_string()))?;
    let symbol = |name: &str| {
        elf.syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
            .map(|s| s.st_value)
    };
    let gate_text = match (symbol("isola_gate_text_start"), symbol("isola_gate_text_end")) {
        (Some(start), Some(end)) => start..end,
        _ => 0..0,
    };
    for vaddr in wrpkru_addresses(bytes)? {
        if !gate_text.contains(&vaddr) {
            let name = function_symbols(&elf)
                .into_iter()
                .find(|s| (s.addr..s.addr + s.size.max(1)).contains(&vaddr))
                .map_or_else(|| String::from("no symbol"), |s| s.name);
            let file_offset = elf
                .program_headers
                .iter()
                .find(|h| h.p_type == goblin::elf::program_header::PT_LOAD && (h.p_vaddr..h.p_vaddr + h.p_filesz).contains(&vaddr))
                .map_or(0, |h| h.p_offset + (vaddr - h.p_vaddr));
            return Err(ImageError::StrayWrpkru { vaddr, file_offset, symbol: name });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testelf::{self, LOAD_ADDR, Sym, TempDir};

    const KSYMS_SIZE: usize = 4096;

    fn syms() -> Vec<Sym> {
        vec![
            Sym {
                name: "_start",
                value: LOAD_ADDR,
                size: 16,
                func: true,
            },
            Sym {
                name: "_ZN12isola_kernel4arch4boot9rust_main17h0123456789abcdefE",
                value: LOAD_ADDR + 16,
                size: 8,
                func: true,
            },
            Sym {
                name: "SOME_DATA",
                value: LOAD_ADDR + 24,
                size: 8,
                func: false,
            },
            Sym {
                name: "undefined_func",
                value: 0,
                size: 0,
                func: true,
            },
        ]
    }

    #[test]
    fn collects_functions_demangled_without_hash() {
        let bytes = testelf::elf(&[0x90; 32], Some(KSYMS_SIZE), &syms());
        let elf = Elf::parse(&bytes).unwrap();
        let got: Vec<(u64, u64, String)> = function_symbols(&elf)
            .into_iter()
            .map(|s| (s.addr, s.size, s.name))
            .collect();
        assert_eq!(
            got,
            [
                (LOAD_ADDR, 16, "_start".to_string()),
                (
                    LOAD_ADDR + 16,
                    8,
                    "isola_kernel::arch::boot::rust_main".to_string()
                ),
            ]
        );
    }

    #[test]
    fn fills_the_section_with_what_ksyms_builds() {
        let mut bytes = testelf::elf(&[0x90; 32], Some(KSYMS_SIZE), &syms());
        let before = bytes.clone();
        fill_symbols(&mut bytes).unwrap();
        let (off, expected) = {
            let elf = Elf::parse(&before).unwrap();
            let sh = elf
                .section_headers
                .iter()
                .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(ksyms::SECTION_NAME))
                .unwrap();
            (
                sh.sh_offset as usize,
                ksyms::build(function_symbols(&elf), KSYMS_SIZE).unwrap(),
            )
        };
        assert!(!expected.is_empty());
        assert_eq!(&bytes[off..off + expected.len()], &expected[..]);
        assert!(
            bytes[off + expected.len()..off + KSYMS_SIZE]
                .iter()
                .all(|&b| b == 0)
        );
        // Nothing outside the section changed.
        assert_eq!(bytes[..off], before[..off]);
        assert_eq!(bytes[off + KSYMS_SIZE..], before[off + KSYMS_SIZE..]);
        // And the kernel's own lookup finds the demangled name.
        let table = ksyms::Table::parse(&bytes[off..off + KSYMS_SIZE]).unwrap();
        assert_eq!(table.len(), 2);
        let sym = table.lookup(LOAD_ADDR + 20).unwrap();
        assert_eq!(
            (sym.name, sym.offset),
            ("isola_kernel::arch::boot::rust_main", 4)
        );
    }

    #[test]
    fn a_missing_section_is_named() {
        let mut bytes = testelf::elf(&[0x90; 32], None, &syms());
        let err = fill_symbols(&mut bytes).unwrap_err();
        assert!(matches!(err, ImageError::MissingSection(_)));
        assert!(err.to_string().contains(ksyms::SECTION_NAME), "{err}");
    }

    #[test]
    fn not_an_elf() {
        let err = fill_symbols(&mut [0u8; 16]).unwrap_err();
        assert!(err.to_string().contains("not a valid ELF"), "{err}");
    }

    #[test]
    fn the_hosts_own_binary_parses_and_has_functions() {
        let exe = fs::read(std::env::current_exe().unwrap()).unwrap();
        let elf = Elf::parse(&exe).unwrap();
        let names: Vec<String> = function_symbols(&elf).into_iter().map(|s| s.name).collect();
        assert!(
            names.iter().any(|n| n.starts_with("isola::")),
            "{} symbols",
            names.len()
        );
        let hashed = |n: &String| {
            n.rsplit_once("::h")
                .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        assert!(!names.iter().any(hashed), "a hash was left in a name");
    }

    #[test]
    fn postlink_copies_once_and_redoes_when_the_elf_is_newer() {
        let dir = TempDir::new("postlink");
        let elf = dir.path().join("linked");
        let out = dir.path().join("out/kernel.elf");
        fs::write(&elf, testelf::elf(&[0x90; 32], Some(KSYMS_SIZE), &syms())).unwrap();
        postlink(&elf, &out).unwrap();
        let first = fs::read(&out).unwrap();
        assert_ne!(first, fs::read(&elf).unwrap(), "symbols were filled in");
        // Up to date: left alone (a marker byte written into the copy stays).
        let mut marked = first.clone();
        marked[0x800] = 0xAA;
        fs::write(&out, &marked).unwrap();
        postlink(&elf, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap()[0x800], 0xAA);
        // The ELF changes later: redone.
        let later =
            fs::metadata(&out).unwrap().modified().unwrap() + std::time::Duration::from_secs(2);
        fs::File::options()
            .write(true)
            .open(&elf)
            .unwrap()
            .set_modified(later)
            .unwrap();
        postlink(&elf, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), first);
        assert_eq!(
            fs::read_dir(dir.path().join("out")).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn postlink_of_a_missing_elf_says_which() {
        let dir = TempDir::new("postlink-missing");
        let err = postlink(&dir.path().join("nope"), &dir.path().join("out.elf")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// An image whose code holds WRPKRU at offset 8, inside the function `sym`.
    fn image_with_wrpkru(syms: &[Sym]) -> Vec<u8> {
        let mut text = vec![0x90u8; 32];
        text[8..11].copy_from_slice(&[0x0f, 0x01, 0xef]);
        testelf::elf(&text, Some(KSYMS_SIZE), syms)
    }

    #[test]
    fn a_stray_wrpkru_fails_the_image_and_is_named() {
        let bytes = image_with_wrpkru(&[Sym { name: "stray_function", value: LOAD_ADDR, size: 32, func: true }]);
        match check_image(&bytes) {
            Err(ImageError::StrayWrpkru { vaddr, symbol, .. }) => {
                assert_eq!(vaddr, LOAD_ADDR + 8);
                assert_eq!(symbol, "stray_function");
            }
            other => panic!("expected StrayWrpkru, got {other:?}"),
        }
    }

    #[test]
    fn wrpkru_inside_the_gates_is_accepted() {
        let gate_text = [
            Sym { name: "isola_gate_text_start", value: LOAD_ADDR, size: 0, func: false },
            Sym { name: "isola_gate_text_end", value: LOAD_ADDR + 16, size: 0, func: false },
        ];
        assert!(check_image(&image_with_wrpkru(&gate_text)).is_ok());
    }

    #[test]
    fn wrpkru_in_a_pkru_function_outside_the_gate_section_is_refused() {
        // Helpers that wrote PKRU from a register once lived in `pkru::gate`
        // functions (issue 9, escape 1): only the gate section may hold one.
        let gate_function =
            [Sym { name: "_ZN4pkru4gate10write_pkru17h0123456789abcdefE", value: LOAD_ADDR, size: 32, func: true }];
        assert!(matches!(check_image(&image_with_wrpkru(&gate_function)), Err(ImageError::StrayWrpkru { .. })));
    }

    #[test]
    fn wrpkru_addresses_lists_every_hit() {
        let syms = [Sym { name: "f", value: LOAD_ADDR, size: 32, func: true }];
        let bytes = image_with_wrpkru(&syms);
        assert_eq!(wrpkru_addresses(&bytes).unwrap(), vec![LOAD_ADDR + 8]);
    }
}
