//! Host tests of mounts: a backend kept in a `RefCell` of plain maps
//! stands in for a volume; path resolution in and out of it, dispatch of
//! every operation, and the errors at its edges (EXDEV, EBUSY).
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::remote::*;
use super::*;
use core::cell::RefCell;
use std::collections::BTreeMap as Map;

#[derive(Default)]
struct Node {
    kind: Option<NodeKind>,
    perm: u32,
    data: Vec<u8>,
    entries: Map<Vec<u8>, RemoteNode>,
    parent: RemoteNode,
    name: Vec<u8>,
}

#[derive(Default)]
struct Mock {
    nodes: RefCell<Map<RemoteNode, Node>>,
    fsyncs: RefCell<u32>,
}

impl Mock {
    fn new() -> Mock {
        let m = Mock::default();
        m.nodes.borrow_mut().insert(1, Node { kind: Some(NodeKind::Directory), perm: 0o755, parent: 1, ..Node::default() });
        m
    }
}

impl Backend for Mock {
    fn root(&self) -> RemoteNode {
        1
    }
    fn walk(&self, dir: RemoteNode, name: &[u8]) -> Result<RemoteNode, Errno> {
        let nodes = self.nodes.borrow();
        let d = nodes.get(&dir).ok_or(Errno::ENOENT)?;
        if name == b".." {
            return Ok(d.parent);
        }
        d.entries.get(name).copied().ok_or(Errno::ENOENT)
    }
    fn kind(&self, node: RemoteNode) -> Result<NodeKind, Errno> {
        self.nodes.borrow().get(&node).and_then(|n| n.kind).ok_or(Errno::ENOENT)
    }
    fn getattr(&self, node: RemoteNode) -> Result<Metadata, Errno> {
        let nodes = self.nodes.borrow();
        let n = nodes.get(&node).ok_or(Errno::ENOENT)?;
        let kind = n.kind.ok_or(Errno::ENOENT)?;
        Ok(Metadata { ino: 0, kind, mode: kind.file_type() | n.perm, nlink: 1, uid: 1000, gid: 1000, size: n.data.len() as u64, rdev: 0, atime: Timestamp::from_secs(7), mtime: Timestamp::from_secs(7), ctime: Timestamp::from_secs(7) })
    }
    fn setattr(&self, node: RemoteNode, attr: &SetAttr) -> Result<(), Errno> {
        let mut nodes = self.nodes.borrow_mut();
        let n = nodes.get_mut(&node).ok_or(Errno::ENOENT)?;
        if let Some(perm) = attr.perm {
            n.perm = perm;
        }
        if let Some(size) = attr.size {
            n.data.resize(size as usize, 0);
        }
        Ok(())
    }
    fn open(&self, node: RemoteNode, _read: bool, _write: bool) -> Result<(), Errno> {
        self.kind(node).map(|_| ())
    }
    fn read(&self, node: RemoteNode, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let nodes = self.nodes.borrow();
        let data = &nodes.get(&node).ok_or(Errno::ENOENT)?.data;
        let start = (offset as usize).min(data.len());
        let n = (data.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn write(&self, node: RemoteNode, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let mut nodes = self.nodes.borrow_mut();
        let d = &mut nodes.get_mut(&node).ok_or(Errno::ENOENT)?.data;
        let end = offset as usize + data.len();
        if d.len() < end {
            d.resize(end, 0);
        }
        d[offset as usize..end].copy_from_slice(data);
        Ok(data.len())
    }
    fn create(&self, dir: RemoteNode, name: &[u8], what: NewNode<'_>, perm: u32, _gid: u32) -> Result<RemoteNode, Errno> {
        let mut nodes = self.nodes.borrow_mut();
        if nodes[&dir].entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let id = nodes.keys().max().unwrap() + 1;
        let (kind, data) = match what {
            NewNode::File => (NodeKind::File, Vec::new()),
            NewNode::Directory => (NodeKind::Directory, Vec::new()),
            NewNode::Symlink(target) => (NodeKind::Symlink, target.to_vec()),
            _ => return Err(Errno::EPERM),
        };
        nodes.insert(id, Node { kind: Some(kind), perm, data, parent: dir, name: name.to_vec(), ..Node::default() });
        nodes.get_mut(&dir).unwrap().entries.insert(name.to_vec(), id);
        Ok(id)
    }
    fn link(&self, _node: RemoteNode, _dir: RemoteNode, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    fn unlink(&self, dir: RemoteNode, name: &[u8], directory: bool) -> Result<(), Errno> {
        let mut nodes = self.nodes.borrow_mut();
        let id = *nodes[&dir].entries.get(name).ok_or(Errno::ENOENT)?;
        if (nodes[&id].kind == Some(NodeKind::Directory)) != directory {
            return Err(if directory { Errno::ENOTDIR } else { Errno::EISDIR });
        }
        if directory && !nodes[&id].entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        nodes.get_mut(&dir).unwrap().entries.remove(name);
        Ok(())
    }
    fn rename(&self, old_dir: RemoteNode, old_name: &[u8], new_dir: RemoteNode, new_name: &[u8]) -> Result<(), Errno> {
        let mut nodes = self.nodes.borrow_mut();
        let id = nodes.get_mut(&old_dir).unwrap().entries.remove(old_name).ok_or(Errno::ENOENT)?;
        nodes.get_mut(&new_dir).unwrap().entries.insert(new_name.to_vec(), id);
        let n = nodes.get_mut(&id).unwrap();
        (n.parent, n.name) = (new_dir, new_name.to_vec());
        Ok(())
    }
    fn read_dir(&self, dir: RemoteNode) -> Result<Vec<RemoteEntry>, Errno> {
        let nodes = self.nodes.borrow();
        Ok(nodes[&dir].entries.iter().map(|(name, &node)| RemoteEntry { name: name.clone(), node, kind: nodes[&node].kind.unwrap() }).collect())
    }
    fn readlink(&self, node: RemoteNode) -> Result<Vec<u8>, Errno> {
        Ok(self.nodes.borrow()[&node].data.clone())
    }
    fn fsync(&self, _node: RemoteNode, _data_only: bool) -> Result<(), Errno> {
        *self.fsyncs.borrow_mut() += 1;
        Ok(())
    }
    fn statfs(&self) -> Result<RemoteStatFs, Errno> {
        Ok(RemoteStatFs { block_size: 4096, ..RemoteStatFs::default() })
    }
    fn name_of(&self, node: RemoteNode) -> Option<(RemoteNode, Vec<u8>)> {
        let nodes = self.nodes.borrow();
        (node != 1).then(|| (nodes[&node].parent, nodes[&node].name.clone()))
    }
    fn release(&self, _node: RemoteNode) {}
}

/// `/` with `/srv/data` holding a mounted mock, and a local `/etc/f`.
fn mounted() -> (Fs, InodeId) {
    let mut fs = Fs::new();
    let srv = fs.mkdir(ROOT, b"srv", 0o755).unwrap();
    let data = fs.mkdir(srv, b"data", 0o755).unwrap();
    let etc = fs.mkdir(ROOT, b"etc", 0o755).unwrap();
    fs.create_file(etc, b"f", 0o644).unwrap();
    let root = fs.mount(data, Box::new(Mock::new())).unwrap();
    (fs, root)
}

#[test]
fn paths_lead_into_the_mount_and_back_out() {
    let (mut fs, root) = mounted();
    assert!(fs.is_remote(root) && split_id(root) == Some((0, 1)));
    assert_eq!(fs.lookup(ROOT, b"/srv/data", true), Ok(root));
    assert_eq!(fs.lookup(ROOT, b"/srv/data/", true), Ok(root));
    assert_eq!(fs.lookup(root, b"..", true), fs.lookup(ROOT, b"/srv", true));
    assert_eq!(fs.lookup(root, b"../../etc/f", true), fs.lookup(ROOT, b"/etc/f", true));
    let dir = fs.mkdir(root, b"d", 0o750).unwrap();
    let f = fs.create_file(dir, b"file", 0o600).unwrap();
    assert_eq!(fs.lookup(ROOT, b"/srv/data/d/file", true), Ok(f));
    assert_eq!(fs.lookup(ROOT, b"/srv/data/d/file/", true), Err(Errno::ENOTDIR));
    assert_eq!(fs.lookup(ROOT, b"/srv/data/nothing", true), Err(Errno::ENOENT));
    // Symlinks on the volume are followed, also out of it.
    fs.symlink(root, b"out", b"/etc").unwrap();
    fs.symlink(root, b"in", b"d/file").unwrap();
    assert_eq!(fs.lookup(ROOT, b"/srv/data/out/f", true), fs.lookup(ROOT, b"/etc/f", true));
    assert_eq!(fs.lookup(ROOT, b"/srv/data/in", true), Ok(f));
    assert_eq!(&*fs.readlink(fs.lookup(ROOT, b"/srv/data/in", false).unwrap()).unwrap(), b"d/file");
    let (parent, name) = fs.lookup_parent(ROOT, b"/srv/data/d/new").unwrap();
    assert_eq!((parent, name), (dir, &b"new"[..]));
    assert_eq!(fs.path_of(dir), Ok(b"/srv/data/d".to_vec()));
    assert_eq!(fs.path_of(root), Ok(b"/srv/data".to_vec()));
    assert_eq!(fs.any_path_of(f), Some(b"/srv/data/d/file".to_vec()));
    assert_eq!(fs.parent_of(root), fs.lookup(ROOT, b"/srv", true).unwrap());
}

#[test]
fn operations_go_to_the_backend() {
    let (mut fs, root) = mounted();
    let f = fs.create_file(root, b"f", 0o640).unwrap();
    assert_eq!(fs.write(f, 3, b"abc"), Ok(3));
    let mut buf = [9u8; 8];
    assert_eq!(fs.read(f, 0, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"\0\0\0abc");
    assert_eq!(&*fs.file_data(f).unwrap(), b"\0\0\0abc");
    let meta = fs.metadata(f).unwrap();
    assert_eq!((meta.ino, meta.mode, meta.size, meta.uid), (f, S_IFREG | 0o640, 6, 1000));
    fs.truncate(f, 2).unwrap();
    assert_eq!(fs.metadata(f).unwrap().size, 2);
    assert_eq!(fs.truncate(root, 0), Err(Errno::EISDIR));
    fs.set_mode(f, 0o604).unwrap();
    assert_eq!(fs.metadata(f).unwrap().mode & 0o7777, 0o604);
    assert_ne!(fs.generation(f).unwrap(), fs.generation(f).unwrap(), "a fresh content every time");
    fs.fsync(f, false).unwrap();
    assert_eq!(fs.statfs(f).unwrap().map(|s| s.block_size), Some(4096));
    assert_eq!(fs.statfs(ROOT), Ok(None));
    fs.rename(root, b"f", root, b"g").unwrap();
    assert_eq!(fs.lookup(root, b"g", true), Ok(f));
    let names: Vec<Vec<u8>> = fs.read_dir(root).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, [b".".to_vec(), b"..".to_vec(), b"g".to_vec()]);
    assert_eq!(fs.read_dir(root).unwrap()[1].ino, fs.lookup(ROOT, b"/srv", true).unwrap());
    // The mount point lists as the volume's root.
    let srv = fs.lookup(ROOT, b"/srv", true).unwrap();
    assert!(fs.read_dir(srv).unwrap().iter().any(|e| e.name == b"data" && e.ino == root));
    assert_eq!(fs.unlink(root, b"missing"), Err(Errno::ENOENT));
    let d = fs.mkdir(root, b"d", 0o755).unwrap();
    fs.create_file(d, b"x", 0o644).unwrap();
    assert_eq!(fs.rmdir(root, b"d"), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.unlink(root, b"d"), Err(Errno::EISDIR));
    fs.unlink(d, b"x").unwrap();
    fs.rmdir(root, b"d").unwrap();
    fs.unlink(root, b"g").unwrap();
    assert_eq!(fs.lookup(root, b"g", true), Err(Errno::ENOENT));
}

#[test]
fn the_edges_of_a_mount() {
    let (mut fs, root) = mounted();
    let srv = fs.lookup(ROOT, b"/srv", true).unwrap();
    let etc = fs.lookup(ROOT, b"/etc", true).unwrap();
    let local = fs.lookup(ROOT, b"/etc/f", true).unwrap();
    let f = fs.create_file(root, b"f", 0o644).unwrap();
    // Nothing moves or links between file systems.
    assert_eq!(fs.rename(etc, b"f", root, b"f2"), Err(Errno::EXDEV));
    assert_eq!(fs.rename(root, b"f", etc, b"f2"), Err(Errno::EXDEV));
    assert_eq!(fs.link(local, root, b"l"), Err(Errno::EXDEV));
    assert_eq!(fs.link(f, etc, b"l"), Err(Errno::EXDEV));
    // The mount point is busy.
    assert_eq!(fs.rmdir(srv, b"data"), Err(Errno::EBUSY));
    assert_eq!(fs.rename(srv, b"data", ROOT, b"elsewhere"), Err(Errno::EBUSY));
    assert_eq!(fs.rename(ROOT, b"srv", ROOT, b"srv2"), Ok(()), "a mount point's parent may move");
    assert_eq!(fs.lookup(ROOT, b"/srv2/data/f", true), Ok(f));
    assert_eq!(fs.path_of(root), Ok(b"/srv2/data".to_vec()));
    // Mounting twice, on a file, on the root, or on the volume itself.
    let data = fs.lookup(ROOT, b"/etc", true).unwrap();
    assert_eq!(fs.mount(local, Box::new(Mock::new())).err(), Some(Errno::ENOTDIR));
    assert_eq!(fs.mount(ROOT, Box::new(Mock::new())).err(), Some(Errno::EBUSY));
    assert_eq!(fs.mount(root, Box::new(Mock::new())).err(), Some(Errno::EINVAL));
    let second = fs.mount(data, Box::new(Mock::new())).unwrap();
    assert_eq!(split_id(second), Some((1, 1)));
    assert_eq!(fs.mount(data, Box::new(Mock::new())).err(), Some(Errno::EBUSY));
    assert_eq!(fs.lookup(ROOT, b"/etc/f", true), Err(Errno::ENOENT), "the mount covers what was there");
    // Ids of a mount that does not exist are no inodes.
    assert_eq!(fs.metadata(remote_id(7, 1)), Err(Errno::ENOENT));
    assert!(!fs.exists(remote_id(7, 1)));
}

#[test]
fn permissions_on_a_volume_are_checked_against_its_attributes() {
    let (mut fs, root) = mounted();
    let d = fs.mkdir(root, b"private", 0o700).unwrap();
    fs.create_file(d, b"f", 0o600).unwrap();
    fs.set_identity(Some(Identity { uid: 1000, gid: 1000, groups: Vec::new(), privileged: false }));
    assert!(fs.lookup(ROOT, b"/srv/data/private/f", true).is_ok(), "uid 1000 owns the mock's files");
    fs.set_identity(Some(Identity { uid: 1001, gid: 1001, groups: Vec::new(), privileged: false }));
    assert_eq!(fs.lookup(ROOT, b"/srv/data/private/f", true), Err(Errno::EACCES));
    assert_eq!(fs.create_file(d, b"g", 0o644), Err(Errno::EACCES));
    assert_eq!(fs.set_mode(d, 0o777), Err(Errno::EPERM));
}
