//! Pseudo-terminals (Unix 98, as Linux's devpts): each open of /dev/ptmx
//! makes a pair, the description opened is its master, and the slave is
//! `/dev/pts/N` (char 136:N) until the master closes. The pair's line
//! discipline (termios, echo, canonical lines, signal characters) is
//! `process::tty`; this module keeps the pairs, their /dev/pts nodes, the
//! controlling-terminal facts (session, foreground group), and what the
//! close of either side does.
//!
//! - A new pair's slave is locked (`TIOCSPTLCK`): opening it is EIO until
//!   `unlockpt`. `TIOCGPTN` gives N (`ptsname`), `TIOCGPTPEER` opens the
//!   slave from the master (glibc's `openpty`).
//! - Blocking: readers and writers of either side wait on
//!   `BlockOn::Pipe(id)` (so poll and epoll see its changes too); every
//!   change wakes them all.
//! - The master's close hangs the pair up: the slave reads end of file and
//!   writes are EIO, the foreground group gets SIGHUP and SIGCONT, and
//!   /dev/pts/N goes. Once every slave description has closed, the master
//!   reads EIO when the output is drained (Linux's `TTY_OTHER_CLOSED`).
//! - One termios: TCGETS and TCSETS on the master are the slave's, as on
//!   Linux (whose master side also has a line discipline, always raw for
//!   what matters here: no echo, no processing).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::sync::Arc;

use process::tty::LineDiscipline;
use spin::Mutex;
use syscall::{Errno, Winsize};

/// Most pairs at once (Linux's default `kernel.pty.max` is 4096).
pub const PTY_MAX: u32 = 4096;

/// One master/slave pair.
pub struct Pty {
    pub index: u32,
    pub ldisc: LineDiscipline,
    pub winsize: Winsize,
    /// `TIOCSPTLCK`: the slave may not be opened (EIO).
    pub locked: bool,
    pub master_open: bool,
    /// Open descriptions of the slave.
    pub slave_opens: usize,
    /// The slave was opened once: a master read with none left is EIO.
    pub slave_was_opened: bool,
    /// The session whose controlling terminal this is, and its foreground
    /// process group.
    pub session: Option<u32>,
    pub pgrp: Option<u32>,
    /// The /dev/pts/N node (owned by the master's opener).
    pub node: Option<vfs::InodeId>,
}

pub type PtyRef = Arc<Mutex<Pty>>;

impl Pty {
    /// The master reads EIO: no slave is open any more and nothing is left.
    pub fn master_sees_hangup(&self) -> bool {
        self.slave_was_opened && self.slave_opens == 0
    }
}

/// Live pairs by index.
static PTYS: Mutex<BTreeMap<u32, PtyRef>> = Mutex::new(BTreeMap::new());

/// What waiters on a pair block on (`BlockOn::Pipe`).
pub fn wait_id(pty: &PtyRef) -> usize {
    Arc::as_ptr(pty) as *const () as usize
}

/// Wakes whoever waits on either side of `pty` (and pollers).
pub fn wake(pty: &PtyRef) {
    crate::proc::sched::wake_all(crate::proc::BlockOn::Pipe(wait_id(pty)));
}

/// One open description of a side of a pair; dropping it is that
/// description's close.
pub struct PtyEnd {
    pub pty: PtyRef,
    pub master: bool,
}

impl Drop for PtyEnd {
    fn drop(&mut self) {
        let (index, node, pgrp) = {
            let mut pty = self.pty.lock();
            if !self.master {
                pty.slave_opens = pty.slave_opens.saturating_sub(1);
                drop(pty);
                wake(&self.pty);
                return;
            }
            pty.master_open = false;
            let pgrp = pty.pgrp.take();
            pty.session = None;
            (pty.index, pty.node.take(), pgrp)
        };
        PTYS.lock().remove(&index);
        wake(&self.pty);
        // The hangup: SIGHUP (then SIGCONT) to the foreground group, as
        // Linux's tty_vhangup does for a controlling terminal.
        if let Some(pgrp) = pgrp {
            for signal in [syscall::Signal::SIGHUP.number(), syscall::Signal::SIGCONT.number()] {
                let mut info = syscall::SigInfo::kill(signal as i32, 0, 0);
                info.code = syscall::SI_KERNEL;
                crate::proc::signal::send_to_group(pgrp, process::Pid::new(0), signal, info);
            }
        }
        if let Some(node) = node {
            remove_node(index, node);
        }
    }
}

/// Unlinks /dev/pts/`index` if it is still `node` (as the kernel: whoever
/// closes the master may not write /dev/pts). The file system may be in
/// use by the closer (a close inside a call that holds it): then the node
/// stays until the index is used again ([`open_master`] replaces it).
fn remove_node(index: u32, node: vfs::InodeId) {
    let name = format!("{index}");
    let _ = crate::fs::try_with(|fs| {
        let served = fs.swap_identity(None);
        if let Ok(pts) = fs.lookup(vfs::ROOT, b"/dev/pts", true)
            && fs.lookup(pts, name.as_bytes(), false) == Ok(node)
            && fs.unlink(pts, name.as_bytes()).is_ok()
        {
            crate::fs::forget_if_unused(fs, node);
        }
        fs.swap_identity(served);
    });
}

/// open("/dev/ptmx"): a new pair, locked, its slave /dev/pts/N owned by
/// the opener (`uid`, `gid`), mode 0620; the master's description. ENOSPC
/// when [`PTY_MAX`] pairs exist.
pub fn open_master(uid: u32, gid: u32) -> Result<PtyEnd, Errno> {
    let pty = {
        let mut ptys = PTYS.lock();
        let index = (0..PTY_MAX).find(|i| !ptys.contains_key(i)).ok_or(Errno::ENOSPC)?;
        let pty = Arc::new(Mutex::new(Pty {
            index,
            ldisc: LineDiscipline::new(),
            winsize: Winsize::default(),
            locked: true,
            master_open: true,
            slave_opens: 0,
            slave_was_opened: false,
            session: None,
            pgrp: None,
            node: None,
        }));
        ptys.insert(index, pty.clone());
        pty
    };
    let index = pty.lock().index;
    let name = format!("{index}");
    let made = crate::fs::with(|fs| {
        let served = fs.swap_identity(None);
        let made = (|| {
            let pts = fs.lookup(vfs::ROOT, b"/dev/pts", true)?;
            // A node left by a master closed while the file system was busy.
            if let Ok(stale) = fs.lookup(pts, name.as_bytes(), false) {
                fs.unlink(pts, name.as_bytes())?;
                crate::fs::forget_if_unused(fs, stale);
            }
            let node = fs.mknod(pts, name.as_bytes(), vfs::Device::PtySlave(index), 0o620)?;
            fs.set_owner(node, uid, gid)?;
            Ok::<_, Errno>(node)
        })();
        fs.swap_identity(served);
        made
    });
    match made {
        Ok(node) => pty.lock().node = Some(node),
        Err(error) => {
            PTYS.lock().remove(&index);
            return Err(error);
        }
    }
    Ok(PtyEnd { pty, master: true })
}

/// open("/dev/pts/N") (or TIOCGPTPEER): the slave's description. EIO while
/// the pair is locked or once its master is gone (the name may outlive it
/// for a moment).
pub fn open_slave(index: u32) -> Result<PtyEnd, Errno> {
    let pty = PTYS.lock().get(&index).cloned().ok_or(Errno::EIO)?;
    {
        let mut p = pty.lock();
        if p.locked || !p.master_open {
            return Err(Errno::EIO);
        }
        p.slave_opens = p.slave_opens.saturating_add(1);
        p.slave_was_opened = true;
    }
    wake(&pty);
    Ok(PtyEnd { pty, master: false })
}

/// The pair whose controlling terminal session `sid` has, if any.
pub fn controlling(sid: u32) -> Option<PtyRef> {
    PTYS.lock().values().find(|p| p.lock().session == Some(sid)).cloned()
}
