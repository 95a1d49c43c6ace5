//! What Isola does with each x86-64 Linux system call: one annotation per
//! call the kernel's table dispatches, what `docs/syscalls.md` is generated
//! from (`isola syscalls --markdown`).
//!
//! The kernel checks its table against [`ANNOTATIONS`] at build time (every
//! dispatched number annotated, every annotated number dispatched), and the
//! CLI's tests check the same from the source and that the document is
//! current, so the table and the text cannot drift apart. A number with no
//! annotation is ENOSYS. An annotation says what the handler refuses or does
//! differently from `man 2`: read the handler before calling a call `Full`.

use core::fmt;

use crate::nr;

/// Isola's state for one system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// As Linux documents it, errors included (within what Isola has: one
    /// thread per process, files in memory).
    Full,
    /// Served, but something is missing or differs: what.
    Partial(&'static str),
    /// Dispatched only to answer ENOSYS on purpose, without the log line an
    /// unknown call gets: why.
    Enosys(&'static str),
}

impl Support {
    /// The state's word in the table: `full`, `partial` or `ENOSYS`.
    pub const fn word(self) -> &'static str {
        match self {
            Support::Full => "full",
            Support::Partial(_) => "partial",
            Support::Enosys(_) => "ENOSYS",
        }
    }

    /// What is missing or why, empty for `Full`.
    pub const fn note(self) -> &'static str {
        match self {
            Support::Full => "",
            Support::Partial(note) | Support::Enosys(note) => note,
        }
    }
}

use Support::{Enosys, Full, Partial};

const MMAP_NOTE: &str = "MAP_SHARED with PROT_EXEC is EACCES (executable shared memory is refused, docs/shared-memory.md); \
writable and executable at once is refused (W^X: EACCES), and executable memory is scanned for WRPKRU (EACCES on a hit); \
a process that had a file page mapped before the file was truncated below it reads zeros there (Linux: SIGBUS); \
MAP_HUGETLB, MAP_LOCKED, MAP_POPULATE, MAP_NORESERVE and MAP_32BIT are accepted and change nothing";
const SEMOP_NOTE: &str = "a waiter that is woken reads its operations from memory again (Linux reads them once)";
const STAT_NOTE: &str = "descriptors that are not files (pipes, sockets, epoll, eventfd, timerfd) and /proc files report times of 0";
const UTIMES_NOTE: &str = "a descriptor that is not a file (a pipe, a socket) is EINVAL, where Linux sets its inode's times";
const XATTR_GET_NOTE: &str = "no extended attribute is ever stored: every name is ENODATA once the file is found";
const XATTR_SET_NOTE: &str = "extended attributes are not stored: EOPNOTSUPP, as on a file system without them";
const EXECVE_NOTE: &str = "set-user-ID and set-group-ID executables give no ids (the mode bit is stored, not honoured); a program whose code holds WRPKRU that cannot be rewritten is refused (ENOEXEC)";
const SOCKET_NOTE: &str = "AF_INET and AF_INET6 (TCP, UDP) and AF_UNIX (stream, datagram, seqpacket) only: AF_NETLINK, AF_PACKET and raw sockets are EAFNOSUPPORT; \
the host has no IPv6 address (as Linux with disable_ipv6): an AF_INET6 socket reaches IPv4 through v4-mapped addresses, `[::]` is dual stack unless IPV6_V6ONLY, and ::1 is EADDRNOTAVAIL (docs/network.md)";
const SOCKOPT_NOTE: &str = "SOL_SOCKET's SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SO_LINGER, SO_RCVTIMEO, SO_SNDTIMEO (and the read-only SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_ACCEPTCONN, SO_PEERCRED), AF_UNIX's SO_PASSCRED, IPV6_V6ONLY, TCP_NODELAY and TCP_CORK (held segments as under Nagle's rule); other options are ENOPROTOOPT";
const MSG_NOTE: &str = "AF_UNIX ancillary data is SCM_RIGHTS and SCM_CREDENTIALS (docs/unix-sockets.md); bytes written by write(2) carry the pair's peer credentials, not the writer's; AF_INET control data is ignored; no MSG_TRUNC in msg_flags";

macro_rules! annotations {
    ($($nr:ident => $state:expr,)*) => {
        /// Every system call the kernel dispatches, with its state, in the
        /// order of the kernel's table.
        pub const ANNOTATIONS: &[(u64, &str, Support)] = &[$((nr::$nr, stringify!($nr), $state)),*];
    };
}

annotations! {
    READ => Full,
    WRITE => Full,
    OPEN => Partial("O_TMPFILE is taken as O_DIRECTORY (EISDIR, where Linux makes an unnamed file); O_ASYNC at open is kept but arms nothing (Linux ignores it there too); O_DIRECT, O_SYNC and O_DSYNC change nothing (files live in memory)"),
    CLOSE => Full,
    CREAT => Full,
    LINK => Full,
    LINKAT => Full,
    STAT => Partial(STAT_NOTE),
    FSTAT => Partial(STAT_NOTE),
    LSTAT => Partial(STAT_NOTE),
    POLL => Full,
    PIPE => Full,
    PIPE2 => Partial("O_DIRECT (packet mode) is accepted, but the pipe stays a byte stream"),
    SELECT => Full,
    PSELECT6 => Full,
    LSEEK => Partial("SEEK_DATA and SEEK_HOLE see the whole file as data (Linux's answer for a file system without holes; on tmpfs a sparse file has holes)"),
    MMAP => Partial(MMAP_NOTE),
    MPROTECT => Partial("PROT_GROWSDOWN and PROT_GROWSUP are accepted and ignored; writable and executable at once is refused (W^X: EACCES), PROT_EXEC on shared memory is EACCES, and memory turning executable is scanned for WRPKRU (EACCES on a hit)"),
    MREMAP => Partial("old_size 0 (duplicating a shared mapping) is EINVAL, and so is MREMAP_DONTUNMAP of shared memory; a mapping that becomes executable next to other code is scanned for WRPKRU (EACCES on a hit)"),
    FSYNC => Full,
    MEMFD_CREATE => Partial("MFD_HUGETLB gives an ordinary memfd (no huge pages); reopening one through /proc/self/fd/N is ENOENT (Linux opens the same file)"),
    EVENTFD => Full,
    TIMERFD_CREATE => Partial("the _ALARM clocks (with CAP_WAKE_ALARM) are their plain clocks: the VM never suspends"),
    TIMERFD_SETTIME => Partial("expirations are noticed at the scheduler's 100 Hz tick (as sleeps): up to 10 ms late"),
    TIMERFD_GETTIME => Full,
    EVENTFD2 => Full,
    FDATASYNC => Full,
    SYNC => Full,
    SYNCFS => Full,
    MUNMAP => Full,
    BRK => Full,
    RT_SIGACTION => Full,
    RT_SIGPROCMASK => Full,
    IOCTL => Partial("FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC and FIONREAD on any descriptor; on a pseudo-terminal TCGETS, TCSETS/TCSETSW/TCSETSF, TCFLSH, TCSBRK, TCXONC, TIOCGWINSZ/TIOCSWINSZ, TIOCGPTN, TIOCSPTLCK/TIOCGPTLCK, TIOCGPTPEER, TIOCSCTTY, TIOCNOTTY, TIOCGPGRP/TIOCSPGRP, TIOCGSID, TIOCOUTQ (docs/pty.md; no TIOCPKT); on the console TCGETS, TCSETS/TCSETSW/TCSETSF (the settings are not kept), TIOCGWINSZ (always 80x24), TIOCSWINSZ, TIOCGPGRP (the caller's pid), TIOCSPGRP (ignored); every other request is ENOTTY"),
    PREAD64 => Full,
    PWRITE64 => Full,
    READV => Full,
    WRITEV => Full,
    PREADV => Full,
    PWRITEV => Full,
    PREADV2 => Partial("RWF_NOWAIT is EOPNOTSUPP; RWF_HIPRI, RWF_DSYNC and RWF_SYNC change nothing"),
    PWRITEV2 => Partial("RWF_NOWAIT is EOPNOTSUPP; RWF_HIPRI, RWF_DSYNC and RWF_SYNC change nothing"),
    CLOSE_RANGE => Full,
    ACCESS => Full,
    SCHED_YIELD => Full,
    MADVISE => Partial("advice only: MADV_DONTNEED and MADV_FREE keep the pages and their contents, where Linux gives zero-filled pages on the next touch"),
    MSYNC => Full,
    SHMGET => Partial("SHM_HUGETLB and SHM_NORESERVE change nothing"),
    SHMAT => Partial("SHM_EXEC is EACCES (executable shared memory is refused, docs/shared-memory.md)"),
    SHMDT => Full,
    SHMCTL => Partial("shm_nattch counts the address spaces attached, not each attachment (a process attached twice counts once); SHM_LOCK and SHM_UNLOCK set SHM_LOCKED and change nothing else (pages never leave memory)"),
    SEMGET => Full,
    SEMOP => Partial(SEMOP_NOTE),
    SEMTIMEDOP => Partial(SEMOP_NOTE),
    SEMCTL => Full,
    FALLOCATE => Partial("modes other than 0 and FALLOC_FL_KEEP_SIZE (PUNCH_HOLE, COLLAPSE_RANGE, ZERO_RANGE, INSERT_RANGE) are EOPNOTSUPP"),
    DUP => Full,
    DUP2 => Full,
    SENDFILE => Full,
    COPY_FILE_RANGE => Partial("at most 1 MiB is copied per call (Linux may copy less than asked too); files on different file systems (a volume and the root) are copied, where Linux 6.1 answers EXDEV"),
    SPLICE => Partial("the bytes are copied, not moved page by page (SPLICE_F_MOVE and SPLICE_F_GIFT change nothing); at most 1 MiB per call"),
    NANOSLEEP => Partial("interrupted by a signal that runs no handler (a stop signal: no job control), the call starts over with its whole time (Linux sleeps what was left)"),
    GETPID => Full,
    FORK => Full,
    VFORK => Full,
    CLONE => Partial("processes (fork, vfork) and threads (CLONE_THREAD with CLONE_SIGHAND and CLONE_VM, as glibc's pthread_create); threads always share files and fs; CLONE_VM without CLONE_THREAD or CLONE_VFORK, and CLONE_FILES or CLONE_FS without CLONE_THREAD, are EINVAL (two processes never share one memory or fd table); CLONE_PIDFD and the namespace flags are ignored; an exit signal other than SIGCHLD is taken as SIGCHLD"),
    CLONE3 => Partial("as clone; CLONE_PIDFD, set_tid, CLONE_CLEAR_SIGHAND and CLONE_INTO_CGROUP are EINVAL"),
    EXECVE => Partial(EXECVE_NOTE),
    WAIT4 => Partial("no process is ever stopped or continued (no job control), so WUNTRACED and WCONTINUED report nothing"),
    WAITID => Partial("P_PIDFD is EINVAL; WSTOPPED and WCONTINUED report nothing (no job control)"),
    RT_SIGRETURN => Full,
    RT_SIGSUSPEND => Full,
    RT_SIGTIMEDWAIT => Full,
    PAUSE => Full,
    ALARM => Full,
    SETITIMER => Full,
    GETITIMER => Full,
    RT_SIGPENDING => Full,
    GETPGID => Full,
    EXIT => Full,
    UNAME => Full,
    FCNTL => Partial("F_SETLEASE/F_GETLEASE are EINVAL; F_SEAL_WRITE is EBUSY while anyone maps the file MAP_SHARED (Linux: through a descriptor open for writing); F_SETFL changes O_APPEND, O_NONBLOCK and O_ASYNC (SIGIO, or F_SETSIG's signal, to the F_SETOWN owner when the file becomes ready, docs/signals-io.md); F_NOTIFY is taken on a directory (ENOTDIR otherwise) but no change in it sends the signal"),
    FLOCK => Full,
    GETCWD => Full,
    CHDIR => Full,
    FCHDIR => Full,
    MKDIR => Full,
    RMDIR => Full,
    UNLINK => Full,
    READLINK => Full,
    CHMOD => Full,
    FCHMOD => Full,
    FCHMODAT => Full,
    CHOWN => Full,
    LCHOWN => Full,
    FCHOWN => Full,
    FCHOWNAT => Full,
    TRUNCATE => Full,
    FTRUNCATE => Full,
    RENAME => Full,
    RENAMEAT => Full,
    RENAMEAT2 => Partial("RENAME_EXCHANGE and RENAME_WHITEOUT are EINVAL (RENAME_NOREPLACE works)"),
    SYMLINK => Full,
    SYMLINKAT => Full,
    UTIMENSAT => Partial(UTIMES_NOTE),
    FUTIMESAT => Partial(UTIMES_NOTE),
    UTIMES => Full,
    UTIME => Full,
    UMASK => Full,
    GETTIMEOFDAY => Full,
    GETRLIMIT => Full,
    SETRLIMIT => Partial("every limit is kept; RLIMIT_NOFILE, RLIMIT_AS, RLIMIT_NPROC and RLIMIT_CPU are enforced, the others (RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_MEMLOCK, RLIMIT_SIGPENDING...) are not"),
    SYSINFO => Partial("the load averages, sharedram and bufferram are 0, and there is no swap"),
    GETRUSAGE => Partial("ru_utime, ru_stime and ru_maxrss only: the fault, context-switch, block-I/O and message counters are 0"),
    TIMES => Full,
    GETUID => Full,
    GETGID => Full,
    GETEUID => Full,
    GETEGID => Full,
    SETUID => Full,
    SETGID => Full,
    SETREUID => Full,
    SETREGID => Full,
    SETRESUID => Full,
    SETRESGID => Full,
    GETRESUID => Full,
    GETRESGID => Full,
    SETFSUID => Full,
    SETFSGID => Full,
    GETGROUPS => Full,
    SCHED_GETAFFINITY => Full,
    SCHED_SETAFFINITY => Partial("one CPU: a mask must hold CPU 0 (EINVAL otherwise); another user's process is not refused (EPERM on Linux without CAP_SYS_NICE), as kill does not check either"),
    MEMBARRIER => Partial("the RSEQ commands are EINVAL (no rseq, as a Linux built without it); with one CPU every barrier is a fence on it"),
    STATFS => Full,
    FSTATFS => Full,
    SETGROUPS => Full,
    SETPGID => Full,
    GETPPID => Full,
    GETPGRP => Full,
    SETSID => Full,
    GETSID => Full,
    SIGALTSTACK => Full,
    ARCH_PRCTL => Partial("ARCH_SET_FS and ARCH_GET_FS only: ARCH_SET_GS, ARCH_GET_GS, the CPUID and shadow-stack options are EINVAL"),
    GETTID => Full,
    TIME => Full,
    SET_TID_ADDRESS => Full,
    GETDENTS64 => Full,
    CLOCK_GETTIME => Partial("CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI and the CPU-time clocks of other processes (clock_getcpuclockid) are EINVAL; CLOCK_BOOTTIME is CLOCK_MONOTONIC (the VM does not suspend)"),
    CLOCK_GETRES => Partial("every clock reports 1 ns, the coarse ones too (they are read at full precision here)"),
    CLOCK_SETTIME => Full,
    SETTIMEOFDAY => Full,
    GETCPU => Full,
    CLOCK_NANOSLEEP => Partial("interrupted by a signal that runs no handler (a stop signal: no job control), a relative sleep starts over with its whole time (Linux sleeps what was left)"),
    EXIT_GROUP => Full,
    OPENAT => Partial("O_TMPFILE is taken as O_DIRECTORY (EISDIR, where Linux makes an unnamed file); O_ASYNC at open is kept but arms nothing (Linux ignores it there too); O_DIRECT, O_SYNC and O_DSYNC change nothing (files live in memory)"),
    MKDIRAT => Full,
    MKNOD => Partial("regular files, FIFOs, sockets and, with privilege, the character devices Isola has (null, zero, console); block devices and other character devices are EPERM"),
    MKNODAT => Partial("regular files, FIFOs, sockets and, with privilege, the character devices Isola has (null, zero, console); block devices and other character devices are EPERM"),
    NEWFSTATAT => Partial(STAT_NOTE),
    STATX => Partial("st_atime and st_ctime are the mtime, times are whole seconds, and stx_btime is not given (not in stx_mask)"),
    SETXATTR => Partial(XATTR_SET_NOTE),
    LSETXATTR => Partial(XATTR_SET_NOTE),
    FSETXATTR => Partial(XATTR_SET_NOTE),
    GETXATTR => Partial(XATTR_GET_NOTE),
    LGETXATTR => Partial(XATTR_GET_NOTE),
    FGETXATTR => Partial(XATTR_GET_NOTE),
    LISTXATTR => Partial(XATTR_GET_NOTE),
    LLISTXATTR => Partial(XATTR_GET_NOTE),
    FLISTXATTR => Partial(XATTR_GET_NOTE),
    REMOVEXATTR => Partial(XATTR_GET_NOTE),
    LREMOVEXATTR => Partial(XATTR_GET_NOTE),
    FREMOVEXATTR => Partial(XATTR_GET_NOTE),
    FADVISE64 => Full,
    UNLINKAT => Full,
    READLINKAT => Full,
    FACCESSAT => Full,
    FACCESSAT2 => Full,
    DUP3 => Full,
    PRLIMIT64 => Partial("only the caller's own limits: another pid is ESRCH; as setrlimit, RLIMIT_NOFILE, RLIMIT_AS, RLIMIT_NPROC and RLIMIT_CPU are enforced, the others kept only"),
    GETRANDOM => Full,
    PPOLL => Full,
    SET_ROBUST_LIST => Full,
    GET_ROBUST_LIST => Partial("another thread's head only for a privileged caller (EPERM otherwise, where Linux also lets the same user read it)"),
    FUTEX => Partial("PI locks hand ownership over but boost no priority (one CPU, round robin); a timed wait restarted with no handler run (a stop signal) starts its relative timeout again"),
    RSEQ => Enosys("restartable sequences are not offered; glibc runs without them"),
    PRCTL => Partial("PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG and PR_GET_PDEATHSIG only: every other option is EINVAL"),
    GETPRIORITY => Full,
    SETPRIORITY => Partial("the nice value is kept, inherited and reported (getpriority, /proc/PID/stat) but the scheduler does not weigh it; it is per process, where Linux keeps one per thread (a thread's id names its process)"),
    KILL => Partial("stop signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) do not stop the process (no job control); no permission check between processes; a real-time signal sent twice is delivered once (not queued)"),
    TKILL => Full,
    TGKILL => Full,
    SOCKET => Partial(SOCKET_NOTE),
    SOCKETPAIR => Full,
    BIND => Full,
    LISTEN => Full,
    ACCEPT => Full,
    ACCEPT4 => Full,
    CONNECT => Partial("connect on an AF_UNIX socketpair datagram end is EOPNOTSUPP (Linux re-targets it)"),
    SENDTO => Full,
    RECVFROM => Full,
    SENDMSG => Partial(MSG_NOTE),
    RECVMSG => Partial(MSG_NOTE),
    SHUTDOWN => Full,
    GETSOCKNAME => Full,
    GETPEERNAME => Full,
    SETSOCKOPT => Partial(SOCKOPT_NOTE),
    GETSOCKOPT => Partial(SOCKOPT_NOTE),
    EPOLL_CREATE => Full,
    EPOLL_CREATE1 => Full,
    EPOLL_CTL => Partial("EPOLLET entries are reported like level-triggered ones (a wake-up more, never a lost event); EPOLLEXCLUSIVE and EPOLLWAKEUP change nothing"),
    EPOLL_WAIT => Full,
    EPOLL_PWAIT => Full,
    EPOLL_PWAIT2 => Full,
}

/// Numbers that x86-64 Linux itself answers with ENOSYS (`sys_ni_syscall`
/// in its table: removed or never implemented); Isola does the same.
pub const LINUX_ENOSYS: &[u64] = &[
    nr::_SYSCTL,
    nr::CREATE_MODULE,
    nr::GET_KERNEL_SYMS,
    nr::QUERY_MODULE,
    nr::NFSSERVCTL,
    nr::GETPMSG,
    nr::PUTPMSG,
    nr::AFS_SYSCALL,
    nr::TUXCALL,
    nr::SECURITY,
    nr::SET_THREAD_AREA,
    nr::GET_THREAD_AREA,
    nr::EPOLL_CTL_OLD,
    nr::EPOLL_WAIT_OLD,
    nr::VSERVER,
];

const LINUX_ENOSYS_NOTE: &str = "ENOSYS on Linux too (no implementation in its x86-64 table)";

/// The annotation of system call `nr`, if the kernel dispatches it.
pub const fn support(nr: u64) -> Option<Support> {
    let mut i = 0;
    while i < ANNOTATIONS.len() {
        if ANNOTATIONS[i].0 == nr {
            return Some(ANNOTATIONS[i].2);
        }
        i += 1;
    }
    None
}

/// Whether `nr` has an annotation (the kernel's build-time check of each
/// number its table dispatches).
pub const fn is_annotated(nr: u64) -> bool {
    support(nr).is_some()
}

/// The first annotated number that `dispatched` lacks, if any (the
/// kernel's build-time check the other way round).
pub const fn first_undispatched(dispatched: &[u64]) -> Option<u64> {
    let mut i = 0;
    while i < ANNOTATIONS.len() {
        let wanted = ANNOTATIONS[i].0;
        let mut j = 0;
        let mut found = false;
        while j < dispatched.len() {
            if dispatched[j] == wanted {
                found = true;
            }
            j += 1;
        }
        if !found {
            return Some(wanted);
        }
        i += 1;
    }
    None
}

/// How many calls of [`nr::ALL`] are full, partial and missing (ENOSYS,
/// annotated so or not dispatched at all).
pub fn counts() -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for &(number, _) in nr::ALL {
        match support(number) {
            Some(Full) => counts.0 += 1,
            Some(Partial(_)) => counts.1 += 1,
            Some(Enosys(_)) | None => counts.2 += 1,
        }
    }
    counts
}

/// `docs/syscalls.md`: every x86-64 Linux system call with its state.
pub fn write_markdown(out: &mut impl fmt::Write) -> fmt::Result {
    let (full, partial, missing) = counts();
    let total = nr::ALL.len();
    writeln!(out, "# System calls: what Isola does with each")?;
    writeln!(out)?;
    writeln!(out, "<!-- Generated by `isola syscalls --markdown > docs/syscalls.md` from the")?;
    writeln!(out, "     annotations in syscall/src/support.rs; do not edit by hand. -->")?;
    writeln!(out)?;
    writeln!(out, "Every x86-64 Linux system call number (Linux 6.10's `syscall_64.tbl`: {total} calls)")?;
    writeln!(out, "and its state inside Isola:")?;
    writeln!(out)?;
    writeln!(out, "- **full**: as `man 2` documents it, errors included (within what Isola is:")?;
    writeln!(out, "  one CPU, files in memory or on volumes);")?;
    writeln!(out, "- **partial**: served, with what is missing or different;")?;
    writeln!(out, "- **ENOSYS**: not implemented; the call fails with ENOSYS (logged once per")?;
    writeln!(out, "  program with `--verbose`), never a hang or a made-up answer.")?;
    writeln!(out)?;
    writeln!(out, "The kernel's table (kernel/src/syscalls/mod.rs) is checked against the")?;
    writeln!(out, "annotations when it is built, and a test fails when this file is out of date.")?;
    writeln!(out)?;
    writeln!(out, "| | calls |")?;
    writeln!(out, "|---|---:|")?;
    writeln!(out, "| full | {full} |")?;
    writeln!(out, "| partial | {partial} |")?;
    writeln!(out, "| missing (ENOSYS) | {missing} |")?;
    writeln!(out, "| of which ENOSYS on Linux too | {} |", LINUX_ENOSYS.len())?;
    writeln!(out, "| all | {total} |")?;
    writeln!(out)?;
    writeln!(out, "| nr | name | state | what is missing or different |")?;
    writeln!(out, "|---:|---|---|---|")?;
    for &(number, name) in nr::ALL {
        let (word, note) = match support(number) {
            Some(state) => (state.word(), state.note()),
            None if LINUX_ENOSYS.contains(&number) => ("ENOSYS", LINUX_ENOSYS_NOTE),
            None => ("ENOSYS", ""),
        };
        writeln!(out, "| {number} | `{name}` | {word} | {note} |")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn every_annotation_names_a_known_call_once() {
        for (i, &(number, constant, _)) in ANNOTATIONS.iter().enumerate() {
            let name = nr::name(number).unwrap_or_else(|| panic!("{constant}: no such number {number}"));
            assert_eq!(constant.to_ascii_lowercase(), name, "the constant and the name agree");
            assert!(ANNOTATIONS[..i].iter().all(|&(other, _, _)| other != number), "{name} annotated twice");
        }
    }

    #[test]
    fn partial_and_enosys_say_why() {
        for &(_, name, state) in ANNOTATIONS {
            match state {
                Full => assert_eq!(state.note(), ""),
                _ => assert!(state.note().len() > 10, "{name}: say what is missing"),
            }
            assert!(!state.note().contains('|') && !state.note().contains('\n'), "{name}: a note is one table cell");
        }
    }

    #[test]
    fn lookups_and_the_build_checks() {
        assert_eq!(support(nr::READ), Some(Full));
        assert!(matches!(support(nr::MMAP), Some(Partial(_))));
        assert_eq!(support(nr::RSEQ).map(Support::word), Some("ENOSYS"));
        assert_eq!(support(nr::IO_URING_SETUP), None);
        assert!(is_annotated(nr::WRITE) && !is_annotated(nr::KEXEC_LOAD));
        let all: alloc::vec::Vec<u64> = ANNOTATIONS.iter().map(|a| a.0).collect();
        assert_eq!(first_undispatched(&all), None);
        assert_eq!(first_undispatched(&all[1..]), Some(all[0]));
    }

    #[test]
    fn the_counts_add_up_and_the_markdown_lists_every_call() {
        let (full, partial, missing) = counts();
        assert_eq!(full + partial + missing, nr::ALL.len());
        assert_eq!(full + partial, ANNOTATIONS.iter().filter(|a| !matches!(a.2, Enosys(_))).count());
        let mut text = String::new();
        write_markdown(&mut text).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("| ") && l.contains("| `")).count(), nr::ALL.len());
        assert!(text.contains(&alloc::format!("| full | {full} |")));
        assert!(text.contains("| 0 | `read` | full |  |"));
        assert!(text.contains("| 462 | `mseal` | ENOSYS |  |"));
        assert!(text.contains(&alloc::format!("| 214 | `epoll_ctl_old` | ENOSYS | {LINUX_ENOSYS_NOTE} |")));
    }

    #[test]
    fn what_linux_lacks_is_not_dispatched() {
        for &number in LINUX_ENOSYS {
            assert!(nr::name(number).is_some());
            assert_eq!(support(number), None, "{:?}", nr::name(number));
        }
    }
}
