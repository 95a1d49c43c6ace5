//! CPU time of one process, user and system, from any monotonic clock: the
//! totals are in the clock's units. The kernel feeds it raw TSC cycles (one
//! `rdtsc` per kernel entry and exit) and converts to nanoseconds only when
//! it reports a time; the host tests feed nanoseconds.
//!
//! The kernel reports four events: the process gets the CPU
//! ([`CpuClock::switch_in`]) or loses it ([`CpuClock::switch_out`], also
//! before the CPU idles in the process's context), and it enters the kernel
//! (a syscall or a trap, [`CpuClock::enter_kernel`]) or returns to its own
//! code ([`CpuClock::leave_kernel`]). Time on the CPU inside the kernel is
//! system time; the rest of the time on the CPU is user time. Events that
//! repeat (a second `switch_in`) change nothing, so the kernel may report
//! them wherever it is sure, without tracking who reported first.
//!
//! [`Rusage`] keeps what `getrusage` shows for the process itself and for
//! its waited-for children.
//!
//! [`CpuTimers`] are the two interval timers that count this time
//! (`ITIMER_VIRTUAL` user time, `ITIMER_PROF` user and system time), in
//! nanoseconds of CPU time. The clock carries them: a fresh clock (fork's
//! child) has none armed, and `execve`, which keeps the clock, keeps them, as
//! Linux does.

/// The running totals and the open intervals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuClock {
    /// Since when the process has the CPU, if it has it.
    on_cpu_since: Option<u64>,
    /// Since when the process is in the kernel with the CPU, if it is.
    kernel_since: Option<u64>,
    /// In a syscall or trap (whether or not it has the CPU).
    in_kernel: bool,
    /// Clock units on the CPU, closed intervals only.
    on_cpu: u64,
    /// Clock units on the CPU in the kernel, closed intervals only.
    system: u64,
    /// ITIMER_VIRTUAL and ITIMER_PROF.
    pub timers: CpuTimers,
}

impl CpuClock {
    /// A process that has not run yet (it starts in its own code).
    pub const fn new() -> CpuClock {
        CpuClock { on_cpu_since: None, kernel_since: None, in_kernel: false, on_cpu: 0, system: 0, timers: CpuTimers::new() }
    }

    /// The process gets the CPU at `now`.
    pub fn switch_in(&mut self, now: u64) {
        if self.on_cpu_since.is_none() {
            self.on_cpu_since = Some(now);
            if self.in_kernel {
                self.kernel_since = Some(now);
            }
        }
    }

    /// The process gives up the CPU at `now`.
    pub fn switch_out(&mut self, now: u64) {
        if let Some(since) = self.on_cpu_since.take() {
            self.on_cpu = self.on_cpu.saturating_add(now.saturating_sub(since));
        }
        self.close_kernel(now);
    }

    /// The process enters the kernel at `now` (it has the CPU).
    pub fn enter_kernel(&mut self, now: u64) {
        if !self.in_kernel {
            self.in_kernel = true;
            if self.on_cpu_since.is_none() {
                self.on_cpu_since = Some(now);
            }
            self.kernel_since = Some(now);
        }
    }

    /// The process returns to its own code at `now`.
    pub fn leave_kernel(&mut self, now: u64) {
        self.close_kernel(now);
        self.in_kernel = false;
    }

    fn close_kernel(&mut self, now: u64) {
        if let Some(since) = self.kernel_since.take() {
            self.system = self.system.saturating_add(now.saturating_sub(since));
        }
    }

    /// Adds what `ended` counted up to `now` (a thread that ended, to its
    /// process's total).
    pub fn absorb(&mut self, ended: &CpuClock, now: u64) {
        let (user, system) = ended.times_at(now);
        self.on_cpu = self.on_cpu.saturating_add(user).saturating_add(system);
        self.system = self.system.saturating_add(system);
    }

    /// (user, system) nanoseconds up to `now`, open intervals included.
    pub fn times_at(&self, now: u64) -> (u64, u64) {
        let open = |since: Option<u64>| since.map_or(0, |s| now.saturating_sub(s));
        let on_cpu = self.on_cpu.saturating_add(open(self.on_cpu_since));
        let system = self.system.saturating_add(open(self.kernel_since));
        (on_cpu.saturating_sub(system), system)
    }
}

/// An interval timer of CPU time: it fires when the time it counts reaches
/// `expires`, then is reloaded with `interval` (or disarmed), as Linux's
/// `check_cpu_itimer`. Times are nanoseconds of the counted CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimer {
    expires: Option<u64>,
    interval: u64,
}

impl CpuTimer {
    pub const fn new() -> CpuTimer {
        CpuTimer { expires: None, interval: 0 }
    }

    pub const fn is_armed(&self) -> bool {
        self.expires.is_some()
    }

    /// `getitimer` at counted time `now`: (interval, time left). An armed
    /// timer whose time is up but that has not fired yet reads as 1 µs
    /// left, never 0 (which would mean disarmed).
    pub fn get(&self, now: u64) -> (u64, u64) {
        let left = self.expires.map_or(0, |at| match at.saturating_sub(now) {
            0 => 1000,
            left => left,
        });
        (self.interval, left)
    }

    /// `setitimer` at counted time `now`: fires after `value` more (0
    /// disarms), then every `interval`. Returns the old (interval, left).
    pub fn set(&mut self, now: u64, value: u64, interval: u64) -> (u64, u64) {
        let old = self.get(now);
        self.expires = (value != 0).then(|| now.saturating_add(value));
        self.interval = interval;
        old
    }

    /// Whether the timer is due at counted time `now`; if it is, the next
    /// expiry is one interval after this one (not after `now`, so a
    /// periodic timer does not drift), or it is disarmed.
    pub fn fire_if_due(&mut self, now: u64) -> bool {
        match self.expires {
            Some(at) if at <= now => {
                self.expires = (self.interval != 0).then(|| at.saturating_add(self.interval));
                true
            }
            _ => false,
        }
    }
}

/// `ITIMER_VIRTUAL` (user time, SIGVTALRM) and `ITIMER_PROF` (user and
/// system time, SIGPROF).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimers {
    pub virtual_time: CpuTimer,
    pub profiling: CpuTimer,
}

impl CpuTimers {
    pub const fn new() -> CpuTimers {
        CpuTimers { virtual_time: CpuTimer::new(), profiling: CpuTimer::new() }
    }

    pub const fn any_armed(&self) -> bool {
        self.virtual_time.is_armed() || self.profiling.is_armed()
    }

    /// Which of the two fire for user and system nanoseconds
    /// `(user, system)`: (virtual, profiling).
    pub fn fire_if_due(&mut self, user: u64, system: u64) -> (bool, bool) {
        (self.virtual_time.fire_if_due(user), self.profiling.fire_if_due(user.saturating_add(system)))
    }
}

/// What `RLIMIT_CPU` does when the process has used `cpu_ns` of user and
/// system time (Linux's `check_process_timers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuLimitAction {
    /// At the hard limit: SIGKILL.
    Kill,
    /// At the soft limit: SIGXCPU, and the soft limit moves to this many
    /// seconds (one more), so the signal comes again each second.
    Xcpu { next_soft: u64 },
}

/// The action of an `RLIMIT_CPU` of `soft` and `hard` seconds
/// (`u64::MAX`, RLIM_INFINITY, for none) at `cpu_ns` of CPU time, if any:
/// the hard limit first, as Linux.
pub fn cpu_limit_action(soft: u64, hard: u64, cpu_ns: u64) -> Option<CpuLimitAction> {
    const NS: u64 = 1_000_000_000;
    if soft == u64::MAX {
        return None;
    }
    if hard != u64::MAX && cpu_ns >= hard.saturating_mul(NS) {
        return Some(CpuLimitAction::Kill);
    }
    (cpu_ns >= soft.saturating_mul(NS)).then(|| CpuLimitAction::Xcpu { next_soft: soft.saturating_add(1) })
}

/// What `getrusage` reports for one side (the process, or its children).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    pub user_ns: u64,
    pub system_ns: u64,
    /// Largest resident set, KiB.
    pub maxrss_kib: u64,
}

impl Rusage {
    /// Adds a waited-for child's own and children's usage (Linux keeps the
    /// largest `maxrss` of any of them, and sums the times).
    pub fn add_child(&mut self, own: Rusage, children: Rusage) {
        self.user_ns = self.user_ns.saturating_add(own.user_ns).saturating_add(children.user_ns);
        self.system_ns = self.system_ns.saturating_add(own.system_ns).saturating_add(children.system_ns);
        self.maxrss_kib = self.maxrss_kib.max(own.maxrss_kib).max(children.maxrss_kib);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_split() {
        let mut c = CpuClock::new();
        c.switch_in(100);
        c.enter_kernel(150); // 50 user
        c.leave_kernel(170); // 20 system
        assert_eq!(c.times_at(200), (80, 20));
        c.enter_kernel(200);
        assert_eq!(c.times_at(210), (80, 30), "open kernel interval counts");
        c.switch_out(220); // blocked in a syscall: 20 system
        assert_eq!(c.times_at(1000), (80, 40), "off the CPU nothing grows");
        c.switch_in(1000);
        c.switch_in(1001); // repeated: no effect
        c.leave_kernel(1010); // 10 system
        c.switch_out(1030); // 20 user
        c.switch_out(1040);
        assert_eq!(c.times_at(5000), (100, 50));
    }

    #[test]
    fn a_trap_without_switch_in_starts_the_cpu_interval() {
        let mut c = CpuClock::new();
        c.enter_kernel(10);
        c.enter_kernel(12);
        c.leave_kernel(20);
        assert_eq!(c.times_at(30), (10, 10));
    }

    #[test]
    fn a_cpu_timer_fires_once_per_expiry_and_reloads_without_drift() {
        let mut t = CpuTimer::new();
        assert!(!t.is_armed());
        assert_eq!(t.get(0), (0, 0));
        assert_eq!(t.set(100, 50, 20), (0, 0));
        assert_eq!(t.get(120), (20, 30));
        assert!(!t.fire_if_due(149));
        assert_eq!(t.get(150), (20, 1000), "due but not fired: never reads as 0");
        assert!(t.fire_if_due(155));
        assert_eq!(t.get(155), (20, 15), "reloaded from the expiry (150 + 20), not from now");
        assert!(!t.fire_if_due(160));
        assert!(t.fire_if_due(170));
        assert_eq!(t.set(170, 0, 0), (20, 20), "the old value comes back; 0 disarms");
        assert!(!t.is_armed());
        assert!(!t.fire_if_due(u64::MAX));
    }

    #[test]
    fn a_one_shot_cpu_timer_disarms_after_firing() {
        let mut t = CpuTimer::new();
        t.set(0, 10, 0);
        assert!(t.fire_if_due(10));
        assert!(!t.is_armed());
        assert!(!t.fire_if_due(100));
        t.set(u64::MAX - 1, u64::MAX, 0);
        assert_eq!(t.get(u64::MAX - 1), (0, 1), "saturates at the end of time");
    }

    #[test]
    fn virtual_counts_user_time_and_prof_both() {
        let mut timers = CpuTimers::new();
        assert!(!timers.any_armed());
        timers.virtual_time.set(0, 100, 0);
        timers.profiling.set(0, 100, 0);
        assert!(timers.any_armed());
        assert_eq!(timers.fire_if_due(60, 30), (false, false));
        assert_eq!(timers.fire_if_due(60, 40), (false, true), "system time counts for ITIMER_PROF only");
        assert_eq!(timers.fire_if_due(99, 500), (false, false));
        assert_eq!(timers.fire_if_due(100, 500), (true, false));
        assert!(!timers.any_armed());
    }

    #[test]
    fn rlimit_cpu_signals_each_second_past_the_soft_limit_then_kills_at_the_hard_one() {
        const S: u64 = 1_000_000_000;
        assert_eq!(cpu_limit_action(u64::MAX, u64::MAX, u64::MAX), None, "no limit");
        assert_eq!(cpu_limit_action(1, 3, S - 1), None);
        assert_eq!(cpu_limit_action(1, 3, S), Some(CpuLimitAction::Xcpu { next_soft: 2 }));
        assert_eq!(cpu_limit_action(2, 3, S + S / 2), None, "the next one a second later");
        assert_eq!(cpu_limit_action(2, 3, 2 * S), Some(CpuLimitAction::Xcpu { next_soft: 3 }));
        assert_eq!(cpu_limit_action(3, 3, 3 * S), Some(CpuLimitAction::Kill), "the hard limit first");
        assert_eq!(cpu_limit_action(5, u64::MAX, 5 * S), Some(CpuLimitAction::Xcpu { next_soft: 6 }));
        assert_eq!(cpu_limit_action(u64::MAX - 1, u64::MAX, u64::MAX), Some(CpuLimitAction::Xcpu { next_soft: u64::MAX }));
    }

    #[test]
    fn children_sum_times_and_keep_the_largest_rss() {
        let mut r = Rusage::default();
        r.add_child(Rusage { user_ns: 5, system_ns: 1, maxrss_kib: 100 }, Rusage { user_ns: 2, system_ns: 2, maxrss_kib: 300 });
        r.add_child(Rusage { user_ns: 1, system_ns: 1, maxrss_kib: 200 }, Rusage::default());
        assert_eq!(r, Rusage { user_ns: 8, system_ns: 4, maxrss_kib: 300 });
    }
}
