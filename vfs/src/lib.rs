//! The in-memory file system Isola mounts as `/`: writable, like Linux's
//! initramfs on tmpfs.
//!
//! [`Fs`] owns every inode (directories, regular files, symlinks and the
//! character devices of [`Device`]) in a `BTreeMap` keyed by [`InodeId`],
//! which is also the `st_ino`. [`ROOT`] is `/`. The tree is usually built
//! from the initramfs with [`Fs::from_cpio`] followed by
//! [`Fs::add_standard_devices`].
//!
//! The API is by inode and by (parent directory, name): path resolution
//! ([`Fs::lookup`], [`Fs::lookup_parent`]) is separate from the operations,
//! so the kernel resolves a path once and then acts on the result. Errors
//! are Linux [`Errno`] values. Permission bits are stored and reported but
//! not enforced (every process runs as root); `umask` is the caller's job.
//!
//! **Unlinked inodes.** `unlink`, `rmdir` and a `rename` that replaces its
//! target remove a *name*; the inode stays readable and writable by id
//! (with `nlink == 0`), because an open file may still refer to it. The
//! kernel calls [`Fs::forget_if_unlinked`] when the last open file
//! description of an inode closes, and right after removing a name when no
//! open file refers to the inode; that frees the inode if no name is left.
//!
//! Neighbours: `cpio` (archive reader), `syscall` (`Errno`); the kernel's
//! file syscalls (`openat`, `getdents64`, `newfstatat`...) sit on top.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

extern crate alloc;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hashbrown::HashMap;
use syscall::Errno;

pub mod remote;
use remote::{Backend, Mount, NewNode, RemoteStatFs, SetAttr, remote_id, split_id};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod mount_tests;

/// An inode number; also the `st_ino` reported by `stat`.
pub type InodeId = u64;

/// The hash of the inode table: one multiply of the inode number (a
/// Fibonacci hash). Inode numbers are small and distinct, so nothing needs
/// the general-purpose hasher's mixing, which was a third of every look-up
/// (one per step of every path walk).
#[derive(Clone, Copy, Debug, Default)]
pub struct InodeHasher(u64);

impl core::hash::Hasher for InodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// What the inode tables hash with.
pub type InodeHash = core::hash::BuildHasherDefault<InodeHasher>;
/// The root directory.
pub const ROOT: InodeId = 1;
/// Longest name of one path component (`NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Paths of this length or longer are refused (`PATH_MAX` counts the NUL).
pub const PATH_MAX: usize = 4096;
/// Symlinks followed in one lookup before `ELOOP` (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;
/// Largest regular file; writing or truncating past it gives `EFBIG`.
pub const MAX_FILE_SIZE: u64 = 1 << 32;

/// `st_mode` file type bits.
pub const S_IFMT: u32 = 0o170_000;
/// Directory.
pub const S_IFDIR: u32 = 0o040_000;
/// Regular file.
pub const S_IFREG: u32 = 0o100_000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// Character device.
pub const S_IFCHR: u32 = 0o020_000;
/// Named pipe (FIFO).
pub const S_IFIFO: u32 = 0o010_000;
pub const S_IFSOCK: u32 = 0o140_000;

/// `st_size` of a directory per entry, as tmpfs counts (`BOGO_DIRENT_SIZE`).
const DIRENT_SIZE: u64 = 20;

/// The character devices the file system can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// `/dev/null` (1, 3): reads end of file, writes are swallowed.
    Null,
    /// `/dev/zero` (1, 5): reads zeros, writes are swallowed.
    Zero,
    /// `/dev/console` (5, 1): the kernel routes its I/O to the console.
    Console,
    /// `/dev/full` (1, 7): reads zeros, writes fail with `ENOSPC`.
    Full,
    /// `/dev/random` (1, 8): random bytes from the kernel (this crate has no
    /// entropy source, so the kernel serves reads); writes are swallowed.
    Random,
    /// `/dev/urandom` (1, 9): as `Random` (Linux 5.6+ makes them the same).
    Urandom,
    /// `/dev/ptmx` (5, 2): each open makes a pseudo-terminal pair and is
    /// its master (the kernel's; reads and writes here are `EIO`).
    Ptmx,
    /// `/dev/pts/N` (136, N): the slave of pseudo-terminal N (the kernel's).
    PtySlave(u32),
}

impl Device {
    /// Linux major and minor numbers.
    pub const fn numbers(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Console => (5, 1),
            Device::Full => (1, 7),
            Device::Random => (1, 8),
            Device::Urandom => (1, 9),
            Device::Ptmx => (5, 2),
            Device::PtySlave(index) => (136, index),
        }
    }

    /// The device with these numbers, if the file system knows it.
    pub const fn from_numbers(major: u32, minor: u32) -> Option<Device> {
        match (major, minor) {
            (1, 3) => Some(Device::Null),
            (1, 5) => Some(Device::Zero),
            (5, 1) => Some(Device::Console),
            (1, 7) => Some(Device::Full),
            (1, 8) => Some(Device::Random),
            (1, 9) => Some(Device::Urandom),
            (5, 2) => Some(Device::Ptmx),
            (136, index) => Some(Device::PtySlave(index)),
            _ => None,
        }
    }

    /// `st_rdev` in Linux's `makedev` encoding.
    pub const fn rdev(self) -> u64 {
        let (major, minor) = self.numbers();
        makedev(major, minor)
    }
}

/// Linux's `makedev` (glibc `gnu_dev_makedev`).
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0000_0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x0000_00ff)
}

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice(Device),
    /// A named pipe: the data lives in the kernel's pipe, not here.
    Fifo,
    /// An AF_UNIX socket's name (bind): the socket lives in the kernel.
    Socket,
}

impl NodeKind {
    /// The `S_IFMT` bits.
    pub const fn file_type(self) -> u32 {
        match self {
            NodeKind::Directory => S_IFDIR,
            NodeKind::File => S_IFREG,
            NodeKind::Symlink => S_IFLNK,
            NodeKind::CharDevice(_) => S_IFCHR,
            NodeKind::Fifo => S_IFIFO,
            NodeKind::Socket => S_IFSOCK,
        }
    }

    /// The `d_type` of `getdents64` (`DT_DIR`, `DT_REG`, `DT_LNK`, `DT_CHR`).
    pub const fn dirent_type(self) -> u8 {
        match self {
            NodeKind::Directory => 4,
            NodeKind::File => 8,
            NodeKind::Symlink => 10,
            NodeKind::CharDevice(_) => 2,
            NodeKind::Fifo => 1,
            NodeKind::Socket => 12,
        }
    }
}

/// What `stat` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Inode number.
    pub ino: InodeId,
    /// Kind of node.
    pub kind: NodeKind,
    /// Full `st_mode`, `S_IFMT` bits included.
    pub mode: u32,
    /// Number of names (directories: 2 + subdirectories; 0 once removed).
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bytes of a file, length of a symlink's target, a tmpfs-like
    /// estimate for a directory, 0 for a device.
    pub size: u64,
    /// Device numbers (`makedev` encoding), 0 unless a device.
    pub rdev: u64,
    /// Last access (read, getdents, readlink; [`Fs::accessed`]).
    pub atime: Timestamp,
    /// Last change of the content (write, truncate, a directory's entries).
    pub mtime: Timestamp,
    /// Last change of the inode (content, mode, owner, names, times).
    pub ctime: Timestamp,
}

/// A time of an inode: seconds and nanoseconds since the epoch (the
/// `struct timespec` of `stat`). Ordered as times are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    /// Below 1e9.
    pub nsecs: u32,
}

impl Timestamp {
    /// The epoch.
    pub const ZERO: Timestamp = Timestamp { secs: 0, nsecs: 0 };

    /// A whole second.
    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp { secs, nsecs: 0 }
    }

    /// Nanoseconds since the epoch.
    pub const fn from_ns(ns: u64) -> Timestamp {
        Timestamp { secs: (ns / 1_000_000_000) as i64, nsecs: (ns % 1_000_000_000) as u32 }
    }
}

/// How a time is set ([`Fs::set_times`]): to the clock's now
/// (`UTIME_NOW`), or to a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeChange {
    Now,
    At(Timestamp),
}

/// Seconds after which a read updates the access time even when it is
/// newer than the modification and change times (Linux's relatime).
const RELATIME_SECS: i64 = 24 * 60 * 60;

/// One entry of [`Fs::read_dir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Name (no `/`, no NUL).
    pub name: Vec<u8>,
    /// Inode the name refers to.
    pub ino: InodeId,
    /// Its kind (for `d_type`).
    pub kind: NodeKind,
}

#[derive(Clone, Debug)]
struct Dir {
    parent: InodeId,
    entries: BTreeMap<Vec<u8>, InodeId>,
}

/// A regular file's bytes.
#[derive(Clone, Debug)]
enum FileData {
    /// Still the bytes of the archive the tree was unpacked from
    /// ([`Fs::from_cpio_in_place`]), never written since: reads copy from
    /// the archive and the kernel maps its pages in place.
    InPlace(&'static [u8]),
    /// The file's own bytes (created or written since).
    Owned(Vec<u8>),
}

impl FileData {
    fn bytes(&self) -> &[u8] {
        match self {
            FileData::InPlace(bytes) => bytes,
            FileData::Owned(bytes) => bytes,
        }
    }

    /// The file's own bytes, copied out of the archive first if need be
    /// (a write gives a file its own pages). `ENOSPC` when memory runs out.
    fn owned(&mut self) -> Result<&mut Vec<u8>, Errno> {
        if let FileData::InPlace(bytes) = *self {
            let mut copy = Vec::new();
            copy.try_reserve_exact(bytes.len()).map_err(|_| Errno::ENOSPC)?;
            copy.extend_from_slice(bytes);
            *self = FileData::Owned(copy);
        }
        match self {
            FileData::Owned(bytes) => Ok(bytes),
            FileData::InPlace(_) => Err(Errno::ENOSPC),
        }
    }
}

#[derive(Clone, Debug)]
enum Body {
    Dir(Dir),
    File(FileData),
    Symlink(Vec<u8>),
    Device(Device),
    Fifo,
    Socket,
}

#[derive(Clone, Debug)]
struct Inode {
    /// Permission bits only (`0o7777`); the type comes from `body`.
    perm: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    atime: Timestamp,
    mtime: Timestamp,
    ctime: Timestamp,
    /// Changes with every write or truncation of a file's bytes, and is
    /// never reused by another inode: what caches of the bytes check.
    generation: u64,
    /// A regular file's seals (`F_ADD_SEALS`, [`SEAL_SEAL`]...): files
    /// start sealed against sealing, as tmpfs's do, except a memfd made
    /// to allow it ([`Fs::create_anonymous`]).
    seals: u32,
    body: Body,
}

/// `F_SEAL_SEAL`: no more seals may be added.
pub const SEAL_SEAL: u32 = 0x1;
/// `F_SEAL_SHRINK`: the file may not get smaller.
pub const SEAL_SHRINK: u32 = 0x2;
/// `F_SEAL_GROW`: the file may not get larger.
pub const SEAL_GROW: u32 = 0x4;
/// `F_SEAL_WRITE`: the bytes may not change (no write, no writable shared
/// mapping; adding it while one exists is the kernel's `EBUSY`).
pub const SEAL_WRITE: u32 = 0x8;
/// `F_SEAL_FUTURE_WRITE`: as `F_SEAL_WRITE` for what comes after; the
/// writable shared mappings that exist keep writing.
pub const SEAL_FUTURE_WRITE: u32 = 0x10;
/// Every seal Linux 6.1 knows.
pub const SEALS_ALL: u32 = SEAL_SEAL | SEAL_SHRINK | SEAL_GROW | SEAL_WRITE | SEAL_FUTURE_WRITE;

impl Inode {
    fn kind(&self) -> NodeKind {
        match &self.body {
            Body::Dir(_) => NodeKind::Directory,
            Body::File(_) => NodeKind::File,
            Body::Symlink(_) => NodeKind::Symlink,
            Body::Device(device) => NodeKind::CharDevice(*device),
            Body::Fifo => NodeKind::Fifo,
            Body::Socket => NodeKind::Socket,
        }
    }
}

/// Who asks, for permission checks ([`Fs::set_identity`]): the file-system
/// ids and supplementary groups of the caller, and whether it holds
/// CAP_DAC_OVERRIDE (Linux's root: reads and writes anything, executes what
/// has an x bit, searches every directory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub privileged: bool,
}

/// Access wanted, Linux's MAY_* bits (the `rwx` of one class).
pub const MAY_READ: u32 = 4;
/// See [`MAY_READ`].
pub const MAY_WRITE: u32 = 2;
/// Execute a file, search a directory.
pub const MAY_EXEC: u32 = 1;

/// The sticky bit: in such a directory only a name's owner, the
/// directory's owner or a privileged caller may remove or rename it.
const S_ISVTX: u32 = 0o1000;
/// Set-group-ID: on a directory, new names inherit its group.
const S_ISGID: u32 = 0o2000;

impl Identity {
    /// Linux's `generic_permission` for an inode of `kind` with `perm`
    /// bits owned by `uid:gid`.
    pub fn may(&self, kind: NodeKind, perm: u32, uid: u32, gid: u32, want: u32) -> bool {
        if self.privileged {
            // CAP_DAC_OVERRIDE: all but executing a file with no x bit.
            return want & MAY_EXEC == 0 || kind == NodeKind::Directory || perm & 0o111 != 0;
        }
        let class = if self.uid == uid {
            perm >> 6
        } else if self.gid == gid || self.groups.contains(&gid) {
            perm >> 3
        } else {
            perm
        };
        class & want & 7 == want & 7
    }
}

/// The file system: every inode, by number (a hash map: looked up at
/// every step of every path, where a B-tree's search cost the most), and
/// the mounts of other file systems on some of its directories
/// ([`Fs::mount`]).
#[derive(Debug)]
pub struct Fs {
    inodes: HashMap<InodeId, Inode, InodeHash>,
    next_ino: InodeId,
    /// The next [`Inode::generation`].
    next_generation: u64,
    /// Whose requests are served: checked against mode bits, and the owner
    /// of what is created. `None` (building the tree, the kernel itself):
    /// no checks, root owns.
    identity: Option<Identity>,
    /// The wall clock as last set ([`Fs::set_clock`]), unless a clock to
    /// read is registered ([`Fs::set_clock_source`]): the time of what is
    /// created, changed or read.
    now: Timestamp,
    clock: Option<fn() -> Timestamp>,
    /// Backends mounted on directories; a remote inode's id says which
    /// ([`remote::split_id`]).
    mounts: Vec<Mount>,
    /// Generations handed to remote files: a fresh one at every ask, since
    /// the host may change them unseen (nothing of them is cached).
    next_remote_generation: core::cell::Cell<u64>,
    /// The names of files made without one ([`Fs::create_anonymous`]),
    /// as /proc shows them (`memfd:NAME`), until they are freed.
    anonymous_names: HashMap<InodeId, Vec<u8>, InodeHash>,
}

impl Default for Fs {
    fn default() -> Self {
        Fs::new()
    }
}

/// Checks a name for a new directory entry.
fn check_new_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if name == b"." || name == b".." {
        return Err(Errno::EEXIST);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// A file offset or size as an index; `EFBIG` if it does not fit.
fn to_usize(value: u64) -> Result<usize, Errno> {
    usize::try_from(value).map_err(|_| Errno::EFBIG)
}

impl Fs {
    /// Serves requests as `who` from now on (`None`: unchecked, as the
    /// kernel itself).
    pub fn set_identity(&mut self, who: Option<Identity>) {
        self.identity = who;
    }

    /// Serves as `who` for a while (access(2)'s real ids) and returns the
    /// identity served until now, to put back.
    pub fn swap_identity(&mut self, who: Option<Identity>) -> Option<Identity> {
        core::mem::replace(&mut self.identity, who)
    }

    /// Whether the current identity may access `id` as `want` (MAY_* bits);
    /// always without an identity. `ENOENT` for no such inode.
    pub fn permits(&self, id: InodeId, want: u32) -> Result<bool, Errno> {
        if split_id(id).is_some() {
            let Some(who) = self.identity.as_ref() else { return Ok(true) };
            let (kind, perm, uid, gid) = self.owner_bits(id)?;
            return Ok(who.may(kind, perm, uid, gid, want));
        }
        Ok(self.node_permits(self.node(id)?, want))
    }

    fn node_permits(&self, node: &Inode, want: u32) -> bool {
        self.identity.as_ref().is_none_or(|who| who.may(node.kind(), node.perm, node.uid, node.gid, want))
    }

    /// Kind, permission bits, owner and group of any inode, local or
    /// remote.
    fn owner_bits(&self, id: InodeId) -> Result<(NodeKind, u32, u32, u32), Errno> {
        if split_id(id).is_some() {
            let meta = self.metadata(id)?;
            return Ok((meta.kind, meta.mode & 0o7777, meta.uid, meta.gid));
        }
        let node = self.node(id)?;
        Ok((node.kind(), node.perm, node.uid, node.gid))
    }

    /// `EACCES` unless [`Fs::permits`].
    pub fn check_access(&self, id: InodeId, want: u32) -> Result<(), Errno> {
        if self.permits(id, want)? { Ok(()) } else { Err(Errno::EACCES) }
    }

    /// Removing or renaming `name` (inode `id`) out of `dir`: write and
    /// search on the directory, and in a sticky directory ownership of
    /// the name or the directory (EPERM otherwise, as Linux).
    fn check_remove(&self, dir: InodeId, id: InodeId) -> Result<(), Errno> {
        self.check_access(dir, MAY_WRITE | MAY_EXEC)?;
        let Some(who) = self.identity.as_ref().filter(|who| !who.privileged) else { return Ok(()) };
        let ((_, dir_perm, dir_uid, _), (_, _, uid, _)) = (self.owner_bits(dir)?, self.owner_bits(id)?);
        if dir_perm & S_ISVTX != 0 && who.uid != uid && who.uid != dir_uid {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// Changing `id`'s mode or times: its owner or a privileged caller (EPERM).
    pub fn check_owner(&self, id: InodeId) -> Result<(), Errno> {
        let (_, _, uid, _) = self.owner_bits(id)?;
        match &self.identity {
            Some(who) if !who.privileged && who.uid != uid => Err(Errno::EPERM),
            _ => Ok(()),
        }
    }

    /// A file system holding only `/` (mode `0o755`).
    pub fn new() -> Fs {
        let root = Inode {
            perm: 0o755,
            uid: 0,
            gid: 0,
            nlink: 2,
            atime: Timestamp::ZERO,
            mtime: Timestamp::ZERO,
            ctime: Timestamp::ZERO,
            generation: 0,
            seals: SEAL_SEAL,
            body: Body::Dir(Dir {
                parent: ROOT,
                entries: BTreeMap::new(),
            }),
        };
        let mut inodes = HashMap::default();
        inodes.insert(ROOT, root);
        Fs {
            inodes,
            next_ino: ROOT.saturating_add(1),
            next_generation: 1,
            identity: None,
            now: Timestamp::ZERO,
            clock: None,
            mounts: Vec::new(),
            next_remote_generation: core::cell::Cell::new(1 << 62),
            anonymous_names: HashMap::default(),
        }
    }

    /// Builds the tree from a cpio newc archive. Missing parent directories
    /// are created (mode `0o755`); a later entry with the same path
    /// replaces the earlier one (a directory replacing a directory keeps
    /// its contents). The entry `.` sets the root's mode and owner. Entries
    /// the file system cannot hold (FIFOs, sockets, block devices, unknown
    /// character devices, names with a component longer than `NAME_MAX`,
    /// paths through a non-directory) are skipped. Hard links are not
    /// recognized: each entry is its own inode.
    pub fn from_cpio(archive: &[u8]) -> Result<Fs, cpio::CpioError> {
        Fs::unpack(archive, |data| {
            let mut copy = Vec::new();
            copy.try_reserve_exact(data.len()).map_err(|_| Errno::ENOSPC)?;
            copy.extend_from_slice(data);
            Ok(FileData::Owned(copy))
        })
    }

    /// [`Fs::from_cpio`] without copying file data: every regular file
    /// reads from `archive` until it is first written, and
    /// [`Fs::file_data_in_place`] gives the kernel its bytes there.
    pub fn from_cpio_in_place(archive: &'static [u8]) -> Result<Fs, cpio::CpioError> {
        Fs::unpack(archive, |data| Ok(FileData::InPlace(data)))
    }

    fn unpack<'a>(
        archive: &'a [u8],
        keep: impl Fn(&'a [u8]) -> Result<FileData, Errno>,
    ) -> Result<Fs, cpio::CpioError> {
        let mut fs = Fs::new();
        // Adding a child touches its directory's mtime: directories take
        // theirs from the archive once every entry is in (as Linux's
        // initramfs unpacker defers `dir_utime`).
        let mut dir_mtimes: Vec<(InodeId, Timestamp)> = Vec::new();
        for entry in cpio::entries(archive) {
            let entry = entry?;
            // Skipping is the documented behaviour for what does not fit.
            if let Ok(id) = fs.add_cpio_entry(&entry, &keep)
                && entry.mode & S_IFMT == S_IFDIR
            {
                dir_mtimes.push((id, Timestamp::from_secs(i64::from(entry.mtime))));
            }
        }
        for (id, time) in dir_mtimes {
            if let Ok(node) = fs.node_mut(id) {
                (node.atime, node.mtime, node.ctime) = (time, time, time);
            }
        }
        Ok(fs)
    }

    fn add_cpio_entry<'a>(
        &mut self,
        entry: &cpio::Entry<'a>,
        keep: &impl Fn(&'a [u8]) -> Result<FileData, Errno>,
    ) -> Result<InodeId, Errno> {
        let perm = entry.mode & 0o7777;
        let file_type = entry.mode & S_IFMT;
        let mut components = entry
            .name
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".");
        let mut dir = ROOT;
        let Some(mut name) = components.next() else {
            // The root itself.
            if file_type == S_IFDIR {
                self.set_attributes(ROOT, perm, entry)?;
            }
            return Ok(ROOT);
        };
        for next in components {
            dir = self.enter_or_create(dir, name)?;
            name = next;
        }
        if name == b".." || name.len() > NAME_MAX {
            return Err(Errno::EINVAL);
        }
        let existing = self.dir(dir)?.entries.get(name).copied();
        let id = match file_type {
            S_IFDIR => match existing {
                Some(id) if self.node(id)?.kind() == NodeKind::Directory => id,
                _ => {
                    self.remove_any(dir, name)?;
                    self.mkdir(dir, name, perm)?
                }
            },
            S_IFREG => {
                self.remove_any(dir, name)?;
                let data = keep(entry.data)?;
                self.insert(dir, name, perm, Body::File(data))?
            }
            S_IFLNK => {
                if entry.data.is_empty() {
                    return Err(Errno::ENOENT);
                }
                self.remove_any(dir, name)?;
                self.symlink(dir, name, entry.data)?
            }
            S_IFCHR => {
                let device = Device::from_numbers(entry.rdev_major, entry.rdev_minor)
                    .ok_or(Errno::ENODEV)?;
                self.remove_any(dir, name)?;
                self.mknod(dir, name, device, perm)?
            }
            _ => return Err(Errno::EINVAL),
        };
        self.set_attributes(id, perm, entry)?;
        Ok(id)
    }

    /// The directory `name` in `dir` for building a tree: created if
    /// missing, followed if a symlink to a directory.
    fn enter_or_create(&mut self, dir: InodeId, name: &[u8]) -> Result<InodeId, Errno> {
        if name == b".." {
            return Ok(self.parent_of(dir));
        }
        match self.dir(dir)?.entries.get(name).copied() {
            None => self.mkdir(dir, name, 0o755),
            Some(id) => {
                let target = self.lookup(dir, name, true)?;
                self.dir(target)?;
                Ok(if self.node(id)?.kind() == NodeKind::Symlink {
                    target
                } else {
                    id
                })
            }
        }
    }

    fn set_attributes(
        &mut self,
        id: InodeId,
        perm: u32,
        entry: &cpio::Entry<'_>,
    ) -> Result<(), Errno> {
        let node = self.node_mut(id)?;
        if node.kind() != NodeKind::Symlink {
            node.perm = perm;
        }
        node.uid = entry.uid;
        node.gid = entry.gid;
        // The archive has one time: the unpacked tree's three start at it.
        let time = Timestamp::from_secs(i64::from(entry.mtime));
        (node.atime, node.mtime, node.ctime) = (time, time, time);
        Ok(())
    }

    /// Adds `/dev` (created if missing) with `null`, `zero`, `full`,
    /// `random`, `urandom` and `ptmx` (mode `0o666`) and `console` (`0o600`),
    /// and the directory `/dev/pts` (`0o755`). An existing node of one of these
    /// names is replaced unless it is already the right device; `ENOTDIR`
    /// if `/dev` is not a directory, `EISDIR` if a device name is one. Also
    /// adds a world-writable `/tmp` and `/dev/shm` (mode `0o1777`) when
    /// there are none.
    pub fn add_standard_devices(&mut self) -> Result<(), Errno> {
        let dev = match self.dir(ROOT)?.entries.get(&b"dev"[..]).copied() {
            Some(id) => {
                self.dir(id)?;
                id
            }
            None => self.mkdir(ROOT, b"dev", 0o755)?,
        };
        for (name, device, perm) in [
            (&b"null"[..], Device::Null, 0o666),
            (b"zero", Device::Zero, 0o666),
            (b"console", Device::Console, 0o600),
            (b"full", Device::Full, 0o666),
            (b"random", Device::Random, 0o666),
            (b"urandom", Device::Urandom, 0o666),
            (b"ptmx", Device::Ptmx, 0o666),
        ] {
            if let Some(id) = self.dir(dev)?.entries.get(name).copied() {
                match self.node(id)?.kind() {
                    NodeKind::CharDevice(d) if d == device => continue,
                    NodeKind::Directory => return Err(Errno::EISDIR),
                    _ => self.unlink(dev, name)?,
                }
                self.forget_if_unlinked(id);
            }
            self.mknod(dev, name, device, perm)?;
        }
        // Programs expect a world-writable /tmp, as on any Linux system,
        // and /dev/shm for POSIX shared memory and semaphores (shm_open,
        // sem_open: glibc makes their files there).
        if !self.dir(ROOT)?.entries.contains_key(&b"tmp"[..]) {
            self.mkdir(ROOT, b"tmp", 0o1777)?;
        }
        if !self.dir(dev)?.entries.contains_key(&b"shm"[..]) {
            self.mkdir(dev, b"shm", 0o1777)?;
        }
        // The pseudo-terminals' slaves appear here (devpts).
        if !self.dir(dev)?.entries.contains_key(&b"pts"[..]) {
            self.mkdir(dev, b"pts", 0o755)?;
        }
        Ok(())
    }

    // ----- path resolution -----

    /// Resolves `path` (absolute, or relative to the directory `cwd`),
    /// following symlinks in every component, and in the last one when
    /// `follow_last` (a trailing `/` forces following and requires a
    /// directory). Errors: `ENOENT`, `ENOTDIR`, `ELOOP` (more than
    /// [`MAX_SYMLINKS`] links), `ENAMETOOLONG` (a component over
    /// [`NAME_MAX`] bytes or a path of [`PATH_MAX`] bytes or more),
    /// `EINVAL` for an empty path (callers map it to `ENOENT`, as Linux
    /// does).
    pub fn lookup(&self, cwd: InodeId, path: &[u8], follow_last: bool) -> Result<InodeId, Errno> {
        if path.is_empty() {
            return Err(Errno::EINVAL);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut links = 0;
        self.walk(cwd, path, follow_last, &mut links)
    }

    /// One resolution step per component; recursion only into symlink
    /// targets, at most [`MAX_SYMLINKS`] deep in total.
    fn walk(
        &self,
        cwd: InodeId,
        path: &[u8],
        follow_last: bool,
        links: &mut u32,
    ) -> Result<InodeId, Errno> {
        let mut current = if path.first() == Some(&b'/') {
            ROOT
        } else {
            cwd
        };
        // One inode lookup per local component: each step's inode serves
        // its symlink and directory checks and the next step's search. A
        // step on a volume (`None`) asks its backend instead.
        let mut node = self.step_node(current)?;
        match node {
            Some(n) if !matches!(n.body, Body::Dir(_)) => return Err(Errno::ENOTDIR),
            Some(_) => {}
            None => self.require_dir(current)?,
        }
        let must_be_dir = path.last() == Some(&b'/');
        let mut components = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .peekable();
        while let Some(name) = components.next() {
            if name.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            let mut next = match node {
                Some(node) => {
                    if !self.node_permits(node, MAY_EXEC) {
                        return Err(Errno::EACCES);
                    }
                    let Body::Dir(dir) = &node.body else {
                        return Err(Errno::ENOTDIR);
                    };
                    match name {
                        b"." => current,
                        b".." => dir.parent,
                        _ => self.covering(dir.entries.get(name).copied().ok_or(Errno::ENOENT)?),
                    }
                }
                None => {
                    self.check_access(current, MAY_EXEC)?;
                    self.child(current, name)?
                }
            };
            let is_last = components.peek().is_none();
            let mut next_node = self.step_node(next)?;
            let target = match next_node {
                Some(n) => match &n.body {
                    Body::Symlink(target) => Some(Cow::Borrowed(target.as_slice())),
                    _ => None,
                },
                None => self.symlink_target(next)?,
            };
            if let Some(target) = target {
                if !is_last || follow_last || must_be_dir {
                    *links = links.saturating_add(1);
                    if *links > MAX_SYMLINKS {
                        return Err(Errno::ELOOP);
                    }
                    if target.is_empty() {
                        return Err(Errno::ENOENT);
                    }
                    next = self.walk(current, &target, true, links)?;
                    next_node = self.step_node(next)?;
                }
            }
            if !is_last || must_be_dir {
                match next_node {
                    Some(n) if !matches!(n.body, Body::Dir(_)) => return Err(Errno::ENOTDIR),
                    Some(_) => {}
                    None => self.require_dir(next)?,
                }
            }
            current = next;
            node = next_node;
        }
        Ok(current)
    }

    /// The inode `name` refers to in directory `dir`, `.` and `..`
    /// included.
    fn child(&self, dir: InodeId, name: &[u8]) -> Result<InodeId, Errno> {
        if let Some((mount, node)) = split_id(dir) {
            let m = self.mount_of(mount)?;
            return match name {
                b"." => Ok(dir),
                b".." if node == m.backend.root() => Ok(self.parent_of(m.point)),
                _ => Ok(remote_id(mount, m.backend.walk(node, name)?)),
            };
        }
        let d = self.dir(dir)?;
        let id = match name {
            b"." => return Ok(dir),
            b".." => d.parent,
            _ => d.entries.get(name).copied().ok_or(Errno::ENOENT)?,
        };
        Ok(self.covering(id))
    }

    /// `id`, or the root of what is mounted on it.
    fn covering(&self, id: InodeId) -> InodeId {
        if self.mounts.is_empty() {
            return id;
        }
        match self.mounts.iter().position(|m| m.point == id) {
            Some(index) => self.mounts.get(index).map_or(id, |m| remote_id(index, m.backend.root())),
            None => id,
        }
    }

    /// The inode of a local `id` for path resolution; `None` for a remote
    /// one (whose backend is asked), `ENOENT` for neither.
    fn step_node(&self, id: InodeId) -> Result<Option<&Inode>, Errno> {
        if let Some((mount, _)) = split_id(id) {
            self.mount_of(mount)?;
            return Ok(None);
        }
        self.node(id).map(Some)
    }

    fn mount_of(&self, mount: usize) -> Result<&Mount, Errno> {
        self.mounts.get(mount).ok_or(Errno::ENOENT)
    }

    /// The backend and node of a remote inode; `None` for a local one.
    fn remote(&self, id: InodeId) -> Result<Option<(&dyn Backend, remote::RemoteNode)>, Errno> {
        match split_id(id) {
            Some((mount, node)) => Ok(Some((&*self.mount_of(mount)?.backend, node))),
            None => Ok(None),
        }
    }

    /// `ENOTDIR` unless `id` is a directory (`ENOENT` if there is none).
    fn require_dir(&self, id: InodeId) -> Result<(), Errno> {
        match self.remote(id)? {
            Some((backend, node)) => match backend.kind(node)? {
                NodeKind::Directory => Ok(()),
                _ => Err(Errno::ENOTDIR),
            },
            None => self.dir(id).map(|_| ()),
        }
    }

    /// A symlink's target, `None` for anything else.
    fn symlink_target(&self, id: InodeId) -> Result<Option<Cow<'_, [u8]>>, Errno> {
        match self.remote(id)? {
            Some((backend, node)) => match backend.kind(node)? {
                NodeKind::Symlink => Ok(Some(Cow::Owned(backend.readlink(node)?))),
                _ => Ok(None),
            },
            None => match &self.node(id)?.body {
                Body::Symlink(target) => Ok(Some(Cow::Borrowed(target))),
                _ => Ok(None),
            },
        }
    }

    /// Mounts `backend` on the directory `point` of the in-memory tree:
    /// from now on its name leads to the backend's root. `ENOTDIR` unless
    /// `point` is a local directory, `EBUSY` if something is mounted there.
    pub fn mount(&mut self, point: InodeId, backend: Box<dyn Backend>) -> Result<InodeId, Errno> {
        if split_id(point).is_some() {
            return Err(Errno::EINVAL);
        }
        self.dir(point)?;
        if point == ROOT || self.mounts.iter().any(|m| m.point == point) {
            return Err(Errno::EBUSY);
        }
        let root = backend.root();
        self.mounts.push(Mount { point, backend });
        Ok(remote_id(self.mounts.len().saturating_sub(1), root))
    }

    /// Whether `id` is the root of a mount or a mount point.
    fn is_mount_boundary(&self, id: InodeId) -> bool {
        match split_id(id) {
            Some((mount, node)) => self.mounts.get(mount).is_some_and(|m| m.backend.root() == node),
            None => self.mounts.iter().any(|m| m.point == id),
        }
    }

    /// `fsync`/`fdatasync`: durable on a volume; nothing to do in memory.
    pub fn fsync(&self, id: InodeId, data_only: bool) -> Result<(), Errno> {
        match self.remote(id)? {
            Some((backend, node)) => backend.fsync(node, data_only),
            None => self.node(id).map(|_| ()),
        }
    }

    /// `statfs` of the file system `id` is on, when it is a mount's
    /// (`None`: the in-memory tree).
    pub fn statfs(&self, id: InodeId) -> Result<Option<RemoteStatFs>, Errno> {
        match self.remote(id)? {
            Some((backend, _)) => backend.statfs().map(Some),
            None => Ok(None),
        }
    }

    /// A regular file is opened for reading and/or writing (what a
    /// volume's server opens; nothing to do in memory).
    pub fn open(&self, id: InodeId, read: bool, write: bool) -> Result<(), Errno> {
        match self.remote(id)? {
            Some((backend, node)) => backend.open(node, read, write),
            None => Ok(()),
        }
    }

    /// Whether `id` belongs to a mounted backend (a volume).
    pub fn is_remote(&self, id: InodeId) -> bool {
        split_id(id).is_some()
    }

    fn remote_create(&mut self, parent: InodeId, name: &[u8], what: NewNode<'_>, perm: u32) -> Result<Option<InodeId>, Errno> {
        let Some((mount, dir)) = split_id(parent) else { return Ok(None) };
        check_new_name(name)?;
        self.require_dir(parent)?;
        self.check_access(parent, MAY_WRITE | MAY_EXEC)?;
        let gid = self.identity.as_ref().map_or(0, |who| who.gid);
        let node = self.mount_of(mount)?.backend.create(dir, name, what, perm & 0o7777, gid)?;
        Ok(Some(remote_id(mount, node)))
    }

    fn remote_setattr(&self, id: InodeId, attr: &SetAttr) -> Result<bool, Errno> {
        match self.remote(id)? {
            Some((backend, node)) => backend.setattr(node, attr).map(|()| true),
            None => Ok(false),
        }
    }

    /// The directory that holds (or would hold) `path`'s last component,
    /// and that component, for create, mkdir, unlink, rmdir, rename.
    /// Trailing slashes are ignored. The last component may be `.` or
    /// `..`, which the operations refuse with Linux's errors; `/` (or
    /// `//`...) gives `(ROOT, ".")`. Errors as for [`Fs::lookup`].
    pub fn lookup_parent<'p>(
        &self,
        cwd: InodeId,
        path: &'p [u8],
    ) -> Result<(InodeId, &'p [u8]), Errno> {
        if path.is_empty() {
            return Err(Errno::EINVAL);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let end = path
            .iter()
            .rposition(|&b| b != b'/')
            .map_or(0, |i| i.saturating_add(1));
        let trimmed = path.get(..end).unwrap_or(&[]);
        if trimmed.is_empty() {
            return Ok((ROOT, b"."));
        }
        let (parent, last) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(slash) => {
                let (dir_part, last) = trimmed.split_at(slash.saturating_add(1));
                let mut links = 0;
                (self.walk(cwd, dir_part, true, &mut links)?, last)
            }
            None => {
                self.require_dir(cwd)?;
                (cwd, trimmed)
            }
        };
        if last.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok((parent, last))
    }

    // ----- inodes -----

    fn node(&self, id: InodeId) -> Result<&Inode, Errno> {
        self.inodes.get(&id).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, id: InodeId) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&id).ok_or(Errno::ENOENT)
    }

    fn dir(&self, id: InodeId) -> Result<&Dir, Errno> {
        match &self.node(id)?.body {
            Body::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, id: InodeId) -> Result<&mut Dir, Errno> {
        match &mut self.node_mut(id)?.body {
            Body::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// Whether an inode with this number exists (named or not).
    pub fn exists(&self, id: InodeId) -> bool {
        match split_id(id) {
            Some((mount, node)) => self.mounts.get(mount).is_some_and(|m| m.backend.kind(node).is_ok()),
            None => self.inodes.contains_key(&id),
        }
    }

    /// What `stat` reports for `id`; `ENOENT` if there is no such inode.
    pub fn metadata(&self, id: InodeId) -> Result<Metadata, Errno> {
        if let Some((backend, node)) = self.remote(id)? {
            return Ok(Metadata { ino: id, ..backend.getattr(node)? });
        }
        let node = self.node(id)?;
        let kind = node.kind();
        let (size, rdev) = match &node.body {
            Body::Dir(dir) => (
                (dir.entries.len() as u64)
                    .saturating_add(2)
                    .saturating_mul(DIRENT_SIZE),
                0,
            ),
            Body::File(data) => (data.bytes().len() as u64, 0),
            Body::Symlink(data) => (data.len() as u64, 0),
            Body::Device(device) => (0, device.rdev()),
            Body::Fifo | Body::Socket => (0, 0),
        };
        Ok(Metadata {
            ino: id,
            kind,
            mode: kind.file_type() | node.perm,
            nlink: node.nlink,
            uid: node.uid,
            gid: node.gid,
            size,
            rdev,
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
        })
    }

    /// Reads from `offset` into `buf`; returns the byte count (0 at or
    /// past the end). `EISDIR` for a directory, `EINVAL` for a symlink;
    /// `/dev/null` and `/dev/console` read as end of file (the kernel
    /// serves the console itself), `/dev/zero` and `/dev/full` as zeros;
    /// `/dev/random` and `/dev/urandom` are `EINVAL` here because only the
    /// kernel has a random source (it serves them before calling this).
    pub fn read(&self, id: InodeId, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some((backend, node)) = self.remote(id)? {
            return backend.read(node, offset, buf);
        }
        match &self.node(id)?.body {
            Body::File(data) => {
                let data = data.bytes();
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let available = data.get(start..).unwrap_or(&[]);
                let n = available.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
                    dst.copy_from_slice(src);
                }
                Ok(n)
            }
            Body::Dir(_) => Err(Errno::EISDIR),
            Body::Symlink(_) => Err(Errno::EINVAL),
            Body::Device(Device::Zero | Device::Full) => {
                buf.fill(0);
                Ok(buf.len())
            }
            Body::Device(Device::Null | Device::Console) => Ok(0),
            Body::Device(Device::Random | Device::Urandom) => Err(Errno::EINVAL),
            Body::Device(Device::Ptmx | Device::PtySlave(_)) => Err(Errno::EIO),
            // A FIFO's data is the kernel's pipe.
            Body::Fifo | Body::Socket => Err(Errno::EINVAL),
        }
    }

    /// Writes `data` at `offset`, filling any gap past the end with zeros;
    /// returns `data.len()`. `EISDIR` for a directory, `EINVAL` for a
    /// symlink, `EFBIG` past [`MAX_FILE_SIZE`], `ENOSPC` when memory runs
    /// out. Devices swallow the data (the kernel serves the console
    /// itself), except `/dev/full`: `ENOSPC`, as on Linux.
    pub fn write(&mut self, id: InodeId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        if let Some((backend, node)) = self.remote(id)? {
            if offset.checked_add(data.len() as u64).is_none_or(|end| end > MAX_FILE_SIZE) {
                return Err(Errno::EFBIG);
            }
            return backend.write(node, offset, data);
        }
        let allowed = self.write_allowed_by_seals(id, offset, data.len())?;
        self.write_from_mapping(id, offset, data.get(..allowed).unwrap_or(data))
    }

    /// How much of a write of `len` bytes at `offset` `id`'s seals let
    /// through: none (EPERM) with `F_SEAL_WRITE`/`F_SEAL_FUTURE_WRITE`;
    /// with `F_SEAL_GROW`, the pages of the write (Linux writes page by
    /// page) that end within the file, and EPERM if the first does not.
    fn write_allowed_by_seals(&self, id: InodeId, offset: u64, len: usize) -> Result<usize, Errno> {
        const PAGE: u64 = 4096;
        let Ok(node) = self.node(id) else { return Ok(len) };
        let Body::File(content) = &node.body else { return Ok(len) };
        if len == 0 {
            return Ok(0);
        }
        if node.seals & (SEAL_WRITE | SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        if node.seals & SEAL_GROW == 0 {
            return Ok(len);
        }
        let size = content.bytes().len() as u64;
        let (mut pos, mut allowed) = (offset, 0usize);
        while allowed < len {
            let in_page = PAGE.saturating_sub(pos % PAGE).min(len.saturating_sub(allowed) as u64);
            if pos.saturating_add(in_page) > size {
                break;
            }
            allowed = allowed.saturating_add(in_page as usize);
            pos = pos.saturating_add(in_page);
        }
        if allowed == 0 { Err(Errno::EPERM) } else { Ok(allowed) }
    }

    /// [`Fs::write`] without the seal checks: a shared mapping's bytes
    /// going back into its file (a mapping made before `F_SEAL_FUTURE_WRITE`
    /// still writes, and never past the end).
    pub fn write_from_mapping(&mut self, id: InodeId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        if split_id(id).is_some() {
            return self.write(id, offset, data);
        }
        let now = self.now();
        let generation = self.next_generation;
        self.next_generation = generation.saturating_add(1);
        let node = self.node_mut(id)?;
        if matches!(node.body, Body::File(_)) && !data.is_empty() {
            (node.mtime, node.ctime) = (now, now);
        }
        match &mut node.body {
            Body::File(content) => {
                if data.is_empty() {
                    return Ok(0);
                }
                let content = content.owned()?;
                node.generation = generation;
                let end = offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
                if end > MAX_FILE_SIZE {
                    return Err(Errno::EFBIG);
                }
                let (start, end) = (to_usize(offset)?, to_usize(end)?);
                if end > content.len() {
                    content
                        .try_reserve(end.saturating_sub(content.len()))
                        .map_err(|_| Errno::ENOSPC)?;
                    content.resize(end, 0);
                }
                content
                    .get_mut(start..end)
                    .ok_or(Errno::EFBIG)?
                    .copy_from_slice(data);
                Ok(data.len())
            }
            Body::Dir(_) => Err(Errno::EISDIR),
            Body::Symlink(_) => Err(Errno::EINVAL),
            Body::Device(Device::Full) => Err(Errno::ENOSPC),
            Body::Device(Device::Ptmx | Device::PtySlave(_)) => Err(Errno::EIO),
            Body::Device(_) => Ok(data.len()),
            Body::Fifo | Body::Socket => Err(Errno::EINVAL),
        }
    }

    /// The character device `id` is, if it is one.
    pub fn device(&self, id: InodeId) -> Option<Device> {
        match self.node(id).ok()?.body {
            Body::Device(device) => Some(device),
            _ => None,
        }
    }

    /// Sets a regular file's size, cutting or extending with zeros.
    /// `EISDIR` for a directory, `EINVAL` for a symlink, `EFBIG` past
    /// [`MAX_FILE_SIZE`]; devices ignore it (`O_TRUNC` on `/dev/null`).
    pub fn truncate(&mut self, id: InodeId, len: u64) -> Result<(), Errno> {
        if let Some((backend, node)) = self.remote(id)? {
            if len > MAX_FILE_SIZE {
                return Err(Errno::EFBIG);
            }
            return match backend.kind(node)? {
                NodeKind::Directory => Err(Errno::EISDIR),
                NodeKind::File => backend.setattr(node, &SetAttr { size: Some(len), ..SetAttr::default() }),
                _ => Err(Errno::EINVAL),
            };
        }
        if let Ok(Inode { body: Body::File(content), seals, .. }) = self.node(id) {
            let size = content.bytes().len() as u64;
            if (len < size && seals & SEAL_SHRINK != 0) || (len > size && seals & SEAL_GROW != 0) {
                return Err(Errno::EPERM);
            }
        }
        let now = self.now();
        let generation = self.next_generation;
        self.next_generation = generation.saturating_add(1);
        let node = self.node_mut(id)?;
        if matches!(node.body, Body::File(_)) {
            (node.mtime, node.ctime) = (now, now);
        }
        match &mut node.body {
            Body::File(content) => {
                if len > MAX_FILE_SIZE {
                    return Err(Errno::EFBIG);
                }
                let content = content.owned()?;
                node.generation = generation;
                let len = to_usize(len)?;
                if len > content.len() {
                    content
                        .try_reserve(len.saturating_sub(content.len()))
                        .map_err(|_| Errno::ENOSPC)?;
                }
                content.resize(len, 0);
                if content.capacity() > len.saturating_mul(2).max(64) {
                    content.shrink_to_fit();
                }
                Ok(())
            }
            Body::Dir(_) => Err(Errno::EISDIR),
            Body::Symlink(_) => Err(Errno::EINVAL),
            Body::Device(_) => Ok(()),
            Body::Fifo | Body::Socket => Err(Errno::EINVAL),
        }
    }

    /// The whole content of a regular file (for loading executables).
    /// `EISDIR` for a directory, `EINVAL` for anything else.
    /// A volume's file is read whole from the host.
    pub fn file_data(&self, id: InodeId) -> Result<Cow<'_, [u8]>, Errno> {
        if let Some((backend, node)) = self.remote(id)? {
            let meta = backend.getattr(node)?;
            return match meta.kind {
                NodeKind::File => {
                    let mut data = Vec::new();
                    data.try_reserve_exact(to_usize(meta.size)?).map_err(|_| Errno::ENOMEM)?;
                    data.resize(to_usize(meta.size)?, 0);
                    let mut done = 0;
                    while let Some(rest) = data.get_mut(done..).filter(|rest| !rest.is_empty()) {
                        match backend.read(node, done as u64, rest)? {
                            0 => break,
                            n => done = done.saturating_add(n),
                        }
                    }
                    data.truncate(done);
                    Ok(Cow::Owned(data))
                }
                NodeKind::Directory => Err(Errno::EISDIR),
                _ => Err(Errno::EINVAL),
            };
        }
        match &self.node(id)?.body {
            Body::File(data) => Ok(Cow::Borrowed(data.bytes())),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// A regular file's bytes and their generation ([`Fs::generation`]), in one lookup.
    /// A volume's file is read whole, with a fresh generation.
    pub fn file_content(&self, id: InodeId) -> Result<(Cow<'_, [u8]>, u64), Errno> {
        if split_id(id).is_some() {
            return Ok((self.file_data(id)?, self.generation(id)?));
        }
        let node = self.node(id)?;
        match &node.body {
            Body::File(data) => Ok((Cow::Borrowed(data.bytes()), node.generation)),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// A regular file's bytes while they are still the archive's
    /// ([`Fs::from_cpio_in_place`]): borrowed for good, since the archive
    /// outlives the file system. `None` once the file was written, for
    /// files created since, and for anything else.
    pub fn file_data_in_place(&self, id: InodeId) -> Option<&'static [u8]> {
        match self.node(id).ok()?.body {
            Body::File(FileData::InPlace(bytes)) => Some(bytes),
            _ => None,
        }
    }

    /// The generation of a file's bytes: it changes with every write and
    /// truncation, and no other inode ever has it, so `(id, generation)`
    /// names one content for good (what the kernel's page cache keys on).
    /// `ENOENT` if there is no such inode.
    /// A volume's file gets a new generation at every call: the host may
    /// have changed it.
    pub fn generation(&self, id: InodeId) -> Result<u64, Errno> {
        if let Some((backend, node)) = self.remote(id)? {
            backend.kind(node)?;
            let generation = self.next_remote_generation.get();
            self.next_remote_generation.set(generation.saturating_add(1));
            return Ok(generation);
        }
        Ok(self.node(id)?.generation)
    }

    /// The target of a symlink; `EINVAL` if `id` is not one.
    pub fn readlink(&self, id: InodeId) -> Result<Cow<'_, [u8]>, Errno> {
        self.symlink_target(id)?.ok_or(Errno::EINVAL)
    }

    /// Sets the permission bits (`chmod`; `0o7777` is kept). Symlinks keep
    /// `0o777`.
    pub fn set_mode(&mut self, id: InodeId, mode_perm: u32) -> Result<(), Errno> {
        self.check_owner(id)?;
        if self.remote_setattr(id, &SetAttr { perm: Some(mode_perm & 0o7777), ..SetAttr::default() })? {
            return Ok(());
        }
        let now = self.now();
        let node = self.node_mut(id)?;
        if node.kind() != NodeKind::Symlink {
            node.perm = mode_perm & 0o7777;
        }
        node.ctime = now;
        Ok(())
    }

    /// Sets the owner (`chown`).
    pub fn set_owner(&mut self, id: InodeId, uid: u32, gid: u32) -> Result<(), Errno> {
        if let Some(who) = self.identity.as_ref().filter(|who| !who.privileged) {
            // Unprivileged: only the owner, keeping the owner, giving the
            // file one of its own groups (Linux's chown rules).
            let (_, _, node_uid, node_gid) = self.owner_bits(id)?;
            let own_group = gid == node_gid || gid == who.gid || who.groups.contains(&gid);
            if who.uid != node_uid || uid != node_uid || !own_group {
                return Err(Errno::EPERM);
            }
        }
        if self.remote_setattr(id, &SetAttr { uid: Some(uid), gid: Some(gid), ..SetAttr::default() })? {
            return Ok(());
        }
        let now = self.now();
        let node = self.node_mut(id)?;
        node.uid = uid;
        node.gid = gid;
        node.ctime = now;
        Ok(())
    }

    /// Sets the access and/or modification time (`utimensat`; `None`:
    /// keep, `UTIME_OMIT`); the change time becomes now unless both are
    /// kept, as on Linux. Who may is the caller's check.
    pub fn set_times(&mut self, id: InodeId, atime: Option<TimeChange>, mtime: Option<TimeChange>) -> Result<(), Errno> {
        if atime.is_none() && mtime.is_none() {
            return self.metadata(id).map(drop);
        }
        if self.remote_setattr(id, &SetAttr { atime, mtime, ..SetAttr::default() })? {
            return Ok(());
        }
        let now = self.now();
        let resolve = |change: TimeChange| match change {
            TimeChange::Now => now,
            TimeChange::At(time) => time,
        };
        let node = self.node_mut(id)?;
        if let Some(change) = atime {
            node.atime = resolve(change);
        }
        if let Some(change) = mtime {
            node.mtime = resolve(change);
        }
        node.ctime = now;
        Ok(())
    }

    /// `id` was read (a file's bytes, a directory's entries, a symlink's
    /// target): its access time becomes now under Linux's `relatime` rule,
    /// when it is not newer than the modification or change time, or is a
    /// day old. A volume's server keeps its own times.
    pub fn accessed(&mut self, id: InodeId) {
        if split_id(id).is_some() {
            return;
        }
        let now = self.now();
        if let Ok(node) = self.node_mut(id)
            && node.atime != now
            && (node.atime <= node.mtime || node.atime <= node.ctime || now.secs.saturating_sub(node.atime.secs) >= RELATIME_SECS)
        {
            node.atime = now;
        }
    }

    /// A name was added to or removed from the directory `dir`: its
    /// modification and change times become now.
    fn entries_changed(&mut self, dir: InodeId, now: Timestamp) {
        if let Ok(node) = self.node_mut(dir) {
            (node.mtime, node.ctime) = (now, now);
        }
    }

    /// `id` gained or lost a name: its change time becomes now.
    fn inode_changed(&mut self, id: InodeId, now: Timestamp) {
        if let Ok(node) = self.node_mut(id) {
            node.ctime = now;
        }
    }

    // ----- names -----

    /// Adds a node named `name` to the directory `parent`. `ENOENT` if the
    /// parent was removed, `EEXIST` if the name is taken.
    fn insert(
        &mut self,
        parent: InodeId,
        name: &[u8],
        perm: u32,
        body: Body,
    ) -> Result<InodeId, Errno> {
        check_new_name(name)?;
        let parent_node = self.node(parent)?;
        let Body::Dir(dir) = &parent_node.body else {
            return Err(Errno::ENOTDIR);
        };
        if parent_node.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        if dir.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.check_access(parent, MAY_WRITE | MAY_EXEC)?;
        let parent_node = self.node(parent)?;
        let (uid, mut gid) = self.identity.as_ref().map_or((0, 0), |who| (who.uid, who.gid));
        let mut perm = perm;
        if parent_node.perm & S_ISGID != 0 {
            // A set-group-ID directory gives its group, and to
            // subdirectories its set-group-ID bit.
            gid = parent_node.gid;
            if matches!(body, Body::Dir(_)) {
                perm |= S_ISGID;
            }
        }
        let is_dir = matches!(body, Body::Dir(_));
        let id = self.next_ino;
        self.next_ino = self.next_ino.checked_add(1).ok_or(Errno::ENOSPC)?;
        let generation = self.next_generation;
        self.next_generation = generation.saturating_add(1);
        let now = self.now();
        self.inodes.insert(
            id,
            Inode {
                perm: perm & 0o7777,
                uid,
                gid,
                nlink: if is_dir { 2 } else { 1 },
                atime: now,
                mtime: now,
                ctime: now,
                generation,
                seals: SEAL_SEAL,
                body,
            },
        );
        let parent_node = self.node_mut(parent)?;
        (parent_node.mtime, parent_node.ctime) = (now, now);
        if is_dir {
            parent_node.nlink = parent_node.nlink.saturating_add(1);
        }
        if let Body::Dir(dir) = &mut parent_node.body {
            dir.entries.insert(name.to_vec(), id);
        }
        Ok(id)
    }

    /// Creates an empty regular file. `EEXIST` if `name` exists (also for
    /// `.` and `..`, as Linux's `mkdir(".")` does), `EINVAL` for an empty
    /// name or one with `/` or NUL, `ENAMETOOLONG`, `ENOTDIR`, `ENOENT`
    /// (parent removed).
    pub fn create_file(
        &mut self,
        parent: InodeId,
        name: &[u8],
        mode_perm: u32,
    ) -> Result<InodeId, Errno> {
        if let Some(id) = self.remote_create(parent, name, NewNode::File, mode_perm)? {
            return Ok(id);
        }
        self.insert(parent, name, mode_perm, Body::File(FileData::Owned(Vec::new())))
    }

    /// A regular file with no name (`memfd_create`): `nlink` 0 from the
    /// start, owned by the caller, freed by [`Fs::forget_if_unlinked`] once
    /// its last descriptor and mapping are gone. `name` is what /proc
    /// shows it as ([`Fs::anonymous_name`]); `allow_sealing` starts it
    /// without seals (else `F_SEAL_SEAL`, as Linux's memfd).
    pub fn create_anonymous(&mut self, name: &[u8], mode_perm: u32, allow_sealing: bool) -> Result<InodeId, Errno> {
        let (uid, gid) = self.identity.as_ref().map_or((0, 0), |who| (who.uid, who.gid));
        let id = self.next_ino;
        self.next_ino = self.next_ino.checked_add(1).ok_or(Errno::ENOSPC)?;
        let generation = self.next_generation;
        self.next_generation = generation.saturating_add(1);
        let now = self.now();
        let mut shown = Vec::new();
        shown.try_reserve_exact(name.len()).map_err(|_| Errno::ENOMEM)?;
        shown.extend_from_slice(name);
        self.inodes.insert(
            id,
            Inode {
                perm: mode_perm & 0o7777,
                uid,
                gid,
                nlink: 0,
                atime: now,
                mtime: now,
                ctime: now,
                generation,
                seals: if allow_sealing { 0 } else { SEAL_SEAL },
                body: Body::File(FileData::Owned(Vec::new())),
            },
        );
        self.anonymous_names.insert(id, shown);
        Ok(id)
    }

    /// What /proc shows for `id` (a descriptor's link, a mapping's path):
    /// [`Fs::any_path_of`], or `/NAME (deleted)` for a file made by
    /// [`Fs::create_anonymous`] (`/memfd:buf (deleted)`, as Linux shows a
    /// memfd).
    pub fn shown_path(&self, id: InodeId) -> Option<Vec<u8>> {
        if let Some(name) = self.anonymous_name(id) {
            let mut path = Vec::with_capacity(name.len().saturating_add(11));
            path.push(b'/');
            path.extend_from_slice(name);
            path.extend_from_slice(b" (deleted)");
            return Some(path);
        }
        self.any_path_of(id)
    }

    /// The name of a file made by [`Fs::create_anonymous`] (`memfd:NAME`).
    pub fn anonymous_name(&self, id: InodeId) -> Option<&[u8]> {
        self.anonymous_names.get(&id).map(Vec::as_slice)
    }

    /// `F_GET_SEALS`: the seals of a regular file; `EINVAL` for anything
    /// else (and for a volume's files, which have none).
    pub fn seals(&self, id: InodeId) -> Result<u32, Errno> {
        if split_id(id).is_some() {
            return Err(Errno::EINVAL);
        }
        match self.node(id)? {
            Inode { body: Body::File(_), seals, .. } => Ok(*seals),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `F_ADD_SEALS`: `EINVAL` for an unknown seal or a file that has none
    /// ([`Fs::seals`]), `EPERM` once `F_SEAL_SEAL` is set. Whether a
    /// writable shared mapping forbids `F_SEAL_WRITE` (`EBUSY`) is the
    /// kernel's to check first.
    pub fn add_seals(&mut self, id: InodeId, seals: u32) -> Result<(), Errno> {
        if seals & !SEALS_ALL != 0 {
            return Err(Errno::EINVAL);
        }
        let current = self.seals(id)?;
        if current & SEAL_SEAL != 0 {
            return Err(Errno::EPERM);
        }
        self.node_mut(id)?.seals = current | seals;
        Ok(())
    }

    /// Creates a directory; errors as [`Fs::create_file`].
    pub fn mkdir(
        &mut self,
        parent: InodeId,
        name: &[u8],
        mode_perm: u32,
    ) -> Result<InodeId, Errno> {
        if let Some(id) = self.remote_create(parent, name, NewNode::Directory, mode_perm)? {
            return Ok(id);
        }
        self.insert(
            parent,
            name,
            mode_perm,
            Body::Dir(Dir {
                parent,
                entries: BTreeMap::new(),
            }),
        )
    }

    /// Creates a symlink to `target` (mode `0o777`); `ENOENT` for an
    /// empty target, `ENAMETOOLONG` for one of `PATH_MAX` bytes or more,
    /// otherwise errors as [`Fs::create_file`].
    pub fn symlink(
        &mut self,
        parent: InodeId,
        name: &[u8],
        target: &[u8],
    ) -> Result<InodeId, Errno> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if let Some(id) = self.remote_create(parent, name, NewNode::Symlink(target), 0o777)? {
            return Ok(id);
        }
        self.insert(parent, name, 0o777, Body::Symlink(target.to_vec()))
    }

    /// Creates a character device node; errors as [`Fs::create_file`].
    pub fn mknod(
        &mut self,
        parent: InodeId,
        name: &[u8],
        device: Device,
        mode_perm: u32,
    ) -> Result<InodeId, Errno> {
        let (major, minor) = device.numbers();
        if let Some(id) = self.remote_create(parent, name, NewNode::CharDevice(major, minor), mode_perm)? {
            return Ok(id);
        }
        self.insert(parent, name, mode_perm, Body::Device(device))
    }

    /// Adds the name `name` in `parent` for the existing inode `id` (a hard
    /// link, `link`/`linkat`): `nlink` grows by one and both names share the
    /// data. `EPERM` for a directory (Linux refuses hard links to them),
    /// `ENOENT` for an inode already unlinked (Linux's `linkat` of an
    /// `O_TMPFILE`-less deleted file), otherwise errors as
    /// [`Fs::create_file`].
    pub fn link(&mut self, id: InodeId, parent: InodeId, name: &[u8]) -> Result<(), Errno> {
        check_new_name(name)?;
        match (split_id(id), split_id(parent)) {
            (Some((mount, node)), Some((parent_mount, dir))) if mount == parent_mount => {
                if self.metadata(id)?.kind == NodeKind::Directory {
                    return Err(Errno::EPERM);
                }
                self.check_access(parent, MAY_WRITE | MAY_EXEC)?;
                return self.mount_of(mount)?.backend.link(node, dir, name);
            }
            (None, None) => {}
            _ => return Err(Errno::EXDEV),
        }
        let node = self.node(id)?;
        if node.kind() == NodeKind::Directory {
            return Err(Errno::EPERM);
        }
        if node.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let parent_node = self.node(parent)?;
        let Body::Dir(dir) = &parent_node.body else {
            return Err(Errno::ENOTDIR);
        };
        if parent_node.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        if dir.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.check_access(parent, MAY_WRITE | MAY_EXEC)?;
        let node = self.node_mut(id)?;
        node.nlink = node.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
        self.dir_mut(parent)?.entries.insert(name.to_vec(), id);
        let now = self.now();
        self.inode_changed(id, now);
        self.entries_changed(parent, now);
        Ok(())
    }

    /// Creates a named pipe (`mkfifo`, `mknod` with `S_IFIFO`); errors as
    /// [`Fs::create_file`].
    pub fn mkfifo(&mut self, parent: InodeId, name: &[u8], mode_perm: u32) -> Result<InodeId, Errno> {
        if let Some(id) = self.remote_create(parent, name, NewNode::Fifo, mode_perm)? {
            return Ok(id);
        }
        self.insert(parent, name, mode_perm, Body::Fifo)
    }

    /// Creates the name of an AF_UNIX socket (`bind`, `mknod` with
    /// `S_IFSOCK`); errors as [`Fs::create_file`] (`EEXIST` for a name in
    /// use, which bind reports as `EADDRINUSE`).
    pub fn mksock(&mut self, parent: InodeId, name: &[u8], mode_perm: u32) -> Result<InodeId, Errno> {
        if let Some(id) = self.remote_create(parent, name, NewNode::Socket, mode_perm)? {
            return Ok(id);
        }
        self.insert(parent, name, mode_perm, Body::Socket)
    }

    /// Removes the name of a non-directory. `EISDIR` for a directory (and
    /// for `.`/`..`), `ENOENT`, `ENOTDIR` if `parent` is not a directory.
    /// The inode lives on until [`Fs::forget_if_unlinked`].
    pub fn unlink(&mut self, parent: InodeId, name: &[u8]) -> Result<(), Errno> {
        if name == b"." || name == b".." {
            return Err(Errno::EISDIR);
        }
        let id = self.child(parent, name)?;
        self.check_remove(parent, id)?;
        if let Some((backend, dir)) = self.remote(parent)? {
            if self.is_mount_boundary(id) {
                return Err(Errno::EBUSY);
            }
            return match self.metadata(id)?.kind {
                NodeKind::Directory => Err(Errno::EISDIR),
                _ => backend.unlink(dir, name, false),
            };
        }
        if self.is_mount_boundary(id) {
            return Err(Errno::EBUSY);
        }
        let node = self.node_mut(id)?;
        if node.kind() == NodeKind::Directory {
            return Err(Errno::EISDIR);
        }
        node.nlink = node.nlink.saturating_sub(1);
        self.dir_mut(parent)?.entries.remove(name);
        let now = self.now();
        self.inode_changed(id, now);
        self.entries_changed(parent, now);
        Ok(())
    }

    /// Removes an empty directory. `EINVAL` for `.`, `ENOTEMPTY` for `..`
    /// and for a directory with entries, `ENOTDIR` if the name is not a
    /// directory, `EBUSY` for the root, `ENOENT`. The inode lives on (with
    /// `nlink` 0, empty) until [`Fs::forget_if_unlinked`].
    pub fn rmdir(&mut self, parent: InodeId, name: &[u8]) -> Result<(), Errno> {
        match name {
            b"." => return Err(Errno::EINVAL),
            b".." => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        let id = self.child(parent, name)?;
        if id == ROOT || self.is_mount_boundary(id) {
            return Err(Errno::EBUSY);
        }
        self.check_remove(parent, id)?;
        if let Some((backend, dir)) = self.remote(parent)? {
            self.require_dir(id)?;
            return backend.unlink(dir, name, true);
        }
        if !self.dir(id)?.entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.node_mut(id)?.nlink = 0;
        let parent_node = self.node_mut(parent)?;
        parent_node.nlink = parent_node.nlink.saturating_sub(1);
        let now = self.now();
        self.inode_changed(id, now);
        self.entries_changed(parent, now);
        Ok(())
    }

    /// Moves `old_name` in `old_parent` to `new_name` in `new_parent`,
    /// replacing an existing target as Linux's `rename` does: `EISDIR`
    /// (directory replaced by a non-directory), `ENOTDIR` (the reverse),
    /// `ENOTEMPTY` (non-empty directory target), `EINVAL` (a directory
    /// into its own subtree), `EBUSY` for `.`/`..`/the root, `ENOENT`. A
    /// replaced inode lives on until [`Fs::forget_if_unlinked`].
    pub fn rename(
        &mut self,
        old_parent: InodeId,
        old_name: &[u8],
        new_parent: InodeId,
        new_name: &[u8],
    ) -> Result<(), Errno> {
        for name in [old_name, new_name] {
            if name == b"." || name == b".." {
                return Err(Errno::EBUSY);
            }
        }
        check_new_name(new_name)?;
        let id = self.child(old_parent, old_name)?;
        self.require_dir(new_parent)?;
        if self.is_mount_boundary(id) {
            return Err(Errno::EBUSY);
        }
        match (split_id(old_parent), split_id(new_parent)) {
            (Some((mount, old_dir)), Some((new_mount, new_dir))) if mount == new_mount => {
                self.check_remove(old_parent, id)?;
                self.check_access(new_parent, MAY_WRITE | MAY_EXEC)?;
                if let Ok(replaced) = self.child(new_parent, new_name) {
                    if self.is_mount_boundary(replaced) {
                        return Err(Errno::EBUSY);
                    }
                    self.check_remove(new_parent, replaced)?;
                }
                return self.mount_of(mount)?.backend.rename(old_dir, old_name, new_dir, new_name);
            }
            (None, None) => {}
            _ => return Err(Errno::EXDEV),
        }
        self.check_remove(old_parent, id)?;
        self.check_access(new_parent, MAY_WRITE | MAY_EXEC)?;
        if let Some(&replaced) = self.dir(new_parent)?.entries.get(new_name) {
            self.check_remove(new_parent, replaced)?;
        }
        if id == ROOT {
            return Err(Errno::EBUSY);
        }
        if self.node(new_parent)?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let is_dir = self.node(id)?.kind() == NodeKind::Directory;
        if is_dir {
            // new_parent must not be id or below it.
            let mut up = new_parent;
            for _ in 0..self.inodes.len() {
                if up == id {
                    return Err(Errno::EINVAL);
                }
                if up == ROOT {
                    break;
                }
                up = self.parent_of(up);
            }
        }
        if let Some(target) = self.dir(new_parent)?.entries.get(new_name).copied() {
            if target == id {
                return Ok(());
            }
            match (is_dir, self.node(target)?.kind() == NodeKind::Directory) {
                (true, true) => self.rmdir(new_parent, new_name)?,
                (false, false) => self.unlink(new_parent, new_name)?,
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
            }
        }
        self.dir_mut(old_parent)?.entries.remove(old_name);
        self.dir_mut(new_parent)?
            .entries
            .insert(new_name.to_vec(), id);
        if is_dir && old_parent != new_parent {
            if let Body::Dir(dir) = &mut self.node_mut(id)?.body {
                dir.parent = new_parent;
            }
            let old = self.node_mut(old_parent)?;
            old.nlink = old.nlink.saturating_sub(1);
            let new = self.node_mut(new_parent)?;
            new.nlink = new.nlink.saturating_add(1);
        }
        let now = self.now();
        self.inode_changed(id, now);
        self.entries_changed(old_parent, now);
        self.entries_changed(new_parent, now);
        Ok(())
    }

    /// Frees the inode `id` if no name refers to it any more (`nlink` 0).
    /// The kernel calls it when the last open file of `id` closes, and
    /// after removing a name when no open file refers to `id`. Does nothing
    /// for a named inode, the root, or an unknown id.
    pub fn forget_if_unlinked(&mut self, id: InodeId) {
        if let Some((mount, node)) = split_id(id) {
            if let Some(m) = self.mounts.get(mount) {
                m.backend.release(node);
            }
            return;
        }
        if id != ROOT && self.inodes.get(&id).is_some_and(|node| node.nlink == 0) {
            self.inodes.remove(&id);
            self.anonymous_names.remove(&id);
        }
    }

    /// Removes whatever `name` is in `dir`, a directory with its whole
    /// subtree, and frees the inodes (building trees only: no open files).
    fn remove_any(&mut self, dir: InodeId, name: &[u8]) -> Result<(), Errno> {
        let Some(id) = self.dir(dir)?.entries.get(name).copied() else {
            return Ok(());
        };
        self.dir_mut(dir)?.entries.remove(name);
        let mut pending = Vec::from([id]);
        while let Some(id) = pending.pop() {
            if let Some(Inode {
                body: Body::Dir(d), ..
            }) = self.inodes.remove(&id)
            {
                pending.extend(d.entries.into_values());
            }
        }
        self.recount_dir_links(dir)
    }

    /// Sets `nlink` of a directory to 2 + its subdirectories.
    fn recount_dir_links(&mut self, dir: InodeId) -> Result<(), Errno> {
        let subdirs = self
            .dir(dir)?
            .entries
            .values()
            .filter(|id| {
                matches!(
                    self.inodes.get(*id),
                    Some(Inode {
                        body: Body::Dir(_),
                        ..
                    })
                )
            })
            .count();
        let node = self.node_mut(dir)?;
        node.nlink = u32::try_from(subdirs).unwrap_or(u32::MAX).saturating_add(2);
        Ok(())
    }

    // ----- directories -----

    /// The entries of a directory: `.`, `..`, then the children in byte
    /// order of their names. `ENOTDIR`, `ENOENT`.
    pub fn read_dir(&self, id: InodeId) -> Result<Vec<DirEntry>, Errno> {
        if let Some((mount, node)) = split_id(id) {
            let backend = &self.mount_of(mount)?.backend;
            let entries = backend.read_dir(node)?;
            let mut out = Vec::with_capacity(entries.len().saturating_add(2));
            out.push(DirEntry { name: b".".to_vec(), ino: id, kind: NodeKind::Directory });
            out.push(DirEntry { name: b"..".to_vec(), ino: self.child(id, b"..")?, kind: NodeKind::Directory });
            out.extend(entries.into_iter().map(|e| DirEntry { name: e.name, ino: remote_id(mount, e.node), kind: e.kind }));
            return Ok(out);
        }
        let dir = self.dir(id)?;
        let mut out = Vec::with_capacity(dir.entries.len().saturating_add(2));
        out.push(DirEntry {
            name: b".".to_vec(),
            ino: id,
            kind: NodeKind::Directory,
        });
        out.push(DirEntry {
            name: b"..".to_vec(),
            ino: dir.parent,
            kind: NodeKind::Directory,
        });
        for (name, &ino) in &dir.entries {
            let ino = self.covering(ino);
            out.push(DirEntry {
                name: name.clone(),
                ino,
                kind: if split_id(ino).is_some() { NodeKind::Directory } else { self.node(ino)?.kind() },
            });
        }
        Ok(out)
    }

    /// The absolute path of a directory (`getcwd`). `ENOTDIR` for a
    /// non-directory, `ENOENT` for a removed one.
    pub fn path_of(&self, id: InodeId) -> Result<Vec<u8>, Errno> {
        if split_id(id).is_some() {
            self.require_dir(id)?;
            return self.remote_path(id).ok_or(Errno::ENOENT);
        }
        let mut names: Vec<&[u8]> = Vec::new();
        let mut current = id;
        self.dir(current)?;
        while current != ROOT {
            if self.node(current)?.nlink == 0 || names.len() > self.inodes.len() {
                return Err(Errno::ENOENT);
            }
            let parent = self.dir(current)?.parent;
            let name = self
                .dir(parent)?
                .entries
                .iter()
                .find(|&(_, &child)| child == current)
                .map(|(name, _)| name.as_slice())
                .ok_or(Errno::ENOENT)?;
            names.push(name);
            current = parent;
        }
        if names.is_empty() {
            return Ok(b"/".to_vec());
        }
        let mut path = Vec::new();
        for name in names.iter().rev() {
            path.push(b'/');
            path.extend_from_slice(name);
        }
        Ok(path)
    }

    /// Sets the wall clock that new, changed and read inodes take as
    /// their times (the archive's own times stay as packed).
    pub fn set_clock(&mut self, now: Timestamp) {
        self.now = now;
    }

    /// Reads the wall clock from `clock` whenever an mtime is due (the
    /// kernel's), instead of a value set beforehand: only calls that change
    /// something pay for reading it.
    pub fn set_clock_source(&mut self, clock: fn() -> Timestamp) {
        self.clock = Some(clock);
    }

    fn now(&self) -> Timestamp {
        self.clock.map_or(self.now, |clock| clock())
    }

    /// One absolute path of any inode (of its first name found), for
    /// messages that name a file; `None` once it has no name. Walks every
    /// directory: not for hot paths.
    pub fn any_path_of(&self, id: InodeId) -> Option<Vec<u8>> {
        if split_id(id).is_some() {
            return self.remote_path(id);
        }
        if self.dir(id).is_ok() {
            return self.path_of(id).ok();
        }
        // The lowest-numbered directory holding it: the same name every
        // time for a file with several links.
        let (parent, name) = self
            .inodes
            .iter()
            .filter_map(|(&parent, inode)| {
                let Body::Dir(dir) = &inode.body else { return None };
                let (name, _) = dir.entries.iter().find(|&(_, &child)| child == id)?;
                Some((parent, name))
            })
            .min_by_key(|&(parent, _)| parent)?;
        let mut path = self.path_of(parent).ok()?;
        if path != b"/" {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        Some(path)
    }

    /// The parent of a directory (the root for the root); the root for a
    /// non-directory or an unknown id.
    pub fn parent_of(&self, dir: InodeId) -> InodeId {
        if split_id(dir).is_some() {
            return self.child(dir, b"..").unwrap_or(ROOT);
        }
        self.dir(dir).map_or(ROOT, |d| d.parent)
    }

    /// The path of a remote node from the names its backend last saw it
    /// under, below its mount point's path.
    fn remote_path(&self, id: InodeId) -> Option<Vec<u8>> {
        let (mount, mut node) = split_id(id)?;
        let m = self.mounts.get(mount)?;
        let mut names = Vec::new();
        while node != m.backend.root() {
            let (parent, name) = m.backend.name_of(node)?;
            names.push(name);
            node = parent;
            if names.len() > PATH_MAX {
                return None;
            }
        }
        let mut path = self.path_of(m.point).ok()?;
        for name in names.iter().rev() {
            if path != b"/" {
                path.push(b'/');
            }
            path.extend_from_slice(name);
        }
        Some(path)
    }
}
