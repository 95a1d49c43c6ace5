//! Signal-driven I/O: the owner (F_SETOWN, F_SETOWN_EX) and signal
//! (F_SETSIG) of an open file description, and the SIGIO sent to the owner
//! when a description in O_ASYNC mode (F_SETFL, FIOASYNC) becomes readable,
//! writable or hung up. nginx's master learns of its workers' channel
//! messages this way.
//!
//! Linux calls `kill_fasync` from each file type's wake-up path. Here every
//! wake-up of pipe, socket or network waiters marks the registry dirty, and
//! the scheduler's next pass (`notify`, before signals are applied) reads
//! the readiness of each armed description and signals the rises: one
//! SIGIO per new event, as a program that drains its descriptors on SIGIO
//! expects, never one per wake-up of an already-ready file.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use process::Pid;
use spin::{Mutex, MutexGuard};
use syscall::{Errno, SigInfo};

use crate::fs::{FileRef, OpenFile};

/// Who receives a description's signals (F_SETOWN_EX's `f_owner_ex`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// F_OWNER_TID: one thread.
    Thread(u32),
    /// F_OWNER_PID: a process (F_SETOWN with a positive id).
    Process(u32),
    /// F_OWNER_PGRP: a process group (F_SETOWN with a negative id).
    Group(u32),
}

pub const F_OWNER_TID: u32 = 0;
pub const F_OWNER_PID: u32 = 1;
pub const F_OWNER_PGRP: u32 = 2;

/// si_code of a signal set by F_SETSIG: which event it reports.
const POLL_IN: i32 = 1;
const POLL_OUT: i32 = 2;
const POLL_ERR: i32 = 4;
const POLL_HUP: i32 = 6;
/// Linux's default SIGIO carries no siginfo of its own (SEND_SIG_PRIV).
const SI_KERNEL: i32 = 0x80;
const SIGIO: u32 = 29;

const POLLIN: u32 = 0x1;
const POLLOUT: u32 = 0x4;
const POLLERR: u32 = 0x8;
const POLLHUP: u32 = 0x10;

struct Entry {
    file: Weak<Mutex<OpenFile>>,
    /// The descriptor it was armed through, for F_SETSIG's `si_fd`.
    fd: i32,
    owner: Option<Owner>,
    /// F_SETSIG's signal; 0: SIGIO without siginfo.
    signal: u32,
    armed: bool,
    /// The readiness seen at the last pass: signals go out for rises only.
    seen: u32,
}

/// By open description id.
static ENTRIES: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());
/// How many entries are armed: wake-ups cost nothing while it is 0.
static ARMED: AtomicUsize = AtomicUsize::new(0);
/// A wake-up happened since the last pass.
static DIRTY: AtomicBool = AtomicBool::new(false);

fn entry<'a>(entries: &'a mut MutexGuard<'_, BTreeMap<u64, Entry>>, file: &FileRef, fd: i32) -> &'a mut Entry {
    let id = file.lock().id;
    if !entries.contains_key(&id) {
        // Descriptions closed since: their entries go (an armed one's count with it).
        entries.retain(|_, e| {
            let live = e.file.strong_count() > 0;
            if !live && e.armed {
                ARMED.fetch_sub(1, Ordering::Relaxed);
            }
            live
        });
    }
    entries.entry(id).or_insert_with(|| Entry { file: Arc::downgrade(file), fd, owner: None, signal: 0, armed: false, seen: 0 })
}

/// F_SETOWN, F_SETOWN_EX: `None` clears the owner. ESRCH when nobody has
/// that id, as Linux's `f_setown`.
pub fn set_owner(file: &FileRef, fd: i32, owner: Option<Owner>) -> Result<(), Errno> {
    if let Some(owner) = owner {
        let exists = crate::proc::with_table(|t| match owner {
            Owner::Thread(tid) => t.process_of(Pid::new(tid)).is_some(),
            Owner::Process(pid) => t.get(Pid::new(pid)).is_some(),
            Owner::Group(pgid) => t.members_of_group(pgid).next().is_some(),
        });
        if !exists {
            return Err(Errno::ESRCH);
        }
    }
    entry(&mut ENTRIES.lock(), file, fd).owner = owner;
    Ok(())
}

/// F_GETOWN_EX's view; `None` when never set.
pub fn owner(file: &FileRef) -> Option<Owner> {
    let id = file.lock().id;
    ENTRIES.lock().get(&id).and_then(|e| e.owner)
}

/// F_SETSIG: 0 restores plain SIGIO; EINVAL past the last signal.
pub fn set_signal(file: &FileRef, fd: i32, signal: u32) -> Result<(), Errno> {
    if signal > 64 {
        return Err(Errno::EINVAL);
    }
    entry(&mut ENTRIES.lock(), file, fd).signal = signal;
    Ok(())
}

/// F_GETSIG.
pub fn signal(file: &FileRef) -> u32 {
    let id = file.lock().id;
    ENTRIES.lock().get(&id).map_or(0, |e| e.signal)
}

/// O_ASYNC turned on or off (F_SETFL, FIOASYNC); the caller keeps the flag
/// in the description's flags for F_GETFL.
/// The caller holds no lock of `file`.
pub fn set_armed(file: &FileRef, fd: i32, on: bool) {
    // What already holds when armed is no event: only what happens from
    // now on is signalled.
    let seen = if on { readiness(file) } else { 0 };
    let mut entries = ENTRIES.lock();
    let e = entry(&mut entries, file, fd);
    e.fd = fd;
    if e.armed != on {
        e.armed = on;
        e.seen = seen;
        if on {
            ARMED.fetch_add(1, Ordering::Relaxed);
        } else {
            ARMED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn readiness(file: &FileRef) -> u32 {
    let (kind, flags) = {
        let open = file.lock();
        (open.kind.clone(), open.flags)
    };
    crate::syscalls::readiness(&kind, flags) & (POLLIN | POLLOUT | POLLERR | POLLHUP)
}

/// Called by every wake-up of I/O waiters.
pub fn woken() {
    if ARMED.load(Ordering::Relaxed) != 0 {
        DIRTY.store(true, Ordering::Relaxed);
    }
}

/// The scheduler's pass: signals the owners of armed descriptions whose
/// readiness rose since the last pass. Runs with no process lock held.
pub fn notify() {
    // A plain load first: this runs at every scheduler pass, and the
    // locked swap only when a wake-up marked the registry.
    if !DIRTY.load(Ordering::Relaxed) || !DIRTY.swap(false, Ordering::Relaxed) {
        return;
    }
    let armed: Vec<(u64, FileRef)> =
        ENTRIES.lock().iter().filter(|(_, e)| e.armed).filter_map(|(&id, e)| Some((id, e.file.upgrade()?))).collect();
    for (id, file) in armed {
        let now = readiness(&file);
        let (owner, signal, fd, rose) = {
            let mut entries = ENTRIES.lock();
            let Some(e) = entries.get_mut(&id) else { continue };
            let rose = now & !e.seen;
            e.seen = now;
            (e.owner, e.signal, e.fd, rose)
        };
        let Some(owner) = owner else { continue };
        if rose == 0 {
            continue;
        }
        let (number, info) = if signal == 0 {
            (SIGIO, SigInfo { signo: SIGIO as i32, code: SI_KERNEL, ..SigInfo::default() })
        } else {
            let code = [(POLLHUP, POLL_HUP), (POLLERR, POLL_ERR), (POLLIN, POLL_IN), (POLLOUT, POLL_OUT)]
                .iter()
                .find(|(bit, _)| rose & bit != 0)
                .map_or(POLL_IN, |&(_, code)| code);
            (signal, SigInfo::io(signal as i32, code, i64::from(now), fd))
        };
        match owner {
            Owner::Thread(tid) => crate::proc::signal::send_to_thread(Pid::new(tid), number, info),
            Owner::Process(pid) => crate::proc::signal::send(Pid::new(pid), number, info),
            Owner::Group(pgid) => crate::proc::signal::send_to_group(pgid, Pid::new(0), number, info),
        }
    }
}
