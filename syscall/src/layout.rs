//! Structures exchanged with user space, with their exact Linux x86-64
//! layout (little-endian, padding included).
//!
//! Each is a plain Rust struct with `SIZE` and `to_bytes` (what the kernel
//! writes to the user), and `from_bytes` where the kernel reads it from the
//! user. No `repr(C)` casts: the bytes are assembled field by field.

/// Little-endian field writer over a fixed buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
        self
    }

    fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_le_bytes())
    }

    fn i64(&mut self, value: i64) -> &mut Self {
        self.bytes(&value.to_le_bytes())
    }

    fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes(&value.to_le_bytes())
    }

    fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes(&value.to_le_bytes())
    }
}

/// Little-endian field reader over a fixed buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        out
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
}

/// `struct stat` of `stat`, `fstat`, `lstat`, `newfstatat` (144 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
}

impl Stat {
    pub const SIZE: usize = 144;

    /// The user-visible bytes (padding and reserved fields zero).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out)
            .u64(self.st_dev)
            .u64(self.st_ino)
            .u64(self.st_nlink)
            .u32(self.st_mode)
            .u32(self.st_uid)
            .u32(self.st_gid)
            .u32(0)
            .u64(self.st_rdev)
            .i64(self.st_size)
            .i64(self.st_blksize)
            .i64(self.st_blocks)
            .i64(self.st_atime)
            .i64(self.st_atime_nsec)
            .i64(self.st_mtime)
            .i64(self.st_mtime_nsec)
            .i64(self.st_ctime)
            .i64(self.st_ctime_nsec);
        out
    }

    /// Size of `struct statx`.
    pub const STATX_SIZE: usize = 256;
    /// `STATX_BASIC_STATS`: every field a `stat` has (no birth time).
    pub const STATX_BASIC_STATS: u32 = 0x7ff;

    /// The same facts as `struct statx` (`stx_mask` = [`Self::STATX_BASIC_STATS`]),
    /// device numbers split into major and minor as Linux's `new_encode_dev`
    /// packs them.
    pub fn to_statx_bytes(&self) -> [u8; Self::STATX_SIZE] {
        let (dev_major, dev_minor) = split_dev(self.st_dev);
        let (rdev_major, rdev_minor) = split_dev(self.st_rdev);
        let stamp = |w: &mut Writer<'_>, secs: i64, nsec: i64| {
            w.i64(secs).u32(u32::try_from(nsec).unwrap_or(0)).u32(0);
        };
        let mut out = [0; Self::STATX_SIZE];
        let mut w = Writer::new(&mut out);
        w.u32(Self::STATX_BASIC_STATS)
            .u32(u32::try_from(self.st_blksize).unwrap_or(4096))
            .u64(0)
            .u32(u32::try_from(self.st_nlink).unwrap_or(u32::MAX))
            .u32(self.st_uid)
            .u32(self.st_gid)
            .u16((self.st_mode & 0xffff) as u16)
            .u16(0)
            .u64(self.st_ino)
            .u64(u64::try_from(self.st_size).unwrap_or(0))
            .u64(u64::try_from(self.st_blocks).unwrap_or(0))
            .u64(0);
        stamp(&mut w, self.st_atime, self.st_atime_nsec);
        stamp(&mut w, 0, 0); // btime: not in stx_mask
        stamp(&mut w, self.st_ctime, self.st_ctime_nsec);
        stamp(&mut w, self.st_mtime, self.st_mtime_nsec);
        w.u32(rdev_major).u32(rdev_minor).u32(dev_major).u32(dev_minor);
        out
    }

    /// Parses the bytes (for tests and user programs).
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        let st_dev = r.u64();
        let st_ino = r.u64();
        let st_nlink = r.u64();
        let st_mode = r.u32();
        let st_uid = r.u32();
        let st_gid = r.u32();
        let _pad0 = r.u32();
        Stat {
            st_dev,
            st_ino,
            st_nlink,
            st_mode,
            st_uid,
            st_gid,
            st_rdev: r.u64(),
            st_size: r.i64(),
            st_blksize: r.i64(),
            st_blocks: r.i64(),
            st_atime: r.i64(),
            st_atime_nsec: r.i64(),
            st_mtime: r.i64(),
            st_mtime_nsec: r.i64(),
            st_ctime: r.i64(),
            st_ctime_nsec: r.i64(),
        }
    }
}

/// `struct timespec` (16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl Timespec {
    pub const SIZE: usize = 16;

    /// From nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timespec { tv_sec: (nanos / 1_000_000_000) as i64, tv_nsec: (nanos % 1_000_000_000) as i64 }
    }

    /// Is `tv_nsec` in `0..1e9` and `tv_sec` non-negative (what `nanosleep`
    /// demands, else `EINVAL`)?
    pub const fn is_valid(&self) -> bool {
        self.tv_sec >= 0 && self.tv_nsec >= 0 && self.tv_nsec < 1_000_000_000
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).i64(self.tv_sec).i64(self.tv_nsec);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        Timespec { tv_sec: r.i64(), tv_nsec: r.i64() }
    }
}

/// `struct timeval` (16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

impl Timeval {
    pub const SIZE: usize = 16;

    /// From nanoseconds (truncated to microseconds).
    pub const fn from_nanos(nanos: u64) -> Self {
        Timeval { tv_sec: (nanos / 1_000_000_000) as i64, tv_usec: ((nanos % 1_000_000_000) / 1000) as i64 }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).i64(self.tv_sec).i64(self.tv_usec);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        Timeval { tv_sec: r.i64(), tv_usec: r.i64() }
    }
}

/// `struct rusage` of `getrusage`/`wait4` (144 bytes): two timevals and
/// fourteen longs, of which Isola fills `ru_maxrss` (KiB) and the times.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RusageLayout {
    pub utime: Timeval,
    pub stime: Timeval,
    pub maxrss_kib: i64,
    pub minflt: i64,
    pub majflt: i64,
    pub nvcsw: i64,
    pub nivcsw: i64,
}

impl RusageLayout {
    pub const SIZE: usize = 144;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.bytes(&self.utime.to_bytes()).bytes(&self.stime.to_bytes());
        // maxrss ixrss idrss isrss minflt majflt nswap inblock oublock
        // msgsnd msgrcv nsignals nvcsw nivcsw
        w.i64(self.maxrss_kib).i64(0).i64(0).i64(0).i64(self.minflt).i64(self.majflt);
        w.i64(0).i64(0).i64(0).i64(0).i64(0).i64(0).i64(self.nvcsw).i64(self.nivcsw);
        out
    }
}

/// `struct tms` of `times` (four `clock_t`, in clock ticks of
/// [`CLK_TCK`] per second).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Tms {
    pub utime: i64,
    pub stime: i64,
    pub cutime: i64,
    pub cstime: i64,
}

/// `sysconf(_SC_CLK_TCK)` on x86-64 Linux: `times` and /proc count in these.
pub const CLK_TCK: u64 = 100;

impl Tms {
    pub const SIZE: usize = 32;

    /// Nanoseconds as clock ticks.
    pub const fn ticks(nanos: u64) -> i64 {
        (nanos / (1_000_000_000 / CLK_TCK)) as i64
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).i64(self.utime).i64(self.stime).i64(self.cutime).i64(self.cstime);
        out
    }
}

/// Length of each field of [`Utsname`], NUL included.
pub const UTSNAME_FIELD_LEN: usize = 65;

/// `struct new_utsname` of `uname` (6 fields of 65 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Utsname {
    pub sysname: [u8; UTSNAME_FIELD_LEN],
    pub nodename: [u8; UTSNAME_FIELD_LEN],
    pub release: [u8; UTSNAME_FIELD_LEN],
    pub version: [u8; UTSNAME_FIELD_LEN],
    pub machine: [u8; UTSNAME_FIELD_LEN],
    pub domainname: [u8; UTSNAME_FIELD_LEN],
}

/// A NUL-padded field; truncated to 64 bytes so a NUL always ends it.
fn uts_field(text: &str) -> [u8; UTSNAME_FIELD_LEN] {
    let mut field = [0; UTSNAME_FIELD_LEN];
    let len = text.len().min(UTSNAME_FIELD_LEN - 1);
    field[..len].copy_from_slice(&text.as_bytes()[..len]);
    field
}

impl Utsname {
    pub const SIZE: usize = 6 * UTSNAME_FIELD_LEN;

    /// From strings, each truncated to 64 bytes.
    pub fn new(sysname: &str, nodename: &str, release: &str, version: &str, machine: &str, domainname: &str) -> Self {
        Utsname {
            sysname: uts_field(sysname),
            nodename: uts_field(nodename),
            release: uts_field(release),
            version: uts_field(version),
            machine: uts_field(machine),
            domainname: uts_field(domainname),
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out)
            .bytes(&self.sysname)
            .bytes(&self.nodename)
            .bytes(&self.release)
            .bytes(&self.version)
            .bytes(&self.machine)
            .bytes(&self.domainname);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        Utsname {
            sysname: r.array(),
            nodename: r.array(),
            release: r.array(),
            version: r.array(),
            machine: r.array(),
            domainname: r.array(),
        }
    }
}

/// `struct iovec` of `readv`/`writev` (16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct IoVec {
    pub iov_base: u64,
    pub iov_len: u64,
}

impl IoVec {
    pub const SIZE: usize = 16;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).u64(self.iov_base).u64(self.iov_len);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        IoVec { iov_base: r.u64(), iov_len: r.u64() }
    }
}

/// Most iovecs one `readv`/`writev` takes (`UIO_MAXIOV`); more is `EINVAL`.
pub const UIO_MAXIOV: usize = 1024;

/// `struct rlimit` (16 bytes); [`crate::RLIM_INFINITY`] means no limit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

impl Rlimit {
    pub const SIZE: usize = 16;

    /// No limit at all.
    pub const INFINITY: Rlimit = Rlimit { rlim_cur: crate::RLIM_INFINITY, rlim_max: crate::RLIM_INFINITY };

    pub const fn new(rlim_cur: u64, rlim_max: u64) -> Self {
        Rlimit { rlim_cur, rlim_max }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).u64(self.rlim_cur).u64(self.rlim_max);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        Rlimit { rlim_cur: r.u64(), rlim_max: r.u64() }
    }
}

/// `struct winsize` of `TIOCGWINSZ`/`TIOCSWINSZ` (8 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Winsize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}

impl Winsize {
    pub const SIZE: usize = 8;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).u16(self.ws_row).u16(self.ws_col).u16(self.ws_xpixel).u16(self.ws_ypixel);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        Winsize { ws_row: r.u16(), ws_col: r.u16(), ws_xpixel: r.u16(), ws_ypixel: r.u16() }
    }
}

/// Terminal flag bits and control-character indices (`asm-generic/termbits.h`).
pub mod termios {
    // c_iflag
    pub const IGNBRK: u32 = 0o1;
    pub const BRKINT: u32 = 0o2;
    pub const IGNPAR: u32 = 0o4;
    pub const PARMRK: u32 = 0o10;
    pub const INPCK: u32 = 0o20;
    pub const ISTRIP: u32 = 0o40;
    pub const INLCR: u32 = 0o100;
    pub const IGNCR: u32 = 0o200;
    pub const ICRNL: u32 = 0o400;
    pub const IUCLC: u32 = 0o1000;
    pub const IXON: u32 = 0o2000;
    pub const IXANY: u32 = 0o4000;
    pub const IXOFF: u32 = 0o10000;
    pub const IMAXBEL: u32 = 0o20000;
    pub const IUTF8: u32 = 0o40000;
    // c_oflag
    pub const OPOST: u32 = 0o1;
    pub const OLCUC: u32 = 0o2;
    pub const ONLCR: u32 = 0o4;
    pub const OCRNL: u32 = 0o10;
    pub const ONOCR: u32 = 0o20;
    pub const ONLRET: u32 = 0o40;
    // c_cflag
    pub const CBAUD: u32 = 0o10017;
    pub const B38400: u32 = 0o17;
    pub const CSIZE: u32 = 0o60;
    pub const CS8: u32 = 0o60;
    pub const CSTOPB: u32 = 0o100;
    pub const CREAD: u32 = 0o200;
    pub const PARENB: u32 = 0o400;
    pub const PARODD: u32 = 0o1000;
    pub const HUPCL: u32 = 0o2000;
    pub const CLOCAL: u32 = 0o4000;
    // c_lflag
    pub const ISIG: u32 = 0o1;
    pub const ICANON: u32 = 0o2;
    pub const XCASE: u32 = 0o4;
    pub const ECHO: u32 = 0o10;
    pub const ECHOE: u32 = 0o20;
    pub const ECHOK: u32 = 0o40;
    pub const ECHONL: u32 = 0o100;
    pub const NOFLSH: u32 = 0o200;
    pub const TOSTOP: u32 = 0o400;
    pub const ECHOCTL: u32 = 0o1000;
    pub const ECHOPRT: u32 = 0o2000;
    pub const ECHOKE: u32 = 0o4000;
    pub const FLUSHO: u32 = 0o10000;
    pub const PENDIN: u32 = 0o40000;
    pub const IEXTEN: u32 = 0o100000;
    // c_cc indices
    pub const VINTR: usize = 0;
    pub const VQUIT: usize = 1;
    pub const VERASE: usize = 2;
    pub const VKILL: usize = 3;
    pub const VEOF: usize = 4;
    pub const VTIME: usize = 5;
    pub const VMIN: usize = 6;
    pub const VSWTC: usize = 7;
    pub const VSTART: usize = 8;
    pub const VSTOP: usize = 9;
    pub const VSUSP: usize = 10;
    pub const VEOL: usize = 11;
    pub const VREPRINT: usize = 12;
    pub const VDISCARD: usize = 13;
    pub const VWERASE: usize = 14;
    pub const VLNEXT: usize = 15;
    pub const VEOL2: usize = 16;
    /// Number of control characters of the kernel `struct termios`.
    pub const NCCS: usize = 19;
}

/// The kernel `struct termios` of `TCGETS`/`TCSETS` on x86-64 (36 bytes;
/// not glibc's larger one, which adds speeds).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; termios::NCCS],
}

impl Termios {
    pub const SIZE: usize = 36;

    /// Linux's default for a terminal (`tty_std_termios`): cooked mode,
    /// echo, signals, CR->NL on input, NL->CRNL on output, 38400 8N1.
    pub const fn serial_console() -> Self {
        use termios::*;
        let mut c_cc = [0; NCCS];
        c_cc[VINTR] = 0o3; // ^C
        c_cc[VQUIT] = 0o34; // ^\
        c_cc[VERASE] = 0o177; // DEL
        c_cc[VKILL] = 0o25; // ^U
        c_cc[VEOF] = 0o4; // ^D
        c_cc[VTIME] = 0;
        c_cc[VMIN] = 1;
        c_cc[VSWTC] = 0;
        c_cc[VSTART] = 0o21; // ^Q
        c_cc[VSTOP] = 0o23; // ^S
        c_cc[VSUSP] = 0o32; // ^Z
        c_cc[VEOL] = 0;
        c_cc[VREPRINT] = 0o22; // ^R
        c_cc[VDISCARD] = 0o17; // ^O
        c_cc[VWERASE] = 0o27; // ^W
        c_cc[VLNEXT] = 0o26; // ^V
        c_cc[VEOL2] = 0;
        Termios {
            c_iflag: ICRNL | IXON,
            c_oflag: OPOST | ONLCR,
            c_cflag: B38400 | CS8 | CREAD | HUPCL,
            c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            c_line: 0,
            c_cc,
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out)
            .u32(self.c_iflag)
            .u32(self.c_oflag)
            .u32(self.c_cflag)
            .u32(self.c_lflag)
            .bytes(&[self.c_line])
            .bytes(&self.c_cc);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        Termios {
            c_iflag: r.u32(),
            c_oflag: r.u32(),
            c_cflag: r.u32(),
            c_lflag: r.u32(),
            c_line: r.u8(),
            c_cc: r.array(),
        }
    }
}

/// The kernel `struct sigaction` of `rt_sigaction` on x86-64 (32 bytes):
/// `handler` is [`crate::SIG_DFL`], [`crate::SIG_IGN`] or an address;
/// `flags` the `SA_*` bits; `mask` the signals blocked while it runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct KernelSigaction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl KernelSigaction {
    pub const SIZE: usize = 32;

    /// `SIG_DFL`, no flags, empty mask.
    pub const DEFAULT: KernelSigaction = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).u64(self.handler).u64(self.flags).u64(self.restorer).u64(self.mask);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        KernelSigaction { handler: r.u64(), flags: r.u64(), restorer: r.u64(), mask: r.u64() }
    }
}

/// Size of the fixed part of `struct linux_dirent64` (before the name).
pub const DIRENT64_HEADER: usize = 19;

/// The record length of a `linux_dirent64` with a name of `name_len` bytes:
/// header, name, NUL, rounded up to 8.
pub const fn dirent64_reclen(name_len: usize) -> usize {
    (DIRENT64_HEADER + name_len + 1).next_multiple_of(8)
}

/// Writes one `struct linux_dirent64` (`d_ino u64, d_off i64, d_reclen u16,
/// d_type u8, d_name` NUL-terminated, padded with zeros to a multiple of 8)
/// at the start of `buf`; returns its length, or `None` if it does not fit
/// (`getdents64` then stops, or fails with `EINVAL` if nothing was written).
pub fn encode_dirent64(buf: &mut [u8], ino: u64, next_offset: i64, dtype: u8, name: &[u8]) -> Option<usize> {
    let reclen = dirent64_reclen(name.len());
    let reclen16 = u16::try_from(reclen).ok()?;
    let record = buf.get_mut(..reclen)?;
    record.fill(0);
    Writer::new(record).u64(ino).i64(next_offset).u16(reclen16).bytes(&[dtype]).bytes(name);
    Some(reclen)
}

/// Linux's `MAJOR`/`MINOR` of a 64-bit `dev_t` (glibc's `gnu_dev_major`).
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// `struct ipc64_perm` (48 bytes): an IPC object's key, owner, creator,
/// mode and sequence number. IPC_SET reads uid, gid and mode from it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The mode bits, and SHM_DEST / SHM_LOCKED for a segment.
    pub mode: u32,
    pub seq: u16,
}

impl IpcPerm {
    pub const SIZE: usize = 48;

    fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.key as u32).u32(self.uid).u32(self.gid).u32(self.cuid).u32(self.cgid).u32(self.mode);
        // __pad2, then the two unused longs at their 8-byte alignment.
        w.u16(self.seq).u16(0).u32(0).u64(0).u64(0);
    }

    fn read(r: &mut Reader<'_>) -> IpcPerm {
        let perm = IpcPerm { key: r.u32() as i32, uid: r.u32(), gid: r.u32(), cuid: r.u32(), cgid: r.u32(), mode: r.u32(), seq: r.u16() };
        r.array::<22>();
        perm
    }
}

/// `struct shmid64_ds` (112 bytes) of shmctl's IPC_STAT and IPC_SET.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ShmidDs {
    pub perm: IpcPerm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
}

impl ShmidDs {
    pub const SIZE: usize = 112;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        self.perm.write(&mut w);
        w.u64(self.segsz).i64(self.atime).i64(self.dtime).i64(self.ctime);
        w.u32(self.cpid as u32).u32(self.lpid as u32).u64(self.nattch);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        let perm = IpcPerm::read(&mut r);
        ShmidDs {
            perm,
            segsz: r.u64(),
            atime: r.i64(),
            dtime: r.i64(),
            ctime: r.i64(),
            cpid: r.u32() as i32,
            lpid: r.u32() as i32,
            nattch: r.u64(),
        }
    }
}

/// `struct semid64_ds` (104 bytes on x86-64) of semctl's IPC_STAT and IPC_SET.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SemidDs {
    pub perm: IpcPerm,
    pub otime: i64,
    pub ctime: i64,
    pub nsems: u64,
}

impl SemidDs {
    pub const SIZE: usize = 104;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        self.perm.write(&mut w);
        w.i64(self.otime).u64(0).i64(self.ctime).u64(0).u64(self.nsems);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        let perm = IpcPerm::read(&mut r);
        let otime = r.i64();
        r.u64();
        let ctime = r.i64();
        r.u64();
        SemidDs { perm, otime, ctime, nsems: r.u64() }
    }
}

/// `struct shminfo64` (72 bytes): shmctl(IPC_INFO)'s limits.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ShmLimits {
    pub shmmax: u64,
    pub shmmin: u64,
    pub shmmni: u64,
    pub shmseg: u64,
    pub shmall: u64,
}

impl ShmLimits {
    pub const SIZE: usize = 72;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        Writer::new(&mut out).u64(self.shmmax).u64(self.shmmin).u64(self.shmmni).u64(self.shmseg).u64(self.shmall);
        out
    }
}

/// `struct shm_info` (48 bytes): shmctl(SHM_INFO)'s use of shared memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ShmUsage {
    pub used_ids: i32,
    /// Pages of all segments.
    pub shm_tot: u64,
    /// Pages of them in memory.
    pub shm_rss: u64,
}

impl ShmUsage {
    pub const SIZE: usize = 48;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        // shm_swp, swap_attempts and swap_successes: no swap.
        Writer::new(&mut out).u32(self.used_ids as u32).u32(0).u64(self.shm_tot).u64(self.shm_rss);
        out
    }
}

/// `struct seminfo` (40 bytes): semctl(IPC_INFO, SEM_INFO)'s ten ints.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SemLimits {
    pub semmap: i32,
    pub semmni: i32,
    pub semmns: i32,
    pub semmnu: i32,
    pub semmsl: i32,
    pub semopm: i32,
    pub semume: i32,
    pub semusz: i32,
    pub semvmx: i32,
    pub semaem: i32,
}

impl SemLimits {
    pub const SIZE: usize = 40;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        for v in [
            self.semmap, self.semmni, self.semmns, self.semmnu, self.semmsl, self.semopm, self.semume, self.semusz, self.semvmx, self.semaem,
        ] {
            w.u32(v as u32);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statx_layout() {
        let stat = Stat {
            st_dev: (8 << 8) | 1,
            st_ino: 1234,
            st_nlink: 2,
            st_mode: 0o100_755,
            st_uid: 33,
            st_gid: 34,
            st_rdev: (1 << 8) | 9,
            st_size: 5000,
            st_blksize: 4096,
            st_blocks: 16,
            st_atime: 10,
            st_atime_nsec: 11,
            st_mtime: 20,
            st_mtime_nsec: 21,
            st_ctime: 30,
            st_ctime_nsec: 31,
        };
        let b = stat.to_statx_bytes();
        // Offsets of <linux/stat.h>'s struct statx.
        assert_eq!(u32_at(&b, 0), 0x7ff);
        assert_eq!(u32_at(&b, 4), 4096);
        assert_eq!(u32_at(&b, 16), 2);
        assert_eq!((u32_at(&b, 20), u32_at(&b, 24)), (33, 34));
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 0o100_755);
        assert_eq!(u64_at(&b, 32), 1234);
        assert_eq!(u64_at(&b, 40), 5000);
        assert_eq!(u64_at(&b, 48), 16);
        assert_eq!((u64_at(&b, 64), u32_at(&b, 72)), (10, 11));
        assert_eq!(u64_at(&b, 80), 0);
        assert_eq!((u64_at(&b, 96), u32_at(&b, 104)), (30, 31));
        assert_eq!((u64_at(&b, 112), u32_at(&b, 120)), (20, 21));
        assert_eq!((u32_at(&b, 128), u32_at(&b, 132)), (1, 9));
        assert_eq!((u32_at(&b, 136), u32_at(&b, 140)), (8, 1));
        assert!(b[144..].iter().all(|&x| x == 0));
        // glibc's makedev(0x1234, 0x56789)
        let dev = (0x234u64 << 8) | (0x1000u64 << 32) | 0x89 | (0x56700u64 << 12);
        assert_eq!(split_dev(dev), (0x1234, 0x56789));
    }

    #[test]
    fn ipc_layouts() {
        let perm = IpcPerm { key: 0x1234, uid: 33, gid: 34, cuid: 0, cgid: 1, mode: 0o1600, seq: 7 };
        let shm = ShmidDs { perm, segsz: 8192, atime: 10, dtime: 11, ctime: 12, cpid: 5, lpid: 6, nattch: 2 };
        let b = shm.to_bytes();
        // Offsets of <asm-generic/shmbuf.h>'s struct shmid64_ds on x86-64.
        assert_eq!((u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8)), (0x1234, 33, 34));
        assert_eq!((u32_at(&b, 12), u32_at(&b, 16), u32_at(&b, 20)), (0, 1, 0o1600));
        assert_eq!(u16::from_le_bytes([b[24], b[25]]), 7);
        assert_eq!((u64_at(&b, 48), u64_at(&b, 56), u64_at(&b, 64), u64_at(&b, 72)), (8192, 10, 11, 12));
        assert_eq!((u32_at(&b, 80), u32_at(&b, 84), u64_at(&b, 88)), (5, 6, 2));
        assert_eq!(ShmidDs::from_bytes(&b), shm);
        let sem = SemidDs { perm, otime: 20, ctime: 21, nsems: 3 };
        let b = sem.to_bytes();
        // <asm/sembuf.h> on x86-64: otime, pad, ctime, pad, nsems.
        assert_eq!((u64_at(&b, 48), u64_at(&b, 64), u64_at(&b, 80)), (20, 21, 3));
        assert_eq!(SemidDs::from_bytes(&b), sem);
        let info = SemLimits { semmni: 32000, semaem: 32767, ..SemLimits::default() };
        let b = info.to_bytes();
        assert_eq!((u32_at(&b, 4), u32_at(&b, 36)), (32000, 32767));
        let usage = ShmUsage { used_ids: 3, shm_tot: 4, shm_rss: 5 }.to_bytes();
        assert_eq!((u32_at(&usage, 0), u64_at(&usage, 8), u64_at(&usage, 16)), (3, 4, 5));
    }

    fn u64_at(bytes: &[u8], offset: usize) -> u64 {
        u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
    }

    fn u32_at(bytes: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn stat_layout() {
        let stat = Stat {
            st_dev: 1,
            st_ino: 2,
            st_nlink: 3,
            st_mode: 0o100644,
            st_uid: 5,
            st_gid: 6,
            st_rdev: 7,
            st_size: 8,
            st_blksize: 4096,
            st_blocks: 10,
            st_atime: 11,
            st_atime_nsec: 12,
            st_mtime: 13,
            st_mtime_nsec: 14,
            st_ctime: 15,
            st_ctime_nsec: 16,
        };
        let bytes = stat.to_bytes();
        assert_eq!(bytes.len(), 144);
        assert_eq!(u64_at(&bytes, 0), 1);
        assert_eq!(u64_at(&bytes, 8), 2);
        assert_eq!(u64_at(&bytes, 16), 3);
        assert_eq!(u32_at(&bytes, 24), 0o100644);
        assert_eq!(u32_at(&bytes, 28), 5);
        assert_eq!(u32_at(&bytes, 32), 6);
        assert_eq!(u32_at(&bytes, 36), 0, "__pad0");
        assert_eq!(u64_at(&bytes, 40), 7);
        assert_eq!(u64_at(&bytes, 48), 8);
        assert_eq!(u64_at(&bytes, 56), 4096);
        assert_eq!(u64_at(&bytes, 64), 10);
        assert_eq!(u64_at(&bytes, 72), 11);
        assert_eq!(u64_at(&bytes, 80), 12);
        assert_eq!(u64_at(&bytes, 88), 13);
        assert_eq!(u64_at(&bytes, 96), 14);
        assert_eq!(u64_at(&bytes, 104), 15);
        assert_eq!(u64_at(&bytes, 112), 16);
        assert!(bytes[120..].iter().all(|&b| b == 0), "reserved");
        assert_eq!(Stat::from_bytes(&bytes), stat);
    }

    #[test]
    fn time_layouts() {
        let ts = Timespec { tv_sec: -2, tv_nsec: 999_999_999 };
        let bytes = ts.to_bytes();
        assert_eq!(bytes[..8], (-2i64).to_le_bytes());
        assert_eq!(bytes[8..], 999_999_999i64.to_le_bytes());
        assert_eq!(Timespec::from_bytes(&bytes), ts);
        assert!(!ts.is_valid());
        assert_eq!(Timespec::from_nanos(1_500_000_000), Timespec { tv_sec: 1, tv_nsec: 500_000_000 });
        assert_eq!(Timespec { tv_sec: 1, tv_nsec: 5 }.duration_ns(), Ok(1_000_000_005));
        assert_eq!(Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 }.duration_ns(), Err(crate::Errno::EINVAL));
        assert_eq!(Timespec { tv_sec: i64::MAX, tv_nsec: 0 }.duration_ns(), Ok(crate::MAX_DURATION_NS));
        let tv = Timeval::from_nanos(2_000_123_456);
        assert_eq!(tv, Timeval { tv_sec: 2, tv_usec: 123 });
        assert_eq!(Timeval::from_bytes(&tv.to_bytes()), tv);
        assert_eq!(Timeval::SIZE, 16);
    }

    #[test]
    fn rusage_and_tms_layouts() {
        let r = RusageLayout {
            utime: Timeval { tv_sec: 1, tv_usec: 2 },
            stime: Timeval { tv_sec: 3, tv_usec: 4 },
            maxrss_kib: 5,
            minflt: 6,
            majflt: 7,
            nvcsw: 8,
            nivcsw: 9,
        };
        let b = r.to_bytes();
        let long = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!((long(0), long(1), long(2), long(3)), (1, 2, 3, 4));
        assert_eq!((long(4), long(8), long(9), long(16), long(17)), (5, 6, 7, 8, 9));
        assert_eq!(b.len(), 144);
        let t = Tms { utime: 1, stime: 2, cutime: 3, cstime: 4 }.to_bytes();
        assert_eq!(t[24..32], 4i64.to_le_bytes());
        assert_eq!(Tms::ticks(25_000_000), 2);
    }

    #[test]
    fn utsname_truncates_and_terminates() {
        let long = "x".repeat(100);
        let uts = Utsname::new("Linux", "isola", "6.1.0-isola", &long, "x86_64", "(none)");
        let bytes = uts.to_bytes();
        assert_eq!(bytes.len(), 390);
        assert_eq!(&bytes[..6], b"Linux\0");
        assert_eq!(&bytes[65..71], b"isola\0");
        assert_eq!(&bytes[130..142], b"6.1.0-isola\0");
        assert_eq!(&bytes[195..259], &long.as_bytes()[..64]);
        assert_eq!(bytes[259], 0, "a truncated field still ends with NUL");
        assert_eq!(&bytes[260..267], b"x86_64\0");
        assert_eq!(&bytes[325..332], b"(none)\0");
        assert_eq!(Utsname::from_bytes(&bytes), uts);
    }

    #[test]
    fn small_structs() {
        let iov = IoVec::from_bytes(&[1, 0, 0, 0, 0, 0, 0, 0x7f, 9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(iov, IoVec { iov_base: 0x7f00_0000_0000_0001, iov_len: 9 });
        assert_eq!(IoVec::from_bytes(&iov.to_bytes()), iov);
        let rlimit = Rlimit::new(1024, u64::MAX);
        let bytes = rlimit.to_bytes();
        assert_eq!(u64_at(&bytes, 0), 1024);
        assert_eq!(u64_at(&bytes, 8), u64::MAX);
        assert_eq!(Rlimit::from_bytes(&bytes), rlimit);
        let ws = Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        assert_eq!(ws.to_bytes(), [24, 0, 80, 0, 0, 0, 0, 0]);
        assert_eq!(Winsize::from_bytes(&ws.to_bytes()), ws);
        let act = KernelSigaction { handler: 0x401000, flags: 0x0400_0004, restorer: 0x402000, mask: 1 << 16 };
        let bytes = act.to_bytes();
        assert_eq!(u64_at(&bytes, 0), 0x401000);
        assert_eq!(u64_at(&bytes, 8), 0x0400_0004);
        assert_eq!(u64_at(&bytes, 16), 0x402000);
        assert_eq!(u64_at(&bytes, 24), 1 << 16);
        assert_eq!(KernelSigaction::from_bytes(&bytes), act);
        assert_eq!(KernelSigaction::default(), KernelSigaction::DEFAULT);
    }

    #[test]
    fn termios_default_matches_linux() {
        use termios::*;
        let t = Termios::serial_console();
        assert_eq!(t.c_iflag, 0o2400, "ICRNL|IXON");
        assert_eq!(t.c_oflag, 0o5, "OPOST|ONLCR");
        assert_eq!(t.c_cflag, 0o2277, "B38400|CS8|CREAD|HUPCL");
        assert_eq!(t.c_lflag, 0o105073, "ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN");
        assert_eq!(t.c_cc[..17], *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00");
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), 36);
        assert_eq!(u32_at(&bytes, 0), ICRNL | IXON);
        assert_eq!(u32_at(&bytes, 12), t.c_lflag);
        assert_eq!(bytes[16], 0, "c_line");
        assert_eq!(bytes[17 + VINTR], 3);
        assert_eq!(bytes[17 + VMIN], 1);
        assert_eq!(Termios::from_bytes(&bytes), t);
    }

    #[test]
    fn dirent64() {
        let mut buf = [0xaa; 64];
        let len = encode_dirent64(&mut buf, 42, 7, crate::DT_REG, b"hello").unwrap();
        assert_eq!(len, 32, "19 + 5 + 1 = 25, rounded to 32");
        assert_eq!(u64_at(&buf, 0), 42);
        assert_eq!(u64_at(&buf, 8), 7);
        assert_eq!(u16::from_le_bytes([buf[16], buf[17]]), 32);
        assert_eq!(buf[18], crate::DT_REG);
        assert_eq!(&buf[19..25], b"hello\0");
        assert!(buf[25..32].iter().all(|&b| b == 0), "padding zeroed");
        assert_eq!(buf[32], 0xaa, "nothing written past the record");
        // Exactly 24: 19 + 4 + 1.
        assert_eq!(encode_dirent64(&mut buf, 1, 1, crate::DT_DIR, b"abcd"), Some(24));
        assert_eq!(dirent64_reclen(0), 24);
        assert_eq!(dirent64_reclen(5), 32);
        assert_eq!(dirent64_reclen(12), 32);
        assert_eq!(dirent64_reclen(13), 40);
        // Does not fit.
        assert_eq!(encode_dirent64(&mut buf[..31], 42, 7, crate::DT_REG, b"hello"), None);
        assert_eq!(encode_dirent64(&mut [], 1, 1, 0, b"."), None);
    }
}
