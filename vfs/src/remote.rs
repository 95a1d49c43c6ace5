//! File systems served by someone else (a volume: the host's directory
//! over 9P), mounted on a directory of the in-memory tree.
//!
//! A [`Backend`] names its nodes with its own small numbers
//! ([`RemoteNode`]); [`crate::Fs`] turns them into inode ids of their own
//! range (one per mount, [`remote_id`]) so that the kernel handles every
//! inode the same way. The backend keeps nothing the host may change
//! under it: attributes, directory entries and data are asked for every
//! time (docs/volumes.md).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::{InodeId, Metadata, NodeKind, TimeChange};
use syscall::Errno;

/// A node's number inside one backend: stable while the backend lives,
/// below `1 << MOUNT_SHIFT`.
pub type RemoteNode = u64;

/// Bits of an inode id that number the node inside its mount; the bits
/// above are the mount's index plus one.
pub const MOUNT_SHIFT: u32 = 40;

const NODE_MASK: u64 = (1 << MOUNT_SHIFT) - 1;

/// The inode id of `node` in mount number `mount`.
pub const fn remote_id(mount: usize, node: RemoteNode) -> InodeId {
    ((mount as u64).wrapping_add(1) << MOUNT_SHIFT) | (node & NODE_MASK)
}

/// The mount number and node of a remote inode id; `None` for the
/// in-memory tree's own inodes.
pub const fn split_id(id: InodeId) -> Option<(usize, RemoteNode)> {
    let mount = id >> MOUNT_SHIFT;
    if mount == 0 {
        None
    } else {
        Some((mount.wrapping_sub(1) as usize, id & NODE_MASK))
    }
}

/// What to create in a backend's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewNode<'a> {
    File,
    Directory,
    Symlink(&'a [u8]),
    Fifo,
    Socket,
    /// A character device with these (major, minor) numbers.
    CharDevice(u32, u32),
}

/// Attributes to change (`None`: keep).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub perm: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeChange>,
    pub mtime: Option<TimeChange>,
}

/// One directory entry of a backend (neither `.` nor `..`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEntry {
    pub name: Vec<u8>,
    pub node: RemoteNode,
    pub kind: NodeKind,
}

/// `statfs` of a backend, in blocks of `block_size` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteStatFs {
    pub fs_type: u32,
    pub block_size: u32,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub name_max: u32,
}

/// A file system that lives elsewhere. Methods take `&self` because path
/// resolution is a read of the tree; implementations keep their state
/// (the channel, their node table) behind a cell. Errors are Linux's.
pub trait Backend: Send {
    /// The mount's root directory.
    fn root(&self) -> RemoteNode;
    /// The node `name` (one component, `..` included) names in `dir`.
    fn walk(&self, dir: RemoteNode, name: &[u8]) -> Result<RemoteNode, Errno>;
    /// The kind of a node as last seen (by a walk or a getattr): what path
    /// resolution needs to decide whether to follow, without asking.
    fn kind(&self, node: RemoteNode) -> Result<NodeKind, Errno>;
    /// What `stat` reports (`ino` is filled in by the caller).
    fn getattr(&self, node: RemoteNode) -> Result<Metadata, Errno>;
    fn setattr(&self, node: RemoteNode, attr: &SetAttr) -> Result<(), Errno>;
    /// A file is opened for reading and/or writing: get the server's
    /// open handles now, so that the open fails as the host's would and
    /// the file stays readable and writable once its name is removed.
    fn open(&self, node: RemoteNode, read: bool, write: bool) -> Result<(), Errno>;
    fn read(&self, node: RemoteNode, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    fn write(&self, node: RemoteNode, offset: u64, data: &[u8]) -> Result<usize, Errno>;
    /// Creates `name` in `dir` as `what` owned by group `gid`.
    fn create(&self, dir: RemoteNode, name: &[u8], what: NewNode<'_>, perm: u32, gid: u32) -> Result<RemoteNode, Errno>;
    /// A new name `name` in `dir` for `node`.
    fn link(&self, node: RemoteNode, dir: RemoteNode, name: &[u8]) -> Result<(), Errno>;
    /// Removes the name (a directory's when `directory`).
    fn unlink(&self, dir: RemoteNode, name: &[u8], directory: bool) -> Result<(), Errno>;
    fn rename(&self, old_dir: RemoteNode, old_name: &[u8], new_dir: RemoteNode, new_name: &[u8]) -> Result<(), Errno>;
    fn read_dir(&self, dir: RemoteNode) -> Result<Vec<RemoteEntry>, Errno>;
    fn readlink(&self, node: RemoteNode) -> Result<Vec<u8>, Errno>;
    /// Makes what was written to `node` durable (its data only when
    /// `data_only`).
    fn fsync(&self, node: RemoteNode, data_only: bool) -> Result<(), Errno>;
    fn statfs(&self) -> Result<RemoteStatFs, Errno>;
    /// The directory and name `node` was last seen under (`None` for the
    /// root or a node never walked to), for getcwd.
    fn name_of(&self, node: RemoteNode) -> Option<(RemoteNode, Vec<u8>)>;
    /// No open file refers to `node` any more: let its open handles go
    /// (it stays reachable by name).
    fn release(&self, node: RemoteNode);
}

/// One mounted backend.
pub(crate) struct Mount {
    /// The in-memory directory it covers.
    pub point: InodeId,
    pub backend: Box<dyn Backend>,
}

impl core::fmt::Debug for Mount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mount").field("point", &self.point).finish_non_exhaustive()
    }
}
