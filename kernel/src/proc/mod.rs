//! Processes: the record of each process (its domain key and PKRU, its
//! memory, files, signal dispositions, and its threads, each with its own
//! kernel stack, FPU state and signal mask), the process table, faults from
//! process code, and exit. `sched` switches between threads; `exec` loads
//! programs; `fork` copies them; `thread` creates and ends threads.

pub mod exec;
pub mod fork;
pub mod futex;
pub mod memory;
pub mod sched;
pub mod signal;
pub mod thread;
pub mod vdso;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;

use pkru::{KeyAllocator, Pkru};
use process::{ExitStatus, FdTable, Pid, ProcessTable, ResourceLimits, SignalState};
pub use thread::Thread;
use spin::Mutex;

use crate::fs::FileRef;
use memory::Memory;

/// Signal numbers the kernel sends itself.
pub const SIGSEGV: u32 = 11;
pub const SIGILL: u32 = 4;
pub const SIGFPE: u32 = 8;
pub const SIGBUS: u32 = 7;
pub const SIGTRAP: u32 = 5;
pub const SIGCHLD: u32 = 17;
pub const SIGPIPE: u32 = 13;

/// Why a process waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOn {
    /// CLOCK_MONOTONIC reaching this many nanoseconds.
    Until(u64),
    /// A child changing state (wait4, waitid).
    Child,
    /// The pipe with this id becoming readable or writable.
    Pipe(usize),
    /// Console input.
    Console,
    /// Any signal (pause, rt_sigsuspend).
    Signal,
    /// poll/select/epoll_wait: any pipe or network event, console input,
    /// or this deadline.
    Poll(u64),
    /// A socket changing state (data, a connection, a close).
    Net,
    /// The TCP connection with this socket id becoming readable, writable
    /// or connected (whatever the caller registered with the stack).
    Socket(u64),
    /// A connection arriving on the listener with this id (one connection
    /// wakes one acceptor).
    Accept(u64),
    /// A vfork child leaving the parent's memory (exec or exit).
    VforkChild(Pid),
    /// A file lock (`flock`, `F_SETLKW`) being released anywhere.
    FileLock,
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Ready,
    Blocked(BlockOn),
    /// Ended; kept until the parent reaps it.
    Zombie,
}

/// One process.
pub struct Process {
    pub pid: Pid,
    /// The program's name (basename of its path), as `comm` on Linux.
    pub name: String,
    /// The file it was started from (what /proc/self/exe names).
    pub exe: Exe,
    /// argv as /proc/PID/cmdline shows it: each argument followed by a NUL.
    pub cmdline: alloc::vec::Vec<u8>,
    /// Where argv's and envp's strings are in its memory (`arg_start`,
    /// `arg_end`, `env_end`): what `live_cmdline` reads.
    pub args_area: (u64, u64, u64),
    /// Its domain's PKRU: own key open, key 15 read-only, every other key closed.
    pub pkru: Pkru,
    pub memory: Memory,
    pub files: FdTable<FileRef>,
    pub cwd: vfs::InodeId,
    pub signals: SignalState,
    pub limits: ResourceLimits,
    pub umask: u32,
    /// Supplementary group ids.
    pub groups: alloc::vec::Vec<u32>,
    /// Names the file-system identity of `creds` and `groups`: 0 for the
    /// first process's (root, no groups), a fresh number after every change
    /// (`fs::serve_as` checks it on each call). A child inherits it.
    pub identity_generation: u64,
    /// User and group ids (real, effective, saved, fs) and capabilities.
    pub creds: ::process::Credentials,
    /// The CPU time of its ended threads (each live thread counts its own,
    /// [`cpu_times_ns`] adds them up) and the CPU-time interval timers.
    pub cpu: ::process::CpuClock,
    /// What the waited-for children (and theirs) used (RUSAGE_CHILDREN).
    pub children_usage: ::process::Rusage,
    /// The largest resident set of the programs this process ran before
    /// its last execve, KiB (ru_maxrss outlives exec on Linux).
    pub maxrss_before_exec_kib: u64,
    /// Its threads, at least one (a zombie keeps the one that ended it).
    /// Boxed: the scheduler keeps pointers to their saved kernel RSP,
    /// which must not move when the vector grows.
    #[allow(clippy::vec_box)]
    pub threads: alloc::vec::Vec<Box<Thread>>,
    /// Set when the process ended with this status (zombie).
    pub exit_status: Option<ExitStatus>,
    /// Parent blocked in vfork until this child execs or exits.
    pub vfork_parent: Option<Pid>,
    /// CLOCK_MONOTONIC time of the pending alarm(2), if any.
    pub alarm_at: Option<u64>,
    /// ITIMER_REAL's reload interval (0: one shot).
    pub alarm_interval: u64,
}

/// At most this much of a command line is read from a process's memory
/// (a page, as Linux's `get_mm_proctitle` reads).
const TITLE_MAX: u64 = 4096;

impl Process {
    /// The command line as Linux's /proc/PID/cmdline reads it, from the
    /// process's own memory: the argument strings as they are now, so that
    /// a program that writes its title over them (nginx's `nginx: worker
    /// process`) shows it. When the NUL that ended the arguments has been
    /// overwritten, the title runs on into the environment up to its first
    /// NUL, as setproctitle(3) expects. The exec-time copy when the memory
    /// is gone (a zombie) or holds nothing.
    pub fn live_cmdline(&self) -> alloc::vec::Vec<u8> {
        let (start, end, env_end) = self.args_area;
        if self.is_zombie() || end <= start {
            return self.cmdline.clone();
        }
        let mut args = alloc::vec![0u8; end.saturating_sub(start).min(TITLE_MAX) as usize];
        self.memory.peek(start, &mut args);
        let title = if args.last().is_some_and(|&b| b != 0) {
            let mut whole = alloc::vec![0u8; env_end.saturating_sub(start).min(TITLE_MAX) as usize];
            self.memory.peek(start, &mut whole);
            let len = whole.iter().position(|&b| b == 0).unwrap_or(whole.len());
            whole.truncate(len);
            whole.push(0);
            whole
        } else {
            args
        };
        if title.iter().all(|&b| b == 0) { self.cmdline.clone() } else { title }
    }

    /// Whether the process has ended (kept until its parent reaps it).
    pub fn is_zombie(&self) -> bool {
        self.exit_status.is_some()
    }

    /// The state letter of /proc/PID/stat: R while a thread can run, S
    /// while all wait, Z once ended.
    pub fn state_letter(&self) -> char {
        if self.is_zombie() {
            'Z'
        } else if self.threads.iter().any(|t| t.run == RunState::Ready) {
            'R'
        } else {
            'S'
        }
    }

    /// Whether a vfork child holds this process's memory (one of its
    /// threads waits for it to exec or exit).
    pub fn lent_to_vfork_child(&self) -> bool {
        self.threads.iter().any(|t| matches!(t.run, RunState::Blocked(BlockOn::VforkChild(_))))
    }

    /// Where thread `tid` is in `threads`.
    pub fn thread_index(&self, tid: Pid) -> Option<usize> {
        self.threads.iter().position(|t| t.tid == tid)
    }

    /// The index of the running thread when it is one of this process's,
    /// else of its first (a process always has one).
    #[inline]
    pub fn current_index(&self) -> usize {
        let tid = sched::current_tid();
        // The first thread is the common case (every single-threaded process).
        if self.threads.first().is_some_and(|t| t.tid == tid) {
            return 0;
        }
        self.thread_index(tid).unwrap_or(0)
    }

    /// The running thread (or, for a process not running, its first).
    #[inline]
    pub fn thread(&self) -> &Thread {
        &self.threads[self.current_index()]
    }

    /// As [`Process::thread`], to change it.
    #[inline]
    pub fn thread_mut(&mut self) -> &mut Thread {
        let index = self.current_index();
        &mut self.threads[index]
    }
}

/// The protection keys handed to domains (DESIGN.md "Key allocation").
pub static KEYS: Mutex<KeyAllocator> = Mutex::new(KeyAllocator::new());

/// Every process, by pid.
pub static PROCS: Mutex<BTreeMap<u32, Box<Process>>> = Mutex::new(BTreeMap::new());

/// Parents, children, groups, zombies and wait matching.
pub static TABLE: Mutex<Option<ProcessTable>> = Mutex::new(None);

/// Whether `--trace` asked for every syscall to be printed.
pub static TRACE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Runs `f` on the process table.
pub fn with_table<R>(f: impl FnOnce(&mut ProcessTable) -> R) -> R {
    let mut guard = TABLE.lock();
    f(guard.get_or_insert_with(ProcessTable::new))
}

/// Runs `f` on the process table if it exists (listings).
pub fn with_table_readonly<R>(f: impl FnOnce(&ProcessTable) -> R) -> Option<R> {
    TABLE.lock().as_ref().map(f)
}

/// What setpriority checks of `p` (its real and effective uid, its
/// RLIMIT_NICE) is copied into its table entry, where calls naming other
/// processes find it (`process::priority`): after every change of them.
pub fn sync_priority_ids(p: &Process) {
    let nice_rlimit = p.limits.get(syscall::Resource::Nice).rlim_cur;
    with_table(|t| t.set_priority_ids(p.pid, p.creds.ruid, p.creds.euid, nice_rlimit));
}

/// Runs `f` on the current process.
pub fn with_current<R>(f: impl FnOnce(&mut Process) -> R) -> Option<R> {
    let pid = sched::current();
    PROCS.lock().get_mut(&pid.as_u32()).map(|p| f(p))
}

/// `exit` of the current thread: the process goes on while it has others;
/// the last one ends the process with `status`.
pub fn exit_current_thread(status: ExitStatus) -> ! {
    crate::arch::cpu::disable_interrupts();
    if thread::exit_current_thread() {
        sched::schedule();
        unreachable!("an ended thread was scheduled again");
    }
    exit_current(status)
}

/// Ends the current process with `status` (exit_group, a fatal signal, the
/// last thread's exit): all its threads end, its memory and files go, its
/// children go to pid 1, its parent gets SIGCHLD and can reap it. The end
/// of pid 1 ends the VM with its status (code, or 128 + signal).
pub fn exit_current(status: ExitStatus) -> ! {
    crate::arch::cpu::disable_interrupts();
    let pid = sched::current();
    if pid == Pid::INIT {
        if crate::proc::sched::PS_ON_EXIT.load(core::sync::atomic::Ordering::Relaxed) {
            sched::print_listing();
        }
        crate::shutdown(status.shell_status());
    }
    let give_back = with_current(|p| {
        thread::end_other_threads(p, false);
        thread::release_current(p);
        p.files.clear();
        crate::locks::process_ended(p.pid.as_u32());
        crate::sysv::process_ended(p.pid.as_u32());
        // ru_maxrss of the whole life, kept for the parent's RUSAGE_CHILDREN.
        p.maxrss_before_exec_kib = p.maxrss_before_exec_kib.max(p.memory.peak_frames.saturating_mul(4));
        p.thread_mut().run = RunState::Zombie;
        p.exit_status = Some(status);
        let key = p.memory.key;
        match p.vfork_parent.take() {
            // A vfork child ends in its parent's memory and domain: both go back.
            Some(parent) => Some((parent, core::mem::replace(&mut p.memory, Memory::lent(key)))),
            None => {
                p.memory.release();
                if let Err(error) = KEYS.lock().release(key) {
                    log::warn!("releasing key {key:?} of pid {}: {error}", p.pid);
                }
                None
            }
        }
    })
    .flatten();
    // Children that asked for a signal when their parent ends
    // (PR_SET_PDEATHSIG) get it from this process, as Linux's SI_USER.
    let death_signals = with_table(|t| t.parent_death_signals(pid));
    for (child, sig) in death_signals {
        signal::send(child, sig, syscall::SigInfo::kill(sig as i32, pid.as_u32() as i32, 0));
    }
    let (parent, zombie_orphans) = with_table(|t| t.exit(pid, status));
    // A parent that ignores SIGCHLD (or set SA_NOCLDWAIT) leaves no zombies.
    let auto_reap = PROCS.lock().get(&parent.as_u32()).is_some_and(|pp| {
        let action = pp.signals.action(SIGCHLD);
        action.handler == syscall::SIG_IGN || action.flags & syscall::SA_NOCLDWAIT != 0
    });
    if auto_reap {
        with_table(|t| t.remove(pid));
        sched::reap_later(pid);
    }
    if let Some((parent, memory)) = give_back {
        self::give_back(parent, memory);
    }
    let code = match status {
        ExitStatus::Exited(_) => signal::CLD_EXITED,
        ExitStatus::Signaled { core: true, .. } => signal::CLD_DUMPED,
        ExitStatus::Signaled { .. } => signal::CLD_KILLED,
    };
    signal::send_child_signal(parent, pid, code, status);
    if !zombie_orphans.is_empty() {
        sched::wake(Pid::INIT, BlockOn::Child);
    }
    sched::schedule();
    unreachable!("a zombie was scheduled again");
}

/// Returns a vfork parent's memory (lent to its child) and lets it run on.
pub fn give_back(parent: Pid, memory: Memory) {
    let child = sched::current();
    if let Some(p) = PROCS.lock().get_mut(&parent.as_u32()) {
        p.memory = memory;
        // The child may have changed RLIMIT_AS meanwhile: its own, not the parent's.
        p.memory.as_limit = p.limits.get(syscall::Resource::As).rlim_cur;
        // Its shared domains are what the memory maps now (the child may
        // have mapped or unmapped shared memory in it); loaded when it runs.
        p.pkru = p.memory.membership.pkru(p.memory.key);
    }
    sched::wake(parent, BlockOn::VforkChild(child));
}

/// Recomputes `p`'s PKRU from its memory: its own key and the keys of the
/// shared objects it maps (after mmap, munmap, mremap, brk, exec), and
/// loads it into the gate when `p` is the running process.
pub fn refresh_pkru(p: &mut Process) {
    let pkru = p.memory.membership.pkru(p.memory.key);
    if pkru != p.pkru {
        p.pkru = pkru;
        if p.pid == sched::current() {
            crate::arch::gate::set_process(p.thread().kernel_stack.top.as_u64(), sched::effective_pkru(p));
        }
    }
}

/// Kills the current process with `signal` after a fault, with a console line.
pub fn kill_current(signal: u32, why: core::fmt::Arguments<'_>) -> ! {
    let who = with_current(|p| (p.pid, p.name.clone())).unwrap_or((Pid::INIT, String::from("?")));
    // A fault in one thread ends its whole process; the line names the thread.
    let tid = sched::current_tid();
    let thread = if tid != who.0 { alloc::format!(", thread {tid}") } else { String::new() };
    crate::knotice!("isola: pid {} ({}{thread}) killed by {}: {}", who.0, who.1, signal_name(signal), why);
    let core = matches!(signal, SIGSEGV | SIGILL | SIGFPE | SIGBUS | SIGTRAP);
    exit_current(ExitStatus::Signaled { signal, core })
}

/// The gate's abort: a process reached a gate with a state it forged.
pub fn gate_violation() -> ! {
    kill_current(SIGSEGV, format_args!("jumped into the PKRU gate with a forged PKRU (gate abort)"))
}

pub fn signal_name(signal: u32) -> &'static str {
    syscall::Signal::new(signal).map_or("a signal", |s| s.name())
}

/// Names of the processes (for /proc/PID/stat of processes other than the
/// caller, whose records the caller cannot lock).
/// A process's name, command line and executable path, by pid.
pub type Names = BTreeMap<u32, (String, alloc::vec::Vec<u8>, Exe)>;

/// A process's executable file: what /proc/PID/exe names. The path is
/// looked up when it is read (the file's name now, symlinks resolved, as
/// Linux's link follows a rename), not at every exec: finding a file's
/// name walks every directory.
#[derive(Clone, Debug)]
pub struct Exe {
    pub id: vfs::InodeId,
    /// The path exec was given, for a file that has no name any more.
    pub given: String,
}

impl Exe {
    pub fn path(&self) -> String {
        crate::fs::with(|fs| fs.any_path_of(self.id))
            .and_then(|path| String::from_utf8(path).ok())
            .unwrap_or_else(|| self.given.clone())
    }
}

pub static NAMES: Mutex<Names> = Mutex::new(BTreeMap::new());

/// Records `pid`'s program name, command line (argv, NUL after each) and
/// executable's path (what other processes see in /proc/PID).
pub fn set_name(pid: Pid, name: &str, cmdline: &[u8], exe: &Exe) {
    NAMES.lock().insert(pid.as_u32(), (String::from(name), cmdline.to_vec(), exe.clone()));
}

/// Frees what is left of a reaped zombie: its page tables, kernel stack, and record.
pub fn reap(pid: Pid) -> Option<(::process::Rusage, ::process::Rusage)> {
    NAMES.lock().remove(&pid.as_u32());
    let record = PROCS.lock().remove(&pid.as_u32());
    record.map(|mut process| {
        let usage = (usage_of(&process), process.children_usage);
        process.memory.space.free_root();
        for thread in process.threads {
            crate::mm::free_stack(thread.kernel_stack);
        }
        usage
    })
}

/// (user, system) CPU time of `p` up to now, in nanoseconds.
pub fn cpu_times_ns(p: &Process) -> (u64, u64) {
    // Accounted in cycles of the CPU clock (one rdtsc per kernel entry and
    // exit); converted here, when reported.
    let now = crate::time::cpu_clock();
    let (mut user_cycles, mut system_cycles) = p.cpu.times_at(now);
    for t in &p.threads {
        let (user, system) = t.cpu.times_at(now);
        user_cycles = user_cycles.saturating_add(user);
        system_cycles = system_cycles.saturating_add(system);
    }
    (crate::time::cpu_clock_to_ns(user_cycles), crate::time::cpu_clock_to_ns(system_cycles))
}

/// What getrusage(RUSAGE_THREAD) reports for the running thread of `p`:
/// its own times, the process's ru_maxrss.
pub fn thread_usage_of(p: &Process) -> ::process::Rusage {
    let (user_cycles, system_cycles) = p.thread().cpu.times_at(crate::time::cpu_clock());
    let (user_ns, system_ns) = (crate::time::cpu_clock_to_ns(user_cycles), crate::time::cpu_clock_to_ns(system_cycles));
    ::process::Rusage { user_ns, system_ns, ..usage_of(p) }
}

/// What getrusage(RUSAGE_SELF) reports for `p` now.
pub fn usage_of(p: &Process) -> ::process::Rusage {
    let (user_ns, system_ns) = cpu_times_ns(p);
    let maxrss_kib = p.maxrss_before_exec_kib.max(p.memory.peak_frames.saturating_mul(4));
    ::process::Rusage { user_ns, system_ns, maxrss_kib }
}

/// A page fault in process code: a page's first touch, copy-on-write,
/// stack growth, or a signal.
/// Returns true when the process should give the CPU away before it
/// retries the access: no frame was left, and the OOM killer chose a victim
/// whose memory comes back when it has run its end.
pub fn page_fault(addr: u64, error_code: u64, rip: u64) -> bool {
    use memory::Fault;
    let user = addr < memory::USER_END;
    let outcome = with_current(|p| {
        if !user {
            Fault::Refused
        } else if error_code & 1 == 0 {
            p.memory.demand_page(addr, error_code & 2 != 0, error_code & 16 != 0)
        } else if error_code & 2 != 0 && error_code & 32 == 0 {
            p.memory.write_fault(addr)
        } else {
            Fault::Refused
        }
    });
    match outcome {
        Some(Fault::Served) => return false,
        Some(Fault::NoMemory) => {
            // The kernel stacks kept for reuse go before any process does.
            if !crate::mm::drop_cached_stacks() {
                out_of_memory();
            }
            return true;
        }
        Some(Fault::PastEnd) => return bus_error(addr, rip),
        Some(Fault::Refused) | None => {}
    }
    let access = if error_code & 16 != 0 {
        "execute"
    } else if error_code & 2 != 0 {
        "write"
    } else {
        "read"
    };
    let translation = crate::arch::paging::translate_current(paging::VirtAddr::new(addr));
    let key = translation.map(|t| t.attrs.key.index());
    let key_text = key.map_or_else(|| String::from("unmapped"), |k| alloc::format!("key {k}"));
    let pk = error_code & 32 != 0;
    let pk_text = if pk { ", PK: protection-key violation" } else { "" };
    let own = with_current(|p| p.memory.key.index()).unwrap_or(0);
    let code = if pk {
        signal::SEGV_PKUERR
    } else if translation.is_some() {
        signal::SEGV_ACCERR
    } else {
        signal::SEGV_MAPERR
    };
    let info = syscall::SigInfo::fault(SIGSEGV as i32, code, addr, if pk { key.map(u32::from) } else { None });
    if signal::fault_has_handler(SIGSEGV) {
        signal::queue_fault(SIGSEGV, info);
        return false;
    }
    kill_current(
        SIGSEGV,
        format_args!("{access} at {addr:#x} ({key_text}; the process has key {own}{pk_text}), rip {rip:#x}, error {error_code:#x}"),
    )
}

/// An access to a shared mapping past the end of its object: SIGBUS
/// (BUS_ADRERR), to the handler if there is one, as on Linux.
fn bus_error(addr: u64, rip: u64) -> bool {
    let info = syscall::SigInfo::fault(SIGBUS as i32, syscall::BUS_ADRERR, addr, None);
    if signal::fault_has_handler(SIGBUS) {
        signal::queue_fault(SIGBUS, info);
        return false;
    }
    kill_current(SIGBUS, format_args!("access at {addr:#x} past the end of a shared mapping's object, rip {rip:#x}"))
}

pub const SIGKILL: u32 = 9;

/// A fault found no frame: the process holding the most memory is killed
/// (`process::oom::choose`, with Linux's console line); when that is the
/// faulting process it dies here. While an earlier victim is still on its
/// way out, nobody else is killed: its memory is coming back.
fn out_of_memory() {
    use process::oom::{Candidate, Verdict};
    let me = sched::current();
    let mut procs = PROCS.lock();
    let verdict = process::oom::choose(procs.values().filter(|p| !p.is_zombie()).map(|p| Candidate {
        pid: p.pid,
        frames: p.memory.frames,
        dying: p.signals.pending() & (1 << (SIGKILL - 1)) != 0,
    }));
    let Verdict::Kill(victim) = verdict else { return };
    let Some(p) = procs.get_mut(&victim.as_u32()) else { return };
    crate::knotice!(
        "isola: Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, UID:0 (pid {} found no free frame)",
        p.pid,
        p.name,
        p.memory.vm_bytes() / 1024,
        p.memory.frames * 4,
        me
    );
    if victim == me {
        drop(procs);
        kill_current(SIGKILL, format_args!("out of memory"));
    }
    signal::post(p, SIGKILL, syscall::SigInfo::kill(SIGKILL as i32, 0, 0));
}
