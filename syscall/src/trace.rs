//! Strace-style formatting for `--trace`: one line per syscall,
//! `openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3`.
//!
//! The kernel writes its own prefix (`[pid 1 key 1] `), then the call with
//! [`format_call`] (or [`format_arg`] per argument, using [`signature`]),
//! then `" "` and [`format_result`]. The kernel copies strings in: for a
//! [`ArgKind::CStr`] or [`ArgKind::Buf`] argument it may pass the first
//! bytes (up to [`STRING_LIMIT`] + 1, so that truncation shows).

use core::fmt::{self, Write};

use crate::{
    ArchPrctl, ClockId, CloneFlags, Errno, FcntlCmd, Resource, Signal, SigprocmaskHow, Whence, error_number,
    ioctl_name, nr,
};

/// Bytes of a string argument printed before `...`.
pub const STRING_LIMIT: usize = 64;

/// How to print one syscall argument.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ArgKind {
    /// Signed decimal (`i64`).
    Int,
    /// Unsigned decimal.
    Uint,
    /// `0x` hexadecimal.
    Hex,
    /// A pointer: `NULL` or `0x...`.
    Ptr,
    /// A file descriptor (`i32`).
    Fd,
    /// A directory fd: `AT_FDCWD` or the fd.
    DirFd,
    /// A NUL-terminated string: quoted if the kernel passes its bytes, else
    /// the pointer.
    CStr,
    /// A buffer: the pointer, or quoted bytes if the kernel passes them.
    Buf,
    /// A length (unsigned decimal).
    Len,
    /// `open` flags: `O_RDONLY|O_CLOEXEC`.
    OpenFlags,
    /// A file mode, octal (`0644`).
    Mode,
    /// `PROT_READ|PROT_WRITE`.
    MmapProt,
    /// `MAP_PRIVATE|MAP_ANONYMOUS`.
    MmapFlags,
    /// `CLOCK_MONOTONIC`.
    ClockId,
    /// `SEEK_SET`.
    Whence,
    /// `ARCH_SET_FS`.
    ArchPrctl,
    /// `F_SETFD`.
    Fcntl,
    /// `TCGETS`.
    Ioctl,
    /// `SIGCHLD` (0 prints as `0`).
    Signal,
    /// `SIG_BLOCK`.
    SigHow,
    /// `RLIMIT_NOFILE`.
    Resource,
    /// `AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH`.
    AtFlags,
    /// `access` mode: `F_OK` or `R_OK|W_OK|X_OK`.
    Access,
    /// `wait4` options: `WNOHANG|WUNTRACED`.
    WaitOptions,
    /// `getrandom` flags: `GRND_NONBLOCK`.
    GetrandomFlags,
    /// `clone` flags: `CLONE_VM|...|SIGCHLD`.
    CloneFlags,
}

/// The argument kinds of syscall `nr`, or `None` for a call this table does
/// not describe (print its six raw arguments in hex).
pub fn signature(nr: u64) -> Option<&'static [ArgKind]> {
    use ArgKind::*;
    Some(match nr {
        nr::READ | nr::WRITE => &[Fd, Buf, Len],
        nr::READV | nr::WRITEV => &[Fd, Ptr, Int],
        nr::PREAD64 | nr::PWRITE64 => &[Fd, Buf, Len, Int],
        nr::OPEN => &[CStr, OpenFlags, Mode],
        nr::OPENAT => &[DirFd, CStr, OpenFlags, Mode],
        nr::CREAT => &[CStr, Mode],
        nr::CLOSE => &[Fd],
        nr::LSEEK => &[Fd, Int, Whence],
        nr::FSTAT => &[Fd, Ptr],
        nr::STAT | nr::LSTAT => &[CStr, Ptr],
        nr::NEWFSTATAT => &[DirFd, CStr, Ptr, AtFlags],
        nr::STATX => &[DirFd, CStr, AtFlags, Hex, Ptr],
        nr::GETDENTS64 | nr::GETDENTS => &[Fd, Ptr, Len],
        nr::IOCTL => &[Fd, Ioctl, Hex],
        nr::FCNTL => &[Fd, Fcntl, Hex],
        nr::ACCESS => &[CStr, Access],
        nr::FACCESSAT => &[DirFd, CStr, Access],
        nr::FACCESSAT2 => &[DirFd, CStr, Access, AtFlags],
        nr::GETCWD => &[Buf, Len],
        nr::CHDIR | nr::RMDIR | nr::UNLINK | nr::CHROOT => &[CStr],
        nr::FCHDIR | nr::FSYNC | nr::FDATASYNC => &[Fd],
        nr::MKDIR | nr::CHMOD => &[CStr, Mode],
        nr::MKDIRAT => &[DirFd, CStr, Mode],
        nr::MKNOD => &[CStr, Mode, Hex],
        nr::MKNODAT => &[DirFd, CStr, Mode, Hex],
        nr::FCHMOD => &[Fd, Mode],
        nr::FCHMODAT => &[DirFd, CStr, Mode],
        nr::UNLINKAT => &[DirFd, CStr, AtFlags],
        nr::RENAME | nr::LINK | nr::SYMLINK => &[CStr, CStr],
        nr::RENAMEAT => &[DirFd, CStr, DirFd, CStr],
        nr::READLINK => &[CStr, Buf, Len],
        nr::READLINKAT => &[DirFd, CStr, Buf, Len],
        nr::TRUNCATE => &[CStr, Int],
        nr::FTRUNCATE => &[Fd, Int],
        nr::BRK => &[Ptr],
        nr::MMAP => &[Ptr, Len, MmapProt, MmapFlags, Fd, Hex],
        nr::MUNMAP => &[Ptr, Len],
        nr::MPROTECT => &[Ptr, Len, MmapProt],
        nr::MADVISE => &[Ptr, Len, Int],
        nr::MSYNC => &[Ptr, Len, Hex],
        nr::FALLOCATE => &[Fd, Hex, Int, Int],
        nr::MREMAP => &[Ptr, Len, Len, Hex, Ptr],
        nr::SHMGET => &[Hex, Len, Hex],
        nr::SHMAT => &[Int, Ptr, Hex],
        nr::SHMDT => &[Ptr],
        nr::SHMCTL => &[Int, Int, Ptr],
        nr::SEMGET => &[Hex, Int, Hex],
        nr::SEMOP => &[Int, Ptr, Int],
        nr::SEMTIMEDOP => &[Int, Ptr, Int, Ptr],
        nr::SEMCTL => &[Int, Int, Int, Hex],
        nr::ARCH_PRCTL => &[ArchPrctl, Hex],
        nr::SET_TID_ADDRESS => &[Ptr],
        nr::EXIT | nr::EXIT_GROUP => &[Int],
        nr::GETPID
        | nr::GETPPID
        | nr::GETTID
        | nr::GETUID
        | nr::GETEUID
        | nr::GETGID
        | nr::GETEGID
        | nr::SCHED_YIELD
        | nr::FORK
        | nr::VFORK
        | nr::GETPGRP
        | nr::SETSID
        | nr::PAUSE
        | nr::SYNC
        | nr::RT_SIGRETURN => &[],
        nr::UNAME | nr::SYSINFO | nr::TIME | nr::PIPE | nr::TIMES => &[Ptr],
        nr::CLOCK_GETTIME | nr::CLOCK_GETRES | nr::CLOCK_SETTIME => &[ClockId, Ptr],
        nr::GETTIMEOFDAY | nr::SETTIMEOFDAY | nr::NANOSLEEP => &[Ptr, Ptr],
        nr::GETCPU => &[Ptr, Ptr, Ptr],
        nr::CLOCK_NANOSLEEP => &[ClockId, Int, Ptr, Ptr],
        nr::GETRANDOM => &[Buf, Len, GetrandomFlags],
        nr::RT_SIGACTION => &[Signal, Ptr, Ptr, Len],
        nr::RT_SIGPROCMASK => &[SigHow, Ptr, Ptr, Len],
        nr::RT_SIGSUSPEND => &[Ptr, Len],
        nr::RT_SIGTIMEDWAIT => &[Ptr, Ptr, Ptr, Len],
        nr::SIGALTSTACK => &[Ptr, Ptr],
        nr::PRLIMIT64 => &[Int, Resource, Ptr, Ptr],
        nr::GETRLIMIT | nr::SETRLIMIT => &[Resource, Ptr],
        nr::GETRUSAGE => &[Int, Ptr],
        nr::DUP => &[Fd],
        nr::DUP2 => &[Fd, Fd],
        nr::DUP3 => &[Fd, Fd, OpenFlags],
        nr::PIPE2 => &[Ptr, OpenFlags],
        nr::WAIT4 => &[Int, Ptr, WaitOptions, Ptr],
        nr::KILL => &[Int, Signal],
        nr::TKILL => &[Int, Signal],
        nr::TGKILL => &[Int, Int, Signal],
        nr::EXECVE => &[CStr, Ptr, Ptr],
        nr::CLONE => &[CloneFlags, Ptr, Ptr, Ptr, Hex],
        nr::SET_ROBUST_LIST => &[Ptr, Len],
        nr::RSEQ => &[Ptr, Len, Int, Hex],
        nr::PRCTL => &[Int, Hex, Hex, Hex, Hex],
        nr::UMASK => &[Mode],
        nr::SETPGID => &[Int, Int],
        nr::GETPGID | nr::GETSID => &[Int],
        nr::FUTEX => &[Ptr, Int, Int, Ptr, Ptr, Int],
        nr::POLL => &[Ptr, Uint, Int],
        nr::SETUID | nr::SETGID | nr::SETFSUID | nr::SETFSGID => &[Uint],
        nr::SETREUID | nr::SETREGID => &[Uint, Uint],
        nr::SETRESUID | nr::SETRESGID => &[Uint, Uint, Uint],
        nr::GETRESUID | nr::GETRESGID => &[Ptr, Ptr, Ptr],
        nr::LINKAT => &[DirFd, CStr, DirFd, CStr, AtFlags],
        nr::CLOSE_RANGE => &[Uint, Uint, Hex],
        nr::PREADV | nr::PWRITEV => &[Fd, Ptr, Int, Int],
        nr::PREADV2 | nr::PWRITEV2 => &[Fd, Ptr, Int, Int, Int, Hex],
        _ => return None,
    })
}

/// Writes `bytes` quoted with C escapes, at most [`STRING_LIMIT`] of them,
/// then `...` if there were more.
fn write_quoted(out: &mut dyn Write, bytes: &[u8]) -> fmt::Result {
    out.write_char('"')?;
    for &byte in bytes.iter().take(STRING_LIMIT) {
        match byte {
            b'"' => out.write_str("\\\"")?,
            b'\\' => out.write_str("\\\\")?,
            b'\n' => out.write_str("\\n")?,
            b'\t' => out.write_str("\\t")?,
            b'\r' => out.write_str("\\r")?,
            0x0b => out.write_str("\\v")?,
            0x0c => out.write_str("\\f")?,
            0x20..=0x7e => out.write_char(byte as char)?,
            _ => write!(out, "\\{byte:o}")?,
        }
    }
    out.write_char('"')?;
    if bytes.len() > STRING_LIMIT {
        out.write_str("...")?;
    }
    Ok(())
}

fn write_ptr(out: &mut dyn Write, value: u64) -> fmt::Result {
    if value == 0 { out.write_str("NULL") } else { write!(out, "{value:#x}") }
}

/// Writes the names of the bits of `value` found in `table` (in table
/// order, each entry's bits consumed once), joined by `|`, then any bits
/// left as hex. Writes nothing if `value` is 0 and returns whether anything
/// was written; `first` says no `|` is needed before the first name.
fn write_bits(out: &mut dyn Write, value: u64, table: &[(u64, &str)], mut first: bool) -> Result<bool, fmt::Error> {
    let mut rest = value;
    for &(bits, name) in table {
        if bits != 0 && rest & bits == bits {
            if !first {
                out.write_char('|')?;
            }
            out.write_str(name)?;
            first = false;
            rest &= !bits;
        }
    }
    if rest != 0 {
        if !first {
            out.write_char('|')?;
        }
        write!(out, "{rest:#x}")?;
        first = false;
    }
    Ok(!first)
}

const OPEN_FLAG_NAMES: &[(u64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o20200000, "O_TMPFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "__O_TMPFILE"),
];

const PROT_NAMES: &[(u64, &str)] = &[
    (0x1, "PROT_READ"),
    (0x2, "PROT_WRITE"),
    (0x4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];

const MAP_FLAG_NAMES: &[(u64, &str)] = &[
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
    (0x4000000, "MAP_UNINITIALIZED"),
];

const AT_FLAG_NAMES: &[(u64, &str)] = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x2000, "AT_STATX_FORCE_SYNC"),
    (0x4000, "AT_STATX_DONT_SYNC"),
];

const ACCESS_NAMES: &[(u64, &str)] = &[(4, "R_OK"), (2, "W_OK"), (1, "X_OK")];

const WAIT_NAMES: &[(u64, &str)] = &[
    (0x1, "WNOHANG"),
    (0x2, "WUNTRACED"),
    (0x4, "WEXITED"),
    (0x8, "WCONTINUED"),
    (0x0100_0000, "WNOWAIT"),
    (0x2000_0000, "__WNOTHREAD"),
    (0x4000_0000, "__WALL"),
    (0x8000_0000, "__WCLONE"),
];

const GRND_NAMES: &[(u64, &str)] = &[(0x1, "GRND_NONBLOCK"), (0x2, "GRND_RANDOM"), (0x4, "GRND_INSECURE")];

const CLONE_NAMES: &[(u64, &str)] = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x0100_0000, "CLONE_CHILD_SETTID"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x4000_0000, "CLONE_NEWNET"),
    (0x8000_0000, "CLONE_IO"),
];

/// Flags printed as `0` when empty.
fn write_flags(out: &mut dyn Write, value: u64, table: &[(u64, &str)]) -> fmt::Result {
    if !write_bits(out, value, table, true)? {
        out.write_char('0')?;
    }
    Ok(())
}

/// A name if `name` has one, else the fallback number.
fn write_name_or(
    out: &mut dyn Write,
    name: Option<&str>,
    fallback: impl FnOnce(&mut dyn Write) -> fmt::Result,
) -> fmt::Result {
    match name {
        Some(name) => out.write_str(name),
        None => fallback(out),
    }
}

/// Writes one argument. `value` is the raw register; `cstr` the bytes the
/// kernel copied for a `CStr` or `Buf` argument (without the NUL; pass up to
/// [`STRING_LIMIT`] + 1 bytes so that truncation shows as `...`), or `None`
/// to print the pointer.
pub fn format_arg(out: &mut dyn Write, kind: ArgKind, value: u64, cstr: Option<&[u8]>) -> fmt::Result {
    let int = value as u32 as i32;
    match kind {
        ArgKind::Int => write!(out, "{}", value as i64),
        ArgKind::Uint | ArgKind::Len => write!(out, "{value}"),
        ArgKind::Hex => write!(out, "{value:#x}"),
        ArgKind::Ptr => write_ptr(out, value),
        ArgKind::Fd => write!(out, "{int}"),
        ArgKind::DirFd => {
            if int == crate::AT_FDCWD {
                out.write_str("AT_FDCWD")
            } else {
                write!(out, "{int}")
            }
        }
        ArgKind::CStr | ArgKind::Buf => match cstr {
            Some(bytes) => write_quoted(out, bytes),
            None => write_ptr(out, value),
        },
        ArgKind::OpenFlags => {
            let flags = value & 0xffff_ffff;
            out.write_str(match flags & 3 {
                0 => "O_RDONLY",
                1 => "O_WRONLY",
                2 => "O_RDWR",
                _ => "O_ACCMODE",
            })?;
            write_bits(out, flags & !3, OPEN_FLAG_NAMES, false)?;
            Ok(())
        }
        ArgKind::Mode => {
            let mode = value & 0xffff_ffff;
            if mode == 0 { out.write_str("000") } else { write!(out, "0{mode:02o}") }
        }
        ArgKind::MmapProt => {
            if !write_bits(out, value, PROT_NAMES, true)? {
                out.write_str("PROT_NONE")?;
            }
            Ok(())
        }
        ArgKind::MmapFlags => {
            let flags = value & 0xffff_ffff;
            let kind = flags & 0xf;
            let first = match kind {
                0 => true,
                1 => out.write_str("MAP_SHARED").map(|()| false)?,
                2 => out.write_str("MAP_PRIVATE").map(|()| false)?,
                3 => out.write_str("MAP_SHARED_VALIDATE").map(|()| false)?,
                other => write!(out, "{other:#x}").map(|()| false)?,
            };
            if !write_bits(out, flags & !0xf, MAP_FLAG_NAMES, first)? && first {
                out.write_char('0')?;
            }
            Ok(())
        }
        ArgKind::ClockId => {
            write_name_or(out, ClockId::from_raw(value).ok().map(ClockId::name), |out| write!(out, "{int}"))
        }
        ArgKind::Whence => {
            write_name_or(out, Whence::from_raw(value).ok().map(Whence::name), |out| write!(out, "{int}"))
        }
        ArgKind::ArchPrctl => write_name_or(out, ArchPrctl::from_raw(value).ok().map(ArchPrctl::name), |out| {
            write!(out, "{:#x}", value as u32)
        }),
        ArgKind::Fcntl => {
            write_name_or(out, FcntlCmd::from_raw(value).ok().map(FcntlCmd::name), |out| write!(out, "{int}"))
        }
        ArgKind::Ioctl => write_name_or(out, ioctl_name(value as u32), |out| write!(out, "{:#x}", value as u32)),
        ArgKind::Signal => {
            write_name_or(out, Signal::from_raw(value).ok().map(Signal::name), |out| write!(out, "{int}"))
        }
        ArgKind::SigHow => write_name_or(out, SigprocmaskHow::from_raw(value).ok().map(SigprocmaskHow::name), |out| {
            write!(out, "{int}")
        }),
        ArgKind::Resource => {
            write_name_or(out, Resource::from_raw(value).ok().map(Resource::name), |out| write!(out, "{int}"))
        }
        ArgKind::AtFlags => write_flags(out, value & 0xffff_ffff, AT_FLAG_NAMES),
        ArgKind::Access => {
            if !write_bits(out, value & 0xffff_ffff, ACCESS_NAMES, true)? {
                out.write_str("F_OK")?;
            }
            Ok(())
        }
        ArgKind::WaitOptions => write_flags(out, value & 0xffff_ffff, WAIT_NAMES),
        ArgKind::GetrandomFlags => write_flags(out, value & 0xffff_ffff, GRND_NAMES),
        ArgKind::CloneFlags => {
            let known = CloneFlags::from_bits_truncate(value).bits();
            let mut first = !write_bits(out, known, CLONE_NAMES, true)?;
            let signal = value & crate::CSIGNAL;
            if signal != 0 {
                if !first {
                    out.write_char('|')?;
                }
                match Signal::new(signal as u32) {
                    Some(signal) => out.write_str(signal.name())?,
                    None => write!(out, "{signal}")?,
                }
                first = false;
            }
            let rest = value & !known & !crate::CSIGNAL;
            if rest != 0 {
                if !first {
                    out.write_char('|')?;
                }
                write!(out, "{rest:#x}")?;
                first = false;
            }
            if first {
                out.write_char('0')?;
            }
            Ok(())
        }
    }
}

/// Writes `name(args)` for syscall `nr`: the arguments of its
/// [`signature`] (as strace, `open`/`openat` show the mode only with
/// `O_CREAT` or `O_TMPFILE`), or all six in hex if it has none; an unknown number
/// prints as `syscall_0x1bf(...)`. `strings[i]` are the bytes copied for
/// argument `i` (see [`format_arg`]).
pub fn format_call(out: &mut dyn Write, nr: u64, args: &[u64; 6], strings: &[Option<&[u8]>; 6]) -> fmt::Result {
    match nr::name(nr) {
        Some(name) => out.write_str(name)?,
        None => write!(out, "syscall_{nr:#x}")?,
    }
    out.write_char('(')?;
    match signature(nr) {
        Some(kinds) => {
            for (i, &kind) in kinds.iter().take(shown_args(nr, args, kinds.len())).enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                format_arg(out, kind, args[i], strings[i])?;
            }
        }
        None => {
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                write!(out, "{arg:#x}")?;
            }
        }
    }
    out.write_char(')')
}

/// How many of the `count` arguments of the signature strace shows: the
/// mode of `open`/`openat` only with `O_CREAT` or `O_TMPFILE`.
fn shown_args(nr: u64, args: &[u64; 6], count: usize) -> usize {
    let flags = match nr {
        nr::OPEN => args[1],
        nr::OPENAT => args[2],
        _ => return count,
    };
    let needs_mode = crate::OpenFlags::O_CREAT.bits() | crate::OpenFlags::__O_TMPFILE.bits();
    if flags as u32 & needs_mode == 0 { count - 1 } else { count }
}

/// Does syscall `nr` return an address (printed in hex)?
pub fn returns_address(nr: u64) -> bool {
    matches!(nr, nr::MMAP | nr::BRK | nr::MREMAP | nr::SHMAT)
}

/// Writes the result: `= 3`, `= 0x7f12345000` for an address-returning
/// call (mmap, brk, mremap, shmat), `= -1 ENOENT (No such file or
/// directory)` for an error (`raw` in `-4095..=-1`).
pub fn format_result(out: &mut dyn Write, nr: u64, raw: i64) -> fmt::Result {
    match error_number(raw as isize) {
        Some(n) => match Errno::from_raw(n) {
            Some(errno) => write!(out, "= -1 {} ({})", errno.name(), errno.message()),
            None => write!(out, "= -1 E{n} (Unknown error {n})"),
        },
        None if returns_address(nr) => write!(out, "= {:#x}", raw as u64),
        None => write!(out, "= {raw}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(kind: ArgKind, value: u64) -> String {
        let mut out = String::new();
        format_arg(&mut out, kind, value, None).unwrap();
        out
    }

    fn call(nr: u64, args: [u64; 6], strings: [Option<&[u8]>; 6], raw: i64) -> String {
        let mut out = String::new();
        format_call(&mut out, nr, &args, &strings).unwrap();
        out.push(' ');
        format_result(&mut out, nr, raw).unwrap();
        out
    }

    #[test]
    fn whole_lines() {
        assert_eq!(
            call(
                nr::OPENAT,
                [(-100i64) as u64, 0x1000, 0o2000000, 0, 0, 0],
                [None, Some(b"/etc/passwd"), None, None, None, None],
                3
            ),
            r#"openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3"#
        );
        assert_eq!(
            call(nr::OPENAT, [5, 0x1000, 0o1101, 0o644, 0, 0], [None, Some(b"out.txt"), None, None, None, None], -2),
            r#"openat(5, "out.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 ENOENT (No such file or directory)"#
        );
        assert_eq!(
            call(nr::MMAP, [0, 8192, 3, 0x22, u64::MAX, 0], [None; 6], 0x7f12_3456_7000),
            "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x0) = 0x7f1234567000"
        );
        assert_eq!(call(nr::BRK, [0; 6], [None; 6], 0x4c_d000), "brk(NULL) = 0x4cd000");
        assert_eq!(
            call(nr::WRITE, [1, 0x4000, 6, 0, 0, 0], [None, Some(b"hello\n"), None, None, None, None], 6),
            r#"write(1, "hello\n", 6) = 6"#
        );
        assert_eq!(
            call(nr::READ, [0, 0x4000, 4096, 0, 0, 0], [None; 6], -11),
            "read(0, 0x4000, 4096) = -1 EAGAIN (Resource temporarily unavailable)"
        );
        assert_eq!(call(nr::GETPID, [7; 6], [None; 6], 1), "getpid() = 1");
        assert_eq!(
            call(nr::ARCH_PRCTL, [0x1002, 0x4d_8380, 0, 0, 0, 0], [None; 6], 0),
            "arch_prctl(ARCH_SET_FS, 0x4d8380) = 0"
        );
        assert_eq!(
            call(nr::RT_SIGPROCMASK, [0, 0x7ffe_0000, 0, 8, 0, 0], [None; 6], 0),
            "rt_sigprocmask(SIG_BLOCK, 0x7ffe0000, NULL, 8) = 0"
        );
        assert_eq!(
            call(nr::NEWFSTATAT, [3, 0x1000, 0x2000, 0x1000, 0, 0], [None, Some(b""), None, None, None, None], 0),
            r#"newfstatat(3, "", 0x2000, AT_EMPTY_PATH) = 0"#
        );
        assert_eq!(
            call(nr::CLOCK_GETTIME, [1, 0x10, 0, 0, 0, 0], [None; 6], 0),
            "clock_gettime(CLOCK_MONOTONIC, 0x10) = 0"
        );
        assert_eq!(
            call(nr::IOCTL, [1, 0x5401, 0x7ff0, 0, 0, 0], [None; 6], -25),
            "ioctl(1, TCGETS, 0x7ff0) = -1 ENOTTY (Inappropriate ioctl for device)"
        );
        assert_eq!(call(nr::WAIT4, [u64::MAX, 0x100, 1, 0, 0, 0], [None; 6], 0), "wait4(-1, 0x100, WNOHANG, NULL) = 0");
        assert_eq!(call(nr::KILL, [12, 15, 0, 0, 0, 0], [None; 6], 0), "kill(12, SIGTERM) = 0");
        assert_eq!(
            call(nr::CLONE, [0x0120_0011, 0, 0, 0x4000, 0, 0], [None; 6], 2),
            "clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x4000, 0x0) = 2"
        );
        assert_eq!(
            call(nr::PRLIMIT64, [0, 7, 0, 0x50, 0, 0], [None; 6], 0),
            "prlimit64(0, RLIMIT_NOFILE, NULL, 0x50) = 0"
        );
        assert_eq!(
            call(nr::ACCESS, [0x10, 4, 0, 0, 0, 0], [Some(b"/etc/ld.so.preload"), None, None, None, None, None], -2),
            r#"access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)"#
        );
        assert_eq!(
            call(nr::UNLINKAT, [(-100i64) as u64, 1, 0x200, 0, 0, 0], [None, Some(b"d"), None, None, None, None], 0),
            r#"unlinkat(AT_FDCWD, "d", AT_REMOVEDIR) = 0"#
        );
        assert_eq!(call(nr::LSEEK, [3, (-1i64) as u64, 1, 0, 0, 0], [None; 6], 99), "lseek(3, -1, SEEK_CUR) = 99");
        assert_eq!(call(nr::UMASK, [0o22, 0, 0, 0, 0, 0], [None; 6], 0o22), "umask(022) = 18");
        assert_eq!(
            call(nr::EXECVE, [0x10, 0x20, 0x30, 0, 0, 0], [Some(b"/bin/sh"), None, None, None, None, None], 0),
            r#"execve("/bin/sh", 0x20, 0x30) = 0"#
        );
        assert_eq!(
            call(nr::GETRANDOM, [0x10, 16, 1, 0, 0, 0], [None; 6], 16),
            "getrandom(0x10, 16, GRND_NONBLOCK) = 16"
        );
    }

    #[test]
    fn unknown_calls_print_raw_arguments() {
        assert_eq!(
            call(nr::SOCKET, [2, 1, 0, 0, 0, 0], [None; 6], -97),
            "socket(0x2, 0x1, 0x0, 0x0, 0x0, 0x0) = -1 EAFNOSUPPORT (Address family not supported by protocol)"
        );
        assert_eq!(
            call(999, [1, 2, 3, 4, 5, 6], [None; 6], -38),
            "syscall_0x3e7(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 ENOSYS (Function not implemented)"
        );
        assert_eq!(signature(999), None);
        assert_eq!(signature(nr::SOCKET), None);
    }

    #[test]
    fn every_required_call_has_a_signature() {
        let required = [
            nr::READ,
            nr::WRITE,
            nr::READV,
            nr::WRITEV,
            nr::PREAD64,
            nr::PWRITE64,
            nr::OPEN,
            nr::OPENAT,
            nr::CLOSE,
            nr::LSEEK,
            nr::FSTAT,
            nr::STAT,
            nr::LSTAT,
            nr::NEWFSTATAT,
            nr::GETDENTS64,
            nr::IOCTL,
            nr::FCNTL,
            nr::ACCESS,
            nr::FACCESSAT,
            nr::GETCWD,
            nr::CHDIR,
            nr::MKDIR,
            nr::MKDIRAT,
            nr::UNLINK,
            nr::UNLINKAT,
            nr::RMDIR,
            nr::READLINK,
            nr::READLINKAT,
            nr::BRK,
            nr::MMAP,
            nr::MUNMAP,
            nr::MPROTECT,
            nr::ARCH_PRCTL,
            nr::SET_TID_ADDRESS,
            nr::EXIT,
            nr::EXIT_GROUP,
            nr::GETPID,
            nr::GETPPID,
            nr::GETTID,
            nr::GETUID,
            nr::GETEUID,
            nr::GETGID,
            nr::GETEGID,
            nr::UNAME,
            nr::CLOCK_GETTIME,
            nr::GETTIMEOFDAY,
            nr::NANOSLEEP,
            nr::CLOCK_NANOSLEEP,
            nr::GETRANDOM,
            nr::RT_SIGACTION,
            nr::RT_SIGPROCMASK,
            nr::PRLIMIT64,
            nr::SCHED_YIELD,
            nr::DUP,
            nr::DUP2,
            nr::DUP3,
            nr::PIPE,
            nr::PIPE2,
            nr::WAIT4,
            nr::KILL,
            nr::EXECVE,
            nr::FORK,
            nr::VFORK,
            nr::CLONE,
            nr::SET_ROBUST_LIST,
            nr::RSEQ,
            nr::PRCTL,
            nr::TIME,
            nr::SYSINFO,
            nr::UMASK,
            nr::GETPGRP,
            nr::SETPGID,
            nr::GETPGID,
            nr::SETSID,
            nr::GETSID,
        ];
        for nr in required {
            let kinds = signature(nr).unwrap_or_else(|| panic!("{:?}", nr::name(nr)));
            assert!(kinds.len() <= 6);
        }
        assert_eq!(
            signature(nr::OPENAT),
            Some(&[ArgKind::DirFd, ArgKind::CStr, ArgKind::OpenFlags, ArgKind::Mode][..])
        );
    }

    #[test]
    fn numbers_and_pointers() {
        assert_eq!(arg(ArgKind::Int, (-5i64) as u64), "-5");
        assert_eq!(arg(ArgKind::Uint, u64::MAX), "18446744073709551615");
        assert_eq!(arg(ArgKind::Hex, 255), "0xff");
        assert_eq!(arg(ArgKind::Ptr, 0), "NULL");
        assert_eq!(arg(ArgKind::Ptr, 0x7fff_1000), "0x7fff1000");
        assert_eq!(arg(ArgKind::Fd, 0xffff_ffff), "-1");
        assert_eq!(arg(ArgKind::DirFd, (-100i64) as u64), "AT_FDCWD");
        assert_eq!(arg(ArgKind::DirFd, 4), "4");
        assert_eq!(arg(ArgKind::Len, 4096), "4096");
        assert_eq!(arg(ArgKind::CStr, 0x1234), "0x1234");
        assert_eq!(arg(ArgKind::CStr, 0), "NULL");
        assert_eq!(arg(ArgKind::Buf, 0x1234), "0x1234");
    }

    #[test]
    fn strings_are_escaped_and_truncated() {
        let mut out = String::new();
        format_arg(&mut out, ArgKind::CStr, 1, Some(b"a\"b\\c\td\x01\xff")).unwrap();
        assert_eq!(out, r#""a\"b\\c\td\1\377""#);
        let long = [b'x'; 65];
        out.clear();
        format_arg(&mut out, ArgKind::CStr, 1, Some(&long)).unwrap();
        assert_eq!(out, format!("\"{}\"...", "x".repeat(64)));
        out.clear();
        format_arg(&mut out, ArgKind::CStr, 1, Some(&long[..64])).unwrap();
        assert_eq!(out, format!("\"{}\"", "x".repeat(64)));
        out.clear();
        format_arg(&mut out, ArgKind::Buf, 1, Some(b"\r\n\x0b\x0c\0")).unwrap();
        assert_eq!(out, r#""\r\n\v\f\0""#);
    }

    #[test]
    fn flags() {
        assert_eq!(arg(ArgKind::OpenFlags, 0), "O_RDONLY");
        assert_eq!(arg(ArgKind::OpenFlags, 0o2 | 0o100 | 0o200), "O_RDWR|O_CREAT|O_EXCL");
        assert_eq!(
            arg(ArgKind::OpenFlags, 0o200000 | 0o4000 | 0o2000000 | 0o100000),
            "O_RDONLY|O_NONBLOCK|O_LARGEFILE|O_DIRECTORY|O_CLOEXEC"
        );
        assert_eq!(arg(ArgKind::OpenFlags, 0o4010001), "O_WRONLY|O_SYNC");
        assert_eq!(arg(ArgKind::OpenFlags, 0o20200002), "O_RDWR|O_TMPFILE");
        assert_eq!(arg(ArgKind::OpenFlags, 0o10000000), "O_RDONLY|O_PATH");
        assert_eq!(arg(ArgKind::OpenFlags, 0o40000000 | 1), "O_WRONLY|0x800000");
        assert_eq!(arg(ArgKind::Mode, 0), "000");
        assert_eq!(arg(ArgKind::Mode, 0o7), "007");
        assert_eq!(arg(ArgKind::Mode, 0o755), "0755");
        assert_eq!(arg(ArgKind::Mode, 0o40755), "040755");
        assert_eq!(arg(ArgKind::MmapProt, 0), "PROT_NONE");
        assert_eq!(arg(ArgKind::MmapProt, 5), "PROT_READ|PROT_EXEC");
        assert_eq!(arg(ArgKind::MmapProt, 0x11), "PROT_READ|0x10");
        assert_eq!(arg(ArgKind::MmapFlags, 0x12), "MAP_PRIVATE|MAP_FIXED");
        assert_eq!(arg(ArgKind::MmapFlags, 0x1), "MAP_SHARED");
        assert_eq!(arg(ArgKind::MmapFlags, 0x3), "MAP_SHARED_VALIDATE");
        assert_eq!(arg(ArgKind::MmapFlags, 0x20022), "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK");
        assert_eq!(arg(ArgKind::MmapFlags, 0x100022), "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE");
        assert_eq!(arg(ArgKind::MmapFlags, 0x20), "MAP_ANONYMOUS");
        assert_eq!(arg(ArgKind::MmapFlags, 0), "0");
        assert_eq!(arg(ArgKind::MmapFlags, 0x4), "0x4");
        assert_eq!(arg(ArgKind::AtFlags, 0), "0");
        assert_eq!(arg(ArgKind::AtFlags, 0x1100), "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
        assert_eq!(arg(ArgKind::AtFlags, 0x1), "0x1");
        assert_eq!(arg(ArgKind::Access, 0), "F_OK");
        assert_eq!(arg(ArgKind::Access, 7), "R_OK|W_OK|X_OK");
        assert_eq!(arg(ArgKind::WaitOptions, 0), "0");
        assert_eq!(arg(ArgKind::WaitOptions, 0x4000_0003), "WNOHANG|WUNTRACED|__WALL");
        assert_eq!(arg(ArgKind::GetrandomFlags, 0), "0");
        assert_eq!(arg(ArgKind::CloneFlags, 0), "0");
        assert_eq!(arg(ArgKind::CloneFlags, 0x4111), "CLONE_VM|CLONE_VFORK|SIGCHLD");
        assert_eq!(arg(ArgKind::CloneFlags, 0x1_0000_0011), "SIGCHLD|0x100000000");
    }

    #[test]
    fn enumerations() {
        assert_eq!(arg(ArgKind::ClockId, 0), "CLOCK_REALTIME");
        assert_eq!(arg(ArgKind::ClockId, 7), "CLOCK_BOOTTIME");
        assert_eq!(arg(ArgKind::ClockId, (-6i64) as u64), "-6");
        assert_eq!(arg(ArgKind::Whence, 2), "SEEK_END");
        assert_eq!(arg(ArgKind::Whence, 9), "9");
        assert_eq!(arg(ArgKind::ArchPrctl, 0x1003), "ARCH_GET_FS");
        assert_eq!(arg(ArgKind::ArchPrctl, 0x3001), "0x3001");
        assert_eq!(arg(ArgKind::Fcntl, 1030), "F_DUPFD_CLOEXEC");
        assert_eq!(arg(ArgKind::Fcntl, 2), "F_SETFD");
        assert_eq!(arg(ArgKind::Fcntl, 99), "99");
        assert_eq!(arg(ArgKind::Ioctl, 0x5413), "TIOCGWINSZ");
        assert_eq!(arg(ArgKind::Ioctl, 0x8004_5430), "TIOCGPTN");
        assert_eq!(arg(ArgKind::Ioctl, 0x8004_5499), "0x80045499");
        assert_eq!(arg(ArgKind::Signal, 0), "0");
        assert_eq!(arg(ArgKind::Signal, 9), "SIGKILL");
        assert_eq!(arg(ArgKind::Signal, 34), "SIGRT_2");
        assert_eq!(arg(ArgKind::Signal, 99), "99");
        assert_eq!(arg(ArgKind::SigHow, 2), "SIG_SETMASK");
        assert_eq!(arg(ArgKind::SigHow, 5), "5");
        assert_eq!(arg(ArgKind::Resource, 3), "RLIMIT_STACK");
        assert_eq!(arg(ArgKind::Resource, 16), "16");
    }

    #[test]
    fn results() {
        let result = |nr, raw| {
            let mut out = String::new();
            format_result(&mut out, nr, raw).unwrap();
            out
        };
        assert_eq!(result(nr::OPENAT, 3), "= 3");
        assert_eq!(result(nr::READ, 0), "= 0");
        assert_eq!(result(nr::OPENAT, -2), "= -1 ENOENT (No such file or directory)");
        assert_eq!(result(nr::MMAP, -12), "= -1 ENOMEM (Cannot allocate memory)");
        assert_eq!(result(nr::MMAP, 0x7f00_0000_0000), "= 0x7f0000000000");
        assert_eq!(result(nr::BRK, 0x40_1000), "= 0x401000");
        assert_eq!(result(nr::READ, -4095), "= -1 E4095 (Unknown error 4095)");
        assert_eq!(result(nr::READ, -512), "= -1 E512 (Unknown error 512)");
        assert_eq!(result(nr::LSEEK, -4096), "= -4096", "not an error");
        assert_eq!(result(nr::GETPID, 12), "= 12");
    }
}
