//! `/proc` as far as common programs read it: `/proc/meminfo`,
//! `/proc/mounts`, `/proc/cpuinfo`, `/proc/uptime`, the `/proc/sys` knobs
//! glibc and servers read (docs/procfs.md), `/proc/PID/stat`,
//! `/proc/PID/status`, `/proc/PID/maps`, `/proc/PID/cmdline`,
//! `/proc/PID/comm`, `/proc/PID/exe` (a link to the program, which busybox
//! re-executes), `/proc/PID/fd` (one link per descriptor), with `self` for
//! the caller; and `/sys/devices/system/cpu/{online,possible}`. Files are
//! generated when opened, as on Linux; their text is laid out by
//! `process::proctext`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use process::Pid;
use syscall::Errno;

use crate::fs::FileKind;
use crate::proc::{self, Process};

/// What a /proc path names.
pub enum ProcNode {
    /// A generated file and its contents.
    File(Vec<u8>),
    /// A directory and its entries (name, dirent type).
    Dir(Vec<(Vec<u8>, u8)>),
    /// A symbolic link and its target.
    Link(Vec<u8>),
    /// A file of another process, generated when opened from that
    /// process's record ([`fill_other`]): the caller holds only its own.
    OtherProcess(Pid, OtherFile),
    /// A `comm` of the caller's opened for writing: its text now, and the
    /// thread whose name a write sets (`pthread_setname_np`).
    Comm { tid: Pid, text: Vec<u8> },
}

/// The thread whose name `path` is, when it is the caller's own
/// `/proc/self/comm`, `/proc/PID/comm` or `/proc/PID/task/TID/comm`
/// (the files a process may write; Linux lets a process rename its own
/// threads).
pub fn own_comm(caller: &Process, path: &[u8]) -> Option<Pid> {
    let path = normalize(core::str::from_utf8(path).ok()?);
    let path = match path.strip_prefix("/proc/thread-self") {
        Some(tail) => format!("/proc/{}/task/{}{tail}", caller.pid, proc::sched::current_tid()),
        None => path,
    };
    let (pid, rest) = split(caller.pid, &path)?;
    if pid? != caller.pid {
        return None;
    }
    if rest == "comm" {
        return Some(caller.pid);
    }
    let tid = Pid::new(rest.strip_prefix("task/")?.strip_suffix("/comm")?.parse().ok()?);
    caller.thread_index(tid).map(|_| tid)
}

/// The files of another process that need its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherFile {
    Maps,
    Status,
}

/// Gives `file` (opened on [`ProcNode::OtherProcess`]) the contents of
/// `pid`'s `what`, read from its record now that no record is locked (an
/// empty file if the process is gone).
pub fn fill_other(file: &crate::fs::FileRef, pid: Pid, what: OtherFile) {
    let text = {
        let procs = proc::PROCS.lock();
        procs.get(&pid.as_u32()).map(|p| match what {
            OtherFile::Maps => maps(p).unwrap_or_default(),
            OtherFile::Status => {
                let ids = proc::with_table(|t| t.get(pid).map(|e| (e.parent.as_u32(), e.pgid, e.sid)));
                let (ppid, pgid, sid) = ids.unwrap_or((0, 0, 0));
                status(p, ppid, pgid, sid)
            }
        })
    };
    file.lock().kind = FileKind::Proc(alloc::sync::Arc::new(ProcNode::File(text.unwrap_or_default().into_bytes())));
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

/// The part of /sys the kernel generates (glibc's `get_nprocs` reads it).
const SYS_CPU: &[u8] = b"/sys/devices/system/cpu";

/// CPUs the kernel runs on.
const CPUS: u32 = 1;

/// Whether `path` is under /proc or the generated part of /sys (absolute
/// paths only).
pub fn is_proc(path: &[u8]) -> bool {
    let under = |root: &[u8]| path == root || path.strip_prefix(root).is_some_and(|rest| rest.first() == Some(&b'/'));
    under(b"/proc") || under(SYS_CPU)
}

fn sys_cpu(rest: &str) -> Result<ProcNode, Errno> {
    match rest {
        "" => Ok(ProcNode::Dir(alloc::vec![
            (b"online".to_vec(), syscall::DT_REG),
            (b"possible".to_vec(), syscall::DT_REG),
            (b"present".to_vec(), syscall::DT_REG),
        ])),
        "/online" | "/possible" | "/present" => {
            Ok(ProcNode::File(format!("{}\n", process::proctext::cpu_list(CPUS)).into_bytes()))
        }
        _ => Err(Errno::ENOENT),
    }
}

/// `/proc/uptime`: seconds since boot and seconds the CPU spent halted
/// with nothing to run (the scheduler's idle loop counts them).
fn uptime() -> String {
    let up_ns = crate::time::monotonic_ns();
    let idle_ns = proc::sched::idle_ns().min(up_ns);
    let cs = |ns: u64| (ns / 1_000_000_000, ns / 10_000_000 % 100);
    let ((us, uc), (is, ic)) = (cs(up_ns), cs(idle_ns));
    format!("{us}.{uc:02} {is}.{ic:02}\n")
}

/// 128 bits from the kernel's random source.
fn random_16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes);
    bytes
}

/// `/proc/sys/kernel/random/boot_id`: chosen once per boot.
static BOOT_ID: spin::Once<String> = spin::Once::new();

/// The `/proc/sys` files programs read (COMPAT.md), each with the value
/// the kernel actually uses.
fn sysctl(name: &str) -> Option<String> {
    let text = match name {
        "kernel/pid_max" => format!("{}", process::PID_MAX),
        "kernel/ngroups_max" => format!("{}", crate::syscalls::NGROUPS_MAX),
        "kernel/ostype" => String::from(crate::syscalls::OSTYPE),
        "kernel/osrelease" => String::from(crate::syscalls::OSRELEASE),
        "kernel/hostname" => String::from(crate::syscalls::HOSTNAME),
        "kernel/random/boot_id" => BOOT_ID.call_once(|| process::proctext::uuid_text(random_16())).clone(),
        "kernel/random/uuid" => process::proctext::uuid_text(random_16()),
        // Isola checks a mapping against free frames when it is made (the
        // heuristic mode's refusal of the impossible), Linux's mode 0.
        "vm/overcommit_memory" => String::from("0"),
        _ => return None,
    };
    Some(text + "\n")
}

const SYSCTL_DIRS: &[(&str, &[&str])] = &[
    ("", &["kernel", "vm"]),
    ("kernel", &["hostname", "ngroups_max", "osrelease", "ostype", "pid_max", "random"]),
    ("kernel/random", &["boot_id", "uuid"]),
    ("vm", &["overcommit_memory"]),
];

fn sys_node(name: &str) -> Result<ProcNode, Errno> {
    if let Some(text) = sysctl(name) {
        return Ok(ProcNode::File(text.into_bytes()));
    }
    let (_, entries) = SYSCTL_DIRS.iter().find(|(dir, _)| *dir == name).ok_or(Errno::ENOENT)?;
    Ok(ProcNode::Dir(
        entries
            .iter()
            .map(|e| {
                let full = if name.is_empty() { String::from(*e) } else { format!("{name}/{e}") };
                let kind = if sysctl(&full).is_some() { syscall::DT_REG } else { syscall::DT_DIR };
                (e.as_bytes().to_vec(), kind)
            })
            .collect(),
    ))
}

/// `/proc/PID/maps` of the caller's own memory. Adjacent regions of the
/// same kind and rights show as one line, as Linux merges anonymous VMAs.
/// The image shows the program's path; Isola does not record the file or
/// offset of other mappings, so they show as anonymous. A process may hold
/// up to `MAX_REGIONS` regions, so the text (megabytes then) is reserved
/// fallibly: ENOMEM rather than a failed kernel allocation.
fn maps(p: &Process) -> Result<String, Errno> {
    use crate::proc::memory::{FileBacking, Region, RegionKind};
    // Pieces of one mapping show as one line, as Linux's VMAs do: the same
    // kind and rights, and the file offsets running on (a program segment's
    // partial first and last pages are copies, but lie in its file too).
    let mut merged: Vec<(Region, Option<FileBacking>)> = Vec::new();
    merged.try_reserve(p.memory.regions().count()).map_err(|_| Errno::ENOMEM)?;
    for r in p.memory.regions() {
        if let Some((last, file)) = merged.last_mut()
            && last.end == r.start
            && last.kind == r.kind
            && last.prot == r.prot
            && last.shared.map(|s| s.object) == r.shared.map(|s| s.object)
        {
            let follows = |f: &FileBacking, at: u64| FileBacking { offset: f.offset + (at - last.start), ..*f };
            let fits = match (*file, r.file) {
                (Some(a), Some(b)) => follows(&a, r.start) == b,
                (None, None) => true,
                // A program's partial page next to its shared pages.
                _ => r.kind == RegionKind::Image,
            };
            if fits {
                if file.is_none()
                    && let Some(b) = r.file
                {
                    *file = Some(FileBacking { offset: b.offset.saturating_sub(r.start - last.start), ..b });
                }
                last.end = r.end;
                continue;
            }
        }
        merged.push((*r, r.file));
    }
    let path_of = |r: &Region, file: Option<FileBacking>| -> String {
        let file_path = || {
            file.and_then(|f| crate::fs::with(|fs| fs.shown_path(f.id)))
                .map(|path| String::from_utf8_lossy(&path).into_owned())
        };
        match r.kind {
            // A segment of the program or of its interpreter; its bss past
            // the file's last page is anonymous, as on Linux.
            RegionKind::Image => match file {
                Some(_) => file_path().unwrap_or_else(|| p.exe.given.clone()),
                None => String::new(),
            },
            RegionKind::Heap => String::from("[heap]"),
            RegionKind::Stack => String::from("[stack]"),
            // Shared anonymous memory is Linux's unlinked /dev/zero.
            RegionKind::Mapping if r.shared.is_some() && file.is_none() => String::from("/dev/zero (deleted)"),
            RegionKind::Mapping | RegionKind::ExecSharedFile => file_path().unwrap_or_default(),
            RegionKind::Vdso => String::from("[vdso]"),
            RegionKind::Vvar => String::from("[vvar]"),
        }
    };
    let mut text = String::new();
    for (r, file) in &merged {
        let path = path_of(r, *file);
        // A line's fields take at most 57 bytes; a path starts at column 73.
        text.try_reserve(74 + path.len()).map_err(|_| Errno::ENOMEM)?;
        text.push_str(&process::proctext::maps_line(&process::proctext::MapsEntry {
            start: r.start,
            end: r.end,
            read: r.prot.read,
            write: r.prot.write,
            exec: r.prot.exec,
            shared: r.shared.is_some() || r.kind == crate::proc::memory::RegionKind::ExecSharedFile,
            offset: file.map_or(0, |f| f.offset),
            // The root file system's device, as stat reports it (0:1).
            dev_major: 0,
            dev_minor: if file.is_some() { 1 } else { 0 },
            inode: file.map_or(0, |f| f.id),
            path: &path,
        }));
    }
    Ok(text)
}

/// `/proc/PID/status` of the caller's own record.
fn status(p: &Process, ppid: u32, pgid: u32, sid: u32) -> String {
    let state = p.state_letter();
    let kib = |bytes: u64| bytes / 1024;
    let (mut data, mut stack, mut exe) = (0, 0, 0);
    for r in p.memory.regions() {
        let len = r.end - r.start;
        match r.kind {
            crate::proc::memory::RegionKind::Image if r.prot.exec => exe += len,
            crate::proc::memory::RegionKind::Stack => stack += len,
            // VmData: private writable memory that is not the stack.
            _ if r.prot.write => data += len,
            _ => {}
        }
    }
    let mut ignored = 0u64;
    let mut caught = 0u64;
    for sig in 1..=64u32 {
        match p.signals.action(sig).handler {
            0 => {}
            1 => ignored |= 1 << (sig - 1),
            _ => caught |= 1 << (sig - 1),
        }
    }
    let c = &p.creds;
    let vm_size_kib = kib(p.memory.vm_bytes());
    process::proctext::status_text(&process::proctext::Status {
        name: &p.name,
        umask: p.umask,
        state,
        pid: p.pid.as_u32(),
        ppid,
        pgid,
        sid,
        uids: [c.ruid, c.euid, c.suid, c.fsuid],
        gids: [c.rgid, c.egid, c.sgid, c.fsgid],
        groups: &p.groups,
        fd_size: p.files.capacity() as u64,
        // Isola keeps no high-water mark of the regions' total.
        vm_peak_kib: vm_size_kib,
        vm_size_kib,
        vm_hwm_kib: p.memory.peak_frames * 4,
        vm_rss_kib: p.memory.frames * 4,
        vm_data_kib: kib(data),
        vm_stk_kib: kib(stack),
        vm_exe_kib: kib(exe),
        threads: p.threads.len() as u32,
        sigq_queued: p.signals.pending().count_ones().into(),
        sigq_limit: p.limits.get(syscall::Resource::Sigpending).rlim_cur,
        sig_pending: p.signals.pending(),
        shared_pending: 0,
        sig_blocked: p.thread().signals.mask(),
        sig_ignored: ignored,
        sig_caught: caught,
        caps_permitted: c.permitted,
        caps_effective: c.effective,
        cpus: CPUS,
        voluntary_switches: 0,
        nonvoluntary_switches: 0,
    })
}

fn fd_target(file: &crate::fs::FileRef) -> Vec<u8> {
    match &file.lock().kind {
        FileKind::Console(_) => b"/dev/console".to_vec(),
        FileKind::Node(id) => crate::fs::with(|fs| fs.shown_path(*id)).unwrap_or_else(|| b"/".to_vec()),
        FileKind::Pipe { pipe, .. } => format!("pipe:[{}]", crate::fs::pipe_id(pipe) >> 4).into_bytes(),
        FileKind::Proc(_) => b"/proc".to_vec(),
        FileKind::Socket(_) | FileKind::Unix(_) | FileKind::UnixSocket(_) => format!("socket:[{}]", crate::fs::file_id(file) >> 4).into_bytes(),
        FileKind::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
        FileKind::EventFd(_) => b"anon_inode:[eventfd]".to_vec(),
        FileKind::TimerFd(_) => b"anon_inode:[timerfd]".to_vec(),
        FileKind::Pty(end) if end.master => b"/dev/ptmx".to_vec(),
        FileKind::Pty(end) => format!("/dev/pts/{}", end.pty.lock().index).into_bytes(),
    }
}

fn stat_line(p: &Process, ppid: u32, pgid: u32, sid: u32) -> String {
    stat_line_of(p, p.pid, &p.name, ppid, pgid, sid)
}

/// /proc/PID/stat, or /proc/PID/task/TID/stat for thread `id` named `comm`.
fn stat_line_of(p: &Process, id: Pid, comm: &str, ppid: u32, pgid: u32, sid: u32) -> String {
    let state = p.state_letter();
    let rss = p.memory.frames;
    let vsize = rss * 4096;
    // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
    // starttime vsize rss ... (52 fields in all; unknown ones are 0).
    let own = crate::proc::usage_of(p);
    let children = p.children_usage;
    let (utime, stime) = (syscall::Tms::ticks(own.user_ns), syscall::Tms::ticks(own.system_ns));
    let (cutime, cstime) = (syscall::Tms::ticks(children.user_ns), syscall::Tms::ticks(children.system_ns));
    // priority is 20 + nice for a normal process (Linux's prio - MAX_RT_PRIO).
    let nice = proc::with_table(|t| t.get(p.pid).map_or(0, |e| i32::from(e.priority.nice)));
    let priority = 20i32.saturating_add(nice);
    let mut line = format!(
        "{} ({}) {state} {ppid} {pgid} {sid} 0 -1 4194304 0 0 0 0 {utime} {stime} {cutime} {cstime} {priority} {nice} {} 0 0 {vsize} {rss}",
        id,
        comm,
        p.threads.len()
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
    let free_kib = crate::mm::free_frames_shown() as u64 * 4;
    let heap_kib = crate::arch::heap::stats().0 as u64 / 1024;
    format!(
        "MemTotal:       {total_kib:>8} kB\nMemFree:        {free_kib:>8} kB\nMemAvailable:   {free_kib:>8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\nSlab:           {heap_kib:>8} kB\n"
    )
}

/// The tids of `pid`'s threads, first thread first.
fn task_ids(caller: &Process, pid: Pid) -> Vec<Pid> {
    if pid == caller.pid {
        return caller.threads.iter().map(|t| t.tid).collect();
    }
    let mut tids = alloc::vec![pid];
    proc::with_table(|t| tids.extend(t.threads_of(pid)));
    tids
}

/// `/proc/PID/task/TID[/comm|stat|status]`: a thread's own view (the
/// caller's threads in full; another process's threads by name only).
fn task_node(caller: &Process, pid: Pid, rest: &str, (ppid, pgid, sid): (u32, u32, u32)) -> Result<ProcNode, Errno> {
    let (tid, file) = rest.split_once('/').unwrap_or((rest, ""));
    let tid = Pid::new(tid.parse().map_err(|_| Errno::ENOENT)?);
    if !task_ids(caller, pid).contains(&tid) {
        return Err(Errno::ENOENT);
    }
    let own = pid == caller.pid;
    let comm = if own {
        let thread = caller.thread_index(tid).map(|i| &caller.threads[i]);
        thread.and_then(|t| t.comm.clone()).unwrap_or_else(|| caller.name.clone())
    } else {
        proc::NAMES.lock().get(&pid.as_u32()).map(|n| n.0.clone()).unwrap_or_default()
    };
    match file {
        "" => Ok(ProcNode::Dir(alloc::vec![
            (b"comm".to_vec(), syscall::DT_REG),
            (b"stat".to_vec(), syscall::DT_REG),
            (b"status".to_vec(), syscall::DT_REG),
        ])),
        "comm" => Ok(ProcNode::File(format!("{comm}\n").into_bytes())),
        "stat" if own => Ok(ProcNode::File(stat_line_of(caller, tid, &comm, ppid, pgid, sid).into_bytes())),
        "status" if own => Ok(ProcNode::File(status(caller, ppid, pgid, sid).into_bytes())),
        "status" => Ok(ProcNode::OtherProcess(pid, OtherFile::Status)),
        _ => Err(Errno::ENOENT),
    }
}

/// Resolves a /proc path for the caller (`caller` is the current process,
/// whose record the caller holds; others are looked up in the table).
pub fn lookup(caller: &Process, path: &[u8]) -> Result<ProcNode, Errno> {
    let path = normalize(core::str::from_utf8(path).map_err(|_| Errno::ENOENT)?);
    if let Some(rest) = path.strip_prefix("/sys/devices/system/cpu") {
        return sys_cpu(rest);
    }
    if path == "/proc/sys" || path.starts_with("/proc/sys/") {
        return sys_node(path.get("/proc/sys/".len()..).unwrap_or(""));
    }
    // /proc/thread-self is the running thread's /proc/PID/task/TID.
    let path = match path.strip_prefix("/proc/thread-self") {
        Some(tail) if tail.is_empty() || tail.starts_with('/') => {
            format!("/proc/{}/task/{}{tail}", caller.pid, proc::sched::current_tid())
        }
        _ => path,
    };
    let (pid, rest) = split(caller.pid, &path).ok_or(Errno::ENOENT)?;
    let Some(pid) = pid else {
        return match rest {
            "" => {
                let mut entries: Vec<(Vec<u8>, u8)> = alloc::vec![
                    (b"self".to_vec(), syscall::DT_LNK),
                    (b"thread-self".to_vec(), syscall::DT_LNK),
                    (b"cpuinfo".to_vec(), syscall::DT_REG),
                    (b"meminfo".to_vec(), syscall::DT_REG),
                    (b"mounts".to_vec(), syscall::DT_REG),
                    (b"sys".to_vec(), syscall::DT_DIR),
                    (b"uptime".to_vec(), syscall::DT_REG),
                ];
                proc::with_table(|t| entries.extend(t.iter().map(|e| (format!("{}", e.pid).into_bytes(), syscall::DT_DIR))));
                Ok(ProcNode::Dir(entries))
            }
            "meminfo" => Ok(ProcNode::File(meminfo().into_bytes())),
            "cpuinfo" => Ok(ProcNode::File(crate::cpu_features::cpuinfo().into_bytes())),
            "uptime" => Ok(ProcNode::File(uptime().into_bytes())),
            "mounts" => {
                let mut text = b"rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n".to_vec();
                for (tag, path) in crate::fs::volumes() {
                    text.extend_from_slice(format!("{tag} {path} 9p rw,sync,dirsync,trans=virtio,version=9p2000.L,cache=none 0 0\n").as_bytes());
                }
                Ok(ProcNode::File(text))
            }
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
            (b"maps".to_vec(), syscall::DT_REG),
            (b"stat".to_vec(), syscall::DT_REG),
            (b"status".to_vec(), syscall::DT_REG),
            (b"task".to_vec(), syscall::DT_DIR),
        ])),
        "task" => {
            let tids = task_ids(caller, pid);
            Ok(ProcNode::Dir(tids.iter().map(|tid| (format!("{tid}").into_bytes(), syscall::DT_DIR)).collect()))
        }
        task if task.starts_with("task/") => task_node(caller, pid, &task[5..], (ppid, pgid, sid)),
        "maps" if own => Ok(ProcNode::File(maps(caller)?.into_bytes())),
        "maps" => Ok(ProcNode::OtherProcess(pid, OtherFile::Maps)),
        "status" if own => Ok(ProcNode::File(status(caller, ppid, pgid, sid).into_bytes())),
        "status" => Ok(ProcNode::OtherProcess(pid, OtherFile::Status)),
        "exe" if own => Ok(ProcNode::Link(caller.exe.path().into_bytes())),
        // A zombie has no executable any more (ENOENT, as Linux).
        "exe" if !proc::with_table(|t| t.get(pid).is_some_and(|e| e.is_zombie())) => {
            let exe = proc::NAMES.lock().get(&pid.as_u32()).map(|n| n.2.clone());
            exe.map(|exe| ProcNode::Link(exe.path().into_bytes())).ok_or(Errno::ENOENT)
        }
        "cmdline" if own => Ok(ProcNode::File(caller.live_cmdline())),
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
