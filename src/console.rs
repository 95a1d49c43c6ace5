//! Reading the guest's serial console: the lines of the kernel contract.
//!
//! The kernel prints, among its log lines:
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

    #[test]
    fn debug_exit_codes() {
        assert_eq!(debug_exit_code(0x10), QEMU_TESTS_PASSED);
        assert_eq!(debug_exit_code(0x11), 35);
        assert_eq!(qemu_code_for_status(0), 1);
        assert_eq!(qemu_code_for_status(3), 7);
        assert_eq!(qemu_code_for_status(200), (((200 & 0x7f) << 1) | 1));
    }
}
