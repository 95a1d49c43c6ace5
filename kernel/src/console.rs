//! The console: the serial line shared by four streams (a program's stdout
//! and stderr, the kernel's notices and its log), the `log` backend, and the
//! `kprintln!`/`knotice!` macros for lines without a log prefix.
//!
//! The streams are multiplexed on COM1 so that the host can give each its
//! own place (docs/cli.md, "Output"): `DLE c` (0x10 then one byte) switches
//! to stream `c` (`1` stdout, `2` stderr, `!` notices, `k` log) until the
//! next switch, and a DLE in the data is sent twice. The line starts on the
//! log stream, so what is printed before any switch (and any guest that
//! knows nothing of this) reads as kernel log. A notice is what a user must
//! see without asking: a process killed by a fault or the OOM killer, a
//! refusal (WRPKRU, W^X, an exec that fails), a warning, a panic, and the
//! `--trace`/`ps` lines the user asked for; the log (banner, info lines,
//! the exit status) is for `--verbose`.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};
use spin::Mutex;

use crate::arch::serial;

/// The byte that starts a stream switch (ASCII DLE, "data link escape").
pub const ESCAPE: u8 = 0x10;

/// One of the streams on the serial line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// What a program writes to its standard output.
    Stdout,
    /// What a program writes to its standard error.
    Stderr,
    /// Kernel lines a user needs to see.
    Notice,
    /// Every other kernel line.
    Log,
}

impl Stream {
    /// The byte after [`ESCAPE`] that selects this stream.
    pub const fn tag(self) -> u8 {
        match self {
            Stream::Stdout => b'1',
            Stream::Stderr => b'2',
            Stream::Notice => b'!',
            Stream::Log => b'k',
        }
    }
}

/// Where a process's console descriptor writes: its open file says which,
/// so a `dup2(2, 1)` carries stderr along as it does on Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

impl Output {
    fn stream(self) -> Stream {
        match self {
            Output::Stdout => Stream::Stdout,
            Output::Stderr => Stream::Stderr,
        }
    }
}

/// Serializes whole writes so that output from different paths never interleaves.
static CONSOLE: Mutex<()> = Mutex::new(());

/// The stream the host is reading now (the tag of the last switch sent).
static CURRENT: AtomicU8 = AtomicU8::new(Stream::Log.tag());

/// Switches the line to `stream` if it is not on it already; `force` sends
/// the switch anyway (the fault reporter may have cut into another write).
fn select(stream: Stream, force: bool) {
    let tag = stream.tag();
    if CURRENT.swap(tag, Ordering::Relaxed) != tag || force {
        serial::write_byte(ESCAPE);
        serial::write_byte(tag);
    }
}

/// One byte of a stream as a terminal gets it (ONLCR: "\n" becomes "\r\n"),
/// an escape byte doubled.
fn put(byte: u8) {
    match byte {
        b'\n' => serial::write_byte(b'\r'),
        ESCAPE => serial::write_byte(ESCAPE),
        _ => {}
    }
    serial::write_byte(byte);
}

struct SerialWriter;

impl Write for SerialWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        text.bytes().for_each(put);
        Ok(())
    }
}

fn print_on(stream: Stream, args: fmt::Arguments<'_>) {
    let _guard = CONSOLE.lock();
    select(stream, false);
    let _ = SerialWriter.write_fmt(args);
}

/// Prints formatted text on the log stream, under the console lock.
pub fn print(args: fmt::Arguments<'_>) {
    print_on(Stream::Log, args);
}

/// Prints formatted text on the notice stream, under the console lock.
pub fn notice(args: fmt::Arguments<'_>) {
    print_on(Stream::Notice, args);
}

/// Prints a notice without taking the lock: for the panic and fault
/// reporters, which may run while the lock is held by the code that failed.
pub fn print_unlocked(args: fmt::Arguments<'_>) {
    select(Stream::Notice, true);
    let _ = SerialWriter.write_fmt(args);
}

/// `println!` for the kernel log (shown by `isola run --verbose`).
#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `println!` for a kernel notice (always shown, on isola's stderr).
#[macro_export]
macro_rules! knotice {
    ($($arg:tt)*) => { $crate::console::notice(format_args!("{}\n", format_args!($($arg)*))) };
}

struct Logger;

impl Log for Logger {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }

    /// Warnings and errors are notices; info and below are the log.
    fn log(&self, record: &Record<'_>) {
        let target = record.target().strip_prefix("isola_kernel::").unwrap_or(record.target());
        let stream = if record.level() <= Level::Warn { Stream::Notice } else { Stream::Log };
        print_on(stream, format_args!("{:<5} {}: {}\n", record.level(), target, record.args()));
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

/// Writes a process's bytes to its console stream.
pub fn write_bytes(output: Output, data: &[u8]) {
    let _guard = CONSOLE.lock();
    select(output.stream(), false);
    data.iter().copied().for_each(put);
}
