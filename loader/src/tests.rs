//! Host tests: small ELF images built here, garbled images, and a real
//! static binary built with the host's C compiler when there is one.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::*;
use std::path::PathBuf;
use std::process::Command;
use std::vec;
use std::vec::Vec;

const PT_NOTE: u32 = 4;

/// One program header to emit.
#[derive(Clone, Copy)]
struct Ph {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

impl Ph {
    fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align: 0x1000,
        }
    }
}

/// A tiny ELF64 writer: header at 0, program headers at 64, then whatever
/// `body` bytes the test places at given offsets.
struct Elf {
    e_type: u16,
    machine: u16,
    entry: u64,
    phdrs: Vec<Ph>,
    size: usize,
    patches: Vec<(usize, Vec<u8>)>,
}

impl Elf {
    fn new(e_type: u16, entry: u64) -> Elf {
        Elf {
            e_type,
            machine: EM_X86_64,
            entry,
            phdrs: Vec::new(),
            size: 0x3000,
            patches: Vec::new(),
        }
    }

    fn ph(mut self, ph: Ph) -> Elf {
        self.phdrs.push(ph);
        self
    }

    fn patch(mut self, offset: usize, bytes: &[u8]) -> Elf {
        self.patches.push((offset, bytes.to_vec()));
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.size];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little endian
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&self.e_type.to_le_bytes());
        out[18..20].copy_from_slice(&self.machine.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..32].copy_from_slice(&self.entry.to_le_bytes());
        out[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        out[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        out[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        out[56..58].copy_from_slice(&(self.phdrs.len() as u16).to_le_bytes());
        out[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        for (i, ph) in self.phdrs.iter().enumerate() {
            let at = 64 + 56 * i;
            let p = &mut out[at..at + 56];
            p[0..4].copy_from_slice(&ph.p_type.to_le_bytes());
            p[4..8].copy_from_slice(&ph.flags.to_le_bytes());
            p[8..16].copy_from_slice(&ph.offset.to_le_bytes());
            p[16..24].copy_from_slice(&ph.vaddr.to_le_bytes());
            p[24..32].copy_from_slice(&ph.vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&ph.filesz.to_le_bytes());
            p[40..48].copy_from_slice(&ph.memsz.to_le_bytes());
            p[48..56].copy_from_slice(&ph.align.to_le_bytes());
        }
        for (offset, bytes) in &self.patches {
            out[*offset..*offset + bytes.len()].copy_from_slice(bytes);
        }
        out
    }
}

const R: u32 = PF_R;
const RW: u32 = PF_R | PF_W;
const RX: u32 = PF_R | PF_X;

/// A typical static executable: headers page (R), code (RX), data (RW).
fn static_exe() -> Elf {
    Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(R, 0, 0x400000, 0x1000, 0x1000))
        .ph(Ph::load(RX, 0x1000, 0x401000, 0x800, 0x800))
        .ph(Ph::load(RW, 0x2000, 0x402000, 0x100, 0x2345))
        .patch(0x1000, &[0x31, 0xff, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05]) // xor edi,edi; mov eax,60; syscall
}

#[test]
fn static_executable_plan() {
    let plan = plan(&static_exe().build()).unwrap();
    assert_eq!(plan.kind, ElfKind::Static);
    assert_eq!(plan.load_bias, 0);
    assert_eq!(plan.entry, 0x401000);
    assert_eq!(plan.segments.len(), 3);
    assert_eq!(
        plan.segments[1],
        Segment {
            vaddr: 0x401000,
            memsz: 0x800,
            file_offset: 0x1000,
            filesz: 0x800,
            read: true,
            write: false,
            exec: true
        }
    );
    assert!(plan.segments[2].write && !plan.segments[2].exec);
    assert_eq!(plan.phdr_vaddr, 0x400040);
    assert_eq!(plan.phnum, 3);
    assert_eq!(plan.phentsize, 56);
    assert_eq!(plan.tls, None);
    assert_eq!(plan.end_of_data, 0x405000); // 0x402000 + 0x2345, page up
}

#[test]
fn static_pie_is_biased() {
    let image = Elf::new(ET_DYN, 0x1000)
        .ph(Ph {
            p_type: PT_PHDR,
            flags: R,
            offset: 64,
            vaddr: 64,
            filesz: 56 * 4,
            memsz: 56 * 4,
            align: 8,
        })
        .ph(Ph::load(R, 0, 0, 0x1000, 0x1000))
        .ph(Ph::load(RX, 0x1000, 0x1000, 0x10, 0x10))
        .ph(Ph {
            p_type: PT_TLS,
            flags: R,
            offset: 0x2000,
            vaddr: 0x2000,
            filesz: 8,
            memsz: 0x18,
            align: 16,
        })
        .ph(Ph::load(RW, 0x2000, 0x2000, 0x10, 0x20))
        .build();
    // Address 0 is fine before biasing: the bias moves it up.
    let plan = plan(&image).unwrap();
    assert_eq!(plan.kind, ElfKind::StaticPie);
    assert_eq!(plan.load_bias, PIE_LOAD_BIAS);
    assert_eq!(plan.entry, PIE_LOAD_BIAS + 0x1000);
    assert_eq!(plan.segments[0].vaddr, PIE_LOAD_BIAS);
    assert_eq!(plan.phdr_vaddr, PIE_LOAD_BIAS + 64);
    assert_eq!(plan.phnum, 5);
    assert_eq!(
        plan.tls,
        Some(Tls {
            vaddr: PIE_LOAD_BIAS + 0x2000,
            filesz: 8,
            memsz: 0x18,
            align: 16
        })
    );
    assert_eq!(plan.end_of_data, PIE_LOAD_BIAS + 0x3000);
}

#[test]
fn header_errors() {
    assert_eq!(plan(&[]).unwrap_err(), LoadError::TooShort);
    assert_eq!(plan(b"\x7fEL").unwrap_err(), LoadError::TooShort);
    assert_eq!(plan(b"MZ\x90\x00").unwrap_err(), LoadError::NotElf);
    assert_eq!(
        plan(b"#!/bin/sh\necho hi\n").unwrap_err(),
        LoadError::NotElf
    );
    let good = static_exe().build();
    assert_eq!(plan(&good[..63]).unwrap_err(), LoadError::TooShort);
    let mut image = good.clone();
    image[4] = 1;
    assert_eq!(plan(&image).unwrap_err(), LoadError::Not64Bit);
    let mut image = good.clone();
    image[5] = 2;
    assert_eq!(plan(&image).unwrap_err(), LoadError::NotLittleEndian);
    let mut elf = static_exe();
    elf.machine = 0xb7; // aarch64
    assert_eq!(plan(&elf.build()).unwrap_err(), LoadError::NotX86_64);
    let mut elf = static_exe();
    elf.e_type = 1; // ET_REL
    assert_eq!(plan(&elf.build()).unwrap_err(), LoadError::NotExecutable);
    let mut elf = static_exe();
    elf.e_type = 4; // ET_CORE
    assert_eq!(plan(&elf.build()).unwrap_err(), LoadError::NotExecutable);
}

#[test]
fn program_header_errors() {
    let good = static_exe().build();
    // Wrong e_phentsize.
    let mut image = good.clone();
    image[54] = 32;
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
    // No program headers.
    let mut image = good.clone();
    image[56..58].copy_from_slice(&0u16.to_le_bytes());
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
    // Table past the end of the file.
    let mut image = good.clone();
    image[32..40].copy_from_slice(&(0x3000u64 - 100).to_le_bytes());
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
    let mut image = good.clone();
    image[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
    // filesz > memsz.
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(RX, 0x1000, 0x401000, 0x20, 0x10))
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
}

#[test]
fn dynamic_is_refused() {
    for e_type in [ET_EXEC, ET_DYN] {
        let mut elf = static_exe();
        elf.e_type = e_type;
        let image = elf
            .ph(Ph {
                p_type: PT_INTERP,
                flags: R,
                offset: 0x200,
                vaddr: 0x400200,
                filesz: 28,
                memsz: 28,
                align: 1,
            })
            .patch(0x200, b"/lib64/ld-linux-x86-64.so.2\0")
            .build();
        let err = plan(&image).unwrap_err();
        assert_eq!(err, LoadError::Dynamic);
        assert_eq!(err.errno(), Errno::ENOEXEC);
        assert_eq!(
            std::format!("{err}"),
            "dynamically linked (PT_INTERP): not supported yet"
        );
    }
}

#[test]
fn segment_outside_file() {
    let image = static_exe()
        .ph(Ph::load(R, 0x2f00, 0x500f00, 0x200, 0x200))
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::SegmentOutsideFile { index: 3 }
    );
    let image = static_exe()
        .ph(Ph::load(R, u64::MAX - 1, 0x500fff, 2, 2))
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::SegmentOutsideFile { index: 3 }
    );
}

#[test]
fn alignment_errors() {
    // Page offsets disagree.
    let image = static_exe()
        .ph(Ph::load(R, 0x2010, 0x600020, 0x10, 0x10))
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::BadAlignment { index: 3 }
    );
    // p_align not a power of two.
    let image = static_exe()
        .ph(Ph {
            align: 0x3000,
            ..Ph::load(R, 0x2000, 0x602000, 0x10, 0x10)
        })
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::BadAlignment { index: 3 }
    );
    // Congruent modulo a page but not modulo p_align (2 MiB).
    let image = static_exe()
        .ph(Ph {
            align: 0x20_0000,
            ..Ph::load(R, 0x2000, 0x603000, 0x10, 0x10)
        })
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::BadAlignment { index: 3 }
    );
    // p_align 0 or 1 means no constraint beyond the page.
    let image = static_exe()
        .ph(Ph {
            align: 0,
            ..Ph::load(R, 0x2000, 0x603000, 0x10, 0x10)
        })
        .build();
    assert!(plan(&image).is_ok());
}

#[test]
fn address_range() {
    // First page.
    let image = Elf::new(ET_EXEC, 0x1000)
        .ph(Ph::load(R, 0, 0, 0x1000, 0x1000))
        .ph(Ph::load(RX, 0x1000, 0x1000, 0x10, 0x10))
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::AddressOutOfRange { vaddr: 0 }
    );
    // Ends past USER_END.
    let image = static_exe()
        .ph(Ph::load(RW, 0x2000, USER_END - 0x1000, 0x10, 0x2000))
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::AddressOutOfRange {
            vaddr: USER_END - 0x1000
        }
    );
    // Ends exactly at USER_END: allowed.
    let image = static_exe()
        .ph(Ph::load(RW, 0x2000, USER_END - 0x1000, 0x10, 0x1000))
        .build();
    assert_eq!(plan(&image).unwrap().end_of_data, USER_END);
    // Wraps around.
    let image = static_exe()
        .ph(Ph::load(RW, 0x2000, u64::MAX - 0xfff, 0x10, 0x2000))
        .build();
    assert!(matches!(
        plan(&image).unwrap_err(),
        LoadError::AddressOutOfRange { .. }
    ));
    // A PIE whose biased address leaves user space.
    let image = Elf::new(ET_DYN, 0x1000)
        .ph(Ph::load(RX, 0x1000, 0x1000, 0x10, 0x10))
        .ph(Ph::load(RW, 0x2000, USER_END - 0x1000, 0x10, 0x10))
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::AddressOutOfRange {
            vaddr: USER_END - 0x1000 + PIE_LOAD_BIAS
        }
    );
}

#[test]
fn overlap_rules() {
    // Byte overlap, same rights.
    let image = static_exe()
        .ph(Ph::load(RW, 0x2000, 0x402000, 0x10, 0x10))
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::Overlap { index: 3 });
    // Shares the data segment's last page with other rights.
    let image = static_exe()
        .ph(Ph::load(R, 0x2400, 0x404400, 0x10, 0x10))
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::Overlap { index: 3 });
    // Shares a page with equal rights (like .data and .bss in separate
    // segments): fine.
    let image = static_exe()
        .ph(Ph::load(RW, 0x2400, 0x404400, 0x10, 0x10))
        .build();
    assert!(plan(&image).is_ok());
    // Text and rodata in one page: different rights, refused.
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(RX, 0x1000, 0x401000, 0x100, 0x100))
        .ph(Ph::load(R, 0x1100, 0x401100, 0x100, 0x100))
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::Overlap { index: 1 });
}

#[test]
fn write_xor_execute() {
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(PF_R | PF_W | PF_X, 0x1000, 0x401000, 0x10, 0x10))
        .build();
    let err = plan(&image).unwrap_err();
    assert_eq!(err, LoadError::WritableAndExecutable { vaddr: 0x401000 });
    assert_eq!(
        std::format!("{err}"),
        "segment at 0x401000 is writable and executable (W^X)"
    );
    // W+X without R too.
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(PF_W | PF_X, 0x1000, 0x401000, 0x10, 0x10))
        .build();
    assert!(matches!(
        plan(&image).unwrap_err(),
        LoadError::WritableAndExecutable { .. }
    ));
}

#[test]
fn wrpkru_in_code_is_refused_at_any_offset() {
    for at in [0x1000usize, 0x1001, 0x1003, 0x17fd] {
        let image = static_exe().patch(at, &[0x0f, 0x01, 0xef]).build();
        let err = plan(&image).unwrap_err();
        assert_eq!(
            err,
            LoadError::Wrpkru {
                file_offset: at as u64
            }
        );
        assert_eq!(err.errno(), Errno::ENOEXEC);
    }
    // Hidden inside another instruction: mov eax, 0xef010f90.
    let image = static_exe()
        .patch(0x1100, &[0xb8, 0x90, 0x0f, 0x01, 0xef])
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::Wrpkru {
            file_offset: 0x1102
        }
    );
    let msg = std::format!(
        "{}",
        LoadError::Wrpkru {
            file_offset: 0x1234
        }
    );
    assert_eq!(
        msg,
        "executable segment contains WRPKRU (0F 01 EF) at file offset 0x1234"
    );
}

#[test]
fn wrpkru_outside_code_is_fine() {
    // In the data segment, in the headers page, and in the code's file page
    // but past filesz (never mapped).
    let image = static_exe()
        .patch(0x2000, &[0x0f, 0x01, 0xef])
        .patch(0x300, &[0x0f, 0x01, 0xef])
        .patch(0x1900, &[0x0f, 0x01, 0xef])
        .build();
    assert!(plan(&image).is_ok());
    // Two bytes short of it: fine.
    let image = static_exe().patch(0x1100, &[0x0f, 0x01, 0xee]).build(); // rdpkru
    assert!(plan(&image).is_ok());
}

#[test]
fn wrpkru_across_touching_code_segments() {
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(RX, 0x1000, 0x401000, 0x100, 0x100))
        .ph(Ph::load(RX, 0x1100, 0x401100, 0x100, 0x100))
        .patch(0x10ff, &[0x0f, 0x01, 0xef])
        .build();
    // Inside one segment? No: 0x10ff is its last byte; the sequence spans
    // both, and the file layout happens to match memory here.
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::Wrpkru {
            file_offset: 0x10ff
        }
    );
    // Same in memory, but the second segment's bytes come from elsewhere.
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph::load(RX, 0x1000, 0x401000, 0x100, 0x100))
        .ph(Ph::load(RX, 0x2100, 0x401100, 0x100, 0x100))
        .patch(0x10fe, &[0x0f, 0x01])
        .patch(0x2100, &[0xef])
        .build();
    assert_eq!(
        plan(&image).unwrap_err(),
        LoadError::Wrpkru {
            file_offset: 0x10fe
        }
    );
}

#[test]
fn entry_must_be_in_code() {
    let mut elf = static_exe();
    elf.entry = 0x402000; // data
    assert_eq!(
        plan(&elf.build()).unwrap_err(),
        LoadError::EntryOutsideCode { entry: 0x402000 }
    );
    let mut elf = static_exe();
    elf.entry = 0x401800; // one past the code
    assert_eq!(
        plan(&elf.build()).unwrap_err(),
        LoadError::EntryOutsideCode { entry: 0x401800 }
    );
    let mut elf = static_exe();
    elf.entry = 0x4017ff;
    assert!(plan(&elf.build()).is_ok());
}

#[test]
fn no_loadable_segments() {
    let image = Elf::new(ET_EXEC, 0x401000)
        .ph(Ph {
            p_type: PT_NOTE,
            flags: R,
            offset: 0x200,
            vaddr: 0x400200,
            filesz: 0x20,
            memsz: 0x20,
            align: 4,
        })
        .ph(Ph::load(RX, 0x1000, 0x401000, 0, 0))
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::NoLoadableSegments);
}

#[test]
fn bad_tls() {
    let image = static_exe()
        .ph(Ph {
            p_type: PT_TLS,
            flags: R,
            offset: 0x2000,
            vaddr: 0x402000,
            filesz: 0x20,
            memsz: 0x10,
            align: 8,
        })
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
    // Template not inside any loaded segment.
    let image = static_exe()
        .ph(Ph {
            p_type: PT_TLS,
            flags: R,
            offset: 0x2000,
            vaddr: 0x900000,
            filesz: 0x8,
            memsz: 0x10,
            align: 8,
        })
        .build();
    assert_eq!(plan(&image).unwrap_err(), LoadError::BadProgramHeaders);
}

#[test]
fn every_error_has_a_message() {
    let all = [
        LoadError::TooShort,
        LoadError::NotElf,
        LoadError::Not64Bit,
        LoadError::NotLittleEndian,
        LoadError::NotX86_64,
        LoadError::NotExecutable,
        LoadError::Dynamic,
        LoadError::BadProgramHeaders,
        LoadError::SegmentOutsideFile { index: 2 },
        LoadError::BadAlignment { index: 2 },
        LoadError::AddressOutOfRange { vaddr: 0 },
        LoadError::Overlap { index: 1 },
        LoadError::WritableAndExecutable { vaddr: 0x1000 },
        LoadError::Wrpkru { file_offset: 5 },
        LoadError::NoLoadableSegments,
        LoadError::EntryOutsideCode { entry: 0x10 },
    ];
    for err in all {
        let msg = std::format!("{err}");
        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
        assert_eq!(err.errno(), Errno::ENOEXEC);
    }
    assert_eq!(
        std::format!("{}", LoadError::NotElf),
        "not an ELF file (bad magic)"
    );
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn fuzz_no_panics() {
    let seeds = [
        static_exe().build(),
        Elf::new(ET_DYN, 0x1000)
            .ph(Ph::load(R, 0, 0, 0x1000, 0x1000))
            .ph(Ph::load(RX, 0x1000, 0x1000, 0x10, 0x10))
            .ph(Ph {
                p_type: PT_TLS,
                flags: R,
                offset: 0x2000,
                vaddr: 0x2000,
                filesz: 8,
                memsz: 0x18,
                align: 16,
            })
            .ph(Ph::load(RW, 0x2000, 0x2000, 0x10, 0x20))
            .build(),
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..20_000 {
        let mut image = seeds[round % seeds.len()].clone();
        // Mutate mostly the headers, where the decisions are made.
        for _ in 0..1 + rng.next() % 8 {
            let region = if rng.next() % 4 == 0 {
                image.len()
            } else {
                64 + 56 * 4
            };
            let at = (rng.next() as usize) % region;
            image[at] = match rng.next() % 4 {
                0 => 0,
                1 => 0xff,
                _ => rng.next() as u8,
            };
        }
        if rng.next() % 8 == 0 {
            let len = (rng.next() as usize) % image.len();
            image.truncate(len);
        }
        let _ = plan(&image);
    }
    // Every truncation of a valid image.
    let good = static_exe().build();
    for len in 0..0x300 {
        assert!(plan(&good[..len]).is_err());
    }
}

/// Builds a static (and a static-PIE) executable from C with the host's
/// compiler; `None` (and a printed reason) when that is not possible.
fn build_c(name: &str, extra: &[&str], source: &str) -> Option<Vec<u8>> {
    let dir: PathBuf =
        std::env::temp_dir().join(std::format!("isola-loader-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("prog.c");
    let exe = dir.join("prog");
    std::fs::write(&src, source).ok()?;
    let result = Command::new("cc")
        .args(extra)
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output();
    let image = match result {
        Ok(out) if out.status.success() => std::fs::read(&exe).ok(),
        Ok(out) => {
            std::println!(
                "skipped: cc {extra:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(err) => {
            std::println!("skipped: no C compiler (cc): {err}");
            None
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    image
}

const HELLO_C: &str = "#include <stdio.h>\n__thread int counter = 3;\nint main(void) { printf(\"hello %d\\n\", counter); return 0; }\n";

#[test]
fn real_static_binary() {
    let Some(image) = build_c("static", &["-static"], HELLO_C) else {
        return;
    };
    let plan = plan(&image).unwrap_or_else(|e| panic!("static hello refused: {e}"));
    assert_eq!(plan.kind, ElfKind::Static);
    assert!(plan.segments.iter().any(|s| s.exec));
    assert!(plan.segments.iter().all(|s| !(s.write && s.exec)));
    assert!(plan.tls.is_some(), "glibc static binaries have PT_TLS");
    assert!(plan.phdr_vaddr != 0);
    assert!(plan.end_of_data > plan.entry);
    // The real thing also runs on the host, a sanity check of the build.
    std::println!("{plan:#x?}");
}

#[test]
fn real_static_pie_binary() {
    let Some(image) = build_c("static-pie", &["-static-pie", "-fPIE"], HELLO_C) else {
        return;
    };
    let plan = plan(&image).unwrap_or_else(|e| panic!("static-pie hello refused: {e}"));
    assert_eq!(plan.kind, ElfKind::StaticPie);
    assert_eq!(plan.load_bias, PIE_LOAD_BIAS);
    assert!(plan.phdr_vaddr >= PIE_LOAD_BIAS);
    assert!(plan.entry >= PIE_LOAD_BIAS);
}

#[test]
fn real_dynamic_binary_is_refused() {
    let Some(image) = build_c("dynamic", &[], HELLO_C) else {
        return;
    };
    assert_eq!(plan(&image).unwrap_err(), LoadError::Dynamic);
}

#[test]
fn real_binary_with_wrpkru_is_refused() {
    let source = "int main(void) { __asm__ volatile(\"xor %%ecx,%%ecx; xor %%edx,%%edx; mov $0,%%eax; .byte 0x0f,0x01,0xef\" ::: \"eax\",\"ecx\",\"edx\"); return 0; }\n";
    let Some(image) = build_c("wrpkru", &["-static"], source) else {
        return;
    };
    let err = plan(&image).unwrap_err();
    let LoadError::Wrpkru { file_offset } = err else {
        panic!("expected Wrpkru, got {err}")
    };
    let at = file_offset as usize;
    assert_eq!(&image[at..at + 3], &[0x0f, 0x01, 0xef]);
}
