//! ELF checks and the load plan for x86-64 Linux executables: static,
//! static PIE, dynamically linked (with `PT_INTERP`), and the dynamic
//! linker (`ld.so`) itself.
//!
//! [`plan_at`] reads an image (the bytes of the file, as found in the
//! initramfs) and either refuses it with a [`LoadError`] (`ENOEXEC` for
//! `execve`) or returns a [`LoadPlan`]: the segments to map with their
//! rights, the entry point, what the auxiliary vector needs (`AT_PHDR`,
//! `AT_PHNUM`, `AT_PHENT`, `AT_ENTRY`), the interpreter's path if there is
//! one, the TLS template and where `brk` starts. Every address in the plan
//! already includes the load bias: 0 for `ET_EXEC`, the base the caller
//! chose for `ET_DYN` (a PIE or `ld.so`; the kernel randomizes it).
//! [`plan`] is `plan_at` with [`PIE_LOAD_BIAS`].
//!
//! A dynamically linked program is loaded as Linux's `load_elf_binary`
//! does: the program's segments at its bias, the interpreter's at a base of
//! its own (planned with [`plan_at`] too, and refused if it has a
//! `PT_INTERP` of its own), and control starts at the interpreter's entry
//! with `AT_BASE` = the interpreter's bias and `AT_ENTRY` = the program's.
//!
//! The checks that matter for isolation (DESIGN.md, "Threat model"):
//! - W^X: no segment is both writable and executable;
//! - no executable segment contains the bytes of `wrpkru` (`0F 01 EF`) at
//!   any byte offset ([`pkru::scan::find_wrpkru`]);
//! - every segment lies in user space, above the never-mapped first page,
//!   and two segments never give one page different rights.
//!
//! How the kernel is expected to load a plan: for each [`Segment`], map the
//! pages covering `[vaddr, vaddr + memsz)` with the segment's rights and
//! the process key. A segment [`Segment::in_place`] shows the file's whole
//! pages ([`Segment::mapped_file_range`]), as Linux maps them; for any
//! other, zero its pages and copy `filesz` bytes from `file_offset` to
//! `vaddr` (bytes of the file outside its own range never mapped). The
//! WRPKRU scan covers exactly what becomes executable (plus the junction
//! of two executable segments that touch in memory). Segments with
//! `memsz == 0` are validated but left out of the plan.
//!
//! Parsing uses `goblin`'s ELF64 header and program-header types (no_std +
//! alloc); this crate does every check itself, with checked arithmetic, and
//! never panics on any input. Neighbours: the kernel's `execve` (maps the
//! plan, builds the stack and auxv), `pkru` (the scanner), `syscall`
//! (`Errno`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

use goblin::container::Endian;
use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_X86_64, ET_DYN, ET_EXEC, SELFMAG,
};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR, PT_TLS};
use goblin::elf64::header::{Header, SIZEOF_EHDR};
use goblin::elf64::program_header::{ProgramHeader, SIZEOF_PHDR};
use syscall::Errno;

#[cfg(test)]
mod tests;

/// Where static-PIE images are loaded (like Linux's `ELF_ET_DYN_BASE`).
pub const PIE_LOAD_BIAS: u64 = 0x5555_5555_4000;
/// User addresses are below this (the end of the lower canonical half).
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// The lowest address a segment may use: the first page is never mapped.
pub const USER_START: u64 = PAGE_SIZE;
/// The page size segments are mapped with.
pub const PAGE_SIZE: u64 = 4096;

/// How the executable is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: fixed addresses, load bias 0.
    Static,
    /// `ET_DYN` without `PT_INTERP`: relocates itself (a static PIE, or
    /// `ld.so` itself), loaded at the bias the caller chose.
    StaticPie,
    /// Has a `PT_INTERP`: the interpreter named in [`LoadPlan::interp`]
    /// maps its libraries and relocates it.
    Dynamic,
}

/// Longest interpreter path accepted (`PATH_MAX`, NUL included).
pub const INTERP_MAX: u64 = 4096;

/// One `PT_LOAD` segment to map. `vaddr` includes the load bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First byte of the segment in memory (not necessarily page-aligned).
    pub vaddr: u64,
    /// Size in memory; bytes past `filesz` are zero (`.bss`).
    pub memsz: u64,
    /// Where the segment's bytes start in the file.
    pub file_offset: u64,
    /// How many bytes come from the file (`<= memsz`).
    pub filesz: u64,
    /// `PF_R`.
    pub read: bool,
    /// `PF_W`.
    pub write: bool,
    /// `PF_X`.
    pub exec: bool,
    /// Its pages show the file's pages in place, as Linux maps them: a
    /// read-only segment with no `.bss` whose pages no other segment
    /// touches. The bytes of its first and last page outside the segment
    /// (the file's padding or a neighbour's bytes) are then mapped too,
    /// and the WRPKRU scan of an executable one covers them
    /// ([`Segment::mapped_file_range`]). Otherwise the kernel copies the
    /// partial pages and zeroes what lies outside the segment.
    pub in_place: bool,
}

impl Segment {
    /// One past the last byte in memory.
    pub fn end(&self) -> u64 {
        // Checked in `plan`: vaddr + memsz <= USER_END.
        self.vaddr.saturating_add(self.memsz)
    }

    /// First byte of the first page the segment touches.
    pub fn page_start(&self) -> u64 {
        page_down(self.vaddr)
    }

    /// One past the last page the segment touches.
    pub fn page_end(&self) -> u64 {
        page_up(self.end()).unwrap_or(USER_END)
    }

    /// The bytes of the file the segment's mapping shows, as (offset,
    /// length): whole pages when [`Segment::in_place`], else its own bytes.
    /// The length may run past the end of the file (the last page's tail
    /// reads as zeros).
    pub fn mapped_file_range(&self) -> (u64, u64) {
        if self.in_place {
            (page_down(self.file_offset), self.page_end().saturating_sub(self.page_start()))
        } else {
            (self.file_offset, self.filesz)
        }
    }

    /// Where the mapped file bytes start in memory.
    fn mapped_start(&self) -> u64 {
        if self.in_place { self.page_start() } else { self.vaddr }
    }
}

/// The thread-local storage template (`PT_TLS`). `vaddr` includes the load
/// bias; the template's `filesz` bytes are followed by `memsz - filesz`
/// zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls {
    /// Address of the initialization image in the loaded program.
    pub vaddr: u64,
    /// Size of the initialization image.
    pub filesz: u64,
    /// Size of one thread's block.
    pub memsz: u64,
    /// Alignment of the block (0 or a power of two).
    pub align: u64,
}

/// Everything `execve` needs to map a checked executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// Static, static PIE or dynamic.
    pub kind: ElfKind,
    /// Added to every address of the file: 0 for `ET_EXEC`, else the bias
    /// given to [`plan_at`].
    pub load_bias: u64,
    /// The path in `PT_INTERP` (without its NUL), for a dynamic program.
    pub interp: Option<Vec<u8>>,
    /// Entry point (biased), inside an executable segment.
    pub entry: u64,
    /// The `PT_LOAD` segments with `memsz > 0`, in file order.
    pub segments: Vec<Segment>,
    /// Biased address of the program headers in memory (`AT_PHDR`): from
    /// `PT_PHDR`, else from the `PT_LOAD` whose file range holds them; 0 if
    /// the program headers are not loaded at all.
    pub phdr_vaddr: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u16,
    /// Size of one program header (`AT_PHENT`), always 56.
    pub phentsize: u16,
    /// The TLS template, if the program has one.
    pub tls: Option<Tls>,
    /// Highest `vaddr + memsz`, rounded up to a page: where `brk` starts.
    pub end_of_data: u64,
}

/// Why an image cannot be executed. Every variant maps to `ENOEXEC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Shorter than an ELF header.
    TooShort,
    /// No `\x7fELF` magic.
    NotElf,
    /// Not `ELFCLASS64`.
    Not64Bit,
    /// Not `ELFDATA2LSB`.
    NotLittleEndian,
    /// Not `EM_X86_64`.
    NotX86_64,
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    NotExecutable,
    /// `PT_INTERP` outside the file, empty, longer than [`INTERP_MAX`], not
    /// NUL-terminated, or with a NUL inside; or more than one `PT_INTERP`.
    BadInterpreter,
    /// Program header table missing, outside the file, or with a wrong
    /// entry size; or a segment with `filesz > memsz`; or a bad `PT_TLS`.
    BadProgramHeaders,
    /// `PT_LOAD` number `index` reaches past the end of the file.
    SegmentOutsideFile {
        /// Index in the program header table.
        index: usize,
    },
    /// `PT_LOAD` number `index` has an invalid alignment, or a virtual
    /// address and file offset that disagree modulo the alignment or page.
    BadAlignment {
        /// Index in the program header table.
        index: usize,
    },
    /// A segment (biased) starts in the first page or ends past
    /// [`USER_END`].
    AddressOutOfRange {
        /// Biased start address of the segment.
        vaddr: u64,
    },
    /// `PT_LOAD` number `index` overlaps an earlier one, or shares a page
    /// with one that has different rights.
    Overlap {
        /// Index in the program header table.
        index: usize,
    },
    /// A segment is both writable and executable (W^X).
    WritableAndExecutable {
        /// Biased start address of the segment.
        vaddr: u64,
    },
    /// An executable segment contains `0F 01 EF` (`wrpkru`).
    Wrpkru {
        /// Absolute file offset of the `0F`.
        file_offset: u64,
    },
    /// No `PT_LOAD` with a nonzero size.
    NoLoadableSegments,
    /// The entry point is not inside an executable segment.
    EntryOutsideCode {
        /// Biased entry point.
        entry: u64,
    },
}

impl LoadError {
    /// The error `execve` returns: `ENOEXEC` for every reason.
    pub fn errno(&self) -> Errno {
        Errno::ENOEXEC
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LoadError::TooShort => f.write_str("file too short for an ELF header"),
            LoadError::NotElf => f.write_str("not an ELF file (bad magic)"),
            LoadError::Not64Bit => f.write_str("not a 64-bit ELF file (ELFCLASS32?)"),
            LoadError::NotLittleEndian => f.write_str("not a little-endian ELF file"),
            LoadError::NotX86_64 => f.write_str("not an x86-64 executable (wrong e_machine)"),
            LoadError::NotExecutable => {
                f.write_str("not an executable (e_type is neither ET_EXEC nor ET_DYN)")
            }
            LoadError::BadInterpreter => f.write_str("malformed PT_INTERP (the interpreter's path)"),
            LoadError::BadProgramHeaders => f.write_str("malformed program headers"),
            LoadError::SegmentOutsideFile { index } => {
                write!(f, "segment {index} reaches past the end of the file")
            }
            LoadError::BadAlignment { index } => write!(
                f,
                "segment {index} has a bad alignment (address and file offset disagree)"
            ),
            LoadError::AddressOutOfRange { vaddr } => write!(
                f,
                "segment at {vaddr:#x} lies outside user space [{USER_START:#x}, {USER_END:#x})"
            ),
            LoadError::Overlap { index } => write!(
                f,
                "segment {index} overlaps another segment or shares a page with different rights"
            ),
            LoadError::WritableAndExecutable { vaddr } => {
                write!(f, "segment at {vaddr:#x} is writable and executable (W^X)")
            }
            LoadError::Wrpkru { file_offset } => write!(
                f,
                "executable segment contains WRPKRU (0F 01 EF) at file offset {file_offset:#x}"
            ),
            LoadError::NoLoadableSegments => f.write_str("no loadable segments"),
            LoadError::EntryOutsideCode { entry } => {
                write!(
                    f,
                    "entry point {entry:#x} is not inside an executable segment"
                )
            }
        }
    }
}

/// Rounds down to a page boundary.
fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds up to a page boundary; `None` on overflow.
fn page_up(addr: u64) -> Option<u64> {
    Some(addr.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// The bytes `[offset, offset + len)` of `image`, if inside it.
fn file_range(image: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    image.get(start..end)
}

/// [`plan_at`] with an `ET_DYN` image at [`PIE_LOAD_BIAS`].
pub fn plan(image: &[u8]) -> Result<LoadPlan, LoadError> {
    plan_at(image, PIE_LOAD_BIAS)
}

/// Checks `image` and computes how to load it, an `ET_DYN` image at
/// `dyn_bias` (page-aligned; an `ET_EXEC` image ignores it). Never panics.
pub fn plan_at(image: &[u8], dyn_bias: u64) -> Result<LoadPlan, LoadError> {
    plan_with(image, dyn_bias, WrpkruScan::Scan)
}

/// Whether [`plan_with`] scans the executable segments for WRPKRU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrpkruScan {
    /// Scan (what [`plan_at`] does).
    Scan,
    /// The caller planned these very bytes before and the scan found
    /// nothing (a kernel that knows the file's content is unchanged): every
    /// other check still runs.
    AlreadyClean,
}

/// [`plan_at`], with the WRPKRU scan left out when `scan` says these bytes
/// passed it before.
pub fn plan_with(image: &[u8], dyn_bias: u64, scan: WrpkruScan) -> Result<LoadPlan, LoadError> {
    let header = check_header(image)?;
    let phdrs = program_headers(image, &header)?;

    let interp = interpreter(image, &phdrs)?;
    let load_bias = match header.e_type {
        ET_EXEC => 0,
        ET_DYN => page_down(dyn_bias),
        _ => return Err(LoadError::NotExecutable),
    };
    let kind = match (header.e_type, &interp) {
        (_, Some(_)) => ElfKind::Dynamic,
        (ET_EXEC, None) => ElfKind::Static,
        _ => ElfKind::StaticPie,
    };

    let mut segments: Vec<Segment> = Vec::new();
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type != PT_LOAD {
            continue;
        }
        let segment = check_load(image, index, ph, load_bias)?;
        if segment.memsz == 0 {
            continue;
        }
        if segments.iter().any(|other| conflicts(other, &segment)) {
            return Err(LoadError::Overlap { index });
        }
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(LoadError::NoLoadableSegments);
    }
    let alone: Vec<bool> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            segments
                .iter()
                .enumerate()
                .all(|(j, o)| j == i || o.page_end() <= s.page_start() || o.page_start() >= s.page_end())
        })
        .collect();
    for (s, alone) in segments.iter_mut().zip(alone) {
        s.in_place = alone && !s.write && s.filesz == s.memsz;
    }

    if scan == WrpkruScan::Scan {
        scan_wrpkru(image, &segments)?;
    }

    let entry = header
        .e_entry
        .checked_add(load_bias)
        .ok_or(LoadError::EntryOutsideCode {
            entry: header.e_entry,
        })?;
    if !segments
        .iter()
        .any(|s| s.exec && s.vaddr <= entry && entry < s.end())
    {
        return Err(LoadError::EntryOutsideCode { entry });
    }

    let phdr_vaddr = phdr_address(&header, &phdrs, load_bias)?;
    let tls = tls_template(&phdrs, &segments, load_bias)?;
    let highest = segments.iter().map(Segment::end).max().unwrap_or(0);
    let end_of_data = page_up(highest).ok_or(LoadError::AddressOutOfRange { vaddr: highest })?;

    Ok(LoadPlan {
        kind,
        load_bias,
        interp,
        entry,
        segments,
        phdr_vaddr,
        phnum: header.e_phnum,
        phentsize: header.e_phentsize,
        tls,
        end_of_data,
    })
}

/// The span of memory `image`'s segments take, from the lowest page to the
/// end of the highest, unbiased: what a base for `ET_DYN` must leave free.
/// `None` if the image does not plan.
pub fn span(image: &[u8]) -> Option<(u64, u64)> {
    // Only the bounds: the caller plans the image for real afterwards, and
    // that plan scans for WRPKRU (a scan here would read every byte twice).
    let plan = plan_with(image, PIE_LOAD_BIAS, WrpkruScan::AlreadyClean).ok()?;
    let low = plan.segments.iter().map(Segment::page_start).min()?;
    Some((low.checked_sub(plan.load_bias)?, plan.end_of_data.checked_sub(plan.load_bias)?))
}

/// The path in the one `PT_INTERP`, if any, checked as Linux's
/// `load_elf_binary` does (inside the file, NUL-terminated, at most
/// `PATH_MAX`).
fn interpreter(image: &[u8], phdrs: &[ProgramHeader]) -> Result<Option<Vec<u8>>, LoadError> {
    let mut found = phdrs.iter().filter(|ph| ph.p_type == PT_INTERP);
    let Some(ph) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || ph.p_filesz < 2 || ph.p_filesz > INTERP_MAX {
        return Err(LoadError::BadInterpreter);
    }
    let bytes = file_range(image, ph.p_offset, ph.p_filesz).ok_or(LoadError::BadInterpreter)?;
    let (last, path) = bytes.split_last().ok_or(LoadError::BadInterpreter)?;
    if *last != 0 || path.contains(&0) {
        return Err(LoadError::BadInterpreter);
    }
    Ok(Some(path.to_vec()))
}

/// The identification bytes and the fixed header fields.
fn check_header(image: &[u8]) -> Result<Header, LoadError> {
    let magic_len = image.len().min(SELFMAG);
    if image.get(..magic_len) != ELFMAG.get(..magic_len) {
        return Err(LoadError::NotElf);
    }
    if image.len() < SIZEOF_EHDR {
        return Err(LoadError::TooShort);
    }
    if image.get(EI_CLASS) != Some(&ELFCLASS64) {
        return Err(LoadError::Not64Bit);
    }
    if image.get(EI_DATA) != Some(&ELFDATA2LSB) {
        return Err(LoadError::NotLittleEndian);
    }
    let header = Header::parse(image).map_err(|_| LoadError::TooShort)?;
    if header.e_machine != EM_X86_64 {
        return Err(LoadError::NotX86_64);
    }
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return Err(LoadError::NotExecutable);
    }
    Ok(header)
}

/// The program header table, checked to lie inside the file.
fn program_headers(image: &[u8], header: &Header) -> Result<Vec<ProgramHeader>, LoadError> {
    // PN_XNUM (0xffff) would move the count to section 0: not for
    // executables.
    if usize::from(header.e_phentsize) != SIZEOF_PHDR
        || header.e_phnum == 0
        || header.e_phnum == u16::MAX
    {
        return Err(LoadError::BadProgramHeaders);
    }
    let table_len = u64::from(header.e_phnum).saturating_mul(SIZEOF_PHDR as u64);
    if file_range(image, header.e_phoff, table_len).is_none() {
        return Err(LoadError::BadProgramHeaders);
    }
    let offset = usize::try_from(header.e_phoff).map_err(|_| LoadError::BadProgramHeaders)?;
    ProgramHeader::parse(image, offset, usize::from(header.e_phnum), Endian::Little)
        .map_err(|_| LoadError::BadProgramHeaders)
}

/// Checks one `PT_LOAD` on its own and returns it biased.
fn check_load(
    image: &[u8],
    index: usize,
    ph: &ProgramHeader,
    load_bias: u64,
) -> Result<Segment, LoadError> {
    if ph.p_filesz > ph.p_memsz {
        return Err(LoadError::BadProgramHeaders);
    }
    if file_range(image, ph.p_offset, ph.p_filesz).is_none() {
        return Err(LoadError::SegmentOutsideFile { index });
    }
    let align = ph.p_align;
    if align > 1 {
        if !align.is_power_of_two() {
            return Err(LoadError::BadAlignment { index });
        }
        let mask = align.saturating_sub(1);
        if ph.p_vaddr & mask != ph.p_offset & mask {
            return Err(LoadError::BadAlignment { index });
        }
    }
    if ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
        return Err(LoadError::BadAlignment { index });
    }
    let vaddr = ph
        .p_vaddr
        .checked_add(load_bias)
        .ok_or(LoadError::AddressOutOfRange { vaddr: ph.p_vaddr })?;
    let end = vaddr
        .checked_add(ph.p_memsz)
        .ok_or(LoadError::AddressOutOfRange { vaddr })?;
    if vaddr < USER_START || end > USER_END {
        return Err(LoadError::AddressOutOfRange { vaddr });
    }
    let (read, write, exec) = (
        ph.p_flags & PF_R != 0,
        ph.p_flags & PF_W != 0,
        ph.p_flags & PF_X != 0,
    );
    if write && exec {
        return Err(LoadError::WritableAndExecutable { vaddr });
    }
    Ok(Segment {
        vaddr,
        memsz: ph.p_memsz,
        file_offset: ph.p_offset,
        filesz: ph.p_filesz,
        read,
        write,
        exec,
        in_place: false,
    })
}

/// Whether two segments overlap in memory, or share a page with different
/// rights (the page could only get one set of rights).
fn conflicts(a: &Segment, b: &Segment) -> bool {
    let bytes_overlap = a.vaddr < b.end() && b.vaddr < a.end();
    let pages_overlap = a.page_start() < b.page_end() && b.page_start() < a.page_end();
    let same_rights = (a.read, a.write, a.exec) == (b.read, b.write, b.exec);
    bytes_overlap || (pages_overlap && !same_rights)
}

/// Scans the file bytes of every executable segment, and the junction of
/// two executable segments that touch in memory, for `wrpkru`.
fn scan_wrpkru(image: &[u8], segments: &[Segment]) -> Result<(), LoadError> {
    // What the mapping shows, clipped to the file (past it: zeros).
    let code = |s: &Segment| {
        let (offset, len) = s.mapped_file_range();
        let len = len.min((image.len() as u64).saturating_sub(offset));
        file_range(image, offset, len).unwrap_or(&[])
    };
    let code_offset = |s: &Segment| s.mapped_file_range().0;
    for s in segments.iter().filter(|s| s.exec) {
        if let Some(at) = pkru::scan::find_wrpkru(code(s)).next() {
            return Err(LoadError::Wrpkru {
                file_offset: code_offset(s).saturating_add(at as u64),
            });
        }
    }
    // In memory, a sequence could start in the last two bytes of one
    // segment and end in the next one when nothing (no .bss) separates them.
    for a in segments.iter().filter(|s| s.exec && s.filesz == s.memsz) {
        let a_end = a.mapped_start().saturating_add(a.mapped_file_range().1);
        for b in segments.iter().filter(|b| b.exec && b.mapped_start() == a_end) {
            let (a_code, b_code) = (code(a), code(b));
            let tail = a_code.get(a_code.len().saturating_sub(2)..).unwrap_or(&[]);
            let head = b_code.get(..b_code.len().min(2)).unwrap_or(&[]);
            let mut window: Vec<u8> = Vec::with_capacity(4);
            window.extend_from_slice(tail);
            window.extend_from_slice(head);
            if let Some(at) = pkru::scan::find_wrpkru(&window).next() {
                let back = tail.len().saturating_sub(at) as u64;
                return Err(LoadError::Wrpkru {
                    file_offset: code_offset(a).saturating_add(code(a).len() as u64).saturating_sub(back),
                });
            }
        }
    }
    Ok(())
}

/// `AT_PHDR`: where the program header table is in memory.
fn phdr_address(
    header: &Header,
    phdrs: &[ProgramHeader],
    load_bias: u64,
) -> Result<u64, LoadError> {
    if let Some(ph) = phdrs.iter().find(|ph| ph.p_type == PT_PHDR) {
        return ph
            .p_vaddr
            .checked_add(load_bias)
            .ok_or(LoadError::BadProgramHeaders);
    }
    let table_len = u64::from(header.e_phnum).saturating_mul(SIZEOF_PHDR as u64);
    let table_end = header.e_phoff.saturating_add(table_len);
    let holder = phdrs.iter().find(|ph| {
        ph.p_type == PT_LOAD
            && ph.p_offset <= header.e_phoff
            && table_end <= ph.p_offset.saturating_add(ph.p_filesz)
    });
    Ok(match holder {
        // Checked in `check_load`: vaddr + bias + filesz does not overflow.
        Some(ph) => ph
            .p_vaddr
            .saturating_add(load_bias)
            .saturating_add(header.e_phoff.saturating_sub(ph.p_offset)),
        None => 0,
    })
}

/// The `PT_TLS` template, checked to lie inside a loaded segment.
fn tls_template(
    phdrs: &[ProgramHeader],
    segments: &[Segment],
    load_bias: u64,
) -> Result<Option<Tls>, LoadError> {
    let Some(ph) = phdrs.iter().find(|ph| ph.p_type == PT_TLS) else {
        return Ok(None);
    };
    if ph.p_filesz > ph.p_memsz || (ph.p_align > 1 && !ph.p_align.is_power_of_two()) {
        return Err(LoadError::BadProgramHeaders);
    }
    let vaddr = ph
        .p_vaddr
        .checked_add(load_bias)
        .ok_or(LoadError::BadProgramHeaders)?;
    let image_end = vaddr
        .checked_add(ph.p_filesz)
        .ok_or(LoadError::BadProgramHeaders)?;
    if ph.p_filesz > 0
        && !segments
            .iter()
            .any(|s| s.vaddr <= vaddr && image_end <= s.end())
    {
        return Err(LoadError::BadProgramHeaders);
    }
    Ok(Some(Tls {
        vaddr,
        filesz: ph.p_filesz,
        memsz: ph.p_memsz,
        align: ph.p_align,
    }))
}

/// How much of a file `#!` parsing looks at (Linux's `BINPRM_BUF_SIZE`).
pub const SHEBANG_MAX: usize = 256;
/// Interpreters of interpreters followed before `ELOOP` (Linux allows 4
/// levels of `binfmt_script` and friends).
pub const MAX_INTERPRETER_DEPTH: usize = 4;

/// The `#!` line of a script: the interpreter's path and its one optional
/// argument, as Linux's `binfmt_script` splits them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    /// The interpreter's path (first word after `#!`).
    pub interpreter: Vec<u8>,
    /// Everything after it on the line, blanks trimmed at both ends, as one
    /// argument; `None` if nothing is there.
    pub argument: Option<Vec<u8>>,
}

impl Shebang {
    /// The interpreter's argv: itself, its argument, the script's path as
    /// `execve` got it, then the script's argv without argv[0].
    pub fn argv(&self, script: &[u8], argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(argv.len().saturating_add(2));
        out.push(self.interpreter.clone());
        out.extend(self.argument.iter().cloned());
        out.push(script.to_vec());
        out.extend(argv.iter().skip(1).cloned());
        out
    }
}

/// `None` if `image` does not start with `#!`; else its line parsed, or
/// `NotElf`-style refusal (`ENOEXEC`) when no interpreter is named, or the
/// line is longer than [`SHEBANG_MAX`] and would cut the interpreter's
/// path.
pub fn shebang(image: &[u8]) -> Option<Result<Shebang, LoadError>> {
    let rest = image.strip_prefix(b"#!")?;
    let buffer = image.get(..image.len().min(SHEBANG_MAX)).unwrap_or(image);
    let line_end = buffer.iter().position(|&b| b == b'\n');
    let line = match line_end {
        Some(end) => rest.get(..end.saturating_sub(2)).unwrap_or(&[]),
        None => buffer.get(2..).unwrap_or(&[]),
    };
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let line = trim(line, blank);
    let name_len = line.iter().position(|b| blank(b) || *b == 0).unwrap_or(line.len());
    let (interpreter, tail) = line.split_at(name_len);
    if interpreter.is_empty() || (line_end.is_none() && tail.is_empty() && image.len() > SHEBANG_MAX) {
        return Some(Err(LoadError::NotElf));
    }
    let tail = trim(tail, blank);
    let tail = tail.get(..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())).unwrap_or(tail);
    Some(Ok(Shebang {
        interpreter: interpreter.to_vec(),
        argument: (!tail.is_empty()).then(|| tail.to_vec()),
    }))
}

fn trim(bytes: &[u8], blank: impl Fn(&u8) -> bool) -> &[u8] {
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !blank(b)).map_or(start, |i| i.saturating_add(1));
    bytes.get(start..end).unwrap_or(&[])
}
