//! The process table: who exists, who is whose parent, process groups and
//! sessions, zombies, and the `wait4`/`waitid` rules of Linux.
//!
//! [`ProcessTable`] maps each [`Pid`] to an [`Entry`]. A process that ends
//! becomes a zombie ([`ProcState::Zombie`] with its [`ExitStatus`]) until
//! its parent reaps it with [`ProcessTable::wait`]; its own children go to
//! pid 1. The kernel keeps the rest of a process (memory, files, signal
//! state) in its own records, blocks and wakes the waiters, and sends the
//! SIGCHLD; this module only decides.
//!
//! Neighbours: `syscall` ([`Errno`], the `CLD_*` codes of
//! [`ExitStatus::sigchld_code`]); the kernel's `fork`, `exit`, `wait4`,
//! `waitid`, `kill`, `setpgid`, `setsid`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use syscall::{CLD_DUMPED, CLD_EXITED, CLD_KILLED, Errno};

use crate::Pid;
use crate::priority::{self, Caller, Priority, Target};

/// Pids are below this (Linux's largest `pid_max`); allocation wraps to 1.
pub const PID_MAX: u32 = 4_194_304;

/// How a process ended, and the status wait4 reports (Linux encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit`/`exit_group` with this code (the low 8 bits of the argument).
    Exited(u8),
    /// Killed by `signal`; `core` if its default action dumps core.
    Signaled { signal: u32, core: bool },
}

impl ExitStatus {
    /// The `wstatus` of `wait4`: `code << 8` for an exit, the signal number
    /// (`| 0x80` with a core dump) for a kill.
    pub fn wait_status(self) -> u32 {
        match self {
            ExitStatus::Exited(code) => u32::from(code) << 8,
            ExitStatus::Signaled { signal, core } => (signal & 0x7f) | if core { 0x80 } else { 0 },
        }
    }

    /// What a shell shows in `$?`: the code, or 128 + the signal.
    pub fn shell_status(self) -> u8 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled { signal, .. } => (128 + (signal & 0x7f)) as u8,
        }
    }

    /// Decodes a `wait4` status (`WIFEXITED`/`WIFSIGNALED`); `None` for a
    /// stopped or continued status.
    pub fn from_wait_status(status: u32) -> Option<ExitStatus> {
        let signal = status & 0x7f;
        if signal == 0 {
            Some(ExitStatus::Exited(((status >> 8) & 0xff) as u8))
        } else if signal != 0x7f && status & 0xff00 == 0 {
            Some(ExitStatus::Signaled { signal, core: status & 0x80 != 0 })
        } else {
            None
        }
    }

    /// `si_code` of the SIGCHLD (and of `waitid`'s siginfo): `CLD_EXITED`,
    /// `CLD_KILLED` or `CLD_DUMPED`.
    pub fn sigchld_code(self) -> i32 {
        match self {
            ExitStatus::Exited(_) => CLD_EXITED,
            ExitStatus::Signaled { core: false, .. } => CLD_KILLED,
            ExitStatus::Signaled { core: true, .. } => CLD_DUMPED,
        }
    }

    /// `si_status`: the exit code, or the signal.
    pub fn sigchld_status(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => i32::from(code),
            ExitStatus::Signaled { signal, .. } => signal as i32,
        }
    }
}

/// Which children a wait call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitTarget {
    /// Any child (`pid == -1`; `waitid(P_ALL)`).
    Any,
    /// The child with this pid (`pid > 0`; `waitid(P_PID)`).
    Pid(Pid),
    /// Any child in this process group (`pid == 0`: the caller's group;
    /// `pid < -1`: group `-pid`; `waitid(P_PGID)`).
    Group(u32),
}

impl WaitTarget {
    /// Decodes `wait4`'s `pid` argument. Linux fails `pid == i32::MIN` with
    /// `ESRCH` before this (it has no positive counterpart); here it becomes
    /// group 2^31, which matches no child (`ECHILD`).
    pub fn from_raw(raw: i32, caller_pgid: u32) -> WaitTarget {
        match raw {
            -1 => WaitTarget::Any,
            0 => WaitTarget::Group(caller_pgid),
            pid if pid > 0 => WaitTarget::Pid(Pid::new(pid as u32)),
            group => WaitTarget::Group(group.unsigned_abs()),
        }
    }

    fn matches(self, entry: &Entry) -> bool {
        match self {
            WaitTarget::Any => true,
            WaitTarget::Pid(pid) => entry.pid == pid,
            WaitTarget::Group(pgid) => entry.pgid == pgid,
        }
    }
}

/// What a process is doing, as far as the table cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Runnable or running.
    Running,
    /// Waiting for something (the kernel knows what).
    Blocked,
    /// Ended, not yet reaped.
    Zombie(ExitStatus),
}

/// One process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub pid: Pid,
    /// The parent (pid 0 for pid 1, which has none).
    pub parent: Pid,
    /// Process group id.
    pub pgid: u32,
    /// Session id.
    pub sid: u32,
    pub state: ProcState,
    /// `prctl(PR_SET_PDEATHSIG)`: the signal this process gets when its
    /// parent ends (0: none). A fork child starts without one; execve
    /// keeps it.
    pub pdeath_signal: u32,
    /// Its nice value and what setpriority checks against
    /// ([`crate::priority`]); a fork child starts with its parent's.
    pub priority: Priority,
}

impl Entry {
    /// Has the process ended?
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, ProcState::Zombie(_))
    }
}

/// The outcome of [`ProcessTable::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// A matching child had ended: its pid and status (removed from the
    /// table if the call reaps).
    Reaped { pid: Pid, status: ExitStatus },
    /// Matching children exist, none has ended: block, or return 0 with
    /// `WNOHANG`.
    NotYet,
    /// No child matches: `ECHILD`.
    NoChild,
}

/// Every process, by pid.
#[derive(Clone, Debug)]
pub struct ProcessTable {
    entries: BTreeMap<Pid, Entry>,
    /// The threads beyond each process's first, by tid: the process they
    /// belong to. Their tids come from the pids' space (Linux's).
    threads: BTreeMap<Pid, Pid>,
    /// The last pid handed out (0 before the first).
    last_pid: u32,
    /// Pids are below this ([`PID_MAX`]; smaller in tests).
    pid_max: u32,
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessTable {
    /// An empty table; the first pid allocated is 1.
    pub fn new() -> Self {
        Self::with_pid_max(PID_MAX)
    }

    /// An empty table whose pids stay below `pid_max` (at least 2).
    pub fn with_pid_max(pid_max: u32) -> Self {
        ProcessTable { entries: BTreeMap::new(), threads: BTreeMap::new(), last_pid: 0, pid_max: pid_max.max(2) }
    }

    /// Is `raw` taken: a process (zombies included), or the id of a process
    /// group or session that still has members? Linux does not reuse such a
    /// pid either.
    fn in_use(&self, raw: u32) -> bool {
        self.entries.contains_key(&Pid::new(raw))
            || self.threads.contains_key(&Pid::new(raw))
            || self.entries.values().any(|e| e.pgid == raw || e.sid == raw)
    }

    /// Records thread `tid` (from [`Self::try_allocate_pid`]) of `process`.
    pub fn add_thread(&mut self, tid: Pid, process: Pid) {
        self.threads.insert(tid, process);
    }

    /// Thread `tid` ended (or became its process's first at execve).
    pub fn remove_thread(&mut self, tid: Pid) {
        self.threads.remove(&tid);
    }

    /// The process thread `tid` belongs to: itself for a process's first
    /// thread (tid = pid), its process for the others.
    pub fn process_of(&self, tid: Pid) -> Option<Pid> {
        if self.entries.contains_key(&tid) { Some(tid) } else { self.threads.get(&tid).copied() }
    }

    /// The threads of `process` beyond its first, by tid.
    pub fn threads_of(&self, process: Pid) -> impl Iterator<Item = Pid> + '_ {
        self.threads.iter().filter(move |(_, p)| **p == process).map(|(tid, _)| *tid)
    }

    /// Processes and threads beyond their first, zombies included (what
    /// RLIMIT_NPROC counts on Linux: tasks).
    pub fn tasks(&self) -> usize {
        self.entries.len().saturating_add(self.threads.len())
    }

    /// The next free pid counting up from the last one handed out, wrapping
    /// from `PID_MAX - 1` to 1, skipping pids in use (by a process, zombies included, or as
    /// the id of a group or session that has members);
    /// `EAGAIN` if all are taken (as `fork` fails).
    pub fn try_allocate_pid(&mut self) -> Result<Pid, Errno> {
        let mut candidate = self.last_pid;
        for _ in 1..self.pid_max {
            candidate = if candidate + 1 >= self.pid_max { 1 } else { candidate + 1 };
            if !self.in_use(candidate) {
                self.last_pid = candidate;
                return Ok(Pid::new(candidate));
            }
        }
        Err(Errno::EAGAIN)
    }

    /// As [`Self::try_allocate_pid`].
    ///
    /// # Panics
    /// If every one of the 4194303 pids is in use (memory runs out long
    /// before); use [`Self::try_allocate_pid`] to get `EAGAIN` instead.
    pub fn allocate_pid(&mut self) -> Pid {
        self.try_allocate_pid().expect("every pid is in use")
    }

    /// Adds a running process (after `fork`, or pid 1 with parent 0),
    /// with its parent's [`Priority`] (the default without a parent).
    /// Replaces an entry with the same pid.
    pub fn insert(&mut self, pid: Pid, parent: Pid, pgid: u32, sid: u32) {
        let priority = self.entries.get(&parent).map(|e| e.priority).unwrap_or_default();
        self.entries.insert(pid, Entry { pid, parent, pgid, sid, state: ProcState::Running, pdeath_signal: 0, priority });
    }

    /// The processes a priority call names.
    fn priority_targets(&self, target: Target) -> impl Iterator<Item = &Entry> + '_ {
        let pid = match target {
            Target::Process(tid) => self.process_of(tid),
            _ => None,
        };
        self.entries.values().filter(move |e| match target {
            Target::Process(_) => Some(e.pid) == pid,
            Target::Group(pgid) => e.pgid == pgid,
            Target::User(uid) => e.priority.ruid == uid,
        })
    }

    /// The raw `getpriority`: `20 - nice` of the highest-priority process
    /// `target` names (zombies included, as on Linux); `ESRCH` for none.
    pub fn get_priority(&self, target: Target) -> Result<u64, Errno> {
        self.priority_targets(target).map(|e| e.priority.raw()).max().ok_or(Errno::ESRCH)
    }

    /// `setpriority`: every process `target` names that `caller` may
    /// change gets `prio` (clamped); `ESRCH` for none, else the last
    /// refusal's error (`EPERM`, `EACCES`) or success.
    pub fn set_priority(&mut self, target: Target, prio: i32, caller: Caller) -> Result<(), Errno> {
        let nice = priority::clamp(prio);
        let pids: Vec<Pid> = self.priority_targets(target).map(|e| e.pid).collect();
        let mut result = Err(Errno::ESRCH);
        for pid in pids {
            let Some(entry) = self.entries.get_mut(&pid) else { continue };
            match priority::may_set(caller, &entry.priority, nice) {
                Ok(()) => {
                    entry.priority.nice = nice;
                    if result == Err(Errno::ESRCH) {
                        result = Ok(());
                    }
                }
                Err(error) => result = Err(error),
            }
        }
        result
    }

    /// The ids and RLIMIT_NICE of `pid` changed: what setpriority checks
    /// from now on.
    pub fn set_priority_ids(&mut self, pid: Pid, ruid: u32, euid: u32, nice_rlimit: u64) {
        if let Some(entry) = self.entries.get_mut(&pid) {
            (entry.priority.ruid, entry.priority.euid, entry.priority.nice_rlimit) = (ruid, euid, nice_rlimit);
        }
    }

    pub fn get(&self, pid: Pid) -> Option<&Entry> {
        self.entries.get(&pid)
    }

    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Entry> {
        self.entries.get_mut(&pid)
    }

    /// The children of `parent` (zombies included), by increasing pid.
    pub fn children(&self, parent: Pid) -> impl Iterator<Item = Pid> + '_ {
        self.entries.values().filter(move |e| e.parent == parent).map(|e| e.pid)
    }

    /// Does `parent` have any child (zombies included)?
    pub fn has_children(&self, parent: Pid) -> bool {
        self.children(parent).next().is_some()
    }

    /// `pid` ended with `status`: it becomes a zombie and its children go
    /// to pid 1. Returns its parent (to send SIGCHLD and wake) and those
    /// re-parented children that are already zombies (pid 1 must be told so
    /// it can reap them).
    ///
    /// If pid 1 itself exits its children keep it as parent. A pid not in
    /// the table, or one that is already a zombie, changes nothing: the
    /// parent is then reported as pid 0 (none) with no orphans.
    ///
    /// A parent that ignores SIGCHLD (or set `SA_NOCLDWAIT`) does not keep
    /// zombies: the kernel then calls [`Self::remove`] right after this,
    /// and a waiting parent gets `ECHILD` once no child is left.
    pub fn exit(&mut self, pid: Pid, status: ExitStatus) -> (Pid, Vec<Pid>) {
        let parent = match self.entries.get_mut(&pid) {
            Some(entry) if !entry.is_zombie() => {
                entry.state = ProcState::Zombie(status);
                entry.parent
            }
            _ => return (Pid::new(0), Vec::new()),
        };
        let mut zombies = Vec::new();
        if pid != Pid::INIT {
            for child in self.entries.values_mut().filter(|e| e.parent == pid) {
                child.parent = Pid::INIT;
                if child.is_zombie() {
                    zombies.push(child.pid);
                }
            }
        }
        (parent, zombies)
    }

    /// The children of `pid` that asked for a signal when it ends
    /// (`PR_SET_PDEATHSIG`) and are still running, with their signal: what
    /// to send before [`Self::exit`] gives them to pid 1.
    pub fn parent_death_signals(&self, pid: Pid) -> Vec<(Pid, u32)> {
        self.entries
            .values()
            .filter(|e| e.parent == pid && e.pdeath_signal != 0 && !e.is_zombie())
            .map(|e| (e.pid, e.pdeath_signal))
            .collect()
    }

    /// The core of `wait4`/`waitid`: the lowest-pid zombie child of
    /// `parent` that matches `target`, removed from the table if `reap`
    /// (`WNOWAIT` passes `false`: a later wait sees it again). `NotYet` if
    /// matching children exist but none has ended, `NoChild` if none match.
    pub fn wait(&mut self, parent: Pid, target: WaitTarget, reap: bool) -> WaitResult {
        let mut any = false;
        let mut found = None;
        for entry in self.entries.values().filter(|e| e.parent == parent && target.matches(e)) {
            any = true;
            if let ProcState::Zombie(status) = entry.state {
                found = Some((entry.pid, status));
                break;
            }
        }
        match found {
            Some((pid, status)) => {
                if reap {
                    self.entries.remove(&pid);
                }
                WaitResult::Reaped { pid, status }
            }
            None if any => WaitResult::NotYet,
            None => WaitResult::NoChild,
        }
    }

    /// Removes `pid`: a process that never ran (failed fork) or a reaped
    /// one. Its children, if any, go to pid 1.
    pub fn remove(&mut self, pid: Pid) -> Option<Entry> {
        let entry = self.entries.remove(&pid)?;
        for child in self.entries.values_mut().filter(|e| e.parent == pid) {
            child.parent = Pid::INIT;
        }
        Some(entry)
    }

    /// `setpgid(pid, pgid)` called by `caller`: `pid` 0 is the caller,
    /// `pgid` 0 is the target's pid. Linux's rules, without the `EACCES` for
    /// a child that has already called `execve`:
    /// - `EINVAL`: `pgid` negative (above `i32::MAX`);
    /// - `ESRCH`: the target is neither the caller nor one of its children;
    /// - `EPERM`: the target is a child in another session, or a session
    ///   leader, or `pgid` is neither the target's pid nor an existing group
    ///   of the caller's session.
    pub fn setpgid(&mut self, caller: Pid, pid: Pid, pgid: u32) -> Result<(), Errno> {
        if pgid > i32::MAX as u32 {
            return Err(Errno::EINVAL);
        }
        let pid = if pid.as_u32() == 0 { caller } else { pid };
        let pgid = if pgid == 0 { pid.as_u32() } else { pgid };
        let caller_sid = self.get(caller).ok_or(Errno::ESRCH)?.sid;
        let target = self.get(pid).ok_or(Errno::ESRCH)?;
        if pid != caller && target.parent != caller {
            return Err(Errno::ESRCH);
        }
        if target.sid != caller_sid || target.sid == pid.as_u32() {
            return Err(Errno::EPERM);
        }
        if pgid != pid.as_u32() && !self.entries.values().any(|e| e.pgid == pgid && e.sid == caller_sid) {
            return Err(Errno::EPERM);
        }
        if let Some(target) = self.entries.get_mut(&pid) {
            target.pgid = pgid;
        }
        Ok(())
    }

    /// `setsid`: the caller leads a new session and a new group, both with
    /// its pid, which is returned. `EPERM` if a process group with that id
    /// exists (the caller leads one, or did and members remain).
    pub fn setsid(&mut self, caller: Pid) -> Result<u32, Errno> {
        let id = caller.as_u32();
        if !self.entries.contains_key(&caller) {
            return Err(Errno::ESRCH);
        }
        if self.entries.values().any(|e| e.pgid == id) {
            return Err(Errno::EPERM);
        }
        let entry = self.entries.get_mut(&caller).ok_or(Errno::ESRCH)?;
        entry.sid = id;
        entry.pgid = id;
        Ok(id)
    }

    /// Number of processes, zombies included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every process, by increasing pid.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The members of process group `pgid` (for `kill(-pgid)`), zombies
    /// included (a signal to a zombie is dropped, and still counts as the
    /// group existing).
    pub fn members_of_group(&self, pgid: u32) -> impl Iterator<Item = Pid> + '_ {
        self.entries.values().filter(move |e| e.pgid == pgid).map(|e| e.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_inherited_and_set_by_pid_group_and_user() {
        let mut t = ProcessTable::new();
        t.insert(Pid::INIT, Pid::new(0), 1, 1);
        let root = Caller { euid: 0, privileged: true };
        let alice = Caller { euid: 1000, privileged: false };
        assert_eq!(t.get_priority(Target::Process(Pid::INIT)), Ok(20));
        assert_eq!(t.set_priority(Target::Process(Pid::INIT), 5, root), Ok(()));
        let a = t.allocate_pid();
        t.insert(a, Pid::INIT, 1, 1);
        assert_eq!(t.get(a).map(|e| e.priority.nice), Some(5), "a fork child starts with its parent's");
        t.set_priority_ids(a, 1000, 1000, 0);
        let b = t.allocate_pid();
        t.insert(b, a, 1, 1);
        assert_eq!(t.get(b).map(|e| e.priority), Some(Priority { nice: 5, ruid: 1000, euid: 1000, nice_rlimit: 0 }));
        assert_eq!(t.set_priority(Target::Process(b), 10, alice), Ok(()));
        assert_eq!(t.get_priority(Target::User(1000)), Ok(15), "the highest priority of the user's");
        assert_eq!(t.get_priority(Target::Group(1)), Ok(15), "pid 1 and a at 5");
        assert_eq!(t.set_priority(Target::Process(b), 9, alice), Err(Errno::EACCES), "lowering");
        assert_eq!(t.set_priority(Target::Group(1), 12, alice), Err(Errno::EPERM), "pid 1 is root's");
        assert_eq!((t.get(a).unwrap().priority.nice, t.get(b).unwrap().priority.nice, t.get(Pid::INIT).unwrap().priority.nice), (12, 12, 5),
                   "the others still change");
        assert_eq!(t.set_priority(Target::User(1000), 100, alice), Ok(()));
        assert_eq!(t.get_priority(Target::User(1000)), Ok(1), "clamped to 19");
        assert_eq!(t.get_priority(Target::User(4242)), Err(Errno::ESRCH));
        assert_eq!(t.set_priority(Target::Process(Pid::new(999)), 0, root), Err(Errno::ESRCH));
        assert_eq!(t.get_priority(Target::Group(77)), Err(Errno::ESRCH));
        let tid = t.allocate_pid();
        t.add_thread(tid, b);
        assert_eq!(t.get_priority(Target::Process(tid)), Ok(1), "a thread's id names its process");
    }

    #[test]
    fn thread_ids_come_from_the_pid_space() {
        let mut t = ProcessTable::new();
        t.insert(Pid::INIT, Pid::new(0), 1, 1);
        let tid = t.allocate_pid();
        t.add_thread(tid, Pid::INIT);
        assert_eq!(t.process_of(tid), Some(Pid::INIT));
        assert_eq!(t.process_of(Pid::INIT), Some(Pid::INIT));
        assert_eq!(t.tasks(), 2);
        assert_eq!(t.threads_of(Pid::INIT).collect::<alloc::vec::Vec<_>>(), [tid]);
        let next = t.allocate_pid();
        assert_ne!(next, tid);
        t.remove_thread(tid);
        assert_eq!(t.process_of(tid), None);
        assert_eq!(t.tasks(), 1);
    }

    fn pid(n: u32) -> Pid {
        Pid::new(n)
    }

    /// init (1) with children 2 and 3; 3 has child 4. All in group/session 1.
    fn family() -> ProcessTable {
        let mut table = ProcessTable::new();
        for (child, parent) in [(1, 0), (2, 1), (3, 1), (4, 3)] {
            assert_eq!(table.allocate_pid(), pid(child));
            table.insert(pid(child), pid(parent), 1, 1);
        }
        table
    }

    const EXIT7: ExitStatus = ExitStatus::Exited(7);
    const SEGV_CORE: ExitStatus = ExitStatus::Signaled { signal: 11, core: true };

    #[test]
    fn status_encodings() {
        assert_eq!(EXIT7.wait_status(), 0x700);
        assert_eq!(ExitStatus::Exited(0).wait_status(), 0);
        assert_eq!(ExitStatus::Exited(255).wait_status(), 0xff00);
        assert_eq!(ExitStatus::Signaled { signal: 11, core: false }.wait_status(), 11);
        assert_eq!(SEGV_CORE.wait_status(), 0x8b);
        assert_eq!(ExitStatus::Signaled { signal: 9, core: false }.wait_status(), 9);
        assert_eq!(EXIT7.shell_status(), 7);
        assert_eq!(SEGV_CORE.shell_status(), 139);
        assert_eq!(ExitStatus::Signaled { signal: 15, core: false }.shell_status(), 143);
        assert_eq!(ExitStatus::Signaled { signal: 64, core: false }.shell_status(), 192);
        for status in [EXIT7, SEGV_CORE, ExitStatus::Exited(0), ExitStatus::Signaled { signal: 2, core: false }] {
            assert_eq!(ExitStatus::from_wait_status(status.wait_status()), Some(status));
        }
        assert_eq!(ExitStatus::from_wait_status(0x137f), None, "stopped by SIGSTOP");
        assert_eq!(ExitStatus::from_wait_status(0xffff), None, "continued");
        assert_eq!((EXIT7.sigchld_code(), EXIT7.sigchld_status()), (CLD_EXITED, 7));
        assert_eq!((SEGV_CORE.sigchld_code(), SEGV_CORE.sigchld_status()), (CLD_DUMPED, 11));
        let killed = ExitStatus::Signaled { signal: 9, core: false };
        assert_eq!((killed.sigchld_code(), killed.sigchld_status()), (CLD_KILLED, 9));
    }

    #[test]
    fn wait_target_from_raw() {
        assert_eq!(WaitTarget::from_raw(-1, 5), WaitTarget::Any);
        assert_eq!(WaitTarget::from_raw(0, 5), WaitTarget::Group(5));
        assert_eq!(WaitTarget::from_raw(42, 5), WaitTarget::Pid(pid(42)));
        assert_eq!(WaitTarget::from_raw(-42, 5), WaitTarget::Group(42));
        assert_eq!(WaitTarget::from_raw(i32::MAX, 5), WaitTarget::Pid(pid(i32::MAX as u32)));
        assert_eq!(WaitTarget::from_raw(i32::MIN, 5), WaitTarget::Group(1 << 31));
    }

    #[test]
    fn wait_any_blocks_then_reaps_once() {
        let mut table = family();
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::NotYet);
        assert_eq!(table.exit(pid(2), EXIT7), (pid(1), vec![]));
        assert_eq!(table.get(pid(2)).unwrap().state, ProcState::Zombie(EXIT7));
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::Reaped { pid: pid(2), status: EXIT7 });
        assert!(table.get(pid(2)).is_none(), "reaped");
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::NotYet, "3 still runs");
        table.exit(pid(3), SEGV_CORE);
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::Reaped { pid: pid(3), status: SEGV_CORE });
        // 4 was re-parented to 1 when 3 exited and still runs.
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::NotYet);
        table.exit(pid(4), ExitStatus::Exited(0));
        assert!(matches!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::Reaped { .. }));
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::NoChild);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn wait_pid_only_that_child() {
        let mut table = family();
        table.exit(pid(2), EXIT7);
        assert_eq!(table.wait(pid(1), WaitTarget::Pid(pid(3)), true), WaitResult::NotYet);
        assert_eq!(table.wait(pid(1), WaitTarget::Pid(pid(4)), true), WaitResult::NoChild, "grandchild");
        assert_eq!(table.wait(pid(1), WaitTarget::Pid(pid(99)), true), WaitResult::NoChild);
        assert_eq!(table.wait(pid(3), WaitTarget::Pid(pid(2)), true), WaitResult::NoChild, "not its child");
        assert_eq!(table.wait(pid(1), WaitTarget::Pid(pid(2)), true), WaitResult::Reaped { pid: pid(2), status: EXIT7 });
        assert_eq!(table.wait(pid(1), WaitTarget::Pid(pid(2)), true), WaitResult::NoChild, "reaped once");
    }

    #[test]
    fn wait_group() {
        let mut table = family();
        table.setpgid(pid(1), pid(3), 0).unwrap();
        assert_eq!(table.get(pid(3)).unwrap().pgid, 3);
        assert_eq!(table.wait(pid(1), WaitTarget::Group(3), true), WaitResult::NotYet);
        assert_eq!(table.wait(pid(1), WaitTarget::Group(7), true), WaitResult::NoChild);
        table.exit(pid(2), EXIT7);
        assert_eq!(table.wait(pid(1), WaitTarget::Group(3), true), WaitResult::NotYet, "2 is in group 1");
        let caller_pgid = table.get(pid(1)).unwrap().pgid;
        assert_eq!(
            table.wait(pid(1), WaitTarget::from_raw(0, caller_pgid), true),
            WaitResult::Reaped { pid: pid(2), status: EXIT7 }
        );
        table.exit(pid(3), EXIT7);
        assert_eq!(table.wait(pid(1), WaitTarget::from_raw(-3, 1), true), WaitResult::Reaped { pid: pid(3), status: EXIT7 });
    }

    #[test]
    fn wnowait_leaves_the_zombie() {
        let mut table = family();
        table.exit(pid(2), EXIT7);
        for _ in 0..3 {
            assert_eq!(table.wait(pid(1), WaitTarget::Any, false), WaitResult::Reaped { pid: pid(2), status: EXIT7 });
        }
        assert!(table.get(pid(2)).is_some());
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::Reaped { pid: pid(2), status: EXIT7 });
        assert!(table.get(pid(2)).is_none());
    }

    #[test]
    fn lowest_zombie_first() {
        let mut table = family();
        table.exit(pid(3), SEGV_CORE);
        table.exit(pid(2), EXIT7);
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::Reaped { pid: pid(2), status: EXIT7 });
        assert_eq!(table.wait(pid(1), WaitTarget::Any, true), WaitResult::Reaped { pid: pid(3), status: SEGV_CORE });
    }

    #[test]
    fn no_children_is_echild() {
        let mut table = family();
        assert_eq!(table.wait(pid(2), WaitTarget::Any, true), WaitResult::NoChild);
        assert_eq!(table.wait(pid(2), WaitTarget::Any, false), WaitResult::NoChild);
        assert_eq!(table.wait(pid(42), WaitTarget::Any, true), WaitResult::NoChild, "unknown caller");
        assert!(!table.has_children(pid(2)));
        assert!(table.has_children(pid(3)));
    }

    #[test]
    fn parent_death_signals_are_the_running_children_that_asked() {
        let mut t = ProcessTable::new();
        t.insert(Pid::INIT, Pid::new(0), 1, 1);
        t.insert(Pid::new(2), Pid::INIT, 1, 1);
        for (child, signal) in [(3, 10), (4, 0), (5, 15)] {
            t.insert(Pid::new(child), Pid::new(2), 1, 1);
            t.get_mut(Pid::new(child)).unwrap().pdeath_signal = signal;
        }
        t.exit(Pid::new(5), ExitStatus::Exited(0));
        assert_eq!(t.parent_death_signals(Pid::new(2)), vec![(Pid::new(3), 10)], "none asked by 4, 5 has ended");
        assert!(t.parent_death_signals(Pid::new(3)).is_empty());
        t.insert(Pid::new(3), Pid::new(2), 1, 1);
        assert_eq!(t.get(Pid::new(3)).unwrap().pdeath_signal, 0, "a new entry (a fork child) has none");
    }

    #[test]
    fn orphans_go_to_init_and_zombie_orphans_are_reported() {
        let mut table = family();
        let (five, six) = (table.allocate_pid(), table.allocate_pid());
        assert_eq!((five, six), (pid(5), pid(6)));
        table.insert(five, pid(3), 1, 1);
        table.insert(six, pid(3), 1, 1);
        table.exit(five, EXIT7);
        // 3 exits with children 4 (running), 5 (zombie), 6 (running).
        assert_eq!(table.exit(pid(3), SEGV_CORE), (pid(1), vec![five]));
        for child in [pid(4), five, six] {
            assert_eq!(table.get(child).unwrap().parent, Pid::INIT);
        }
        assert_eq!(table.children(pid(3)).count(), 0);
        assert_eq!(table.children(Pid::INIT).collect::<Vec<_>>(), vec![pid(2), pid(3), pid(4), five, six]);
        assert_eq!(table.wait(pid(3), WaitTarget::Any, true), WaitResult::NoChild);
        assert_eq!(table.wait(pid(1), WaitTarget::Pid(five), true), WaitResult::Reaped { pid: five, status: EXIT7 });
        // Exiting twice, or an unknown pid, changes nothing.
        assert_eq!(table.exit(pid(3), EXIT7), (pid(0), vec![]));
        assert_eq!(table.get(pid(3)).unwrap().state, ProcState::Zombie(SEGV_CORE));
        assert_eq!(table.exit(pid(77), EXIT7), (pid(0), vec![]));
        // pid 1's own exit reports parent 0 and leaves its children alone.
        assert_eq!(table.exit(Pid::INIT, EXIT7), (pid(0), vec![]));
        assert_eq!(table.get(pid(4)).unwrap().parent, Pid::INIT);
    }

    #[test]
    fn remove_failed_fork() {
        let mut table = family();
        let p = table.allocate_pid();
        table.insert(p, pid(2), 1, 1);
        assert_eq!(table.len(), 5);
        assert_eq!(table.remove(p).map(|e| e.parent), Some(pid(2)));
        assert_eq!(table.remove(p), None);
        assert_eq!(table.wait(pid(2), WaitTarget::Any, true), WaitResult::NoChild);
        // Removing a parent re-parents its children.
        table.remove(pid(3));
        assert_eq!(table.get(pid(4)).unwrap().parent, Pid::INIT);
    }

    #[test]
    fn pid_allocation_counts_up_and_skips_used() {
        let mut table = ProcessTable::new();
        assert!(table.is_empty());
        assert_eq!(table.allocate_pid(), pid(1));
        table.insert(pid(1), pid(0), 1, 1);
        assert_eq!(table.allocate_pid(), pid(2));
        assert_eq!(table.allocate_pid(), pid(3), "allocated, not inserted: still advances");
        table.insert(pid(5), pid(1), 1, 1);
        assert_eq!(table.allocate_pid(), pid(4));
        assert_eq!(table.allocate_pid(), pid(6), "5 is used");
        // A reaped pid is not reused until the counter wraps.
        table.insert(pid(6), pid(1), 1, 1);
        table.exit(pid(6), EXIT7);
        table.wait(pid(1), WaitTarget::Any, true);
        assert_eq!(table.allocate_pid(), pid(7));
    }

    #[test]
    fn pid_allocation_wraps_and_reuses() {
        let mut table = ProcessTable::new();
        table.insert(pid(1), pid(0), 1, 1);
        table.insert(pid(2), pid(1), 1, 1);
        table.insert(pid(4), pid(1), 1, 1);
        assert_eq!(table.pid_max, PID_MAX);
        table.last_pid = PID_MAX - 3;
        assert_eq!(table.allocate_pid(), pid(PID_MAX - 2));
        table.insert(pid(PID_MAX - 1), pid(1), 1, 1);
        assert_eq!(table.allocate_pid(), pid(3), "wraps to 1, skips 1, 2 and PID_MAX - 1");
        assert_eq!(table.allocate_pid(), pid(5));
        // A pid still naming a group or session is not reused.
        table.insert(pid(6), pid(1), 9, 10);
        table.last_pid = 7;
        assert_eq!(table.allocate_pid(), pid(8));
        assert_eq!(table.allocate_pid(), pid(11), "9 and 10 name a group and a session");
    }

    #[test]
    fn pid_exhaustion_is_eagain() {
        let mut table = ProcessTable::with_pid_max(8);
        for n in 1..8 {
            assert_eq!(table.try_allocate_pid(), Ok(pid(n)));
            table.insert(pid(n), pid(0), 1, 1);
        }
        assert_eq!(table.try_allocate_pid(), Err(Errno::EAGAIN));
        table.remove(pid(5));
        assert_eq!(table.try_allocate_pid(), Ok(pid(5)), "wrapped");
        table.insert(pid(5), pid(1), 1, 1);
        assert_eq!(table.try_allocate_pid(), Err(Errno::EAGAIN));
        assert_eq!(table.last_pid, 5, "a failed search does not move the counter");
    }

    #[test]
    fn setpgid_rules() {
        let mut table = family();
        // Caller itself, pid 0 and pgid 0 shorthands.
        table.setpgid(pid(2), pid(0), 0).unwrap();
        assert_eq!(table.get(pid(2)).unwrap().pgid, 2);
        // Parent moves its child into the child's own group, then into 2's.
        table.setpgid(pid(1), pid(3), 3).unwrap();
        assert_eq!(table.get(pid(3)).unwrap().pgid, 3);
        table.setpgid(pid(1), pid(3), 2).unwrap();
        assert_eq!(table.get(pid(3)).unwrap().pgid, 2);
        assert_eq!(table.members_of_group(2).collect::<Vec<_>>(), vec![pid(2), pid(3)]);
        // Not self nor child: ESRCH (grandchild, sibling, unknown).
        assert_eq!(table.setpgid(pid(1), pid(4), 0), Err(Errno::ESRCH));
        assert_eq!(table.setpgid(pid(2), pid(3), 0), Err(Errno::ESRCH));
        assert_eq!(table.setpgid(pid(1), pid(99), 0), Err(Errno::ESRCH));
        // A group that does not exist: EPERM.
        assert_eq!(table.setpgid(pid(1), pid(2), 50), Err(Errno::EPERM));
        // Negative pgid: EINVAL.
        assert_eq!(table.setpgid(pid(1), pid(2), (-5i32) as u32), Err(Errno::EINVAL));
        // A session leader cannot move, and a child in another session
        // cannot be moved.
        assert_eq!(table.setpgid(pid(1), pid(0), 2), Err(Errno::EPERM), "pid 1 leads session 1");
        assert_eq!(table.setsid(pid(4)), Ok(4));
        assert_eq!(table.setpgid(pid(3), pid(4), 0), Err(Errno::EPERM), "other session");
        assert_eq!(table.setpgid(pid(4), pid(0), 4), Err(Errno::EPERM), "session leader");
        // A group of another session cannot be joined.
        assert_eq!(table.setpgid(pid(1), pid(2), 4), Err(Errno::EPERM));
    }

    #[test]
    fn setsid_rules() {
        let mut table = family();
        assert_eq!(table.setsid(pid(1)), Err(Errno::EPERM), "group leader");
        assert_eq!(table.setsid(pid(3)), Ok(3));
        let entry = table.get(pid(3)).unwrap();
        assert_eq!((entry.pgid, entry.sid), (3, 3));
        assert_eq!(table.setsid(pid(3)), Err(Errno::EPERM), "now leads a group");
        assert_eq!(table.setsid(pid(99)), Err(Errno::ESRCH));
        // A former leader whose group still has members cannot either.
        table.setpgid(pid(2), pid(0), 0).unwrap();
        let p = table.allocate_pid();
        table.insert(p, pid(2), 2, 1);
        table.setpgid(pid(2), pid(0), 1).unwrap();
        assert_eq!(table.members_of_group(2).collect::<Vec<_>>(), vec![p]);
        assert_eq!(table.setsid(pid(2)), Err(Errno::EPERM));
        assert_eq!(table.setsid(p), Ok(p.as_u32()));
    }

    #[test]
    fn state_iteration_and_groups() {
        let mut table = family();
        table.get_mut(pid(2)).unwrap().state = ProcState::Blocked;
        table.exit(pid(4), EXIT7);
        let states: Vec<_> = table.iter().map(|e| (e.pid.as_u32(), e.state)).collect();
        assert_eq!(
            states,
            vec![
                (1, ProcState::Running),
                (2, ProcState::Blocked),
                (3, ProcState::Running),
                (4, ProcState::Zombie(EXIT7))
            ]
        );
        assert_eq!(table.members_of_group(1).count(), 4, "zombies included");
        assert_eq!(table.members_of_group(9).count(), 0);
        assert_eq!(table.len(), 4);
        assert!(table.get(pid(4)).unwrap().is_zombie());
    }
}
