//! Reads, writes, ioctls and readiness of pseudo-terminal descriptors
//! (`crate::pty`, `process::tty`): the master and the slave of a pair.
//!
//! The terminal ioctls, as Linux answers them for a pty: TCGETS/TCSETS
//! (on either side the slave's settings, as Linux's `tty_mode_ioctl`),
//! TCSETSW/TCSETSF (no output to drain; F flushes the input), TCFLSH,
//! TCSBRK/TCXONC (nothing to do), TIOCGWINSZ/TIOCSWINSZ (one size for both
//! sides; a change sends SIGWINCH to the foreground group), TIOCGPTN,
//! TIOCSPTLCK/TIOCGPTLCK (TIOCGPTN included: master only, ENOTTY),
//! TIOCGPTPEER (master only: EIO), TIOCSCTTY,
//! TIOCNOTTY, TIOCGPGRP/TIOCSPGRP, TIOCGSID, TIOCOUTQ (0: a pty has no
//! hardware queue). FIONREAD is the files family's. Others are ENOTTY.

use alloc::sync::Arc;

use process::Pid;
use syscall::{Errno, OpenFlags, Termios, Winsize};

use super::files::Io;
use super::{Ctx, SysResult};
use crate::fs::{self, FileKind};
use crate::proc::{self, BlockOn};
use crate::pty::{self, PtyEnd};

/// Sends `signal` (the kernel's) to process group `pgrp`.
fn signal_group(pgrp: u32, signal: u32) {
    let mut info = syscall::SigInfo::kill(signal as i32, 0, 0);
    info.code = syscall::SI_KERNEL;
    proc::signal::send_to_group(pgrp, Pid::new(0), signal, info);
}

/// A read of either side. The master reads what the slave wrote (EIO once
/// every slave description has closed and nothing is left); the slave
/// reads its input by the line discipline's rules (end of file once the
/// master is gone).
pub(super) fn read(end: &PtyEnd, buf: &mut [u8]) -> Result<Io, Errno> {
    let wait = BlockOn::Pipe(pty::wait_id(&end.pty));
    let mut p = end.pty.lock();
    if buf.is_empty() {
        return Ok(Io::Done(0));
    }
    let n = if end.master {
        let n = p.ldisc.read_output(buf);
        if n == 0 {
            return if p.master_sees_hangup() { Err(Errno::EIO) } else { Ok(Io::Wait(wait)) };
        }
        n
    } else {
        if !p.master_open {
            return Ok(Io::Done(0));
        }
        if !p.ldisc.read_ready(buf.len()) {
            return Ok(Io::Wait(wait));
        }
        p.ldisc.read(buf)
    };
    drop(p);
    pty::wake(&end.pty);
    Ok(Io::Done(n))
}

/// A write of either side: the master's bytes are the slave's input
/// (signal characters signal the foreground group), the slave's are its
/// output (EIO once the master is gone). Waits when nothing fits.
pub(super) fn write(end: &PtyEnd, data: &[u8]) -> Result<Io, Errno> {
    let wait = BlockOn::Pipe(pty::wait_id(&end.pty));
    if data.is_empty() {
        return Ok(Io::Done(0));
    }
    let mut p = end.pty.lock();
    let n = if end.master {
        let input = p.ldisc.input(data);
        if let Some(pgrp) = p.pgrp {
            for signal in input.signals {
                signal_group(pgrp, signal);
            }
        }
        input.accepted
    } else {
        if !p.master_open {
            return Err(Errno::EIO);
        }
        p.ldisc.write(data)
    };
    drop(p);
    if n == 0 {
        return Ok(Io::Wait(wait));
    }
    pty::wake(&end.pty);
    Ok(Io::Done(n))
}

/// poll(2)'s events of either side (POLLIN 1, POLLOUT 4, POLLHUP 0x10).
pub(super) fn readiness(end: &PtyEnd) -> (bool, bool, bool) {
    let p = end.pty.lock();
    if end.master {
        let hangup = p.master_sees_hangup();
        (p.ldisc.output_len() > 0 || hangup, p.ldisc.input_room(), hangup)
    } else {
        let hangup = !p.master_open;
        (p.ldisc.read_ready(1) || hangup, p.ldisc.output_room() || hangup, hangup)
    }
}

/// FIONREAD: the bytes a read gets now.
pub(super) fn available(end: &PtyEnd) -> usize {
    let p = end.pty.lock();
    if end.master { p.ldisc.output_len() } else { p.ldisc.readable_len() }
}

/// The slave of a just opened (or peered) description becomes the
/// session's controlling terminal, as Linux's `tty_open` does: unless
/// O_NOCTTY, for a session leader that has none, and a terminal that is
/// nobody's.
pub(super) fn maybe_controlling(ctx: &Ctx<'_>, end: &PtyEnd, noctty: bool) {
    if end.master || noctty {
        return;
    }
    let me = ctx.process.pid;
    let Some((sid, pgid)) = proc::with_table(|t| t.get(me).map(|e| (e.sid, e.pgid))) else { return };
    if sid != me.as_u32() || pty::controlling(sid).is_some() {
        return;
    }
    let mut p = end.pty.lock();
    if p.session.is_none() {
        p.session = Some(sid);
        p.pgrp = Some(pgid);
    }
}

fn read_int(ctx: &mut Ctx<'_>, addr: u64) -> Result<i32, Errno> {
    let mut raw = [0u8; 4];
    ctx.process.memory.read(addr, &mut raw)?;
    Ok(i32::from_le_bytes(raw))
}

fn write_int(ctx: &mut Ctx<'_>, addr: u64, value: u32) -> SysResult {
    ctx.process.memory.write(addr, &value.to_le_bytes())?;
    Ok(0)
}

/// The caller's session and process group.
fn session_of(ctx: &Ctx<'_>) -> (u32, u32) {
    let me = ctx.process.pid;
    proc::with_table(|t| t.get(me).map_or((0, 0), |e| (e.sid, e.pgid)))
}

/// The terminal ioctls of a pty descriptor (see the module's list).
pub(super) fn ioctl(ctx: &mut Ctx<'_>, end: &Arc<PtyEnd>, request: u32, arg: u64) -> SysResult {
    let (sid, pgid) = session_of(ctx);
    // Whether this pair is the caller's controlling terminal (the master
    // answers the slave's questions without being one, as on Linux).
    let is_ctty = end.pty.lock().session == Some(sid);
    match request {
        syscall::TCGETS => {
            let termios = end.pty.lock().ldisc.termios();
            ctx.process.memory.write(arg, &termios.to_bytes())?;
            Ok(0)
        }
        syscall::TCSETS | syscall::TCSETSW | syscall::TCSETSF => {
            let mut raw = [0u8; Termios::SIZE];
            ctx.process.memory.read(arg, &mut raw)?;
            let termios = Termios::from_bytes(&raw);
            {
                let mut p = end.pty.lock();
                if request == syscall::TCSETSF {
                    p.ldisc.flush(true, false);
                }
                p.ldisc.set_termios(termios);
            }
            pty::wake(&end.pty);
            Ok(0)
        }
        syscall::TCFLSH => {
            // The master's input is the slave's output, and the reverse.
            let (input, output) = match arg as u32 {
                0 => (true, false),
                1 => (false, true),
                2 => (true, true),
                _ => return Err(Errno::EINVAL),
            };
            let (input, output) = if end.master { (output, input) } else { (input, output) };
            end.pty.lock().ldisc.flush(input, output);
            pty::wake(&end.pty);
            Ok(0)
        }
        syscall::TCSBRK | syscall::TCXONC => Ok(0),
        syscall::TIOCOUTQ => write_int(ctx, arg, 0),
        syscall::TIOCGWINSZ => {
            let size = end.pty.lock().winsize;
            ctx.process.memory.write(arg, &size.to_bytes())?;
            Ok(0)
        }
        syscall::TIOCSWINSZ => {
            let mut raw = [0u8; Winsize::SIZE];
            ctx.process.memory.read(arg, &mut raw)?;
            let size = Winsize::from_bytes(&raw);
            let pgrp = {
                let mut p = end.pty.lock();
                let changed = p.winsize != size;
                p.winsize = size;
                p.pgrp.filter(|_| changed)
            };
            if let Some(pgrp) = pgrp {
                signal_group(pgrp, syscall::Signal::SIGWINCH.number());
            }
            Ok(0)
        }
        syscall::TIOCGPTN | syscall::TIOCSPTLCK | syscall::TIOCGPTLCK if !end.master => Err(Errno::ENOTTY),
        syscall::TIOCGPTPEER if !end.master => Err(Errno::EIO),
        syscall::TIOCGPTN => {
            let index = end.pty.lock().index;
            write_int(ctx, arg, index)
        }
        syscall::TIOCSPTLCK => {
            let lock = read_int(ctx, arg)?;
            end.pty.lock().locked = lock != 0;
            Ok(0)
        }
        syscall::TIOCGPTLCK => {
            let locked = end.pty.lock().locked;
            write_int(ctx, arg, u32::from(locked))
        }
        syscall::TIOCGPTPEER if end.master => {
            let allowed = syscall::O_ACCMODE | (OpenFlags::O_NOCTTY | OpenFlags::O_NONBLOCK | OpenFlags::O_CLOEXEC | OpenFlags::O_LARGEFILE).bits();
            let flags = arg as u32;
            if flags & !allowed != 0 {
                return Err(Errno::EINVAL);
            }
            let index = end.pty.lock().index;
            let slave = pty::open_slave(index)?;
            maybe_controlling(ctx, &slave, flags & OpenFlags::O_NOCTTY.bits() != 0);
            let open = fs::open_file(FileKind::Pty(Arc::new(slave)), flags & !OpenFlags::O_CLOEXEC.bits());
            Ok(ctx.process.files.insert(open, flags & OpenFlags::O_CLOEXEC.bits() != 0)? as u64)
        }
        syscall::TIOCSCTTY => {
            // A session leader without a controlling terminal takes one
            // that is nobody's (stealing one is root's with arg 1).
            if is_ctty && sid == ctx.process.pid.as_u32() {
                return Ok(0);
            }
            if sid != ctx.process.pid.as_u32() || pty::controlling(sid).is_some() {
                return Err(Errno::EPERM);
            }
            let mut p = end.pty.lock();
            if p.session.is_some() && !(arg == 1 && ctx.process.creds.privileged()) {
                return Err(Errno::EPERM);
            }
            p.session = Some(sid);
            p.pgrp = Some(pgid);
            Ok(0)
        }
        syscall::TIOCNOTTY => {
            if !is_ctty {
                return Err(Errno::ENOTTY);
            }
            if sid == ctx.process.pid.as_u32() {
                let pgrp = {
                    let mut p = end.pty.lock();
                    p.session = None;
                    p.pgrp.take()
                };
                if let Some(pgrp) = pgrp {
                    signal_group(pgrp, syscall::Signal::SIGHUP.number());
                    signal_group(pgrp, syscall::Signal::SIGCONT.number());
                }
            }
            Ok(0)
        }
        syscall::TIOCGPGRP => {
            if !end.master && !is_ctty {
                return Err(Errno::ENOTTY);
            }
            let pgrp = end.pty.lock().pgrp.unwrap_or(0);
            write_int(ctx, arg, pgrp)
        }
        syscall::TIOCSPGRP => {
            if !is_ctty {
                return Err(Errno::ENOTTY);
            }
            let pgrp = read_int(ctx, arg)?;
            let pgrp = u32::try_from(pgrp).map_err(|_| Errno::EINVAL)?;
            let in_session = proc::with_table(|t| {
                let mut members = t.iter().filter(|e| e.pgid == pgrp);
                members.next().map(|e| e.sid == sid)
            });
            match in_session {
                None => Err(Errno::ESRCH),
                Some(false) => Err(Errno::EPERM),
                Some(true) => {
                    end.pty.lock().pgrp = Some(pgrp);
                    Ok(0)
                }
            }
        }
        syscall::TIOCGSID => {
            let session = end.pty.lock().session;
            match session {
                Some(session) if end.master || is_ctty => write_int(ctx, arg, session),
                _ => Err(Errno::ENOTTY),
            }
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// fstat of a pty descriptor: its node's (/dev/ptmx, /dev/pts/N), or one
/// made up like it once the name is gone.
pub(super) fn stat_node(end: &PtyEnd) -> Option<vfs::InodeId> {
    if end.master {
        fs::with(|fs| fs.lookup(vfs::ROOT, b"/dev/ptmx", true)).ok()
    } else {
        end.pty.lock().node
    }
}
