//! The Linux x86-64 system call ABI, shared by the kernel and the test
//! programs of `userland/`. No kernel types live here.
//!
//! - [`Errno`] and return-value packing: a syscall returns in RAX either a
//!   non-negative value or `-errno`; values in `-4095..=-1` are errors
//!   ([`decode_return`], [`Errno::as_return`]).
//! - [`nr`]: the syscall numbers and names.
//! - [`args`]: typed arguments decoded at the border ([`OpenFlags`],
//!   [`MmapProt`], [`ClockId`], [`Signal`]...) and the ABI constants.
//! - [`layout`]: structures with their exact byte layout ([`Stat`],
//!   [`Timespec`], [`Termios`], [`KernelSigaction`], dirents...).
//! - [`ipc`]: SysV IPC's commands, flags and limits.
//! - [`signal_frame`]: the x86-64 `rt_sigframe` ([`SignalFrame`],
//!   [`SigContext`], [`SigInfo`]) a signal handler runs on.
//! - [`support`]: what Isola does with each call (`docs/syscalls.md`).
//! - [`time`]: user times validated (`EINVAL`) and converted to
//!   nanoseconds with saturation, deadlines, `alarm`'s rounding.
//! - [`trace`]: strace-style formatting for `--trace`.
//!
//! Everything is re-exported at the crate root.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use core::fmt;

pub mod args;
pub mod cmsg;
pub mod futex;
pub mod ipc;
pub mod layout;
pub mod net;
pub mod nr;
pub mod signal_frame;
pub mod support;
pub mod time;
pub mod trace;

pub use args::*;
pub use layout::*;
pub use signal_frame::*;
pub use time::{MAX_DURATION_NS, NANOS_PER_MICRO, NANOS_PER_MILLI, NANOS_PER_SEC};
pub use trace::{ArgKind, STRING_LIMIT, format_arg, format_call, format_result, signature};

/// Largest error number a syscall return can carry: returns in
/// `-MAX_ERRNO..=-1` are errors.
pub const MAX_ERRNO: usize = 4095;

macro_rules! errno_table {
    ($($name:ident = $value:literal => $message:literal,)*) => {
        /// A Linux error number (x86-64 values, `asm-generic/errno*.h`).
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        #[repr(i32)]
        pub enum Errno {
            $(
                #[doc = $message]
                $name = $value,
            )*
        }

        impl Errno {
            /// Every error number, in increasing order.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];

            /// The error with this number, or `None` if Linux has none.
            pub const fn from_raw(raw: i32) -> Option<Errno> {
                match raw {
                    $($value => Some(Errno::$name),)*
                    _ => None,
                }
            }

            /// The symbolic name, e.g. `"EFAULT"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                }
            }

            /// The message of `strerror`, e.g. `"Bad address"`.
            pub const fn message(self) -> &'static str {
                match self {
                    $(Errno::$name => $message,)*
                }
            }
        }
    };
}

errno_table! {
    EPERM = 1 => "Operation not permitted",
    ENOENT = 2 => "No such file or directory",
    ESRCH = 3 => "No such process",
    EINTR = 4 => "Interrupted system call",
    EIO = 5 => "Input/output error",
    ENXIO = 6 => "No such device or address",
    E2BIG = 7 => "Argument list too long",
    ENOEXEC = 8 => "Exec format error",
    EBADF = 9 => "Bad file descriptor",
    ECHILD = 10 => "No child processes",
    EAGAIN = 11 => "Resource temporarily unavailable",
    ENOMEM = 12 => "Cannot allocate memory",
    EACCES = 13 => "Permission denied",
    EFAULT = 14 => "Bad address",
    ENOTBLK = 15 => "Block device required",
    EBUSY = 16 => "Device or resource busy",
    EEXIST = 17 => "File exists",
    EXDEV = 18 => "Invalid cross-device link",
    ENODEV = 19 => "No such device",
    ENOTDIR = 20 => "Not a directory",
    EISDIR = 21 => "Is a directory",
    EINVAL = 22 => "Invalid argument",
    ENFILE = 23 => "Too many open files in system",
    EMFILE = 24 => "Too many open files",
    ENOTTY = 25 => "Inappropriate ioctl for device",
    ETXTBSY = 26 => "Text file busy",
    EFBIG = 27 => "File too large",
    ENOSPC = 28 => "No space left on device",
    ESPIPE = 29 => "Illegal seek",
    EROFS = 30 => "Read-only file system",
    EMLINK = 31 => "Too many links",
    EPIPE = 32 => "Broken pipe",
    EDOM = 33 => "Numerical argument out of domain",
    ERANGE = 34 => "Numerical result out of range",
    EDEADLK = 35 => "Resource deadlock avoided",
    ENAMETOOLONG = 36 => "File name too long",
    ENOLCK = 37 => "No locks available",
    ENOSYS = 38 => "Function not implemented",
    ENOTEMPTY = 39 => "Directory not empty",
    ELOOP = 40 => "Too many levels of symbolic links",
    ENOMSG = 42 => "No message of desired type",
    EIDRM = 43 => "Identifier removed",
    ECHRNG = 44 => "Channel number out of range",
    EL2NSYNC = 45 => "Level 2 not synchronized",
    EL3HLT = 46 => "Level 3 halted",
    EL3RST = 47 => "Level 3 reset",
    ELNRNG = 48 => "Link number out of range",
    EUNATCH = 49 => "Protocol driver not attached",
    ENOCSI = 50 => "No CSI structure available",
    EL2HLT = 51 => "Level 2 halted",
    EBADE = 52 => "Invalid exchange",
    EBADR = 53 => "Invalid request descriptor",
    EXFULL = 54 => "Exchange full",
    ENOANO = 55 => "No anode",
    EBADRQC = 56 => "Invalid request code",
    EBADSLT = 57 => "Invalid slot",
    EBFONT = 59 => "Bad font file format",
    ENOSTR = 60 => "Device not a stream",
    ENODATA = 61 => "No data available",
    ETIME = 62 => "Timer expired",
    ENOSR = 63 => "Out of streams resources",
    ENONET = 64 => "Machine is not on the network",
    ENOPKG = 65 => "Package not installed",
    EREMOTE = 66 => "Object is remote",
    ENOLINK = 67 => "Link has been severed",
    EADV = 68 => "Advertise error",
    ESRMNT = 69 => "Srmount error",
    ECOMM = 70 => "Communication error on send",
    EPROTO = 71 => "Protocol error",
    EMULTIHOP = 72 => "Multihop attempted",
    EDOTDOT = 73 => "RFS specific error",
    EBADMSG = 74 => "Bad message",
    EOVERFLOW = 75 => "Value too large for defined data type",
    ENOTUNIQ = 76 => "Name not unique on network",
    EBADFD = 77 => "File descriptor in bad state",
    EREMCHG = 78 => "Remote address changed",
    ELIBACC = 79 => "Can not access a needed shared library",
    ELIBBAD = 80 => "Accessing a corrupted shared library",
    ELIBSCN = 81 => ".lib section in a.out corrupted",
    ELIBMAX = 82 => "Attempting to link in too many shared libraries",
    ELIBEXEC = 83 => "Cannot exec a shared library directly",
    EILSEQ = 84 => "Invalid or incomplete multibyte or wide character",
    ERESTART = 85 => "Interrupted system call should be restarted",
    ESTRPIPE = 86 => "Streams pipe error",
    EUSERS = 87 => "Too many users",
    ENOTSOCK = 88 => "Socket operation on non-socket",
    EDESTADDRREQ = 89 => "Destination address required",
    EMSGSIZE = 90 => "Message too long",
    EPROTOTYPE = 91 => "Protocol wrong type for socket",
    ENOPROTOOPT = 92 => "Protocol not available",
    EPROTONOSUPPORT = 93 => "Protocol not supported",
    ESOCKTNOSUPPORT = 94 => "Socket type not supported",
    EOPNOTSUPP = 95 => "Operation not supported",
    EPFNOSUPPORT = 96 => "Protocol family not supported",
    EAFNOSUPPORT = 97 => "Address family not supported by protocol",
    EADDRINUSE = 98 => "Address already in use",
    EADDRNOTAVAIL = 99 => "Cannot assign requested address",
    ENETDOWN = 100 => "Network is down",
    ENETUNREACH = 101 => "Network is unreachable",
    ENETRESET = 102 => "Network dropped connection on reset",
    ECONNABORTED = 103 => "Software caused connection abort",
    ECONNRESET = 104 => "Connection reset by peer",
    ENOBUFS = 105 => "No buffer space available",
    EISCONN = 106 => "Transport endpoint is already connected",
    ENOTCONN = 107 => "Transport endpoint is not connected",
    ESHUTDOWN = 108 => "Cannot send after transport endpoint shutdown",
    ETOOMANYREFS = 109 => "Too many references: cannot splice",
    ETIMEDOUT = 110 => "Connection timed out",
    ECONNREFUSED = 111 => "Connection refused",
    EHOSTDOWN = 112 => "Host is down",
    EHOSTUNREACH = 113 => "No route to host",
    EALREADY = 114 => "Operation already in progress",
    EINPROGRESS = 115 => "Operation now in progress",
    ESTALE = 116 => "Stale file handle",
    EUCLEAN = 117 => "Structure needs cleaning",
    ENOTNAM = 118 => "Not a XENIX named type file",
    ENAVAIL = 119 => "No XENIX semaphores available",
    EISNAM = 120 => "Is a named type file",
    EREMOTEIO = 121 => "Remote I/O error",
    EDQUOT = 122 => "Disk quota exceeded",
    ENOMEDIUM = 123 => "No medium found",
    EMEDIUMTYPE = 124 => "Wrong medium type",
    ECANCELED = 125 => "Operation canceled",
    ENOKEY = 126 => "Required key not available",
    EKEYEXPIRED = 127 => "Key has expired",
    EKEYREVOKED = 128 => "Key has been revoked",
    EKEYREJECTED = 129 => "Key was rejected by service",
    EOWNERDEAD = 130 => "Owner died",
    ENOTRECOVERABLE = 131 => "State not recoverable",
    ERFKILL = 132 => "Operation not possible due to RF-kill",
    EHWPOISON = 133 => "Memory page has hardware error",
}

impl Errno {
    /// Alias of [`Errno::EAGAIN`].
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
    /// Alias of [`Errno::EDEADLK`].
    pub const EDEADLOCK: Errno = Errno::EDEADLK;
    /// Alias of [`Errno::EOPNOTSUPP`].
    pub const ENOTSUP: Errno = Errno::EOPNOTSUPP;

    /// The error number, e.g. 14 for `EFAULT`.
    pub const fn raw(self) -> i32 {
        self as i32
    }

    /// The value a failing syscall returns in RAX: `-errno`.
    pub const fn as_return(self) -> isize {
        -(self as i32 as isize)
    }
}

impl fmt::Display for Errno {
    /// `EFAULT (Bad address)`, as strace prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.message())
    }
}

impl core::error::Error for Errno {}

impl From<Errno> for i32 {
    fn from(errno: Errno) -> i32 {
        errno.raw()
    }
}

/// The error number of a raw syscall return, if it is one: `Some(n)` for
/// `raw` in `-4095..=-1` (even when Linux has no name for `n`), else `None`.
pub const fn error_number(raw: isize) -> Option<i32> {
    if raw < 0 && raw >= -(MAX_ERRNO as isize) { Some(-raw as i32) } else { None }
}

/// Splits a raw syscall return: values in `-4095..=-1` are errors, anything
/// else is a result (a large unsigned value such as an `mmap` address in the
/// upper half comes back as `Ok`). An error number Linux has no name for
/// decodes as [`Errno::EINVAL`]; use [`error_number`] to see it.
pub const fn decode_return(raw: isize) -> Result<usize, Errno> {
    match error_number(raw) {
        Some(n) => match Errno::from_raw(n) {
            Some(errno) => Err(errno),
            None => Err(Errno::EINVAL),
        },
        None => Ok(raw as usize),
    }
}

/// Packs a handler's result into the value returned in RAX.
pub const fn encode_return(result: Result<usize, Errno>) -> isize {
    match result {
        Ok(value) => value as isize,
        Err(errno) => errno.as_return(),
    }
}

#[cfg(test)]
mod tests;
