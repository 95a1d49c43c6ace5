//! Reading the guest's serial console: the streams multiplexed on it and
//! the lines of the kernel contract.
//!
//! The kernel sends four streams over the one serial line ([`Demux`]): the
//! program's stdout and stderr, the kernel's notices (what a user must see:
//! a kill, a refusal, a warning, a panic) and its log (everything else).
//! Among its lines (notices and log), the kernel prints:
//! - a banner with `isolation: mpk|none` and `boot: <float> ms`;
//! - `isola: exit status N` just before it leaves QEMU through isa-debug-exit;
//! - for test kernels, `test NAME ... ok|FAILED|skipped` lines and a summary
//!   `N passed, M failed[, K skipped]`;
//! - on a panic or fatal fault, a line starting with `KERNEL PANIC`.
//!
//! These functions recognise each kind of line; [`Console`] folds a stream of
//! lines into what the host needs to decide the outcome.

use std::fmt;

/// The isolation level the kernel runs at (`isolation=` on its command line,
/// `isolation:` in its banner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Processes in ring 3 with protection-key domains (needs PKU).
    Strict,
    /// Protection-key domains (needs PKU).
    Mpk,
    /// No hardware isolation.
    None,
}

impl Level {
    /// The word used on the kernel command line and in the banner.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Mpk => "mpk",
            Level::None => "none",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the banner line says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Banner {
    /// The isolation level the kernel runs at.
    pub level: Level,
    /// Boot time measured by the kernel, in milliseconds.
    pub boot_ms: f64,
}

/// A test kernel's summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

const EXIT_STATUS_MARKER: &str = "isola: exit status ";
const PANIC_MARKER: &str = "KERNEL PANIC";

/// `isola: exit status N` (N = 0..=255), anywhere in the line.
pub fn parse_exit_status(line: &str) -> Option<u8> {
    let at = line.find(EXIT_STATUS_MARKER)?;
    let rest = line.get(at + EXIT_STATUS_MARKER.len()..)?.trim_end();
    rest.parse::<u8>().ok()
}

/// The banner: a line with both `isolation: <level>` and `boot: <float> ms`.
pub fn parse_banner(line: &str) -> Option<Banner> {
    let level = word_after(line, "isolation: ")?;
    let level = match level.trim_end_matches([',', ';', '|']) {
        "strict" => Level::Strict,
        "mpk" => Level::Mpk,
        "none" => Level::None,
        _ => return None,
    };
    let at = line.find("boot: ")?;
    let mut words = line.get(at + "boot: ".len()..)?.split_whitespace();
    let boot_ms = words.next()?.parse::<f64>().ok()?;
    if words.next()? != "ms" || !boot_ms.is_finite() {
        return None;
    }
    Some(Banner { level, boot_ms })
}

fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)?;
    line.get(at + key.len()..)?.split_whitespace().next()
}

/// The summary `N passed, M failed` or `N passed, M failed, K skipped`,
/// alone on its line (surrounding whitespace allowed).
pub fn parse_summary(line: &str) -> Option<Summary> {
    let mut parts = line.trim().split(", ");
    let passed = counted(parts.next()?, "passed")?;
    let failed = counted(parts.next()?, "failed")?;
    let skipped = match parts.next() {
        Some(part) => counted(part, "skipped")?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Summary {
        passed,
        failed,
        skipped,
    })
}

fn counted(part: &str, word: &str) -> Option<u32> {
    let (n, w) = part.split_once(' ')?;
    if w != word || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// A line starting with `KERNEL PANIC`.
pub fn is_panic(line: &str) -> bool {
    line.trim_start().starts_with(PANIC_MARKER)
}

/// What has been seen on the console so far.
#[derive(Debug, Clone, Default)]
pub struct Console {
    /// The first banner line.
    pub banner: Option<Banner>,
    /// The last `isola: exit status N`.
    pub exit_status: Option<u8>,
    /// The last summary line.
    pub summary: Option<Summary>,
    /// The first `KERNEL PANIC` line.
    pub panic: Option<String>,
}

impl Console {
    /// Take one console line (without its line ending) into account.
    pub fn observe(&mut self, line: &str) {
        if self.banner.is_none() {
            self.banner = parse_banner(line);
        }
        if let Some(status) = parse_exit_status(line) {
            self.exit_status = Some(status);
        }
        if let Some(summary) = parse_summary(line) {
            self.summary = Some(summary);
        }
        if self.panic.is_none() && is_panic(line) {
            self.panic = Some(line.trim().to_string());
        }
    }
}

/// The byte that starts a stream switch on the serial line (ASCII DLE);
/// the kernel's `console` module is the other end.
pub const ESCAPE: u8 = 0x10;

/// One of the streams multiplexed on the serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The program's standard output.
    Stdout,
    /// The program's standard error.
    Stderr,
    /// Kernel lines a user needs to see.
    Notice,
    /// Every other kernel line.
    Log,
}

impl Stream {
    /// The stream that byte `tag` selects after [`ESCAPE`].
    pub fn from_tag(tag: u8) -> Option<Stream> {
        match tag {
            b'1' => Some(Stream::Stdout),
            b'2' => Some(Stream::Stderr),
            b'!' => Some(Stream::Notice),
            b'k' => Some(Stream::Log),
            _ => None,
        }
    }

    /// The kernel's streams (lines), as opposed to the program's (bytes).
    pub fn is_kernel(self) -> bool {
        matches!(self, Stream::Notice | Stream::Log)
    }
}

/// Splits the serial line into its streams, as bytes arrive in chunks:
/// `ESCAPE tag` switches stream, `ESCAPE ESCAPE` is one data byte. The line
/// starts on [`Stream::Log`], so a guest that never switches (a test stub,
/// the Linux guest of `isola bench`) is all log; an escape followed by
/// anything else is passed through as data.
#[derive(Debug)]
pub struct Demux {
    current: Stream,
    /// The previous chunk ended with an escape byte.
    escaped: bool,
}

impl Default for Demux {
    fn default() -> Self {
        Demux {
            current: Stream::Log,
            escaped: false,
        }
    }
}

impl Demux {
    /// Hands `chunk`'s data to `sink` in order, in runs of one stream.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut impl FnMut(Stream, &[u8])) {
        let mut run = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if std::mem::take(&mut self.escaped) {
                if let Some(stream) = Stream::from_tag(b) {
                    if stream != self.current && !run.is_empty() {
                        sink(self.current, &run);
                        run.clear();
                    }
                    self.current = stream;
                } else if b == ESCAPE {
                    run.push(ESCAPE);
                } else {
                    run.extend_from_slice(&[ESCAPE, b]);
                }
            } else if b == ESCAPE {
                self.escaped = true;
            } else {
                run.push(b);
            }
        }
        if !run.is_empty() {
            sink(self.current, &run);
        }
    }

    /// The end of the line: a held escape byte was data.
    pub fn finish(&mut self, sink: &mut impl FnMut(Stream, &[u8])) {
        if std::mem::take(&mut self.escaped) {
            sink(self.current, &[ESCAPE]);
        }
    }
}

/// The QEMU exit code that isa-debug-exit produces for a value written to it.
pub fn debug_exit_code(value: u32) -> i32 {
    (((value & 0xff) << 1) | 1) as i32
}

/// The QEMU exit code that goes with `isola: exit status N`: the kernel
/// writes `N & 0x7f` to isa-debug-exit.
pub fn qemu_code_for_status(status: u8) -> i32 {
    debug_exit_code(u32::from(status & 0x7f))
}

/// QEMU's exit code when a test kernel passed (isa-debug-exit 0x10).
pub const QEMU_TESTS_PASSED: i32 = 33;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_lines() {
        assert_eq!(parse_exit_status("isola: exit status 0"), Some(0));
        assert_eq!(parse_exit_status("isola: exit status 255\r"), Some(255));
        assert_eq!(
            parse_exit_status("[  0.001] isola: exit status 42"),
            Some(42)
        );
        assert_eq!(parse_exit_status("isola: exit status 256"), None);
        assert_eq!(parse_exit_status("isola: exit status x"), None);
        assert_eq!(parse_exit_status("isola: exit status"), None);
        assert_eq!(parse_exit_status("exit status 3"), None);
    }

    #[test]
    fn banner_lines() {
        let b = parse_banner("Isola 0.1.0 | isolation: mpk | boot: 0.84 ms | tcg").unwrap();
        assert_eq!(b.level, Level::Mpk);
        assert!((b.boot_ms - 0.84).abs() < 1e-9);
        let b = parse_banner("Isola 0.1.0 | isolation: none | boot: 12 ms").unwrap();
        assert_eq!(b.level, Level::None);
        assert_eq!(parse_banner("isolation: mpk"), None);
        assert_eq!(parse_banner("boot: 1.0 ms"), None);
        assert_eq!(parse_banner("isolation: strict | boot: 1.0 ms").map(|b| b.level), Some(Level::Strict));
        assert_eq!(parse_banner("isolation: ring3 | boot: 1.0 ms"), None);
        assert_eq!(parse_banner("isolation: mpk | boot: fast ms"), None);
        assert_eq!(parse_banner("isolation: mpk | boot: 1.0 s"), None);
    }

    #[test]
    fn summary_lines() {
        assert_eq!(
            parse_summary("12 passed, 0 failed"),
            Some(Summary {
                passed: 12,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(
            parse_summary("  3 passed, 1 failed, 2 skipped\r"),
            Some(Summary {
                passed: 3,
                failed: 1,
                skipped: 2
            })
        );
        assert_eq!(parse_summary("test foo ... ok"), None);
        assert_eq!(parse_summary("3 passed, 1 failed, 2 skipped, 1 odd"), None);
        assert_eq!(parse_summary("x passed, 1 failed"), None);
        assert_eq!(parse_summary("3 passed 1 failed"), None);
        assert_eq!(parse_summary("-3 passed, 1 failed"), None);
        let s = Summary {
            passed: 3,
            failed: 0,
            skipped: 2,
        };
        assert_eq!(s.to_string(), "3 passed, 0 failed, 2 skipped");
        assert_eq!(
            Summary { skipped: 0, ..s }.to_string(),
            "3 passed, 0 failed"
        );
    }

    #[test]
    fn panic_lines() {
        assert!(is_panic("KERNEL PANIC: kernel stack overflow"));
        assert!(is_panic("  KERNEL PANIC at src/main.rs:3"));
        assert!(!is_panic("test kernel_panic_prints ... ok"));
    }

    #[test]
    fn console_folds_lines() {
        let mut c = Console::default();
        for line in [
            "Isola 0.1.0 | isolation: none | boot: 1.5 ms",
            "cmdline: isolation=none marker",
            "KERNEL PANIC: oops",
            "1 passed, 0 failed",
            "isola: exit status 7",
        ] {
            c.observe(line);
        }
        assert_eq!(c.banner.unwrap().level, Level::None);
        assert_eq!(c.exit_status, Some(7));
        assert_eq!(
            c.summary,
            Some(Summary {
                passed: 1,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(c.panic.as_deref(), Some("KERNEL PANIC: oops"));
    }

    fn demuxed(chunks: &[&[u8]]) -> Vec<(Stream, Vec<u8>)> {
        let mut d = Demux::default();
        let mut out: Vec<(Stream, Vec<u8>)> = Vec::new();
        let mut sink = |s: Stream, b: &[u8]| match out.last_mut() {
            Some((last, bytes)) if *last == s => bytes.extend_from_slice(b),
            _ => out.push((s, b.to_vec())),
        };
        for c in chunks {
            d.feed(c, &mut sink);
        }
        d.finish(&mut sink);
        out
    }

    #[test]
    fn demux_splits_streams_across_chunks() {
        use Stream::*;
        // Unswitched bytes are log; switches may fall between chunks.
        let got = demuxed(&[b"boot\r\n\x10", b"1hi\x10", b"2err\x10!kill\x10k", b"x"]);
        assert_eq!(
            got,
            [
                (Log, b"boot\r\n".to_vec()),
                (Stdout, b"hi".to_vec()),
                (Stderr, b"err".to_vec()),
                (Notice, b"kill".to_vec()),
                (Log, b"x".to_vec()),
            ]
        );
        // A doubled escape is one data byte, even split; a switch to the
        // current stream is nothing; an unknown tag is data.
        let got = demuxed(&[b"\x101a\x10", b"\x10b\x101c\x10zd\x10"]);
        assert_eq!(got, [(Stdout, b"a\x10bc\x10zd\x10".to_vec())]);
        assert!(demuxed(&[b"\x102"]).is_empty());
        assert!(Stream::Notice.is_kernel() && Stream::Log.is_kernel());
        assert!(!Stream::Stdout.is_kernel() && !Stream::Stderr.is_kernel());
    }

    #[test]
    fn debug_exit_codes() {
        assert_eq!(debug_exit_code(0x10), QEMU_TESTS_PASSED);
        assert_eq!(debug_exit_code(0x11), 35);
        assert_eq!(qemu_code_for_status(0), 1);
        assert_eq!(qemu_code_for_status(3), 7);
        assert_eq!(qemu_code_for_status(200), (((200 & 0x7f) << 1) | 1));
    }
}
