//! `/proc` as far as common programs read it: `/proc/meminfo`,
//! `/proc/mounts`, `/proc/PID/stat`, `/proc/PID/cmdline`, `/proc/PID/comm`, `/proc/PID/exe` (a link to the program, which busybox
//! re-executes), `/proc/PID/fd` (one link per descriptor), with `self` for
//! the caller. Files are generated when opened, as on Linux.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use process::Pid;
use syscall::Errno;

use crate::fs::FileKind;
use crate::proc::{self, Process, RunState};

/// What a /proc path names.
pub enum ProcNode {
    /// A generated file and its contents.
    File(Vec<u8>),
    /// A directory and its entries (name, dirent type).
    Dir(Vec<(Vec<u8>, u8)>),
    /// A symbolic link and its target.
    Link(Vec<u8>),
}

/// Splits `/proc/<pid or self>/rest` for the caller `me`.
fn split(me: Pid, path: &str) -> Option<(Option<Pid>, &str)> {
    let rest = path.strip_prefix("/proc")?;
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Some((None, ""));
    }
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let pid = if first == "self" { Some(me) } else { first.parse().ok().map(Pid::new) };
    match pid {
        Some(pid) => Some((Some(pid), tail.trim_end_matches('/'))),
        None => Some((None, rest.trim_end_matches('/'))),
    }
}

/// `path` without `.` components and with `..` applied (no symlinks live
/// between /proc's levels, so the lexical form is the real one).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let mut out = String::new();
    for part in parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether `path` is under /proc (absolute paths only).
pub fn is_proc(path: &[u8]) -> bool {
    path == b"/proc" || path.starts_with(b"/proc/")
}

fn fd_target(file: &crate::fs::FileRef) -> Vec<u8> {
    match &file.lock().kind {
        FileKind::Console => b"/dev/console".to_vec(),
        FileKind::Node(id) => crate::fs::with(|fs| fs.path_of(*id)).unwrap_or_else(|_| b"/".to_vec()),
        FileKind::Pipe { pipe, .. } => format!("pipe:[{}]", crate::fs::pipe_id(pipe) >> 4).into_bytes(),
        FileKind::Proc(_) => b"/proc".to_vec(),
        FileKind::Socket(_) | FileKind::Unix(_) => format!("socket:[{}]", crate::fs::file_id(file) >> 4).into_bytes(),
        FileKind::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
    }
}

fn stat_line(p: &Process, ppid: u32, pgid: u32, sid: u32) -> String {
    let state = match p.run {
        RunState::Ready => 'R',
        RunState::Blocked(_) => 'S',
        RunState::Zombie => 'Z',
    };
    let rss = p.memory.frames;
    let vsize = rss * 4096;
    // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
    // starttime vsize rss ... (52 fields in all; unknown ones are 0).
    let own = crate::proc::usage_of(p);
    let children = p.children_usage;
    let (utime, stime) = (syscall::Tms::ticks(own.user_ns), syscall::Tms::ticks(own.system_ns));
    let (cutime, cstime) = (syscall::Tms::ticks(children.user_ns), syscall::Tms::ticks(children.system_ns));
    let mut line = format!(
        "{} ({}) {state} {ppid} {pgid} {sid} 0 -1 4194304 0 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0 0 {vsize} {rss}",
        p.pid, p.name
    );
    for _ in 0..28 {
        line.push_str(" 0");
    }
    line.push('\n');
    line
}

/// `Slab:` is all the kernel heap holds, used or not: it grows on demand
/// and keeps its frames (file contents live there too), so `MemFree` alone
/// cannot tell a leaked frame from a heap that grew once.
fn meminfo() -> String {
    let total_kib = crate::mm::total_bytes() / 1024;
    let free_kib = crate::mm::frame::free_frames() as u64 * 4;
    let heap_kib = crate::arch::heap::stats().0 as u64 / 1024;
    format!(
        "MemTotal:       {total_kib:>8} kB\nMemFree:        {free_kib:>8} kB\nMemAvailable:   {free_kib:>8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\nSlab:           {heap_kib:>8} kB\n"
    )
}

/// Resolves a /proc path for the caller (`caller` is the current process,
/// whose record the caller holds; others are looked up in the table).
pub fn lookup(caller: &Process, path: &[u8]) -> Result<ProcNode, Errno> {
    let path = normalize(core::str::from_utf8(path).map_err(|_| Errno::ENOENT)?);
    let (pid, rest) = split(caller.pid, &path).ok_or(Errno::ENOENT)?;
    let Some(pid) = pid else {
        return match rest {
            "" => {
                let mut entries: Vec<(Vec<u8>, u8)> = alloc::vec![
                    (b"self".to_vec(), syscall::DT_LNK),
                    (b"meminfo".to_vec(), syscall::DT_REG),
                    (b"mounts".to_vec(), syscall::DT_REG),
                ];
                proc::with_table(|t| entries.extend(t.iter().map(|e| (format!("{}", e.pid).into_bytes(), syscall::DT_DIR))));
                Ok(ProcNode::Dir(entries))
            }
            "meminfo" => Ok(ProcNode::File(meminfo().into_bytes())),
            "mounts" => Ok(ProcNode::File(b"rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n".to_vec())),
            _ => Err(Errno::ENOENT),
        };
    };
    let (ppid, pgid, sid) =
        proc::with_table(|t| t.get(pid).map(|e| (e.parent.as_u32(), e.pgid, e.sid))).ok_or(Errno::ENOENT)?;
    // Only the caller's own record is reachable here (others are locked by the
    // caller's lock holder); other processes show what the table knows.
    let own = pid == caller.pid;
    match rest {
        "" => Ok(ProcNode::Dir(alloc::vec![
            (b"cmdline".to_vec(), syscall::DT_REG),
            (b"comm".to_vec(), syscall::DT_REG),
            (b"exe".to_vec(), syscall::DT_LNK),
            (b"fd".to_vec(), syscall::DT_DIR),
            (b"stat".to_vec(), syscall::DT_REG),
        ])),
        "exe" if own => Ok(ProcNode::Link(caller.exe.clone().into_bytes())),
        "cmdline" if own => Ok(ProcNode::File(caller.cmdline.clone())),
        "cmdline" => Ok(ProcNode::File(proc::NAMES.lock().get(&pid.as_u32()).map(|n| n.1.clone()).unwrap_or_default())),
        "comm" if own => Ok(ProcNode::File(format!("{}\n", caller.name).into_bytes())),
        "comm" => Ok(ProcNode::File(
            format!("{}\n", proc::NAMES.lock().get(&pid.as_u32()).map(|n| n.0.clone()).unwrap_or_default()).into_bytes(),
        )),
        "stat" if own => Ok(ProcNode::File(stat_line(caller, ppid, pgid, sid).into_bytes())),
        "stat" => {
            let name = proc::NAMES.lock().get(&pid.as_u32()).map(|n| n.0.clone()).unwrap_or_default();
            let zombie = proc::with_table(|t| t.get(pid).is_some_and(|e| e.is_zombie()));
            let state = if zombie { 'Z' } else { 'S' };
            let mut line = format!("{pid} ({name}) {state} {ppid} {pgid} {sid} 0 -1 4194304");
            for _ in 0..43 {
                line.push_str(" 0");
            }
            line.push('\n');
            Ok(ProcNode::File(line.into_bytes()))
        }
        "fd" if own => {
            Ok(ProcNode::Dir(caller.files.iter().map(|(fd, _)| (format!("{fd}").into_bytes(), syscall::DT_LNK)).collect()))
        }
        fd if own && fd.starts_with("fd/") => {
            let n: i32 = fd[3..].parse().map_err(|_| Errno::ENOENT)?;
            let file = caller.files.get(n).map_err(|_| Errno::ENOENT)?;
            Ok(ProcNode::Link(fd_target(file)))
        }
        _ => Err(Errno::ENOENT),
    }
}
