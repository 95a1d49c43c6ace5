//! What happens on an exception or interrupt: the timer tick, recovered
//! breakpoints and probe faults, and the fatal-fault report (registers, #PF
//! error bits with PK named, the kernel stack guard page, a backtrace).

use core::sync::atomic::{AtomicU64, Ordering};

use pkru::gate::SyscallFrame;

use crate::arch::idt::{TrapFrame, TrapOrigin};
use crate::arch::{apic, cpu, probe};

/// Vector of the periodic timer.
pub const TIMER_VECTOR: u8 = 32;

const DEBUG: u64 = 1;
const BREAKPOINT: u64 = 3;
const PAGE_FAULT: u64 = 14;
/// RFLAGS.TF.
const TRAP_FLAG: u64 = 1 << 8;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// A device interrupt this soon after a poll waits for the next one (3 ms:
/// 1045-1050 req/s in `isola bench http`, against 880-952 with 1 ms).
const IRQ_GATHER_US: u64 = 3000;
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// Timer ticks since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Breakpoints (#BP) taken and resumed.
#[cfg(feature = "ktest")]
pub fn breakpoints() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// A trap that interrupted the kernel (from `arch::idt`, on the IST stack):
/// the tick, device interrupts, recovered breakpoints and probe faults, and
/// anything else is fatal.
pub fn kernel_trap(frame: &mut TrapFrame) {
    match frame.vector {
        v if v == u64::from(TIMER_VECTOR) => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            apic::end_of_interrupt();
        }
        v if v == u64::from(apic::SPURIOUS_VECTOR) => {}
        v if v == u64::from(crate::net::NET_VECTOR) => {
            crate::net::interrupt();
            apic::end_of_interrupt();
        }
        BREAKPOINT => {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        }
        // Single-stepping in the kernel: only a process can have set TF
        // (popfq, then a jump into a gate before the gate's own flags take
        // over). The kernel never single-steps: clear TF and go on; the
        // process gets its TF back with its own flags on the way out, and
        // its SIGTRAP then.
        DEBUG => frame.rflags &= !TRAP_FLAG,
        PAGE_FAULT => {
            if let Some(landing) = probe::fixup(frame.rip) {
                frame.rax = frame.error_code;
                frame.rdx = 1;
                frame.rip = landing;
                return;
            }
            fatal(frame);
        }
        _ => fatal(frame),
    }
}

/// A trap taken in process code (from `arch::idt`, on the process's kernel
/// stack, with its registers in `frame`): the tick, a device interrupt, or
/// a fault that the process either recovers from (stack growth, copy on
/// write) or dies of, with Linux's signal. No vector kills the kernel: a
/// software `int n` for a vector that means nothing to a process is a
/// SIGSEGV, as on Linux (where its gate's DPL 0 makes it a #GP).
pub fn process_trap(frame: &mut SyscallFrame, vector: u64, error_code: u64, origin: TrapOrigin) {
    use crate::proc::{self, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
    if let TrapOrigin::Software { rip } = origin
        && vector != BREAKPOINT
    {
        proc::kill_current(SIGSEGV, format_args!("software interrupt int {vector:#x} at rip {rip:#x} (no such gate for a process)"))
    }
    proc::with_current(|p| p.thread_mut().cpu.enter_kernel(crate::time::cpu_clock()));
    let (signal, what) = match vector {
        v if v == u64::from(TIMER_VECTOR) => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            apic::end_of_interrupt();
            if proc::sched::tick_should_preempt() || crate::net::poll_due() {
                proc::sched::yield_now();
            }
            crate::syscalls::return_to_user(frame);
            return;
        }
        v if v == u64::from(apic::SPURIOUS_VECTOR) => return,
        // Packets arrived: the scheduler polls the stack and runs whoever
        // they woke.
        v if v == u64::from(crate::net::NET_VECTOR) => {
            crate::net::interrupt();
            apic::end_of_interrupt();
            // Right after a poll, let the packets gather: the process's next
            // block or the next tick polls them all at once.
            if !crate::net::polled_within(IRQ_GATHER_US) {
                proc::sched::yield_now();
            }
            crate::syscalls::return_to_user(frame);
            return;
        }
        PAGE_FAULT => {
            // Out of memory: the OOM killer's victim runs its end, then the access is retried.
            if proc::page_fault(cpu::read_cr2(), error_code, frame.rip) {
                proc::sched::yield_now();
            }
            // A fault the process handles itself was queued: deliver it now.
            crate::syscalls::return_to_user(frame);
            return;
        }
        2 => return,
        0 => (SIGFPE, "divide error"),
        DEBUG | BREAKPOINT => (SIGTRAP, exception_name(vector)),
        6 => (SIGILL, "invalid opcode"),
        13 => (SIGSEGV, "general protection fault"),
        12 => (SIGBUS, "stack-segment fault"),
        16 | 19 => (SIGFPE, "floating-point exception"),
        17 => (SIGBUS, "alignment check"),
        // #DF, #MC and the reserved vectors: nothing a process can cause
        // but by `int n` (or a fault of the kernel's own delivery, which
        // the process's death contains): SIGSEGV.
        v if v < 32 => (SIGSEGV, exception_name(v)),
        _ => (SIGSEGV, "unexpected interrupt"),
    };
    proc::kill_current(signal, format_args!("{what} at rip {:#x}, error code {error_code:#x}", frame.rip))
}

/// Names of the exception vectors.
fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range exceeded",
        "invalid opcode", "device not available", "double fault", "coprocessor segment overrun",
        "invalid TSS", "segment not present", "stack-segment fault", "general protection fault",
        "page fault", "reserved", "x87 floating-point error", "alignment check", "machine check",
        "SIMD floating-point error", "virtualization exception", "control protection exception",
        "reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
        "hypervisor injection", "VMM communication", "security exception", "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("unexpected interrupt")
}

/// The #PF error code spelled out: `[present write supervisor PK]`.
pub struct PageFaultBits(pub u64);

impl core::fmt::Display for PageFaultBits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let code = self.0;
        f.write_str(if code & 1 != 0 { "protection-violation" } else { "not-present" })?;
        f.write_str(if code & 2 != 0 { " write" } else { " read" })?;
        f.write_str(if code & 4 != 0 { " user-mode" } else { " supervisor" })?;
        if code & 8 != 0 {
            f.write_str(" reserved-bit")?;
        }
        if code & 16 != 0 {
            f.write_str(" instruction-fetch")?;
        }
        if code & 32 != 0 {
            f.write_str(" PK(protection-key)")?;
        }
        if code & (1 << 15) != 0 {
            f.write_str(" SGX")?;
        }
        Ok(())
    }
}

/// Reports an unrecoverable trap and ends the VM with a failure.
fn fatal(frame: &TrapFrame) -> ! {
    cpu::disable_interrupts();
    let report = crate::panic::begin();
    let (symbol, offset) = crate::panic::symbolize(frame.rip);
    if frame.vector == PAGE_FAULT {
        let addr = cpu::read_cr2();
        if let Some(guard) = crate::mm::stack_guard_page(addr) {
            report.line(format_args!(
                "KERNEL PANIC: kernel stack overflow: access to {addr:#x} hit the guard page at {guard:#x} (rip {:#x} {symbol}+{offset:#x})",
                frame.rip
            ));
        } else {
            report.line(format_args!(
                "KERNEL PANIC: page fault at rip {:#x} {symbol}+{offset:#x}: address {addr:#x}, error {:#x} [{}]",
                frame.rip,
                frame.error_code,
                PageFaultBits(frame.error_code)
            ));
        }
        if let Some(pkru) = crate::arch::pkey::pkru() {
            report.line(format_args!("  pkru {pkru}"));
        }
    } else {
        report.line(format_args!(
            "KERNEL PANIC: {} (vector {}) at rip {:#x} {symbol}+{offset:#x}, error code {:#x}",
            exception_name(frame.vector),
            frame.vector,
            frame.rip,
            frame.error_code
        ));
    }
    report.line(format_args!(
        "  rax {:016x} rbx {:016x} rcx {:016x} rdx {:016x}",
        frame.rax, frame.rbx, frame.rcx, frame.rdx
    ));
    report.line(format_args!(
        "  rsi {:016x} rdi {:016x} rbp {:016x} rsp {:016x}",
        frame.rsi, frame.rdi, frame.rbp, frame.rsp
    ));
    report.line(format_args!(
        "  r8  {:016x} r9  {:016x} r10 {:016x} r11 {:016x}",
        frame.r8, frame.r9, frame.r10, frame.r11
    ));
    report.line(format_args!(
        "  r12 {:016x} r13 {:016x} r14 {:016x} r15 {:016x}",
        frame.r12, frame.r13, frame.r14, frame.r15
    ));
    report.line(format_args!("  rflags {:#x} cs {:#x} ss {:#x}", frame.rflags, frame.cs, frame.ss));
    report.backtrace(Some(frame.rip), frame.rbp);
    let overflow = frame.vector == PAGE_FAULT && crate::mm::stack_guard_page(cpu::read_cr2()).is_some();
    report.finish(overflow)
}
