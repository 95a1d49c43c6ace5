//! The root file system (the initramfs, unpacked into a writable in-memory
//! `vfs::Fs` with `/dev/null`, `/dev/zero`, `/dev/console`) and open files.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use process::Pipe;
use spin::Mutex;
use syscall::Errno;
use vfs::{Fs, InodeId};

static FS: Mutex<Option<Fs>> = Mutex::new(None);

/// Unpacks the initramfs (if any) as the root file system and adds the
/// devices. Files keep their bytes in the archive (which stays reserved for
/// good) until written: nothing is copied at boot, and the page cache maps
/// the archive's pages in place (`mm::pagecache`).
pub fn init(initramfs: Option<(&'static [u8], paging::PhysAddr)>) -> Result<(), &'static str> {
    let mut fs = match initramfs {
        Some((archive, phys)) => {
            crate::mm::pagecache::set_archive(archive, phys);
            Fs::from_cpio_in_place(archive).map_err(|_| "the initramfs is not a valid cpio (newc) archive")?
        }
        None => Fs::new(),
    };
    fs.add_standard_devices().map_err(|_| "cannot create /dev")?;
    fs.set_clock_source(|| vfs::Timestamp::from_ns(crate::time::realtime_ns()));
    *FS.lock() = Some(fs);
    Ok(())
}

/// The mounted volumes: (mount tag, guest path), for /proc/mounts.
static VOLUMES: Mutex<alloc::vec::Vec<(alloc::string::String, alloc::string::String)>> = Mutex::new(alloc::vec::Vec::new());

/// The mounted volumes, in mount order: (mount tag, guest path).
pub fn volumes() -> alloc::vec::Vec<(alloc::string::String, alloc::string::String)> {
    VOLUMES.lock().clone()
}

/// Largest 9P message: a read or write moves up to this much per request.
const VOLUME_MSIZE: u32 = 128 * 1024;

/// Mounts the volumes the command line names (`volume=TAG:PATH`): the
/// virtio-9p device whose mount tag is TAG, at PATH (made if missing).
/// A volume whose device is missing or will not attach is a boot failure:
/// a program that expects its data there must not run without it.
pub fn mount_volumes<'a>(volumes: impl Iterator<Item = (&'a str, &'a str)>) -> Result<(), alloc::string::String> {
    use alloc::format;
    let volumes: alloc::vec::Vec<_> = volumes.collect();
    if volumes.is_empty() {
        return Ok(());
    }
    let mut channels: alloc::vec::Vec<_> = crate::arch::virtio::find_all(virtio_drivers::transport::DeviceType::_9P)
        .into_iter()
        .filter_map(|found| match crate::arch::virtio::NinePChannel::new(found.transport) {
            Ok(channel) => Some(channel),
            Err(e) => {
                log::warn!("virtio-9p in slot {}: {e:?}", found.slot);
                None
            }
        })
        .collect();
    for (tag, path) in volumes {
        let at = channels.iter().position(|c| c.mount_tag() == tag).ok_or_else(|| format!("volume {tag}: no virtio-9p device with that mount tag"))?;
        let channel = channels.swap_remove(at);
        let client = ninep::Client::attach(channel, VOLUME_MSIZE, b"", 0).map_err(|e| format!("volume {tag}: the 9P2000.L session failed ({e:?})"))?;
        with(|fs| {
            let mut dir = vfs::ROOT;
            for name in path.as_bytes().split(|&b| b == b'/').filter(|n| !n.is_empty()) {
                dir = match fs.lookup(dir, name, true) {
                    Ok(id) => id,
                    Err(Errno::ENOENT) => fs.mkdir(dir, name, 0o755)?,
                    Err(e) => return Err(e),
                };
            }
            fs.mount(dir, alloc::boxed::Box::new(client)).map(|_| ())
        })
        .map_err(|e| format!("volume {tag}: cannot mount it at {path} ({e:?})"))?;
        log::info!("volume {tag} mounted at {path} (9P2000.L over virtio)");
        VOLUMES.lock().push((tag.into(), path.into()));
    }
    Ok(())
}

/// The identity the file system serves now (`Process::identity_generation`).
static SERVED_IDENTITY: AtomicU64 = AtomicU64::new(0);
/// The next fresh identity generation.
static NEXT_IDENTITY: AtomicU64 = AtomicU64::new(1);

/// A number no identity had before.
pub fn new_identity_generation() -> u64 {
    NEXT_IDENTITY.fetch_add(1, Ordering::Relaxed)
}

/// Serves the file system's next requests as the process whose identity is
/// `generation`: its fs uid and gid, its groups, CAP_DAC_OVERRIDE while its
/// effective capabilities are full and its fs uid is 0 (Linux drops the
/// fs capabilities with a non-zero fsuid). One compare when it is already
/// served (every call of a system call goes through here).
#[inline]
pub fn serve_as(generation: u64, creds: &process::Credentials, groups: &[u32]) {
    if SERVED_IDENTITY.load(Ordering::Relaxed) != generation {
        serve_new_identity(generation, creds, groups);
    }
}

#[cold]
fn serve_new_identity(generation: u64, creds: &process::Credentials, groups: &[u32]) {
    let who = vfs::Identity {
        uid: creds.fsuid,
        gid: creds.fsgid,
        groups: groups.to_vec(),
        privileged: creds.privileged() && creds.fsuid == 0,
    };
    FS.lock().as_mut().expect("file system used before fs::init").set_identity(Some(who));
    SERVED_IDENTITY.store(generation, Ordering::Relaxed);
}

/// Runs `f` on the root file system.
pub fn with<R>(f: impl FnOnce(&mut Fs) -> R) -> R {
    let mut guard = FS.lock();
    let fs = guard.as_mut().expect("file system used before fs::init");
    forget_deferred(fs);
    f(fs)
}

/// [`with`], unless the file system is in use already: a page fault the
/// kernel takes while it holds the lock (it never should) then fails
/// instead of waiting for itself.
pub fn try_with<R>(f: impl FnOnce(&mut Fs) -> R) -> Option<R> {
    let mut guard = FS.try_lock()?;
    let fs = guard.as_mut().expect("file system used before fs::init");
    forget_deferred(fs);
    Some(f(fs))
}

/// What an open file refers to.
#[derive(Clone)]
pub enum FileKind {
    /// The serial console (a terminal); writes go to this stream of it.
    Console(crate::console::Output),
    /// A node of the file system (file, directory, device).
    Node(InodeId),
    /// One end of a pipe.
    Pipe { pipe: Arc<Mutex<Pipe>>, write_end: bool },
    /// A /proc file or directory, generated when opened.
    Proc(Arc<crate::procfs::ProcNode>),
    /// An INET socket (TCP or UDP).
    Socket(Arc<Mutex<crate::net::socket::Socket>>),
    /// One end of a connected AF_UNIX socket pair (socketpair, connect, accept).
    Unix(Arc<UnixEnd>),
    /// An AF_UNIX socket not connected (yet): fresh, bound, listening, or
    /// a datagram socket.
    UnixSocket(Arc<crate::net::unix::UnixSocket>),
    /// An epoll instance.
    Epoll(Arc<Mutex<Epoll>>),
    /// An eventfd's counter.
    EventFd(Arc<Mutex<process::EventCounter>>),
    /// A timerfd's timer (`crate::timerfd`).
    TimerFd(crate::timerfd::TimerRef),
    /// A side of a pseudo-terminal pair (`crate::pty`): dropping the last
    /// clone is the description's close.
    Pty(Arc<crate::pty::PtyEnd>),
}

/// SO_PEERCRED's `struct ucred`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    /// What a socket without a peer reports (Linux: pid 0, ids -1).
    pub const NONE: Ucred = Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX };

    /// A process's: its pid and effective ids.
    pub fn of(process: &crate::proc::Process) -> Ucred {
        Ucred { pid: process.pid.as_u32() as i32, uid: process.creds.euid, gid: process.creds.egid }
    }

    pub fn to_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.pid.to_le_bytes());
        out[4..8].copy_from_slice(&self.uid.to_le_bytes());
        out[8..].copy_from_slice(&self.gid.to_le_bytes());
        out
    }
}

/// One end of a connected AF_UNIX pair (socketpair, or connect and
/// accept): two pipes crossed, this end reading one and writing the other.
pub struct UnixEnd {
    /// SOCK_STREAM, SOCK_DGRAM (socketpair only) or SOCK_SEQPACKET.
    pub ty: u32,
    /// getsockname's and getpeername's answers.
    pub local_name: syscall::net::SunAddr,
    pub peer_name: syscall::net::SunAddr,
    /// SO_PEERCRED: the peer's credentials when the pair was made.
    pub peer_cred: Ucred,
    /// The socket this end was before it connected: held (never read) so
    /// that its name stays bound while the end lives.
    pub _bound: Option<Arc<crate::net::unix::UnixSocket>>,
    pub rx: Arc<Mutex<Pipe>>,
    pub tx: Arc<Mutex<Pipe>>,
    /// SOCK_DGRAM: the lengths of the messages in each pipe, oldest first,
    /// so that a read returns one whole message (None: a byte stream).
    pub rx_messages: Option<Arc<Mutex<alloc::collections::VecDeque<usize>>>>,
    pub tx_messages: Option<Arc<Mutex<alloc::collections::VecDeque<usize>>>>,
    /// SCM_RIGHTS files and senders' credentials in flight in each pipe.
    pub rx_control: Arc<Mutex<crate::net::unix::ControlQueue>>,
    pub tx_control: Arc<Mutex<crate::net::unix::ControlQueue>>,
    /// SO_PASSCRED: recvmsg reports each sender's credentials.
    pub passcred: AtomicBool,
    rx_open: AtomicBool,
    tx_open: AtomicBool,
}

impl UnixEnd {
    /// shutdown(SHUT_WR): the peer reads end-of-file.
    pub fn shutdown_write(&self) {
        if self.tx_open.swap(false, Ordering::Relaxed) {
            self.tx.lock().drop_writer();
            crate::proc::sched::wake_all(crate::proc::BlockOn::Pipe(pipe_id(&self.tx)));
        }
    }

    /// shutdown(SHUT_RD): reads give end-of-file, the peer's writes EPIPE.
    pub fn shutdown_read(&self) {
        if self.rx_open.swap(false, Ordering::Relaxed) {
            self.rx.lock().drop_reader();
            crate::proc::sched::wake_all(crate::proc::BlockOn::Pipe(pipe_id(&self.rx)));
        }
    }

    pub fn can_read(&self) -> bool {
        self.rx_open.load(Ordering::Relaxed)
    }

    pub fn can_write(&self) -> bool {
        self.tx_open.load(Ordering::Relaxed)
    }
}

impl Drop for UnixEnd {
    fn drop(&mut self) {
        self.shutdown_write();
        self.shutdown_read();
        // Files nobody will receive are closed (outside the queue's lock:
        // one may be a socket end with a queue of its own).
        let unread = core::mem::take(&mut *self.rx_control.lock());
        drop(unread);
    }
}

/// Two connected ends of type `ty` (message boundaries kept unless
/// SOCK_STREAM); `names` gives each end's (own name, peer's name, peer's
/// credentials); the first end keeps `bound` alive.
pub fn unix_ends(
    ty: u32,
    names: [(syscall::net::SunAddr, syscall::net::SunAddr, Ucred); 2],
    bound: Option<Arc<crate::net::unix::UnixSocket>>,
) -> (Arc<UnixEnd>, Arc<UnixEnd>) {
    let a_to_b = Arc::new(Mutex::new(Pipe::new()));
    let b_to_a = Arc::new(Mutex::new(Pipe::new()));
    let messages = || (ty != syscall::net::SOCK_STREAM).then(|| Arc::new(Mutex::new(alloc::collections::VecDeque::new())));
    let (a_to_b_messages, b_to_a_messages) = (messages(), messages());
    let (a_to_b_control, b_to_a_control) = (Arc::default(), Arc::default());
    let [a_names, b_names] = names;
    let end = |rx: &Arc<Mutex<Pipe>>,
               tx: &Arc<Mutex<Pipe>>,
               rx_messages: &Option<_>,
               tx_messages: &Option<_>,
               (rx_control, tx_control): (&Arc<Mutex<crate::net::unix::ControlQueue>>, &Arc<Mutex<crate::net::unix::ControlQueue>>),
               (local_name, peer_name, peer_cred): (syscall::net::SunAddr, syscall::net::SunAddr, Ucred),
               bound: Option<Arc<crate::net::unix::UnixSocket>>| {
        Arc::new(UnixEnd {
            ty,
            local_name,
            peer_name,
            peer_cred,
            _bound: bound,
            rx: rx.clone(),
            tx: tx.clone(),
            rx_messages: Option::clone(rx_messages),
            tx_messages: Option::clone(tx_messages),
            rx_control: rx_control.clone(),
            tx_control: tx_control.clone(),
            passcred: AtomicBool::new(false),
            rx_open: AtomicBool::new(true),
            tx_open: AtomicBool::new(true),
        })
    };
    let a = end(&b_to_a, &a_to_b, &b_to_a_messages, &a_to_b_messages, (&b_to_a_control, &a_to_b_control), a_names, bound);
    let b = end(&a_to_b, &b_to_a, &a_to_b_messages, &b_to_a_messages, (&a_to_b_control, &b_to_a_control), b_names, None);
    (a, b)
}

/// socketpair(2): a connected pair of unnamed AF_UNIX sockets of type `ty`,
/// each seeing the creator's credentials as its peer's.
pub fn new_unix_pair(nonblock: bool, ty: u32, cred: Ucred) -> (FileRef, FileRef) {
    use syscall::net::SunAddr::Unnamed;
    let (a, b) = unix_ends(ty, [(Unnamed, Unnamed, cred), (Unnamed, Unnamed, cred)], None);
    let status = 2 | if nonblock { syscall::OpenFlags::O_NONBLOCK.bits() } else { 0 };
    (open_file(FileKind::Unix(a), status), open_file(FileKind::Unix(b), status))
}

/// An epoll instance: what it watches, by descriptor number and open file
/// (as Linux keys it), and the files themselves, held weakly: closing the
/// last descriptor of a file drops it from every interest list.
#[derive(Default)]
pub struct Epoll {
    pub interests: process::epoll::Interests<(i32, usize)>,
    pub files: BTreeMap<(i32, usize), alloc::sync::Weak<Mutex<OpenFile>>>,
}

/// An open file's identity (for epoll keys).
pub fn file_id(file: &FileRef) -> usize {
    Arc::as_ptr(file) as *const () as usize
}

impl FileKind {
    pub fn node(&self) -> Option<InodeId> {
        match self {
            FileKind::Node(id) => Some(*id),
            _ => None,
        }
    }

    pub fn is_console(&self) -> bool {
        matches!(self, FileKind::Console(_))
    }
}

/// The id processes blocked on a pipe wait for.
pub fn pipe_id(pipe: &Arc<Mutex<Pipe>>) -> usize {
    Arc::as_ptr(pipe) as usize
}

/// The pipes of the FIFOs someone has open (or is waiting to open), by inode.
static FIFOS: Mutex<BTreeMap<InodeId, Arc<Mutex<Pipe>>>> = Mutex::new(BTreeMap::new());

/// The pipe behind the FIFO `id`, made at its first open.
pub fn fifo_pipe(id: InodeId) -> Arc<Mutex<Pipe>> {
    FIFOS.lock().entry(id).or_insert_with(|| Arc::new(Mutex::new(Pipe::unopened()))).clone()
}

/// Forgets a FIFO's pipe once no end of it is open: the next open starts
/// empty, as on Linux.
fn forget_fifo_if_unused(pipe: &Arc<Mutex<Pipe>>) {
    let mut fifos = FIFOS.lock();
    if pipe.lock().is_unused() {
        fifos.retain(|_, p| !Arc::ptr_eq(p, pipe));
    }
}

/// A FIFO open that waits for the other side (the process is blocked on
/// the pipe; the open runs again when woken). Its own side is counted
/// already.
pub struct FifoWait {
    pub pipe: Arc<Mutex<Pipe>>,
    pub write: bool,
    /// The other side's open count when this open began.
    pub seen: u64,
    pub flags: u32,
    pub cloexec: bool,
}

impl FifoWait {
    /// Whether the other side has come.
    pub fn may_go(&self) -> bool {
        let pipe = self.pipe.lock();
        if self.write { pipe.fifo_writer_may_go(self.seen) } else { pipe.fifo_reader_may_go(self.seen) }
    }

    /// The open description, its end already counted.
    pub fn into_file(self) -> FileRef {
        open_file(FileKind::Pipe { pipe: self.pipe, write_end: self.write }, self.flags)
    }

    /// The open was interrupted or its process ended: uncount its side.
    pub fn cancel(self) {
        {
            let mut pipe = self.pipe.lock();
            if self.write {
                pipe.drop_writer();
            } else {
                pipe.drop_reader();
            }
        }
        crate::proc::sched::wake_all(crate::proc::BlockOn::Pipe(pipe_id(&self.pipe)));
        forget_fifo_if_unused(&self.pipe);
    }
}

/// A new pipe: its read end and its write end.
pub fn new_pipe(nonblock: bool) -> (FileRef, FileRef) {
    let pipe = Arc::new(Mutex::new(Pipe::new()));
    let status = if nonblock { syscall::OpenFlags::O_NONBLOCK.bits() } else { 0 };
    let read = open_file(FileKind::Pipe { pipe: pipe.clone(), write_end: false }, status);
    let write = open_file(FileKind::Pipe { pipe, write_end: true }, status | 1);
    (read, write)
}

/// An open file description: shared by descriptors made with dup and by
/// children (later), as on Linux.
pub struct OpenFile {
    pub kind: FileKind,
    pub offset: u64,
    /// Access mode and status flags (O_APPEND, O_NONBLOCK, ...), as given to open.
    pub flags: u32,
    /// Never reused: what owns the description's `flock` and OFD locks.
    pub id: u64,
}

static NEXT_DESCRIPTION: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// A reference to an open file description.
pub type FileRef = Arc<Mutex<OpenFile>>;

/// How many open descriptions refer to each inode: an unlinked file lives on
/// until the last one closes, as on Linux.
static OPEN_COUNT: Mutex<BTreeMap<InodeId, usize>> = Mutex::new(BTreeMap::new());

/// Opens a new description.
pub fn open_file(kind: FileKind, flags: u32) -> FileRef {
    if let FileKind::Node(id) = kind {
        *OPEN_COUNT.lock().entry(id).or_insert(0) += 1;
    }
    let id = NEXT_DESCRIPTION.fetch_add(1, Ordering::Relaxed);
    Arc::new(Mutex::new(OpenFile { kind, offset: 0, flags, id }))
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        crate::locks::description_closed(self);
        if let FileKind::Pipe { pipe, write_end } = &self.kind {
            {
                let mut end = pipe.lock();
                // A FIFO opened O_RDWR is both ends at once.
                if *write_end && self.flags & 3 == 2 {
                    end.drop_reader();
                }
                if *write_end {
                    end.drop_writer();
                } else {
                    end.drop_reader();
                }
            }
            crate::proc::sched::wake_all(crate::proc::BlockOn::Pipe(pipe_id(pipe)));
            forget_fifo_if_unused(pipe);
        }
        if let FileKind::Node(id) = self.kind {
            let_go(id);
        }
    }
}

/// A mapping of `id` holds it the way an open description does: an
/// unlinked file's pages stay readable while a process maps them, and its
/// inode number is not reused under the mapping (`proc::memory` faults
/// its pages in from it later).
pub fn hold_mapped(id: InodeId) {
    *OPEN_COUNT.lock().entry(id).or_insert(0) += 1;
}

/// The end of a [`hold_mapped`].
pub fn release_mapped(id: InodeId) {
    let_go(id);
}

/// Inodes whose last holder went while the file system was locked: freed
/// on its next use.
static DEFERRED_FORGET: Mutex<alloc::vec::Vec<InodeId>> = Mutex::new(alloc::vec::Vec::new());
static ANY_DEFERRED: AtomicBool = AtomicBool::new(false);

fn forget_deferred(fs: &mut Fs) {
    if ANY_DEFERRED.swap(false, Ordering::Relaxed) {
        let ids = core::mem::take(&mut *DEFERRED_FORGET.lock());
        for id in ids {
            if !OPEN_COUNT.lock().contains_key(&id) {
                forget_freed(fs, id);
            }
        }
    }
}

/// One holder of `id` (a description or a mapping) less; the last one
/// frees an unlinked file.
fn let_go(id: InodeId) {
    let last = {
        let mut counts = OPEN_COUNT.lock();
        let count = counts.entry(id).or_insert(1);
        *count -= 1;
        let last = *count == 0;
        if last {
            counts.remove(&id);
        }
        last
    };
    if last {
        // A mapping may go while the kernel holds the file system (an exec
        // that fails while loading): then the inode is freed on its next use.
        if try_with(|fs| forget_freed(fs, id)).is_none() {
            DEFERRED_FORGET.lock().push(id);
            ANY_DEFERRED.store(true, Ordering::Relaxed);
        }
    }
}

/// Frees `id` if its last name is gone and no description has it open.
pub fn forget_if_unused(fs: &mut Fs, id: InodeId) {
    if !OPEN_COUNT.lock().contains_key(&id) {
        forget_freed(fs, id);
    }
}

/// Frees `id` if unlinked, and then lets the page cache drop its pages
/// (mappings of them keep theirs, as Linux keeps an unlinked file's pages
/// while they are mapped).
fn forget_freed(fs: &mut Fs, id: InodeId) {
    fs.forget_if_unlinked(id);
    // A volume's file keeps no cached pages once closed: the host may
    // change it before the next open.
    if !fs.exists(id) || fs.is_remote(id) {
        crate::mm::pagecache::forget(id);
    }
}

/// Whether the access mode allows reading / writing.
/// `O_PATH`: a descriptor that only names a file (no reads, no writes).
const O_PATH: u32 = 0o10_000_000;

/// What waiters on an eventfd block on: its own wake-up id (woken like a pipe's).
pub fn eventfd_id(counter: &Arc<Mutex<process::EventCounter>>) -> usize {
    Arc::as_ptr(counter) as usize
}

/// Whether a descriptor was opened with `O_PATH` (it only names a file).
pub fn is_path_only(flags: u32) -> bool {
    flags & O_PATH != 0
}

pub fn can_read(flags: u32) -> bool {
    flags & 3 != 1 && flags & O_PATH == 0
}

pub fn can_write(flags: u32) -> bool {
    flags & 3 != 0 && flags & O_PATH == 0
}

/// A regular file's whole content, as [`read_whole`] gives it.
pub struct WholeFile {
    pub id: InodeId,
    /// The content's generation (`vfs::Fs::generation`), for the page cache.
    pub generation: u64,
    pub bytes: FileBytes,
}

/// A file's bytes: still the archive's (borrowed for good), or a copy.
pub enum FileBytes {
    InPlace(&'static [u8]),
    Copied(alloc::vec::Vec<u8>),
}

impl core::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::InPlace(bytes) => bytes,
            FileBytes::Copied(bytes) => bytes,
        }
    }
}

/// The whole content of a regular file (ELF loading): borrowed from the
/// archive when it is still there, copied otherwise.
pub fn read_whole(cwd: InodeId, path: &[u8]) -> Result<WholeFile, Errno> {
    let id = with(|fs| fs.lookup(cwd, path, true))?;
    read_whole_inode(id)
}

/// [`read_whole`] of the file `id` (already looked up).
pub fn read_whole_inode(id: InodeId) -> Result<WholeFile, Errno> {
    with(|fs| {
        let meta = fs.metadata(id)?;
        if meta.kind == vfs::NodeKind::Directory {
            return Err(Errno::EACCES);
        }
        let generation = fs.generation(id)?;
        let bytes = match fs.file_data_in_place(id) {
            Some(bytes) => FileBytes::InPlace(bytes),
            None => FileBytes::Copied(copy_charged(&fs.file_data(id)?)?),
        };
        Ok(WholeFile { id, generation, bytes })
    })
}

/// A kernel copy of file bytes a process asked for (up to a file's size):
/// ENOMEM instead of an allocation failure, and only if the heap has room
/// without the frame reserve (`mm::heap_room_for_user`).
pub fn copy_charged(data: &[u8]) -> Result<alloc::vec::Vec<u8>, Errno> {
    if !crate::mm::heap_room_for_user(data.len()) {
        return Err(Errno::ENOMEM);
    }
    let mut copy = alloc::vec::Vec::new();
    copy.try_reserve_exact(data.len()).map_err(|_| Errno::ENOMEM)?;
    copy.extend_from_slice(data);
    Ok(copy)
}
