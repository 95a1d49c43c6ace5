//! The control channel: `isola ps` and `isola kill` against a running VM,
//! over the second serial port (COM2), which the host serves on a Unix
//! socket. Enabled by the `control` kernel argument; polled once per timer
//! tick from the scheduler (the port has no interrupt wired), so a request
//! is answered within a tick of arriving even when every process sleeps.
//! The line protocol is `process::control`'s.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use process::Pid;
use process::control::{LineBuffer, Pushed, Request, error_line};
use spin::Mutex;

use crate::arch::serial;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The tick of the last poll: at most one poll per tick.
static POLLED_AT: AtomicU64 = AtomicU64::new(u64::MAX);
static LINE: Mutex<LineBuffer> = Mutex::new(LineBuffer::new());

/// Programs COM2 and starts answering on it.
pub fn enable() {
    serial::control_init();
    ENABLED.store(true, Ordering::Relaxed);
}

/// Reads what the host sent since the last tick and answers each request.
/// Called by the scheduler with no lock held.
pub fn poll() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let tick = crate::trap::ticks();
    if POLLED_AT.swap(tick, Ordering::Relaxed) == tick {
        return;
    }
    while let Some(byte) = serial::control_try_read_byte() {
        let request = match LINE.lock().push(byte) {
            Pushed::Nothing => continue,
            Pushed::Line(line) => Request::parse(line),
            Pushed::Bad(why) => Err(why),
        };
        match request {
            Ok(request) => answer(request),
            Err(why) => reply(format_args!("{}", error_line("EINVAL", why.text()))),
        }
    }
}

fn answer(request: Request) {
    match request {
        Request::Ps => {
            crate::proc::sched::listing(true, &mut |line| reply(line));
            reply(format_args!("{}", process::control::OK));
        }
        Request::Kill { signal, pid } => {
            let target = Pid::new(pid);
            let alive = crate::proc::PROCS.lock().get(&pid).is_some_and(|p| !p.is_zombie());
            if !alive {
                reply(format_args!("{}", error_line("ESRCH", "no such process")));
                return;
            }
            if signal != 0 {
                // From outside every process: the kernel's own sender.
                crate::proc::signal::send(target, signal, syscall::SigInfo::kill(signal as i32, 0, 0));
            }
            reply(format_args!("{}", process::control::OK));
        }
    }
}

/// One answer line, `\n`-terminated. Once the port stays busy, the rest
/// of the line is dropped (the host's reader then times out).
fn reply(line: core::fmt::Arguments<'_>) {
    struct Port;
    impl core::fmt::Write for Port {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            match s.bytes().all(serial::control_write_byte) {
                true => Ok(()),
                false => Err(core::fmt::Error),
            }
        }
    }
    let _ = writeln!(Port, "{line}");
}
