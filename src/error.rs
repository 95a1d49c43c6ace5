//! The CLI's one error type and the exit codes it maps to.
//!
//! Every failure that ends `isola` is an [`Error`]; `main` prints its message
//! (prefixed `isola:`) and exits with [`Error::exit_code`]. The codes follow
//! the GNU `timeout` convention for the two that scripts test for:
//! 124 = the guest timed out, 125 = isola itself failed.

use std::fmt;

/// Exit code for a command-line usage error or bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the guest did not finish within `--timeout`.
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code when isola itself failed (QEMU missing, build failed, KVM
/// unusable, kernel panic, no exit status from the guest).
pub const EXIT_FAILURE: i32 = 125;

/// Why `isola` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Bad command line: a one-line message, then the usage text.
    Usage(String),
    /// Bad input named on a well-formed command line (PROGRAM or an `--add`
    /// path missing or unreadable): a one-line message, exit code 2, nothing
    /// booted.
    Input(String),
    /// The guest ran past the host-side timeout and QEMU was killed.
    Timeout(String),
    /// isola's own failure.
    Failure(String),
    /// SIGINT or SIGTERM to isola, and the guest was killed (it did not end
    /// in time, or the signal came twice): exit code 128 + the signal, as a
    /// shell reports a process killed by it.
    Stopped { message: String, signal: i32 },
}

impl Error {
    /// A failure of isola itself (exit code 125).
    pub fn failure(msg: impl Into<String>) -> Self {
        Error::Failure(msg.into())
    }

    /// A usage error (exit code 2).
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// Bad input on a well-formed command line (exit code 2, no usage text).
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Input(_) => EXIT_USAGE,
            Error::Timeout(_) => EXIT_TIMEOUT,
            Error::Failure(_) => EXIT_FAILURE,
            Error::Stopped { signal, .. } => 128 + signal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg)
            | Error::Input(msg)
            | Error::Timeout(msg)
            | Error::Failure(msg)
            | Error::Stopped { message: msg, .. } => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::input("x").exit_code(), 2);
        assert_eq!(Error::Timeout("x".into()).exit_code(), 124);
        assert_eq!(Error::failure("x").exit_code(), 125);
        assert_eq!(Error::failure("boom").to_string(), "boom");
        assert_eq!(Error::Stopped { message: "x".into(), signal: 2 }.exit_code(), 130);
    }
}
