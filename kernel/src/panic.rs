//! Panics and fatal faults: a readable report (message, location, registers,
//! a symbolized frame-pointer backtrace) and a failing exit from QEMU. A panic
//! inside the report ends the VM at once instead of looping.

use core::fmt;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{backtrace, cpu, exit, section};
use crate::console::print_unlocked;

/// QEMU exit value for a failed test run or a kernel panic (QEMU exits 35).
pub const EXIT_FAILURE: u32 = 0x11;
/// QEMU exit value for a passed test run (QEMU exits 33).
pub const EXIT_SUCCESS: u32 = 0x10;

static REPORTING: AtomicBool = AtomicBool::new(false);

/// A fatal report in progress.
pub struct Report(());

/// Starts a fatal report; a second one (a fault inside the reporter) ends the VM.
pub fn begin() -> Report {
    if REPORTING.swap(true, Ordering::SeqCst) {
        print_unlocked(format_args!("\nKERNEL PANIC: fault while reporting a fault; stopping\n"));
        exit::qemu_exit(EXIT_FAILURE);
    }
    Report(())
}

/// The symbol containing `addr` and the offset into it, from `.ksyms`.
pub fn symbolize(addr: u64) -> (&'static str, u64) {
    match ksyms::lookup(section::ksyms(), addr) {
        Some(symbol) => (symbol.name, symbol.offset),
        None => ("?", 0),
    }
}

impl Report {
    pub fn line(&self, args: fmt::Arguments<'_>) {
        print_unlocked(format_args!("{args}\n"));
    }

    /// Prints `first` (the faulting RIP, if any) and the return addresses from `rbp` up.
    pub fn backtrace(&self, first: Option<u64>, rbp: u64) {
        self.line(format_args!("  backtrace:"));
        let mut index = 0;
        let mut previous = 0;
        let mut repeats = 0;
        let mut frame = |addr: u64, call_site: u64| {
            // Deep recursion (a stack overflow) prints one line, not a screenful.
            if addr == previous {
                repeats += 1;
                return;
            }
            if repeats > 0 {
                self.line(format_args!("        ... the frame above repeated {repeats} more times"));
                repeats = 0;
            }
            previous = addr;
            let (name, offset) = symbolize(call_site);
            self.line(format_args!("    #{index:<2} {addr:#018x} {name}+{offset:#x}"));
            index += 1;
        };
        if let Some(rip) = first {
            frame(rip, rip);
        }
        // A return address points after the call; look up the call itself.
        backtrace::walk(rbp, |ret| frame(ret, ret - 1));
        if repeats > 0 {
            self.line(format_args!("        ... the frame above repeated {repeats} more times (trace cut at {} frames)", backtrace::MAX_FRAMES));
        }
    }

    /// Ends the VM. `expected_overflow` is the guard-page hit the
    /// stack-overflow test kernel provokes on purpose.
    pub fn finish(self, expected_overflow: bool) -> ! {
        if cfg!(feature = "ktest-stack-overflow") && expected_overflow {
            print_unlocked(format_args!("test kernel_stack_overflow_hits_guard_page ... ok\n1 passed, 0 failed\n"));
            exit::qemu_exit(EXIT_SUCCESS);
        }
        exit::qemu_exit(EXIT_FAILURE)
    }
}

#[panic_handler]
fn on_panic(info: &PanicInfo<'_>) -> ! {
    cpu::disable_interrupts();
    let report = begin();
    match info.location() {
        Some(location) => report.line(format_args!(
            "KERNEL PANIC: {} at {}:{}:{}",
            info.message(),
            location.file(),
            location.line(),
            location.column()
        )),
        None => report.line(format_args!("KERNEL PANIC: {}", info.message())),
    }
    report.backtrace(None, cpu::frame_pointer());
    report.finish(false)
}
