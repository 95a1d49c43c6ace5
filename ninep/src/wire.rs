//! 9P2000.L messages: [`Request`] encodes a T-message, [`Response::decode`]
//! checks and decodes the R-message that answers it. Little-endian
//! integers, strings as a 16-bit length and bytes, a message as
//! `size[4] type[1] tag[2] body`.

use alloc::vec::Vec;

use syscall::Errno;

/// No fid (Tattach's afid).
pub const NOFID: u32 = !0;
/// Tversion's tag.
pub const NOTAG: u16 = !0;
/// Bytes of a message header: size, type, tag.
pub const HEADER_LEN: usize = 7;
/// What Tread / Twrite need besides their data (header, fid, offset, count).
pub const IO_HEADER_LEN: usize = 24;
/// The protocol version asked for.
pub const VERSION: &[u8] = b"9P2000.L";

/// Qid type bits.
pub const QTDIR: u8 = 0x80;
pub const QTSYMLINK: u8 = 0x02;

/// Tgetattr's mask for the basic `stat` fields.
pub const GETATTR_BASIC: u64 = 0x7ff;

/// Tsetattr's valid bits.
pub const SETATTR_MODE: u32 = 0x1;
pub const SETATTR_UID: u32 = 0x2;
pub const SETATTR_GID: u32 = 0x4;
pub const SETATTR_SIZE: u32 = 0x8;
pub const SETATTR_ATIME: u32 = 0x10;
pub const SETATTR_MTIME: u32 = 0x20;
pub const SETATTR_CTIME: u32 = 0x40;
/// With `SETATTR_ATIME`: the time given, not the server's now.
pub const SETATTR_ATIME_SET: u32 = 0x80;
pub const SETATTR_MTIME_SET: u32 = 0x100;

/// Tunlinkat's flag for a directory (Linux's AT_REMOVEDIR).
pub const AT_REMOVEDIR: u32 = 0x200;

/// Message types.
pub mod kind {
    pub const RLERROR: u8 = 7;
    pub const TSTATFS: u8 = 8;
    pub const TLOPEN: u8 = 12;
    pub const TLCREATE: u8 = 14;
    pub const TSYMLINK: u8 = 16;
    pub const TMKNOD: u8 = 18;
    pub const TREADLINK: u8 = 22;
    pub const TGETATTR: u8 = 24;
    pub const TSETATTR: u8 = 26;
    pub const TREADDIR: u8 = 40;
    pub const TFSYNC: u8 = 50;
    pub const TLINK: u8 = 70;
    pub const TMKDIR: u8 = 72;
    pub const TRENAMEAT: u8 = 74;
    pub const TUNLINKAT: u8 = 76;
    pub const TVERSION: u8 = 100;
    pub const TATTACH: u8 = 104;
    pub const TWALK: u8 = 110;
    pub const TREAD: u8 = 116;
    pub const TWRITE: u8 = 118;
    pub const TCLUNK: u8 = 120;
}

/// A server's unique name for a file: `path` is its identity (the host's
/// inode number), `ty` its QT* bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Qid {
    pub ty: u8,
    pub version: u32,
    pub path: u64,
}

/// Rgetattr's fields that `stat` needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub qid: Qid,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub size: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

/// A time of Rgetattr or Tsetattr: seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    pub secs: u64,
    pub nsecs: u64,
}

/// Tsetattr's fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Time,
    pub mtime: Time,
}

/// Rstatfs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub fs_type: u32,
    pub block_size: u32,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub fsid: u64,
    pub name_max: u32,
}

/// One Rreaddir entry: `offset` is where the next read starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub qid: Qid,
    pub offset: u64,
    pub ty: u8,
    pub name: Vec<u8>,
}

/// A T-message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Version { msize: u32, version: &'a [u8] },
    Attach { fid: u32, afid: u32, uname: &'a [u8], aname: &'a [u8], n_uname: u32 },
    Walk { fid: u32, newfid: u32, names: &'a [&'a [u8]] },
    Lopen { fid: u32, flags: u32 },
    Lcreate { fid: u32, name: &'a [u8], flags: u32, mode: u32, gid: u32 },
    Symlink { fid: u32, name: &'a [u8], target: &'a [u8], gid: u32 },
    Mknod { dfid: u32, name: &'a [u8], mode: u32, major: u32, minor: u32, gid: u32 },
    Mkdir { dfid: u32, name: &'a [u8], mode: u32, gid: u32 },
    Read { fid: u32, offset: u64, count: u32 },
    Write { fid: u32, offset: u64, data: &'a [u8] },
    Getattr { fid: u32, mask: u64 },
    Setattr { fid: u32, attr: SetAttr },
    Readdir { fid: u32, offset: u64, count: u32 },
    Readlink { fid: u32 },
    Link { dfid: u32, fid: u32, name: &'a [u8] },
    Unlinkat { dfid: u32, name: &'a [u8], flags: u32 },
    Renameat { old_dfid: u32, old_name: &'a [u8], new_dfid: u32, new_name: &'a [u8] },
    Fsync { fid: u32, datasync: bool },
    Statfs { fid: u32 },
    Clunk { fid: u32 },
}

/// Builds a message body after the header.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &[u8]) -> Result<(), Errno> {
        self.u16(u16::try_from(s.len()).map_err(|_| Errno::ENAMETOOLONG)?);
        self.0.extend_from_slice(s);
        Ok(())
    }
}

impl Request<'_> {
    /// The T-type byte.
    pub fn kind(&self) -> u8 {
        use kind::*;
        match self {
            Request::Version { .. } => TVERSION,
            Request::Attach { .. } => TATTACH,
            Request::Walk { .. } => TWALK,
            Request::Lopen { .. } => TLOPEN,
            Request::Lcreate { .. } => TLCREATE,
            Request::Symlink { .. } => TSYMLINK,
            Request::Mknod { .. } => TMKNOD,
            Request::Mkdir { .. } => TMKDIR,
            Request::Read { .. } => TREAD,
            Request::Write { .. } => TWRITE,
            Request::Getattr { .. } => TGETATTR,
            Request::Setattr { .. } => TSETATTR,
            Request::Readdir { .. } => TREADDIR,
            Request::Readlink { .. } => TREADLINK,
            Request::Link { .. } => TLINK,
            Request::Unlinkat { .. } => TUNLINKAT,
            Request::Renameat { .. } => TRENAMEAT,
            Request::Fsync { .. } => TFSYNC,
            Request::Statfs { .. } => TSTATFS,
            Request::Clunk { .. } => TCLUNK,
        }
    }

    /// The whole message with `tag` into `out` (cleared first).
    /// `ENAMETOOLONG` for a string over 65535 bytes, `EINVAL` for more
    /// than 16 walk names, `EMSGSIZE` past `msize`.
    pub fn encode(&self, tag: u16, msize: u32, out: &mut Vec<u8>) -> Result<(), Errno> {
        out.clear();
        let mut w = Writer(core::mem::take(out));
        w.u32(0);
        w.u8(self.kind());
        w.u16(tag);
        match *self {
            Request::Version { msize, version } => {
                w.u32(msize);
                w.str(version)?;
            }
            Request::Attach { fid, afid, uname, aname, n_uname } => {
                w.u32(fid);
                w.u32(afid);
                w.str(uname)?;
                w.str(aname)?;
                w.u32(n_uname);
            }
            Request::Walk { fid, newfid, names } => {
                if names.len() > 16 {
                    return Err(Errno::EINVAL);
                }
                w.u32(fid);
                w.u32(newfid);
                w.u16(names.len() as u16);
                for name in names {
                    w.str(name)?;
                }
            }
            Request::Lopen { fid, flags } => {
                w.u32(fid);
                w.u32(flags);
            }
            Request::Lcreate { fid, name, flags, mode, gid } => {
                w.u32(fid);
                w.str(name)?;
                w.u32(flags);
                w.u32(mode);
                w.u32(gid);
            }
            Request::Symlink { fid, name, target, gid } => {
                w.u32(fid);
                w.str(name)?;
                w.str(target)?;
                w.u32(gid);
            }
            Request::Mknod { dfid, name, mode, major, minor, gid } => {
                w.u32(dfid);
                w.str(name)?;
                w.u32(mode);
                w.u32(major);
                w.u32(minor);
                w.u32(gid);
            }
            Request::Mkdir { dfid, name, mode, gid } => {
                w.u32(dfid);
                w.str(name)?;
                w.u32(mode);
                w.u32(gid);
            }
            Request::Read { fid, offset, count } | Request::Readdir { fid, offset, count } => {
                w.u32(fid);
                w.u64(offset);
                w.u32(count);
            }
            Request::Write { fid, offset, data } => {
                w.u32(fid);
                w.u64(offset);
                w.u32(u32::try_from(data.len()).map_err(|_| Errno::EMSGSIZE)?);
                w.0.extend_from_slice(data);
            }
            Request::Getattr { fid, mask } => {
                w.u32(fid);
                w.u64(mask);
            }
            Request::Setattr { fid, attr } => {
                w.u32(fid);
                w.u32(attr.valid);
                w.u32(attr.mode);
                w.u32(attr.uid);
                w.u32(attr.gid);
                w.u64(attr.size);
                w.u64(attr.atime.secs);
                w.u64(attr.atime.nsecs);
                w.u64(attr.mtime.secs);
                w.u64(attr.mtime.nsecs);
            }
            Request::Readlink { fid } | Request::Statfs { fid } | Request::Clunk { fid } => w.u32(fid),
            Request::Link { dfid, fid, name } => {
                w.u32(dfid);
                w.u32(fid);
                w.str(name)?;
            }
            Request::Unlinkat { dfid, name, flags } => {
                w.u32(dfid);
                w.str(name)?;
                w.u32(flags);
            }
            Request::Renameat { old_dfid, old_name, new_dfid, new_name } => {
                w.u32(old_dfid);
                w.str(old_name)?;
                w.u32(new_dfid);
                w.str(new_name)?;
            }
            Request::Fsync { fid, datasync } => {
                w.u32(fid);
                w.u32(u32::from(datasync));
            }
        }
        let mut bytes = w.0;
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::EMSGSIZE)?;
        if len > msize {
            *out = bytes;
            return Err(Errno::EMSGSIZE);
        }
        if let Some(size) = bytes.get_mut(..4) {
            size.copy_from_slice(&len.to_le_bytes());
        }
        *out = bytes;
        Ok(())
    }
}

/// An R-message's body, decoded for the request it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response<'a> {
    Version { msize: u32, version: &'a [u8] },
    /// Rattach, Rsymlink, Rmknod, Rmkdir.
    Qid(Qid),
    Walk(Vec<Qid>),
    /// Rlopen, Rlcreate.
    Opened { qid: Qid, iounit: u32 },
    /// Rread's data, Rreaddir's raw entries (see [`parse_dir_entries`]).
    Data(&'a [u8]),
    Written(u32),
    Attr(Attr),
    Link(&'a [u8]),
    StatFs(StatFs),
    /// Rsetattr, Rlink, Runlinkat, Rrenameat, Rfsync, Rclunk.
    Done,
}

/// Reads a message body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Errno> {
        if self.0.len() < n {
            return Err(Errno::EIO);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Errno> {
        self.take(N)?.try_into().map_err(|_| Errno::EIO)
    }
    fn u8(&mut self) -> Result<u8, Errno> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn str(&mut self) -> Result<&'a [u8], Errno> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
    fn qid(&mut self) -> Result<Qid, Errno> {
        Ok(Qid { ty: self.u8()?, version: self.u32()?, path: self.u64()? })
    }
}

impl<'a> Response<'a> {
    /// Decodes `message`, the answer to a request of type `sent` with
    /// `tag`. An Rlerror gives its errno (`EIO` for one Linux does not
    /// have); a short, oversized or mismatched message is `EIO`.
    pub fn decode(sent: u8, tag: u16, message: &'a [u8]) -> Result<Response<'a>, Errno> {
        let mut r = Reader(message);
        let size = r.u32()?;
        if usize::try_from(size).ok() != Some(message.len()) {
            return Err(Errno::EIO);
        }
        let ty = r.u8()?;
        if r.u16()? != tag {
            return Err(Errno::EIO);
        }
        if ty == kind::RLERROR {
            let code = r.u32()?;
            return Err(i32::try_from(code).ok().and_then(Errno::from_raw).unwrap_or(Errno::EIO));
        }
        if ty != sent.wrapping_add(1) {
            return Err(Errno::EIO);
        }
        use kind::*;
        let response = match sent {
            TVERSION => Response::Version { msize: r.u32()?, version: r.str()? },
            TATTACH | TSYMLINK | TMKNOD | TMKDIR => Response::Qid(r.qid()?),
            TWALK => {
                let n = r.u16()?;
                if n > 16 {
                    return Err(Errno::EIO);
                }
                let mut qids = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    qids.push(r.qid()?);
                }
                Response::Walk(qids)
            }
            TLOPEN | TLCREATE => Response::Opened { qid: r.qid()?, iounit: r.u32()? },
            TREAD | TREADDIR => {
                let count = r.u32()?;
                Response::Data(r.take(usize::try_from(count).map_err(|_| Errno::EIO)?)?)
            }
            TWRITE => Response::Written(r.u32()?),
            TGETATTR => {
                let _valid = r.u64()?;
                let qid = r.qid()?;
                let (mode, uid, gid) = (r.u32()?, r.u32()?, r.u32()?);
                let (nlink, rdev, size) = (r.u64()?, r.u64()?, r.u64()?);
                let (_blksize, _blocks) = (r.u64()?, r.u64()?);
                let mut time = || -> Result<Time, Errno> { Ok(Time { secs: r.u64()?, nsecs: r.u64()? }) };
                let (atime, mtime, ctime) = (time()?, time()?, time()?);
                // btime, gen, data_version.
                r.take(4 * 8)?;
                Response::Attr(Attr { qid, mode, uid, gid, nlink, rdev, size, atime, mtime, ctime })
            }
            TREADLINK => Response::Link(r.str()?),
            TSTATFS => Response::StatFs(StatFs {
                fs_type: r.u32()?,
                block_size: r.u32()?,
                blocks: r.u64()?,
                blocks_free: r.u64()?,
                blocks_available: r.u64()?,
                files: r.u64()?,
                files_free: r.u64()?,
                fsid: r.u64()?,
                name_max: r.u32()?,
            }),
            TSETATTR | TLINK | TUNLINKAT | TRENAMEAT | TFSYNC | TCLUNK => Response::Done,
            _ => return Err(Errno::EIO),
        };
        if !r.0.is_empty() {
            return Err(Errno::EIO);
        }
        Ok(response)
    }
}

/// The entries of an Rreaddir's data; `EIO` if it is cut short.
pub fn parse_dir_entries(data: &[u8]) -> Result<Vec<DirEntry>, Errno> {
    let mut r = Reader(data);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        out.push(DirEntry { qid: r.qid()?, offset: r.u64()?, ty: r.u8()?, name: r.str()?.to_vec() });
    }
    Ok(out)
}
