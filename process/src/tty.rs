//! A pseudo-terminal's line discipline: the parts of Linux's `n_tty` that
//! programs rely on, between the bytes the master writes (the terminal's
//! "keyboard") and what the slave reads, and between what the slave
//! writes and what the master reads (the terminal's "screen").
//!
//! [`LineDiscipline`] holds the slave's termios, the input (complete lines
//! and the line being edited in canonical mode, a byte queue otherwise)
//! and the output queue. Input processing: `ISTRIP`, `IGNCR`/`ICRNL`/
//! `INLCR`; with `ISIG`, `VINTR`/`VQUIT`/`VSUSP` become signals for the
//! foreground group ([`Input::signals`]) and flush the queues unless
//! `NOFLSH`; with `ICANON`, `VERASE`, `VWERASE` (`IEXTEN`), `VKILL`,
//! `VEOF` and the line ends `\n`, `VEOL`, `VEOL2`; `ECHO`, `ECHOE`,
//! `ECHOK`, `ECHOKE`, `ECHONL` and `ECHOCTL` (`^C`). Output processing
//! (`OPOST`): `ONLCR`, `OCRNL`, `ONOCR`, `ONLRET`, `OLCUC`; echoes go
//! through it too, as Linux's do.
//!
//! Differences from Linux, kept small: a non-canonical read waits for
//! `min(VMIN, wanted)` bytes (at least one) when `VMIN > 0` and returns at
//! once when `VMIN == 0`; `VTIME`'s timer is not run. No flow control
//! (`IXON`'s `^S`/`^Q` are ordinary bytes), no `IMAXBEL` bell, no
//! `PARMRK`/parity, no `ECHOPRT`, no `TOSTOP` or job control.
//!
//! Neighbours: `syscall::Termios` (the layout and the flag bits); the
//! kernel's `pty` module (the master/slave pairs, /dev/pts, blocking).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use syscall::termios::*;
use syscall::Termios;

/// Bytes of input a terminal holds (Linux's `N_TTY_BUF_SIZE`).
pub const INPUT_MAX: usize = 4096;
/// Bytes of output held for the master before the slave's writes wait
/// (Linux's pty buffers hold about as much).
pub const OUTPUT_MAX: usize = 64 * 1024;

/// Signal numbers the line discipline raises.
pub const SIGINT: u32 = 2;
pub const SIGQUIT: u32 = 3;
pub const SIGTSTP: u32 = 20;

/// The slave's termios when a pty is made (Linux's `tty_std_termios` with
/// the pty driver's `c_cflag`: `B38400 | CS8 | CREAD`).
pub fn slave_default() -> Termios {
    Termios { c_cflag: B38400 | CS8 | CREAD, ..Termios::serial_console() }
}

/// What one write of the master did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// Bytes taken (the rest waits for room).
    pub accepted: usize,
    /// Signals for the foreground process group, in order.
    pub signals: Vec<u32>,
}

/// One terminal's queues and settings.
#[derive(Clone, Debug)]
pub struct LineDiscipline {
    termios: Termios,
    /// Canonical mode: the complete lines, oldest first (a line ended by
    /// `VEOF` has no terminator; an empty one reads as end of file).
    lines: VecDeque<Vec<u8>>,
    /// Canonical mode: the line being edited.
    line: Vec<u8>,
    /// Non-canonical mode: the bytes to read.
    raw: VecDeque<u8>,
    output: VecDeque<u8>,
    /// The output column (for `ONOCR`, `VERASE` echo).
    column: usize,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        LineDiscipline::new()
    }
}

/// A control character, as `ECHOCTL` shows it (`^C`, `^?`): not TAB,
/// newline, or a printable byte.
fn echoes_as_caret(c: u8) -> bool {
    (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f
}

impl LineDiscipline {
    pub fn new() -> LineDiscipline {
        LineDiscipline { termios: slave_default(), lines: VecDeque::new(), line: Vec::new(), raw: VecDeque::new(), output: VecDeque::new(), column: 0 }
    }

    pub fn termios(&self) -> Termios {
        self.termios
    }

    fn lflag(&self, flag: u32) -> bool {
        self.termios.c_lflag & flag != 0
    }

    fn iflag(&self, flag: u32) -> bool {
        self.termios.c_iflag & flag != 0
    }

    fn oflag(&self, flag: u32) -> bool {
        self.termios.c_oflag & flag != 0
    }

    fn cc(&self, index: usize) -> u8 {
        self.termios.c_cc.get(index).copied().unwrap_or(0)
    }

    /// Whether `c` is the enabled control character `index` (a 0 entry is
    /// disabled, as `_POSIX_VDISABLE`).
    fn is_cc(&self, c: u8, index: usize) -> bool {
        let cc = self.cc(index);
        cc != 0 && c == cc
    }

    /// New settings (TCSETS). Leaving canonical mode makes the pending
    /// lines and the edited line plain input; entering it makes the plain
    /// input one complete line, as Linux's `n_tty_set_termios` does.
    pub fn set_termios(&mut self, termios: Termios) {
        let was = self.lflag(ICANON);
        self.termios = termios;
        let now = self.lflag(ICANON);
        if was && !now {
            for line in self.lines.drain(..) {
                self.raw.extend(line);
            }
            self.raw.extend(self.line.drain(..));
        } else if !was && now && !self.raw.is_empty() {
            self.lines.push_back(self.raw.drain(..).collect());
        }
    }

    /// Bytes of input held (lines, the edited line, plain input).
    pub fn input_len(&self) -> usize {
        self.lines.iter().map(Vec::len).sum::<usize>().saturating_add(self.line.len()).saturating_add(self.raw.len())
    }

    /// What FIONREAD on the slave reports: the bytes a read can have now.
    pub fn readable_len(&self) -> usize {
        if self.lflag(ICANON) { self.lines.iter().map(Vec::len).sum() } else { self.raw.len() }
    }

    /// Whether a slave read of up to `wanted` bytes returns now: a complete
    /// line (or an end of file) in canonical mode, else `min(VMIN, wanted)`
    /// bytes (any with `VMIN == 0`).
    pub fn read_ready(&self, wanted: usize) -> bool {
        if self.lflag(ICANON) {
            return !self.lines.is_empty();
        }
        let vmin = usize::from(self.cc(VMIN));
        vmin == 0 || self.raw.len() >= vmin.min(wanted).max(1)
    }

    /// A slave read (call when [`Self::read_ready`]): in canonical mode at
    /// most one line (the rest of a longer line stays for the next read;
    /// an end-of-file line gives 0), else what is there.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        if self.lflag(ICANON) {
            let Some(line) = self.lines.front_mut() else { return 0 };
            let n = line.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), line.get(..n)) {
                dst.copy_from_slice(src);
            }
            line.drain(..n);
            if line.is_empty() || n == 0 {
                self.lines.pop_front();
            }
            return n;
        }
        let n = self.raw.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.raw.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// Whether the master may write now (room for input).
    pub fn input_room(&self) -> bool {
        self.input_len() < INPUT_MAX
    }

    /// The master writes `data`: each byte through input processing, until
    /// the input is full (the caller waits for the rest). In canonical
    /// mode a full line keeps room for its end: other bytes are dropped
    /// (and counted as taken), as on Linux.
    pub fn input(&mut self, data: &[u8]) -> Input {
        let mut result = Input::default();
        for &byte in data {
            let full = self.input_len() >= INPUT_MAX;
            if full && !self.lflag(ICANON) {
                break;
            }
            result.accepted = result.accepted.saturating_add(1);
            self.receive(byte, &mut result.signals);
        }
        result
    }

    fn receive(&mut self, byte: u8, signals: &mut Vec<u32>) {
        let mut c = if self.iflag(ISTRIP) { byte & 0x7f } else { byte };
        if c == b'\r' {
            if self.iflag(IGNCR) {
                return;
            }
            if self.iflag(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && self.iflag(INLCR) {
            c = b'\r';
        }
        if self.lflag(ISIG) {
            let signal = if self.is_cc(c, VINTR) {
                Some(SIGINT)
            } else if self.is_cc(c, VQUIT) {
                Some(SIGQUIT)
            } else if self.is_cc(c, VSUSP) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(signal) = signal {
                signals.push(signal);
                if !self.lflag(NOFLSH) {
                    self.flush(true, true);
                }
                self.echo(c);
                return;
            }
        }
        if self.lflag(ICANON) {
            self.receive_canonical(c);
        } else {
            self.raw.push_back(c);
            self.echo(c);
        }
    }

    fn receive_canonical(&mut self, c: u8) {
        if self.is_cc(c, VERASE) {
            if let Some(gone) = self.line.pop() {
                self.echo_erase(gone);
            }
            return;
        }
        if self.lflag(IEXTEN) && self.is_cc(c, VWERASE) {
            while self.line.last().is_some_and(|b| b.is_ascii_whitespace()) {
                if let Some(gone) = self.line.pop() {
                    self.echo_erase(gone);
                }
            }
            while self.line.last().is_some_and(|b| !b.is_ascii_whitespace()) {
                if let Some(gone) = self.line.pop() {
                    self.echo_erase(gone);
                }
            }
            return;
        }
        if self.is_cc(c, VKILL) {
            if self.lflag(ECHO) && self.lflag(ECHOK) && !self.lflag(ECHOKE) {
                self.echo(c);
                self.echo_raw(b"\n");
                self.line.clear();
            } else {
                while let Some(gone) = self.line.pop() {
                    self.echo_erase(gone);
                }
            }
            return;
        }
        if self.is_cc(c, VEOF) {
            self.lines.push_back(core::mem::take(&mut self.line));
            return;
        }
        let line_end = c == b'\n' || self.is_cc(c, VEOL) || (self.lflag(IEXTEN) && self.is_cc(c, VEOL2));
        if !line_end && self.input_len() >= INPUT_MAX.saturating_sub(1) {
            return;
        }
        self.line.push(c);
        if line_end {
            if self.lflag(ECHO) || (c == b'\n' && self.lflag(ECHONL)) {
                self.echo_raw(&[c]);
            }
            self.lines.push_back(core::mem::take(&mut self.line));
        } else {
            self.echo(c);
        }
    }

    /// Echoes an input byte if `ECHO`: control characters as `^X` with
    /// `ECHOCTL`.
    fn echo(&mut self, c: u8) {
        if !self.lflag(ECHO) {
            return;
        }
        if self.lflag(ECHOCTL) && echoes_as_caret(c) {
            self.echo_raw(&[b'^', c ^ 0x40]);
        } else {
            self.echo_raw(&[c]);
        }
    }

    /// Echoes the erasure of `gone` with `ECHOE` (`\b \b`, twice for a
    /// `^X`), or the erase character itself without it.
    fn echo_erase(&mut self, gone: u8) {
        if !self.lflag(ECHO) {
            return;
        }
        if self.lflag(ECHOE) {
            let width = if self.lflag(ECHOCTL) && echoes_as_caret(gone) { 2 } else { 1 };
            for _ in 0..width {
                self.echo_raw(b"\x08 \x08");
            }
        } else {
            let erase = self.cc(VERASE);
            self.echo(erase);
        }
    }

    /// Echo output: processed as output, dropped when the output is full.
    fn echo_raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.output.len() >= OUTPUT_MAX {
                return;
            }
            self.put_output(b);
        }
    }

    /// One byte of output through `OPOST` processing.
    fn put_output(&mut self, b: u8) {
        if !self.oflag(OPOST) {
            self.output.push_back(b);
            return;
        }
        match b {
            b'\n' if self.oflag(ONLCR) => {
                self.output.extend([b'\r', b'\n']);
                self.column = 0;
            }
            b'\n' => {
                self.output.push_back(b'\n');
                if self.oflag(ONLRET) {
                    self.column = 0;
                }
            }
            b'\r' if self.oflag(ONOCR) && self.column == 0 => {}
            b'\r' if self.oflag(OCRNL) => {
                self.output.push_back(b'\n');
                if self.oflag(ONLRET) {
                    self.column = 0;
                }
            }
            b'\r' => {
                self.output.push_back(b'\r');
                self.column = 0;
            }
            0x08 => {
                self.output.push_back(b);
                self.column = self.column.saturating_sub(1);
            }
            _ => {
                let b = if self.oflag(OLCUC) { b.to_ascii_uppercase() } else { b };
                self.output.push_back(b);
                if !b.is_ascii_control() {
                    self.column = self.column.saturating_add(1);
                }
            }
        }
    }

    /// Whether the slave may write now (room for output).
    pub fn output_room(&self) -> bool {
        self.output.len() < OUTPUT_MAX
    }

    /// The slave writes `data`: processed into the output while there is
    /// room; the bytes taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        for &b in data {
            if self.output.len() >= OUTPUT_MAX {
                break;
            }
            self.put_output(b);
            taken += 1;
        }
        taken
    }

    /// Bytes the master can read.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// The master reads what the slave wrote (and the echoes).
    pub fn read_output(&mut self, buf: &mut [u8]) -> usize {
        let n = self.output.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.output.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// TCFLSH, and the flush a signal character makes: the input (lines
    /// and edited line) and/or the output are dropped.
    pub fn flush(&mut self, input: bool, output: bool) {
        if input {
            self.lines.clear();
            self.line.clear();
            self.raw.clear();
        }
        if output {
            self.output.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn read_all(l: &mut LineDiscipline) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let n = l.read(&mut buf);
        buf[..n].to_vec()
    }

    fn output(l: &mut LineDiscipline) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let n = l.read_output(&mut buf);
        buf[..n].to_vec()
    }

    #[test]
    fn canonical_lines_with_echo_and_crlf() {
        let mut l = LineDiscipline::new();
        assert!(!l.read_ready(100));
        assert_eq!(l.input(b"hel").accepted, 3);
        assert!(!l.read_ready(100), "no line yet");
        l.input(b"lo\r");
        assert!(l.read_ready(100));
        assert_eq!(read_all(&mut l), b"hello\n", "ICRNL");
        assert_eq!(output(&mut l), b"hello\r\n", "echo, with ONLCR");
        assert_eq!(l.write(b"out\n"), 4);
        assert_eq!(output(&mut l), b"out\r\n");
    }

    #[test]
    fn erase_kill_word_erase_and_eof() {
        let mut l = LineDiscipline::new();
        l.input(b"abc\x7fd\n");
        assert_eq!(read_all(&mut l), b"abd\n");
        assert_eq!(output(&mut l), b"abc\x08 \x08d\r\n");
        l.input(b"junk\x15ok\n");
        assert_eq!(read_all(&mut l), b"ok\n", "VKILL");
        l.input(b"one two\x17three\n");
        assert_eq!(read_all(&mut l), b"one three\n", "VWERASE");
        l.input(b"partial\x04");
        assert_eq!(read_all(&mut l), b"partial", "VEOF ends a line without a newline");
        l.input(b"\x04");
        assert!(l.read_ready(10));
        assert_eq!(l.read(&mut [0u8; 10]), 0, "VEOF at a line's start reads as end of file");
        assert!(!l.read_ready(10));
    }

    #[test]
    fn a_long_line_reads_in_pieces_and_lines_one_at_a_time() {
        let mut l = LineDiscipline::new();
        l.input(b"abcdef\nxy\n");
        let mut small = [0u8; 4];
        assert_eq!(l.read(&mut small), 4);
        assert_eq!(&small, b"abcd");
        assert_eq!(read_all(&mut l), b"ef\n");
        assert_eq!(read_all(&mut l), b"xy\n");
    }

    #[test]
    fn signals_flush_and_echo_as_carets() {
        let mut l = LineDiscipline::new();
        l.input(b"typed");
        output(&mut l);
        let input = l.input(b"\x03");
        assert_eq!(input.signals, vec![SIGINT]);
        assert_eq!(output(&mut l), b"^C");
        assert!(!l.read_ready(10) && l.input_len() == 0, "flushed");
        assert_eq!(l.input(b"\x1c\x1a").signals, vec![SIGQUIT, SIGTSTP]);
        let mut t = l.termios();
        t.c_lflag &= !ISIG;
        l.set_termios(t);
        assert!(l.input(b"\x03\n").signals.is_empty());
        assert_eq!(read_all(&mut l), b"\x03\n");
    }

    #[test]
    fn raw_mode_passes_bytes_and_vmin() {
        let mut l = LineDiscipline::new();
        l.input(b"pending");
        let mut t = l.termios();
        t.c_lflag &= !(ICANON | ECHO | ISIG);
        t.c_iflag &= !ICRNL;
        t.c_oflag &= !OPOST;
        t.c_cc[VMIN] = 3;
        l.set_termios(t);
        assert_eq!(read_all(&mut l), b"pending", "the edited line becomes input");
        output(&mut l);
        l.input(b"\r\x03");
        assert!(!l.read_ready(10), "VMIN 3");
        assert!(l.read_ready(2), "or what the read wants");
        l.input(b"z");
        assert!(l.read_ready(10));
        assert_eq!(read_all(&mut l), b"\r\x03z");
        assert_eq!(output(&mut l), b"", "no echo");
        l.write(b"a\nb");
        assert_eq!(output(&mut l), b"a\nb", "no OPOST");
        t.c_cc[VMIN] = 0;
        l.set_termios(t);
        assert!(l.read_ready(10), "VMIN 0 returns at once");
        t.c_lflag |= ICANON;
        l.set_termios(t);
        l.input(b"x");
        assert!(!l.read_ready(10));
        t.c_lflag &= !ICANON;
        l.set_termios(t);
        assert_eq!(read_all(&mut l), b"x");
    }

    #[test]
    fn input_room_is_bounded() {
        let mut l = LineDiscipline::new();
        let mut t = l.termios();
        t.c_lflag &= !(ICANON | ECHO);
        l.set_termios(t);
        let big = vec![b'a'; INPUT_MAX + 10];
        assert_eq!(l.input(&big).accepted, INPUT_MAX);
        assert!(!l.input_room());
        t.c_lflag |= ICANON;
        let mut c = LineDiscipline::new();
        assert_eq!(c.input(&big).accepted, big.len(), "canonical: the excess is dropped");
        assert_eq!(c.input_len(), INPUT_MAX - 1);
        c.input(b"\n");
        assert_eq!(c.readable_len(), INPUT_MAX);
        let _ = t;
    }

    #[test]
    fn output_flags() {
        let mut l = LineDiscipline::new();
        let mut t = l.termios();
        t.c_oflag = OPOST | OCRNL | OLCUC;
        l.set_termios(t);
        l.write(b"ab\r\n");
        assert_eq!(output(&mut l), b"AB\n\n");
        t.c_oflag = OPOST | ONOCR;
        l.set_termios(t);
        l.write(b"\r\rx\r");
        assert_eq!(output(&mut l), b"\rx\r", "ONOCR: no CR at column 0 (the first is at column 2: OCRNL's newline kept it)");
        assert_eq!(slave_default().c_cflag, B38400 | CS8 | CREAD);
    }
}
