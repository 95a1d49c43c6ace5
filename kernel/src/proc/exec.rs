//! Loading a program: the ELF plan from the `loader` crate (checks, W^X, the
//! WRPKRU scan of every executable segment), a new address space and domain
//! key, the segments, the stack with argv, envp and auxv, and the first
//! register state.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use paging::PAGE_SIZE;
use pkru::{Key, KeySet, Pkru};
use pkru::gate::SyscallFrame;
use process::{FdTable, Pid, ResourceLimits, SignalState};
use syscall::Errno;

use super::Process;
use super::memory::{FileBacking, Memory, Prot, RegionKind, STACK_TOP};
use crate::arch::paging::AddressSpace;
use crate::fs::{self, FileKind};
use crate::mm::pagecache;

/// Pages of each process's kernel stack.
pub const KERNEL_STACK_PAGES: u64 = 6;

/// Why a program could not be started.
pub struct ExecError {
    pub errno: Errno,
    pub reason: String,
}

impl ExecError {
    fn new(errno: Errno, reason: impl Into<String>) -> ExecError {
        ExecError { errno, reason: reason.into() }
    }
}

/// argv as /proc/PID/cmdline shows it: each argument followed by a NUL.
fn join_argv(argv: &[Vec<u8>]) -> Vec<u8> {
    argv.iter().flat_map(|a| a.iter().copied().chain(core::iter::once(0))).collect()
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A loaded program image: its memory, the registers it starts with, and
/// what `/proc/PID/{exe,cmdline}` show (for a script: its interpreter, and
/// the argv the interpreter got).
pub struct Image {
    pub memory: Memory,
    pub frame: SyscallFrame,
    pub exe: super::Exe,
    pub argv: Vec<Vec<u8>>,
    /// `arg_start`, `arg_end`, `env_end` of the new stack.
    pub args_area: (u64, u64, u64),
}

/// Bits of page-granular randomness in the bases of a PIE, of the dynamic
/// linker and of the mmap area (Linux's `mmap_rnd_bits` default on x86-64).
const ASLR_BITS: u32 = 28;

/// A random page-aligned offset below `PAGE_SIZE << ASLR_BITS`.
fn aslr_offset() -> u64 {
    let mut bytes = [0u8; 8];
    crate::random::fill(&mut bytes);
    (u64::from_le_bytes(bytes) & ((1 << ASLR_BITS) - 1)) * PAGE_SIZE
}

/// The bytes of the executable file at `path`, checked to be a regular file
/// with an x bit.
fn read_executable(cwd: vfs::InodeId, path: &[u8]) -> Result<fs::WholeFile, ExecError> {
    let (id, executable) = fs::with(|fs| fs.lookup(cwd, path, true).and_then(|id| fs.metadata(id).map(|meta| (id, meta))))
        .map_err(|e| ExecError::new(e, e.message()))?;
    if executable.kind != vfs::NodeKind::File || executable.mode & 0o111 == 0 {
        return Err(ExecError::new(Errno::EACCES, "not an executable file (no x permission, or not a regular file)"));
    }
    fs::with(|fs| fs.check_access(executable.ino, vfs::MAY_EXEC))
        .map_err(|e| ExecError::new(e, "no execute permission for this user"))?;
    // The file checked is the file read: no second walk of the path.
    fs::read_whole_inode(id).map_err(|e| ExecError::new(e, e.message()))
}

/// The loader's plan of a program image at `bias`, its WRPKRU scan done
/// once per file content (`pagecache::image_scan`).
fn plan_image(image: &fs::WholeFile, bias: u64) -> Result<loader::LoadPlan, loader::LoadError> {
    let scan = crate::mm::pagecache::image_scan(image.id, image.generation);
    let plan = loader::plan_with(&image.bytes, bias, scan)?;
    if scan == loader::WrpkruScan::Scan {
        crate::mm::pagecache::image_scanned_clean(image.id, image.generation);
    }
    Ok(plan)
}

/// Loads the program at `path` (resolved from `cwd`) into a new address
/// space whose pages carry `key`, with `argv`, `envp` and the auxv on its
/// stack. A `#!` script runs its interpreter (up to
/// [`loader::MAX_INTERPRETER_DEPTH`] levels, then ELOOP), a dynamically
/// linked program its `PT_INTERP`.
pub fn load(
    cwd: vfs::InodeId,
    path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    key: Key,
    limits: &ResourceLimits,
    creds: &::process::Credentials,
) -> Result<Image, ExecError> {
    let mut exe = String::from(path);
    let mut argv = argv.to_vec();
    for _ in 0..=loader::MAX_INTERPRETER_DEPTH {
        let image = read_executable(cwd, exe.as_bytes())?;
        match loader::shebang(&image.bytes) {
            None => return load_elf(cwd, exe, path, argv, envp, key, limits, creds, &image),
            Some(Err(_)) => return Err(ExecError::new(Errno::ENOEXEC, "a #! line that names no interpreter")),
            Some(Ok(line)) => {
                argv = line.argv(exe.as_bytes(), &argv);
                exe = String::from_utf8(line.interpreter)
                    .map_err(|_| ExecError::new(Errno::ENOENT, "the #! interpreter's path is not UTF-8"))?;
            }
        }
    }
    Err(ExecError::new(Errno::ELOOP, "too many levels of #! interpreters"))
}

/// The dynamic linker named by a program: read and planned at a free,
/// randomized base of `memory`'s mmap area. Every failure is ELIBBAD as on
/// Linux, except a missing file (ENOENT), each with the path named.
fn plan_interpreter(cwd: vfs::InodeId, memory: &mut Memory, path: &[u8]) -> Result<(loader::LoadPlan, fs::WholeFile), ExecError> {
    let name = String::from_utf8_lossy(path);
    let image = read_executable(cwd, path).map_err(|e| {
        let errno = if e.errno == Errno::ENOENT { Errno::ENOENT } else { Errno::ELIBBAD };
        ExecError::new(errno, alloc::format!("interpreter {name}: {}", e.reason))
    })?;
    let bad = |reason: &dyn core::fmt::Display| ExecError::new(Errno::ELIBBAD, alloc::format!("interpreter {name}: {reason}"));
    let (low, high) = match loader::span(&image.bytes) {
        Some(span) => span,
        None => return Err(bad(&loader::plan_at(&image.bytes, loader::PIE_LOAD_BIAS).err().map_or(String::from("unusable"), |e| alloc::format!("{e}")))),
    };
    let base = memory.find_free(high - low).map_err(|_| bad(&"no room in the address space"))?;
    let plan = plan_image(&image, base - low).map_err(|e| bad(&e))?;
    if plan.interp.is_some() {
        return Err(bad(&"has an interpreter of its own"));
    }
    // ld.so relocates itself; a fixed-address interpreter could only land
    // on the program's own pages.
    if plan.kind != loader::ElfKind::StaticPie {
        return Err(bad(&"not position-independent (ET_EXEC)"));
    }
    Ok((plan, image))
}

#[allow(clippy::too_many_arguments)]
fn load_elf(
    cwd: vfs::InodeId,
    exe: String,
    execfn: &str,
    argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
    key: Key,
    limits: &ResourceLimits,
    creds: &::process::Credentials,
    image: &fs::WholeFile,
) -> Result<Image, ExecError> {
    let plan = plan_image(image, loader::PIE_LOAD_BIAS + aslr_offset())
        .map_err(|e| ExecError::new(e.errno(), alloc::format!("{e}")))?;
    let space = crate::mm::with_kernel_space(|kernel| AddressSpace::new_user(kernel))
        .map_err(|_| ExecError::new(Errno::ENOMEM, "no memory for page tables"))?;
    let mut memory = Memory::new(space, key);
    memory.as_limit = limits.get(syscall::Resource::As).rlim_cur;
    memory.randomize_mmap_base(aslr_offset());
    let loaded = load_segments(&mut memory, &plan, image)
        .and_then(|()| memory.map_stack())
        .map_err(|e| ExecError::new(e, "not enough memory for the program"));
    let stack = loaded.and_then(|()| {
        memory.brk_start = plan.end_of_data;
        memory.brk = plan.end_of_data;
        let (entry, base) = match &plan.interp {
            None => (plan.entry, 0),
            Some(path) => {
                let (interp, interp_image) = plan_interpreter(cwd, &mut memory, path)?;
                load_segments(&mut memory, &interp, &interp_image)
                    .map_err(|e| ExecError::new(e, "not enough memory for the interpreter"))?;
                (interp.entry, interp.load_bias)
            }
        };
        let vdso = super::vdso::map_into(&mut memory).map_err(|e| ExecError::new(e, "no room for the vDSO"))?;
        let mut random = [0u8; 16];
        crate::random::fill(&mut random);
        // AT_SYSINFO_EHDR first, where Linux's ARCH_DLINFO puts it.
        let vdso_entry = vdso.map(|base| (syscall::AT_SYSINFO_EHDR, base));
        let auxv: Vec<(u64, u64)> = vdso_entry.into_iter().chain([
            (syscall::AT_PHDR, plan.phdr_vaddr),
            (syscall::AT_PHENT, u64::from(plan.phentsize)),
            (syscall::AT_PHNUM, u64::from(plan.phnum)),
            (syscall::AT_PAGESZ, PAGE_SIZE),
            (syscall::AT_BASE, base),
            (syscall::AT_FLAGS, 0),
            (syscall::AT_ENTRY, plan.entry),
            (syscall::AT_UID, u64::from(creds.ruid)),
            (syscall::AT_EUID, u64::from(creds.euid)),
            (syscall::AT_GID, u64::from(creds.rgid)),
            (syscall::AT_EGID, u64::from(creds.egid)),
            // Linux's commoncap: secure mode when the effective ids differ
            // from the real ones (no set-id files here, so never gained by exec).
            (syscall::AT_SECURE, u64::from(creds.ruid != creds.euid || creds.rgid != creds.egid)),
            (syscall::AT_CLKTCK, crate::time::TIMER_HZ),
            (syscall::AT_HWCAP, crate::cpu_features::hwcap()),
            (syscall::AT_HWCAP2, 0),
            (syscall::AT_MINSIGSTKSZ, 2048),
        ]).collect();
        let argv_refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let envp_refs: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
        let stack = process::build_initial_stack(STACK_TOP, &argv_refs, &envp_refs, &auxv, random, execfn.as_bytes())
            .map_err(|_| ExecError::new(Errno::E2BIG, "arguments and environment too large"))?;
        memory.write(stack.sp, &stack.bytes).map_err(|e| ExecError::new(e, "cannot write the initial stack"))?;
        Ok((stack.sp, entry, (stack.arg_start, stack.arg_end, stack.env_end)))
    });
    match stack {
        Ok((sp, entry, args_area)) => {
            let frame = SyscallFrame { rip: entry, rcx: entry, rsp: sp, rflags: 0x202, r11: 0x202, ..Default::default() };
            // /proc/PID/exe names the file itself, symlinks resolved, as Linux's.
            let exe = super::Exe { id: image.id, given: exe };
            Ok(Image { memory, frame, exe, argv, args_area })
        }
        Err(error) => {
            memory.release();
            memory.space.free_root();
            Err(error)
        }
    }
}

/// Builds the first process (pid 1) from the program at `path`.
pub fn load_first(path: &str, argv: &[Vec<u8>], envp: &[Vec<u8>]) -> Result<Box<Process>, ExecError> {
    let key = super::KEYS.lock().allocate(KeySet::EMPTY).map_err(|_| ExecError::new(Errno::EAGAIN, "no protection key left"))?;
    let limits = ResourceLimits::for_memory(crate::mm::total_bytes());
    let image = load(vfs::ROOT, path, argv, envp, key, &limits, &::process::Credentials::ROOT).inspect_err(|_| {
        let _ = super::KEYS.lock().release(key);
    })?;
    let kernel_stack = crate::mm::allocate_stack(KERNEL_STACK_PAGES)
        .map_err(|_| ExecError::new(Errno::ENOMEM, "no memory for a kernel stack"))?;
    let mut files = FdTable::new();
    // Three open files, as a shell's redirections would make them: what is
    // written to fd 2 (or a dup of it) comes out on the host's stderr.
    for fd in 0..3 {
        let flags = if fd == 0 { 0 } else { 1 };
        let output = if fd == 2 { crate::console::Output::Stderr } else { crate::console::Output::Stdout };
        files.insert(fs::open_file(FileKind::Console(output), flags), false).map_err(|e| ExecError::new(e, "fd table"))?;
    }
    let thread = super::Thread::new(Pid::INIT, kernel_stack, &image.frame, crate::arch::context::FpuState::new());
    super::with_table(|t| t.insert(Pid::INIT, Pid::new(0), 1, 1));
    Ok(Box::new(Process {
        pid: Pid::INIT,
        name: String::from(basename(path)),
        cmdline: join_argv(&image.argv),
        args_area: image.args_area,
        exe: image.exe,
        pkru: Pkru::for_process(key, KeySet::EMPTY),
        memory: image.memory,
        files,
        cwd: vfs::ROOT,
        signals: SignalState::new(),
        limits,
        umask: 0o022,
        groups: alloc::vec::Vec::new(),
        identity_generation: 0,
        creds: ::process::Credentials::ROOT,
        cpu: ::process::CpuClock::new(),
        children_usage: ::process::Rusage::default(),
        maxrss_before_exec_kib: 0,
        threads: alloc::vec![thread],
        exit_status: None,
        vfork_parent: None,
        alarm_at: None,
        alarm_interval: 0,
    }))
}

/// execve: replaces the current image of `p` (same pid and parent; same key,
/// or a key of its own for a vfork child, whose borrowed memory is returned
/// for its parent), closes close-on-exec descriptors, resets caught signals,
/// and points `frame` at the new entry. On failure the old image is untouched.
pub fn execve(
    p: &mut Process,
    frame: &mut SyscallFrame,
    path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<Option<(Pid, Memory)>, ExecError> {
    let resolved = if crate::procfs::is_proc(path.as_bytes()) {
        match crate::procfs::lookup(p, path.as_bytes()) {
            Ok(crate::procfs::ProcNode::Link(target)) => String::from_utf8(target).map_err(|_| ExecError::new(Errno::ENOENT, "bad link"))?,
            _ => return Err(ExecError::new(Errno::EACCES, "not an executable file")),
        }
    } else {
        String::from(path)
    };
    let borrowed = p.vfork_parent.is_some();
    let key = if borrowed {
        super::KEYS.lock().allocate(KeySet::EMPTY).map_err(|_| ExecError::new(Errno::EAGAIN, "no protection key left"))?
    } else {
        p.memory.key
    };
    let image = load(p.cwd, &resolved, argv, envp, key, &p.limits, &p.creds).inspect_err(|_| {
        if borrowed {
            let _ = super::KEYS.lock().release(key);
        }
    })?;
    // The other threads end (their clear-child-tid words and robust lists
    // are in the old memory), and the caller's robust list and PI locks go
    // as at exit (Linux's futex_exec_release); the caller goes on as the
    // only thread, with the process's pid as its tid.
    let caller = super::sched::current_tid();
    super::thread::end_other_threads(p, true);
    super::futex::thread_exited(p, caller);
    p.thread_mut().clear_child_tid = 0;
    let mut old = core::mem::replace(&mut p.memory, image.memory);
    if !borrowed {
        p.maxrss_before_exec_kib = p.maxrss_before_exec_kib.max(old.peak_frames.saturating_mul(4));
    }
    p.memory.space.activate_user();
    let give_back = match p.vfork_parent.take() {
        Some(parent) => {
            p.pkru = Pkru::for_process(key, KeySet::EMPTY);
            crate::arch::gate::set_process(p.thread().kernel_stack.top.as_u64(), super::sched::effective_pkru(p));
            Some((parent, old))
        }
        None => {
            old.release();
            old.space.free_root();
            None
        }
    };
    for file in p.files.close_on_exec() {
        crate::locks::descriptor_closed(p.pid.as_u32(), &file);
    }
    p.signals.reset_for_exec();
    let before = p.creds;
    p.creds.exec();
    if p.creds != before {
        p.identity_generation = fs::new_identity_generation();
        super::sync_priority_ids(p);
    }
    let thread = p.thread_mut();
    thread.sigaltstack = [0; 24];
    thread.fs_base = 0;
    thread.comm = None;
    crate::arch::gate::set_fs_base(0);
    thread.fpu = crate::arch::context::FpuState::new();
    thread.fpu.restore();
    p.name = String::from(basename(&resolved));
    p.cmdline = join_argv(&image.argv);
    p.args_area = image.args_area;
    p.exe = image.exe;
    *frame = image.frame;
    Ok(give_back)
}

/// Maps every PT_LOAD segment with its own rights. A page that holds only
/// file bytes of one segment is the page cache's frame of that file page,
/// shared by every process running the program and faulted in on first
/// touch (the loader has checked the executable segments for WRPKRU
/// already); the others (a segment's first
/// and last pages, where bss or another segment begins) get their own
/// frames with the bytes copied. An image larger than memory (or than
/// RLIMIT_AS) fails at once with ENOMEM.
fn load_segments(memory: &mut Memory, plan: &loader::LoadPlan, image: &fs::WholeFile) -> Result<(), Errno> {
    let pages = plan.segments.iter().fold(0u64, |sum, segment| {
        let start = segment.vaddr & !(PAGE_SIZE - 1);
        let end = segment.vaddr.saturating_add(segment.memsz).next_multiple_of(PAGE_SIZE);
        sum.saturating_add((end - start) / PAGE_SIZE)
    });
    if pages > crate::mm::frame::user_available() as u64 || pages.saturating_mul(PAGE_SIZE) > memory.as_limit {
        return Err(Errno::ENOMEM);
    }
    for segment in &plan.segments {
        let start = segment.vaddr & !(PAGE_SIZE - 1);
        let end = (segment.vaddr + segment.memsz).next_multiple_of(PAGE_SIZE);
        let prot = Prot { read: segment.read, write: segment.write, exec: segment.exec };
        // Segments that share a page (data and bss of glibc's static binaries)
        // have equal rights (the loader checks): map only what is new.
        let file = image
            .bytes
            .get(segment.file_offset as usize..(segment.file_offset + segment.filesz) as usize)
            .ok_or(Errno::ENOEXEC)?;
        // The whole pages of file bytes, unless another segment is there; a
        // segment in place (read-only, its pages its own) shows its first
        // and last page from the file too, as Linux maps them, instead of
        // copies (the loader scanned what that makes executable).
        let (shared_start, shared_end) = if segment.in_place {
            (start, end)
        } else {
            let whole_start = segment.vaddr.next_multiple_of(PAGE_SIZE);
            (whole_start, ((segment.vaddr + segment.filesz) & !(PAGE_SIZE - 1)).max(whole_start))
        };
        let shared = shared_end > shared_start && !memory.overlaps(shared_start, shared_end);
        if shared {
            let offset = if segment.in_place {
                segment.mapped_file_range().0
            } else {
                segment.file_offset + (shared_start - segment.vaddr)
            };
            let len = shared_end - shared_start;
            let code = pagecache::CodeRange { offset, len };
            if prot.exec {
                // The loader has checked the image (once per content): the
                // range is recorded as checked, for its pages to be faulted in.
                pagecache::exec_frames(image.id, image.generation, &image.bytes, code, 0, 0, |_| None)
                    .map_err(|refused| refused.err().unwrap_or(Errno::ENOEXEC))?;
            }
            let file = FileBacking { id: image.id, offset, code: prot.exec.then_some(code) };
            memory.map_file(shared_start, shared_end, prot, RegionKind::Image, file)?;
        }
        memory.map_fresh_gaps(start, end, prot, RegionKind::Image)?;
        match (shared, segment.in_place) {
            // Every page is the file's.
            (true, true) => {}
            (true, false) => {
                // The partial pages' bytes, around the shared ones.
                let head = (shared_start - segment.vaddr) as usize;
                memory.fill(segment.vaddr, &file[..head])?;
                memory.fill(shared_end, &file[(shared_end - segment.vaddr) as usize..])?;
            }
            (false, _) => memory.fill(segment.vaddr, file)?,
        }
        // The pages that hold file bytes are the file's, copies or not
        // (named so only once filled: a page of a file region that is not
        // mapped yet is faulted in from the file).
        let file_end = (segment.vaddr + segment.filesz).next_multiple_of(PAGE_SIZE);
        if segment.filesz > 0 {
            let offset = segment.file_offset & !(PAGE_SIZE - 1);
            memory.set_backing(start, file_end, FileBacking::new(image.id, offset));
        }
    }
    Ok(())
}
