//! The console: formatted output to the serial port, the `log` backend, and
//! the `kprintln!` macro for lines without a log prefix (banner, test results).

use core::fmt::{self, Write};

use log::{LevelFilter, Log, Metadata, Record};
use spin::Mutex;

use crate::arch::serial;

/// Serializes whole lines so that output from different paths never interleaves.
static CONSOLE: Mutex<()> = Mutex::new(());

/// Whether the last byte on the console ended a line: the kernel's own lines
/// start on a fresh line even after a program's unterminated output.
static AT_LINE_START: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

struct SerialWriter;

impl Write for SerialWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                serial::write_byte(b'\r');
            }
            serial::write_byte(byte);
        }
        Ok(())
    }
}

/// Prints formatted text under the console lock, on a line of its own.
pub fn print(args: fmt::Arguments<'_>) {
    let _guard = CONSOLE.lock();
    if !AT_LINE_START.swap(true, core::sync::atomic::Ordering::Relaxed) {
        let _ = SerialWriter.write_str("\n");
    }
    let _ = SerialWriter.write_fmt(args);
}

/// Prints without taking the lock: for the panic and fault reporters, which may
/// run while the lock is held by the code that failed.
pub fn print_unlocked(args: fmt::Arguments<'_>) {
    let _ = SerialWriter.write_fmt(args);
}

/// `println!` for the kernel console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

struct Logger;

impl Log for Logger {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let target = record.target().strip_prefix("isola_kernel::").unwrap_or(record.target());
        print(format_args!("{:<5} {}: {}\n", record.level(), target, record.args()));
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Routes the `log` facade to the serial console.
pub fn init_logger() {
    // A second call (none is made) would only keep the first logger.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Writes a process's bytes to the console as a terminal does (ONLCR: "\n" becomes "\r\n").
pub fn write_bytes(data: &[u8]) {
    let _guard = CONSOLE.lock();
    for &byte in data {
        if byte == b'\n' {
            serial::write_byte(b'\r');
        }
        serial::write_byte(byte);
    }
    if let Some(&last) = data.last() {
        AT_LINE_START.store(last == b'\n', core::sync::atomic::Ordering::Relaxed);
    }
}
