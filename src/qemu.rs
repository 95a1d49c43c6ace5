//! Booting an image in QEMU: the command line, the host-side timeout, and
//! reading the console as it comes: its streams ([`crate::console::Demux`])
//! copied to isola's stdout and stderr as [`Echo`] says, the kernel's lines
//! kept for the verdict.
//!
//! Every run follows STYLE.md rule 12: a timeout (for `isola run` only when
//! asked: a server runs until it is stopped), QEMU killed on drop, the
//! console scanned line by line ([`crate::console`]), and QEMU's stderr
//! watched for the software KVM's "KVM internal error" / "emulation failure",
//! after which QEMU would hang paused: it is killed at once.
//!
//! Without a control channel QEMU stays in isola's process group, so that
//! Ctrl-C at a terminal stops both. With one (`isola run`), QEMU has a group
//! of its own and isola catches SIGINT and SIGTERM: the first asks the guest
//! to stop (SIGTERM to its pid 1 through the channel, [`STOP_GRACE`] to end),
//! a second, or the grace running out, kills QEMU. QEMU starts no processes
//! of its own, so killing the child is killing the group. Its stdin is
//! /dev/null, so it never touches the terminal.
//! It also dies with isola when isola is killed in any other way (SIGTERM,
//! SIGKILL): [`crate::lifeline::die_with_parent`] sets its parent-death
//! signal to SIGKILL.
//!
//! With `-p`/`--net` ([`Net`]) the guest gets a virtio-net device on QEMU's
//! user-mode network (slirp: the guest is 10.0.2.15, the gateway 10.0.2.2),
//! with host TCP ports on 127.0.0.1 forwarded to guest ports. The ports
//! QEMU is given are isola's internal ones ([`crate::forward`]): isola
//! itself listens on the user's `-p` ports.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::console::{Console, Demux, Stream};
use crate::error::Error;

/// The QEMU binary isola runs.
pub const QEMU: &str = "qemu-system-x86_64";

/// Markers of the software KVM failing on an instruction (QEMU then hangs).
const KVM_FAILURE_MARKERS: [&str; 2] = ["KVM internal error", "emulation failure"];

/// The accelerator of one QEMU run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG",
        }
    }
}

/// The virtual machine: accelerator and whether the guest CPU offers PKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub accel: Accel,
    pub pku: bool,
}

impl Machine {
    /// `-accel` and `-cpu` for this machine (see QEMU.md: under KVM, plain
    /// `-cpu host` aborts on MSR 0x10a, `-arch-capabilities` avoids it).
    pub fn accel_args(self) -> [&'static str; 4] {
        let cpu = match (self.accel, self.pku) {
            (Accel::Tcg, true) => "max",
            (Accel::Tcg, false) => "max,-pku",
            (Accel::Kvm, true) => "host,-arch-capabilities",
            (Accel::Kvm, false) => "host,-arch-capabilities,-pku",
        };
        let accel = match self.accel {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        };
        ["-accel", accel, "-cpu", cpu]
    }

    /// How to say it in a message: `TCG -cpu max,-pku`.
    pub fn describe(self) -> String {
        format!("{} -cpu {}", self.accel.name(), self.accel_args()[3])
    }
}

/// `-p HOST:GUEST`: TCP connections to 127.0.0.1:HOST on the host reach
/// port GUEST of the guest. In the [`Net`] given to QEMU, HOST is one of
/// the forwarder's internal ports ([`crate::forward::slirp_forwards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortForward {
    pub host: u16,
    pub guest: u16,
}

/// The guest's network: one virtio-net device (virtio-mmio on microvm) on
/// QEMU's user-mode network, with these forwards (possibly none: `--net`).
/// As the user asked (`-p`), or as QEMU gets it: the forwards of
/// [`crate::forward::Forwarding::slirp_net`], from internal ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Net {
    pub forwards: Vec<PortForward>,
}

impl Net {
    /// `-netdev user,id=net0[,hostfwd=tcp:127.0.0.1:H-:G]... -device
    /// virtio-net-device,netdev=net0`. The forwards listen on 127.0.0.1
    /// only; the guest address is left empty, which slirp reads as the
    /// guest's first DHCP address, 10.0.2.15.
    pub fn args(&self) -> [String; 4] {
        let mut netdev = String::from("user,id=net0");
        for f in &self.forwards {
            let _ = write!(netdev, ",hostfwd=tcp:127.0.0.1:{}-:{}", f.host, f.guest);
        }
        [
            "-netdev".into(),
            netdev,
            "-device".into(),
            "virtio-net-device,netdev=net0".into(),
        ]
    }
}

/// isola's stdout or stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Stderr,
}

/// What a boot copies to isola's own output, per console stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    /// The program's stdout and stderr to isola's stdout and stderr.
    pub program: bool,
    /// The kernel's notices.
    pub notices: Option<Sink>,
    /// The kernel's log.
    pub log: Option<Sink>,
}

impl Echo {
    /// Nothing echoed: the run is read, not shown.
    pub const OFF: Echo = Echo {
        program: false,
        notices: None,
        log: None,
    };
    /// Everything on stdout (the program's stderr on stderr): a boot whose
    /// output is the kernel's (`isola ktest`, `isola run` without PROGRAM).
    pub const KERNEL: Echo = Echo {
        program: true,
        notices: Some(Sink::Stdout),
        log: Some(Sink::Stdout),
    };

    /// `isola run PROGRAM`: the program's streams as its own, the kernel's
    /// notices on stderr, its log on stderr only if `verbose`.
    pub fn program(verbose: bool) -> Echo {
        Echo {
            program: true,
            notices: Some(Sink::Stderr),
            log: verbose.then_some(Sink::Stderr),
        }
    }

    fn any(self) -> bool {
        self.program || self.notices.is_some() || self.log.is_some()
    }

    fn sink(self, stream: Stream) -> Option<Sink> {
        match stream {
            Stream::Stdout => self.program.then_some(Sink::Stdout),
            Stream::Stderr => self.program.then_some(Sink::Stderr),
            Stream::Notice => self.notices,
            Stream::Log => self.log,
        }
    }
}

/// One boot: image, initramfs, command line, machine, timeout.
#[derive(Debug, Clone)]
pub struct Boot {
    pub kernel: PathBuf,
    /// The initramfs (cpio newc) passed with `-initrd`, if any.
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub machine: Machine,
    /// QEMU is killed when it passes; `None`: the guest runs until it ends
    /// or is stopped (`isola run` without `--timeout`).
    pub timeout: Option<Duration>,
    /// Guest RAM in MiB (`-m`; `--memory`, default 256).
    pub memory_mib: u32,
    /// Where the console's streams go as they come (`\r\n` turned back
    /// into `\n`); with any echo, QEMU's stderr goes to stderr too.
    pub echo: Echo,
    /// The network device and its slirp forwards (build them with
    /// [`crate::forward::Forwarding`], so that isola, not slirp, listens on
    /// the user's ports); `None`: no network device (the command line is
    /// then exactly what it was before networking).
    pub net: Option<Net>,
    /// `--volume`: host directories shared with the guest over virtio-9p.
    pub volumes: Vec<Volume>,
    /// `isola run`'s control channel: the Unix socket QEMU serves the
    /// guest's second serial port on (`isola ps`, `isola kill`;
    /// [`crate::control`]). With it, SIGINT and SIGTERM to isola stop the
    /// guest ([`STOP_GRACE`]) instead of killing QEMU, and QEMU gets a
    /// process group of its own so that Ctrl-C at a terminal reaches isola
    /// only.
    pub control: Option<PathBuf>,
    /// `-plugin LIB,ARGS`: one of Isola's TCG plugins ([`crate::plugin`])
    /// watching the run (instruction counts, profiles); TCG only.
    pub plugin: Option<String>,
    /// `-seed N`: under TCG the guest's RDRAND comes from a generator
    /// seeded with N, so that its random choices (address-space layouts)
    /// repeat from boot to boot ([`crate::icount::SEED`]).
    pub seed: Option<u64>,
}

/// How long a guest asked to stop (SIGTERM to its pid 1 after isola got
/// SIGINT or SIGTERM) has before QEMU is killed: Docker's `stop` default.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A host directory the guest mounts (`--volume`): QEMU's 9P server
/// (`-fsdev local`) exports it as a virtio-9p device with this mount tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Absolute host path.
    pub host: PathBuf,
    /// The device's mount tag, which the kernel's `volume=TAG:PATH` names.
    pub tag: String,
}

impl Volume {
    /// `-fsdev local,...,security_model=none -device virtio-9p-device,...`:
    /// the guest's files are the host's files, owned by whoever runs QEMU
    /// (no uid/gid or mode mapping in xattrs); `multidevs=remap` keeps inode
    /// numbers unique when the directory spans several host file systems.
    pub fn args(&self) -> [String; 4] {
        let path = self.host.display().to_string().replace(',', ",,");
        [
            "-fsdev".into(),
            format!("local,id={tag},path={path},security_model=none,multidevs=remap", tag = self.tag),
            "-device".into(),
            format!("virtio-9p-device,fsdev={tag},mount_tag={tag}", tag = self.tag),
        ]
    }
}

impl Boot {
    /// The full QEMU argument list (without the program name).
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-M",
            "microvm",
            "-m",
            "-smp",
            "1",
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.insert(3, format!("{}M", self.memory_mib));
        if let Some(net) = &self.net {
            args.extend(net.args());
        }
        for volume in &self.volumes {
            args.extend(volume.args());
        }
        if let Some(socket) = &self.control {
            // COM2 (index 1: I/O port 0x2f8): microvm makes only one
            // serial port of the -serial options, COM1, the console.
            let path = socket.display().to_string().replace(',', ",,");
            args.extend([
                "-chardev".into(),
                format!("socket,id=control,path={path},server=on,wait=off"),
                "-device".into(),
                "isa-serial,chardev=control,index=1".into(),
            ]);
        }
        args.extend(self.machine.accel_args().iter().map(|s| s.to_string()));
        args.push("-kernel".into());
        args.push(self.kernel.display().to_string());
        if let Some(initrd) = &self.initrd {
            args.push("-initrd".into());
            args.push(initrd.display().to_string());
        }
        args.push("-append".into());
        args.push(self.cmdline.clone());
        if let Some(plugin) = &self.plugin {
            args.push("-plugin".into());
            args.push(plugin.clone());
        }
        if let Some(seed) = self.seed {
            args.push("-seed".into());
            args.push(seed.to_string());
        }
        args
    }
}

/// How a QEMU run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// QEMU exited by itself with this code (`None`: killed by a signal).
    Exited(Option<i32>),
    /// The timeout passed; QEMU was killed.
    TimedOut,
    /// isola got this signal a second time, or the guest did not end within
    /// [`STOP_GRACE`] of being asked to stop; QEMU was killed.
    Stopped(i32),
    /// QEMU reported a KVM internal error (this line); QEMU was killed.
    KvmFailure(String),
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub end: End,
    pub console: Console,
    /// Every kernel line (notices and log), in order; the program's
    /// output is not kept.
    pub lines: Vec<String>,
    /// QEMU's stderr, line by line.
    pub stderr: Vec<String>,
    /// The signal (SIGINT, SIGTERM) that made isola ask the guest to stop.
    pub stop_signal: Option<i32>,
}

/// Is `name` an executable file on `PATH`?
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Fail with the setup hint when QEMU is not installed.
pub fn require_qemu() -> Result<(), Error> {
    match find_in_path(QEMU) {
        Some(_) => Ok(()),
        None => Err(qemu_missing()),
    }
}

fn qemu_missing() -> Error {
    Error::failure(format!(
        "QEMU not found ({QEMU} is not on PATH): install it with scripts/setup"
    ))
}

/// A QEMU child that is killed and reaped when dropped.
struct Guard(Child);

impl Guard {
    fn kill(&mut self) {
        // Already exited or already killed: both fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.kill();
        }
    }
}

enum Event {
    Line(String),
    StdoutClosed,
    Stderr(String),
    StderrClosed,
    /// isola got SIGINT or SIGTERM.
    Signal(i32),
}

/// SIGINT and SIGTERM to isola, as [`Event::Signal`]s, while a boot with a
/// control channel runs.
struct StopSignals {
    handle: signal_hook::iterator::Handle,
    thread: Option<thread::JoinHandle<()>>,
}

impl StopSignals {
    fn start(tx: mpsc::Sender<Event>) -> Result<StopSignals, Error> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Error::failure(format!("cannot catch SIGINT and SIGTERM: {e}")))?;
        let handle = signals.handle();
        let thread = thread::spawn(move || {
            for signal in signals.forever() {
                if tx.send(Event::Signal(signal)).is_err() {
                    break;
                }
            }
        });
        Ok(StopSignals { handle, thread: Some(thread) })
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The name of a stop signal, for messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Asks the guest behind `socket` to stop: SIGTERM to its pid 1, as
/// `docker stop` does; in the background, so that the console keeps
/// flowing meanwhile.
fn request_stop(socket: PathBuf) {
    thread::spawn(move || {
        let _ = crate::control::request(&socket, &process::control::Request::Kill { signal: 15, pid: 1 });
    });
}

/// Boot once and wait until QEMU exits, the timeout passes or KVM fails.
pub fn run(boot: &Boot) -> Result<Outcome, Error> {
    use std::os::unix::process::CommandExt;
    let timeout_at = boot.timeout.map(|t| Instant::now() + t);
    let mut cmd = Command::new(QEMU);
    // QEMU must not outlive isola, even when isola is killed with SIGKILL
    // (no destructor runs then): PR_SET_PDEATHSIG=SIGKILL in the child.
    crate::lifeline::die_with_parent(&mut cmd);
    if boot.control.is_some() {
        cmd.process_group(0);
    }
    let child = cmd
        .args(boot.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => qemu_missing(),
            _ => Error::failure(format!("cannot start {QEMU}: {e}")),
        })?;
    let mut guard = Guard(child);
    let stdout = guard.0.stdout.take().expect("stdout is piped");
    let stderr = guard.0.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    let signals = boot.control.as_ref().map(|_| StopSignals::start(tx.clone())).transpose()?;
    let echo = boot.echo;
    let out_tx = tx.clone();
    let out_thread = thread::spawn(move || read_console(stdout, echo, out_tx));
    let err_thread = thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(Event::Stderr(line)).is_err() {
                break;
            }
        }
        let _ = tx.send(Event::StderrClosed);
    });

    let mut console = Console::default();
    let mut lines = Vec::new();
    let mut stderr_lines = Vec::new();
    let mut open_streams = 2;
    let mut end = None;
    let mut stop_signal = None;
    let mut stop_at: Option<Instant> = None;
    while open_streams > 0 {
        let next = [timeout_at, stop_at].into_iter().flatten().min();
        // Without a deadline, wake now and then all the same (cheap).
        let remaining = next.map_or(Duration::from_secs(3600), |at| at.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(remaining) {
            Ok(Event::Line(line)) => {
                console.observe(&line);
                lines.push(line);
            }
            Ok(Event::Stderr(line)) => {
                if KVM_FAILURE_MARKERS.iter().any(|m| line.contains(m)) {
                    guard.kill();
                    end = Some(End::KvmFailure(line.trim().to_string()));
                    stderr_lines.push(line);
                    break;
                }
                if echo.any() {
                    eprintln!("{line}");
                }
                stderr_lines.push(line);
            }
            Ok(Event::StdoutClosed | Event::StderrClosed) => open_streams -= 1,
            Ok(Event::Signal(signal)) => match (&boot.control, stop_signal) {
                (Some(socket), None) => {
                    stop_signal = Some(signal);
                    stop_at = Some(Instant::now() + STOP_GRACE);
                    eprintln!(
                        "isola: {}: stopping the guest (SIGTERM to its pid 1; QEMU is killed if it has not ended in {} s, or at a second Ctrl-C)",
                        signal_name(signal),
                        STOP_GRACE.as_secs()
                    );
                    request_stop(socket.clone());
                }
                _ => {
                    guard.kill();
                    stop_signal.get_or_insert(signal);
                    end = Some(End::Stopped(signal));
                    break;
                }
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if let (Some(at), Some(signal)) = (stop_at, stop_signal)
                    && now >= at
                {
                    guard.kill();
                    end = Some(End::Stopped(signal));
                    break;
                }
                if timeout_at.is_some_and(|at| now >= at) {
                    guard.kill();
                    end = Some(End::TimedOut);
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(signals);
    let end = match end {
        Some(end) => end,
        // Both streams closed: QEMU is on its way out.
        None => match wait_until(&mut guard.0, timeout_at.unwrap_or_else(|| Instant::now() + STOP_GRACE)) {
            Some(status) => End::Exited(status.code()),
            None if timeout_at.is_some() => {
                guard.kill();
                End::TimedOut
            }
            None => {
                guard.kill();
                End::Exited(None)
            }
        },
    };
    // QEMU is gone, so its pipes close: collect what it wrote before that
    // (lines that arrived between the decision and the kill still count).
    // A grandchild holding a pipe open must not keep isola waiting: after a
    // short grace the readers are left to finish on their own.
    drop(guard);
    let grace_end = Instant::now() + Duration::from_secs(1);
    while open_streams > 0 {
        let remaining = grace_end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(Event::Line(line)) => {
                console.observe(&line);
                lines.push(line);
            }
            Ok(Event::Stderr(line)) => stderr_lines.push(line),
            Ok(Event::StdoutClosed | Event::StderrClosed) => open_streams -= 1,
            Ok(Event::Signal(_)) => {}
            Err(_) => break,
        }
    }
    if open_streams == 0 {
        let _ = out_thread.join();
        let _ = err_thread.join();
    }
    Ok(Outcome {
        end,
        console,
        lines,
        stderr: stderr_lines,
        stop_signal,
    })
}

/// Undoes the kernel console's `\n` -> `\r\n` translation on a byte
/// stream that arrives in chunks: every `\r\n` becomes `\n`, any other
/// byte (a lone `\r` included) passes through, so what a guest program
/// wrote reaches isola's stdout byte for byte, as it would on Linux through
/// a pipe.
#[derive(Debug, Default)]
pub struct CrlfToLf {
    /// The previous chunk ended with `\r`: held back until the next byte.
    held_cr: bool,
}

impl CrlfToLf {
    /// The filtered bytes of `chunk`.
    pub fn filter(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        for &b in chunk {
            if self.held_cr {
                self.held_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.held_cr = true;
            } else {
                out.push(b);
            }
        }
        out
    }

    /// The end of the stream: a held `\r` is not part of a `\r\n`.
    pub fn finish(&mut self) -> Vec<u8> {
        if std::mem::take(&mut self.held_cr) {
            vec![b'\r']
        } else {
            Vec::new()
        }
    }
}

/// isola's own output as [`read_console`] writes it: whether the last byte
/// written to stdout or stderr ended a line, so that a kernel line never
/// starts in the middle of the program's (on a terminal both streams are
/// one screen).
struct Terminal {
    at_line_start: bool,
}

impl Terminal {
    fn write(&mut self, sink: Sink, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        let _ = match sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Sink::Stderr => io::stderr().lock().write_all(bytes),
        };
        self.at_line_start = last == b'\n';
    }

    /// One kernel line (without its ending) on a line of its own.
    fn line(&mut self, sink: Sink, line: &str) {
        if !self.at_line_start {
            self.write(sink, b"\n");
        }
        self.write(sink, format!("{line}\n").as_bytes());
    }
}

/// Read QEMU's stdout (the serial line) as it comes: split it into its
/// streams, undo the console's `\r\n`, copy each stream where `echo` says,
/// and send the kernel's lines on (line endings and a trailing `\r`
/// removed). The program's bytes pass through exactly, a last line without
/// a newline included.
fn read_console(mut stdout: impl Read, echo: Echo, tx: mpsc::Sender<Event>) {
    let mut buf = [0u8; 4096];
    let mut demux = Demux::default();
    // Per stream: the `\r\n` filter, and for the kernel's the partial line.
    let mut crlf: [CrlfToLf; 4] = Default::default();
    let mut pending: [Vec<u8>; 4] = Default::default();
    let mut terminal = Terminal {
        at_line_start: true,
    };
    let index = |stream: Stream| stream as usize;
    let mut take = |stream: Stream, bytes: &[u8], terminal: &mut Terminal| {
        let bytes = crlf[index(stream)].filter(bytes);
        deliver(stream, &bytes, echo, &mut pending[index(stream)], terminal, &tx);
    };
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        demux.feed(&buf[..n], &mut |stream, bytes| take(stream, bytes, &mut terminal));
    }
    demux.finish(&mut |stream, bytes| take(stream, bytes, &mut terminal));
    for stream in [Stream::Stdout, Stream::Stderr, Stream::Notice, Stream::Log] {
        let rest = crlf[index(stream)].finish();
        let pending = &mut pending[index(stream)];
        deliver(stream, &rest, echo, pending, &mut terminal, &tx);
        if !pending.is_empty() {
            // The kernel's last line had no newline: it is a line still.
            let line = clean_line(pending);
            if let Some(sink) = echo.sink(stream) {
                terminal.line(sink, &line);
            }
            let _ = tx.send(Event::Line(line));
        }
    }
    let _ = tx.send(Event::StdoutClosed);
}

/// Bytes of one stream, `\r\n` undone: the program's copied as they are,
/// the kernel's cut into lines.
fn deliver(
    stream: Stream,
    bytes: &[u8],
    echo: Echo,
    pending: &mut Vec<u8>,
    terminal: &mut Terminal,
    tx: &mpsc::Sender<Event>,
) {
    if !stream.is_kernel() {
        if let Some(sink) = echo.sink(stream) {
            terminal.write(sink, bytes);
        }
        return;
    }
    pending.extend_from_slice(bytes);
    while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=pos).collect();
        let line = clean_line(&line);
        if let Some(sink) = echo.sink(stream) {
            terminal.line(sink, &line);
        }
        let _ = tx.send(Event::Line(line));
    }
}

fn clean_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.trim_end_matches(['\n', '\r']).to_string()
}

/// Wait for the child until `deadline`; `None` if it is still running.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Can this user open /dev/kvm read-write? `Err` says why not.
pub fn kvm_device_usable() -> Result<(), String> {
    let path = Path::new("/dev/kvm");
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err("/dev/kvm does not exist".into()),
        Err(e) => Err(format!("cannot open /dev/kvm read-write: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testelf;

    fn boot(kernel: &Path, machine: Machine, timeout: Duration) -> Boot {
        Boot {
            kernel: kernel.to_path_buf(),
            initrd: None,
            cmdline: "x".into(),
            machine,
            timeout: Some(timeout),
            memory_mib: crate::cli::DEFAULT_MEMORY_MIB,
            echo: Echo::OFF,
            net: None,
            volumes: Vec::new(),
            control: None,
            plugin: None,
            seed: None,
        }
    }

    const TCG: Machine = Machine {
        accel: Accel::Tcg,
        pku: true,
    };

    #[test]
    fn command_line_per_machine() {
        let mut b = Boot {
            kernel: "/k.elf".into(),
            initrd: None,
            cmdline: "isolation=mpk a b".into(),
            machine: TCG,
            timeout: Some(Duration::from_secs(1)),
            memory_mib: crate::cli::DEFAULT_MEMORY_MIB,
            echo: Echo::OFF,
            net: None,
            volumes: Vec::new(),
            control: None,
            plugin: None,
            seed: None,
        };
        let line = b.args().join(" ");
        assert!(
            !line.contains("-netdev") && !line.contains("virtio"),
            "{line}"
        );
        assert!(line.starts_with("-M microvm -m 256M -smp 1 -nodefaults -no-reboot -display none"));
        assert!(line.contains("-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(line.ends_with("-accel tcg -cpu max -kernel /k.elf -append isolation=mpk a b"));
        b.initrd = Some("/t/initrd-1-0.cpio".into());
        let args = b.args();
        assert!(
            args.join(" ")
                .ends_with("-kernel /k.elf -initrd /t/initrd-1-0.cpio -append isolation=mpk a b")
        );
        // The command line stays one argument, spaces and all.
        assert_eq!(args.last().unwrap(), "isolation=mpk a b");
        assert_eq!(
            Machine {
                accel: Accel::Tcg,
                pku: false
            }
            .accel_args()[3],
            "max,-pku"
        );
        assert_eq!(
            Machine {
                accel: Accel::Kvm,
                pku: true
            }
            .accel_args(),
            ["-accel", "kvm", "-cpu", "host,-arch-capabilities"]
        );
        assert_eq!(
            Machine {
                accel: Accel::Kvm,
                pku: false
            }
            .describe(),
            "KVM -cpu host,-arch-capabilities,-pku"
        );
    }

    #[test]
    fn a_control_socket_is_com2() {
        let mut b = boot(Path::new("/k.elf"), TCG, Duration::from_secs(1));
        assert!(!b.args().join(" ").contains("control"));
        b.control = Some("/run/isola/a,b.sock".into());
        let line = b.args().join(" ");
        assert!(
            line.contains("-chardev socket,id=control,path=/run/isola/a,,b.sock,server=on,wait=off -device isa-serial,chardev=control,index=1"),
            "{line}"
        );
        // The console stays the first serial port.
        assert!(line.find("-serial stdio") < line.find("isa-serial"));
    }

    #[test]
    fn network_device_and_forwards() {
        let mut b = Boot {
            kernel: "/k.elf".into(),
            initrd: None,
            cmdline: "isolation=mpk".into(),
            machine: TCG,
            timeout: Some(Duration::from_secs(1)),
            memory_mib: crate::cli::DEFAULT_MEMORY_MIB,
            echo: Echo::OFF,
            net: Some(Net::default()),
            volumes: Vec::new(),
            control: None,
            plugin: None,
            seed: None,
        };
        let plain = |b: &Boot| {
            let mut b = b.clone();
            b.net = None;
            b.args()
        };
        // --net: the device, no forward; everything else unchanged.
        let args = b.args();
        let at = args.iter().position(|a| a == "-netdev").unwrap();
        assert_eq!(
            args[at..at + 4],
            [
                "-netdev",
                "user,id=net0",
                "-device",
                "virtio-net-device,netdev=net0"
            ]
        );
        let mut rest = args.clone();
        rest.drain(at..at + 4);
        assert_eq!(rest, plain(&b));
        // Right after the debug-exit device, before -accel.
        assert_eq!(args[at - 1], "isa-debug-exit,iobase=0xf4,iosize=0x04");
        assert_eq!(args[at + 4], "-accel");
        // -p 8080:80 -p 2222:22: QEMU's forwards start from the internal
        // ports (two each here; crate::forward picks CHANNELS), never from
        // the user's, which isola listens on itself.
        let user = [
            PortForward {
                host: 8080,
                guest: 80,
            },
            PortForward {
                host: 2222,
                guest: 22,
            },
        ];
        b.net = Some(Net {
            forwards: crate::forward::slirp_forwards(
                &user,
                &[vec![40001, 40002], vec![40003, 40004]],
            ),
        });
        let args = b.args();
        assert_eq!(
            args[at..at + 4],
            [
                "-netdev",
                "user,id=net0,hostfwd=tcp:127.0.0.1:40001-:80,hostfwd=tcp:127.0.0.1:40002-:80,\
                 hostfwd=tcp:127.0.0.1:40003-:22,hostfwd=tcp:127.0.0.1:40004-:22",
                "-device",
                "virtio-net-device,netdev=net0"
            ]
        );
        assert!(!args[at + 1].contains("8080") && !args[at + 1].contains("2222"));
        assert_eq!(args.len(), plain(&b).len() + 4);
    }

    #[test]
    fn crlf_becomes_lf_across_chunks() {
        let mut f = CrlfToLf::default();
        let mut out = f.filter(b"a\r\nb\r");
        out.extend(f.filter(b"\nc\rd\r\r\n"));
        out.extend(f.filter(b"\r"));
        out.extend(f.filter(b"x\r"));
        out.extend(f.finish());
        assert_eq!(out, b"a\nb\nc\rd\r\n\rx\r");
        let mut f = CrlfToLf::default();
        assert_eq!(f.filter(b"\n\n"), b"\n\n");
        assert!(f.finish().is_empty());
    }

    #[test]
    fn console_lines_are_the_kernels_only() {
        // Log, the program's stdout mid-line, a notice that must not be cut
        // by it, stderr, and a last log line without a newline.
        let line = b"Isola banner\r\n\x101hi\x10\x10\r\nno newline\x10!isola: pid 1 killed\r\n\
                     \x102oops\r\n\x10kisola: exit status 3";
        let (tx, rx) = mpsc::channel();
        read_console(&line[..], Echo::OFF, tx);
        let lines: Vec<String> = rx
            .iter()
            .filter_map(|e| match e {
                Event::Line(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(
            lines,
            ["Isola banner", "isola: pid 1 killed", "isola: exit status 3"]
        );
        assert_eq!(Echo::OFF.sink(Stream::Stdout), None);
        assert_eq!(Echo::program(false).sink(Stream::Stderr), Some(Sink::Stderr));
        assert_eq!(Echo::program(false).sink(Stream::Notice), Some(Sink::Stderr));
        assert_eq!(Echo::program(false).sink(Stream::Log), None);
        assert_eq!(Echo::program(true).sink(Stream::Log), Some(Sink::Stderr));
        assert_eq!(Echo::KERNEL.sink(Stream::Log), Some(Sink::Stdout));
    }

    #[test]
    fn boots_a_tiny_guest_and_reads_its_status() {
        let dir = testelf::TempDir::new("qemu-ok");
        let elf = dir.path().join("ok.elf");
        std::fs::write(
            &elf,
            testelf::pvh_guest(
                b"hello\nisola: exit status 3\n",
                testelf::Ending::DebugExit(3),
            ),
        )
        .unwrap();
        let out = run(&boot(&elf, TCG, Duration::from_secs(20))).unwrap();
        assert_eq!(out.end, End::Exited(Some(7)), "stderr: {:?}", out.stderr);
        assert_eq!(out.lines, ["hello", "isola: exit status 3"]);
        assert_eq!(out.console.exit_status, Some(3));
    }

    #[test]
    fn a_hanging_guest_is_killed_at_the_timeout() {
        let dir = testelf::TempDir::new("qemu-hang");
        let elf = dir.path().join("hang.elf");
        std::fs::write(
            &elf,
            testelf::pvh_guest(b"spinning\n", testelf::Ending::Spin),
        )
        .unwrap();
        let start = Instant::now();
        let out = run(&boot(&elf, TCG, Duration::from_millis(1500))).unwrap();
        assert_eq!(out.end, End::TimedOut);
        assert_eq!(out.lines, ["spinning"]);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn kvm_emulation_failure_is_caught_not_waited_for() {
        if kvm_device_usable().is_err() {
            eprintln!("skipped: /dev/kvm not usable");
            return;
        }
        // int3 with no IDT: the software KVM of QEMU.md fails to emulate it
        // and QEMU hangs paused; real KVM triple-faults and QEMU exits.
        let dir = testelf::TempDir::new("qemu-kvm");
        let elf = dir.path().join("int3.elf");
        std::fs::write(&elf, testelf::pvh_guest(b"", testelf::Ending::Int3)).unwrap();
        let kvm = Machine {
            accel: Accel::Kvm,
            pku: false,
        };
        let start = Instant::now();
        let out = run(&boot(&elf, kvm, Duration::from_secs(30))).unwrap();
        match &out.end {
            End::KvmFailure(line) => assert!(line.contains("KVM internal error"), "{line}"),
            End::Exited(_) => {}
            End::TimedOut | End::Stopped(_) => panic!("KVM failure not detected: {:?}", out.stderr),
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
    }
}
