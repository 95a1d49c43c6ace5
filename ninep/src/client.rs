//! [`Client`]: a 9P2000.L session over a [`Transport`], serving a
//! `vfs::remote::Backend`.
//!
//! Node table: each file the client has seen (by walk, create or readdir)
//! gets a [`RemoteNode`] number, keyed by its qid path (the host's inode
//! number), so that one file has one number however it is reached. A node
//! holds a *path fid* (walked to, never opened: what getattr, setattr,
//! walk, create and unlink go through), made lazily from the directory and
//! name it was last seen under, and up to two *open fids* (one opened for
//! reading, one for writing) that every read and write of the node shares,
//! with the offset given in each request. Open fids are clunked when no
//! open file refers to the node any more ([`Backend::release`]); path fids
//! stay for the session (one per file touched).
//!
//! Nothing else is kept: every stat, lookup, directory listing and I/O is
//! a request, so what the host changes is seen at once, and what the
//! guest writes is on the host (in its page cache) when the write returns;
//! `fsync` sends Tfsync.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use syscall::Errno;
use vfs::remote::{Backend, NewNode, RemoteEntry, RemoteNode, RemoteStatFs, SetAttr};
use vfs::{Device, Metadata, NodeKind, TimeChange, Timestamp};

use crate::wire::{self, Qid, Request, Response};

/// Sends one request and takes its response: a virtqueue, or a pipe in
/// tests.
pub trait Transport: Send {
    /// Sends `request` (one whole message) and writes the whole response
    /// into `response` (at least msize bytes); returns its length.
    fn exchange(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, Errno>;
}

/// Linux open flags the client sends.
const O_RDONLY: u32 = 0;
const O_WRONLY: u32 = 1;
const O_RDWR: u32 = 2;
const O_EXCL: u32 = 0o200;
/// The tag of every request: one is outstanding at a time.
const TAG: u16 = 1;
const ROOT_FID: u32 = 0;

const S_IFMT: u32 = 0o170_000;

struct Node {
    /// The file's qid path: its key in `by_qid`.
    qid_path: u64,
    /// The walked fid, if made.
    fid: Option<u32>,
    /// The qid type as last seen.
    ty: u8,
    /// Where it was last seen: `None` for the root, for a name removed,
    /// and for a node reached only through `..`.
    name: Option<(RemoteNode, Vec<u8>)>,
    read_fid: Option<u32>,
    write_fid: Option<u32>,
}

pub(crate) struct Session<T> {
    pub(crate) transport: T,
    msize: u32,
    request: Vec<u8>,
    response: Vec<u8>,
    next_fid: u32,
    free_fids: Vec<u32>,
    nodes: BTreeMap<RemoteNode, Node>,
    by_qid: BTreeMap<u64, RemoteNode>,
    next_node: RemoteNode,
}

/// A 9P2000.L client attached to one export.
pub struct Client<T> {
    pub(crate) session: RefCell<Session<T>>,
    root: RemoteNode,
}

/// A wire time as the inode time it is (the seconds are Linux's signed
/// `time64_t` sent as 64 bits).
fn timestamp(time: wire::Time) -> Timestamp {
    Timestamp { secs: time.secs as i64, nsecs: u32::try_from(time.nsecs).unwrap_or(0).min(999_999_999) }
}

fn wire_time(time: Timestamp) -> wire::Time {
    wire::Time { secs: time.secs as u64, nsecs: u64::from(time.nsecs) }
}

fn kind_of_qid(ty: u8) -> NodeKind {
    if ty & wire::QTDIR != 0 {
        NodeKind::Directory
    } else if ty & wire::QTSYMLINK != 0 {
        NodeKind::Symlink
    } else {
        NodeKind::File
    }
}

/// A kind from `st_mode`; devices the in-memory tree cannot name are
/// shown as files (their mode still says what they are).
fn kind_of_mode(mode: u32, rdev: u64) -> NodeKind {
    match mode & S_IFMT {
        vfs::S_IFDIR => NodeKind::Directory,
        vfs::S_IFLNK => NodeKind::Symlink,
        vfs::S_IFIFO => NodeKind::Fifo,
        vfs::S_IFSOCK => NodeKind::Socket,
        vfs::S_IFCHR => {
            let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
            let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
            Device::from_numbers(major as u32, minor as u32).map_or(NodeKind::File, NodeKind::CharDevice)
        }
        _ => NodeKind::File,
    }
}

/// A `d_type` as a kind.
fn kind_of_dirent(ty: u8) -> NodeKind {
    match ty {
        4 => NodeKind::Directory,
        10 => NodeKind::Symlink,
        1 => NodeKind::Fifo,
        12 => NodeKind::Socket,
        _ => NodeKind::File,
    }
}

impl<T: Transport> Session<T> {
    /// Sends `request` and decodes the answer (borrowed from the response
    /// buffer).
    fn call(&mut self, request: &Request<'_>) -> Result<Response<'_>, Errno> {
        let tag = if matches!(request, Request::Version { .. }) { wire::NOTAG } else { TAG };
        request.encode(tag, self.msize, &mut self.request)?;
        let len = self.transport.exchange(&self.request, &mut self.response)?;
        let message = self.response.get(..len).ok_or(Errno::EIO)?;
        Response::decode(request.kind(), tag, message)
    }

    fn done(&mut self, request: &Request<'_>) -> Result<(), Errno> {
        match self.call(request)? {
            Response::Done => Ok(()),
            _ => Err(Errno::EIO),
        }
    }

    fn qid(&mut self, request: &Request<'_>) -> Result<Qid, Errno> {
        match self.call(request)? {
            Response::Qid(qid) => Ok(qid),
            _ => Err(Errno::EIO),
        }
    }

    fn new_fid(&mut self) -> Result<u32, Errno> {
        if let Some(fid) = self.free_fids.pop() {
            return Ok(fid);
        }
        let fid = self.next_fid;
        self.next_fid = fid.checked_add(1).filter(|&f| f != wire::NOFID).ok_or(Errno::ENFILE)?;
        Ok(fid)
    }

    fn clunk(&mut self, fid: u32) {
        // The fid is gone on the server whatever the answer (9P's rule).
        let _ = self.done(&Request::Clunk { fid });
        self.free_fids.push(fid);
    }

    /// Walks `names` from `fid` to a new fid and returns it with the last
    /// qid.
    fn walk_fid(&mut self, fid: u32, names: &[&[u8]]) -> Result<(u32, Option<Qid>), Errno> {
        let newfid = self.new_fid()?;
        let result = match self.call(&Request::Walk { fid, newfid, names }) {
            Ok(Response::Walk(qids)) if qids.len() == names.len() => Ok(qids.last().copied()),
            // A walk that stops short creates no fid.
            Ok(Response::Walk(_)) => Err(Errno::ENOENT),
            Ok(_) => Err(Errno::EIO),
            Err(e) => Err(e),
        };
        match result {
            Ok(qid) => Ok((newfid, qid)),
            Err(e) => {
                self.free_fids.push(newfid);
                Err(e)
            }
        }
    }

    fn node(&self, node: RemoteNode) -> Result<&Node, Errno> {
        self.nodes.get(&node).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, node: RemoteNode) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&node).ok_or(Errno::ENOENT)
    }

    /// The node of `qid`, made if new; `name` (if any) is where it was seen.
    fn register(&mut self, qid: Qid, name: Option<(RemoteNode, &[u8])>) -> Result<RemoteNode, Errno> {
        let number = match self.by_qid.get(&qid.path) {
            Some(&n) => n,
            None => {
                let n = self.next_node;
                if n >= 1 << vfs::remote::MOUNT_SHIFT {
                    return Err(Errno::ENFILE);
                }
                self.next_node = n.saturating_add(1);
                self.by_qid.insert(qid.path, n);
                self.nodes.insert(n, Node { qid_path: qid.path, fid: None, ty: qid.ty, name: None, read_fid: None, write_fid: None });
                n
            }
        };
        let node = self.node_mut(number)?;
        node.ty = qid.ty;
        if let Some((dir, name)) = name {
            node.name = Some((dir, name.to_vec()));
        }
        Ok(number)
    }

    /// The path fid of `node`, walked from its directory if not yet made.
    fn fid(&mut self, node: RemoteNode) -> Result<u32, Errno> {
        let n = self.node(node)?;
        if let Some(fid) = n.fid {
            return Ok(fid);
        }
        let (dir, name) = n.name.clone().ok_or(Errno::ENOENT)?;
        let dir_fid = self.fid(dir)?;
        let (fid, qid) = self.walk_fid(dir_fid, &[&name])?;
        if qid.map(|q| q.path) != Some(self.node(node)?.qid_path) {
            // The name now names another file: this one is gone.
            self.clunk(fid);
            return Err(Errno::ESTALE);
        }
        self.node_mut(node)?.fid = Some(fid);
        Ok(fid)
    }

    /// The open fid of `node` for reading or writing, opened if need be.
    fn open_fid(&mut self, node: RemoteNode, write: bool) -> Result<u32, Errno> {
        let n = self.node(node)?;
        if let Some(fid) = if write { n.write_fid } else { n.read_fid } {
            return Ok(fid);
        }
        let path = self.fid(node)?;
        let (fid, _) = self.walk_fid(path, &[])?;
        let flags = if write { O_WRONLY } else { O_RDONLY };
        match self.call(&Request::Lopen { fid, flags }) {
            Ok(Response::Opened { .. }) => {}
            other => {
                let errno = other.err().unwrap_or(Errno::EIO);
                self.clunk(fid);
                return Err(errno);
            }
        }
        let n = self.node_mut(node)?;
        if write {
            n.write_fid = Some(fid);
        } else {
            n.read_fid = Some(fid);
        }
        Ok(fid)
    }

    /// The largest data count of one Tread or Twrite.
    fn io_max(&self) -> usize {
        (self.msize as usize).saturating_sub(wire::IO_HEADER_LEN).max(1)
    }

    /// The node `dir` and `name` last named, if any.
    fn named(&self, dir: RemoteNode, name: &[u8]) -> Option<RemoteNode> {
        self.nodes.iter().find(|(_, n)| n.name.as_ref().is_some_and(|(d, nm)| *d == dir && nm == name)).map(|(&k, _)| k)
    }

    /// Forgets that `dir`/`name` names a node (it was removed or replaced);
    /// its path fid no longer leads anywhere either.
    fn unname(&mut self, dir: RemoteNode, name: &[u8]) {
        if let Some(node) = self.named(dir, name) {
            let fid = self.nodes.get_mut(&node).and_then(|n| {
                n.name = None;
                n.fid.take()
            });
            if let Some(fid) = fid {
                self.clunk(fid);
            }
            self.drop_if_unreachable(node);
        }
    }

    /// Drops a node that has no name, no path fid and no open fid: the
    /// table holds only what can still be reached, however many files a
    /// process creates and removes.
    fn drop_if_unreachable(&mut self, node: RemoteNode) {
        let unreachable = self
            .nodes
            .get(&node)
            .is_some_and(|n| n.name.is_none() && n.fid.is_none() && n.read_fid.is_none() && n.write_fid.is_none());
        if let Some(gone) = unreachable.then(|| self.nodes.remove(&node)).flatten() {
            self.by_qid.remove(&gone.qid_path);
        }
    }
}

impl<T: Transport> Client<T> {
    /// Negotiates 9P2000.L with at most `msize` bytes per message (at
    /// least 4096) and attaches to `aname` as user `uid`.
    pub fn attach(transport: T, msize: u32, aname: &[u8], uid: u32) -> Result<Client<T>, Errno> {
        let msize = msize.max(4096);
        let mut session = Session {
            transport,
            msize,
            request: Vec::new(),
            response: vec![0; msize as usize],
            next_fid: ROOT_FID.saturating_add(1),
            free_fids: Vec::new(),
            nodes: BTreeMap::new(),
            by_qid: BTreeMap::new(),
            next_node: 1,
        };
        let agreed = match session.call(&Request::Version { msize, version: wire::VERSION })? {
            Response::Version { msize: agreed, version } if version == wire::VERSION => agreed,
            _ => return Err(Errno::EPROTONOSUPPORT),
        };
        if !(4096..=msize).contains(&agreed) {
            return Err(Errno::EPROTONOSUPPORT);
        }
        session.msize = agreed;
        let qid = session.qid(&Request::Attach { fid: ROOT_FID, afid: wire::NOFID, uname: b"root", aname, n_uname: uid })?;
        let root = session.register(qid, None)?;
        session.node_mut(root)?.fid = Some(ROOT_FID);
        Ok(Client { session: RefCell::new(session), root })
    }

    /// The message size agreed with the server.
    pub fn msize(&self) -> u32 {
        self.session.borrow().msize
    }

    fn with<R>(&self, f: impl FnOnce(&mut Session<T>) -> Result<R, Errno>) -> Result<R, Errno> {
        let mut session = self.session.try_borrow_mut().map_err(|_| Errno::EDEADLK)?;
        f(&mut session)
    }
}

impl<T: Transport> Backend for Client<T> {
    fn root(&self) -> RemoteNode {
        self.root
    }

    fn walk(&self, dir: RemoteNode, name: &[u8]) -> Result<RemoteNode, Errno> {
        self.with(|s| {
            let dir_fid = s.fid(dir)?;
            let (fid, qid) = s.walk_fid(dir_fid, &[name])?;
            let qid = qid.ok_or(Errno::EIO)?;
            let seen = if name == b".." { None } else { Some((dir, name)) };
            let node = s.register(qid, seen)?;
            // The newest walk wins: an older fid may follow a path the host
            // has renamed since.
            if let Some(old) = s.node_mut(node)?.fid.replace(fid) {
                if old == ROOT_FID {
                    s.node_mut(node)?.fid = Some(ROOT_FID);
                    s.clunk(fid);
                } else {
                    s.clunk(old);
                }
            }
            Ok(node)
        })
    }

    fn kind(&self, node: RemoteNode) -> Result<NodeKind, Errno> {
        self.with(|s| Ok(kind_of_qid(s.node(node)?.ty)))
    }

    fn getattr(&self, node: RemoteNode) -> Result<Metadata, Errno> {
        self.with(|s| {
            // An open fid answers from the open file (fstat), which still
            // works once the name is gone.
            let n = s.node(node)?;
            let fid = match n.read_fid.or(n.write_fid) {
                Some(fid) => fid,
                None => s.fid(node)?,
            };
            let attr = match s.call(&Request::Getattr { fid, mask: wire::GETATTR_BASIC })? {
                Response::Attr(attr) => attr,
                _ => return Err(Errno::EIO),
            };
            s.node_mut(node)?.ty = attr.qid.ty;
            Ok(Metadata {
                ino: 0,
                kind: kind_of_mode(attr.mode, attr.rdev),
                mode: attr.mode,
                nlink: u32::try_from(attr.nlink).unwrap_or(u32::MAX),
                uid: attr.uid,
                gid: attr.gid,
                size: attr.size,
                rdev: attr.rdev,
                atime: timestamp(attr.atime),
                mtime: timestamp(attr.mtime),
                ctime: timestamp(attr.ctime),
            })
        })
    }

    fn setattr(&self, node: RemoteNode, attr: &SetAttr) -> Result<(), Errno> {
        self.with(|s| {
            let mut set = wire::SetAttr::default();
            if let Some(perm) = attr.perm {
                set.valid |= wire::SETATTR_MODE;
                set.mode = perm;
            }
            if let Some(uid) = attr.uid {
                set.valid |= wire::SETATTR_UID;
                set.uid = uid;
            }
            if let Some(gid) = attr.gid {
                set.valid |= wire::SETATTR_GID;
                set.gid = gid;
            }
            if let Some(size) = attr.size {
                set.valid |= wire::SETATTR_SIZE;
                set.size = size;
            }
            match attr.atime {
                Some(TimeChange::Now) => set.valid |= wire::SETATTR_ATIME,
                Some(TimeChange::At(time)) => {
                    set.valid |= wire::SETATTR_ATIME | wire::SETATTR_ATIME_SET;
                    set.atime = wire_time(time);
                }
                None => {}
            }
            match attr.mtime {
                Some(TimeChange::Now) => set.valid |= wire::SETATTR_MTIME,
                Some(TimeChange::At(time)) => {
                    set.valid |= wire::SETATTR_MTIME | wire::SETATTR_MTIME_SET;
                    set.mtime = wire_time(time);
                }
                None => {}
            }
            set.valid |= wire::SETATTR_CTIME;
            // A size change goes through the open-for-writing fid when
            // there is one (ftruncate of a file whose name is gone).
            let fid = match s.node(node)?.write_fid.filter(|_| attr.size.is_some()) {
                Some(fid) => fid,
                None => s.fid(node)?,
            };
            s.done(&Request::Setattr { fid, attr: set })
        })
    }

    fn open(&self, node: RemoteNode, read: bool, write: bool) -> Result<(), Errno> {
        self.with(|s| {
            if read {
                s.open_fid(node, false)?;
            }
            if write {
                s.open_fid(node, true)?;
            }
            Ok(())
        })
    }

    fn read(&self, node: RemoteNode, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.with(|s| {
            match kind_of_qid(s.node(node)?.ty) {
                NodeKind::Directory => return Err(Errno::EISDIR),
                NodeKind::Symlink => return Err(Errno::EINVAL),
                _ => {}
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let fid = s.open_fid(node, false)?;
            let mut done = 0usize;
            while done < buf.len() {
                let want = (buf.len() - done).min(s.io_max());
                let at = offset.checked_add(done as u64).ok_or(Errno::EINVAL)?;
                let count = u32::try_from(want).map_err(|_| Errno::EINVAL)?;
                let Response::Data(data) = s.call(&Request::Read { fid, offset: at, count })? else { return Err(Errno::EIO) };
                let got = data.len().min(want);
                buf.get_mut(done..done + got).ok_or(Errno::EIO)?.copy_from_slice(data.get(..got).ok_or(Errno::EIO)?);
                done += got;
                if got < want {
                    break;
                }
            }
            Ok(done)
        })
    }

    fn write(&self, node: RemoteNode, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.with(|s| {
            match kind_of_qid(s.node(node)?.ty) {
                NodeKind::Directory => return Err(Errno::EISDIR),
                NodeKind::Symlink => return Err(Errno::EINVAL),
                _ => {}
            }
            if data.is_empty() {
                return Ok(0);
            }
            let fid = s.open_fid(node, true)?;
            let mut done = 0usize;
            while done < data.len() {
                let chunk = data.get(done..(done + s.io_max()).min(data.len())).ok_or(Errno::EIO)?;
                let at = offset.checked_add(done as u64).ok_or(Errno::EFBIG)?;
                let written = match s.call(&Request::Write { fid, offset: at, data: chunk }) {
                    Ok(Response::Written(n)) => n as usize,
                    Ok(_) => return Err(Errno::EIO),
                    // What was written stays written: report it.
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                };
                if written == 0 || written > chunk.len() {
                    if done == 0 {
                        return Err(Errno::EIO);
                    }
                    break;
                }
                done += written;
            }
            Ok(done)
        })
    }

    fn create(&self, dir: RemoteNode, name: &[u8], what: NewNode<'_>, perm: u32, gid: u32) -> Result<RemoteNode, Errno> {
        self.with(|s| {
            let dfid = s.fid(dir)?;
            let (qid, open) = match what {
                NewNode::File => {
                    let (fid, _) = s.walk_fid(dfid, &[])?;
                    match s.call(&Request::Lcreate { fid, name, flags: O_RDWR | O_EXCL, mode: perm, gid }) {
                        Ok(Response::Opened { qid, .. }) => (qid, Some(fid)),
                        other => {
                            let errno = other.err().unwrap_or(Errno::EIO);
                            s.clunk(fid);
                            return Err(errno);
                        }
                    }
                }
                NewNode::Directory => (s.qid(&Request::Mkdir { dfid, name, mode: perm, gid })?, None),
                NewNode::Symlink(target) => (s.qid(&Request::Symlink { fid: dfid, name, target, gid })?, None),
                NewNode::Fifo | NewNode::Socket | NewNode::CharDevice(..) => {
                    let (ty, major, minor) = match what {
                        NewNode::Fifo => (vfs::S_IFIFO, 0, 0),
                        NewNode::Socket => (vfs::S_IFSOCK, 0, 0),
                        NewNode::CharDevice(major, minor) => (vfs::S_IFCHR, major, minor),
                        _ => return Err(Errno::EINVAL),
                    };
                    (s.qid(&Request::Mknod { dfid, name, mode: ty | perm, major, minor, gid })?, None)
                }
            };
            s.unname(dir, name);
            let node = s.register(qid, Some((dir, name)))?;
            if let Some(fid) = open {
                // Opened read-write by Tlcreate: the writer's fid.
                if let Some(old) = s.node_mut(node)?.write_fid.replace(fid) {
                    s.clunk(old);
                }
            }
            Ok(node)
        })
    }

    fn link(&self, node: RemoteNode, dir: RemoteNode, name: &[u8]) -> Result<(), Errno> {
        self.with(|s| {
            let fid = s.fid(node)?;
            let dfid = s.fid(dir)?;
            s.done(&Request::Link { dfid, fid, name })
        })
    }

    fn unlink(&self, dir: RemoteNode, name: &[u8], directory: bool) -> Result<(), Errno> {
        self.with(|s| {
            let dfid = s.fid(dir)?;
            let flags = if directory { wire::AT_REMOVEDIR } else { 0 };
            s.done(&Request::Unlinkat { dfid, name, flags })?;
            s.unname(dir, name);
            Ok(())
        })
    }

    fn rename(&self, old_dir: RemoteNode, old_name: &[u8], new_dir: RemoteNode, new_name: &[u8]) -> Result<(), Errno> {
        self.with(|s| {
            let old_dfid = s.fid(old_dir)?;
            let new_dfid = s.fid(new_dir)?;
            s.done(&Request::Renameat { old_dfid, old_name, new_dfid, new_name })?;
            if old_dir == new_dir && old_name == new_name {
                return Ok(());
            }
            let moved = s.named(old_dir, old_name);
            s.unname(new_dir, new_name);
            if let Some(node) = moved.and_then(|m| s.nodes.get_mut(&m)) {
                // The server moves its fids along with the file.
                node.name = Some((new_dir, new_name.to_vec()));
            }
            Ok(())
        })
    }

    fn read_dir(&self, dir: RemoteNode) -> Result<Vec<RemoteEntry>, Errno> {
        self.with(|s| {
            if kind_of_qid(s.node(dir)?.ty) != NodeKind::Directory {
                return Err(Errno::ENOTDIR);
            }
            let path = s.fid(dir)?;
            let (fid, _) = s.walk_fid(path, &[])?;
            let listed = (|| {
                match s.call(&Request::Lopen { fid, flags: O_RDONLY })? {
                    Response::Opened { .. } => {}
                    _ => return Err(Errno::EIO),
                }
                let mut entries = Vec::new();
                let mut offset = 0;
                loop {
                    let count = u32::try_from(s.io_max()).map_err(|_| Errno::EIO)?;
                    let Response::Data(data) = s.call(&Request::Readdir { fid, offset, count })? else { return Err(Errno::EIO) };
                    if data.is_empty() {
                        break;
                    }
                    let batch = wire::parse_dir_entries(data)?;
                    let Some(last) = batch.last() else { break };
                    if last.offset == offset {
                        break;
                    }
                    offset = last.offset;
                    entries.extend(batch);
                }
                Ok(entries)
            })();
            s.clunk(fid);
            let mut out = Vec::new();
            for entry in listed? {
                if entry.name == b"." || entry.name == b".." {
                    continue;
                }
                let node = s.register(entry.qid, Some((dir, &entry.name)))?;
                out.push(RemoteEntry { name: entry.name, node, kind: kind_of_dirent(entry.ty) });
            }
            Ok(out)
        })
    }

    fn readlink(&self, node: RemoteNode) -> Result<Vec<u8>, Errno> {
        self.with(|s| {
            let fid = s.fid(node)?;
            match s.call(&Request::Readlink { fid })? {
                Response::Link(target) => Ok(target.to_vec()),
                _ => Err(Errno::EIO),
            }
        })
    }

    fn fsync(&self, node: RemoteNode, data_only: bool) -> Result<(), Errno> {
        self.with(|s| {
            let n = s.node(node)?;
            let fid = match n.write_fid.or(n.read_fid) {
                Some(fid) => fid,
                None => s.open_fid(node, false)?,
            };
            s.done(&Request::Fsync { fid, datasync: data_only })
        })
    }

    fn statfs(&self) -> Result<RemoteStatFs, Errno> {
        self.with(|s| match s.call(&Request::Statfs { fid: ROOT_FID })? {
            Response::StatFs(st) => Ok(RemoteStatFs {
                fs_type: st.fs_type,
                block_size: st.block_size,
                blocks: st.blocks,
                blocks_free: st.blocks_free,
                blocks_available: st.blocks_available,
                files: st.files,
                files_free: st.files_free,
                name_max: st.name_max,
            }),
            _ => Err(Errno::EIO),
        })
    }

    fn name_of(&self, node: RemoteNode) -> Option<(RemoteNode, Vec<u8>)> {
        self.session.try_borrow().ok()?.nodes.get(&node)?.name.clone()
    }

    fn release(&self, node: RemoteNode) {
        let _ = self.with(|s| {
            let n = s.node_mut(node)?;
            let fids = [n.read_fid.take(), n.write_fid.take()];
            for fid in fids.into_iter().flatten() {
                s.clunk(fid);
            }
            s.drop_if_unreachable(node);
            Ok(())
        });
    }
}
