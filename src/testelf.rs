//! Test support: tiny ELF64 images built byte by byte, and temporary
//! directories. The images carry a Xen PVH note, so QEMU boots them like the
//! kernel; their 32-bit code prints a message on COM1 and then ends as asked.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the image is loaded and entered.
pub const LOAD_ADDR: u64 = 0x10_0000;
const TEXT_OFFSET: usize = 0x1000;

/// How the guest ends after printing.
#[derive(Debug, Clone, Copy)]
pub enum Ending {
    /// Write this value to isa-debug-exit (QEMU exits with (v << 1) | 1).
    DebugExit(u32),
    /// Spin forever.
    Spin,
    /// Execute int3 with no IDT.
    Int3,
}

/// A symbol of the test image.
#[derive(Debug, Clone)]
pub struct Sym {
    pub name: &'static str,
    pub value: u64,
    pub size: u64,
    pub func: bool,
}

/// A bootable image printing `msg` then ending as asked.
pub fn pvh_guest(msg: &[u8], ending: Ending) -> Vec<u8> {
    elf(&guest_code(msg, ending), None, &[])
}

fn guest_code(msg: &[u8], ending: Ending) -> Vec<u8> {
    let mut code = vec![0xBE, 0, 0, 0, 0]; // mov esi, msg
    code.extend_from_slice(&[
        0x8A, 0x06, // 1: mov al, [esi]
        0x84, 0xC0, // test al, al
        0x74, 0x08, // jz 2f
        0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8
        0xEE, // out dx, al
        0x46, // inc esi
        0xEB, 0xF2, // jmp 1b
    ]);
    match ending {
        Ending::DebugExit(value) => {
            code.extend_from_slice(&[0x66, 0xBA, 0xF4, 0x00, 0xB8]); // mov dx, 0xf4; mov eax, ..
            code.extend_from_slice(&value.to_le_bytes());
            code.extend_from_slice(&[0xEF, 0xF4, 0xEB, 0xFE]); // out dx, eax; hlt; jmp $
        }
        Ending::Spin => code.extend_from_slice(&[0xEB, 0xFE]),
        Ending::Int3 => code.extend_from_slice(&[0xCC, 0xEB, 0xFE]),
    }
    let msg_addr = LOAD_ADDR as u32 + code.len() as u32;
    code[1..5].copy_from_slice(&msg_addr.to_le_bytes());
    code.extend_from_slice(msg);
    code.push(0);
    code
}

fn align(v: &mut Vec<u8>, to: usize) {
    while v.len() % to != 0 {
        v.push(0);
    }
}

fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u64le(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

struct Shdr {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

/// An ELF64 executable: `text` at [`LOAD_ADDR`], a PVH note, optionally a
/// zero-filled `.ksyms` section of `ksyms_size` bytes, and a symbol table.
pub fn elf(text: &[u8], ksyms_size: Option<usize>, syms: &[Sym]) -> Vec<u8> {
    let mut f = vec![0u8; TEXT_OFFSET];
    f.extend_from_slice(text);
    align(&mut f, 4);
    let note_off = f.len();
    u32le(&mut f, 4);
    u32le(&mut f, 4);
    u32le(&mut f, 18); // XEN_ELFNOTE_PHYS32_ENTRY
    f.extend_from_slice(b"Xen\0");
    u32le(&mut f, LOAD_ADDR as u32);
    let note_len = f.len() - note_off;
    align(&mut f, 8);
    let ksyms_off = f.len();
    f.resize(ksyms_off + ksyms_size.unwrap_or(0), 0);
    let load_end = f.len();
    let vaddr = |off: usize| LOAD_ADDR + (off - TEXT_OFFSET) as u64;

    // String tables.
    let mut strtab = vec![0u8];
    let mut sym_names = Vec::new();
    for s in syms {
        sym_names.push(strtab.len() as u32);
        strtab.extend_from_slice(s.name.as_bytes());
        strtab.push(0);
    }
    let mut shstrtab = vec![0u8];
    let mut sh_name = |name: &str| {
        let at = shstrtab.len() as u32;
        shstrtab.extend_from_slice(name.as_bytes());
        shstrtab.push(0);
        at
    };
    let n_text = sh_name(".text");
    let n_note = sh_name(".note.Xen");
    let n_ksyms = sh_name(".ksyms");
    let n_symtab = sh_name(".symtab");
    let n_strtab = sh_name(".strtab");
    let n_shstrtab = sh_name(".shstrtab");

    align(&mut f, 8);
    let symtab_off = f.len();
    f.extend_from_slice(&[0u8; 24]);
    for (s, &name) in syms.iter().zip(&sym_names) {
        u32le(&mut f, name);
        f.push((1 << 4) | if s.func { 2 } else { 1 }); // STB_GLOBAL, STT_FUNC/OBJECT
        f.push(0);
        u16le(&mut f, 1); // .text
        u64le(&mut f, s.value);
        u64le(&mut f, s.size);
    }
    let symtab_len = f.len() - symtab_off;
    let strtab_off = f.len();
    f.extend_from_slice(&strtab);
    let shstrtab_off = f.len();
    f.extend_from_slice(&shstrtab);

    let mut shdrs = vec![
        Shdr {
            name: 0,
            kind: 0,
            flags: 0,
            addr: 0,
            offset: 0,
            size: 0,
            link: 0,
            info: 0,
            align: 0,
            entsize: 0,
        },
        Shdr {
            name: n_text,
            kind: 1,
            flags: 0x6,
            addr: LOAD_ADDR,
            offset: TEXT_OFFSET as u64,
            size: text.len() as u64,
            link: 0,
            info: 0,
            align: 16,
            entsize: 0,
        },
        Shdr {
            name: n_note,
            kind: 7,
            flags: 0x2,
            addr: vaddr(note_off),
            offset: note_off as u64,
            size: note_len as u64,
            link: 0,
            info: 0,
            align: 4,
            entsize: 0,
        },
    ];
    if let Some(size) = ksyms_size {
        shdrs.push(Shdr {
            name: n_ksyms,
            kind: 1,
            flags: 0x2,
            addr: vaddr(ksyms_off),
            offset: ksyms_off as u64,
            size: size as u64,
            link: 0,
            info: 0,
            align: 8,
            entsize: 0,
        });
    }
    let strtab_index = shdrs.len() as u32 + 1;
    shdrs.push(Shdr {
        name: n_symtab,
        kind: 2,
        flags: 0,
        addr: 0,
        offset: symtab_off as u64,
        size: symtab_len as u64,
        link: strtab_index,
        info: 1,
        align: 8,
        entsize: 24,
    });
    shdrs.push(Shdr {
        name: n_strtab,
        kind: 3,
        flags: 0,
        addr: 0,
        offset: strtab_off as u64,
        size: strtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    shdrs.push(Shdr {
        name: n_shstrtab,
        kind: 3,
        flags: 0,
        addr: 0,
        offset: shstrtab_off as u64,
        size: shstrtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    align(&mut f, 8);
    let shoff = f.len();
    for s in &shdrs {
        u32le(&mut f, s.name);
        u32le(&mut f, s.kind);
        u64le(&mut f, s.flags);
        u64le(&mut f, s.addr);
        u64le(&mut f, s.offset);
        u64le(&mut f, s.size);
        u32le(&mut f, s.link);
        u32le(&mut f, s.info);
        u64le(&mut f, s.align);
        u64le(&mut f, s.entsize);
    }

    // ELF header and program headers.
    let mut h = Vec::new();
    h.extend_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    u16le(&mut h, 2); // ET_EXEC
    u16le(&mut h, 62); // EM_X86_64
    u32le(&mut h, 1);
    u64le(&mut h, LOAD_ADDR);
    u64le(&mut h, 64); // e_phoff
    u64le(&mut h, shoff as u64);
    u32le(&mut h, 0);
    u16le(&mut h, 64);
    u16le(&mut h, 56);
    u16le(&mut h, 2);
    u16le(&mut h, 64);
    u16le(&mut h, shdrs.len() as u16);
    u16le(&mut h, shdrs.len() as u16 - 1);
    // PT_LOAD, RWX
    u32le(&mut h, 1);
    u32le(&mut h, 7);
    u64le(&mut h, TEXT_OFFSET as u64);
    u64le(&mut h, LOAD_ADDR);
    u64le(&mut h, LOAD_ADDR);
    u64le(&mut h, (load_end - TEXT_OFFSET) as u64);
    u64le(&mut h, (load_end - TEXT_OFFSET) as u64);
    u64le(&mut h, 0x1000);
    // PT_NOTE
    u32le(&mut h, 4);
    u32le(&mut h, 4);
    u64le(&mut h, note_off as u64);
    u64le(&mut h, vaddr(note_off));
    u64le(&mut h, vaddr(note_off));
    u64le(&mut h, note_len as u64);
    u64le(&mut h, note_len as u64);
    u64le(&mut h, 4);
    f[..h.len()].copy_from_slice(&h);
    f
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("isola-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goblin_reads_the_test_image() {
        let syms = [Sym {
            name: "_start",
            value: LOAD_ADDR,
            size: 4,
            func: true,
        }];
        let bytes = elf(&[0x90; 4], Some(64), &syms);
        let e = goblin::elf::Elf::parse(&bytes).unwrap();
        assert_eq!(e.entry, LOAD_ADDR);
        assert_eq!(e.program_headers.len(), 2);
        let names: Vec<_> = e
            .section_headers
            .iter()
            .map(|s| e.shdr_strtab.get_at(s.sh_name).unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            [
                "",
                ".text",
                ".note.Xen",
                ".ksyms",
                ".symtab",
                ".strtab",
                ".shstrtab"
            ]
        );
        let s = e.syms.iter().nth(1).unwrap();
        assert_eq!(e.strtab.get_at(s.st_name), Some("_start"));
        assert_eq!(s.st_type(), goblin::elf::sym::STT_FUNC);
    }
}
