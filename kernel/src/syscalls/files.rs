//! Files and directories: open/openat, read/write and their vector and
//! positioned forms, lseek, the stat family, getdents64, ioctl on the
//! console, fcntl, dup, access, getcwd/chdir, mkdir/unlink/rmdir, readlink.

#![warn(clippy::arithmetic_side_effects)]

use alloc::vec::Vec;

use syscall::{AT_FDCWD, AtFlags, Errno, IoVec, OpenFlags, Stat, Termios, Winsize};
use vfs::{InodeId, NodeKind};

use process::{PipeRead, PipeWrite};

use super::{Ctx, SysResult};
use crate::proc::{self, BlockOn};
use crate::arch::serial;
use crate::fs::{self, FileKind, FileRef};
use crate::procfs::{self, ProcNode};

/// Paths longer than this are ENAMETOOLONG (Linux PATH_MAX).
const PATH_MAX: usize = 4096;
/// Most bytes one read or write moves (Linux caps at 0x7ffff000; smaller keeps kernel buffers small).
const IO_CHUNK: usize = 1 << 20;

/// Bytes of a read or write that go through a buffer on the kernel stack
/// instead of one from the heap: the messages of pipes and sockets are
/// mostly small, and a heap buffer cost a pipe round trip 800 instructions.
const STACK_IO: usize = 128;

/// The kernel's copy of a read's or write's bytes.
enum IoBuffer {
    Stack([u8; STACK_IO], usize),
    Heap(alloc::vec::Vec<u8>),
}

impl IoBuffer {
    /// `len` zero bytes.
    fn new(len: usize) -> IoBuffer {
        if len <= STACK_IO { IoBuffer::Stack([0; STACK_IO], len) } else { IoBuffer::Heap(alloc::vec![0u8; len]) }
    }
}

impl core::ops::Deref for IoBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            IoBuffer::Stack(bytes, len) => &bytes[..*len],
            IoBuffer::Heap(bytes) => bytes,
        }
    }
}

impl core::ops::DerefMut for IoBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            IoBuffer::Stack(bytes, len) => &mut bytes[..*len],
            IoBuffer::Heap(bytes) => bytes,
        }
    }
}

fn fd_of(raw: u64) -> i32 {
    raw as i32
}

pub(super) fn file(ctx: &Ctx<'_>, fd: i32) -> Result<FileRef, Errno> {
    ctx.process.files.get(fd).cloned()
}

/// A path argument: a NUL-terminated string in the caller's memory; empty is ENOENT.
fn path_arg(ctx: &mut Ctx<'_>, addr: u64) -> Result<Vec<u8>, Errno> {
    let path = ctx.process.memory.read_cstr(addr, PATH_MAX)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// The directory a relative path starts from: the cwd or `dirfd`'s directory.
fn base_dir(ctx: &Ctx<'_>, dirfd: i32, path: &[u8]) -> Result<InodeId, Errno> {
    if path.first() == Some(&b'/') || dirfd == AT_FDCWD {
        return Ok(ctx.process.cwd);
    }
    let file = file(ctx, dirfd)?;
    let kind = file.lock().kind.clone();
    match kind {
        FileKind::Node(id) => {
            if fs::with(|fs| fs.metadata(id))?.kind != NodeKind::Directory {
                return Err(Errno::ENOTDIR);
            }
            Ok(id)
        }
        _ => Err(Errno::ENOTDIR),
    }
}

/// Opens the FIFO `id`: O_RDWR at once; a read open waits for a writer and
/// a write open for a reader, unless O_NONBLOCK (then a write open without
/// a reader is ENXIO).
fn open_fifo(ctx: &mut Ctx<'_>, id: InodeId, flags: OpenFlags, raw_flags: u64) -> SysResult {
    let pipe = fs::fifo_pipe(id);
    let nonblock = flags.contains(OpenFlags::O_NONBLOCK);
    let cloexec = flags.contains(OpenFlags::O_CLOEXEC);
    let access = flags.access_mode();
    let status = raw_flags as u32;
    let wait = {
        let mut p = pipe.lock();
        if access.readable() && access.writable() {
            p.open_fifo_reader();
            p.open_fifo_writer();
            None
        } else if access.writable() {
            if nonblock && p.readers() == 0 {
                drop(p);
                drop(pipe);
                return Err(Errno::ENXIO);
            }
            Some((true, p.open_fifo_writer()))
        } else {
            Some((false, p.open_fifo_reader()))
        }
    };
    proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(&pipe)));
    let Some((write, seen)) = wait else {
        let file = fs::open_file(FileKind::Pipe { pipe, write_end: true }, status);
        return Ok(ctx.process.files.insert(file, cloexec)? as u64);
    };
    let wait = fs::FifoWait { pipe, write, seen, flags: status, cloexec };
    if nonblock || wait.may_go() {
        return Ok(ctx.process.files.insert(wait.into_file(), cloexec)? as u64);
    }
    ctx.block = Some(BlockOn::Pipe(fs::pipe_id(&wait.pipe)));
    ctx.process.thread_mut().fifo_wait = Some(wait);
    Ok(0)
}

/// The run of a FIFO open after a wake-up: done, or wait on.
fn resume_fifo_open(ctx: &mut Ctx<'_>, wait: fs::FifoWait) -> SysResult {
    if wait.may_go() {
        let cloexec = wait.cloexec;
        return Ok(ctx.process.files.insert(wait.into_file(), cloexec)? as u64);
    }
    ctx.block = Some(BlockOn::Pipe(fs::pipe_id(&wait.pipe)));
    ctx.process.thread_mut().fifo_wait = Some(wait);
    Ok(0)
}

fn open_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, raw_flags: u64, mode: u64) -> SysResult {
    if let Some(wait) = ctx.process.thread_mut().fifo_wait.take() {
        return resume_fifo_open(ctx, wait);
    }
    let flags = OpenFlags::from_raw(raw_flags)?;
    let mut path = path_arg(ctx, path_addr)?;
    if procfs::is_proc(&path) {
        match procfs::lookup(ctx.process, &path)? {
            ProcNode::Link(target) if flags.contains(OpenFlags::O_NOFOLLOW) => {
                let _ = target;
                return Err(Errno::ELOOP);
            }
            ProcNode::Link(target) if !procfs::is_proc(&target) && target.first() == Some(&b'/') => path = target,
            ProcNode::Link(_) => return Err(Errno::ENXIO),
            node => {
                let node = match (flags.access_mode().writable(), node) {
                    (false, node) => node,
                    (true, ProcNode::File(text)) => match procfs::own_comm(ctx.process, &path) {
                        Some(tid) => ProcNode::Comm { tid, text },
                        None => return Err(Errno::EACCES),
                    },
                    (true, _) => return Err(Errno::EACCES),
                };
                if flags.contains(OpenFlags::O_DIRECTORY) && !matches!(node, ProcNode::Dir(_)) {
                    return Err(Errno::ENOTDIR);
                }
                let other = match node {
                    ProcNode::OtherProcess(pid, what) => Some((pid, what)),
                    _ => None,
                };
                let node = if other.is_some() { ProcNode::File(alloc::vec::Vec::new()) } else { node };
                let open = fs::open_file(FileKind::Proc(alloc::sync::Arc::new(node)), raw_flags as u32);
                if let Some((pid, what)) = other {
                    ctx.proc_fill = Some((open.clone(), pid, what));
                }
                return Ok(ctx.process.files.insert(open, flags.contains(OpenFlags::O_CLOEXEC))? as u64);
            }
        }
    }
    let base = base_dir(ctx, dirfd, &path)?;
    if flags.contains(OpenFlags::O_PATH) {
        return open_path_only(ctx, base, &path, flags, raw_flags);
    }
    let access = flags.access_mode();
    let umask = ctx.process.umask;
    let id = fs::with(|fs| -> Result<InodeId, Errno> {
        let follow = !flags.contains(OpenFlags::O_NOFOLLOW);
        let existing = fs.lookup(base, &path, follow);
        let id = match existing {
            Ok(id) => {
                if flags.contains(OpenFlags::O_CREAT) && flags.contains(OpenFlags::O_EXCL) {
                    return Err(Errno::EEXIST);
                }
                // The mode bits against the caller (a file it just created
                // opens whatever its mode, as on Linux).
                let read = if access.readable() { vfs::MAY_READ } else { 0 };
                let write = if access.writable() || flags.contains(OpenFlags::O_TRUNC) { vfs::MAY_WRITE } else { 0 };
                fs.check_access(id, read | write)?;
                id
            }
            Err(Errno::ENOENT) if flags.contains(OpenFlags::O_CREAT) => {
                let (parent, name) = fs.lookup_parent(base, &path)?;
                let id = fs.create_file(parent, name, (mode as u32) & 0o7777 & !umask)?;
                // A new file belongs to the creator's fs uid and gid.
                id
            }
            Err(error) => return Err(error),
        };
        let meta = fs.metadata(id)?;
        match meta.kind {
            NodeKind::Directory if access.writable() => return Err(Errno::EISDIR),
            NodeKind::Symlink => return Err(Errno::ELOOP),
            // A socket's name is connected to, not opened.
            NodeKind::Socket => return Err(Errno::ENXIO),
            NodeKind::Directory => {}
            _ if flags.contains(OpenFlags::O_DIRECTORY) => return Err(Errno::ENOTDIR),
            NodeKind::File if flags.contains(OpenFlags::O_TRUNC) && access.writable() => {
                fs.truncate(id, 0)?;
                crate::mm::shared::file_truncated(id, 0);
            }
            _ => {}
        }
        // O_NOATIME is the owner's (or a privileged caller's), as on Linux.
        if flags.contains(OpenFlags::O_NOATIME) {
            fs.check_owner(id)?;
        }
        if meta.kind == NodeKind::File {
            fs.open(id, access.readable(), access.writable())?;
        }
        Ok(id)
    })?;
    if fs::with(|fs| fs.metadata(id)).is_ok_and(|m| m.kind == NodeKind::Fifo) {
        return open_fifo(ctx, id, flags, raw_flags);
    }
    // A pseudo-terminal: /dev/ptmx makes a pair, /dev/pts/N opens a slave.
    let device = fs::with(|fs| fs.device(id));
    if let Some(vfs::Device::Ptmx | vfs::Device::PtySlave(_)) = device {
        let end = match device {
            Some(vfs::Device::PtySlave(index)) => crate::pty::open_slave(index)?,
            _ => crate::pty::open_master(ctx.process.creds.fsuid, ctx.process.creds.fsgid)?,
        };
        super::terminal::maybe_controlling(ctx, &end, flags.contains(OpenFlags::O_NOCTTY));
        let open = fs::open_file(FileKind::Pty(alloc::sync::Arc::new(end)), raw_flags as u32);
        return Ok(ctx.process.files.insert(open, flags.contains(OpenFlags::O_CLOEXEC))? as u64);
    }
    let is_console = fs::with(|fs| fs.metadata(id)).is_ok_and(|m| m.kind == NodeKind::CharDevice(vfs::Device::Console));
    let kind = if is_console { FileKind::Console(crate::console::Output::Stdout) } else { FileKind::Node(id) };
    let open = fs::open_file(kind, raw_flags as u32);
    let fd = ctx.process.files.insert(open, flags.contains(OpenFlags::O_CLOEXEC))?;
    Ok(fd as u64)
}

/// open with `O_PATH`: names the file without opening it for I/O, as
/// Linux does: every flag but O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW is
/// ignored (no creation, no truncation, no FIFO wait), and with O_NOFOLLOW
/// a final symlink is the descriptor's file itself (glibc's
/// `fchmodat(AT_SYMLINK_NOFOLLOW)` relies on it).
fn open_path_only(ctx: &mut Ctx<'_>, base: InodeId, path: &[u8], flags: OpenFlags, raw_flags: u64) -> SysResult {
    let id = fs::with(|fs| -> Result<InodeId, Errno> {
        let id = fs.lookup(base, path, !flags.contains(OpenFlags::O_NOFOLLOW))?;
        if flags.contains(OpenFlags::O_DIRECTORY) && fs.metadata(id)?.kind != NodeKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        Ok(id)
    })?;
    let kept = OpenFlags::O_PATH | OpenFlags::O_CLOEXEC | OpenFlags::O_DIRECTORY | OpenFlags::O_NOFOLLOW;
    let open = fs::open_file(FileKind::Node(id), (raw_flags as u32) & kept.bits());
    Ok(ctx.process.files.insert(open, flags.contains(OpenFlags::O_CLOEXEC))? as u64)
}

pub fn sys_open(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    open_at(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub fn sys_openat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    open_at(ctx, fd_of(a[0]), a[1], a[2], a[3])
}

/// creat: `open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)`.
pub fn sys_creat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let flags = OpenFlags::O_CREAT | OpenFlags::O_WRONLY | OpenFlags::O_TRUNC;
    open_at(ctx, AT_FDCWD, a[0], u64::from(flags.bits()), a[1])
}

/// close_range: closes (or with CLOSE_RANGE_CLOEXEC marks close-on-exec)
/// every descriptor in `first..=last`. CLOSE_RANGE_UNSHARE changes nothing:
/// each process's table is already its own. EINVAL for `first > last` or
/// another flag.
pub fn sys_close_range(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
    const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2] as u32 as u64);
    if first > last || flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_CLOEXEC != 0 {
        ctx.process.files.set_cloexec_range(first, last);
    } else {
        let pid = ctx.process.pid.as_u32();
        for file in ctx.process.files.close_range(first, last) {
            crate::locks::descriptor_closed(pid, &file);
        }
    }
    Ok(0)
}

pub fn sys_close(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = ctx.process.files.remove(fd_of(a[0]))?;
    crate::locks::descriptor_closed(ctx.process.pid.as_u32(), &file);
    Ok(0)
}

/// What a read or write did: moved bytes, or must wait (unless non-blocking).
pub(super) enum Io {
    Done(usize),
    Wait(BlockOn),
}

/// Console input: what is there, up to the end of a line (a terminal in
/// canonical mode); nothing yet means wait.
fn read_console(buf: &mut [u8]) -> Io {
    let mut got = 0;
    while got < buf.len() {
        let Some(byte) = serial::try_read_byte() else { break };
        let byte = if byte == b'\r' { b'\n' } else { byte };
        buf[got] = byte;
        got = got.saturating_add(1);
        if byte == b'\n' {
            break;
        }
    }
    if got == 0 { Io::Wait(BlockOn::Console) } else { Io::Done(got) }
}

/// Reads from `file` at `offset` (None: the file's own offset, advanced).
pub(super) fn read_file(file: &FileRef, buf: &mut [u8], offset: Option<u64>) -> Result<Io, Errno> {
    let mut open = file.lock();
    if !fs::can_read(open.flags) {
        return Err(Errno::EBADF);
    }
    match open.kind.clone() {
        FileKind::Console(_) => Ok(read_console(buf)),
        FileKind::Node(id) => {
            let at = offset.unwrap_or(open.offset);
            let noatime = open.flags & OpenFlags::O_NOATIME.bits() != 0;
            let n = fs::with(|fs| match fs.device(id) {
                // The random devices read from the kernel's source; a read
                // of any size is served whole, as Linux's urandom does.
                Some(vfs::Device::Random | vfs::Device::Urandom) => {
                    crate::random::fill(buf);
                    Ok(buf.len())
                }
                Some(_) => fs.read(id, at, buf),
                // What shared mappings of the file hold is its content. A
                // read of a file (even at its end) is an access, unless
                // empty or O_NOATIME (Linux's filemap_read).
                None => fs.read(id, at, buf).inspect(|&n| {
                    crate::mm::shared::overlay_read(id, at, &mut buf[..n]);
                    if !buf.is_empty() && !noatime {
                        fs.accessed(id);
                    }
                }),
            })?;
            if offset.is_none() {
                open.offset = open.offset.saturating_add(n as u64);
            }
            Ok(Io::Done(n))
        }
        FileKind::Proc(node) => {
            let (ProcNode::File(data) | ProcNode::Comm { text: data, .. }) = &*node else { return Err(Errno::EISDIR) };
            let at = offset.unwrap_or(open.offset) as usize;
            let n = data.len().saturating_sub(at).min(buf.len());
            let start = at.min(data.len());
            buf[..n].copy_from_slice(&data[start..start.saturating_add(n)]);
            if offset.is_none() {
                open.offset = open.offset.saturating_add(n as u64);
            }
            Ok(Io::Done(n))
        }
        FileKind::Pipe { pipe, .. } => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            Ok(pipe_read(&pipe, buf))
        }
        FileKind::Unix(end) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            if !end.can_read() {
                return Ok(Io::Done(0));
            }
            match &end.rx_messages {
                None => Ok(pipe_read(&end.rx, buf)),
                Some(messages) => Ok(message_read(&end.rx, messages, buf)),
            }
        }
        FileKind::Socket(socket) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            drop(open);
            let mut socket = socket.lock();
            let got = socket.recv(buf, false)?;
            Ok(got.map_or_else(|| Io::Wait(socket.wait_reason(crate::net::WANT_READ)), |(n, _)| Io::Done(n)))
        }
        FileKind::UnixSocket(socket) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            drop(open);
            Ok(unix_io(crate::net::unix::recv(&socket, buf, false)?))
        }
        FileKind::Epoll(_) => Err(Errno::EINVAL),
        FileKind::Pty(end) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            drop(open);
            super::terminal::read(&end, buf)
        }
        FileKind::EventFd(counter) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            let dst = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
            let id = fs::eventfd_id(&counter);
            let taken = counter.lock().read();
            match taken {
                Ok(value) => {
                    dst.copy_from_slice(&value.to_ne_bytes());
                    proc::sched::wake_all(BlockOn::Pipe(id));
                    Ok(Io::Done(8))
                }
                Err(_) => Ok(Io::Wait(BlockOn::Pipe(id))),
            }
        }
        FileKind::TimerFd(timer) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            let dst = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
            match crate::timerfd::read(&timer) {
                process::TimerRead::Expirations(count) => {
                    dst.copy_from_slice(&count.to_ne_bytes());
                    Ok(Io::Done(8))
                }
                process::TimerRead::WouldBlock => Ok(Io::Wait(BlockOn::Pipe(crate::timerfd::id(&timer)))),
                process::TimerRead::Canceled => Err(Errno::ECANCELED),
            }
        }
    }
}

pub(super) fn unix_io(transfer: crate::net::unix::Transfer) -> Io {
    match transfer {
        crate::net::unix::Transfer::Done(n, _) => Io::Done(n),
        crate::net::unix::Transfer::Wait(id) => Io::Wait(BlockOn::Pipe(id)),
    }
}

fn pipe_read(pipe: &alloc::sync::Arc<spin::Mutex<process::Pipe>>, buf: &mut [u8]) -> Io {
    let (result, wake) = {
        let mut p = pipe.lock();
        let space_before = p.space();
        let result = p.read(buf);
        (result, p.read_may_unblock(space_before))
    };
    match result {
        PipeRead::Data(n) => {
            if wake {
                proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(pipe)));
            }
            Io::Done(n)
        }
        PipeRead::Eof => Io::Done(0),
        PipeRead::WouldBlock => Io::Wait(BlockOn::Pipe(fs::pipe_id(pipe))),
    }
}

type Messages = spin::Mutex<alloc::collections::VecDeque<usize>>;

/// One whole message of a datagram socket pair, truncated to `buf` (the
/// rest is dropped, as Linux does).
fn message_read(pipe: &alloc::sync::Arc<spin::Mutex<process::Pipe>>, messages: &Messages, buf: &mut [u8]) -> Io {
    let mut lengths = messages.lock();
    let Some(&len) = lengths.front() else {
        return if pipe.lock().writers() == 0 { Io::Done(0) } else { Io::Wait(BlockOn::Pipe(fs::pipe_id(pipe))) };
    };
    lengths.pop_front();
    let mut message = alloc::vec![0u8; len];
    let mut got = 0;
    while got < len {
        match pipe.lock().read(&mut message[got..]) {
            PipeRead::Data(n) => got = got.saturating_add(n),
            _ => break,
        }
    }
    let n = got.min(buf.len());
    buf[..n].copy_from_slice(&message[..n]);
    proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(pipe)));
    Io::Done(n)
}

/// Queues `data` as one message, whole or not at all.
fn message_write(pipe: &alloc::sync::Arc<spin::Mutex<process::Pipe>>, messages: &Messages, data: &[u8]) -> Result<Io, Errno> {
    if data.len() > process::PIPE_CAPACITY {
        return Err(Errno::EMSGSIZE);
    }
    let mut p = pipe.lock();
    if p.readers() == 0 {
        return Err(Errno::EPIPE);
    }
    if p.space() < data.len() {
        return Ok(Io::Wait(BlockOn::Pipe(fs::pipe_id(pipe))));
    }
    if !p.has_buffer() && !crate::mm::heap_room_for_user(p.capacity()) {
        return Err(Errno::ENOMEM);
    }
    let mut put = 0;
    while put < data.len() {
        match p.write(&data[put..]) {
            PipeWrite::Wrote(n) => put = put.saturating_add(n),
            _ => break,
        }
    }
    drop(p);
    messages.lock().push_back(put);
    proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(pipe)));
    Ok(Io::Done(data.len()))
}

fn pipe_write(pipe: &alloc::sync::Arc<spin::Mutex<process::Pipe>>, data: &[u8]) -> Result<Io, Errno> {
    let mut p = pipe.lock();
    // A pipe's first write allocates its ring (64 KiB unless resized): charged to the
    // processes' share of memory, not to the kernel's reserve.
    if !p.has_buffer() && p.readers() > 0 && !crate::mm::heap_room_for_user(p.capacity()) {
        return Err(Errno::ENOMEM);
    }
    let len_before = p.available();
    let result = p.write(data);
    let wake = p.write_may_unblock(len_before);
    drop(p);
    match result {
        PipeWrite::Wrote(n) => {
            if wake {
                proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(pipe)));
            }
            Ok(Io::Done(n))
        }
        PipeWrite::WouldBlock => Ok(Io::Wait(BlockOn::Pipe(fs::pipe_id(pipe)))),
        PipeWrite::Broken => Err(Errno::EPIPE),
        PipeWrite::NoMemory => Err(Errno::ENOMEM),
    }
}

pub(super) fn write_file(file: &FileRef, data: &[u8], offset: Option<u64>) -> Result<Io, Errno> {
    let mut open = file.lock();
    if !fs::can_write(open.flags) {
        return Err(Errno::EBADF);
    }
    match open.kind.clone() {
        FileKind::Console(output) => {
            crate::console::write_bytes(output, data);
            Ok(Io::Done(data.len()))
        }
        FileKind::Proc(_) => Err(Errno::EBADF),
        FileKind::Node(id) => {
            let append = open.flags & OpenFlags::O_APPEND.bits() != 0;
            let n = fs::with(|fs| -> Result<usize, Errno> {
                let at = match offset {
                    Some(at) => at,
                    None if append => fs.metadata(id)?.size,
                    None => open.offset,
                };
                // File contents live in the kernel heap: growth is charged to
                // the processes' share of memory (ENOSPC), not to the reserve.
                let size = fs.metadata(id)?.size;
                let end = at.saturating_add(data.len() as u64);
                if end > size && !crate::mm::heap_room_for_user(end.max(size.saturating_mul(2)) as usize) {
                    return Err(Errno::ENOSPC);
                }
                let n = fs.write(id, at, data)?;
                // Shared mappings of the file see the write.
                crate::mm::shared::file_written(id, at, &data[..n]);
                if offset.is_none() {
                    open.offset = at.saturating_add(n as u64);
                }
                // O_SYNC / O_DSYNC: the data is on the volume's disk before
                // the write returns (Linux's generic_write_sync).
                if n > 0 && open.flags & OpenFlags::O_DSYNC.bits() != 0 {
                    fs.fsync(id, open.flags & OpenFlags::__O_SYNC.bits() == 0)?;
                }
                Ok(n)
            })?;
            Ok(Io::Done(n))
        }
        FileKind::Pipe { pipe, .. } => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            pipe_write(&pipe, data)
        }
        FileKind::Unix(end) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            if !end.can_write() {
                return Err(Errno::EPIPE);
            }
            match &end.tx_messages {
                None => pipe_write(&end.tx, data),
                Some(messages) => message_write(&end.tx, messages, data),
            }
        }
        FileKind::Socket(socket) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            drop(open);
            let mut socket = socket.lock();
            let sent = socket.send(data, None)?;
            Ok(sent.map_or_else(|| Io::Wait(socket.wait_reason(crate::net::WANT_WRITE)), Io::Done))
        }
        FileKind::UnixSocket(socket) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            drop(open);
            Ok(unix_io(crate::net::unix::send(&socket, data, None)?))
        }
        FileKind::Epoll(_) => Err(Errno::EINVAL),
        FileKind::EventFd(counter) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            let bytes: [u8; 8] = data.get(..8).and_then(|b| b.try_into().ok()).ok_or(Errno::EINVAL)?;
            let id = fs::eventfd_id(&counter);
            let added = counter.lock().write(u64::from_ne_bytes(bytes));
            match added {
                Ok(()) => {
                    proc::sched::wake_all(BlockOn::Pipe(id));
                    Ok(Io::Done(8))
                }
                Err(process::EventWait::WouldBlock) => Ok(Io::Wait(BlockOn::Pipe(id))),
                Err(process::EventWait::Invalid) => Err(Errno::EINVAL),
            }
        }
        // Linux's timerfd has no write operation.
        FileKind::TimerFd(_) => Err(Errno::EINVAL),
        FileKind::Pty(end) => {
            if offset.is_some() {
                return Err(Errno::ESPIPE);
            }
            drop(open);
            super::terminal::write(&end, data)
        }
    }
}

/// Turns an `Io` into the call's result: a wait blocks the caller (the call
/// runs again when woken), or is EAGAIN on a non-blocking file.
pub(super) fn finish_io(ctx: &mut Ctx<'_>, file: &FileRef, io: Io) -> Result<usize, Errno> {
    match io {
        Io::Done(n) => Ok(n),
        Io::Wait(reason) => {
            if file.lock().flags & OpenFlags::O_NONBLOCK.bits() != 0 {
                return Err(Errno::EAGAIN);
            }
            ctx.block = Some(reason);
            Ok(0)
        }
    }
}

/// EPIPE from a write also raises SIGPIPE in the writer.
pub(super) fn broken_pipe(ctx: &mut Ctx<'_>, error: Errno) -> Errno {
    if error == Errno::EPIPE {
        let pid = ctx.process.pid.as_u32() as i32;
        proc::signal::post(ctx.process, proc::SIGPIPE, syscall::SigInfo::kill(proc::SIGPIPE as i32, pid, 0));
    }
    error
}

/// Linux's `access_ok`: the whole buffer `addr..addr + len` must lie in
/// the user half (`EFAULT` otherwise), whatever part of it the call uses.
fn check_user_range(addr: u64, len: u64) -> Result<(), Errno> {
    match addr.checked_add(len) {
        Some(end) if end <= crate::proc::memory::USER_END => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

fn do_read(ctx: &mut Ctx<'_>, fd: i32, addr: u64, len: u64, offset: Option<u64>) -> SysResult {
    let file = file(ctx, fd)?;
    if !fs::can_read(file.lock().flags) {
        return Err(Errno::EBADF);
    }
    check_user_range(addr, len)?;
    let len = (len as usize).min(IO_CHUNK);
    let mut buf = IoBuffer::new(len);
    let io = read_file(&file, &mut buf, offset)?;
    let n = finish_io(ctx, &file, io)?;
    ctx.process.memory.write(addr, &buf[..n])?;
    Ok(n as u64)
}

/// A write to a `comm` file of the caller's opened for writing: the
/// thread's new name (up to 15 bytes, a trailing newline dropped, as
/// Linux's `proc_comm_write`). `None` for every other file.
fn write_comm(ctx: &mut Ctx<'_>, file: &FileRef, data: &[u8]) -> Option<SysResult> {
    let tid = match &file.lock().kind {
        FileKind::Proc(node) => match &**node {
            ProcNode::Comm { tid, .. } => *tid,
            _ => return None,
        },
        _ => return None,
    };
    let text = data.strip_suffix(b"\n").unwrap_or(data);
    let name = alloc::string::String::from_utf8_lossy(&text[..text.len().min(15)]).into_owned();
    if tid == ctx.process.pid {
        ctx.process.name = name;
    } else if let Some(index) = ctx.process.thread_index(tid) {
        ctx.process.threads[index].comm = Some(name);
    } else {
        return Some(Err(Errno::ESRCH));
    }
    Some(Ok(data.len() as u64))
}

fn do_write(ctx: &mut Ctx<'_>, fd: i32, addr: u64, len: u64, offset: Option<u64>) -> SysResult {
    let file = file(ctx, fd)?;
    if !fs::can_write(file.lock().flags) {
        return Err(Errno::EBADF);
    }
    check_user_range(addr, len)?;
    let len = (len as usize).min(IO_CHUNK);
    let mut buf = IoBuffer::new(len);
    ctx.process.memory.read(addr, &mut buf)?;
    if let Some(written) = write_comm(ctx, &file, &buf) {
        return written;
    }
    let io = write_file(&file, &buf, offset).map_err(|e| broken_pipe(ctx, e))?;
    Ok(finish_io(ctx, &file, io)? as u64)
}

pub fn sys_read(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    do_read(ctx, fd_of(a[0]), a[1], a[2], None)
}

pub fn sys_write(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    do_write(ctx, fd_of(a[0]), a[1], a[2], None)
}

fn positioned(raw: u64) -> Result<u64, Errno> {
    if (raw as i64) < 0 { Err(Errno::EINVAL) } else { Ok(raw) }
}

pub fn sys_pread64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let offset = positioned(a[3])?;
    do_read(ctx, fd_of(a[0]), a[1], a[2], Some(offset))
}

pub fn sys_pwrite64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let offset = positioned(a[3])?;
    do_write(ctx, fd_of(a[0]), a[1], a[2], Some(offset))
}

/// Most iovecs one call takes (Linux's `UIO_MAXIOV`).
const UIO_MAXIOV: u64 = 1024;

/// The most one read or write moves, as Linux's `MAX_RW_COUNT`: an iovec
/// array longer than this in total is cut here.
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The iovec array of readv/writev/sendmsg/recvmsg: `EINVAL` for more than
/// [`UIO_MAXIOV`] entries or a length that is negative as an `ssize_t`,
/// `EFAULT` for an array or a buffer outside user space; each length cut so
/// that the total stays within [`MAX_RW_COUNT`] (as Linux does), so sums of
/// lengths never overflow.
pub(super) fn iovecs(ctx: &mut Ctx<'_>, addr: u64, count: u64) -> Result<Vec<IoVec>, Errno> {
    if count > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut raw = alloc::vec![0u8; (count as usize).saturating_mul(IoVec::SIZE)];
    ctx.process.memory.read(addr, &mut raw)?;
    let mut out = Vec::with_capacity(count as usize);
    let mut total = 0u64;
    for chunk in raw.chunks_exact(IoVec::SIZE) {
        let mut iov = IoVec::from_bytes(chunk.try_into().map_err(|_| Errno::EINVAL)?);
        if (iov.iov_len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        // Check the whole length, then cut, as Linux's __import_iovec does.
        check_user_range(iov.iov_base, iov.iov_len)?;
        iov.iov_len = iov.iov_len.min(MAX_RW_COUNT.saturating_sub(total));
        total = total.saturating_add(iov.iov_len);
        out.push(iov);
    }
    Ok(out)
}

/// readv: at most `IO_CHUNK` bytes per call in all (a short read, as
/// writev's gather), so 1024 iovecs cannot make one call copy a gigabyte.
pub fn sys_readv(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    read_vector(ctx, fd_of(a[0]), a[1], a[2], None)
}

pub fn sys_writev(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    write_vector(ctx, fd_of(a[0]), a[1], a[2], None)
}

/// readv/preadv: reads into each buffer in turn (at `offset` onwards when
/// positioned), stopping at a short read.
fn read_vector(ctx: &mut Ctx<'_>, fd: i32, iov_addr: u64, count: u64, offset: Option<u64>) -> SysResult {
    file(ctx, fd)?;
    let mut total: u64 = 0;
    for iov in iovecs(ctx, iov_addr, count)? {
        if iov.iov_len == 0 {
            continue;
        }
        let want = iov.iov_len.min((IO_CHUNK as u64).saturating_sub(total));
        if want == 0 {
            break;
        }
        let at = offset.map(|start| start.saturating_add(total));
        let n = do_read(ctx, fd, iov.iov_base, want, at)?;
        if ctx.block.is_some() && total > 0 {
            ctx.block = None;
        }
        total = total.saturating_add(n);
        if n < iov.iov_len {
            break;
        }
    }
    Ok(total)
}

/// writev/pwritev: the buffers gathered into one write (atomic on the
/// console and on a pipe, as Linux's writev is for a pipe within PIPE_BUF).
fn write_vector(ctx: &mut Ctx<'_>, fd: i32, iov_addr: u64, count: u64, offset: Option<u64>) -> SysResult {
    let file = file(ctx, fd)?;
    let mut data = Vec::new();
    for iov in iovecs(ctx, iov_addr, count)? {
        let start = data.len();
        let len = (iov.iov_len as usize).min(IO_CHUNK.saturating_sub(start));
        data.resize(start.saturating_add(len), 0);
        ctx.process.memory.read(iov.iov_base, &mut data[start..])?;
    }
    if let Some(written) = write_comm(ctx, &file, &data) {
        return written;
    }
    let io = write_file(&file, &data, offset).map_err(|e| broken_pipe(ctx, e))?;
    Ok(finish_io(ctx, &file, io)? as u64)
}

/// The `RWF_*` flags of preadv2/pwritev2 Isola takes: HIPRI, DSYNC and
/// SYNC change nothing for a memory file system; APPEND (writes only)
/// writes at the end. NOWAIT and unknown bits are EOPNOTSUPP, as Linux
/// answers for flags a file does not support.
const RWF_HIPRI: u64 = 0x1;
const RWF_DSYNC: u64 = 0x2;
const RWF_SYNC: u64 = 0x4;
const RWF_APPEND: u64 = 0x10;

/// The offset of preadv/pwritev: negative is EINVAL.
fn vector_offset(raw: u64) -> Result<Option<u64>, Errno> {
    positioned(raw).map(Some)
}

/// The offset of preadv2/pwritev2: -1 means the file's own position.
fn vector2_offset(raw: u64) -> Result<Option<u64>, Errno> {
    if raw as i64 == -1 { Ok(None) } else { vector_offset(raw) }
}

pub fn sys_preadv(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let offset = vector_offset(a[3])?;
    read_vector(ctx, fd_of(a[0]), a[1], a[2], offset)
}

pub fn sys_pwritev(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let offset = vector_offset(a[3])?;
    write_vector(ctx, fd_of(a[0]), a[1], a[2], offset)
}

pub fn sys_preadv2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let offset = vector2_offset(a[3])?;
    // RWF_APPEND means nothing for a read; Linux accepts it there.
    if u64::from(a[5] as u32) & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_APPEND) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    read_vector(ctx, fd_of(a[0]), a[1], a[2], offset)
}

pub fn sys_pwritev2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let offset = vector2_offset(a[3])?;
    let flags = u64::from(a[5] as u32);
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_APPEND) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let fd = fd_of(a[0]);
    if flags & RWF_APPEND == 0 {
        return write_vector(ctx, fd, a[1], a[2], offset);
    }
    // RWF_APPEND: at the end whatever the offset; the file position moves
    // only for offset -1 (man 2 pwritev2).
    let file = file(ctx, fd)?;
    let Some(id) = file.lock().kind.node() else {
        return write_vector(ctx, fd, a[1], a[2], None);
    };
    let end = fs::with(|fs| fs.metadata(id))?.size;
    let n = write_vector(ctx, fd, a[1], a[2], Some(end))?;
    if offset.is_none() {
        file.lock().offset = end.saturating_add(n);
    }
    Ok(n)
}

pub fn sys_lseek(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = file(ctx, fd_of(a[0]))?;
    let mut open = file.lock();
    // Linux's eventfd and timerfd seek nowhere (noop_llseek): the position stays 0.
    if matches!(open.kind, FileKind::EventFd(_) | FileKind::TimerFd(_)) {
        return Ok(0);
    }
    let Some(id) = open.kind.node() else { return Err(Errno::ESPIPE) };
    let size = fs::with(|fs| fs.metadata(id))?.size;
    let offset = a[1] as i64;
    // whence is an int; SEEK_DATA and SEEK_HOLE see the whole file as data
    // (Linux's generic_file_llseek_size, for a file system that keeps no
    // holes): ENXIO at or past the end.
    let base = match a[2] as u32 {
        0 => 0,
        1 => open.offset as i64,
        2 => size as i64,
        3 | 4 if (offset as u64) >= size => return Err(Errno::ENXIO),
        3 => {
            open.offset = offset as u64;
            return Ok(offset as u64);
        }
        4 => {
            open.offset = size;
            return Ok(size);
        }
        _ => return Err(Errno::EINVAL),
    };
    let new = base.checked_add(offset).filter(|&n| n >= 0).ok_or(Errno::EINVAL)?;
    open.offset = new as u64;
    Ok(new as u64)
}

fn stat_of(id: InodeId) -> Result<Stat, Errno> {
    let meta = fs::with(|fs| fs.metadata(id))?;
    // Each volume is a device of its own (Linux gives 9p mounts anonymous
    // devices 0:N), so `find -xdev` and the like see where it starts.
    let st_dev = vfs::remote::split_id(id).map_or(1, |(mount, _)| vfs::makedev(0, 0x30u32.saturating_add(mount as u32)));
    Ok(Stat {
        st_dev,
        st_ino: meta.ino,
        st_nlink: u64::from(meta.nlink),
        st_mode: meta.mode,
        st_uid: meta.uid,
        st_gid: meta.gid,
        st_rdev: meta.rdev,
        st_size: meta.size as i64,
        st_blksize: 4096,
        st_blocks: meta.size.div_ceil(512) as i64,
        st_atime: meta.atime.secs,
        st_atime_nsec: i64::from(meta.atime.nsecs),
        st_mtime: meta.mtime.secs,
        st_mtime_nsec: i64::from(meta.mtime.nsecs),
        st_ctime: meta.ctime.secs,
        st_ctime_nsec: i64::from(meta.ctime.nsecs),
    })
}

/// The console as a character device (5, 1), for fstat on descriptors 0-2.
fn console_stat() -> Stat {
    let id = fs::with(|fs| fs.lookup(vfs::ROOT, b"/dev/console", true));
    id.and_then(stat_of).unwrap_or(Stat {
        st_dev: 1,
        st_ino: 0,
        st_nlink: 1,
        st_mode: syscall::S_IFCHR | 0o600,
        st_uid: 0,
        st_gid: 0,
        st_rdev: (5 << 8) | 1,
        st_size: 0,
        st_blksize: 1024,
        st_blocks: 0,
        st_atime: 0,
        st_atime_nsec: 0,
        st_mtime: 0,
        st_mtime_nsec: 0,
        st_ctime: 0,
        st_ctime_nsec: 0,
    })
}

/// Where a stat goes: a `struct stat` or a `struct statx` at this address.
#[derive(Clone, Copy)]
enum StatOut {
    Stat(u64),
    Statx(u64),
}

impl From<u64> for StatOut {
    fn from(addr: u64) -> StatOut {
        StatOut::Stat(addr)
    }
}

fn put_stat(ctx: &mut Ctx<'_>, out: impl Into<StatOut>, stat: &Stat) -> SysResult {
    match out.into() {
        StatOut::Stat(addr) => ctx.process.memory.write(addr, &stat.to_bytes())?,
        StatOut::Statx(addr) => ctx.process.memory.write(addr, &stat.to_statx_bytes())?,
    }
    Ok(0)
}

fn fstat_fd(ctx: &mut Ctx<'_>, fd: i32, addr: impl Into<StatOut>) -> SysResult {
    let file = file(ctx, fd)?;
    let kind = file.lock().kind.clone();
    let stat = match kind {
        FileKind::Console(_) => console_stat(),
        FileKind::Node(id) => stat_of(id)?,
        FileKind::Pipe { pipe, .. } => Stat {
            st_ino: fs::pipe_id(&pipe) as u64 >> 4,
            st_mode: syscall::S_IFIFO | 0o600,
            st_blksize: 4096,
            st_rdev: 0,
            ..console_stat()
        },
        FileKind::Proc(node) => proc_stat(&node),
        FileKind::Socket(_) | FileKind::Unix(_) | FileKind::UnixSocket(_) => Stat {
            st_ino: fs::file_id(&file) as u64 >> 4,
            st_mode: syscall::S_IFSOCK | 0o777,
            st_blksize: 4096,
            st_rdev: 0,
            ..console_stat()
        },
        FileKind::Epoll(_) | FileKind::EventFd(_) | FileKind::TimerFd(_) => {
            Stat { st_ino: 0, st_mode: 0o600, st_blksize: 4096, st_rdev: 0, ..console_stat() }
        }
        // Its node's: what ttyname compares with stat("/dev/pts/N").
        FileKind::Pty(end) => match super::terminal::stat_node(&end).and_then(|id| stat_of(id).ok()) {
            Some(stat) => stat,
            None => Stat { st_ino: 0, st_mode: syscall::S_IFCHR | 0o620, st_rdev: vfs::Device::PtySlave(end.pty.lock().index).rdev(), ..console_stat() },
        },
    };
    put_stat(ctx, addr, &stat)
}

/// The stat of a /proc node.
fn proc_stat(node: &ProcNode) -> Stat {
    let (mode, size) = match node {
        ProcNode::File(data) => (syscall::S_IFREG | 0o444, data.len()),
        ProcNode::Comm { text, .. } => (syscall::S_IFREG | 0o644, text.len()),
        // Linux reports a size of 0 for most /proc files.
        ProcNode::OtherProcess(..) => (syscall::S_IFREG | 0o444, 0),
        ProcNode::Dir(_) => (syscall::S_IFDIR | 0o555, 0),
        ProcNode::Link(target) => (syscall::S_IFLNK | 0o777, target.len()),
    };
    Stat { st_dev: 4, st_ino: 1, st_mode: mode, st_size: size as i64, st_rdev: 0, st_nlink: 1, ..console_stat() }
}

fn stat_path(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, addr: impl Into<StatOut> + Copy, follow: bool) -> SysResult {
    let mut path = path_arg(ctx, path_addr)?;
    if procfs::is_proc(&path) {
        match procfs::lookup(ctx.process, &path)? {
            ProcNode::Link(target) if follow && target.first() == Some(&b'/') && !procfs::is_proc(&target) => path = target,
            node => return put_stat(ctx, addr, &proc_stat(&node)),
        }
    }
    let base = base_dir(ctx, dirfd, &path)?;
    let id = fs::with(|fs| fs.lookup(base, &path, follow))?;
    let stat = stat_of(id)?;
    put_stat(ctx, addr, &stat)
}

pub fn sys_fstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    fstat_fd(ctx, fd_of(a[0]), a[1])
}

pub fn sys_stat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    stat_path(ctx, AT_FDCWD, a[0], a[1], true)
}

pub fn sys_lstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    stat_path(ctx, AT_FDCWD, a[0], a[1], false)
}

pub fn sys_newfstatat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let flags = AtFlags::from_raw_within(a[3], AtFlags::AT_SYMLINK_NOFOLLOW | AtFlags::AT_EMPTY_PATH)?;
    let dirfd = fd_of(a[0]);
    if flags.contains(AtFlags::AT_EMPTY_PATH) {
        let path = ctx.process.memory.read_cstr(a[1], PATH_MAX)?;
        if path.is_empty() {
            return if dirfd == AT_FDCWD {
                let cwd = ctx.process.cwd;
                let stat = stat_of(cwd)?;
                put_stat(ctx, a[2], &stat)
            } else {
                fstat_fd(ctx, dirfd, a[2])
            };
        }
    }
    stat_path(ctx, dirfd, a[1], a[2], !flags.contains(AtFlags::AT_SYMLINK_NOFOLLOW))
}

/// statx(dirfd, path, flags, mask, buf): the `newfstatat` facts in a
/// `struct statx`; every basic field is filled whatever `mask` asks, as
/// Linux may do.
pub fn sys_statx(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const STATX_RESERVED: u64 = 0x8000_0000;
    let flags = AtFlags::from_raw_within(a[2], AtFlags::STAT_MASK)?;
    if flags.contains(AtFlags::AT_STATX_FORCE_SYNC | AtFlags::AT_STATX_DONT_SYNC) || a[3] & STATX_RESERVED != 0 {
        return Err(Errno::EINVAL);
    }
    let (dirfd, out) = (fd_of(a[0]), StatOut::Statx(a[4]));
    if flags.contains(AtFlags::AT_EMPTY_PATH) && ctx.process.memory.read_cstr(a[1], PATH_MAX)?.is_empty() {
        return if dirfd == AT_FDCWD {
            let stat = stat_of(ctx.process.cwd)?;
            put_stat(ctx, out, &stat)
        } else {
            fstat_fd(ctx, dirfd, out)
        };
    }
    stat_path(ctx, dirfd, a[1], out, !flags.contains(AtFlags::AT_SYMLINK_NOFOLLOW))
}

/// fadvise64(fd, offset, len, advice): advice only, so nothing to do once
/// the arguments are Linux-valid.
pub fn sys_fadvise64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = file(ctx, fd_of(a[0]))?;
    if matches!(file.lock().kind, FileKind::Pipe { .. }) {
        return Err(Errno::ESPIPE);
    }
    if a[3] > 5 || (a[2] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

pub fn sys_getdents64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = file(ctx, fd_of(a[0]))?;
    let mut open = file.lock();
    let entries: Vec<(Vec<u8>, u64, u8)> = match open.kind.clone() {
        // Reading a directory is an access (Linux's iterate_dir).
        FileKind::Node(id) => fs::with(|fs| fs.read_dir(id).inspect(|_| fs.accessed(id)))?
            .into_iter()
            .map(|e| {
                let dtype = match e.kind {
                    NodeKind::Directory => syscall::DT_DIR,
                    NodeKind::File => syscall::DT_REG,
                    NodeKind::Symlink => syscall::DT_LNK,
                    NodeKind::CharDevice(_) => syscall::DT_CHR,
                    NodeKind::Fifo => syscall::DT_FIFO,
                    NodeKind::Socket => NodeKind::Socket.dirent_type(),
                };
                (e.name, e.ino, dtype)
            })
            .collect(),
        FileKind::Proc(node) => match &*node {
            ProcNode::Dir(list) => [(b".".to_vec(), 1, syscall::DT_DIR), (b"..".to_vec(), 1, syscall::DT_DIR)]
                .into_iter()
                .chain(list.iter().enumerate().map(|(i, (name, dtype))| (name.clone(), (i as u64).saturating_add(2), *dtype)))
                .collect(),
            _ => return Err(Errno::ENOTDIR),
        },
        _ => return Err(Errno::ENOTDIR),
    };
    let capacity = (a[2] as usize).min(IO_CHUNK);
    let mut buf = alloc::vec![0u8; capacity];
    let mut used = 0;
    let mut index = open.offset as usize;
    while let Some((name, ino, dtype)) = entries.get(index) {
        match syscall::encode_dirent64(&mut buf[used..], *ino, i64::try_from(index.saturating_add(1)).unwrap_or(i64::MAX), *dtype, name) {
            Some(len) => used = used.saturating_add(len),
            None if used == 0 => return Err(Errno::EINVAL),
            None => break,
        }
        index = index.saturating_add(1);
    }
    open.offset = index as u64;
    drop(open);
    ctx.process.memory.write(a[1], &buf[..used])?;
    Ok(used as u64)
}

pub fn sys_ioctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let fd = fd_of(a[0]);
    let file = file(ctx, fd)?;
    // The requests every descriptor answers, terminal or not.
    match a[1] as u32 {
        syscall::FIOCLEX | syscall::FIONCLEX => {
            ctx.process.files.set_cloexec(fd, a[1] as u32 == syscall::FIOCLEX)?;
            return Ok(0);
        }
        syscall::FIONBIO | syscall::FIOASYNC => {
            let mut raw = [0u8; 4];
            ctx.process.memory.read(a[2], &mut raw)?;
            let on = u32::from_le_bytes(raw) != 0;
            let bit = if a[1] as u32 == syscall::FIONBIO { OpenFlags::O_NONBLOCK } else { OpenFlags::O_ASYNC }.bits();
            {
                let mut open = file.lock();
                open.flags = if on { open.flags | bit } else { open.flags & !bit };
            }
            if bit == OpenFlags::O_ASYNC.bits() {
                crate::fasync::set_armed(&file, fd, on);
            }
            return Ok(0);
        }
        syscall::FIONREAD => {
            let kind = file.lock().kind.clone();
            let available = match kind {
                FileKind::Pipe { pipe, write_end: false } => pipe.lock().available() as u32,
                FileKind::Unix(end) => end.rx.lock().available() as u32,
                FileKind::UnixSocket(socket) => socket.state.lock().queue.front().map_or(0, |d| d.data.len() as u32),
                FileKind::Socket(socket) => {
                    let mut probe = alloc::vec![0u8; 1 << 16];
                    match socket.lock().recv(&mut probe, true) {
                        Ok(Some((n, _))) => n as u32,
                        _ => 0,
                    }
                }
                FileKind::Console(_) => u32::from(serial::input_ready()),
                FileKind::Pty(end) => super::terminal::available(&end) as u32,
                FileKind::Node(id) => {
                    let size = fs::with(|fs| fs.metadata(id))?.size;
                    size.saturating_sub(file.lock().offset).min(u64::from(u32::MAX)) as u32
                }
                _ => return Err(Errno::ENOTTY),
            };
            ctx.process.memory.write(a[2], &available.to_le_bytes())?;
            return Ok(0);
        }
        _ => {}
    }
    let kind = file.lock().kind.clone();
    if let FileKind::Pty(end) = kind {
        return super::terminal::ioctl(ctx, &end, a[1] as u32, a[2]);
    }
    if !file.lock().kind.is_console() {
        return Err(Errno::ENOTTY);
    }
    match a[1] as u32 {
        syscall::TCGETS => {
            ctx.process.memory.write(a[2], &Termios::serial_console().to_bytes())?;
            Ok(0)
        }
        syscall::TCSETS | syscall::TCSETSW | syscall::TCSETSF => {
            let mut raw = [0u8; Termios::SIZE];
            ctx.process.memory.read(a[2], &mut raw)?;
            Ok(0)
        }
        syscall::TIOCGWINSZ => {
            let size = Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
            ctx.process.memory.write(a[2], &size.to_bytes())?;
            Ok(0)
        }
        syscall::TIOCSWINSZ => Ok(0),
        syscall::TIOCGPGRP => {
            let pid = ctx.process.pid.as_u32();
            ctx.process.memory.write(a[2], &pid.to_le_bytes())?;
            Ok(0)
        }
        syscall::TIOCSPGRP => Ok(0),
        _ => Err(Errno::ENOTTY),
    }
}

pub fn sys_fcntl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let fd = fd_of(a[0]);
    match a[1] {
        0 | 1030 => {
            let file = file(ctx, fd)?;
            // The argument is an int: its upper half is ignored, as in Linux.
            let min = i32::try_from(a[2] as u32).map_err(|_| Errno::EINVAL)?;
            Ok(ctx.process.files.insert_from(min, file, a[1] == 1030)? as u64)
        }
        1 => Ok(u64::from(ctx.process.files.cloexec(fd)?)),
        2 => {
            ctx.process.files.set_cloexec(fd, a[2] & syscall::FD_CLOEXEC != 0)?;
            Ok(0)
        }
        3 => Ok(u64::from(file(ctx, fd)?.lock().flags)),
        4 => {
            let file = file(ctx, fd)?;
            let changeable = (OpenFlags::O_APPEND | OpenFlags::O_NONBLOCK | OpenFlags::O_ASYNC).bits();
            let async_on = a[2] as u32 & OpenFlags::O_ASYNC.bits() != 0;
            let was_async = {
                let mut open = file.lock();
                let was = open.flags & OpenFlags::O_ASYNC.bits() != 0;
                open.flags = (open.flags & !changeable) | (a[2] as u32 & changeable);
                was
            };
            if was_async != async_on {
                crate::fasync::set_armed(&file, fd, async_on);
            }
            Ok(0)
        }
        F_SETOWN => {
            let file = file(ctx, fd)?;
            // The argument is an int; negative: a process group.
            let who = a[2] as u32 as i32;
            let owner = match who {
                0 => None,
                w if w < 0 => Some(crate::fasync::Owner::Group(w.unsigned_abs())),
                w => Some(crate::fasync::Owner::Process(w as u32)),
            };
            crate::fasync::set_owner(&file, fd, owner)?;
            Ok(0)
        }
        F_GETOWN => {
            let file = file(ctx, fd)?;
            Ok(match crate::fasync::owner(&file) {
                Some(crate::fasync::Owner::Group(g)) => i64::from(g).wrapping_neg() as u64,
                Some(crate::fasync::Owner::Process(p) | crate::fasync::Owner::Thread(p)) => u64::from(p),
                None => 0,
            })
        }
        F_SETOWN_EX => {
            let file = file(ctx, fd)?;
            let mut raw = [0u8; 8];
            ctx.process.memory.read(a[2], &mut raw)?;
            let kind = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            let pid = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
            if pid as i32 <= 0 && pid != 0 {
                return Err(Errno::EINVAL);
            }
            let owner = match (kind, pid) {
                (crate::fasync::F_OWNER_TID | crate::fasync::F_OWNER_PID | crate::fasync::F_OWNER_PGRP, 0) => None,
                (crate::fasync::F_OWNER_TID, p) => Some(crate::fasync::Owner::Thread(p)),
                (crate::fasync::F_OWNER_PID, p) => Some(crate::fasync::Owner::Process(p)),
                (crate::fasync::F_OWNER_PGRP, p) => Some(crate::fasync::Owner::Group(p)),
                _ => return Err(Errno::EINVAL),
            };
            crate::fasync::set_owner(&file, fd, owner)?;
            Ok(0)
        }
        F_GETOWN_EX => {
            let file = file(ctx, fd)?;
            let (kind, pid) = match crate::fasync::owner(&file) {
                Some(crate::fasync::Owner::Thread(t)) => (crate::fasync::F_OWNER_TID, t),
                Some(crate::fasync::Owner::Process(p)) => (crate::fasync::F_OWNER_PID, p),
                Some(crate::fasync::Owner::Group(g)) => (crate::fasync::F_OWNER_PGRP, g),
                None => (crate::fasync::F_OWNER_PID, 0),
            };
            let mut raw = [0u8; 8];
            raw[..4].copy_from_slice(&kind.to_le_bytes());
            raw[4..].copy_from_slice(&pid.to_le_bytes());
            ctx.process.memory.write(a[2], &raw)?;
            Ok(0)
        }
        F_SETSIG => {
            let file = file(ctx, fd)?;
            crate::fasync::set_signal(&file, fd, a[2] as u32)?;
            Ok(0)
        }
        F_GETSIG => Ok(u64::from(crate::fasync::signal(&file(ctx, fd)?))),
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => record_lock(ctx, fd, a[1], a[2]),
        1031 | 1032 => pipe_size(ctx, fd, a[1] == 1031, a[2] as u32),
        // Linux's memfd_add_seals, in its order: a descriptor open for
        // writing (EPERM), known seals and a file that has seals (EINVAL),
        // not sealed against sealing (EPERM), no writable shared mapping
        // left for a new F_SEAL_WRITE (EBUSY).
        F_ADD_SEALS => {
            let file = file(ctx, fd)?;
            let (kind, flags) = {
                let open = file.lock();
                (open.kind.clone(), open.flags)
            };
            let seals = a[2] as u32;
            if !fs::can_write(flags) {
                return Err(Errno::EPERM);
            }
            let id = kind.node().filter(|_| seals & !vfs::SEALS_ALL == 0).ok_or(Errno::EINVAL)?;
            fs::with(|fs| {
                let current = fs.seals(id)?;
                if current & vfs::SEAL_SEAL == 0
                    && seals & vfs::SEAL_WRITE != 0
                    && current & vfs::SEAL_WRITE == 0
                    && crate::mm::shared::is_mapped_shared(id)
                {
                    return Err(Errno::EBUSY);
                }
                fs.add_seals(id, seals)
            })?;
            Ok(0)
        }
        F_GET_SEALS => {
            let Some(id) = file(ctx, fd)?.lock().kind.node() else { return Err(Errno::EINVAL) };
            Ok(u64::from(fs::with(|fs| fs.seals(id))?))
        }
        // F_NOTIFY (dnotify): taken on a directory (ENOTDIR otherwise), as
        // Linux does, but no change of the directory sends a signal
        // (syscall::support says so).
        1026 => {
            let file = file(ctx, fd)?;
            let Some(id) = file.lock().kind.node() else { return Err(Errno::ENOTDIR) };
            match fs::with(|fs| fs.metadata(id))?.kind {
                vfs::NodeKind::Directory => Ok(0),
                _ => Err(Errno::ENOTDIR),
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

const F_ADD_SEALS: u64 = 1033;
const F_GET_SEALS: u64 = 1034;
const F_SETOWN: u64 = 8;
const F_GETOWN: u64 = 9;
const F_SETSIG: u64 = 10;
const F_GETSIG: u64 = 11;
const F_SETOWN_EX: u64 = 15;
const F_GETOWN_EX: u64 = 16;
const F_GETLK: u64 = 5;
const F_SETLK: u64 = 6;
const F_SETLKW: u64 = 7;
const F_OFD_GETLK: u64 = 36;
const F_OFD_SETLK: u64 = 37;
const F_OFD_SETLKW: u64 = 38;
/// `struct flock` on x86_64: l_type, l_whence (i16), l_start, l_len (i64
/// at 8 and 16), l_pid (i32 at 24), padded to 32 bytes.
const FLOCK_SIZE: usize = 32;

/// fcntl's record locks: `F_SETLK`/`F_SETLKW`/`F_GETLK` owned by the
/// process, the `F_OFD_*` ones by the open file description
/// (docs/locks.md).
fn record_lock(ctx: &mut Ctx<'_>, fd: i32, cmd: u64, arg: u64) -> SysResult {
    use process::locks::{F_RDLCK, F_UNLCK, F_WRLCK, LockKind, Owner};
    let file = file(ctx, fd)?;
    let mut raw = [0u8; FLOCK_SIZE];
    ctx.process.memory.read(arg, &mut raw)?;
    let l_type = i16::from_le_bytes([raw[0], raw[1]]);
    let whence = i16::from_le_bytes([raw[2], raw[3]]);
    let l_start = i64::from_le_bytes(raw[8..16].try_into().unwrap_or_default());
    let l_len = i64::from_le_bytes(raw[16..24].try_into().unwrap_or_default());
    let l_pid = i32::from_le_bytes(raw[24..28].try_into().unwrap_or_default());
    let by_description = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if by_description && l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let (kind, flags, offset, id) = {
        let open = file.lock();
        (open.kind.clone(), open.flags, open.offset, open.id)
    };
    // An O_PATH descriptor takes no part in locking.
    if !fs::can_read(flags) && !fs::can_write(flags) {
        return Err(Errno::EBADF);
    }
    let size = match kind.node() {
        Some(node) => fs::with(|fs| fs.metadata(node))?.size,
        None => 0,
    };
    let range = process::locks::flock_range(whence, l_start, l_len, offset, size)?;
    let key = crate::locks::key_of(&kind);
    let pid = ctx.process.pid.as_u32();
    let (owner, shown_pid) = if by_description { (Owner::Description(id), -1) } else { (Owner::Process(pid), pid as i32) };
    let lock_kind = match l_type {
        F_RDLCK => Some(LockKind::Read),
        F_WRLCK => Some(LockKind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        let Some(lock_kind) = lock_kind else { return Err(Errno::EINVAL) };
        match crate::locks::test(key, owner, lock_kind, range) {
            None => ctx.process.memory.write(arg, &F_UNLCK.to_le_bytes())?,
            Some(held) => {
                let (start, len) = held.range.as_flock();
                let mut out = raw;
                out[0..2].copy_from_slice(&held.kind.l_type().to_le_bytes());
                out[2..4].copy_from_slice(&0i16.to_le_bytes());
                out[8..16].copy_from_slice(&start.to_le_bytes());
                out[16..24].copy_from_slice(&len.to_le_bytes());
                out[24..28].copy_from_slice(&held.pid.to_le_bytes());
                ctx.process.memory.write(arg, &out)?;
            }
        }
        return Ok(0);
    }
    let Some(lock_kind) = lock_kind else {
        crate::locks::unset(key, owner, range);
        return Ok(0);
    };
    let allowed = match lock_kind {
        LockKind::Read => fs::can_read(flags),
        LockKind::Write => fs::can_write(flags),
    };
    if !allowed {
        return Err(Errno::EBADF);
    }
    match crate::locks::set(key, owner, shown_pid, lock_kind, range) {
        Ok(()) => {
            crate::locks::end_wait(pid);
            Ok(0)
        }
        Err(crate::locks::SetFailure::NoLocks) => {
            crate::locks::end_wait(pid);
            Err(Errno::ENOLCK)
        }
        Err(_) if cmd != F_SETLKW && cmd != F_OFD_SETLKW => Err(Errno::EAGAIN),
        Err(crate::locks::SetFailure::Conflict(held)) => {
            // Linux looks for deadlocks between process-owned locks only.
            if let (Owner::Process(_), Owner::Process(blocker)) = (owner, held.owner) {
                crate::locks::note_wait(pid, blocker)?;
            }
            ctx.block = Some(BlockOn::FileLock);
            Ok(0)
        }
    }
}

/// flock(2): a whole-file lock owned by the open file description.
pub fn sys_flock(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    use process::locks::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};
    let file = file(ctx, fd_of(a[0]))?;
    let op = a[1] as u32;
    let (kind, flags, id) = {
        let open = file.lock();
        (open.kind.clone(), open.flags, open.id)
    };
    // An O_PATH descriptor cannot lock or unlock.
    if !fs::can_read(flags) && !fs::can_write(flags) {
        return Err(Errno::EBADF);
    }
    let key = crate::locks::key_of(&kind);
    let exclusive = match op & !LOCK_NB {
        LOCK_UN => {
            crate::locks::funlock(key, id);
            return Ok(0);
        }
        LOCK_SH => false,
        LOCK_EX => true,
        _ => return Err(Errno::EINVAL),
    };
    match crate::locks::flock(key, id, exclusive) {
        Ok(()) => Ok(0),
        Err(e) if op & LOCK_NB != 0 => Err(e),
        Err(_) => {
            ctx.block = Some(BlockOn::FileLock);
            Ok(0)
        }
    }
}

/// `F_SETPIPE_SZ` (`set`, to at least `requested` bytes) and `F_GETPIPE_SZ`
/// on either end of a pipe or FIFO; EBADF on anything else, as Linux.
fn pipe_size(ctx: &mut Ctx<'_>, fd: i32, set: bool, requested: u32) -> SysResult {
    let FileKind::Pipe { pipe, .. } = file(ctx, fd)?.lock().kind.clone() else { return Err(Errno::EBADF) };
    if !set {
        return Ok(pipe.lock().capacity() as u64);
    }
    let privileged = ctx.process.creds.privileged();
    let resized = pipe.lock().resize(requested, privileged);
    let size = resized.map_err(|e| match e {
        process::PipeResize::TooLarge => Errno::EINVAL,
        process::PipeResize::NotPermitted => Errno::EPERM,
        process::PipeResize::Busy => Errno::EBUSY,
        process::PipeResize::NoMemory => Errno::ENOMEM,
    })?;
    // A larger ring has room for writers that wait.
    proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(&pipe)));
    Ok(size as u64)
}

pub fn sys_dup(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    Ok(ctx.process.files.dup(fd_of(a[0]))? as u64)
}

/// The file `dup2`/`dup3` onto `new` replaced: closing it releases the
/// caller's record locks on it, as close does.
fn replaced_by_dup(ctx: &Ctx<'_>, old: i32, new: i32) -> Option<FileRef> {
    if old == new { None } else { ctx.process.files.get(new).ok().cloned() }
}

pub fn sys_dup2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let replaced = replaced_by_dup(ctx, fd_of(a[0]), fd_of(a[1]));
    let fd = ctx.process.files.dup2(fd_of(a[0]), fd_of(a[1]))?;
    if let Some(file) = replaced {
        crate::locks::descriptor_closed(ctx.process.pid.as_u32(), &file);
    }
    Ok(fd as u64)
}

pub fn sys_dup3(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[2] & !OpenFlags::O_CLOEXEC.bits() as u64 != 0 {
        return Err(Errno::EINVAL);
    }
    let cloexec = a[2] != 0;
    let replaced = replaced_by_dup(ctx, fd_of(a[0]), fd_of(a[1]));
    let fd = ctx.process.files.dup3(fd_of(a[0]), fd_of(a[1]), cloexec)?;
    if let Some(file) = replaced {
        crate::locks::descriptor_closed(ctx.process.pid.as_u32(), &file);
    }
    Ok(fd as u64)
}

fn access_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, mode: u64, flags: u32) -> SysResult {
    if mode & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_arg(ctx, path_addr)?;
    let base = base_dir(ctx, dirfd, &path)?;
    // access checks with the real ids (Linux: and root's capabilities
    // only for a real uid 0); faccessat2's AT_EACCESS with the effective ones.
    let creds = &ctx.process.creds;
    let effective = flags & AT_EACCESS != 0;
    let (uid, gid) = if effective { (creds.fsuid, creds.fsgid) } else { (creds.ruid, creds.rgid) };
    let who = vfs::Identity { uid, gid, groups: ctx.process.groups.clone(), privileged: uid == 0 && creds.permitted };
    fs::with(|fs| {
        let served = fs.swap_identity(Some(who));
        let outcome = fs.lookup(base, &path, true).and_then(|id| fs.check_access(id, mode as u32));
        fs.swap_identity(served);
        outcome
    })?;
    Ok(0)
}

pub fn sys_access(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    access_at(ctx, AT_FDCWD, a[0], a[1], 0)
}

pub fn sys_faccessat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    access_at(ctx, fd_of(a[0]), a[1], a[2], 0)
}

pub fn sys_faccessat2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[3] as u32 & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW_FLAG | AT_EMPTY_PATH_FLAG) != 0 {
        return Err(Errno::EINVAL);
    }
    access_at(ctx, fd_of(a[0]), a[1], a[2], a[3] as u32)
}

/// faccessat2's flag: check with the effective ids.
const AT_EACCESS: u32 = 0x200;
const AT_SYMLINK_NOFOLLOW_FLAG: u32 = 0x100;
const AT_EMPTY_PATH_FLAG: u32 = 0x1000;


pub fn sys_getcwd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let mut path = fs::with(|fs| fs.path_of(ctx.process.cwd))?;
    path.push(0);
    if path.len() as u64 > a[1] {
        return Err(Errno::ERANGE);
    }
    ctx.process.memory.write(a[0], &path)?;
    Ok(path.len() as u64)
}

fn change_dir(ctx: &mut Ctx<'_>, id: InodeId) -> SysResult {
    if fs::with(|fs| fs.metadata(id))?.kind != NodeKind::Directory {
        return Err(Errno::ENOTDIR);
    }
    fs::with(|fs| fs.check_access(id, vfs::MAY_EXEC))?;
    ctx.process.cwd = id;
    Ok(0)
}

pub fn sys_chdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = path_arg(ctx, a[0])?;
    let cwd = ctx.process.cwd;
    let id = fs::with(|fs| fs.lookup(cwd, &path, true))?;
    change_dir(ctx, id)
}

pub fn sys_fchdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = file(ctx, fd_of(a[0]))?;
    let id = file.lock().kind.node();
    match id {
        Some(id) => change_dir(ctx, id),
        None => Err(Errno::ENOTDIR),
    }
}

fn mkdir_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, mode: u64) -> SysResult {
    let path = path_arg(ctx, path_addr)?;
    let base = base_dir(ctx, dirfd, &path)?;
    let perm = (mode as u32) & 0o7777 & !ctx.process.umask;
    fs::with(|fs| {
        let (parent, name) = fs.lookup_parent(base, &path)?;
        let id = fs.mkdir(parent, name, perm)?;
        let _ = id;
        Ok::<(), Errno>(())
    })?;
    Ok(0)
}

/// mknod/mknodat: a regular file (type 0 or S_IFREG) or a FIFO for anyone;
/// a character device only with privilege (CAP_MKNOD: EPERM otherwise) and
/// only for the devices Isola has (null, zero, console); a socket node
/// (S_IFSOCK) for anyone. Linux would also make nodes for block devices and
/// other character devices with nothing behind them; Isola cannot hold
/// those and answers EPERM, as Linux does for a type the file system does
/// not support. S_IFDIR is EPERM,
/// anything else EINVAL (Linux's do_mknodat).
fn mknod_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, mode: u64, dev: u64) -> SysResult {
    const S_IFBLK: u32 = 0o060_000;
    let mode = mode as u32;
    let kind = mode & vfs::S_IFMT;
    let perm = mode & 0o7777 & !ctx.process.umask;
    let device = match kind {
        0 | vfs::S_IFREG | vfs::S_IFIFO => None,
        vfs::S_IFCHR => {
            if !ctx.process.creds.privileged() {
                return Err(Errno::EPERM);
            }
            // The kernel's dev_t: major in bits 8-19, minor in 0-7 and 20-31.
            let dev = dev as u32;
            let (major, minor) = ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
            Some(vfs::Device::from_numbers(major, minor).ok_or(Errno::EPERM)?)
        }
        vfs::S_IFSOCK => None,
        S_IFBLK | vfs::S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let path = path_arg(ctx, path_addr)?;
    if procfs::is_proc(&path) {
        return Err(if procfs::lookup(ctx.process, &path).is_ok() { Errno::EEXIST } else { Errno::ENOENT });
    }
    let base = base_dir(ctx, dirfd, &path)?;
    fs::with(|fs| {
        let (parent, name) = fs.lookup_parent(base, &path)?;
        let id = match (kind, device) {
            (_, Some(device)) => fs.mknod(parent, name, device, perm)?,
            (vfs::S_IFIFO, None) => fs.mkfifo(parent, name, perm)?,
            (vfs::S_IFSOCK, None) => fs.mksock(parent, name, perm)?,
            _ => fs.create_file(parent, name, perm)?,
        };
        let _ = id;
        Ok::<(), Errno>(())
    })?;
    Ok(0)
}

pub fn sys_mknod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    mknod_at(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub fn sys_mknodat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    mknod_at(ctx, fd_of(a[0]), a[1], a[2], a[3])
}

pub fn sys_mkdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    mkdir_at(ctx, AT_FDCWD, a[0], a[1])
}

pub fn sys_mkdirat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    mkdir_at(ctx, fd_of(a[0]), a[1], a[2])
}

fn unlink_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, remove_dir: bool) -> SysResult {
    let path = path_arg(ctx, path_addr)?;
    let base = base_dir(ctx, dirfd, &path)?;
    fs::with(|fs| {
        let (parent, name) = fs.lookup_parent(base, &path)?;
        let id = fs.lookup(parent, name, false)?;
        if remove_dir {
            fs.rmdir(parent, name)?;
        } else {
            fs.unlink(parent, name)?;
        }
        fs::forget_if_unused(fs, id);
        Ok::<(), Errno>(())
    })?;
    Ok(0)
}

pub fn sys_unlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    unlink_at(ctx, AT_FDCWD, a[0], false)
}

pub fn sys_rmdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    unlink_at(ctx, AT_FDCWD, a[0], true)
}

pub fn sys_unlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let flags = AtFlags::from_raw_within(a[2], AtFlags::AT_REMOVEDIR)?;
    unlink_at(ctx, fd_of(a[0]), a[1], flags.contains(AtFlags::AT_REMOVEDIR))
}

fn readlink_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, buf: u64, len: u64) -> SysResult {
    // bufsiz is an int: its upper half is ignored.
    let len = len as i32;
    if len <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_arg(ctx, path_addr)?;
    if procfs::is_proc(&path) {
        let ProcNode::Link(target) = procfs::lookup(ctx.process, &path)? else { return Err(Errno::EINVAL) };
        let n = target.len().min(len.unsigned_abs() as usize);
        ctx.process.memory.write(buf, &target[..n])?;
        return Ok(n as u64);
    }
    let base = base_dir(ctx, dirfd, &path)?;
    let target = fs::with(|fs| {
        let id = fs.lookup(base, &path, false)?;
        let target = fs.readlink(id)?.to_vec();
        fs.accessed(id);
        Ok::<_, Errno>(target)
    })?;
    let n = target.len().min(len.unsigned_abs() as usize);
    ctx.process.memory.write(buf, &target[..n])?;
    Ok(n as u64)
}

pub fn sys_readlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    readlink_at(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub fn sys_readlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    readlink_at(ctx, fd_of(a[0]), a[1], a[2], a[3])
}

const POLLIN: i16 = 0x1;
const POLLOUT: i16 = 0x4;
const POLLNVAL: i16 = 0x20;
const POLLHUP: i16 = 0x10;
const POLLERR: i16 = 0x8;
const POLLRDNORM: i16 = 0x40;
const POLLWRNORM: i16 = 0x100;

/// The poll(2) events that hold now for an open file (POLLIN, POLLOUT,
/// POLLERR, POLLHUP, POLLRDHUP bits), whatever was asked.
pub fn readiness(kind: &FileKind, flags: u32) -> u32 {
    let bits = |readable: bool, writable: bool, hangup: bool, error: bool| {
        [(readable, POLLIN), (writable, POLLOUT), (hangup, POLLHUP), (error, POLLERR)]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0u32, |acc, (_, bit)| acc | *bit as u32)
    };
    match kind {
        FileKind::Console(_) => bits(serial::input_ready(), true, false, false),
        FileKind::Node(_) => bits(true, true, false, false),
        FileKind::Proc(_) => bits(true, false, false, false),
        // Linux: a write end without readers reports POLLERR (with POLLOUT),
        // a read end without writers POLLHUP.
        FileKind::Pipe { pipe, write_end } => {
            let mut p = pipe.lock();
            // From now on every read and write wakes (Pipe::read_may_unblock).
            p.mark_polled();
            // A FIFO opened O_RDWR is both ends: it is its own writer and reader.
            if *write_end && flags & 3 == 2 {
                bits(p.readable(), p.writable(), false, false)
            } else if *write_end { bits(false, p.writable(), false, p.readers() == 0) } else { bits(p.readable(), false, p.writers() == 0, false) }
        }
        FileKind::Unix(end) => {
            let (mut rx, mut tx) = (end.rx.lock(), end.tx.lock());
            // As for pipes: every read and write of the ends wakes from now on.
            rx.mark_polled();
            tx.mark_polled();
            let eof = !end.can_read() || rx.writers() == 0;
            let peer_gone = !end.can_write() || tx.readers() == 0;
            let mut events = bits(rx.readable() || eof, tx.writable() || peer_gone, eof && peer_gone, false);
            if eof {
                events |= crate::net::socket::POLLRDHUP;
            }
            events
        }
        FileKind::Socket(socket) => socket.lock().readiness(),
        FileKind::UnixSocket(socket) => {
            let (readable, writable, hangup) = crate::net::unix::readiness(socket);
            bits(readable, writable, hangup, false)
        }
        FileKind::Epoll(epoll) => {
            let ready = super::net::epoll_has_ready(epoll);
            bits(ready, false, false, false)
        }
        FileKind::EventFd(counter) => {
            let counter = counter.lock();
            bits(counter.readable(), counter.writable(), false, false)
        }
        FileKind::TimerFd(timer) => bits(crate::timerfd::readable(timer), false, false, false),
        FileKind::Pty(end) => {
            let (readable, writable, hangup) = super::terminal::readiness(end);
            bits(readable, writable, hangup, false)
        }
    }
}

/// The events of `pollfd` entries that hold now.
fn poll_once(ctx: &Ctx<'_>, fds: &mut [(i32, i16, i16)]) -> u64 {
    let mut ready: u64 = 0;
    for (fd, events, revents) in fds.iter_mut() {
        *revents = 0;
        if *fd < 0 {
            continue;
        }
        let Ok(file) = file(ctx, *fd) else {
            *revents = POLLNVAL;
            ready = ready.saturating_add(1);
            continue;
        };
        let (kind, flags) = {
            let open = file.lock();
            (open.kind.clone(), open.flags)
        };
        let now = readiness(&kind, flags);
        let mut wanted = (*events as u16 as u32) | (POLLERR | POLLHUP) as u32;
        if *events & POLLIN != 0 {
            wanted |= POLLRDNORM as u32;
        }
        if *events & POLLOUT != 0 {
            wanted |= POLLWRNORM as u32;
        }
        let mut got = now & wanted;
        if now & POLLIN as u32 != 0 {
            got |= (*events & POLLRDNORM) as u16 as u32;
        }
        if now & POLLOUT as u32 != 0 {
            got |= (*events & POLLWRNORM) as u16 as u32;
        }
        *revents = got as u16 as i16;
        if got != 0 {
            ready = ready.saturating_add(1);
        }
    }
    ready
}

/// The deadline of a waiting call: computed on its first run, kept across
/// retries; `None` (no timeout) waits forever. Saturates (`syscall::time`).
pub fn deadline(ctx: &mut Ctx<'_>, timeout_ns: Option<u64>) -> u64 {
    if !ctx.retry || ctx.process.thread_mut().wait_deadline.is_none() {
        let now = crate::time::monotonic_ns();
        ctx.process.thread_mut().wait_deadline = Some(timeout_ns.map_or(u64::MAX, |t| syscall::time::deadline_ns(now, t)));
    }
    ctx.process.thread_mut().wait_deadline.unwrap_or(u64::MAX)
}

/// `struct pollfd` entries handled per pass, so that the kernel buffer stays
/// small whatever `nfds` (up to `RLIMIT_NOFILE`) the caller gives.
const POLL_CHUNK: u64 = 512;

/// One pass over the caller's `pollfd` array: the number of ready entries,
/// with their `revents` written back when `write_back`.
fn poll_pass(ctx: &mut Ctx<'_>, addr: u64, count: u64, write_back: bool) -> Result<u64, Errno> {
    const POLLFD_SIZE: u64 = 8;
    let mut ready: u64 = 0;
    let mut done: u64 = 0;
    while done < count {
        let n = count.saturating_sub(done).min(POLL_CHUNK);
        let at = addr.checked_add(done.saturating_mul(POLLFD_SIZE)).ok_or(Errno::EFAULT)?;
        let mut raw = alloc::vec![0u8; n.saturating_mul(POLLFD_SIZE) as usize];
        ctx.process.memory.read(at, &mut raw)?;
        let mut fds: Vec<(i32, i16, i16)> = raw
            .chunks_exact(8)
            .map(|c| (i32::from_le_bytes([c[0], c[1], c[2], c[3]]), i16::from_le_bytes([c[4], c[5]]), 0))
            .collect();
        ready = ready.saturating_add(poll_once(ctx, &mut fds));
        if write_back {
            for (chunk, (_, _, revents)) in raw.chunks_exact_mut(8).zip(&fds) {
                chunk[6..8].copy_from_slice(&revents.to_le_bytes());
            }
            ctx.process.memory.write(at, &raw)?;
        }
        done = done.saturating_add(n);
    }
    Ok(ready)
}

/// poll/ppoll: `EINVAL` for more entries than `RLIMIT_NOFILE`, as Linux.
/// The array is read in chunks; `revents` are written only when the call
/// returns, not before it blocks.
fn do_poll(ctx: &mut Ctx<'_>, addr: u64, raw_count: u64, timeout_ns: Option<u64>) -> SysResult {
    // nfds is an unsigned int.
    let count = u64::from(raw_count as u32);
    if count > ctx.process.files.limit() as u64 {
        return Err(Errno::EINVAL);
    }
    let deadline = deadline(ctx, timeout_ns);
    let ready = poll_pass(ctx, addr, count, false)?;
    if ready == 0 && crate::time::monotonic_ns() < deadline {
        ctx.block = Some(BlockOn::Poll(deadline));
        return Ok(0);
    }
    poll_pass(ctx, addr, count, true)
}

/// select/pselect6 on top of poll: the three fd_set bitmaps in, the ready
/// ones out. A negative `nfds` is `EINVAL`; bits at or above the table's
/// capacity are ignored (Linux clamps `nfds` to `max_fds`), so a huge
/// `nfds` costs no more than the open descriptors.
fn do_select(ctx: &mut Ctx<'_>, raw_nfds: u64, sets: [u64; 3], timeout_ns: Option<u64>) -> SysResult {
    let nfds = usize::try_from(raw_nfds as i32).map_err(|_| Errno::EINVAL)?;
    let nfds = nfds.min(ctx.process.files.capacity());
    let deadline = deadline(ctx, timeout_ns);
    let bytes = nfds.div_ceil(64).saturating_mul(8);
    let mut bitmaps = [alloc::vec![0u8; bytes], alloc::vec![0u8; bytes], alloc::vec![0u8; bytes]];
    for (bitmap, &addr) in bitmaps.iter_mut().zip(&sets) {
        if addr != 0 {
            ctx.process.memory.read(addr, bitmap)?;
        }
    }
    let mut fds = Vec::new();
    for fd in 0..nfds {
        let bit = |set: &[u8]| set[fd / 8] & (1 << (fd % 8)) != 0;
        let mut events = 0;
        if bit(&bitmaps[0]) {
            events |= POLLIN;
        }
        if bit(&bitmaps[1]) {
            events |= POLLOUT;
        }
        if events != 0 || bit(&bitmaps[2]) {
            fds.push((fd as i32, events, 0));
        }
    }
    poll_once(ctx, &mut fds);
    if fds.iter().any(|f| f.2 & POLLNVAL != 0) {
        return Err(Errno::EBADF);
    }
    let mut out = [alloc::vec![0u8; bytes], alloc::vec![0u8; bytes], alloc::vec![0u8; bytes]];
    let mut count: u64 = 0;
    for (fd, events, revents) in &fds {
        let (i, b) = (*fd as usize / 8, 1u8 << (*fd as usize % 8));
        if events & POLLIN != 0 && revents & (POLLIN | POLLHUP) != 0 {
            out[0][i] |= b;
            count = count.saturating_add(1);
        }
        if events & POLLOUT != 0 && revents & POLLOUT != 0 {
            out[1][i] |= b;
            count = count.saturating_add(1);
        }
    }
    if count == 0 && crate::time::monotonic_ns() < deadline {
        ctx.block = Some(BlockOn::Poll(deadline));
        return Ok(0);
    }
    for (bitmap, &addr) in out.iter().zip(&sets) {
        if addr != 0 {
            ctx.process.memory.write(addr, bitmap)?;
        }
    }
    Ok(count)
}

/// The time a select, pselect6 or ppoll has left, written back to its
/// timeout at `addr` (a timeval for select, a timespec otherwise) when the
/// call ends, whatever its result, as Linux's `poll_select_finish`: not for
/// a null or zero timeout, and a timeout in memory the caller cannot write
/// is left as it was.
pub fn write_time_left(ctx: &mut Ctx<'_>, addr: u64, timeval: bool) {
    let mut raw = [0u8; 16];
    if addr == 0 || ctx.process.memory.read(addr, &mut raw).is_err() || raw == [0; 16] {
        return;
    }
    let left = ctx.process.thread().wait_deadline.map_or(0, |at| syscall::time::remaining_ns(at, crate::time::monotonic_ns()));
    let bytes = if timeval { syscall::Timeval::from_nanos(left).to_bytes() } else { syscall::Timespec::from_nanos(left).to_bytes() };
    let _ = ctx.process.memory.write(addr, &bytes);
}

/// A call that is done (not blocking): its time left goes back to `addr`.
fn finish_timed(ctx: &mut Ctx<'_>, addr: u64, timeval: bool, result: SysResult) -> SysResult {
    if ctx.block.is_none() {
        write_time_left(ctx, addr, timeval);
    }
    result
}

pub fn sys_select(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let timeout = if a[4] == 0 {
        None
    } else {
        let mut raw = [0u8; syscall::Timeval::SIZE];
        ctx.process.memory.read(a[4], &mut raw)?;
        Some(syscall::Timeval::from_bytes(&raw).select_timeout_ns()?)
    };
    let result = do_select(ctx, a[0], [a[1], a[2], a[3]], timeout);
    finish_timed(ctx, a[4], true, result)
}

/// pselect6: select with a timespec (the time left written back, as
/// select), under the signal mask that `a[5]` points to as
/// `{ const sigset_t *ss; size_t ss_len }` (null: none).
pub fn sys_pselect6(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let timeout = if a[4] == 0 { None } else { Some(super::info::read_timespec(ctx, a[4])?) };
    if a[5] != 0 {
        let mut raw = [0u8; 16];
        ctx.process.memory.read(a[5], &mut raw)?;
        let [set, size] = [&raw[..8], &raw[8..]].map(|half| u64::from_le_bytes(half.try_into().unwrap_or([0; 8])));
        super::signals::begin_call_mask(ctx, set, size)?;
    }
    let result = do_select(ctx, a[0], [a[1], a[2], a[3]], timeout);
    let result = finish_timed(ctx, a[4], false, result);
    super::signals::end_call_mask(ctx, result)
}

pub fn sys_poll(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    do_poll(ctx, a[0], a[1], syscall::time::timeout_ms_to_ns(a[2] as i32))
}

/// ppoll: poll with a timespec (the time left written back, as select),
/// under the signal mask `a[3]` (`a[4]` bytes).
pub fn sys_ppoll(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let timeout = if a[2] == 0 { None } else { Some(super::info::read_timespec(ctx, a[2])?) };
    super::signals::begin_call_mask(ctx, a[3], a[4])?;
    let result = do_poll(ctx, a[0], a[1], timeout);
    let result = finish_timed(ctx, a[2], false, result);
    super::signals::end_call_mask(ctx, result)
}

pub fn sys_sendfile(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (out_fd, in_fd, offset_addr, count) = (fd_of(a[0]), fd_of(a[1]), a[2], a[3]);
    let input = file(ctx, in_fd)?;
    let output = file(ctx, out_fd)?;
    if input.lock().kind.node().is_none() {
        return Err(Errno::EINVAL);
    }
    let explicit = if offset_addr != 0 {
        let mut raw = [0u8; 8];
        ctx.process.memory.read(offset_addr, &mut raw)?;
        Some(positioned(u64::from_le_bytes(raw))?)
    } else {
        None
    };
    let mut buf = alloc::vec![0u8; (count as usize).min(IO_CHUNK)];
    let Io::Done(n) = read_file(&input, &mut buf, explicit)? else { return Err(Errno::EAGAIN) };
    let io = match write_file(&output, &buf[..n], None) {
        Ok(io) => io,
        Err(e) => {
            if explicit.is_none() {
                let mut open = input.lock();
                open.offset = open.offset.saturating_sub(n as u64);
            }
            return Err(broken_pipe(ctx, e));
        }
    };
    let written = match io {
        Io::Done(written) => written,
        Io::Wait(reason) => {
            // Nothing went out: the file offset goes back, and the call
            // waits for room (or is EAGAIN on a non-blocking output).
            if explicit.is_none() {
                let mut open = input.lock();
                open.offset = open.offset.saturating_sub(n as u64);
            }
            finish_io(ctx, &output, Io::Wait(reason))?;
            return Ok(0);
        }
    };
    if let Some(at) = explicit {
        ctx.process.memory.write(offset_addr, &at.saturating_add(written as u64).to_le_bytes())?;
    } else if written < n {
        // Give back what was read but not written.
        let mut open = input.lock();
        open.offset = open.offset.saturating_sub(n.saturating_sub(written) as u64);
    }
    Ok(written as u64)
}

/// A `loff_t *` argument: the offset there, or None for a NULL pointer
/// (EINVAL for a negative one).
fn offset_arg(ctx: &mut Ctx<'_>, addr: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let mut raw = [0u8; 8];
    ctx.process.memory.read(addr, &mut raw)?;
    positioned(u64::from_le_bytes(raw)).map(Some)
}

/// Advances an offset: the `loff_t` at `addr` when one was given, else the
/// description's own.
fn advance(ctx: &mut Ctx<'_>, file: &FileRef, addr: u64, at: Option<u64>, by: usize) -> Result<(), Errno> {
    match at {
        Some(at) => ctx.process.memory.write(addr, &at.saturating_add(by as u64).to_le_bytes()),
        None => {
            let mut open = file.lock();
            open.offset = open.offset.saturating_add(by as u64);
            Ok(())
        }
    }
}

/// An open file's status flags, inode (if a node) and offset, under one
/// short lock.
fn facts_of(file: &FileRef) -> (u32, Option<InodeId>, u64) {
    let open = file.lock();
    (open.flags, open.kind.node(), open.offset)
}

/// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags): bytes of
/// one regular file into another, as a pread and a pwrite of one chunk
/// (at most 1 MiB a call; Linux may also copy less than asked). Linux's
/// checks: flags 0 (EINVAL), regular files (EISDIR, EINVAL), in readable
/// and out writable and not O_APPEND (EBADF), no overlap within one file
/// (EINVAL).
pub fn sys_copy_file_range(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (input, output) = (file(ctx, fd_of(a[0]))?, file(ctx, fd_of(a[2]))?);
    if a[5] as u32 != 0 {
        return Err(Errno::EINVAL);
    }
    // One lock at a time: both may be the same description.
    let (in_flags, in_node, in_offset) = facts_of(&input);
    let (out_flags, out_node, out_offset) = facts_of(&output);
    if !fs::can_read(in_flags) || !fs::can_write(out_flags) || out_flags & OpenFlags::O_APPEND.bits() != 0 {
        return Err(Errno::EBADF);
    }
    let (Some(in_id), Some(out_id)) = (in_node, out_node) else { return Err(Errno::EINVAL) };
    for id in [in_id, out_id] {
        match fs::with(|fs| fs.metadata(id))?.kind {
            NodeKind::File => {}
            NodeKind::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
    }
    let (in_at, out_at) = (offset_arg(ctx, a[1])?, offset_arg(ctx, a[3])?);
    let len = (a[4] as usize).min(IO_CHUNK);
    let from = in_at.unwrap_or(in_offset);
    let to = out_at.unwrap_or(out_offset);
    if in_id == out_id && from < to.saturating_add(len as u64) && to < from.saturating_add(len as u64) {
        return Err(Errno::EINVAL);
    }
    let mut buf = alloc::vec![0u8; len];
    let Io::Done(n) = read_file(&input, &mut buf, Some(from))? else { return Err(Errno::EAGAIN) };
    let Io::Done(written) = write_file(&output, &buf[..n], Some(to))? else { return Err(Errno::EAGAIN) };
    advance(ctx, &input, a[1], in_at, written)?;
    advance(ctx, &output, a[3], out_at, written)?;
    Ok(written as u64)
}

/// splice(fd_in, off_in, fd_out, off_out, len, flags): moves up to `len`
/// bytes (1 MiB at most a call) between a pipe and another descriptor (or
/// two pipes), copied rather than moved page by page. A pipe's side takes
/// no offset (ESPIPE); one side must be a pipe (EINVAL); an O_APPEND
/// output is EINVAL. From a pipe, what the output does not take stays in
/// it; into a pipe, no more is read than it has room for. Waits (or is
/// EAGAIN with SPLICE_F_NONBLOCK or a non-blocking pipe) as a read or
/// write of the pipe would.
pub fn sys_splice(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const SPLICE_F_NONBLOCK: u32 = 2;
    const SPLICE_F_ALL: u32 = 0xf;
    let (input, output) = (file(ctx, fd_of(a[0]))?, file(ctx, fd_of(a[2]))?);
    let flags = a[5] as u32;
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let pipe_of = |f: &FileRef| match &f.lock().kind {
        FileKind::Pipe { pipe, .. } => Some(pipe.clone()),
        _ => None,
    };
    let (in_pipe, out_pipe) = (pipe_of(&input), pipe_of(&output));
    // One lock at a time: both may be the same description (a FIFO open O_RDWR).
    let ((in_flags, in_node, in_offset), (out_flags, _, _)) = (facts_of(&input), facts_of(&output));
    if !fs::can_read(in_flags) || !fs::can_write(out_flags) {
        return Err(Errno::EBADF);
    }
    if in_pipe.is_none() && out_pipe.is_none() {
        return Err(Errno::EINVAL);
    }
    if (in_pipe.is_some() && a[1] != 0) || (out_pipe.is_some() && a[3] != 0) {
        return Err(Errno::ESPIPE);
    }
    if out_flags & OpenFlags::O_APPEND.bits() != 0 {
        return Err(Errno::EINVAL);
    }
    let (in_at, out_at) = (offset_arg(ctx, a[1])?, offset_arg(ctx, a[3])?);
    let len = (a[4] as usize).min(IO_CHUNK);
    if len == 0 {
        return Ok(0);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let wait = |ctx: &mut Ctx<'_>, file: &FileRef, reason: BlockOn| -> SysResult {
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        finish_io(ctx, file, Io::Wait(reason)).map(|n| n as u64)
    };
    if let Some(pipe) = in_pipe {
        let mut buf = alloc::vec![0u8; len];
        let peeked = pipe.lock().peek(&mut buf);
        let n = match peeked {
            PipeRead::Data(n) => n,
            PipeRead::Eof => return Ok(0),
            PipeRead::WouldBlock => return wait(ctx, &input, BlockOn::Pipe(fs::pipe_id(&pipe))),
        };
        let written = match write_file(&output, &buf[..n], out_at).map_err(|e| broken_pipe(ctx, e))? {
            Io::Done(written) => written,
            Io::Wait(reason) => return wait(ctx, &output, reason),
        };
        let _ = pipe.lock().read(&mut buf[..written]);
        proc::sched::wake_all(BlockOn::Pipe(fs::pipe_id(&pipe)));
        // Without off_out the write moved the output's own offset.
        if out_at.is_some() {
            advance(ctx, &output, a[3], out_at, written)?;
        }
        return Ok(written as u64);
    }
    let Some(pipe) = out_pipe else { return Err(Errno::EINVAL) };
    let (readers, space) = {
        let p = pipe.lock();
        (p.readers(), p.space())
    };
    if readers == 0 {
        return Err(broken_pipe(ctx, Errno::EPIPE));
    }
    if space == 0 {
        return wait(ctx, &output, BlockOn::Pipe(fs::pipe_id(&pipe)));
    }
    let mut buf = alloc::vec![0u8; len.min(space)];
    // A file is read at off_in or its offset (moved by what the pipe
    // took); anything else (a socket) as a read would.
    let read_at = in_at.or(in_node.map(|_| in_offset));
    let n = match read_file(&input, &mut buf, read_at)? {
        Io::Done(n) => n,
        Io::Wait(reason) => return wait(ctx, &input, reason),
    };
    let written = match write_file(&output, &buf[..n], None).map_err(|e| broken_pipe(ctx, e))? {
        Io::Done(written) => written,
        Io::Wait(reason) => return wait(ctx, &output, reason),
    };
    if read_at.is_some() {
        advance(ctx, &input, a[1], in_at, written)?;
    }
    Ok(written as u64)
}

fn make_pipe(ctx: &mut Ctx<'_>, addr: u64, flags: u64) -> SysResult {
    let known = OpenFlags::O_CLOEXEC | OpenFlags::O_NONBLOCK | OpenFlags::O_DIRECT;
    if flags & !known.bits() as u64 != 0 {
        return Err(Errno::EINVAL);
    }
    let cloexec = flags & OpenFlags::O_CLOEXEC.bits() as u64 != 0;
    let nonblock = flags & OpenFlags::O_NONBLOCK.bits() as u64 != 0;
    let (read, write) = fs::new_pipe(nonblock);
    let rfd = ctx.process.files.insert(read, cloexec)?;
    let wfd = match ctx.process.files.insert(write, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.process.files.remove(rfd);
            return Err(e);
        }
    };
    let mut fds = [0u8; 8];
    fds[..4].copy_from_slice(&rfd.to_le_bytes());
    fds[4..].copy_from_slice(&wfd.to_le_bytes());
    if let Err(e) = ctx.process.memory.write(addr, &fds) {
        let _ = ctx.process.files.remove(rfd);
        let _ = ctx.process.files.remove(wfd);
        return Err(e);
    }
    Ok(0)
}

pub fn sys_pipe(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], 0)
}

pub fn sys_pipe2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], a[1])
}

/// The inode a path (or, with an empty path and AT_EMPTY_PATH, `dirfd`) names.
fn inode_at(ctx: &mut Ctx<'_>, dirfd: i32, path_addr: u64, follow: bool) -> Result<InodeId, Errno> {
    let path = path_arg(ctx, path_addr)?;
    let base = base_dir(ctx, dirfd, &path)?;
    fs::with(|fs| fs.lookup(base, &path, follow))
}

fn inode_of_fd(ctx: &Ctx<'_>, fd: i32) -> Result<InodeId, Errno> {
    file(ctx, fd)?.lock().kind.node().ok_or(Errno::EINVAL)
}

pub fn sys_chmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_at(ctx, AT_FDCWD, a[0], true)?;
    fs::with(|fs| fs.set_mode(id, a[1] as u32 & 0o7777))?;
    Ok(0)
}

pub fn sys_fchmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_of_fd(ctx, fd_of(a[0]))?;
    fs::with(|fs| fs.set_mode(id, a[1] as u32 & 0o7777))?;
    Ok(0)
}

pub fn sys_fchmodat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_at(ctx, fd_of(a[0]), a[1], true)?;
    fs::with(|fs| fs.set_mode(id, a[2] as u32 & 0o7777))?;
    Ok(0)
}

fn chown_id(id: InodeId, uid: u64, gid: u64) -> SysResult {
    fs::with(|fs| {
        let meta = fs.metadata(id)?;
        let uid = if uid as u32 == u32::MAX { meta.uid } else { uid as u32 };
        let gid = if gid as u32 == u32::MAX { meta.gid } else { gid as u32 };
        fs.set_owner(id, uid, gid)
    })?;
    Ok(0)
}

pub fn sys_chown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_at(ctx, AT_FDCWD, a[0], true)?;
    chown_id(id, a[1], a[2])
}

pub fn sys_lchown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_at(ctx, AT_FDCWD, a[0], false)?;
    chown_id(id, a[1], a[2])
}

pub fn sys_fchown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_of_fd(ctx, fd_of(a[0]))?;
    chown_id(id, a[1], a[2])
}

pub fn sys_fchownat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let flags = AtFlags::from_raw_within(a[4], AtFlags::AT_SYMLINK_NOFOLLOW | AtFlags::AT_EMPTY_PATH)?;
    let id = inode_at(ctx, fd_of(a[0]), a[1], !flags.contains(AtFlags::AT_SYMLINK_NOFOLLOW))?;
    chown_id(id, a[2], a[3])
}

fn truncate_id(id: InodeId, len: u64) -> SysResult {
    if (len as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    fs::with(|fs| {
        // Growth is charged to the processes' share of memory, as for write.
        let size = fs.metadata(id)?.size;
        if len > size && !crate::mm::heap_room_for_user(len.saturating_sub(size) as usize) {
            return Err(Errno::ENOSPC);
        }
        fs.truncate(id, len)?;
        crate::mm::shared::file_truncated(id, len);
        Ok(())
    })?;
    Ok(0)
}

/// fallocate: mode 0 makes the file at least `offset + len` long (zeros),
/// FALLOC_FL_KEEP_SIZE reserves (nothing to do for a memory file system);
/// other modes are EOPNOTSUPP. Linux's checks, in its order: EINVAL for a
/// negative offset or a length <= 0, EOPNOTSUPP, EBADF unless open for writing,
/// ESPIPE for a pipe or FIFO, ENODEV for anything but a regular file,
/// EFBIG past the largest file, ENOSPC when memory is short.
pub fn sys_fallocate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const FALLOC_FL_KEEP_SIZE: u32 = 1;
    let (mode, offset, len) = (a[1] as u32, a[2] as i64, a[3] as i64);
    let file = file(ctx, fd_of(a[0]))?;
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !FALLOC_FL_KEEP_SIZE != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let open = file.lock();
    if !fs::can_write(open.flags) {
        return Err(Errno::EBADF);
    }
    let id = match &open.kind {
        FileKind::Pipe { .. } => return Err(Errno::ESPIPE),
        FileKind::Node(id) => *id,
        _ => return Err(Errno::ENODEV),
    };
    drop(open);
    let end = (offset as u64).checked_add(len as u64).filter(|&e| e <= vfs::MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
    fs::with(|fs| {
        let meta = fs.metadata(id)?;
        match meta.kind {
            NodeKind::File => {}
            NodeKind::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::ENODEV),
        }
        if mode & FALLOC_FL_KEEP_SIZE != 0 || end <= meta.size {
            return Ok(());
        }
        if !crate::mm::heap_room_for_user(end.max(meta.size.saturating_mul(2)) as usize) {
            return Err(Errno::ENOSPC);
        }
        fs.truncate(id, end)
    })?;
    Ok(0)
}

pub fn sys_truncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let id = inode_at(ctx, AT_FDCWD, a[0], true)?;
    fs::with(|fs| fs.check_access(id, vfs::MAY_WRITE))?;
    truncate_id(id, a[1])
}

/// fsync and fdatasync: a volume's file is flushed on the host (Tfsync);
/// one in memory is as durable as it gets once written. The checks are
/// Linux's: EBADF for a bad or O_PATH descriptor, EINVAL for what has no
/// storage to flush to (pipes, sockets, character devices, the console,
/// /proc, epoll).
fn fsync_fd(ctx: &mut Ctx<'_>, fd: i32, data_only: bool) -> SysResult {
    let file = file(ctx, fd)?;
    let open = file.lock();
    if fs::is_path_only(open.flags) {
        return Err(Errno::EBADF);
    }
    match open.kind.node() {
        Some(id) => fs::with(|fs| match fs.device(id) {
            Some(_) => Err(Errno::EINVAL),
            None => fs.fsync(id, data_only).map(|()| 0),
        }),
        _ => Err(Errno::EINVAL),
    }
}

pub fn sys_fsync(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    fsync_fd(ctx, fd_of(a[0]), false)
}

pub fn sys_fdatasync(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    fsync_fd(ctx, fd_of(a[0]), true)
}

/// sync: nothing is ever waiting to be written back.
pub fn sys_sync(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// syncfs: EBADF for a bad descriptor, otherwise nothing to write back.
pub fn sys_syncfs(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    file(ctx, fd_of(a[0]))?;
    Ok(0)
}

/// eventfd2(initval, flags): a counter file (process::EventCounter);
/// EFD_SEMAPHORE, EFD_NONBLOCK and EFD_CLOEXEC, anything else EINVAL.
pub fn sys_eventfd2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const EFD_SEMAPHORE: u32 = 1;
    let flags = a[1] as u32;
    let (cloexec, nonblock) = (OpenFlags::O_CLOEXEC.bits(), OpenFlags::O_NONBLOCK.bits());
    if flags & !(EFD_SEMAPHORE | cloexec | nonblock) != 0 {
        return Err(Errno::EINVAL);
    }
    let counter = process::EventCounter::new(a[0] as u32, flags & EFD_SEMAPHORE != 0);
    let file = fs::open_file(FileKind::EventFd(alloc::sync::Arc::new(spin::Mutex::new(counter))), 2 | (flags & nonblock));
    Ok(ctx.process.files.insert(file, flags & cloexec != 0)? as u64)
}

/// eventfd(initval): eventfd2 without flags.
/// memfd_create(name, flags): an anonymous regular file (`vfs::Fs::create_anonymous`),
/// open for reading and writing, shown as `/memfd:NAME (deleted)`.
/// MFD_HUGETLB (with its page-size bits) gives an ordinary one, as mmap's
/// MAP_HUGETLB changes nothing; a name over 249 bytes or another flag is EINVAL.
pub fn sys_memfd_create(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const MFD_CLOEXEC: u32 = 1;
    const MFD_ALLOW_SEALING: u32 = 2;
    const MFD_HUGETLB: u32 = 4;
    /// MFD_HUGE_SHIFT 26, six bits of log2 of the page size.
    const MFD_HUGE_MASK: u32 = 0x3f << 26;
    /// NAME_MAX less "memfd:".
    const NAME_MAX_LEN: usize = 249;
    let flags = a[1] as u32;
    let known = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB;
    if flags & !known != 0 && (flags & MFD_HUGETLB == 0 || flags & !(known | MFD_HUGE_MASK) != 0) {
        return Err(Errno::EINVAL);
    }
    let name = ctx.process.memory.read_cstr(a[0], NAME_MAX_LEN.saturating_add(1))?;
    if name.len() > NAME_MAX_LEN {
        return Err(Errno::EINVAL);
    }
    let mut shown = b"memfd:".to_vec();
    shown.extend_from_slice(&name);
    let id = fs::with(|fs| fs.create_anonymous(&shown, 0o777, flags & MFD_ALLOW_SEALING != 0))?;
    // O_RDWR | O_LARGEFILE, as Linux's F_GETFL shows it.
    let open = fs::open_file(FileKind::Node(id), 2 | OpenFlags::O_LARGEFILE.bits());
    Ok(ctx.process.files.insert(open, flags & MFD_CLOEXEC != 0)? as u64)
}

pub fn sys_eventfd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    sys_eventfd2(ctx, [a[0], 0, 0, 0, 0, 0])
}

pub fn sys_ftruncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let file = file(ctx, fd_of(a[0]))?;
    let open = file.lock();
    if !fs::can_write(open.flags) {
        return Err(Errno::EINVAL);
    }
    let id = open.kind.node().ok_or(Errno::EINVAL)?;
    drop(open);
    truncate_id(id, a[1])
}

/// rename/renameat/renameat2; with `no_replace` (RENAME_NOREPLACE) an
/// existing new name is EEXIST, after the old name's own errors, as Linux.
fn rename_at(ctx: &mut Ctx<'_>, old_dir: i32, old_addr: u64, new_dir: i32, new_addr: u64, no_replace: bool) -> SysResult {
    let old = path_arg(ctx, old_addr)?;
    let new = path_arg(ctx, new_addr)?;
    let old_base = base_dir(ctx, old_dir, &old)?;
    let new_base = base_dir(ctx, new_dir, &new)?;
    fs::with(|fs| {
        let (old_parent, old_name) = fs.lookup_parent(old_base, &old)?;
        let (new_parent, new_name) = fs.lookup_parent(new_base, &new)?;
        if no_replace {
            fs.lookup(old_base, &old, false)?;
            if fs.lookup(new_base, &new, false).is_ok() {
                return Err(Errno::EEXIST);
            }
        }
        fs.rename(old_parent, old_name, new_parent, new_name)
    })?;
    Ok(0)
}

pub fn sys_rename(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    rename_at(ctx, AT_FDCWD, a[0], AT_FDCWD, a[1], false)
}

pub fn sys_renameat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    rename_at(ctx, fd_of(a[0]), a[1], fd_of(a[2]), a[3], false)
}

/// renameat2: RENAME_NOREPLACE; RENAME_EXCHANGE and RENAME_WHITEOUT are
/// EINVAL, what Linux answers on a file system without them (and for
/// unknown flags, or EXCHANGE with either other flag).
pub fn sys_renameat2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const RENAME_NOREPLACE: u64 = 1;
    let flags = u64::from(a[4] as u32);
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(Errno::EINVAL);
    }
    rename_at(ctx, fd_of(a[0]), a[1], fd_of(a[2]), a[3], flags == RENAME_NOREPLACE)
}

fn symlink_at(ctx: &mut Ctx<'_>, target_addr: u64, dirfd: i32, path_addr: u64) -> SysResult {
    let target = path_arg(ctx, target_addr)?;
    let path = path_arg(ctx, path_addr)?;
    let base = base_dir(ctx, dirfd, &path)?;
    fs::with(|fs| {
        let (parent, name) = fs.lookup_parent(base, &path)?;
        let id = fs.symlink(parent, name, &target)?;
        let _ = id;
        Ok::<(), Errno>(())
    })?;
    Ok(0)
}

pub fn sys_symlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    symlink_at(ctx, a[0], AT_FDCWD, a[1])
}

pub fn sys_symlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    symlink_at(ctx, a[0], fd_of(a[1]), a[2])
}

/// link/linkat: a second name for an existing inode. The old path's last
/// symlink is not followed unless AT_SYMLINK_FOLLOW (as Linux's `link`);
/// with AT_EMPTY_PATH and an empty old path the inode is `olddirfd`'s.
/// /proc is another file system: EXDEV.
fn link_at(ctx: &mut Ctx<'_>, old_dir: i32, old_addr: u64, new_dir: i32, new_addr: u64, flags: AtFlags) -> SysResult {
    let old_raw = ctx.process.memory.read_cstr(old_addr, PATH_MAX)?;
    let id = if old_raw.is_empty() && flags.contains(AtFlags::AT_EMPTY_PATH) {
        if old_dir == AT_FDCWD {
            ctx.process.cwd
        } else {
            inode_of_fd(ctx, old_dir).map_err(|e| if e == Errno::EINVAL { Errno::EXDEV } else { e })?
        }
    } else {
        let old = path_arg(ctx, old_addr)?;
        if procfs::is_proc(&old) {
            return Err(Errno::EXDEV);
        }
        let base = base_dir(ctx, old_dir, &old)?;
        fs::with(|fs| fs.lookup(base, &old, flags.contains(AtFlags::AT_SYMLINK_FOLLOW)))?
    };
    let new = path_arg(ctx, new_addr)?;
    if procfs::is_proc(&new) {
        return Err(Errno::EXDEV);
    }
    let base = base_dir(ctx, new_dir, &new)?;
    fs::with(|fs| {
        if fs.metadata(id)?.kind == NodeKind::Directory {
            return Err(Errno::EPERM);
        }
        // A trailing slash names a directory, which a new link cannot be.
        if new.last() == Some(&b'/') {
            return Err(if fs.lookup(base, &new, false).is_ok() { Errno::EEXIST } else { Errno::ENOENT });
        }
        let (parent, name) = fs.lookup_parent(base, &new)?;
        fs.link(id, parent, name)
    })?;
    Ok(0)
}

pub fn sys_link(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    link_at(ctx, AT_FDCWD, a[0], AT_FDCWD, a[1], AtFlags::empty())
}

pub fn sys_linkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let flags = AtFlags::from_raw_within(u64::from(a[4] as u32), AtFlags::AT_SYMLINK_FOLLOW | AtFlags::AT_EMPTY_PATH)?;
    link_at(ctx, fd_of(a[0]), a[1], fd_of(a[2]), a[3], flags)
}

/// Which file a utimensat-family call changes.
enum TimesTarget {
    /// A path from a directory (`AT_FDCWD` or a descriptor), followed or not.
    Path { dirfd: i32, path_addr: u64, follow: bool, empty_ok: bool },
    /// A descriptor's file (utimensat and futimesat with a NULL path).
    Fd(i32),
}

/// Sets `times` on the file `target` names, with Linux's rules
/// (`vfs_utimes`): both times now is a "touch", allowed to the owner and
/// to whoever may write the file (EACCES); any other request is the
/// owner's or a privileged caller's (EPERM). The change time becomes now.
fn set_file_times(ctx: &mut Ctx<'_>, target: TimesTarget, times: syscall::time::FileTimes) -> SysResult {
    use syscall::time::FileTime;
    let id = match target {
        TimesTarget::Fd(fd) => inode_of_fd(ctx, fd)?,
        TimesTarget::Path { dirfd, path_addr, follow, empty_ok } => {
            let path = ctx.process.memory.read_cstr(path_addr, PATH_MAX)?;
            match (path.is_empty(), empty_ok) {
                (true, false) => return Err(Errno::ENOENT),
                (true, true) if dirfd == AT_FDCWD => ctx.process.cwd,
                (true, true) => inode_of_fd(ctx, dirfd)?,
                (false, _) => {
                    let base = base_dir(ctx, dirfd, &path)?;
                    fs::with(|fs| fs.lookup(base, &path, follow))?
                }
            }
        }
    };
    let change = |time: FileTime| match time {
        FileTime::Omit => None,
        FileTime::Now => Some(vfs::TimeChange::Now),
        FileTime::At { secs, nsecs } => Some(vfs::TimeChange::At(vfs::Timestamp { secs, nsecs })),
    };
    // Both UTIME_OMIT: nothing to change and nothing checked, once the
    // file is found (as Linux answers).
    if times.atime == FileTime::Omit && times.mtime == FileTime::Omit {
        return Ok(0);
    }
    fs::with(|fs| {
        if !times.is_touch() {
            fs.check_owner(id)?;
        } else if fs.check_owner(id).is_err() && !fs.permits(id, vfs::MAY_WRITE)? {
            return Err(Errno::EACCES);
        }
        fs.set_times(id, change(times.atime), change(times.mtime))
    })?;
    Ok(0)
}

/// utimensat(dirfd, path, times, flags); a NULL path names `dirfd` itself
/// (futimens), where no flag is allowed.
pub fn sys_utimensat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let times = if a[2] == 0 {
        syscall::time::FileTimes::NOW
    } else {
        let mut raw = [0u8; 2 * syscall::Timespec::SIZE];
        ctx.process.memory.read(a[2], &mut raw)?;
        let (atime, mtime) = raw.split_at(syscall::Timespec::SIZE);
        let at = |half: &[u8]| half.try_into().map(syscall::Timespec::from_bytes).map_err(|_| Errno::EINVAL);
        syscall::time::FileTimes::from_timespecs(&[at(atime)?, at(mtime)?])?
    };
    let flags = AtFlags::from_raw_within(u64::from(a[3] as u32), AtFlags::AT_SYMLINK_NOFOLLOW | AtFlags::AT_EMPTY_PATH)?;
    let dirfd = fd_of(a[0]);
    let target = match a[1] {
        0 if dirfd == AT_FDCWD => return Err(Errno::EFAULT),
        0 if !flags.is_empty() => return Err(Errno::EINVAL),
        0 => TimesTarget::Fd(dirfd),
        path_addr => TimesTarget::Path {
            dirfd,
            path_addr,
            follow: !flags.contains(AtFlags::AT_SYMLINK_NOFOLLOW),
            empty_ok: flags.contains(AtFlags::AT_EMPTY_PATH),
        },
    };
    set_file_times(ctx, target, times)
}

/// futimesat(dirfd, path, timeval[2]): microseconds; a NULL array is now,
/// a NULL path `dirfd` itself.
pub fn sys_futimesat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let times = if a[2] == 0 {
        syscall::time::FileTimes::NOW
    } else {
        let mut raw = [0u8; 2 * syscall::Timeval::SIZE];
        ctx.process.memory.read(a[2], &mut raw)?;
        let (atime, mtime) = raw.split_at(syscall::Timeval::SIZE);
        let at = |half: &[u8]| half.try_into().map(syscall::Timeval::from_bytes).map_err(|_| Errno::EINVAL);
        syscall::time::FileTimes::from_timevals(&[at(atime)?, at(mtime)?])?
    };
    let dirfd = fd_of(a[0]);
    let target = match a[1] {
        0 if dirfd == AT_FDCWD => return Err(Errno::EFAULT),
        0 => TimesTarget::Fd(dirfd),
        path_addr => TimesTarget::Path { dirfd, path_addr, follow: true, empty_ok: false },
    };
    set_file_times(ctx, target, times)
}

/// utimes(path, timeval[2]): futimesat from the working directory.
pub fn sys_utimes(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    sys_futimesat(ctx, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

/// utime(path, utimbuf): whole seconds; a NULL buffer is now.
pub fn sys_utime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let times = if a[1] == 0 {
        syscall::time::FileTimes::NOW
    } else {
        let mut raw = [0u8; 16];
        ctx.process.memory.read(a[1], &mut raw)?;
        let (actime, modtime) = raw.split_at(8);
        let secs = |half: &[u8]| half.try_into().map(i64::from_le_bytes).map_err(|_| Errno::EINVAL);
        syscall::time::FileTimes::from_utimbuf(secs(actime)?, secs(modtime)?)
    };
    set_file_times(ctx, TimesTarget::Path { dirfd: AT_FDCWD, path_addr: a[0], follow: true, empty_ok: false }, times)
}

/// The file an xattr call names: `a[0]` a path (followed or not) or a
/// descriptor. Its errors (ENOENT, EBADF, EFAULT...) come first, as on Linux.
fn xattr_target(ctx: &mut Ctx<'_>, a: &[u64; 6], by: XattrBy) -> Result<(), Errno> {
    match by {
        XattrBy::Path { follow } => inode_at(ctx, AT_FDCWD, a[0], follow).map(drop),
        XattrBy::Fd => file(ctx, fd_of(a[0])).map(drop),
    }
}

#[derive(Clone, Copy)]
pub enum XattrBy {
    Path { follow: bool },
    Fd,
}

/// get/lget/fgetxattr: the file system stores no extended attributes, so
/// every name is ENODATA (what Linux answers for an attribute not set),
/// once the file is found.
pub fn xattr_get(ctx: &mut Ctx<'_>, a: [u64; 6], by: XattrBy) -> SysResult {
    xattr_target(ctx, &a, by)?;
    Err(Errno::ENODATA)
}

/// list/llist/flistxattr: an empty list (length 0).
pub fn xattr_list(ctx: &mut Ctx<'_>, a: [u64; 6], by: XattrBy) -> SysResult {
    xattr_target(ctx, &a, by)?;
    Ok(0)
}

/// set/lset/fsetxattr: EOPNOTSUPP, as on a file system without xattrs.
pub fn xattr_set(ctx: &mut Ctx<'_>, a: [u64; 6], by: XattrBy) -> SysResult {
    xattr_target(ctx, &a, by)?;
    Err(Errno::EOPNOTSUPP)
}

/// remove/lremove/fremovexattr: nothing is set, so ENODATA.
pub fn xattr_remove(ctx: &mut Ctx<'_>, a: [u64; 6], by: XattrBy) -> SysResult {
    xattr_target(ctx, &a, by)?;
    Err(Errno::ENODATA)
}

pub fn sys_getxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_get(ctx, a, XattrBy::Path { follow: true }) }
pub fn sys_lgetxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_get(ctx, a, XattrBy::Path { follow: false }) }
pub fn sys_fgetxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_get(ctx, a, XattrBy::Fd) }
pub fn sys_listxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_list(ctx, a, XattrBy::Path { follow: true }) }
pub fn sys_llistxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_list(ctx, a, XattrBy::Path { follow: false }) }
pub fn sys_flistxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_list(ctx, a, XattrBy::Fd) }
pub fn sys_setxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_set(ctx, a, XattrBy::Path { follow: true }) }
pub fn sys_lsetxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_set(ctx, a, XattrBy::Path { follow: false }) }
pub fn sys_fsetxattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_set(ctx, a, XattrBy::Fd) }
pub fn sys_removexattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_remove(ctx, a, XattrBy::Path { follow: true }) }
pub fn sys_lremovexattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_remove(ctx, a, XattrBy::Path { follow: false }) }
pub fn sys_fremovexattr(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult { xattr_remove(ctx, a, XattrBy::Fd) }
