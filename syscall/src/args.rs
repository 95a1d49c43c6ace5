//! Typed syscall arguments: flags, enumerations and the constants they come
//! from, with the Linux x86-64 values.
//!
//! Decode once at the border: every type has `from_raw(u64) -> Result<Self,
//! Errno>` that does what Linux does with the raw register value. Where Linux
//! takes a C `int`/`unsigned int`, the upper 32 bits of the register are
//! ignored, as Linux does. Where Linux rejects unknown bits (`mmap` prot,
//! `getrandom` flags, `access` mode) so does `from_raw`; where it ignores them
//! (`open` flags) `from_raw` drops them.
//!
//! Enumerations have CamelCase variants and, as associated constants, the C
//! names too (`Whence::Set == Whence::SEEK_SET`), usable in patterns; the raw
//! C values are also plain constants of this module (`SEEK_SET: u32 = 0`).

use bitflags::bitflags;

use crate::Errno;

/// Generates an enumeration of raw C values, its `from_raw`, `raw`, `name`,
/// associated C-named aliases and module constants with the raw values.
macro_rules! abi_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident: $raw:ty {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal => $cname:ident,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $ty {
            $($(#[$vmeta])* $variant,)*
        }

        $(
            #[doc = concat!("Raw value of `", stringify!($cname), "`.")]
            pub const $cname: $raw = $value;
        )*

        #[allow(non_upper_case_globals)]
        impl $ty {
            $(
                #[doc = concat!("Alias of [`", stringify!($ty), "::", stringify!($variant), "`].")]
                pub const $cname: $ty = $ty::$variant;
            )*

            /// Decodes the raw register value (its low 32 bits, a C `int`);
            /// an unknown value is `EINVAL`.
            pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
                match raw as $raw {
                    $($value => Ok($ty::$variant),)*
                    _ => Err(Errno::EINVAL),
                }
            }

            /// The raw C value.
            pub const fn raw(self) -> $raw {
                match self {
                    $($ty::$variant => $value,)*
                }
            }

            /// The C name, as strace prints it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => stringify!($cname),)*
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------
// open(2)

/// `AT_FDCWD`: the "directory fd" that means the current directory.
pub const AT_FDCWD: i32 = -100;

/// Mask of the access-mode bits of the open flags.
pub const O_ACCMODE: u32 = 0o3;

bitflags! {
    /// Flags of `open`/`openat` (and of `pipe2`, `dup3`, `F_GETFL`/`F_SETFL`,
    /// which take subsets). The access mode is the two low bits: see
    /// [`OpenFlags::access_mode`].
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct OpenFlags: u32 {
        /// Access mode 0: read only (no bit; for readability).
        const O_RDONLY = 0;
        /// Access mode 1: write only.
        const O_WRONLY = 0o1;
        /// Access mode 2: read and write.
        const O_RDWR = 0o2;
        const O_CREAT = 0o100;
        const O_EXCL = 0o200;
        const O_NOCTTY = 0o400;
        const O_TRUNC = 0o1000;
        const O_APPEND = 0o2000;
        const O_NONBLOCK = 0o4000;
        const O_DSYNC = 0o10000;
        /// `FASYNC`.
        const O_ASYNC = 0o20000;
        const O_DIRECT = 0o40000;
        const O_LARGEFILE = 0o100000;
        const O_DIRECTORY = 0o200000;
        const O_NOFOLLOW = 0o400000;
        const O_NOATIME = 0o1000000;
        const O_CLOEXEC = 0o2000000;
        /// `__O_SYNC`, the bit that `O_SYNC` adds to `O_DSYNC`.
        const __O_SYNC = 0o4000000;
        /// `O_SYNC` = `__O_SYNC | O_DSYNC`.
        const O_SYNC = 0o4010000;
        const O_PATH = 0o10000000;
        /// `__O_TMPFILE`, the bit that `O_TMPFILE` adds to `O_DIRECTORY`.
        const __O_TMPFILE = 0o20000000;
        /// `O_TMPFILE` = `__O_TMPFILE | O_DIRECTORY`.
        const O_TMPFILE = 0o20200000;
    }
}

/// The access mode of an open file description.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AccessMode {
    ReadOnly,
    WriteOnly,
    ReadWrite,
}

impl AccessMode {
    /// May the file be read?
    pub const fn readable(self) -> bool {
        matches!(self, AccessMode::ReadOnly | AccessMode::ReadWrite)
    }

    /// May the file be written?
    pub const fn writable(self) -> bool {
        matches!(self, AccessMode::WriteOnly | AccessMode::ReadWrite)
    }
}

impl OpenFlags {
    /// Decodes `open` flags: Linux ignores unknown bits (and the upper half
    /// of the register, `flags` is an `int`), so this never fails.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        Ok(OpenFlags::from_bits_truncate(raw as u32))
    }

    /// Decodes flags that must lie within `allowed` (e.g. `O_CLOEXEC` for
    /// `dup3`, `O_CLOEXEC | O_NONBLOCK | O_DIRECT` for `pipe2`): anything else
    /// in the low 32 bits is `EINVAL`.
    pub const fn from_raw_within(raw: u64, allowed: OpenFlags) -> Result<Self, Errno> {
        let raw = raw as u32;
        if raw & !allowed.bits() != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(OpenFlags::from_bits_retain(raw))
    }

    /// The access mode. The odd mode 3 (Linux: "no read or write, but check
    /// both permissions", used for ioctl-only opens) decodes as `ReadWrite`.
    pub const fn access_mode(self) -> AccessMode {
        match self.bits() & O_ACCMODE {
            0 => AccessMode::ReadOnly,
            1 => AccessMode::WriteOnly,
            _ => AccessMode::ReadWrite,
        }
    }

    /// The flags that `F_SETFL` may change (Linux `SETFL_MASK` minus
    /// `O_DIRECT`/`O_NOATIME`, which need support from the file).
    pub const SETFL_MASK: OpenFlags = OpenFlags::O_APPEND
        .union(OpenFlags::O_NONBLOCK)
        .union(OpenFlags::O_ASYNC)
        .union(OpenFlags::O_DIRECT)
        .union(OpenFlags::O_NOATIME);
}

// ---------------------------------------------------------------------------
// *at(2)

bitflags! {
    /// The `AT_*` flags of the `*at` calls. `AT_REMOVEDIR` (unlinkat) and
    /// `AT_EACCESS` (faccessat2) share the value 0x200.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct AtFlags: u32 {
        const AT_SYMLINK_NOFOLLOW = 0x100;
        const AT_REMOVEDIR = 0x200;
        const AT_EACCESS = 0x200;
        const AT_SYMLINK_FOLLOW = 0x400;
        const AT_NO_AUTOMOUNT = 0x800;
        const AT_EMPTY_PATH = 0x1000;
        /// `AT_STATX_FORCE_SYNC`.
        const AT_STATX_FORCE_SYNC = 0x2000;
        /// `AT_STATX_DONT_SYNC`.
        const AT_STATX_DONT_SYNC = 0x4000;
    }
}

impl AtFlags {
    /// Flags `newfstatat`/`statx` accept (`AT_STATX_SYNC_TYPE` included).
    pub const STAT_MASK: AtFlags = AtFlags::AT_SYMLINK_NOFOLLOW
        .union(AtFlags::AT_NO_AUTOMOUNT)
        .union(AtFlags::AT_EMPTY_PATH)
        .union(AtFlags::AT_STATX_FORCE_SYNC)
        .union(AtFlags::AT_STATX_DONT_SYNC);

    /// Decodes flags, rejecting unknown bits with `EINVAL`. Each call accepts
    /// only some flags: prefer [`AtFlags::from_raw_within`].
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        AtFlags::from_raw_within(raw, AtFlags::all())
    }

    /// Decodes flags that must lie within `allowed` (Linux: `unlinkat` takes
    /// only `AT_REMOVEDIR`, `newfstatat` only [`AtFlags::STAT_MASK`],
    /// `linkat` `AT_SYMLINK_FOLLOW | AT_EMPTY_PATH`, `faccessat2`
    /// `AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH`...); else `EINVAL`.
    pub const fn from_raw_within(raw: u64, allowed: AtFlags) -> Result<Self, Errno> {
        let raw = raw as u32;
        if raw & !allowed.bits() != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(AtFlags::from_bits_retain(raw))
    }
}

// ---------------------------------------------------------------------------
// mmap(2), mprotect(2)

bitflags! {
    /// `PROT_*`: the protection of a mapping. Empty is `PROT_NONE`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct MmapProt: u32 {
        const PROT_READ = 0x1;
        const PROT_WRITE = 0x2;
        const PROT_EXEC = 0x4;
        const PROT_SEM = 0x8;
        const PROT_GROWSDOWN = 0x0100_0000;
        const PROT_GROWSUP = 0x0200_0000;
    }
}

impl MmapProt {
    /// `PROT_NONE`.
    pub const PROT_NONE: MmapProt = MmapProt::empty();

    /// Decodes a protection; an unknown bit is `EINVAL`.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        match MmapProt::from_bits(raw as u32) {
            Some(prot) if raw >> 32 == 0 => Ok(prot),
            _ => Err(Errno::EINVAL),
        }
    }
}

bitflags! {
    /// `MAP_*`: the flags of `mmap`. The low four bits are the mapping type
    /// ([`MmapFlags::map_type`]).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct MmapFlags: u32 {
        const MAP_SHARED = 0x01;
        const MAP_PRIVATE = 0x02;
        const MAP_SHARED_VALIDATE = 0x03;
        const MAP_FIXED = 0x10;
        const MAP_ANONYMOUS = 0x20;
        const MAP_32BIT = 0x40;
        const MAP_GROWSDOWN = 0x100;
        const MAP_DENYWRITE = 0x800;
        const MAP_EXECUTABLE = 0x1000;
        const MAP_LOCKED = 0x2000;
        const MAP_NORESERVE = 0x4000;
        const MAP_POPULATE = 0x8000;
        const MAP_NONBLOCK = 0x10000;
        const MAP_STACK = 0x20000;
        const MAP_HUGETLB = 0x40000;
        const MAP_SYNC = 0x80000;
        const MAP_FIXED_NOREPLACE = 0x100000;
        const MAP_UNINITIALIZED = 0x4000000;
    }
}

/// Mask of the mapping-type bits of the `mmap` flags.
pub const MAP_TYPE: u32 = 0x0f;

/// The type of a mapping: the low four bits of the `mmap` flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MapType {
    Shared,
    Private,
    SharedValidate,
}

impl MmapFlags {
    /// Decodes `mmap` flags as Linux does: the type must be `MAP_SHARED`,
    /// `MAP_PRIVATE` or `MAP_SHARED_VALIDATE` (else `EINVAL`); unknown flags
    /// are ignored, except with `MAP_SHARED_VALIDATE` where they are
    /// `EOPNOTSUPP`.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        let raw = raw as u32;
        match raw & MAP_TYPE {
            0x01 | 0x02 => Ok(MmapFlags::from_bits_truncate(raw)),
            0x03 => match MmapFlags::from_bits(raw) {
                Some(flags) => Ok(flags),
                None => Err(Errno::EOPNOTSUPP),
            },
            _ => Err(Errno::EINVAL),
        }
    }

    /// The mapping type (`MAP_SHARED_VALIDATE` is a shared mapping whose flags
    /// were checked). Flags built without a type count as private.
    pub const fn map_type(self) -> MapType {
        match self.bits() & MAP_TYPE {
            0x01 => MapType::Shared,
            0x03 => MapType::SharedValidate,
            _ => MapType::Private,
        }
    }

    /// Is the mapping shared (`MAP_SHARED` or `MAP_SHARED_VALIDATE`)?
    pub const fn is_shared(self) -> bool {
        matches!(self.map_type(), MapType::Shared | MapType::SharedValidate)
    }
}

// ---------------------------------------------------------------------------
// Clocks, seeking, arch_prctl, fcntl, signals masks, rlimits

abi_enum! {
    /// The clocks of `clock_gettime` and friends (negative ids, the CPU-time
    /// clocks of other processes and dynamic clocks, are `EINVAL` here).
    pub enum ClockId: i32 {
        Realtime = 0 => CLOCK_REALTIME,
        Monotonic = 1 => CLOCK_MONOTONIC,
        ProcessCputimeId = 2 => CLOCK_PROCESS_CPUTIME_ID,
        ThreadCputimeId = 3 => CLOCK_THREAD_CPUTIME_ID,
        MonotonicRaw = 4 => CLOCK_MONOTONIC_RAW,
        RealtimeCoarse = 5 => CLOCK_REALTIME_COARSE,
        MonotonicCoarse = 6 => CLOCK_MONOTONIC_COARSE,
        Boottime = 7 => CLOCK_BOOTTIME,
    }
}

/// `TIMER_ABSTIME`: the flag of `clock_nanosleep` for an absolute deadline.
pub const TIMER_ABSTIME: u32 = 1;

abi_enum! {
    /// The `whence` of `lseek`.
    pub enum Whence: u32 {
        Set = 0 => SEEK_SET,
        Cur = 1 => SEEK_CUR,
        End = 2 => SEEK_END,
        Data = 3 => SEEK_DATA,
        Hole = 4 => SEEK_HOLE,
    }
}

abi_enum! {
    /// The operations of `arch_prctl` (others are `EINVAL`).
    pub enum ArchPrctl: i32 {
        SetGs = 0x1001 => ARCH_SET_GS,
        SetFs = 0x1002 => ARCH_SET_FS,
        GetFs = 0x1003 => ARCH_GET_FS,
        GetGs = 0x1004 => ARCH_GET_GS,
    }
}

abi_enum! {
    /// The commands of `fcntl` handled here (others are `EINVAL`, as Linux
    /// answers an unknown command).
    pub enum FcntlCmd: u32 {
        DupFd = 0 => F_DUPFD,
        GetFd = 1 => F_GETFD,
        SetFd = 2 => F_SETFD,
        GetFl = 3 => F_GETFL,
        SetFl = 4 => F_SETFL,
        GetLk = 5 => F_GETLK,
        SetLk = 6 => F_SETLK,
        SetLkw = 7 => F_SETLKW,
        DupFdCloexec = 1030 => F_DUPFD_CLOEXEC,
        SetPipeSz = 1031 => F_SETPIPE_SZ,
        GetPipeSz = 1032 => F_GETPIPE_SZ,
    }
}

/// The close-on-exec bit of `F_GETFD`/`F_SETFD`.
pub const FD_CLOEXEC: u64 = 1;

abi_enum! {
    /// The `how` of `rt_sigprocmask`.
    pub enum SigprocmaskHow: i32 {
        Block = 0 => SIG_BLOCK,
        Unblock = 1 => SIG_UNBLOCK,
        SetMask = 2 => SIG_SETMASK,
    }
}

abi_enum! {
    /// The resources of `prlimit64`/`getrlimit`/`setrlimit`.
    pub enum Resource: u32 {
        Cpu = 0 => RLIMIT_CPU,
        Fsize = 1 => RLIMIT_FSIZE,
        Data = 2 => RLIMIT_DATA,
        Stack = 3 => RLIMIT_STACK,
        Core = 4 => RLIMIT_CORE,
        Rss = 5 => RLIMIT_RSS,
        Nproc = 6 => RLIMIT_NPROC,
        Nofile = 7 => RLIMIT_NOFILE,
        Memlock = 8 => RLIMIT_MEMLOCK,
        As = 9 => RLIMIT_AS,
        Locks = 10 => RLIMIT_LOCKS,
        Sigpending = 11 => RLIMIT_SIGPENDING,
        Msgqueue = 12 => RLIMIT_MSGQUEUE,
        Nice = 13 => RLIMIT_NICE,
        Rtprio = 14 => RLIMIT_RTPRIO,
        Rttime = 15 => RLIMIT_RTTIME,
    }
}

impl Resource {
    /// Number of resources (`RLIM_NLIMITS`).
    pub const COUNT: usize = 16;

    /// Every resource, by increasing number.
    pub const ALL: [Resource; Resource::COUNT] = [
        Resource::Cpu,
        Resource::Fsize,
        Resource::Data,
        Resource::Stack,
        Resource::Core,
        Resource::Rss,
        Resource::Nproc,
        Resource::Nofile,
        Resource::Memlock,
        Resource::As,
        Resource::Locks,
        Resource::Sigpending,
        Resource::Msgqueue,
        Resource::Nice,
        Resource::Rtprio,
        Resource::Rttime,
    ];

    /// The index, `0..COUNT`.
    pub const fn index(self) -> usize {
        self.raw() as usize
    }
}

/// "No limit".
pub const RLIM_INFINITY: u64 = u64::MAX;

// ---------------------------------------------------------------------------
// Signals

/// Signal names 1..=31 (x86-64), as strace prints them.
const SIGNAL_NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Names of the real-time signals 32..=64, as strace prints them.
const RT_SIGNAL_NAMES: [&str; 33] = [
    "SIGRTMIN", "SIGRT_1", "SIGRT_2", "SIGRT_3", "SIGRT_4", "SIGRT_5", "SIGRT_6", "SIGRT_7", "SIGRT_8", "SIGRT_9",
    "SIGRT_10", "SIGRT_11", "SIGRT_12", "SIGRT_13", "SIGRT_14", "SIGRT_15", "SIGRT_16", "SIGRT_17", "SIGRT_18",
    "SIGRT_19", "SIGRT_20", "SIGRT_21", "SIGRT_22", "SIGRT_23", "SIGRT_24", "SIGRT_25", "SIGRT_26", "SIGRT_27",
    "SIGRT_28", "SIGRT_29", "SIGRT_30", "SIGRT_31", "SIGRT_32",
];

/// What happens to a process on a signal whose handler is `SIG_DFL`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DefaultAction {
    /// Terminate the process.
    Terminate,
    /// Terminate the process and dump core.
    CoreDump,
    /// Do nothing.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue the process if stopped.
    Continue,
}

/// A signal number, `1..=64`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Signal(u8);

impl Signal {
    pub const SIGHUP: Signal = Signal(1);
    pub const SIGINT: Signal = Signal(2);
    pub const SIGQUIT: Signal = Signal(3);
    pub const SIGILL: Signal = Signal(4);
    pub const SIGTRAP: Signal = Signal(5);
    pub const SIGABRT: Signal = Signal(6);
    pub const SIGIOT: Signal = Signal(6);
    pub const SIGBUS: Signal = Signal(7);
    pub const SIGFPE: Signal = Signal(8);
    pub const SIGKILL: Signal = Signal(9);
    pub const SIGUSR1: Signal = Signal(10);
    pub const SIGSEGV: Signal = Signal(11);
    pub const SIGUSR2: Signal = Signal(12);
    pub const SIGPIPE: Signal = Signal(13);
    pub const SIGALRM: Signal = Signal(14);
    pub const SIGTERM: Signal = Signal(15);
    pub const SIGSTKFLT: Signal = Signal(16);
    pub const SIGCHLD: Signal = Signal(17);
    pub const SIGCONT: Signal = Signal(18);
    pub const SIGSTOP: Signal = Signal(19);
    pub const SIGTSTP: Signal = Signal(20);
    pub const SIGTTIN: Signal = Signal(21);
    pub const SIGTTOU: Signal = Signal(22);
    pub const SIGURG: Signal = Signal(23);
    pub const SIGXCPU: Signal = Signal(24);
    pub const SIGXFSZ: Signal = Signal(25);
    pub const SIGVTALRM: Signal = Signal(26);
    pub const SIGPROF: Signal = Signal(27);
    pub const SIGWINCH: Signal = Signal(28);
    pub const SIGIO: Signal = Signal(29);
    pub const SIGPOLL: Signal = Signal(29);
    pub const SIGPWR: Signal = Signal(30);
    pub const SIGSYS: Signal = Signal(31);
    pub const SIGRTMIN: Signal = Signal(32);
    pub const SIGRTMAX: Signal = Signal(64);

    /// The largest signal number (`_NSIG`).
    pub const MAX: u32 = 64;

    /// The signal with this number, if it is in `1..=64`.
    pub const fn new(number: u32) -> Option<Signal> {
        if number >= 1 && number <= Signal::MAX { Some(Signal(number as u8)) } else { None }
    }

    /// Decodes a signal argument (a C `int`); 0 and numbers above 64 are
    /// `EINVAL` (`kill` with signal 0 must be handled before decoding).
    pub const fn from_raw(raw: u64) -> Result<Signal, Errno> {
        match Signal::new(raw as u32) {
            Some(signal) => Ok(signal),
            None => Err(Errno::EINVAL),
        }
    }

    /// The number, `1..=64`.
    pub const fn number(self) -> u32 {
        self.0 as u32
    }

    /// The bit of this signal in a `sigset_t` (bit `number - 1`).
    pub const fn mask_bit(self) -> u64 {
        1 << (self.0 - 1)
    }

    /// The name (`"SIGSEGV"`; real-time signals `"SIGRTMIN"`, `"SIGRT_1"`..
    /// `"SIGRT_32"`, as strace prints them).
    pub const fn name(self) -> &'static str {
        let n = self.0 as usize;
        if n <= 31 { SIGNAL_NAMES[n - 1] } else { RT_SIGNAL_NAMES[n - 32] }
    }

    /// Is this a real-time signal (32..=64)?
    pub const fn is_realtime(self) -> bool {
        self.0 >= 32
    }

    /// SIGKILL and SIGSTOP can be neither caught, ignored nor blocked.
    pub const fn is_unblockable(self) -> bool {
        self.0 == 9 || self.0 == 19
    }

    /// What `SIG_DFL` does (signal(7)).
    pub const fn default_action(self) -> DefaultAction {
        match self.0 {
            3 | 4 | 5 | 6 | 7 | 8 | 11 | 24 | 25 | 31 => DefaultAction::CoreDump,
            17 | 23 | 28 => DefaultAction::Ignore,
            18 => DefaultAction::Continue,
            19..=22 => DefaultAction::Stop,
            _ => DefaultAction::Terminate,
        }
    }
}

impl core::fmt::Display for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// `SIG_DFL`: the default handler.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`: ignore the signal.
pub const SIG_IGN: u64 = 1;
/// `SA_NOCLDSTOP`.
pub const SA_NOCLDSTOP: u64 = 0x0000_0001;
/// `SA_NOCLDWAIT`.
pub const SA_NOCLDWAIT: u64 = 0x0000_0002;
/// `SA_SIGINFO`.
pub const SA_SIGINFO: u64 = 0x0000_0004;
/// `SA_RESTORER`: the `restorer` field is valid (libc always sets it).
pub const SA_RESTORER: u64 = 0x0400_0000;
/// `SA_ONSTACK`.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// `SA_RESTART`.
pub const SA_RESTART: u64 = 0x1000_0000;
/// `SA_NODEFER`.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// `SA_RESETHAND`.
pub const SA_RESETHAND: u64 = 0x8000_0000;

// ---------------------------------------------------------------------------
// getrandom(2), access(2), wait4(2), clone(2)

bitflags! {
    /// The flags of `getrandom`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct GetrandomFlags: u32 {
        const GRND_NONBLOCK = 0x1;
        const GRND_RANDOM = 0x2;
        const GRND_INSECURE = 0x4;
    }
}

impl GetrandomFlags {
    /// Decodes the flags: unknown bits, or `GRND_INSECURE` with
    /// `GRND_RANDOM`, are `EINVAL`.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        match GetrandomFlags::from_bits(raw as u32) {
            Some(flags)
                if raw >> 32 == 0
                    && !flags.contains(GetrandomFlags::GRND_INSECURE.union(GetrandomFlags::GRND_RANDOM)) =>
            {
                Ok(flags)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

/// `access` mode: does the file exist?
pub const F_OK: u32 = 0;
/// `access` mode: may it be executed?
pub const X_OK: u32 = 1;
/// `access` mode: may it be written?
pub const W_OK: u32 = 2;
/// `access` mode: may it be read?
pub const R_OK: u32 = 4;

bitflags! {
    /// The mode of `access`/`faccessat`: empty is `F_OK`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct AccessFlags: u32 {
        const X_OK = 1;
        const W_OK = 2;
        const R_OK = 4;
    }
}

impl AccessFlags {
    /// `F_OK`: existence only.
    pub const F_OK: AccessFlags = AccessFlags::empty();

    /// Decodes the mode; bits other than `R_OK | W_OK | X_OK` are `EINVAL`.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        match AccessFlags::from_bits(raw as u32) {
            Some(flags) => Ok(flags),
            None => Err(Errno::EINVAL),
        }
    }
}

bitflags! {
    /// The options of `wait4`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct WaitOptions: u32 {
        const WNOHANG = 0x1;
        /// Also `WSTOPPED` (waitid).
        const WUNTRACED = 0x2;
        /// waitid only.
        const WEXITED = 0x4;
        const WCONTINUED = 0x8;
        /// waitid only.
        const WNOWAIT = 0x0100_0000;
        const __WNOTHREAD = 0x2000_0000;
        const __WALL = 0x4000_0000;
        const __WCLONE = 0x8000_0000;
    }
}

impl WaitOptions {
    /// Options `wait4` accepts.
    pub const WAIT4_MASK: WaitOptions = WaitOptions::WNOHANG
        .union(WaitOptions::WUNTRACED)
        .union(WaitOptions::WCONTINUED)
        .union(WaitOptions::__WNOTHREAD)
        .union(WaitOptions::__WALL)
        .union(WaitOptions::__WCLONE);

    /// Decodes `wait4` options; others (`WEXITED`, `WNOWAIT`, unknown bits)
    /// are `EINVAL`.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        let raw = raw as u32;
        if raw & !WaitOptions::WAIT4_MASK.bits() != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(WaitOptions::from_bits_retain(raw))
    }
}

bitflags! {
    /// The flags of `clone`; the low byte (`CSIGNAL`) is the signal sent to
    /// the parent at exit ([`CloneFlags::exit_signal`]).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct CloneFlags: u64 {
        const CLONE_VM = 0x100;
        const CLONE_FS = 0x200;
        const CLONE_FILES = 0x400;
        const CLONE_SIGHAND = 0x800;
        const CLONE_PIDFD = 0x1000;
        const CLONE_PTRACE = 0x2000;
        const CLONE_VFORK = 0x4000;
        const CLONE_PARENT = 0x8000;
        const CLONE_THREAD = 0x10000;
        const CLONE_NEWNS = 0x20000;
        const CLONE_SYSVSEM = 0x40000;
        const CLONE_SETTLS = 0x80000;
        const CLONE_PARENT_SETTID = 0x100000;
        const CLONE_CHILD_CLEARTID = 0x200000;
        const CLONE_DETACHED = 0x400000;
        const CLONE_UNTRACED = 0x800000;
        const CLONE_CHILD_SETTID = 0x0100_0000;
        const CLONE_NEWCGROUP = 0x0200_0000;
        const CLONE_NEWUTS = 0x0400_0000;
        const CLONE_NEWIPC = 0x0800_0000;
        const CLONE_NEWUSER = 0x1000_0000;
        const CLONE_NEWPID = 0x2000_0000;
        const CLONE_NEWNET = 0x4000_0000;
        const CLONE_IO = 0x8000_0000;
    }
}

/// `CSIGNAL`: the exit-signal byte of the `clone` flags.
pub const CSIGNAL: u64 = 0xff;

impl CloneFlags {
    /// Decodes `clone` flags (x86-64 `clone` takes an `unsigned long`):
    /// keeps the known flags, the exit signal is read with
    /// [`CloneFlags::exit_signal_of`]. Unknown bits are ignored, as Linux's
    /// legacy `clone` does.
    pub const fn from_raw(raw: u64) -> Result<Self, Errno> {
        Ok(CloneFlags::from_bits_truncate(raw))
    }

    /// The exit signal in the low byte of raw `clone` flags: `Ok(None)` for
    /// 0 (no signal), `EINVAL` above 64.
    pub const fn exit_signal_of(raw: u64) -> Result<Option<Signal>, Errno> {
        let n = (raw & CSIGNAL) as u32;
        if n == 0 {
            return Ok(None);
        }
        match Signal::new(n) {
            Some(signal) => Ok(Some(signal)),
            None => Err(Errno::EINVAL),
        }
    }
}

/// What a `clone` or `clone3` makes, by its flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CloneKind {
    /// A new process with a copy of the caller's memory.
    Fork,
    /// A new process in the caller's memory until it execs or exits; the caller waits.
    Vfork,
    /// A new thread of the caller's process.
    Thread,
}

impl CloneFlags {
    /// Linux's checks of `copy_process`, and what the flags ask for.
    /// `EINVAL`: CLONE_THREAD without CLONE_SIGHAND, CLONE_SIGHAND without
    /// CLONE_VM, CLONE_FS with CLONE_NEWNS, and (not offered here: two
    /// processes sharing one memory outside vfork, or one fd table)
    /// CLONE_VM without CLONE_THREAD or CLONE_VFORK, CLONE_FILES or
    /// CLONE_FS without CLONE_THREAD.
    pub fn kind(self) -> Result<CloneKind, Errno> {
        let has = |flag| self.contains(flag);
        if (has(CloneFlags::CLONE_THREAD) && !has(CloneFlags::CLONE_SIGHAND))
            || (has(CloneFlags::CLONE_SIGHAND) && !has(CloneFlags::CLONE_VM))
            || (has(CloneFlags::CLONE_FS) && has(CloneFlags::CLONE_NEWNS))
        {
            return Err(Errno::EINVAL);
        }
        if has(CloneFlags::CLONE_THREAD) {
            return Ok(CloneKind::Thread);
        }
        if has(CloneFlags::CLONE_SIGHAND) || has(CloneFlags::CLONE_FILES) || has(CloneFlags::CLONE_FS) {
            return Err(Errno::EINVAL);
        }
        match (has(CloneFlags::CLONE_VM), has(CloneFlags::CLONE_VFORK)) {
            (true, true) => Ok(CloneKind::Vfork),
            (true, false) => Err(Errno::EINVAL),
            (false, _) => Ok(CloneKind::Fork),
        }
    }
}

/// `struct clone_args` of `clone3`, as far as the caller's size reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// CLONE_ARGS_SIZE_VER0: the smallest `clone_args` (up to `tls`).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
/// The `clone_args` this kernel knows (up to `cgroup`).
pub const CLONE_ARGS_SIZE_VER2: usize = 88;
/// CLONE_CLEAR_SIGHAND and CLONE_INTO_CGROUP, clone3's flags above 32 bits.
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

impl CloneArgs {
    /// Decodes the `size` bytes `clone3` was given (`bytes` holds them):
    /// EINVAL below VER0 or for an exit signal above 64 or in the flags'
    /// low byte, E2BIG for non-zero bytes past the known fields (Linux's
    /// `copy_struct_from_user`), EINVAL for a stack size without a stack.
    pub fn decode(bytes: &[u8]) -> Result<CloneArgs, Errno> {
        if bytes.len() < CLONE_ARGS_SIZE_VER0 {
            return Err(Errno::EINVAL);
        }
        if bytes.get(CLONE_ARGS_SIZE_VER2..).is_some_and(|rest| rest.iter().any(|&b| b != 0)) {
            return Err(Errno::E2BIG);
        }
        let field = |index: usize| {
            let at = index * 8;
            bytes.get(at..at + 8).map_or(0, |raw| u64::from_le_bytes([raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]]))
        };
        let args = CloneArgs {
            flags: field(0),
            pidfd: field(1),
            child_tid: field(2),
            parent_tid: field(3),
            exit_signal: field(4),
            stack: field(5),
            stack_size: field(6),
            tls: field(7),
            set_tid: field(8),
            set_tid_size: field(9),
            cgroup: field(10),
        };
        if args.exit_signal > 64 || args.flags & CSIGNAL != 0 || (args.stack == 0 && args.stack_size != 0) {
            return Err(Errno::EINVAL);
        }
        Ok(args)
    }

    /// Where the new thread's stack pointer starts: the top of the stack
    /// (clone3 gives its lowest address and size), 0 for the caller's.
    pub fn stack_top(&self) -> u64 {
        if self.stack == 0 { 0 } else { self.stack.wrapping_add(self.stack_size) }
    }
}

// ---------------------------------------------------------------------------
// ioctl requests (terminals and files)

/// Get the terminal attributes (`struct termios`).
pub const TCGETS: u32 = 0x5401;
/// Set the terminal attributes now.
pub const TCSETS: u32 = 0x5402;
/// Set the terminal attributes after output drains.
pub const TCSETSW: u32 = 0x5403;
/// Set them after output drains, flushing pending input.
pub const TCSETSF: u32 = 0x5404;
/// Make the terminal the controlling terminal.
pub const TIOCSCTTY: u32 = 0x540e;
/// Get the foreground process group.
pub const TIOCGPGRP: u32 = 0x540f;
/// Set the foreground process group.
pub const TIOCSPGRP: u32 = 0x5410;
/// Get the window size (`struct winsize`).
pub const TIOCGWINSZ: u32 = 0x5413;
/// Set the window size.
pub const TIOCSWINSZ: u32 = 0x5414;
/// Bytes available to read.
pub const FIONREAD: u32 = 0x541b;
/// Set or clear non-blocking mode.
pub const FIONBIO: u32 = 0x5421;
/// Give up the controlling terminal.
pub const TIOCNOTTY: u32 = 0x5422;
/// Get the session id of the terminal.
pub const TIOCGSID: u32 = 0x5429;
/// Clear close-on-exec.
pub const FIONCLEX: u32 = 0x5450;
/// Set close-on-exec.
pub const FIOCLEX: u32 = 0x5451;
/// Set or clear async I/O.
pub const FIOASYNC: u32 = 0x5452;
/// Wait until output drains (`tcdrain`), or send a break.
pub const TCSBRK: u32 = 0x5409;
/// Suspend or restart output or input (`tcflow`).
pub const TCXONC: u32 = 0x540a;
/// Discard input and/or output (`tcflush`).
pub const TCFLSH: u32 = 0x540b;
/// Bytes of output not yet sent.
pub const TIOCOUTQ: u32 = 0x5411;
/// The pseudo-terminal's number (`ptsname`).
pub const TIOCGPTN: u32 = 0x8004_5430;
/// Lock or unlock the pseudo-terminal's slave (`unlockpt`).
pub const TIOCSPTLCK: u32 = 0x4004_5431;
/// Whether the slave is locked.
pub const TIOCGPTLCK: u32 = 0x8004_5439;
/// Open the slave from the master (glibc's `openpty`).
pub const TIOCGPTPEER: u32 = 0x5441;

/// The name of an ioctl request, for traces (`"TCGETS"`).
pub const fn ioctl_name(request: u32) -> Option<&'static str> {
    Some(match request {
        TCGETS => "TCGETS",
        TCSETS => "TCSETS",
        TCSETSW => "TCSETSW",
        TCSETSF => "TCSETSF",
        TIOCSCTTY => "TIOCSCTTY",
        TIOCGPGRP => "TIOCGPGRP",
        TIOCSPGRP => "TIOCSPGRP",
        TIOCGWINSZ => "TIOCGWINSZ",
        TIOCSWINSZ => "TIOCSWINSZ",
        FIONREAD => "FIONREAD",
        FIONBIO => "FIONBIO",
        TIOCNOTTY => "TIOCNOTTY",
        TIOCGSID => "TIOCGSID",
        FIONCLEX => "FIONCLEX",
        FIOCLEX => "FIOCLEX",
        FIOASYNC => "FIOASYNC",
        TCSBRK => "TCSBRK",
        TCXONC => "TCXONC",
        TCFLSH => "TCFLSH",
        TIOCOUTQ => "TIOCOUTQ",
        TIOCGPTN => "TIOCGPTN",
        TIOCSPTLCK => "TIOCSPTLCK",
        TIOCGPTLCK => "TIOCGPTLCK",
        TIOCGPTPEER => "TIOCGPTPEER",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// File modes and directory entry types

/// Mask of the file-type bits of a mode.
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO (pipe).
pub const S_IFIFO: u32 = 0o010000;
/// Set-user-id bit.
pub const S_ISUID: u32 = 0o4000;
/// Set-group-id bit.
pub const S_ISGID: u32 = 0o2000;
/// Sticky bit.
pub const S_ISVTX: u32 = 0o1000;
/// Owner read, write, execute.
pub const S_IRWXU: u32 = 0o700;
/// Group read, write, execute.
pub const S_IRWXG: u32 = 0o070;
/// Others read, write, execute.
pub const S_IRWXO: u32 = 0o007;
/// The permission bits a mode argument may carry (`S_IALLUGO`).
pub const S_IALLUGO: u32 = 0o7777;

/// Unknown type.
pub const DT_UNKNOWN: u8 = 0;
/// FIFO.
pub const DT_FIFO: u8 = 1;
/// Character device.
pub const DT_CHR: u8 = 2;
/// Directory.
pub const DT_DIR: u8 = 4;
/// Block device.
pub const DT_BLK: u8 = 6;
/// Regular file.
pub const DT_REG: u8 = 8;
/// Symbolic link.
pub const DT_LNK: u8 = 10;
/// Socket.
pub const DT_SOCK: u8 = 12;

/// The `d_type` of a file with this mode (Linux: `(mode >> 12) & 15`).
pub const fn dtype_of_mode(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}

// ---------------------------------------------------------------------------
// Auxiliary vector

/// The auxiliary-vector keys (`AT_*` of `linux/auxvec.h`, `asm/auxvec.h`).
pub mod auxv {
    /// End of the vector.
    pub const AT_NULL: u64 = 0;
    /// Entry to ignore.
    pub const AT_IGNORE: u64 = 1;
    /// File descriptor of the program.
    pub const AT_EXECFD: u64 = 2;
    /// Address of the program headers.
    pub const AT_PHDR: u64 = 3;
    /// Size of one program header.
    pub const AT_PHENT: u64 = 4;
    /// Number of program headers.
    pub const AT_PHNUM: u64 = 5;
    /// Page size.
    pub const AT_PAGESZ: u64 = 6;
    /// Base address of the interpreter.
    pub const AT_BASE: u64 = 7;
    /// Flags (0).
    pub const AT_FLAGS: u64 = 8;
    /// Entry point of the program.
    pub const AT_ENTRY: u64 = 9;
    /// Program is not ELF.
    pub const AT_NOTELF: u64 = 10;
    /// Real uid.
    pub const AT_UID: u64 = 11;
    /// Effective uid.
    pub const AT_EUID: u64 = 12;
    /// Real gid.
    pub const AT_GID: u64 = 13;
    /// Effective gid.
    pub const AT_EGID: u64 = 14;
    /// Address of the platform string ("x86_64").
    pub const AT_PLATFORM: u64 = 15;
    /// CPU capabilities (CPUID.1:EDX).
    pub const AT_HWCAP: u64 = 16;
    /// Clock ticks per second (100).
    pub const AT_CLKTCK: u64 = 17;
    /// Secure mode (setuid) flag.
    pub const AT_SECURE: u64 = 23;
    /// Address of the platform string of the base CPU.
    pub const AT_BASE_PLATFORM: u64 = 24;
    /// Address of 16 random bytes.
    pub const AT_RANDOM: u64 = 25;
    /// More CPU capabilities.
    pub const AT_HWCAP2: u64 = 26;
    /// Address of the file name of the program.
    pub const AT_EXECFN: u64 = 31;
    /// Address of the vDSO.
    pub const AT_SYSINFO_EHDR: u64 = 33;
    /// Minimal stack size for signal delivery.
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

pub use auxv::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_kinds_follow_linux_checks() {
        let f = CloneFlags::from_bits_truncate;
        // glibc's pthread_create and musl's.
        let thread = 0x3d0f00;
        assert_eq!(f(thread).kind(), Ok(CloneKind::Thread));
        assert_eq!(f(0x7d0f00).kind(), Ok(CloneKind::Thread), "musl adds CLONE_DETACHED");
        // fork (glibc: CHILD_SETTID|CHILD_CLEARTID), vfork, posix_spawn.
        assert_eq!(f(0x1200000).kind(), Ok(CloneKind::Fork));
        assert_eq!(f(0x4100).kind(), Ok(CloneKind::Vfork));
        assert_eq!(f(0).kind(), Ok(CloneKind::Fork));
        // CLONE_THREAD without CLONE_SIGHAND, CLONE_SIGHAND without CLONE_VM.
        assert_eq!(f(0x10100).kind(), Err(Errno::EINVAL));
        assert_eq!(f(0x800).kind(), Err(Errno::EINVAL));
        assert_eq!(f(0x20200).kind(), Err(Errno::EINVAL), "CLONE_FS with CLONE_NEWNS");
        // Two processes on one memory or one fd table: not offered.
        assert_eq!(f(0x100).kind(), Err(Errno::EINVAL));
        assert_eq!(f(0x900).kind(), Err(Errno::EINVAL));
        assert_eq!(f(0x400).kind(), Err(Errno::EINVAL));
    }

    #[test]
    fn clone_args_decode_checks_size_and_fields() {
        let mut raw = [0u8; 96];
        let put = |raw: &mut [u8; 96], index: usize, value: u64| raw[index * 8..index * 8 + 8].copy_from_slice(&value.to_le_bytes());
        put(&mut raw, 0, 0x3d0f00);
        put(&mut raw, 5, 0x7000_0000);
        put(&mut raw, 6, 0x1000);
        put(&mut raw, 7, 0x5555);
        let args = CloneArgs::decode(&raw[..64]).unwrap();
        assert_eq!((args.flags, args.tls, args.stack_top()), (0x3d0f00, 0x5555, 0x7000_1000));
        assert_eq!(CloneArgs::decode(&raw[..63]), Err(Errno::EINVAL));
        assert!(CloneArgs::decode(&raw[..96]).is_ok(), "zeros past the known fields are fine");
        raw[90] = 1;
        assert_eq!(CloneArgs::decode(&raw[..96]), Err(Errno::E2BIG));
        raw[90] = 0;
        put(&mut raw, 4, 65);
        assert_eq!(CloneArgs::decode(&raw[..64]), Err(Errno::EINVAL), "exit signal above 64");
        put(&mut raw, 4, 17);
        put(&mut raw, 0, 0x3d0f11);
        assert_eq!(CloneArgs::decode(&raw[..64]), Err(Errno::EINVAL), "CSIGNAL bits in the flags");
        put(&mut raw, 0, 0);
        put(&mut raw, 5, 0);
        assert_eq!(CloneArgs::decode(&raw[..64]), Err(Errno::EINVAL), "a stack size without a stack");
        put(&mut raw, 6, 0);
        assert_eq!(CloneArgs::decode(&raw[..64]).map(|a| a.stack_top()), Ok(0));
    }

    #[test]
    fn open_flags() {
        let flags = OpenFlags::from_raw(0o2000000 | 0o100 | 0o1 | 0x8000_0000_0000_0000).unwrap();
        assert_eq!(flags, OpenFlags::O_CLOEXEC | OpenFlags::O_CREAT | OpenFlags::O_WRONLY);
        assert_eq!(flags.access_mode(), AccessMode::WriteOnly);
        assert_eq!(OpenFlags::from_raw(0).unwrap().access_mode(), AccessMode::ReadOnly);
        assert_eq!(OpenFlags::from_raw(2).unwrap().access_mode(), AccessMode::ReadWrite);
        assert_eq!(OpenFlags::from_raw(3).unwrap().access_mode(), AccessMode::ReadWrite);
        // Unknown bits are ignored, as Linux does.
        assert_eq!(OpenFlags::from_raw(0o40000000 | 0x4000_0000).unwrap(), OpenFlags::empty());
        assert_eq!(OpenFlags::O_SYNC.bits(), 0o4010000);
        assert_eq!(OpenFlags::O_TMPFILE.bits(), 0o20200000);
        assert_eq!(OpenFlags::O_DIRECTORY.bits(), 0o200000);
        assert_eq!(OpenFlags::O_NOFOLLOW.bits(), 0o400000);
        assert_eq!(OpenFlags::O_PATH.bits(), 0o10000000);
        assert_eq!(OpenFlags::O_LARGEFILE.bits(), 0o100000);
        assert!(AccessMode::ReadWrite.readable() && AccessMode::ReadWrite.writable());
        assert!(!AccessMode::ReadOnly.writable() && !AccessMode::WriteOnly.readable());
        assert_eq!(OpenFlags::from_raw_within(0o2000000, OpenFlags::O_CLOEXEC), Ok(OpenFlags::O_CLOEXEC));
        assert_eq!(OpenFlags::from_raw_within(0o4000, OpenFlags::O_CLOEXEC), Err(Errno::EINVAL));
    }

    #[test]
    fn at_flags() {
        assert_eq!(AT_FDCWD, -100);
        assert_eq!(AtFlags::AT_REMOVEDIR, AtFlags::AT_EACCESS);
        assert_eq!(AtFlags::from_raw(0x1000 | 0x100), Ok(AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW));
        assert_eq!(AtFlags::from_raw(0x1), Err(Errno::EINVAL));
        assert_eq!(AtFlags::from_raw_within(0x200, AtFlags::AT_REMOVEDIR), Ok(AtFlags::AT_REMOVEDIR));
        assert_eq!(AtFlags::from_raw_within(0x100, AtFlags::AT_REMOVEDIR), Err(Errno::EINVAL));
        assert_eq!(AtFlags::from_raw_within(0x100, AtFlags::STAT_MASK), Ok(AtFlags::AT_SYMLINK_NOFOLLOW));
        assert_eq!(AtFlags::from_raw_within(0x200, AtFlags::STAT_MASK), Err(Errno::EINVAL));
    }

    #[test]
    fn mmap_prot_and_flags() {
        assert_eq!(MmapProt::from_raw(3), Ok(MmapProt::PROT_READ | MmapProt::PROT_WRITE));
        assert_eq!(MmapProt::from_raw(0), Ok(MmapProt::PROT_NONE));
        assert_eq!(MmapProt::from_raw(0x10), Err(Errno::EINVAL));
        assert_eq!(MmapProt::from_raw(1 << 40), Err(Errno::EINVAL));
        let flags = MmapFlags::from_raw(0x22).unwrap();
        assert_eq!(flags, MmapFlags::MAP_PRIVATE | MmapFlags::MAP_ANONYMOUS);
        assert_eq!(flags.map_type(), MapType::Private);
        assert!(!flags.is_shared());
        assert_eq!(MmapFlags::from_raw(0x01).unwrap().map_type(), MapType::Shared);
        assert_eq!(MmapFlags::from_raw(0x03).unwrap().map_type(), MapType::SharedValidate);
        assert!(MmapFlags::from_raw(0x03).unwrap().is_shared());
        assert_eq!(MmapFlags::from_raw(0x20), Err(Errno::EINVAL), "no type");
        assert_eq!(MmapFlags::from_raw(0x04), Err(Errno::EINVAL));
        // Unknown flags: ignored for MAP_PRIVATE, refused for MAP_SHARED_VALIDATE.
        assert_eq!(MmapFlags::from_raw(0x0200_0002), Ok(MmapFlags::MAP_PRIVATE));
        assert_eq!(MmapFlags::from_raw(0x0200_0003), Err(Errno::EOPNOTSUPP));
        assert_eq!(MmapFlags::MAP_FIXED_NOREPLACE.bits(), 0x100000);
        assert_eq!(MmapFlags::MAP_STACK.bits(), 0x20000);
        assert_eq!(MmapFlags::MAP_NORESERVE.bits(), 0x4000);
    }

    #[test]
    fn enums() {
        assert_eq!(ClockId::from_raw(1), Ok(ClockId::Monotonic));
        assert_eq!(ClockId::from_raw(7), Ok(ClockId::CLOCK_BOOTTIME));
        assert_eq!(ClockId::from_raw(8), Err(Errno::EINVAL));
        assert_eq!(ClockId::from_raw(u64::MAX), Err(Errno::EINVAL), "-1: a CPU clock");
        assert_eq!(ClockId::MonotonicCoarse.raw(), CLOCK_MONOTONIC_COARSE);
        assert_eq!(ClockId::Realtime.name(), "CLOCK_REALTIME");
        assert_eq!(Whence::from_raw(2), Ok(Whence::End));
        assert_eq!(Whence::from_raw(5), Err(Errno::EINVAL));
        assert_eq!(SEEK_HOLE, 4);
        assert_eq!(ArchPrctl::from_raw(0x1002), Ok(ArchPrctl::SetFs));
        assert_eq!(ArchPrctl::from_raw(0x1001), Ok(ArchPrctl::ARCH_SET_GS));
        assert_eq!(ArchPrctl::from_raw(0x1011), Err(Errno::EINVAL));
        assert_eq!(FcntlCmd::from_raw(1030), Ok(FcntlCmd::DupFdCloexec));
        assert_eq!(FcntlCmd::from_raw(1032), Ok(FcntlCmd::F_GETPIPE_SZ));
        assert_eq!(FcntlCmd::from_raw(9), Err(Errno::EINVAL));
        assert_eq!(F_SETFL, 4);
        assert_eq!(FD_CLOEXEC, 1);
        assert_eq!(SigprocmaskHow::from_raw(2), Ok(SigprocmaskHow::SetMask));
        assert_eq!(SigprocmaskHow::from_raw(3), Err(Errno::EINVAL));
        assert_eq!(Resource::from_raw(7), Ok(Resource::Nofile));
        assert_eq!(Resource::from_raw(15), Ok(Resource::RLIMIT_RTTIME));
        assert_eq!(Resource::from_raw(16), Err(Errno::EINVAL));
        for (i, resource) in Resource::ALL.iter().enumerate() {
            assert_eq!(resource.index(), i);
        }
        assert_eq!(RLIM_INFINITY, u64::MAX);
        // Aliases work in patterns.
        assert!(matches!(Whence::from_raw(0), Ok(Whence::SEEK_SET)));
        // The upper half of an int argument is ignored.
        assert_eq!(Whence::from_raw(0xffff_ffff_0000_0001), Ok(Whence::Cur));
    }

    #[test]
    fn signals() {
        assert_eq!(Signal::new(0), None);
        assert_eq!(Signal::new(65), None);
        assert_eq!(Signal::from_raw(0), Err(Errno::EINVAL));
        let expected = [
            (1, "SIGHUP"),
            (2, "SIGINT"),
            (6, "SIGABRT"),
            (9, "SIGKILL"),
            (11, "SIGSEGV"),
            (13, "SIGPIPE"),
            (15, "SIGTERM"),
            (17, "SIGCHLD"),
            (19, "SIGSTOP"),
            (28, "SIGWINCH"),
            (31, "SIGSYS"),
            (32, "SIGRTMIN"),
            (33, "SIGRT_1"),
            (64, "SIGRT_32"),
        ];
        for (n, name) in expected {
            let signal = Signal::from_raw(n).unwrap();
            assert_eq!(signal.number(), n as u32);
            assert_eq!(signal.name(), name);
            assert_eq!(signal.to_string(), name);
        }
        assert_eq!(Signal::SIGCHLD.number(), 17);
        assert_eq!(Signal::SIGKILL.mask_bit(), 1 << 8);
        assert_eq!(Signal::SIGRTMAX.mask_bit(), 1 << 63);
        assert!(Signal::SIGKILL.is_unblockable() && Signal::SIGSTOP.is_unblockable());
        assert!(!Signal::SIGTERM.is_unblockable());
        assert!(Signal::SIGRTMIN.is_realtime() && !Signal::SIGSYS.is_realtime());
        assert_eq!(Signal::SIGCHLD.default_action(), DefaultAction::Ignore);
        assert_eq!(Signal::SIGSEGV.default_action(), DefaultAction::CoreDump);
        assert_eq!(Signal::SIGTSTP.default_action(), DefaultAction::Stop);
        assert_eq!(Signal::SIGCONT.default_action(), DefaultAction::Continue);
        assert_eq!(Signal::SIGTERM.default_action(), DefaultAction::Terminate);
        assert_eq!(Signal::new(40).unwrap().default_action(), DefaultAction::Terminate);
    }

    #[test]
    fn small_flag_sets() {
        assert_eq!(GetrandomFlags::from_raw(1), Ok(GetrandomFlags::GRND_NONBLOCK));
        assert_eq!(GetrandomFlags::from_raw(8), Err(Errno::EINVAL));
        assert_eq!(GetrandomFlags::from_raw(6), Err(Errno::EINVAL), "INSECURE|RANDOM");
        assert_eq!(GetrandomFlags::from_raw(5), Ok(GetrandomFlags::GRND_NONBLOCK | GetrandomFlags::GRND_INSECURE));
        assert_eq!(AccessFlags::from_raw(u64::from(R_OK | X_OK)), Ok(AccessFlags::R_OK | AccessFlags::X_OK));
        assert_eq!(AccessFlags::from_raw(u64::from(F_OK)), Ok(AccessFlags::F_OK));
        assert_eq!(AccessFlags::from_raw(8), Err(Errno::EINVAL));
        assert_eq!(WaitOptions::from_raw(1), Ok(WaitOptions::WNOHANG));
        assert_eq!(WaitOptions::from_raw(0x4000_0000), Ok(WaitOptions::__WALL));
        assert_eq!(WaitOptions::from_raw(4), Err(Errno::EINVAL), "WEXITED is waitid's");
        let raw = 0x0120_0011; // CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
        assert_eq!(CloneFlags::from_raw(raw), Ok(CloneFlags::CLONE_CHILD_SETTID | CloneFlags::CLONE_CHILD_CLEARTID));
        assert_eq!(CloneFlags::exit_signal_of(raw), Ok(Some(Signal::SIGCHLD)));
        assert_eq!(CloneFlags::exit_signal_of(0x100), Ok(None));
        assert_eq!(CloneFlags::exit_signal_of(65), Err(Errno::EINVAL));
    }

    #[test]
    fn constants() {
        assert_eq!(
            (TCGETS, TCSETS, TIOCGWINSZ, TIOCGPGRP, FIONREAD, FIONBIO),
            (0x5401, 0x5402, 0x5413, 0x540f, 0x541b, 0x5421)
        );
        assert_eq!((FIOCLEX, FIONCLEX), (0x5451, 0x5450));
        assert_eq!(ioctl_name(TCGETS), Some("TCGETS"));
        assert_eq!(ioctl_name(0x1234), None);
        assert_eq!((S_IFMT, S_IFDIR, S_IFREG, S_IFCHR, S_IFLNK), (0o170000, 0o040000, 0o100000, 0o020000, 0o120000));
        assert_eq!((S_IFIFO, S_IFSOCK, S_IFBLK), (0o010000, 0o140000, 0o060000));
        assert_eq!(dtype_of_mode(S_IFDIR | 0o755), DT_DIR);
        assert_eq!(dtype_of_mode(S_IFREG | 0o644), DT_REG);
        assert_eq!(dtype_of_mode(S_IFLNK), DT_LNK);
        assert_eq!(dtype_of_mode(S_IFCHR), DT_CHR);
        assert_eq!(dtype_of_mode(S_IFIFO), DT_FIFO);
        assert_eq!(dtype_of_mode(S_IFSOCK), DT_SOCK);
        assert_eq!(dtype_of_mode(S_IFBLK), DT_BLK);
        assert_eq!(
            (AT_NULL, AT_PHDR, AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_EXECFN, AT_SYSINFO_EHDR),
            (0, 3, 6, 9, 25, 31, 33)
        );
        assert_eq!((AT_PLATFORM, AT_HWCAP, AT_CLKTCK, AT_SECURE, AT_HWCAP2, AT_MINSIGSTKSZ), (15, 16, 17, 23, 26, 51));
    }
}
