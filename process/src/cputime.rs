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
}

impl CpuClock {
    /// A process that has not run yet (it starts in its own code).
    pub const fn new() -> CpuClock {
        CpuClock { on_cpu_since: None, kernel_since: None, in_kernel: false, on_cpu: 0, system: 0 }
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

    /// (user, system) nanoseconds up to `now`, open intervals included.
    pub fn times_at(&self, now: u64) -> (u64, u64) {
        let open = |since: Option<u64>| since.map_or(0, |s| now.saturating_sub(s));
        let on_cpu = self.on_cpu.saturating_add(open(self.on_cpu_since));
        let system = self.system.saturating_add(open(self.kernel_since));
        (on_cpu.saturating_sub(system), system)
    }
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
    fn children_sum_times_and_keep_the_largest_rss() {
        let mut r = Rusage::default();
        r.add_child(Rusage { user_ns: 5, system_ns: 1, maxrss_kib: 100 }, Rusage { user_ns: 2, system_ns: 2, maxrss_kib: 300 });
        r.add_child(Rusage { user_ns: 1, system_ns: 1, maxrss_kib: 200 }, Rusage::default());
        assert_eq!(r, Rusage { user_ns: 8, system_ns: 4, maxrss_kib: 300 });
    }
}
