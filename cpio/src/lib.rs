//! cpio "newc" archives (magic `070701`), the format of Linux initramfs
//! images.
//!
//! - [`entries`] walks an archive without copying (no_std, no alloc): each
//!   [`Entry`] borrows its name and data from the archive. It stops at the
//!   `TRAILER!!!` entry, or at the end of the input, and yields at most one
//!   [`CpioError`], after which it ends. It never panics on any input.
//! - [`Writer`] (feature `std`, always on in tests) builds archives, for the
//!   host CLI that packs an initramfs and for tests.
//!
//! Layout of one entry: a 110-byte ASCII header (`070701` or `070702`, then
//! 13 eight-digit hex fields: ino, mode, uid, gid, nlink, mtime, filesize,
//! devmajor, devminor, rdevmajor, rdevminor, namesize, check), the name
//! with its NUL terminator, padding to a multiple of 4 bytes, the data,
//! padding to a multiple of 4 bytes. Offsets are counted from the start of
//! the archive. Neighbour: `vfs` builds the root file system from the
//! entries.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

#[cfg(any(test, feature = "std"))]
extern crate alloc;

use core::fmt;

#[cfg(test)]
mod tests;

/// Magic of the "newc" format.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// Magic of the "crc" variant (same layout plus a checksum, not verified).
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// Size of the ASCII header.
pub const HEADER_LEN: usize = 110;
/// Name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";

/// File type mask of `st_mode`.
pub const S_IFMT: u32 = 0o170_000;
/// Directory.
pub const S_IFDIR: u32 = 0o040_000;
/// Regular file.
pub const S_IFREG: u32 = 0o100_000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// Character device.
pub const S_IFCHR: u32 = 0o020_000;
/// Where [`Writer`] starts every regular file's data: a page.
pub const DATA_ALIGN: usize = 4096;
/// Name of the entries (file type 0, no data) that [`Writer`] writes only
/// to move the next file's data to a page boundary.
pub const FILLER_NAME: &str = ".isola-align";

/// One archive member. `data` is the file content or the symlink target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Path inside the archive without a leading `./` or `/`; `""` for the
    /// archive's root (`.`).
    pub name: &'a str,
    /// Full `st_mode`, file type (`S_IFMT` bits) included.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    /// File content, or the target of a symlink.
    pub data: &'a [u8],
    /// Inode number inside the archive.
    pub ino: u32,
    /// Number of links.
    pub nlink: u32,
    /// Major number of a device node.
    pub rdev_major: u32,
    /// Minor number of a device node.
    pub rdev_minor: u32,
}

impl Entry<'_> {
    /// The `S_IFMT` bits of `mode`.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// Permission bits (including setuid, setgid, sticky).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// Why an archive could not be read. `offset` is where the problem is,
/// from the start of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// The archive ends inside a header, name or data.
    Truncated {
        /// Start of the incomplete part.
        offset: usize,
    },
    /// No `070701`/`070702` magic where a header should start.
    BadMagic {
        /// Start of the header.
        offset: usize,
    },
    /// A header field is not eight hex digits.
    BadNumber {
        /// Start of the field.
        offset: usize,
    },
    /// The name is empty, not NUL-terminated, or not UTF-8.
    BadName {
        /// Start of the name.
        offset: usize,
    },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::Truncated { offset } => {
                write!(f, "cpio archive truncated at offset {offset:#x}")
            }
            CpioError::BadMagic { offset } => write!(
                f,
                "cpio: no newc header (magic 070701) at offset {offset:#x}"
            ),
            CpioError::BadNumber { offset } => {
                write!(f, "cpio: bad hexadecimal field at offset {offset:#x}")
            }
            CpioError::BadName { offset } => {
                write!(f, "cpio: bad entry name at offset {offset:#x}")
            }
        }
    }
}

/// The entries of `archive`, in order, up to the trailer.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries {
        archive,
        offset: 0,
        done: false,
    }
}

/// Iterator returned by [`entries`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    archive: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            return match self.parse_next() {
                // The writer's alignment fillers are not members.
                Ok(Some(entry)) if entry.name == FILLER_NAME && entry.mode & S_IFMT == 0 => continue,
                Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
                Err(err) => {
                    self.done = true;
                    Some(Err(err))
                }
            };
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// Rounds up to a multiple of 4; `None` on overflow.
fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

impl<'a> Entries<'a> {
    /// The bytes `[start, start + len)`, or `Truncated { offset: start }`.
    fn bytes(&self, start: usize, len: usize) -> Result<&'a [u8], CpioError> {
        let archive: &'a [u8] = self.archive;
        start
            .checked_add(len)
            .and_then(|end| archive.get(start..end))
            .ok_or(CpioError::Truncated { offset: start })
    }

    /// Parses the entry at `self.offset`; `None` at the trailer or at the
    /// end of the input (trailing NUL padding included).
    fn parse_next(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        let start = self.offset;
        let rest = self.archive.get(start..).unwrap_or(&[]);
        // Zeros first (checking them all only then): end of input, or NUL
        // padding after the last entry.
        if rest.first().is_none_or(|&b| b == 0) && rest.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let header = self.bytes(start, HEADER_LEN)?;
        let magic = header.get(..6).unwrap_or(&[]);
        if magic != MAGIC_NEWC && magic != MAGIC_CRC {
            return Err(CpioError::BadMagic { offset: start });
        }
        let mut fields = [0u32; 13];
        for (i, field) in fields.iter_mut().enumerate() {
            // 6 + 8 * 13 = 110: inside the header.
            let at = i.saturating_mul(8).saturating_add(6);
            let digits = header.get(at..at.saturating_add(8)).unwrap_or(&[]);
            *field = parse_hex(digits).ok_or(CpioError::BadNumber {
                offset: start.saturating_add(at),
            })?;
        }
        let [
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            filesize,
            _dev_major,
            _dev_minor,
            rdev_major,
            rdev_minor,
            namesize,
            _check,
        ] = fields;

        let name_start = start.saturating_add(HEADER_LEN);
        let name_len =
            usize::try_from(namesize).map_err(|_| CpioError::BadName { offset: name_start })?;
        let name_bytes = self.bytes(name_start, name_len)?;
        let Some((&0, _)) = name_bytes.split_last() else {
            return Err(CpioError::BadName { offset: name_start });
        };
        // The name ends at its first NUL; NULs may pad it (the writer
        // pads names to put file data on a page boundary, which Linux's
        // unpacker accepts too), anything after them may not.
        let name_end = name_bytes.iter().position(|&b| b == 0).unwrap_or(0);
        let (name, padding) = name_bytes.split_at(name_end);
        if padding.iter().any(|&b| b != 0) {
            return Err(CpioError::BadName { offset: name_start });
        }
        let name =
            core::str::from_utf8(name).map_err(|_| CpioError::BadName { offset: name_start })?;

        let data_start = name_start
            .checked_add(name_len)
            .and_then(align4)
            .ok_or(CpioError::Truncated { offset: name_start })?;
        if name == TRAILER {
            return Ok(None);
        }
        let data_len =
            usize::try_from(filesize).map_err(|_| CpioError::Truncated { offset: data_start })?;
        let data = self.bytes(data_start, data_len)?;
        // The final padding may be missing at the very end of the input.
        self.offset = data_start
            .checked_add(data_len)
            .and_then(align4)
            .ok_or(CpioError::Truncated { offset: data_start })?;

        Ok(Some(Entry {
            name: strip_prefix(name),
            mode,
            uid,
            gid,
            mtime,
            data,
            ino,
            nlink,
            rdev_major,
            rdev_minor,
        }))
    }
}

/// Eight ASCII hex digits (either case).
fn parse_hex(digits: &[u8]) -> Option<u32> {
    if digits.len() != 8 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        let value = char::from(d).to_digit(16)?;
        Some((acc << 4) | value)
    })
}

/// Drops leading `./` and `/`; `.` alone becomes `""`.
fn strip_prefix(mut name: &str) -> &str {
    loop {
        if let Some(rest) = name.strip_prefix("./") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix('/') {
            name = rest;
        } else if name == "." {
            return "";
        } else {
            return name;
        }
    }
}

#[cfg(any(test, feature = "std"))]
pub use writer::{Owner, Writer};

#[cfg(any(test, feature = "std"))]
mod writer {
    use super::{DATA_ALIGN, FILLER_NAME, HEADER_LEN, MAGIC_NEWC, S_IFDIR, S_IFLNK, S_IFREG, TRAILER};
    use alloc::vec::Vec;

    /// Longest `namesize` Linux's unpacker takes (PATH_MAX).
    const MAX_NAMESIZE: usize = 4096;

    /// Who owns an entry and when it was last changed.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Owner {
        pub uid: u32,
        pub gid: u32,
        /// Seconds since the epoch.
        pub mtime: u32,
    }

    impl Owner {
        /// Root, at the epoch (what the plain `add_*` methods record).
        pub const ROOT: Owner = Owner { uid: 0, gid: 0, mtime: 0 };
    }

    /// Builds a newc archive in memory. Inode numbers count from 1; `nlink`
    /// is 2 for directories and 1 otherwise; mtime, uid and gid are 0
    /// (root, the epoch) unless given (`add_*_as`).
    /// Paths are stored as given, minus leading `/`.
    ///
    /// Every non-empty regular file's data starts on a [`DATA_ALIGN`]
    /// boundary of the archive, so that a kernel can map the archive's
    /// pages in place (a shared page cache without copies, and identical
    /// files in identical page-aligned frames for the host to merge). The
    /// gap is taken by NULs after the entry's name (its `namesize` counts
    /// them), and where that would make a name longer than Linux's
    /// PATH_MAX, by a filler entry first: name [`FILLER_NAME`], file type 0,
    /// which both Linux's unpacker and [`entries`](super::entries)' users
    /// skip.
    #[derive(Clone, Debug, Default)]
    pub struct Writer {
        out: Vec<u8>,
        next_ino: u32,
        /// The owner of the entry being written.
        owner: Owner,
    }

    impl Writer {
        /// An empty archive.
        pub fn new() -> Self {
            Writer {
                out: Vec::new(),
                next_ino: 1,
                owner: Owner::ROOT,
            }
        }

        /// Adds a directory with permissions `mode_perm` (`0o755`...).
        pub fn add_dir(&mut self, path: &str, mode_perm: u32) {
            self.add(path, S_IFDIR | (mode_perm & 0o7777), 2, b"");
        }

        /// Adds a regular file.
        pub fn add_file(&mut self, path: &str, mode_perm: u32, data: &[u8]) {
            self.add(path, S_IFREG | (mode_perm & 0o7777), 1, data);
        }

        /// Adds a symbolic link to `target` (mode `0o777`, as Linux shows).
        pub fn add_symlink(&mut self, path: &str, target: &str) {
            self.add(path, S_IFLNK | 0o777, 1, target.as_bytes());
        }

        /// [`Writer::add_dir`] owned by `owner`.
        pub fn add_dir_as(&mut self, path: &str, mode_perm: u32, owner: Owner) {
            self.owner = owner;
            self.add_dir(path, mode_perm);
            self.owner = Owner::ROOT;
        }

        /// [`Writer::add_file`] owned by `owner`.
        pub fn add_file_as(&mut self, path: &str, mode_perm: u32, data: &[u8], owner: Owner) {
            self.owner = owner;
            self.add_file(path, mode_perm, data);
            self.owner = Owner::ROOT;
        }

        /// [`Writer::add_symlink`] owned by `owner`.
        pub fn add_symlink_as(&mut self, path: &str, target: &str, owner: Owner) {
            self.owner = owner;
            self.add_symlink(path, target);
            self.owner = Owner::ROOT;
        }

        /// Appends the trailer and returns the archive.
        pub fn finish(mut self) -> Vec<u8> {
            self.write_entry(TRAILER, 0, 0, 1, b"");
            self.out
        }

        fn add(&mut self, path: &str, mode: u32, nlink: u32, data: &[u8]) {
            let ino = self.next_ino;
            self.next_ino = self.next_ino.wrapping_add(1);
            let name = path.trim_start_matches('/');
            let name = if name.is_empty() { "." } else { name };
            self.write_entry(name, ino, mode, nlink, data);
        }

        fn write_entry(&mut self, name: &str, ino: u32, mode: u32, nlink: u32, data: &[u8]) {
            let mut namesize = name.len().saturating_add(1);
            if mode & super::S_IFMT == S_IFREG && !data.is_empty() {
                namesize = self.aligning_namesize(namesize);
            }
            self.write_header(name, namesize, ino, mode, nlink, data);
        }

        /// The `namesize` (at least `namesize`) that puts the data of the
        /// entry written next on a `DATA_ALIGN` boundary, writing a filler
        /// entry first when the padding alone cannot.
        // Offsets of an archive held in memory, names below 4 KiB: no
        // overflow is possible.
        #[allow(clippy::arithmetic_side_effects)]
        fn aligning_namesize(&mut self, namesize: usize) -> usize {
            let data_start = |at: usize, size: usize| (at + HEADER_LEN + size).next_multiple_of(4);
            let padded = |at: usize| {
                let target = (at + HEADER_LEN + namesize).next_multiple_of(DATA_ALIGN);
                target - at - HEADER_LEN
            };
            let needed = padded(self.out.len());
            if needed <= MAX_NAMESIZE {
                return needed;
            }
            // A filler entry of `filler` bytes leaves `needed - filler` for
            // the name; any filler size in [needed - MAX_NAMESIZE, needed -
            // namesize] works, rounded to the 4-byte steps entries take.
            let filler_min = HEADER_LEN + FILLER_NAME.len() + 1;
            let filler = (needed - MAX_NAMESIZE).max(filler_min).next_multiple_of(4);
            let filler_namesize = filler - HEADER_LEN;
            if filler_namesize > MAX_NAMESIZE || filler + namesize > needed {
                return namesize;
            }
            let owner = core::mem::replace(&mut self.owner, Owner::ROOT);
            self.write_header(FILLER_NAME, filler_namesize, 0, 0, 1, b"");
            self.owner = owner;
            let at = self.out.len();
            debug_assert_eq!(data_start(at, padded(at)) % DATA_ALIGN, 0);
            padded(at)
        }

        fn write_header(&mut self, name: &str, namesize: usize, ino: u32, mode: u32, nlink: u32, data: &[u8]) {
            let fields = [
                ino,
                mode,
                self.owner.uid,
                self.owner.gid,
                nlink,
                self.owner.mtime,
                u32::try_from(data.len()).expect("cpio newc: file larger than 4 GiB"),
                0, // devmajor
                0, // devminor
                0, // rdevmajor
                0, // rdevminor
                u32::try_from(namesize).expect("cpio newc: name too long"),
                0, // check
            ];
            let start = self.out.len();
            self.out.extend_from_slice(MAGIC_NEWC);
            for field in fields {
                self.out
                    .extend_from_slice(alloc::format!("{field:08X}").as_bytes());
            }
            debug_assert_eq!(self.out.len().saturating_sub(start), HEADER_LEN);
            self.out.extend_from_slice(name.as_bytes());
            self.out.resize(self.out.len().saturating_add(namesize.saturating_sub(name.len())), 0);
            self.pad();
            self.out.extend_from_slice(data);
            self.pad();
        }

        fn pad(&mut self) {
            while self.out.len() % 4 != 0 {
                self.out.push(0);
            }
        }
    }
}
