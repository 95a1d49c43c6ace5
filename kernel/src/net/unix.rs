//! AF_UNIX sockets made with socket(): their names (file system paths and
//! abstract names), listening queues and datagram queues. A stream or
//! seqpacket socket that connects (or is accepted) becomes one end of a
//! `fs::UnixEnd` pair, as socketpair's are. The system calls are in
//! `syscalls::net`; decisions in docs/unix-sockets.md.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;
use syscall::Errno;
use syscall::net::{SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, SunAddr};

use crate::fs::{Ucred, UnixEnd};
use crate::proc::BlockOn;

/// Datagrams a socket's queue holds before senders wait (Linux's default
/// `net.unix.max_dgram_qlen`).
pub const MAX_DGRAM_QLEN: usize = 10;
/// The largest datagram (Linux: the default send buffer less its overhead).
pub const MAX_DGRAM: usize = 212_992 - 32;
/// listen's backlog is capped at this (Linux's `net.core.somaxconn`).
pub const SOMAXCONN: usize = 4096;

/// A socket made by socket(AF_UNIX, ...), not connected (or a datagram
/// socket, which stays one).
pub struct UnixSocket {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub ty: u32,
    pub state: Mutex<UnixState>,
}

#[derive(Default)]
pub struct UnixState {
    /// The bound name and its key in [`NAMES`].
    pub name: Option<SunAddr>,
    key: Option<NameKey>,
    pub listen: Option<Listen>,
    /// A datagram socket's received messages, oldest first.
    pub queue: VecDeque<Datagram>,
    /// A datagram socket's connect target and its name.
    pub peer: Option<(Weak<UnixSocket>, SunAddr)>,
    pub shut_read: bool,
    pub shut_write: bool,
    /// SO_PASSCRED, handed on to the end this socket becomes when it
    /// connects (and to an accepted end from its listener).
    pub passcred: bool,
}

/// A listening socket: connections not yet accepted (their server ends;
/// the clients are connected already, as on Linux) and the credentials
/// clients see as SO_PEERCRED (the listener's, taken at listen).
pub struct Listen {
    pub backlog: usize,
    pub pending: VecDeque<Arc<UnixEnd>>,
    pub cred: Ucred,
}

pub struct Datagram {
    pub from: Option<SunAddr>,
    pub data: Vec<u8>,
    pub control: Ancillary,
}

/// What one sendmsg sends along with its bytes: files (SCM_RIGHTS, open
/// descriptions held while in flight, as Linux's skb holds them) and the
/// sender's credentials (reported with SO_PASSCRED).
#[derive(Clone)]
pub struct Ancillary {
    pub files: Vec<crate::fs::FileRef>,
    pub cred: Ucred,
}

impl Ancillary {
    /// Alike credentials without files: one run of a stream's bytes.
    pub fn merges(a: &Ancillary, b: &Ancillary) -> bool {
        a.files.is_empty() && b.files.is_empty() && a.cred == b.cred
    }
}

/// The ancillary data in flight in one pipe of a connected pair.
pub type ControlQueue = process::ancillary::Queue<Ancillary>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NameKey {
    Path(vfs::InodeId),
    /// Linux hashes abstract names with the socket type: one name per type.
    Abstract(u32, Vec<u8>),
}

/// Every bound socket by name. Weak: a socket's last close frees an
/// abstract name; a path stays in the file system (connect to it is
/// ECONNREFUSED) until unlinked, as on Linux.
static NAMES: Mutex<BTreeMap<NameKey, Weak<UnixSocket>>> = Mutex::new(BTreeMap::new());
static AUTOBIND: AtomicU32 = AtomicU32::new(0);

impl UnixSocket {
    pub fn new(ty: u32) -> Arc<UnixSocket> {
        Arc::new(UnixSocket { ty, state: Mutex::new(UnixState::default()) })
    }

    /// What its waiters (acceptors, connectors to a full backlog, datagram
    /// readers and writers, pollers) block on.
    pub fn wait_id(&self) -> usize {
        self as *const UnixSocket as usize
    }

    pub fn wake(&self) {
        crate::proc::sched::wake_all(BlockOn::Pipe(self.wait_id()));
    }

    pub fn is_connection(&self) -> bool {
        self.ty == SOCK_STREAM || self.ty == SOCK_SEQPACKET
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let key = self.state.get_mut().key.take();
        if let Some(key) = key {
            let me = self as *const UnixSocket;
            let mut names = NAMES.lock();
            if names.get(&key).is_some_and(|w| w.as_ptr() == me) {
                names.remove(&key);
            }
        }
        self.wake();
    }
}

/// bind(2): `addr` names `socket` (autobind for an unnamed address). EINVAL
/// if it has a name already, EADDRINUSE if the name is taken (a path that
/// exists, whatever it is), the path's own errors (ENOENT, ENOTDIR...).
pub fn bind(socket: &Arc<UnixSocket>, addr: SunAddr, cwd: vfs::InodeId, perm: u32) -> Result<(), Errno> {
    let mut state = socket.state.lock();
    if state.name.is_some() {
        return Err(Errno::EINVAL);
    }
    let mut names = NAMES.lock();
    let taken = |names: &BTreeMap<NameKey, Weak<UnixSocket>>, key: &NameKey| names.get(key).is_some_and(|w| w.strong_count() > 0);
    let (name, key) = match addr {
        SunAddr::Unnamed => {
            let mut found = None;
            for _ in 0..=0xfffff {
                let name = SunAddr::autobind(AUTOBIND.fetch_add(1, Ordering::Relaxed));
                let SunAddr::Abstract(bytes) = &name else { continue };
                let key = NameKey::Abstract(socket.ty, bytes.clone());
                if !taken(&names, &key) {
                    found = Some((name, key));
                    break;
                }
            }
            found.ok_or(Errno::ENOSPC)?
        }
        SunAddr::Abstract(bytes) => {
            let key = NameKey::Abstract(socket.ty, bytes.clone());
            if taken(&names, &key) {
                return Err(Errno::EADDRINUSE);
            }
            (SunAddr::Abstract(bytes), key)
        }
        SunAddr::Path(path) => {
            let id = crate::fs::with(|fs| {
                let (parent, leaf) = fs.lookup_parent(cwd, &path)?;
                // The file belongs to the caller's fs ids (the vfs sees to it).
                fs.mksock(parent, leaf, perm).map_err(|e| if e == Errno::EEXIST { Errno::EADDRINUSE } else { e })
            })?;
            (SunAddr::Path(path), NameKey::Path(id))
        }
    };
    names.insert(key.clone(), Arc::downgrade(socket));
    state.name = Some(name);
    state.key = Some(key);
    Ok(())
}

/// The socket named `addr`, for connect and sendto: ENOENT (and the other
/// path errors) for a missing path, ECONNREFUSED for a name nobody has
/// (a stale socket file, a file that is no socket, an abstract name no
/// socket of this type has), EACCES without write permission on a socket
/// file, EPROTOTYPE for a path socket of another type.
pub fn find(addr: &SunAddr, ty: u32, cwd: vfs::InodeId) -> Result<Arc<UnixSocket>, Errno> {
    let key = match addr {
        SunAddr::Unnamed => return Err(Errno::EINVAL),
        SunAddr::Abstract(bytes) => NameKey::Abstract(ty, bytes.clone()),
        SunAddr::Path(path) => {
            let id = crate::fs::with(|fs| -> Result<_, Errno> {
                let id = fs.lookup(cwd, path, true)?;
                if fs.metadata(id)?.kind != vfs::NodeKind::Socket {
                    return Err(Errno::ECONNREFUSED);
                }
                // Linux: connecting needs write permission on the socket file.
                fs.check_access(id, vfs::MAY_WRITE)?;
                Ok(id)
            })?;
            NameKey::Path(id)
        }
    };
    let found = NAMES.lock().get(&key).and_then(Weak::upgrade);
    let socket = found.ok_or(Errno::ECONNREFUSED)?;
    if socket.ty != ty {
        return Err(Errno::EPROTOTYPE);
    }
    Ok(socket)
}

/// listen(2).
pub fn listen(socket: &UnixSocket, backlog: i32, cred: Ucred) -> Result<(), Errno> {
    if !socket.is_connection() {
        return Err(Errno::EOPNOTSUPP);
    }
    let mut state = socket.state.lock();
    if state.name.is_none() {
        return Err(Errno::EINVAL);
    }
    // A negative backlog is a large unsigned one: capped, as Linux does.
    let backlog = (backlog as u32 as usize).min(SOMAXCONN);
    match &mut state.listen {
        Some(listen) => listen.backlog = backlog,
        None => state.listen = Some(Listen { backlog, pending: VecDeque::new(), cred }),
    }
    Ok(())
}

/// What a connect to a listener did.
pub enum Connect {
    /// Connected: the client's end.
    Done(Arc<UnixEnd>),
    /// The backlog is full: wait on this id (or EAGAIN).
    Full(usize),
}

/// connect(2) of stream or seqpacket `client` to `target`: a connected
/// pair, the server's end queued for accept. The queue holds backlog + 1
/// connections, as Linux's.
pub fn connect(client: &Arc<UnixSocket>, target: &Arc<UnixSocket>, cred: Ucred) -> Result<Connect, Errno> {
    let (client_name, client_passcred) = {
        let client = client.state.lock();
        (client.name.clone().unwrap_or(SunAddr::Unnamed), client.passcred)
    };
    let mut state = target.state.lock();
    let listener_passcred = state.passcred;
    let server_name = state.name.clone().unwrap_or(SunAddr::Unnamed);
    if state.shut_read {
        return Err(Errno::ECONNREFUSED);
    }
    let Some(listen) = &mut state.listen else { return Err(Errno::ECONNREFUSED) };
    if listen.pending.len() > listen.backlog {
        return Ok(Connect::Full(target.wait_id()));
    }
    let (client_end, server_end) = crate::fs::unix_ends(
        client.ty,
        [(client_name.clone(), server_name.clone(), listen.cred), (server_name, client_name, cred)],
        Some(client.clone()),
    );
    server_end.passcred.store(listener_passcred, Ordering::Relaxed);
    client_end.passcred.store(client_passcred, Ordering::Relaxed);
    listen.pending.push_back(server_end);
    drop(state);
    target.wake();
    Ok(Connect::Done(client_end))
}

/// accept(2): the oldest pending connection's server end, or None (wait on
/// the socket). EINVAL when not listening.
pub fn accept(socket: &UnixSocket) -> Result<Option<Arc<UnixEnd>>, Errno> {
    if !socket.is_connection() {
        return Err(Errno::EOPNOTSUPP);
    }
    let mut state = socket.state.lock();
    let listen = state.listen.as_mut().ok_or(Errno::EINVAL)?;
    let end = listen.pending.pop_front();
    drop(state);
    if end.is_some() {
        // A connector may wait for room in the backlog.
        socket.wake();
    }
    Ok(end)
}

/// What a datagram send or receive did.
pub enum Transfer {
    /// Bytes moved (a receive: the message's sender's name, if bound).
    Done(usize, Option<SunAddr>),
    /// Wait on this id.
    Wait(usize),
}

/// Sends one datagram from `socket` to `target` (None: its connect peer).
pub fn send(socket: &Arc<UnixSocket>, data: &[u8], target: Option<Arc<UnixSocket>>) -> Result<Transfer, Errno> {
    send_with(socket, data, target, Ancillary { files: Vec::new(), cred: Ucred::NONE })
}

/// [`send`] with the sender's ancillary data.
pub fn send_with(socket: &Arc<UnixSocket>, data: &[u8], target: Option<Arc<UnixSocket>>, control: Ancillary) -> Result<Transfer, Errno> {
    let (from, peer, shut) = {
        let state = socket.state.lock();
        (state.name.clone(), state.peer.clone(), state.shut_write)
    };
    if socket.is_connection() {
        return Err(Errno::ENOTCONN);
    }
    if shut {
        return Err(Errno::EPIPE);
    }
    let target = match target {
        Some(target) => target,
        None => match peer {
            Some((peer, _)) => peer.upgrade().ok_or(Errno::ECONNREFUSED)?,
            None => return Err(Errno::ENOTCONN),
        },
    };
    if data.len() > MAX_DGRAM {
        return Err(Errno::EMSGSIZE);
    }
    let mut state = target.state.lock();
    // A socket connected elsewhere takes datagrams from its peer only.
    if let Some((peer, _)) = &state.peer
        && !core::ptr::eq(peer.as_ptr(), Arc::as_ptr(socket))
    {
        return Err(Errno::EPERM);
    }
    if state.shut_read {
        return Err(Errno::EPIPE);
    }
    if state.queue.len() >= MAX_DGRAM_QLEN {
        return Ok(Transfer::Wait(target.wait_id()));
    }
    if !crate::mm::heap_room_for_user(data.len()) {
        return Err(Errno::ENOBUFS);
    }
    let mut copy = Vec::new();
    copy.try_reserve_exact(data.len()).map_err(|_| Errno::ENOBUFS)?;
    copy.extend_from_slice(data);
    state.queue.push_back(Datagram { from, data: copy, control });
    drop(state);
    target.wake();
    Ok(Transfer::Done(data.len(), None))
}

/// Receives one datagram into `buf` (the rest of a longer one is dropped,
/// unless peeking). Stream sockets that are not connected: EINVAL,
/// seqpacket ones ENOTCONN (Linux's answers).
pub fn recv(socket: &UnixSocket, buf: &mut [u8], peek: bool) -> Result<Transfer, Errno> {
    recv_with(socket, buf, peek).map(|(transfer, _)| transfer)
}

/// [`recv`] with the datagram's ancillary data (a copy when peeking).
pub fn recv_with(socket: &UnixSocket, buf: &mut [u8], peek: bool) -> Result<(Transfer, Option<Ancillary>), Errno> {
    match socket.ty {
        SOCK_STREAM => return Err(Errno::EINVAL),
        SOCK_SEQPACKET => return Err(Errno::ENOTCONN),
        _ => {}
    }
    let mut state = socket.state.lock();
    let Some(front) = state.queue.front() else {
        return Ok((if state.shut_read { Transfer::Done(0, None) } else { Transfer::Wait(socket.wait_id()) }, None));
    };
    let n = front.data.len().min(buf.len());
    buf[..n].copy_from_slice(&front.data[..n]);
    let from = front.from.clone();
    let control = if peek {
        Some(front.control.clone())
    } else {
        let taken = state.queue.pop_front().map(|d| d.control);
        drop(state);
        // A sender may wait for room.
        socket.wake();
        taken
    };
    Ok((Transfer::Done(n, from), control))
}

/// The poll events of a socket that is not a connected pair end.
pub fn readiness(socket: &UnixSocket) -> (bool, bool, bool) {
    let state = socket.state.lock();
    if let Some(listen) = &state.listen {
        return (!listen.pending.is_empty(), false, false);
    }
    if socket.is_connection() {
        // Linux: an unconnected stream socket polls as hung up and writable.
        return (false, true, true);
    }
    let own = (!state.queue.is_empty() || state.shut_read, state.shut_read && state.shut_write, state.queue.len());
    let peer = state.peer.as_ref().and_then(|(peer, _)| peer.upgrade());
    // Unlocked first: a datagram socket may be connected to itself.
    drop(state);
    let writable = match peer {
        Some(p) if core::ptr::eq(Arc::as_ptr(&p), socket) => own.2 < MAX_DGRAM_QLEN,
        Some(p) => p.state.lock().queue.len() < MAX_DGRAM_QLEN,
        None => true,
    };
    (own.0, writable, own.1)
}

/// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET of a socket request.
pub fn socket_type(kind: syscall::net::SocketKind) -> Option<u32> {
    use syscall::net::SocketKind;
    match kind {
        SocketKind::UnixStream => Some(SOCK_STREAM),
        SocketKind::UnixDgram => Some(SOCK_DGRAM),
        SocketKind::UnixSeqpacket => Some(SOCK_SEQPACKET),
        SocketKind::Tcp | SocketKind::Udp | SocketKind::Tcp6 | SocketKind::Udp6 => None,
    }
}
