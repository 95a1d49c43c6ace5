//! Processes: the record of each process (its domain key and PKRU, its
//! memory, files, signal bookkeeping), starting the first program, faults
//! from process code, and exit.

pub mod exec;
pub mod memory;

use alloc::boxed::Box;
use alloc::string::String;

use pkru::{KeyAllocator, Pkru};
use process::{FdTable, Pid, ResourceLimits, SignalState};
use spin::Mutex;

use crate::arch::{cpu, gate};
use crate::fs::FileRef;
use crate::isolation::{self, Level};
use crate::mm::KernelStack;
use memory::Memory;

/// Signal numbers the kernel sends itself.
pub const SIGSEGV: u32 = 11;
pub const SIGILL: u32 = 4;
pub const SIGFPE: u32 = 8;
pub const SIGBUS: u32 = 7;
pub const SIGTRAP: u32 = 5;

/// One process.
pub struct Process {
    pub pid: Pid,
    pub parent: Pid,
    /// The program's name (basename of its path), as `comm` on Linux.
    pub name: String,
    /// The path it was started from.
    pub exe: String,
    /// Its domain's PKRU: own key open, key 15 read-only, every other key closed.
    pub pkru: Pkru,
    pub memory: Memory,
    pub files: FdTable<FileRef>,
    pub cwd: vfs::InodeId,
    pub signals: SignalState,
    pub limits: ResourceLimits,
    pub umask: u32,
    pub clear_child_tid: u64,
    /// The robust futex list head (`set_robust_list`).
    pub robust_list: u64,
    pub fs_base: u64,
    /// The alternate signal stack (`stack_t` as the process gave it).
    pub sigaltstack: [u8; 24],
    pub kernel_stack: KernelStack,
}

/// The protection keys handed to domains (DESIGN.md "Key allocation").
pub static KEYS: Mutex<KeyAllocator> = Mutex::new(KeyAllocator::new());

/// The process running now (one at a time until fork exists).
static CURRENT: Mutex<Option<Box<Process>>> = Mutex::new(None);

/// Whether `--trace` asked for every syscall to be printed.
pub static TRACE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Runs `f` on the current process.
pub fn with_current<R>(f: impl FnOnce(&mut Process) -> R) -> Option<R> {
    CURRENT.lock().as_mut().map(|p| f(p))
}

/// Makes `process` current and runs it. Never returns.
pub fn run(process: Box<Process>, frame: pkru::gate::SyscallFrame) -> ! {
    let root = process.memory.space.root();
    let pkru = match isolation::level() {
        Level::Mpk => process.pkru,
        Level::None => Pkru::KERNEL,
    };
    let top = process.kernel_stack.top.as_u64();
    gate::set_fs_base(process.fs_base);
    *CURRENT.lock() = Some(process);
    gate::enter_process(root, pkru, top, &frame)
}

/// Ends the current process with a wait status (Linux encoding: exit code
/// << 8, or the signal number). The first process ending ends the VM with its
/// exit code, or 128 + signal.
pub fn exit_current(wait_status: u32) -> ! {
    cpu::disable_interrupts();
    let ended = CURRENT.lock().take();
    if let Some(mut process) = ended {
        process.memory.release();
        let key = process.memory.key;
        if let Err(error) = KEYS.lock().release(key) {
            log::warn!("releasing key {key:?} of pid {}: {error}", process.pid);
        }
    }
    let signal = wait_status & 0x7f;
    let status = if signal != 0 { 128 + signal } else { (wait_status >> 8) & 0xff };
    crate::shutdown(status as u8)
}

/// Kills the current process with `signal` after a fault, with a console line.
pub fn kill_current(signal: u32, why: core::fmt::Arguments<'_>) -> ! {
    let who = with_current(|p| (p.pid, p.name.clone())).unwrap_or((Pid::INIT, String::from("?")));
    crate::kprintln!("isola: pid {} ({}) killed by {}: {}", who.0, who.1, signal_name(signal), why);
    exit_current(signal)
}

/// The gate's abort: a process reached a gate with a state it forged.
pub fn gate_violation() -> ! {
    kill_current(SIGSEGV, format_args!("jumped into the PKRU gate with a forged PKRU (gate abort)"))
}

pub fn signal_name(signal: u32) -> &'static str {
    match signal {
        SIGSEGV => "SIGSEGV",
        SIGILL => "SIGILL",
        SIGFPE => "SIGFPE",
        SIGBUS => "SIGBUS",
        SIGTRAP => "SIGTRAP",
        9 => "SIGKILL",
        6 => "SIGABRT",
        _ => "a signal",
    }
}

/// A page fault in process code: grow the stack, or kill the process.
pub fn page_fault(addr: u64, error_code: u64, rip: u64) {
    let grown = with_current(|p| {
        error_code & 1 == 0 && addr < memory::USER_END && p.memory.grow_stack(addr)
    });
    if grown == Some(true) {
        return;
    }
    let access = if error_code & 16 != 0 {
        "execute"
    } else if error_code & 2 != 0 {
        "write"
    } else {
        "read"
    };
    let key = crate::arch::paging::translate_current(paging::VirtAddr::new(addr))
        .map(|t| alloc::format!("key {}", t.attrs.key.index()))
        .unwrap_or_else(|| String::from("unmapped"));
    let pk = if error_code & 32 != 0 { ", PK: protection-key violation" } else { "" };
    let own = with_current(|p| p.memory.key.index()).unwrap_or(0);
    kill_current(
        SIGSEGV,
        format_args!("{access} at {addr:#x} ({key}; the process has key {own}{pk}), rip {rip:#x}, error {error_code:#x}"),
    )
}
