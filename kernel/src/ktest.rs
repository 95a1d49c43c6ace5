//! In-kernel tests: `ktest!` registers a test in the `.ktests` section; the
//! `ktest` kernel runs them all, prints `test NAME ... ok|FAILED|skipped`, a
//! summary line, and leaves QEMU with 0x10 (pass) or 0x11 (fail).

use alloc::string::String;

use crate::arch::{exit, section};
use crate::kprintln;
use crate::panic::{EXIT_FAILURE, EXIT_SUCCESS};

/// Why a test did not pass.
#[derive(Debug)]
#[cfg_attr(not(feature = "ktest"), allow(dead_code))] // only tests build them
pub enum TestError {
    Failed(String),
    /// Not run here, with the reason (never counted as passed).
    Skipped(&'static str),
}

/// What a test returns.
pub type TestResult = Result<(), TestError>;

/// One registered test.
#[repr(C)]
pub struct KTest {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// Fails the test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::ktest::TestError::Failed(alloc::format!($($arg)+)));
        }
    };
}

/// Runs every registered test and ends the VM with the verdict.
pub fn run_all() -> ! {
    let tests = section::ktests();
    kprintln!("running {} in-kernel tests", tests.len());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for test in tests {
        let name = test.name.strip_prefix("isola_kernel::").unwrap_or(test.name);
        match (test.run)() {
            Ok(()) => {
                passed += 1;
                kprintln!("test {name} ... ok");
            }
            Err(TestError::Failed(why)) => {
                failed += 1;
                kprintln!("test {name} ... FAILED: {why}");
            }
            Err(TestError::Skipped(reason)) => {
                skipped += 1;
                kprintln!("test {name} ... skipped ({reason})");
            }
        }
    }
    if skipped > 0 {
        kprintln!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        kprintln!("{passed} passed, {failed} failed");
    }
    exit::qemu_exit(if failed == 0 && passed > 0 { EXIT_SUCCESS } else { EXIT_FAILURE })
}
