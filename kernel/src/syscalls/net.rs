//! Sockets and epoll: socket/socketpair, bind/listen/accept/connect, the
//! send and receive families, shutdown, names, options, and
//! epoll_create/ctl/wait. Arguments are decoded with `syscall::net`; the
//! socket objects live in `crate::net::socket` and `crate::fs`.

#![warn(clippy::arithmetic_side_effects)]

use alloc::sync::Arc;
use alloc::vec::Vec;

use process::ports::Proto;
use spin::Mutex;
use syscall::net::*;
use syscall::{Errno, IoVec, OpenFlags};

use super::files::{Io, broken_pipe, file, finish_io, iovecs, read_file, readiness, write_file};
use super::{Ctx, SysResult};
use crate::fs::{self, Epoll, FileKind, FileRef, Ucred, UnixEnd};
use crate::net::socket::{Family, Socket};
use crate::net::unix::{self, UnixSocket};
use crate::proc::BlockOn;

/// Most bytes one send or receive moves.
const IO_CHUNK: usize = 1 << 20;

enum SocketFile {
    Inet(Arc<Mutex<Socket>>),
    /// A connected AF_UNIX end (socketpair, connect, accept).
    Unix(Arc<UnixEnd>),
    /// An AF_UNIX socket not connected: fresh, bound, listening, datagram.
    UnixSocket(Arc<UnixSocket>),
}

fn socket_of(ctx: &Ctx<'_>, fd: u64) -> Result<(FileRef, SocketFile), Errno> {
    let file = file(ctx, fd as i32)?;
    let kind = file.lock().kind.clone();
    let socket = match kind {
        FileKind::Socket(s) => SocketFile::Inet(s),
        FileKind::Unix(end) => SocketFile::Unix(end),
        FileKind::UnixSocket(socket) => SocketFile::UnixSocket(socket),
        _ => return Err(Errno::ENOTSOCK),
    };
    Ok((file, socket))
}

fn nonblocking(file: &FileRef, msg_flags: u32) -> bool {
    file.lock().flags & OpenFlags::O_NONBLOCK.bits() != 0 || msg_flags & MSG_DONTWAIT != 0
}

/// The address bytes the caller passed with their length (at most a
/// `sockaddr_storage`, as Linux's `move_addr_to_kernel`).
fn read_address(ctx: &mut Ctx<'_>, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    if len > 128 {
        return Err(Errno::EINVAL);
    }
    let mut raw = alloc::vec![0u8; len as usize];
    ctx.process.memory.read(addr, &mut raw)?;
    Ok(raw)
}

/// Writes an address to `addr` (truncated to the caller's `*len`) and its
/// full length to `*len`, as Linux does; nothing when `addr` is NULL.
fn write_name(ctx: &mut Ctx<'_>, addr: u64, len_addr: u64, name: &[u8]) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let mut raw = [0u8; 4];
    ctx.process.memory.read(len_addr, &mut raw)?;
    let room = i32::from_le_bytes(raw);
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let n = name.len().min(room as usize);
    ctx.process.memory.write(addr, &name[..n])?;
    ctx.process.memory.write(len_addr, &(name.len() as u32).to_le_bytes())
}

fn new_socket_file(kind: FileKind, nonblock: bool) -> FileRef {
    fs::open_file(kind, 2 | if nonblock { OpenFlags::O_NONBLOCK.bits() } else { 0 })
}

pub fn sys_socket(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let request = SocketRequest::decode(a[0], a[1], a[2])?;
    let (proto, family) = match request.kind {
        SocketKind::Tcp => (Proto::Tcp, Family::Inet),
        SocketKind::Udp => (Proto::Udp, Family::Inet),
        // Linux's default net.ipv6.bindv6only = 0: dual stack.
        SocketKind::Tcp6 => (Proto::Tcp, Family::Inet6 { v6only: false }),
        SocketKind::Udp6 => (Proto::Udp, Family::Inet6 { v6only: false }),
        SocketKind::UnixStream | SocketKind::UnixDgram | SocketKind::UnixSeqpacket => {
            let ty = unix::socket_type(request.kind).ok_or(Errno::EINVAL)?;
            let file = new_socket_file(FileKind::UnixSocket(UnixSocket::new(ty)), request.nonblock);
            return Ok(ctx.process.files.insert(file, request.cloexec)? as u64);
        }
    };
    let file = new_socket_file(FileKind::Socket(Arc::new(Mutex::new(Socket::new(proto, family)))), request.nonblock);
    Ok(ctx.process.files.insert(file, request.cloexec)? as u64)
}

pub fn sys_socketpair(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let request = SocketRequest::decode(a[0], a[1], a[2])?;
    let ty = unix::socket_type(request.kind).ok_or(Errno::EOPNOTSUPP)?;
    let (one, two) = fs::new_unix_pair(request.nonblock, ty, Ucred::of(ctx.process));
    let first = ctx.process.files.insert(one, request.cloexec)?;
    let second = match ctx.process.files.insert(two, request.cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.process.files.remove(first);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&first.to_le_bytes());
    out[4..].copy_from_slice(&second.to_le_bytes());
    if let Err(e) = ctx.process.memory.write(a[3], &out) {
        let _ = ctx.process.files.remove(first);
        let _ = ctx.process.files.remove(second);
        return Err(e);
    }
    Ok(0)
}

pub fn sys_bind(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match socket_of(ctx, a[0])?.1 {
        SocketFile::Inet(socket) => {
            let raw = read_address(ctx, a[1], a[2])?;
            socket.lock().bind(&raw)?;
        }
        SocketFile::UnixSocket(socket) => {
            let addr = SunAddr::decode(&read_address(ctx, a[1], a[2])?)?;
            // A socket file's mode: 0777 less the umask, as Linux's.
            let perm = 0o777 & !ctx.process.umask;
            unix::bind(&socket, addr, ctx.process.cwd, perm)?;
        }
        SocketFile::Unix(_) => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub fn sys_listen(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match socket_of(ctx, a[0])?.1 {
        SocketFile::Inet(socket) => socket.lock().listen(a[1] as i32)?,
        SocketFile::UnixSocket(socket) => unix::listen(&socket, a[1] as i32, Ucred::of(ctx.process))?,
        SocketFile::Unix(end) if end.ty == SOCK_DGRAM => return Err(Errno::EOPNOTSUPP),
        SocketFile::Unix(_) => return Err(Errno::EINVAL),
    }
    Ok(0)
}

fn do_accept(ctx: &mut Ctx<'_>, a: [u64; 6], flags: u64) -> SysResult {
    let known = u64::from(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let (file, socket) = match socket_of(ctx, a[0])? {
        (file, SocketFile::Inet(socket)) => (file, socket),
        (file, SocketFile::UnixSocket(socket)) => return unix_accept(ctx, a, flags, &file, &socket),
        (_, SocketFile::Unix(end)) if end.ty == SOCK_DGRAM => return Err(Errno::EOPNOTSUPP),
        (_, SocketFile::Unix(_)) => return Err(Errno::EINVAL),
    };
    let mut listener = socket.lock();
    let accepted = listener.accept()?;
    let Some((connection, peer)) = accepted else {
        if nonblocking(&file, 0) {
            return Err(Errno::EAGAIN);
        }
        ctx.block = Some(listener.listener().map_or(BlockOn::Net, BlockOn::Accept));
        return Ok(0);
    };
    let peer = listener.name(peer);
    drop(listener);
    let nonblock = flags & u64::from(SOCK_NONBLOCK) != 0;
    let cloexec = flags & u64::from(SOCK_CLOEXEC) != 0;
    let new = new_socket_file(FileKind::Socket(Arc::new(Mutex::new(connection))), nonblock);
    let fd = ctx.process.files.insert(new, cloexec)?;
    write_name(ctx, a[1], a[2], &peer)?;
    Ok(fd as u64)
}

fn unix_accept(ctx: &mut Ctx<'_>, a: [u64; 6], flags: u64, file: &FileRef, socket: &Arc<UnixSocket>) -> SysResult {
    let Some(end) = unix::accept(socket)? else {
        if nonblocking(file, 0) {
            return Err(Errno::EAGAIN);
        }
        ctx.block = Some(BlockOn::Pipe(socket.wait_id()));
        return Ok(0);
    };
    let nonblock = flags & u64::from(SOCK_NONBLOCK) != 0;
    let cloexec = flags & u64::from(SOCK_CLOEXEC) != 0;
    let peer = end.peer_name.to_bytes();
    let fd = ctx.process.files.insert(new_socket_file(FileKind::Unix(end), nonblock), cloexec)?;
    write_name(ctx, a[1], a[2], &peer)?;
    Ok(fd as u64)
}

pub fn sys_accept(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    do_accept(ctx, a, 0)
}

pub fn sys_accept4(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    do_accept(ctx, a, a[3])
}

/// connect(2) of an AF_UNIX socket: a datagram socket notes its peer
/// (AF_UNSPEC forgets it); a stream or seqpacket one is connected at
/// once (its file becomes a connected end) unless the backlog is full.
fn unix_connect(ctx: &mut Ctx<'_>, a: [u64; 6], file: &FileRef, socket: &Arc<UnixSocket>) -> SysResult {
    let raw = read_address(ctx, a[1], a[2])?;
    if socket.ty == SOCK_DGRAM && raw.len() >= 2 && u16::from_le_bytes([raw[0], raw[1]]) == 0 {
        socket.state.lock().peer = None;
        return Ok(0);
    }
    let addr = SunAddr::decode(&raw)?;
    if socket.is_connection() && socket.state.lock().listen.is_some() {
        return Err(Errno::EINVAL);
    }
    let target = unix::find(&addr, socket.ty, ctx.process.cwd)?;
    if socket.ty == SOCK_DGRAM {
        let name = target.state.lock().name.clone().unwrap_or(SunAddr::Unnamed);
        socket.state.lock().peer = Some((Arc::downgrade(&target), name));
        return Ok(0);
    }
    match unix::connect(socket, &target, Ucred::of(ctx.process))? {
        unix::Connect::Done(end) => {
            file.lock().kind = FileKind::Unix(end);
            Ok(0)
        }
        unix::Connect::Full(_) if nonblocking(file, 0) => Err(Errno::EAGAIN),
        unix::Connect::Full(id) => {
            ctx.block = Some(BlockOn::Pipe(id));
            Ok(0)
        }
    }
}

pub fn sys_connect(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (file, socket) = match socket_of(ctx, a[0])? {
        (file, SocketFile::Inet(socket)) => (file, socket),
        (file, SocketFile::UnixSocket(socket)) => return unix_connect(ctx, a, &file, &socket),
        (_, SocketFile::Unix(end)) if end.ty == SOCK_DGRAM => {
            // A socketpair datagram end: Linux would re-target it; not here.
            return Err(Errno::EOPNOTSUPP);
        }
        (_, SocketFile::Unix(_)) => return Err(Errno::EISCONN),
    };
    // Woken during a blocking connect: see how the handshake went.
    if ctx.retry {
        let mut socket = socket.lock();
        return match socket.connect_result()? {
            Some(()) => Ok(0),
            None => {
                ctx.block = Some(socket.wait_reason(crate::net::WANT_CONNECT));
                Ok(0)
            }
        };
    }
    let raw = read_address(ctx, a[1], a[2])?;
    let mut socket = socket.lock();
    let addr = socket.destination(&raw)?.as_destination();
    let done = socket.connect(addr)?;
    if done {
        return Ok(0);
    }
    if nonblocking(&file, 0) {
        return Err(Errno::EINPROGRESS);
    }
    ctx.block = Some(socket.wait_reason(crate::net::WANT_CONNECT));
    Ok(0)
}

/// Sends `data` (to the address `dest` for UDP and AF_UNIX datagrams),
/// honouring MSG_DONTWAIT and MSG_NOSIGNAL.
fn send_data(ctx: &mut Ctx<'_>, fd: u64, data: &[u8], dest: Option<Vec<u8>>, flags: u32, control: Option<unix::Ancillary>) -> SysResult {
    let (file, socket) = socket_of(ctx, fd)?;
    // AF_UNIX data always carries its sender's credentials (SO_PASSCRED).
    let control = control.unwrap_or_else(|| own_ancillary(ctx));
    let io = match socket {
        SocketFile::Inet(s) => {
            let mut s = s.lock();
            let dest = dest.map(|raw| s.destination(&raw).map(SockAddrIn::as_destination)).transpose()?;
            let sent = s.send(data, dest);
            sent.map(|n| n.map_or_else(|| Io::Wait(s.wait_reason(crate::net::WANT_WRITE)), Io::Done))
        }
        SocketFile::Unix(end) if dest.is_some() && end.ty == SOCK_STREAM => Err(Errno::EISCONN),
        SocketFile::Unix(end) => {
            let start = end.tx.lock().written_total();
            let io = write_file(&file, data, None);
            if let Ok(Io::Done(n)) = io
                && (n > 0 || end.ty != SOCK_STREAM)
            {
                // Linux keeps files and credentials in the data's skb: here
                // they sit at the bytes' positions in the pipe.
                let mut queue = end.tx_control.lock();
                let stale = queue.discard_before(end.tx.lock().read_total());
                queue.push(start, start.saturating_add(n as u64), control, unix::Ancillary::merges);
                drop(queue);
                drop(stale);
            }
            io
        }
        SocketFile::UnixSocket(s) => {
            let target = match dest {
                Some(raw) if s.ty == SOCK_DGRAM => Some(unix::find(&SunAddr::decode(&raw)?, SOCK_DGRAM, ctx.process.cwd)?),
                Some(_) if s.ty == SOCK_STREAM => return Err(Errno::EOPNOTSUPP),
                _ => None,
            };
            unix::send_with(&s, data, target, control).map(super::files::unix_io)
        }
    };
    let io = io.map_err(|e| if flags & MSG_NOSIGNAL != 0 { e } else { broken_pipe(ctx, e) })?;
    if let Io::Wait(_) = io
        && flags & MSG_DONTWAIT != 0
    {
        return Err(Errno::EAGAIN);
    }
    Ok(finish_io(ctx, &file, io)? as u64)
}

fn gather(ctx: &mut Ctx<'_>, iov: &[IoVec]) -> Result<Vec<u8>, Errno> {
    let mut data = Vec::new();
    for v in iov {
        let take = (v.iov_len as usize).min(IO_CHUNK.saturating_sub(data.len()));
        let at = data.len();
        data.resize(at.saturating_add(take), 0);
        ctx.process.memory.read(v.iov_base, &mut data[at..])?;
        if data.len() == IO_CHUNK {
            break;
        }
    }
    Ok(data)
}

fn optional_dest(ctx: &mut Ctx<'_>, addr: u64, len: u64) -> Result<Option<Vec<u8>>, Errno> {
    if addr == 0 { Ok(None) } else { read_address(ctx, addr, len).map(Some) }
}

pub fn sys_sendto(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let len = (a[2] as usize).min(IO_CHUNK);
    let mut data = alloc::vec![0u8; len];
    ctx.process.memory.read(a[1], &mut data)?;
    let dest = optional_dest(ctx, a[4], a[5])?;
    send_data(ctx, a[0], &data, dest, a[3] as u32, None)
}

fn read_msghdr(ctx: &mut Ctx<'_>, addr: u64) -> Result<MsgHdr, Errno> {
    let mut raw = [0u8; MsgHdr::SIZE];
    ctx.process.memory.read(addr, &mut raw)?;
    Ok(MsgHdr::from_bytes(&raw))
}

pub fn sys_sendmsg(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let msg = read_msghdr(ctx, a[1])?;
    let iov = iovecs(ctx, msg.iov, msg.iovlen)?;
    let data = gather(ctx, &iov)?;
    let dest = optional_dest(ctx, msg.name, u64::from(msg.namelen))?;
    let control = match socket_of(ctx, a[0])?.1 {
        SocketFile::Unix(_) | SocketFile::UnixSocket(_) => Some(read_control(ctx, &msg)?),
        SocketFile::Inet(_) => None,
    };
    send_data(ctx, a[0], &data, dest, a[2] as u32, control)
}

/// What an AF_UNIX send without control data carries: the sender's pid
/// and real ids (Linux's `scm_send` default).
fn own_ancillary(ctx: &Ctx<'_>) -> unix::Ancillary {
    let creds = &ctx.process.creds;
    unix::Ancillary { files: Vec::new(), cred: Ucred { pid: ctx.process.pid.as_u32() as i32, uid: creds.ruid, gid: creds.rgid } }
}

/// sendmsg's control data on an AF_UNIX socket: the files of its
/// SCM_RIGHTS descriptors (EBADF for one not open) and the credentials of
/// SCM_CREDENTIALS, which must be the sender's own pid and one of its
/// real, effective or saved ids unless it is privileged (EPERM).
fn read_control(ctx: &mut Ctx<'_>, msg: &MsgHdr) -> Result<unix::Ancillary, Errno> {
    use syscall::cmsg;
    let mut control = own_ancillary(ctx);
    if msg.controllen < cmsg::HEADER as u64 {
        return Ok(control);
    }
    if msg.controllen > cmsg::MAX_CONTROL as u64 {
        return Err(Errno::ENOBUFS);
    }
    let mut raw = alloc::vec![0u8; msg.controllen as usize];
    ctx.process.memory.read(msg.control, &mut raw)?;
    let parsed = cmsg::parse(&raw)?;
    for fd in parsed.fds {
        control.files.push(file(ctx, fd)?);
    }
    if let Some(claim) = parsed.cred {
        let c = &ctx.process.creds;
        let own_pid = claim.pid == ctx.process.pid.as_u32() as i32;
        let own_uid = [c.ruid, c.euid, c.suid].contains(&claim.uid);
        let own_gid = [c.rgid, c.egid, c.sgid].contains(&claim.gid);
        let allowed = c.privileged() || (own_pid && own_uid && own_gid);
        if !allowed {
            return Err(Errno::EPERM);
        }
        control.cred = Ucred { pid: claim.pid, uid: claim.uid, gid: claim.gid };
    }
    Ok(control)
}

/// Bytes received, their sender's address (UDP, AF_UNIX datagrams from
/// a bound socket) and (AF_UNIX) what came with them; `None`: the call blocks.
type Received = Option<(Vec<u8>, Option<Vec<u8>>, Option<unix::Ancillary>)>;

/// Receives up to `len` bytes.
fn recv_data(ctx: &mut Ctx<'_>, fd: u64, len: usize, flags: u32) -> Result<Received, Errno> {
    let (file, socket) = socket_of(ctx, fd)?;
    let mut buf = alloc::vec![0u8; len.min(IO_CHUNK)];
    let peek = flags & MSG_PEEK != 0;
    let mut control = None;
    let (io, from) = match socket {
        SocketFile::Inet(s) => {
            let mut s = s.lock();
            match s.recv(&mut buf, peek)? {
                Some((n, from)) => (Io::Done(n), from.map(|f| s.name(f))),
                None => (Io::Wait(s.wait_reason(crate::net::WANT_READ)), None),
            }
        }
        SocketFile::Unix(end) => {
            let (io, taken) = unix_end_recv(&end, &file, &mut buf, peek)?;
            control = taken;
            // Linux reports the sending socket's name when it has one.
            let from = (end.peer_name != SunAddr::Unnamed).then(|| end.peer_name.to_bytes());
            (io, from)
        }
        SocketFile::UnixSocket(s) => match unix::recv_with(&s, &mut buf, peek)? {
            (unix::Transfer::Done(n, from), taken) => {
                control = taken;
                (Io::Done(n), from.map(|f| f.to_bytes()))
            }
            (unix::Transfer::Wait(id), _) => (Io::Wait(BlockOn::Pipe(id)), None),
        },
    };
    if let Io::Wait(_) = io
        && flags & MSG_DONTWAIT != 0
    {
        return Err(Errno::EAGAIN);
    }
    let blocked = matches!(io, Io::Wait(_));
    let n = finish_io(ctx, &file, io)?;
    if blocked {
        return Ok(None);
    }
    buf.truncate(n);
    Ok(Some((buf, from, control)))
}

/// A receive on a connected AF_UNIX end. A stream read stops after the
/// bytes that came with files and (under SO_PASSCRED) before another
/// sender's, as Linux's `unix_stream_read_generic`; a message brings its
/// own. Returns what came with the bytes: the first ones' credentials
/// (the peer's for bytes written by write(2), which carry none) and the
/// files reached (copies when peeking).
fn unix_end_recv(end: &UnixEnd, file: &FileRef, buf: &mut [u8], peek: bool) -> Result<(Io, Option<unix::Ancillary>), Errno> {
    let position = end.rx.lock().read_total();
    let stale = end.rx_control.lock().discard_before(position);
    drop(stale);
    let stream = end.rx_messages.is_none();
    let passcred = end.passcred.load(core::sync::atomic::Ordering::Relaxed);
    let limit = if stream {
        let span = end.rx_control.lock().span(position, |a| !a.files.is_empty(), |a, b| passcred && a.cred != b.cred);
        span.map_or(buf.len(), |n| buf.len().min(n as usize))
    } else {
        buf.len()
    };
    let queued = |end: &UnixEnd| end.rx_messages.as_ref().map_or(0, |m| m.lock().len());
    let before = queued(end);
    let io = if peek { unix_peek(end, &mut buf[..limit]) } else { read_file(file, &mut buf[..limit], None)? };
    let n = match io {
        Io::Done(n) if stream && n > 0 => n as u64,
        Io::Done(_) if !stream && before > 0 && (peek || queued(end) < before) => 0,
        _ => return Ok((io, None)),
    };
    let mut control = unix::Ancillary { files: Vec::new(), cred: end.peer_cred };
    let mut queue = end.rx_control.lock();
    let records: Vec<_> = match (stream, peek) {
        (true, true) => queue.reached(position, n).cloned().collect(),
        (true, false) => queue.consume(position, n, |a| a.files.is_empty()),
        (false, true) => queue.reached(position, 1).filter(|r| r.start == position).take(1).cloned().collect(),
        (false, false) => queue.take(position, 0, |_| false).map(|item| process::ancillary::Record { start: position, end: position, item }).into_iter().collect(),
    };
    drop(queue);
    for (i, record) in records.into_iter().enumerate() {
        if i == 0 && record.start <= position {
            control.cred = record.item.cred;
        }
        control.files.extend(record.item.files);
    }
    Ok((io, Some(control)))
}

/// recvmsg's control data: the sender's credentials under SO_PASSCRED,
/// then the files as new descriptors (close-on-exec with
/// MSG_CMSG_CLOEXEC), as many as fit; what did not fit is closed and
/// MSG_CTRUNC reported. Returns msg_controllen and the flag.
fn put_control(ctx: &mut Ctx<'_>, msg: &MsgHdr, control: Option<unix::Ancillary>, passcred: bool, cloexec: bool) -> Result<(u64, u32), Errno> {
    use syscall::cmsg;
    let Some(control) = control else { return Ok((0, 0)) };
    let room = if msg.control == 0 { 0 } else { msg.controllen.min(1 << 20) as usize };
    let mut packer = cmsg::Packer::new(room);
    if passcred {
        packer.put(cmsg::SCM_CREDENTIALS, &control.cred.to_bytes());
    }
    let fit = packer.fds_room(control.files.len());
    let mut fds = Vec::new();
    for f in control.files.into_iter().take(fit) {
        match ctx.process.files.insert(f, cloexec) {
            Ok(fd) => fds.push(fd),
            Err(_) => {
                packer.truncated = true;
                break;
            }
        }
    }
    packer.put_fds(&fds);
    if !packer.bytes.is_empty() {
        ctx.process.memory.write(msg.control, &packer.bytes)?;
    }
    Ok((packer.bytes.len() as u64, if packer.truncated { cmsg::MSG_CTRUNC } else { 0 }))
}

/// MSG_PEEK on a connected AF_UNIX end: the next bytes (or the next
/// message, truncated to `buf`) are left in place.
fn unix_peek(end: &UnixEnd, buf: &mut [u8]) -> Io {
    let wait = || Io::Wait(BlockOn::Pipe(fs::pipe_id(&end.rx)));
    if !end.can_read() {
        return Io::Done(0);
    }
    let rx = end.rx.lock();
    let room = match &end.rx_messages {
        None => buf.len(),
        Some(messages) => match messages.lock().front() {
            Some(&len) => len.min(buf.len()),
            None if rx.writers() == 0 => return Io::Done(0),
            None => return wait(),
        },
    };
    match rx.peek(&mut buf[..room]) {
        process::PipeRead::Data(n) => Io::Done(n),
        process::PipeRead::Eof => Io::Done(0),
        process::PipeRead::WouldBlock => wait(),
    }
}

pub fn sys_recvfrom(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let Some((data, from, _)) = recv_data(ctx, a[0], a[2] as usize, a[3] as u32)? else { return Ok(0) };
    ctx.process.memory.write(a[1], &data)?;
    if let Some(from) = from {
        write_name(ctx, a[4], a[5], &from)?;
    } else if a[4] != 0 {
        // TCP: Linux leaves the address alone and reports length 0.
        ctx.process.memory.write(a[5], &0u32.to_le_bytes())?;
    }
    Ok(data.len() as u64)
}

pub fn sys_recvmsg(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let msg = read_msghdr(ctx, a[1])?;
    let iov = iovecs(ctx, msg.iov, msg.iovlen)?;
    let room = iov.iter().fold(0usize, |room, v| room.saturating_add(v.iov_len as usize));
    let passcred = match socket_of(ctx, a[0])?.1 {
        SocketFile::Unix(end) => end.passcred.load(core::sync::atomic::Ordering::Relaxed),
        SocketFile::UnixSocket(s) => s.state.lock().passcred,
        SocketFile::Inet(_) => false,
    };
    let flags = a[2] as u32;
    let Some((data, from, control)) = recv_data(ctx, a[0], room, flags)? else { return Ok(0) };
    let mut at = 0;
    for v in &iov {
        let n = (v.iov_len as usize).min(data.len().saturating_sub(at));
        ctx.process.memory.write(v.iov_base, &data[at..at.saturating_add(n)])?;
        at = at.saturating_add(n);
        if at == data.len() {
            break;
        }
    }
    let namelen = match from {
        Some(bytes) if msg.name != 0 => {
            let n = bytes.len().min(msg.namelen as usize);
            ctx.process.memory.write(msg.name, &bytes[..n])?;
            bytes.len() as u32
        }
        _ => 0,
    };
    ctx.process.memory.write(a[1].checked_add(MsgHdr::NAMELEN_OFFSET).ok_or(Errno::EFAULT)?, &namelen.to_le_bytes())?;
    let (controllen, msg_flags) = put_control(ctx, &msg, control, passcred, flags & syscall::cmsg::MSG_CMSG_CLOEXEC != 0)?;
    ctx.process.memory.write(a[1].checked_add(MsgHdr::CONTROLLEN_OFFSET).ok_or(Errno::EFAULT)?, &controllen.to_le_bytes())?;
    ctx.process.memory.write(a[1].checked_add(MsgHdr::FLAGS_OFFSET).ok_or(Errno::EFAULT)?, &msg_flags.to_le_bytes())?;
    Ok(data.len() as u64)
}

pub fn sys_shutdown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let how = a[1] as u32;
    match socket_of(ctx, a[0])?.1 {
        SocketFile::Inet(s) => s.lock().shutdown(how)?,
        SocketFile::Unix(end) => {
            if how > SHUT_RDWR {
                return Err(Errno::EINVAL);
            }
            if how != SHUT_RD {
                end.shutdown_write();
            }
            if how != SHUT_WR {
                end.shutdown_read();
            }
        }
        SocketFile::UnixSocket(socket) => {
            if how > SHUT_RDWR {
                return Err(Errno::EINVAL);
            }
            let mut state = socket.state.lock();
            state.shut_write |= how != SHUT_RD;
            state.shut_read |= how != SHUT_WR;
            drop(state);
            socket.wake();
        }
    }
    Ok(0)
}

pub fn sys_getsockname(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let name = match socket_of(ctx, a[0])?.1 {
        SocketFile::Inet(s) => {
            let s = s.lock();
            s.name(s.local_name())
        }
        SocketFile::Unix(end) => end.local_name.to_bytes(),
        SocketFile::UnixSocket(s) => s.state.lock().name.as_ref().map_or_else(|| SOCKADDR_UN_UNNAMED.to_vec(), SunAddr::to_bytes),
    };
    write_name(ctx, a[1], a[2], &name)?;
    Ok(0)
}

pub fn sys_getpeername(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let name = match socket_of(ctx, a[0])?.1 {
        SocketFile::Inet(s) => {
            let mut s = s.lock();
            let peer = s.peer_name()?;
            s.name(peer)
        }
        SocketFile::Unix(end) => end.peer_name.to_bytes(),
        SocketFile::UnixSocket(s) => s.state.lock().peer.as_ref().ok_or(Errno::ENOTCONN)?.1.to_bytes(),
    };
    write_name(ctx, a[1], a[2], &name)?;
    Ok(0)
}

pub fn sys_setsockopt(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let socket = socket_of(ctx, a[0])?.1;
    if a[4] > 4096 {
        return Err(Errno::EINVAL);
    }
    let mut value = alloc::vec![0u8; a[4] as usize];
    ctx.process.memory.read(a[3], &mut value)?;
    let (level, name) = (a[1] as u32, a[2] as u32);
    match socket {
        SocketFile::Inet(s) => s.lock().set_option(level, name, &value)?,
        SocketFile::Unix(_) | SocketFile::UnixSocket(_) if (level, name) == (SOL_SOCKET, SO_PASSCRED) => {
            let on = value.get(..4).map(|v| v != [0; 4]).ok_or(Errno::EINVAL)?;
            match socket {
                SocketFile::Unix(end) => end.passcred.store(on, core::sync::atomic::Ordering::Relaxed),
                SocketFile::UnixSocket(s) => s.state.lock().passcred = on,
                SocketFile::Inet(_) => {}
            }
        }
        SocketFile::Unix(_) | SocketFile::UnixSocket(_) => match (level, name) {
            (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF | SO_REUSEADDR | SO_KEEPALIVE | SO_LINGER) => {}
            _ => return Err(Errno::ENOPROTOOPT),
        },
    }
    Ok(0)
}

pub fn sys_getsockopt(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let socket = socket_of(ctx, a[0])?.1;
    let (level, name) = (a[1] as u32, a[2] as u32);
    let int = |v: i32| v.to_le_bytes().to_vec();
    let value = match socket {
        SocketFile::Inet(s) => s.lock().get_option(level, name)?,
        SocketFile::Unix(end) => match (level, name) {
            (SOL_SOCKET, SO_TYPE) => int(end.ty as i32),
            (SOL_SOCKET, SO_PEERCRED) => end.peer_cred.to_bytes().to_vec(),
            (SOL_SOCKET, SO_PASSCRED) => int(i32::from(end.passcred.load(core::sync::atomic::Ordering::Relaxed))),
            _ => unix_option(level, name, false)?,
        },
        SocketFile::UnixSocket(s) => match (level, name) {
            (SOL_SOCKET, SO_TYPE) => int(s.ty as i32),
            // A listener's are its own (taken at listen); others have none.
            (SOL_SOCKET, SO_PEERCRED) => s.state.lock().listen.as_ref().map_or(Ucred::NONE, |l| l.cred).to_bytes().to_vec(),
            (SOL_SOCKET, SO_PASSCRED) => int(i32::from(s.state.lock().passcred)),
            _ => unix_option(level, name, s.state.lock().listen.is_some())?,
        },
    };
    let mut raw = [0u8; 4];
    ctx.process.memory.read(a[4], &mut raw)?;
    let room = i32::from_le_bytes(raw);
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let n = value.len().min(room as usize);
    ctx.process.memory.write(a[3], &value[..n])?;
    ctx.process.memory.write(a[4], &(n as u32).to_le_bytes())?;
    Ok(0)
}

/// The AF_UNIX options that do not depend on the socket's kind.
fn unix_option(level: u32, name: u32, listening: bool) -> Result<Vec<u8>, Errno> {
    let int = |v: i32| v.to_le_bytes().to_vec();
    match (level, name) {
        (SOL_SOCKET, SO_DOMAIN) => Ok(int(AF_UNIX as i32)),
        // AF_UNIX has one protocol, 0 (Python's socket(fileno=) asks).
        (SOL_SOCKET, SO_PROTOCOL) => Ok(int(0)),
        (SOL_SOCKET, SO_ERROR) => Ok(int(0)),
        (SOL_SOCKET, SO_ACCEPTCONN) => Ok(int(i32::from(listening))),
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => Ok(int(process::PIPE_CAPACITY as i32)),
        _ => Err(Errno::ENOPROTOOPT),
    }
}

fn new_epoll(ctx: &mut Ctx<'_>, cloexec: bool) -> SysResult {
    let file = fs::open_file(FileKind::Epoll(Arc::new(Mutex::new(Epoll::default()))), 2);
    Ok(ctx.process.files.insert(file, cloexec)? as u64)
}

pub fn sys_epoll_create(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    new_epoll(ctx, false)
}

pub fn sys_epoll_create1(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] as u32 & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    new_epoll(ctx, a[0] as u32 & EPOLL_CLOEXEC != 0)
}

fn epoll_of(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<Mutex<Epoll>>, Errno> {
    let kind = file(ctx, fd as i32)?.lock().kind.clone();
    match kind {
        FileKind::Epoll(epoll) => Ok(epoll),
        _ => Err(Errno::EINVAL),
    }
}

pub fn sys_epoll_ctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (epfd, op, fd) = (a[0] as i32, a[1] as u32, a[2] as i32);
    let _ = file(ctx, epfd)?;
    let target = file(ctx, fd)?;
    let epoll = epoll_of(ctx, a[0])?;
    if fd == epfd {
        return Err(Errno::EINVAL);
    }
    // Regular files are always ready: Linux refuses to watch them.
    if matches!(target.lock().kind, FileKind::Node(_)) {
        return Err(Errno::EPERM);
    }
    let event = if op == EPOLL_CTL_DEL {
        EpollEvent::default()
    } else {
        let mut raw = [0u8; EpollEvent::SIZE];
        ctx.process.memory.read(a[3], &mut raw)?;
        EpollEvent::from_bytes(&raw)
    };
    // EPOLLEXCLUSIVE cannot watch another epoll instance (Linux's EINVAL).
    if op == EPOLL_CTL_ADD && event.events & EPOLLEXCLUSIVE != 0 && matches!(target.lock().kind, FileKind::Epoll(_)) {
        return Err(Errno::EINVAL);
    }
    let key = (fd, fs::file_id(&target));
    let mut epoll = epoll.lock();
    match op {
        EPOLL_CTL_ADD => {
            epoll.interests.add(key, event)?;
            epoll.files.insert(key, Arc::downgrade(&target));
        }
        EPOLL_CTL_MOD => epoll.interests.modify(&key, event)?,
        EPOLL_CTL_DEL => {
            epoll.interests.delete(&key)?;
            epoll.files.remove(&key);
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// The events of a watched file now and its generation; `None` once the
/// file is closed.
fn watched_events(
    files: &alloc::collections::BTreeMap<(i32, usize), alloc::sync::Weak<Mutex<fs::OpenFile>>>,
    key: &(i32, usize),
) -> Option<::process::epoll::Readiness> {
    let file = files.get(key)?.upgrade()?;
    let (kind, flags) = {
        let open = file.lock();
        (open.kind.clone(), open.flags)
    };
    Some((readiness(&kind, flags), generation(&kind)))
}

/// A value that changes at every event of the file (edge-triggered epoll,
/// process::epoll): pipes and connected AF_UNIX ends count their bytes and
/// ends, INET sockets the stack's changes; anything else changes at every
/// look, so that EPOLLET on it is level-triggered.
fn generation(kind: &FileKind) -> u64 {
    static LOOKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1 << 63);
    match kind {
        FileKind::Pipe { pipe, .. } => pipe.lock().generation(),
        FileKind::Unix(end) => end.rx.lock().generation().wrapping_add(end.tx.lock().generation()),
        FileKind::Socket(_) => crate::net::generation(),
        _ => LOOKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
    }
}

/// Whether an epoll file would report something (poll on an epoll fd).
pub fn epoll_has_ready(epoll: &Arc<Mutex<Epoll>>) -> bool {
    let epoll = epoll.lock();
    epoll.interests.any_ready(|key, _| watched_events(&epoll.files, key))
}

fn epoll_wait(ctx: &mut Ctx<'_>, a: [u64; 6], timeout_ns: Option<u64>) -> SysResult {
    let max = a[2] as i32;
    if max <= 0 || max as usize > i32::MAX as usize / EpollEvent::SIZE {
        return Err(Errno::EINVAL);
    }
    let epoll = epoll_of(ctx, a[0])?;
    let deadline = super::files::deadline(ctx, timeout_ns);
    let ready = {
        let mut guard = epoll.lock();
        let Epoll { interests, files } = &mut *guard;
        interests.ready(max as usize, |key, _| watched_events(files, key))
    };
    if ready.is_empty() && crate::time::monotonic_ns() < deadline {
        ctx.block = Some(BlockOn::Poll(deadline));
        return Ok(0);
    }
    let mut out = Vec::with_capacity(ready.len().saturating_mul(EpollEvent::SIZE));
    for event in &ready {
        out.extend_from_slice(&event.to_bytes());
    }
    ctx.process.memory.write(a[1], &out)?;
    Ok(ready.len() as u64)
}

fn timeout_ms(raw: u64) -> Option<u64> {
    syscall::time::timeout_ms_to_ns(raw as i32)
}

pub fn sys_epoll_wait(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    epoll_wait(ctx, a, timeout_ms(a[3]))
}

/// epoll_pwait: epoll_wait under the signal mask `a[4]` (`a[5]` bytes).
pub fn sys_epoll_pwait(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    super::signals::begin_call_mask(ctx, a[4], a[5])?;
    let result = epoll_wait(ctx, a, timeout_ms(a[3]));
    super::signals::end_call_mask(ctx, result)
}

/// epoll_pwait2: a timespec timeout, and the signal mask as epoll_pwait.
pub fn sys_epoll_pwait2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let timeout = if a[3] == 0 { None } else { Some(super::info::read_timespec(ctx, a[3])?) };
    super::signals::begin_call_mask(ctx, a[4], a[5])?;
    let result = epoll_wait(ctx, a, timeout);
    super::signals::end_call_mask(ctx, result)
}
